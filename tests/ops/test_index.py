"""gather / scatter / scatter_add / index_* / take_along_dim / masked_fill / masked_select / nonzero /
one_hot against torch (CPU). Everything but scatter_add moves values without arithmetic and is
compared exactly; float32 scatter_add sums in a varying order: rtol 1e-5, atol 1e-5."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import clnet
from clnet.ops import index as index_ops
from tests.helpers import as_noncontiguous, assert_close, random_array, shapes

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
T = torch.from_numpy


def _same(actual, expected):
    exp = expected.numpy() if hasattr(expected, "numpy") else np.asarray(expected)
    got = actual.numpy()
    assert got.shape == exp.shape, f"shape {got.shape} != {exp.shape}"
    assert got.dtype == exp.dtype, f"dtype {got.dtype} != {exp.dtype}"
    np.testing.assert_array_equal(got, exp)


def _layout(a, kind):
    return clnet.tensor(a) if kind is None else as_noncontiguous(a, kind)


# ---------------------------------------------------------------------------------------- gather

@given(shape=shapes(min_dims=1, max_dims=4, min_side=1, max_side=6), data=st.data())
def test_gather_random_shapes(shape, data):
    rng = np.random.default_rng(sum(shape) * 7 + len(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ishape = [data.draw(st.integers(0, s)) for s in shape]
    ishape[dim] = data.draw(st.integers(0, 7))
    a = random_array(rng, shape)
    idx = rng.integers(0, shape[dim], size=ishape)
    kind = data.draw(st.sampled_from([None, "step", "transpose", "offset"]))
    _same(clnet.gather(_layout(a, kind), dim, _layout(idx, kind)), torch.gather(T(a), dim, T(idx)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_dtypes_and_int32_index(rng, dtype):
    a = random_array(rng, (5, 7), dtype)
    idx = rng.integers(0, 7, size=(5, 3))
    expected = np.take_along_axis(a, idx, axis=1)
    _same(clnet.tensor(a).gather(1, clnet.tensor(idx)), expected)
    _same(clnet.tensor(a).gather(-1, clnet.tensor(idx.astype(np.int32))), expected)


def test_gather_edges_and_errors():
    _same(clnet.gather(clnet.tensor(5.0), 0, clnet.tensor(0)), np.float32(5.0))
    _same(clnet.gather(clnet.zeros(3, 4), 1, clnet.zeros(3, 0, dtype=clnet.int64)),
          np.zeros((3, 0), np.float32))
    x = clnet.zeros(3, 4)
    with pytest.raises(ValueError, match=r"same number of dimensions .*index shape \[2\], "
                                         r"input shape \[3, 4\]"):
        x.gather(1, clnet.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"expected index \[4, 2\] to be no larger than input "
                                         r"\[3, 4\] apart from dimension 1"):
        x.gather(1, clnet.zeros(4, 2, dtype=clnet.int64))
    with pytest.raises(TypeError, match="int64 or int32 index tensor, got clnet.float32"):
        x.gather(1, clnet.zeros(3, 2))
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.gather(2, clnet.zeros(3, 2, dtype=clnet.int64))


def test_gather_device_index_out_of_range_raises_at_next_read():
    # device indices are not read back before the launch: a bad one reads 0 (never a stray
    # read) and raises IndexError at the next host read, like a CUDA device-side assert
    x = clnet.tensor([[1.0, 2.0, 3.0]])
    y = x.gather(1, clnet.tensor([[2, 3, -1, 0]]))
    with pytest.raises(IndexError, match=r"index 3 is out of bounds \(in gather\)"):
        y.numpy()
    _same(y, np.array([[3.0, 0.0, 0.0, 1.0]], np.float32))   # reported once, then cleared


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("kind", [None, "step", "transpose"])
def test_take_along_dim(rng, dim, kind):
    a = random_array(rng, (4, 5))
    idx = rng.integers(0, a.shape[dim], size=(4, 5))
    idx = np.take(idx, range(3), axis=dim)      # fewer entries along dim
    _same(clnet.take_along_dim(_layout(a, kind), _layout(idx, kind), dim),
          torch.take_along_dim(T(a), T(idx), dim))
    b_idx = np.take(idx, [0], axis=1 - (dim % 2))   # broadcast the other dim
    _same(clnet.tensor(a).take_along_dim(clnet.tensor(b_idx), dim),
          torch.take_along_dim(T(a), T(b_idx), dim))
    flat = rng.integers(0, a.size, size=6)
    _same(clnet.take_along_dim(clnet.tensor(a), clnet.tensor(flat)),
          torch.take_along_dim(T(a), T(flat)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(rng, dtype, dim):
    a = random_array(rng, (6, 5), dtype)
    idx = rng.integers(0, a.shape[dim], size=9)
    for ix in (clnet.tensor(idx), clnet.tensor(idx.astype(np.int32)), as_noncontiguous(idx)):
        _same(clnet.index_select(clnet.tensor(a), dim, ix), np.take(a, idx, axis=dim))
    _same(as_noncontiguous(a, "transpose").index_select(dim, clnet.tensor(idx)),
          np.take(a, idx, axis=dim))
    _same(clnet.tensor(a).index_select(dim, clnet.zeros(0, dtype=clnet.int64)),
          np.take(a, [], axis=dim).astype(a.dtype))


def test_index_select_errors_and_0d():
    _same(clnet.tensor(3.0).index_select(0, clnet.tensor([0])),
          torch.tensor(3.0).index_select(0, torch.tensor([0])))
    _same(clnet.zeros(3).index_select(0, clnet.tensor(1)),
          torch.zeros(3).index_select(0, torch.tensor(1)))
    with pytest.raises(ValueError, match="0-d tensor can have only 1 value, got 2"):
        clnet.tensor(3.0).index_select(0, clnet.tensor([0, 0]))
    with pytest.raises(ValueError, match=r"vector, got shape \[1, 2\]"):
        clnet.zeros(3).index_select(0, clnet.tensor([[0, 1]]))


# ---------------------------------------------------------------------------------------- scatter

def _unique_rows_index(rng, shape, dim, size):
    """An index of ``shape`` whose entries along ``dim`` are distinct (no duplicate targets)."""
    idx = np.empty(shape, dtype=np.int64)
    moved = np.moveaxis(idx, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = rng.permutation(size)[:moved.shape[-1]]
    return idx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src_and_value(rng, dtype, dim):
    a = random_array(rng, (5, 6), dtype)
    src = random_array(rng, (5, 6), dtype)
    ishape = [4, 3]
    ishape[dim] = 3
    idx = _unique_rows_index(rng, ishape, dim, a.shape[dim])
    expected = torch.scatter(T(a), dim, T(idx), T(src))
    _same(clnet.scatter(clnet.tensor(a), dim, clnet.tensor(idx), clnet.tensor(src)), expected)
    _same(clnet.tensor(a).scatter(dim, as_noncontiguous(idx, "transpose"),
                                  as_noncontiguous(src, "step")), expected)
    value = True if dtype == np.bool_ else 2
    _same(clnet.tensor(a).scatter(dim, clnet.tensor(idx), value),
          torch.scatter(T(a), dim, T(idx), value))
    x = clnet.tensor(a)
    v0 = x._version
    assert x.scatter_(dim, clnet.tensor(idx), clnet.tensor(src)) is x
    _same(x, expected)
    assert x._version > v0


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_duplicates_last_wins_like_torch_cpu(rng, dim):
    # many index elements hit the same target: the last one in row-major order wins, every run
    shape = (3, 40) if dim == 1 else (40, 3)
    idx = rng.integers(0, 3, size=shape)
    src = np.arange(120, dtype=np.float32).reshape(shape)
    expected = torch.zeros(3, 3).scatter_(dim, T(idx), T(src))
    for _ in range(3):
        _same(clnet.zeros(3, 3).scatter_(dim, clnet.tensor(idx), clnet.tensor(src)), expected)
    rows = np.array([2, 0, 2, 2, 1, 0])
    src2 = np.arange(18, dtype=np.int64).reshape(6, 3)
    _same(clnet.zeros(3, 3, dtype=clnet.int64).index_copy(0, clnet.tensor(rows),
                                                          clnet.tensor(src2)),
          torch.zeros(3, 3, dtype=torch.int64).index_copy(0, T(rows), T(src2)))


def test_scatter_errors():
    x = clnet.zeros(3, 4)
    with pytest.raises(ValueError, match=r"expected index \[2, 2\] to be no larger than self "
                                         r"\[3, 4\] apart from dimension 1 and to be no larger "
                                         r"than src \[1, 2\]"):
        x.scatter(1, clnet.zeros(2, 2, dtype=clnet.int64), clnet.zeros(1, 2))
    with pytest.raises(TypeError, match="self.dtype to be equal to src.dtype"):
        x.scatter(1, clnet.zeros(2, 2, dtype=clnet.int64), clnet.zeros(2, 2, dtype=clnet.int64))
    with pytest.raises(TypeError, match="either src"):
        x.scatter(1, clnet.zeros(2, 2, dtype=clnet.int64), clnet.zeros(2, 2), value=1.0)
    with pytest.raises(ValueError, match="reduce='multiply' is not supported"):
        x.scatter(1, clnet.zeros(2, 2, dtype=clnet.int64), clnet.zeros(2, 2), reduce="multiply")


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_duplicates(rng, dtype, deterministic, monkeypatch):
    monkeypatch.setattr(index_ops, "DETERMINISTIC_SCATTER_ADD", deterministic)
    for dim in (0, 1, -1):
        a = random_array(rng, (4, 6), dtype)
        ishape = [7, 5]
        ishape[1 - dim % 2] = 3
        idx = rng.integers(0, a.shape[dim], size=ishape)   # many duplicate targets
        src = random_array(rng, (8, 6), dtype)
        expected = torch.scatter_add(T(a), dim, T(idx), T(src))
        got = clnet.scatter_add(clnet.tensor(a), dim, clnet.tensor(idx), clnet.tensor(src))
        assert_close(got, expected, rtol=1e-5, atol=1e-5)
        got = clnet.tensor(a).scatter_add(dim, as_noncontiguous(idx, "transpose"),
                                          as_noncontiguous(src, "step"))
        assert_close(got, expected, rtol=1e-5, atol=1e-5)
        got = clnet.tensor(a).scatter(dim, clnet.tensor(idx), clnet.tensor(src), reduce="add")
        assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_scatter_add_many_collisions_float32(rng):
    # 20000 contributions into 3 slots: the atomic compare-and-swap loop under contention
    src = rng.uniform(0, 1, size=20000).astype(np.float32)
    idx = rng.integers(0, 3, size=20000)
    got = clnet.zeros(3).scatter_add_(0, clnet.tensor(idx), clnet.tensor(src))
    expected = np.bincount(idx, weights=src.astype(np.float64), minlength=3)
    assert_close(got, expected.astype(np.float32), rtol=1e-4, atol=1e-3)


def test_scatter_add_in_place_and_aliasing():
    x = clnet.tensor([1.0, 2.0, 3.0])
    v0 = x._version
    assert x.scatter_add_(0, clnet.tensor([0, 0, 2]), x) is x
    _same(x, np.array([4.0, 2.0, 6.0], np.float32))   # src is read before any write
    assert x._version > v0


@pytest.mark.parametrize("deterministic", [False, True])
def test_index_add_copy_fill(rng, deterministic, monkeypatch):
    monkeypatch.setattr(index_ops, "DETERMINISTIC_SCATTER_ADD", deterministic)
    a = random_array(rng, (5, 4))
    for dim in (0, 1, -2):
        n = a.shape[dim]
        idx = rng.integers(0, n, size=6)
        sshape = list(a.shape)
        sshape[dim] = 6
        src = random_array(rng, tuple(sshape))
        assert_close(clnet.tensor(a).index_add(dim, clnet.tensor(idx), clnet.tensor(src)),
                     T(a).index_add(dim, T(idx), T(src)), rtol=1e-5, atol=1e-5)
        x = clnet.tensor(a)
        assert x.index_add_(dim, clnet.tensor(idx.astype(np.int32)),
                            as_noncontiguous(src, "transpose")) is x
        assert_close(x, T(a).index_add(dim, T(idx), T(src)), rtol=1e-5, atol=1e-5)
        perm = rng.permutation(n)
        sshape[dim] = n
        src2 = random_array(rng, tuple(sshape))
        _same(clnet.tensor(a).index_copy(dim, clnet.tensor(perm), clnet.tensor(src2)),
              T(a).index_copy(dim, T(perm), T(src2)))
        _same(clnet.tensor(a).index_fill(dim, clnet.tensor(idx), -1.5),
              T(a).index_fill(dim, T(idx), -1.5))
    x = clnet.tensor(np.arange(6, dtype=np.int64))
    x.index_fill_(0, clnet.tensor([1, 4]), 9)
    _same(x, np.array([0, 9, 2, 3, 9, 5]))
    with pytest.raises(ValueError, match=r"source shape \[3, 3\] does not match self shape "
                                         r"\[5, 4\]"):
        clnet.tensor(a).index_add(0, clnet.tensor([0, 1, 2]), clnet.zeros(3, 3))
    with pytest.raises(ValueError, match="alpha=1"):
        clnet.tensor(a).index_add(0, clnet.tensor([0]), clnet.zeros(1, 4), alpha=2)


# ---------------------------------------------------------------------------------------- masks

@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill_broadcast(rng, dtype):
    a = random_array(rng, (4, 5), dtype)
    value = False if dtype == np.bool_ else 7
    for mshape in [(4, 5), (5,), (4, 1), (2, 4, 5)]:
        m = rng.random(mshape) < 0.4
        _same(clnet.masked_fill(clnet.tensor(a), clnet.tensor(m), value),
              torch.masked_fill(T(a), T(m), value))
        _same(as_noncontiguous(a, "transpose").masked_fill(as_noncontiguous(m), value),
              torch.masked_fill(T(a), T(m), value))
    m = rng.random((4, 5)) < 0.4
    x = clnet.tensor(a)
    v0 = x._version
    assert x.masked_fill_(clnet.tensor(m[0]), value) is x
    _same(x, T(a).masked_fill_(T(m[0]), value))
    assert x._version > v0


def test_masked_fill_tensor_value_and_errors():
    x = clnet.tensor([[1.0, 2.0], [3.0, 4.0]])
    m = clnet.tensor([True, False])
    _same(x.masked_fill(m, clnet.tensor(-2.0)), np.array([[-2.0, 2.0], [-2.0, 4.0]], np.float32))
    _same(clnet.tensor([1, 2]).masked_fill(m, 1.7), np.array([1, 2]))   # value cast (torch: 1)
    with pytest.raises(TypeError, match="only supports boolean masks, but got mask with dtype "
                                        "clnet.float32"):
        x.masked_fill(clnet.zeros(2), 1.0)
    with pytest.raises(ValueError, match="0-dimensional value tensor, but got tensor with 1"):
        x.masked_fill(m, clnet.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"mask of shape \[3, 2, 2\] cannot be broadcast to the "
                                         r"shape \[2, 2\]"):
        x.masked_fill_(clnet.zeros(3, 2, 2, dtype=clnet.bool), 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_select(rng, dtype):
    a = random_array(rng, (3, 4, 5), dtype)
    for mshape in [(3, 4, 5), (5,), (4, 1), (2, 3, 4, 5)]:
        m = rng.random(mshape) < 0.5
        _same(clnet.masked_select(clnet.tensor(a), clnet.tensor(m)),
              torch.masked_select(T(a), T(m)))
    m = rng.random((3, 4, 5)) < 0.5
    _same(as_noncontiguous(a, "transpose").masked_select(as_noncontiguous(m, "step")), a[m])
    _same(clnet.tensor(a).masked_select(clnet.zeros(5, dtype=clnet.bool)), a[:, :, :0].ravel())


# ---------------------------------------------------------------------------------------- nonzero

@pytest.mark.parametrize("n", [0, 1, 2, 17, 1023, 1024, 1025, 5000, 70001])
def test_nonzero_sizes_around_blocks(rng, n):
    # compaction blocks are 64 work-items x 16 elements = 1024
    for density in (0.0, 0.03, 0.5, 1.0):
        a = (rng.random(n) < density).astype(np.float32)
        _same(clnet.tensor(a).nonzero(), np.argwhere(a))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero_dtypes_shapes_as_tuple(rng, dtype):
    a = random_array(rng, (4, 3, 5), dtype)
    if a.dtype.kind != "b":
        a[rng.random(a.shape) < 0.5] = 0
    x = clnet.tensor(a)
    _same(clnet.nonzero(x), torch.nonzero(T(a)))
    for got, exp in zip(clnet.nonzero(x, as_tuple=True), np.nonzero(a)):
        _same(got, exp.astype(np.int64))
    _same(as_noncontiguous(a, "transpose").nonzero(), np.argwhere(a))
    _same(clnet.argwhere(x), np.argwhere(a))


def test_nonzero_special_values_and_0d():
    a = np.array([0.0, -0.0, np.nan, np.inf, 1e-30], np.float32)
    _same(clnet.tensor(a).nonzero(), torch.nonzero(T(a)))
    _same(clnet.tensor(5.0).nonzero(), torch.nonzero(torch.tensor(5.0)))
    _same(clnet.tensor(0.0).nonzero(), torch.nonzero(torch.tensor(0.0)))
    (t,) = clnet.tensor(5).nonzero(as_tuple=True)
    _same(t, np.array([0]))


# ---------------------------------------------------------------------------------------- one_hot

def test_one_hot_matches_torch(rng):
    idx = rng.integers(0, 6, size=(3, 4))
    F = torch.nn.functional
    _same(index_ops.one_hot(clnet.tensor(idx)), F.one_hot(T(idx)))
    _same(index_ops.one_hot(clnet.tensor(idx), 9), F.one_hot(T(idx), 9))
    _same(index_ops.one_hot(as_noncontiguous(idx, "transpose"), 7), F.one_hot(T(idx), 7))
    _same(index_ops.one_hot(clnet.tensor(idx.astype(np.int32)), 6), F.one_hot(T(idx), 6))
    _same(index_ops.one_hot(clnet.tensor(2), 3), F.one_hot(torch.tensor(2), 3))
    _same(index_ops.one_hot(clnet.zeros(0, dtype=clnet.int64), 4), np.zeros((0, 4), np.int64))


def test_one_hot_errors_and_device_guard():
    with pytest.raises(ValueError, match="empty tensor"):
        index_ops.one_hot(clnet.zeros(0, dtype=clnet.int64))
    with pytest.raises(ValueError, match="non-negative"):
        index_ops.one_hot(clnet.tensor([1, -1]))
    with pytest.raises(TypeError, match="int64 or int32"):
        index_ops.one_hot(clnet.tensor([1.0]))
    # with num_classes given nothing is read back: an out-of-range class gives a zero row
    _same(index_ops.one_hot(clnet.tensor([1, 5]), 3), np.array([[0, 1, 0], [0, 0, 0]]))
