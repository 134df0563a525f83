"""Advanced ``__getitem__`` and every ``__setitem__`` form against torch (CPU), which is the oracle
for PyTorch's placement rule (it differs from numpy's when ints mix with index arrays). Values are
only moved, so comparisons are exact."""
import numpy as np
import pytest
import torch

import clnet
from tests.helpers import as_noncontiguous, random_array

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
SHAPE = (4, 5, 6)


def _same(actual, expected):
    exp = expected.numpy() if hasattr(expected, "numpy") else np.asarray(expected)
    got = actual.numpy()
    assert got.shape == exp.shape, f"shape {got.shape} != {exp.shape}"
    assert got.dtype == exp.dtype, f"dtype {got.dtype} != {exp.dtype}"
    np.testing.assert_array_equal(got, exp)


def _convert(idx, to):
    """The same index for clnet (host lists stay lists; arrays become tensors) and torch."""
    out = []
    for x in idx if isinstance(idx, tuple) else (idx,):
        if isinstance(x, np.ndarray):
            out.append(clnet.tensor(x) if to == "clnet" else torch.from_numpy(x))
        elif isinstance(x, list) and to == "torch":
            is_mask = np.asarray(x).dtype == np.bool_
            out.append(torch.tensor(x, dtype=torch.bool if is_mask else torch.int64))
        else:
            out.append(x)
    return tuple(out)


def _indices(rng):
    i1 = rng.integers(-4, 4, size=3)                # negative indices count from the end
    i2 = rng.integers(0, 4, size=(2, 3))
    i3 = rng.integers(0, 5, size=(1, 3))
    m0 = rng.random(4) < 0.5
    m01 = rng.random((4, 5)) < 0.4
    m12 = rng.random((5, 6)) < 0.4
    return [
        i1, [0, 2, -1], (i1,), (slice(None), i2), (i1, slice(1, 4)), (Ellipsis, i3),
        (i1[:1], i2, i3),                           # broadcasting (1,), (2, 3), (1, 3)
        (i2, slice(None), i3),                      # separated: index dims go first
        (slice(None), i2, i3),                      # adjacent: stay in place
        (0, slice(None), [1, 2]),                   # PyTorch: the int is a plain select first
        ([0, 1], 1, [1, 2]), (i1.astype(np.int32), None, slice(None, None, 2)),
        (None, i2, None, i3), (i2, Ellipsis), (np.array(2), slice(None)),
        m0, m01, (slice(None), m12), (m0, slice(None), [0, 1, 2][:1]), (Ellipsis, m12),
        (0, slice(None), [True, False, True, False, True, False]),
        True, False, (True, [1, 2]), (slice(1, 3), [[]]), [],
        np.array(True), np.array(False),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_matches_torch(rng, dtype):
    a = random_array(rng, SHAPE, dtype)
    ta = torch.from_numpy(a)
    for kind in (None, "transpose", "step"):
        x = clnet.tensor(a) if kind is None else as_noncontiguous(a, kind)
        for idx in _indices(rng):
            expected = ta[_convert(idx, "torch")]
            _same(x[_convert(idx, "clnet")], expected)


def test_getitem_host_and_device_forms_agree(rng):
    a = random_array(rng, SHAPE)
    x = clnet.tensor(a)
    idx = rng.integers(-5, 5, size=(2, 2))
    expected = a[:, idx]
    _same(x[:, idx], expected)                                 # numpy array (host)
    _same(x[:, idx.tolist()], expected)                        # nested list (host)
    _same(x[:, clnet.tensor(idx)], expected)                   # int64 tensor (device)
    _same(x[:, clnet.tensor(idx.astype(np.int32))], expected)  # int32 tensor (device)
    _same(x[:, as_noncontiguous(idx, "transpose")], expected)  # non-contiguous index tensor
    m = rng.random(SHAPE) < 0.5
    _same(x[m], a[m])
    _same(x[clnet.tensor(m)], a[m])
    _same(x[as_noncontiguous(m, "step")], a[m])


def test_getitem_large_mask(rng):
    a = random_array(rng, (300, 41))
    m = rng.random((300, 41)) < 0.3
    _same(clnet.tensor(a)[clnet.tensor(m)], a[m])
    _same(clnet.tensor(a)[clnet.tensor(m[:, 0])], a[m[:, 0]])


def test_getitem_errors():
    x = clnet.zeros(3, 4)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[[5]]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        x[:, np.array([0, -5])]
    with pytest.raises(IndexError, match=r"could not be broadcast together with shapes \[2\], "
                                         r"\[3\]"):
        x[[0, 1], [1, 2, 3]]
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not match "
                                         r"the shape of the indexed tensor \[3, 4\] at index 0"):
        x[clnet.tensor([True, False])]
    with pytest.raises(IndexError, match="long, int, byte or bool tensors"):
        x[clnet.tensor([1.0])]
    with pytest.raises(IndexError, match="long, int, byte or bool tensors"):
        x[[1.5]]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x[[0], 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., [0], ...]
    with pytest.raises(IndexError, match=r"valid indices \(got float\)"):
        x[[0], 1.5]


