"""sort / argsort / msort / topk / unique against torch (CPU), exact comparison: sorting moves values
without arithmetic, so no tolerance is needed anywhere in this file."""
import numpy as np
import pytest
import torch

import clnet
from tests.helpers import as_noncontiguous

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
# around the work-group (256) and local chunk (2048, so >2048 takes the global-merge path)
SORT_LENGTHS = [0, 1, 2, 3, 7, 13, 63, 64, 65, 127, 255, 256, 257, 1023, 1024, 1025, 2047, 2048,
                2049, 5000]


def _data(rng, shape, dtype, distinct=None):
    """Values with many ties when ``distinct`` is given (to exercise stability)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if distinct is not None:
        return rng.integers(0, distinct, size=shape).astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-1000, 1000, size=shape).astype(dtype)


def _check_sort(x_np, dim=-1, descending=False, x=None):
    x = clnet.tensor(x_np) if x is None else x
    v, i = clnet.sort(x, dim=dim, descending=descending)
    tv, ti = torch.sort(torch.from_numpy(x_np), dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    assert i.dtype is clnet.int64 and v.dtype is x.dtype


@pytest.mark.parametrize("length", SORT_LENGTHS)
def test_sort_lengths_with_ties(rng, length):
    # few distinct values: every index must equal torch's *stable* order
    a = _data(rng, (3, length), np.float32, distinct=max(2, length // 8))
    for desc in (False, True):
        _check_sort(a, descending=desc)


def test_sort_long_row_multiple_global_merges(rng):
    a = rng.standard_normal(20000).astype(np.float32)   # P = 32768: three global-merge levels
    _check_sort(a)
    _check_sort(a, descending=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sort_dtypes(rng, dtype):
    a = _data(rng, (4, 37), dtype, distinct=None if dtype != np.bool_ else 2)
    for desc in (False, True):
        _check_sort(a, descending=desc)
    _check_sort(_data(rng, (2, 3000), dtype, distinct=50), descending=True)


def test_sort_many_short_rows(rng):
    # several rows share one work-group when rows are short
    for length in (2, 3, 5, 17):
        _check_sort(_data(rng, (500, length), np.int32, distinct=4))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
def test_sort_dims_and_layouts(rng, dim):
    a = _data(rng, (5, 6, 7), np.float32, distinct=5)
    _check_sort(a, dim=dim)
    for kind in ("step", "transpose", "offset"):
        _check_sort(a, dim=dim, descending=True, x=as_noncontiguous(a, kind))


def test_sort_nan_inf():
    a = np.array([[1.0, np.nan, -np.inf, 2.0, np.inf, np.nan, -0.0, 0.0, 1.0, -3.0]] * 2,
                 dtype=np.float32)
    a[1] = a[1][::-1]
    for desc in (False, True):
        _check_sort(a, descending=desc)
    b = np.random.default_rng(3).standard_normal(3000)
    b[::7] = np.nan
    _check_sort(b, descending=True)
    _check_sort(b)


def test_sort_zero_dim_and_empty():
    v, i = clnet.sort(clnet.tensor(3.5))
    assert v.shape == () and i.shape == () and v.item() == 3.5 and i.item() == 0
    v, i = clnet.sort(clnet.zeros(3, 0, 4), dim=1)
    assert v.shape == (3, 0, 4) and i.shape == (3, 0, 4)
    v, i = clnet.sort(clnet.zeros(0, 5))
    assert v.shape == (0, 5)


def test_sort_named_tuple_and_methods(rng):
    a = _data(rng, (3, 8), np.float32)
    res = clnet.tensor(a).sort(dim=0, descending=True)
    values, indices = res
    assert res.values is values and res.indices is indices
    np.testing.assert_array_equal(clnet.tensor(a).argsort(dim=1).numpy(),
                                  torch.from_numpy(a).argsort(dim=1, stable=True).numpy())
    np.testing.assert_array_equal(clnet.argsort(clnet.tensor(a), descending=True).numpy(),
                                  torch.argsort(torch.from_numpy(a), descending=True,
                                                stable=True).numpy())
    np.testing.assert_array_equal(clnet.msort(clnet.tensor(a)).numpy(), np.sort(a, axis=0))


def test_sort_errors():
    with pytest.raises(IndexError, match="Dimension out of range"):
        clnet.sort(clnet.zeros(3, 4), dim=2)


# ---------------------------------------------------------------------------------------- topk

def _check_topk(a, k, dim=-1, largest=True, x=None):
    x = clnet.tensor(a) if x is None else x
    v, i = clnet.topk(x, k, dim=dim, largest=largest)
    tv, _ = torch.topk(torch.from_numpy(a), k, dim=dim, largest=largest)
    # values exactly; indices: the elements they point at are the values (ties may pick either)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(np.take_along_axis(a, i.numpy(), axis=dim), v.numpy())
    if i.numel():
        srt = np.sort(i.numpy(), axis=dim)
        assert (np.diff(srt, axis=dim) > 0).all(), "topk indices repeat an element"


@pytest.mark.parametrize("length", [1, 2, 7, 64, 65, 300, 2100])
def test_topk_lengths_ties(rng, length):
    a = _data(rng, (3, length), np.float32, distinct=max(2, length // 5))
    for k in sorted({0, 1, min(5, length), length}):
        _check_topk(a, k)
        _check_topk(a, k, largest=False)


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != np.bool_])
def test_topk_dtypes_dims_layouts(rng, dtype):
    a = _data(rng, (6, 5, 4), dtype)
    _check_topk(a, 3, dim=0)
    _check_topk(a, 2, dim=-2, largest=False)
    _check_topk(a, 4, dim=1, x=as_noncontiguous(a, "transpose"))


def test_topk_nan_counts_as_largest():
    a = np.array([1.0, np.nan, 3.0, 2.0], dtype=np.float32)
    v, i = clnet.topk(clnet.tensor(a), 2)
    np.testing.assert_array_equal(v.numpy(), [np.nan, 3.0])
    np.testing.assert_array_equal(i.numpy(), [1, 2])


def test_topk_method_named_tuple_and_errors():
    x = clnet.tensor([[3.0, 1.0, 2.0]])
    res = x.topk(2)
    assert res.values.tolist() == [[3.0, 2.0]] and res.indices.tolist() == [[0, 2]]
    with pytest.raises(ValueError, match=r"k=4 out of range for dimension -1 of size 3"):
        x.topk(4)
    with pytest.raises(ValueError, match="out of range"):
        x.topk(-1)
    with pytest.raises(TypeError, match="bool"):
        clnet.topk(clnet.tensor([True, False]), 1)


# ---------------------------------------------------------------------------------------- unique

@pytest.mark.parametrize("dtype", DTYPES)
def test_unique_matches_torch(rng, dtype):
    a = _data(rng, (7, 9), dtype, distinct=6 if dtype != np.bool_ else 2)
    out, inv, cnt = clnet.unique(clnet.tensor(a), return_inverse=True, return_counts=True)
    tout, tinv, tcnt = torch.unique(torch.from_numpy(a), return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    np.testing.assert_array_equal(inv.numpy(), tinv.numpy())
    np.testing.assert_array_equal(cnt.numpy(), tcnt.numpy())
    np.testing.assert_array_equal(clnet.tensor(a).unique().numpy(), tout.numpy())


def test_unique_edges():
    assert clnet.unique(clnet.zeros(0)).shape == (0,)
    out, cnt = clnet.unique(clnet.tensor([5, 5, 5]), return_counts=True)
    assert out.tolist() == [5] and cnt.tolist() == [3]
    big = np.random.default_rng(1).integers(0, 3000, size=5000)
    np.testing.assert_array_equal(clnet.unique(clnet.tensor(big)).numpy(), np.unique(big))
    with pytest.raises(ValueError, match="dim=None"):
        clnet.unique(clnet.zeros(3, 3), dim=0)
