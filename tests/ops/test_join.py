"""cat / stack / hstack / vstack / dstack / repeat / tile / flip / roll / repeat_interleave against
torch (CPU). These ops only move values, so results are compared exactly."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import clnet
from tests.helpers import as_noncontiguous, random_array, shapes

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _same(actual, expected):
    exp = expected.numpy() if hasattr(expected, "numpy") else np.asarray(expected)
    got = actual.numpy()
    assert got.shape == exp.shape, f"shape {got.shape} != {exp.shape}"
    assert got.dtype == exp.dtype, f"dtype {got.dtype} != {exp.dtype}"
    np.testing.assert_array_equal(got, exp)


# ---------------------------------------------------------------------------------------- cat

@given(shape=shapes(min_dims=1, max_dims=4, max_side=5), data=st.data())
def test_cat_random_shapes(shape, data):
    rng = np.random.default_rng(len(shape) * 31 + sum(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    arrays = []
    for s in sizes:
        sh = list(shape)
        sh[dim] = s
        arrays.append(random_array(rng, tuple(sh)))
    _same(clnet.cat([clnet.tensor(a) for a in arrays], dim),
          torch.cat([torch.from_numpy(a) for a in arrays], dim))


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
def test_cat_noncontiguous_and_aliases(rng, kind):
    a, b = random_array(rng, (4, 3)), random_array(rng, (4, 5))
    expected = np.concatenate([a, b, a], axis=1)
    ta = as_noncontiguous(a, kind)
    _same(clnet.cat([ta, as_noncontiguous(b, kind), ta], dim=-1), expected)
    _same(clnet.concat([ta, clnet.tensor(b), ta], 1), expected)
    _same(clnet.concatenate((ta, clnet.tensor(b), ta), dim=1), expected)


def test_cat_dtype_promotion_and_empty_skip(rng):
    cases = [(np.int32, np.float32), (np.bool_, np.int64), (np.int64, np.float64),
             (np.bool_, np.int32), (np.float32, np.float64)]
    for da, db in cases:
        a, b = random_array(rng, (2, 3), da), random_array(rng, (2, 2), db)
        _same(clnet.cat([clnet.tensor(a), clnet.tensor(b)], 1),
              torch.cat([torch.from_numpy(a), torch.from_numpy(b)], 1))
    # legacy rule: 1-D tensors of shape (0,) are skipped whatever the other shapes
    a = random_array(rng, (2, 3))
    out = clnet.cat([clnet.zeros(0, dtype=clnet.float64), clnet.tensor(a), clnet.zeros(0)], 1)
    _same(out, torch.cat([torch.zeros(0, dtype=torch.float64), torch.from_numpy(a),
                          torch.zeros(0)], 1))
    assert clnet.cat([clnet.zeros(0), clnet.zeros(0)]).shape == (0,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cat_stack_dtypes(rng, dtype):
    a, b = random_array(rng, (3, 4), dtype), random_array(rng, (3, 4), dtype)
    _same(clnet.cat([clnet.tensor(a), clnet.tensor(b)]), np.concatenate([a, b]))
    _same(clnet.stack([clnet.tensor(a), clnet.tensor(b)], 1), np.stack([a, b], 1))


def test_cat_errors():
    with pytest.raises(ValueError, match=r"dimension 0\. Expected size 3 but got size 4 for "
                                         r"tensor number 1"):
        clnet.cat([clnet.zeros(2, 3), clnet.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"same number of dimensions: got 2 and 1"):
        clnet.cat([clnet.zeros(2, 3), clnet.zeros(2)])
    with pytest.raises(ValueError, match="non-empty list"):
        clnet.cat([])
    with pytest.raises(ValueError, match="zero-dimensional"):
        clnet.cat([clnet.tensor(1.0), clnet.tensor(2.0)])
    with pytest.raises(TypeError, match="list or tuple of Tensors"):
        clnet.cat(clnet.zeros(2))
    with pytest.raises(TypeError, match="element 1"):
        clnet.cat([clnet.zeros(2), [1.0]])
    with pytest.raises(IndexError, match="Dimension out of range"):
        clnet.cat([clnet.zeros(2, 3)], dim=2)


# ---------------------------------------------------------------------------------------- stack

@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_dims(rng, dim):
    arrays = [random_array(rng, (3, 4)) for _ in range(3)]
    _same(clnet.stack([clnet.tensor(a) for a in arrays], dim), np.stack(arrays, dim))


def test_stack_edges_and_errors(rng):
    _same(clnet.stack([clnet.tensor(1.0), clnet.tensor(2.0)]), np.array([1.0, 2.0], np.float32))
    _same(clnet.stack([clnet.zeros(0, 3)] * 2, 1), np.zeros((0, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"equal size, but got \[2, 3\] at entry 0 and \[2, 4\] "
                                         r"at entry 1"):
        clnet.stack([clnet.zeros(2, 3), clnet.zeros(2, 4)])


def test_hstack_vstack_dstack(rng):
    for shapes_ in [[(3,), (4,)], [(2, 3), (2, 1)], [(), ()]]:
        arrays = [random_array(rng, s) for s in shapes_]
        tl = [torch.from_numpy(a) for a in arrays]
        cl = [clnet.tensor(a) for a in arrays]
        _same(clnet.hstack(cl), torch.hstack(tl))
    for shapes_ in [[(3,), (3,)], [(2, 3), (1, 3)], [(), ()]]:
        arrays = [random_array(rng, s) for s in shapes_]
        _same(clnet.vstack([clnet.tensor(a) for a in arrays]),
              torch.vstack([torch.from_numpy(a) for a in arrays]))
    for shapes_ in [[(3,), (3,)], [(2, 3), (2, 3)], [(), ()], [(2, 3, 1), (2, 3)]]:
        arrays = [random_array(rng, s) for s in shapes_]
        _same(clnet.dstack([clnet.tensor(a) for a in arrays]),
              torch.dstack([torch.from_numpy(a) for a in arrays]))


# ---------------------------------------------------------------------------------------- repeat

@pytest.mark.parametrize("shape,sizes", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (1, 2, 3)),
                                         ((2, 3), (0, 2)), ((), (3, 2)), ((4, 1), (1, 5)),
                                         ((0, 2), (3, 3))])
def test_repeat_and_tile(rng, shape, sizes):
    a = random_array(rng, shape)
    _same(clnet.tensor(a).repeat(*sizes), torch.from_numpy(a).repeat(*sizes))
    _same(clnet.tensor(a).repeat(sizes), torch.from_numpy(a).repeat(sizes))
    _same(clnet.tile(clnet.tensor(a), sizes), torch.tile(torch.from_numpy(a), sizes))


def test_repeat_noncontiguous_and_errors(rng):
    a = random_array(rng, (3, 4), np.int64)
    _same(as_noncontiguous(a, "transpose").repeat(2, 3), np.tile(a, (2, 3)))
    _same(clnet.tile(as_noncontiguous(a, "step"), (2,)), np.tile(a, (1, 2)))
    with pytest.raises(ValueError, match="can not be smaller than number of dimensions"):
        clnet.zeros(2, 3).repeat(2)
    with pytest.raises(ValueError, match="non-negative"):
        clnet.zeros(2).repeat(-1)


# ---------------------------------------------------------------------------------------- flip

@pytest.mark.parametrize("dims", [0, (1,), (0, 2), (-1,), (0, 1, 2), ()])
@pytest.mark.parametrize("kind", [None, "step", "transpose"])
def test_flip(rng, dims, kind):
    a = random_array(rng, (3, 4, 5), np.int32)
    x = clnet.tensor(a) if kind is None else as_noncontiguous(a, kind)
    _same(clnet.flip(x, dims), torch.flip(torch.from_numpy(a), (dims,) if isinstance(dims, int)
                                          else dims))


def test_fliplr_flipud_and_errors(rng):
    a = random_array(rng, (3, 4))
    _same(clnet.tensor(a).fliplr(), np.fliplr(a))
    _same(clnet.flipud(clnet.tensor(a)), np.flipud(a))
    _same(clnet.flip(clnet.zeros(0, 3), 0), np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="repeated dim"):
        clnet.flip(clnet.zeros(2, 3), (0, -2))
    with pytest.raises(ValueError, match=">= 2-d"):
        clnet.fliplr(clnet.zeros(3))


# ---------------------------------------------------------------------------------------- roll

@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), (7, -1), ((1, 2), (0, 1)),
                                         (3, None), (-11, None), ((0, 5), (1, 2)), (0, 0)])
def test_roll(rng, shifts, dims):
    a = random_array(rng, (3, 4, 5), np.int64)
    for x in (clnet.tensor(a), as_noncontiguous(a, "transpose")):
        out = clnet.roll(x, shifts, dims)
        _same(out, torch.roll(torch.from_numpy(a), shifts, dims))
        assert out._storage is not x._storage


def test_roll_edges_and_errors():
    _same(clnet.zeros(0, 3).roll(2, 0), np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="must align"):
        clnet.roll(clnet.zeros(3, 3), (1, 2), 0)


# ---------------------------------------------------------------------------------------- repeat_interleave

def test_repeat_interleave(rng):
    a = random_array(rng, (3, 4), np.float32)
    ta = torch.from_numpy(a)
    x = clnet.tensor(a)
    _same(x.repeat_interleave(2), ta.repeat_interleave(2))
    _same(x.repeat_interleave(3, dim=1), ta.repeat_interleave(3, dim=1))
    _same(as_noncontiguous(a, "transpose").repeat_interleave(2, dim=-2),
          ta.repeat_interleave(2, dim=-2))
    reps = np.array([1, 0, 2])
    _same(x.repeat_interleave(clnet.tensor(reps), dim=0),
          ta.repeat_interleave(torch.from_numpy(reps), dim=0))
    _same(clnet.repeat_interleave(clnet.tensor(reps)),
          torch.repeat_interleave(torch.from_numpy(reps)))
    _same(x.repeat_interleave(0, dim=1), ta.repeat_interleave(0, dim=1))
    with pytest.raises(ValueError, match="size of dimension 0"):
        x.repeat_interleave(clnet.tensor([1, 2]), dim=0)