def test_getitem_device_index_out_of_range_raises_at_next_read():
    # device indices are not read back before the launch: bad ones give 0 (never a stray read)
    # and raise IndexError at the next host read
    x = clnet.tensor([1.0, 2.0, 3.0])
    y = x[clnet.tensor([0, 3, -1, -4])]
    with pytest.raises(IndexError, match=r"index 3 is out of bounds \(in index\)"):
        clnet.synchronize()
    _same(y, np.array([1.0, 0.0, 3.0, 0.0], np.float32))


# ---------------------------------------------------------------------------------------- setitem

def _check_set(a, idx, value, kind=None):
    x = clnet.tensor(a) if kind is None else as_noncontiguous(a, kind)
    t = torch.from_numpy(a.copy())
    v0 = x._version
    cl_value = clnet.tensor(value) if isinstance(value, np.ndarray) else value
    t_value = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
    x[_convert(idx, "clnet")] = cl_value
    t[_convert(idx, "torch")] = t_value
    _same(x, t)
    assert x._version > v0


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_basic(rng, dtype):
    a = random_array(rng, SHAPE, dtype)
    for kind in (None, "transpose"):
        _check_set(a, 1, random_array(rng, (5, 6), dtype), kind)
        _check_set(a, (slice(None), 2), random_array(rng, (6,), dtype), kind)  # broadcast
        _check_set(a, (Ellipsis, slice(1, 5, 2)), random_array(rng, (1, 1, 2), dtype), kind)
        _check_set(a, (0, None, 1), random_array(rng, (1, 1, 6), dtype), kind)  # leading ones
        _check_set(a, slice(None), True if dtype == np.bool_ else 3, kind)
        _check_set(a, (2, 3, 4), False if dtype == np.bool_ else -1, kind)
    x = clnet.tensor(a)
    x[0] = random_array(rng, (5, 6), dtype)                   # numpy value
    x[1, 0] = [True] * 6 if dtype == np.bool_ else [1] * 6    # list value


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_advanced(rng, dtype):
    a = random_array(rng, SHAPE, dtype)
    perm = rng.permutation(4)[:3]
    m = rng.random(SHAPE) < 0.4
    for kind in (None, "step"):
        _check_set(a, perm, random_array(rng, (3, 5, 6), dtype), kind)
        _check_set(a, (slice(None), [0, -1]), random_array(rng, (6,), dtype), kind)
        _check_set(a, ([0, 2], slice(None), [1, 3]), random_array(rng, (2, 5), dtype), kind)
        _check_set(a, m, False if dtype == np.bool_ else 0, kind)           # x[mask] = 0
        _check_set(a, m, random_array(rng, (int(m.sum()),), dtype), kind)   # x[mask] = values
        _check_set(a, (m[:, 0, 0],), random_array(rng, (6,), dtype), kind)
        _check_set(a, (Ellipsis, np.array([1, 2])), random_array(rng, (5, 1), dtype), kind)


def test_setitem_cast_alias_and_errors(rng):
    x = clnet.tensor(np.arange(6, dtype=np.int64))
    x[[0, 1]] = clnet.tensor([7.9, -2.2])                     # cast to the target's dtype
    _same(x, np.array([7, -2, 2, 3, 4, 5]))
    x = clnet.tensor(np.arange(6, dtype=np.float32))
    x[1:] = x[:-1]                                            # overlapping source: copied first
    _same(x, np.array([0, 0, 1, 2, 3, 4], np.float32))
    x = clnet.tensor(np.arange(6, dtype=np.float32))
    x[[1, 2, 3, 4, 5]] = x[0:5]
    _same(x, np.array([0, 0, 1, 2, 3, 4], np.float32))
    x = clnet.zeros(3, 4)
    with pytest.raises(ValueError, match=r"value tensor of shape \[3\] cannot be broadcast to "
                                         r"indexing result of shape \[2, 4\]"):
        x[[0, 1]] = clnet.zeros(3)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[[3]] = 1.0
    with pytest.raises(TypeError, match="can't assign a str"):
        x[0] = "a"
    # device indices out of range are skipped, never written outside the tensor, and raise
    # at the next host read
    y = clnet.zeros(3)
    y[clnet.tensor([0, 7, -9])] = 5.0
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        y.numpy()
    _same(y, np.array([5.0, 0.0, 0.0], np.float32))
