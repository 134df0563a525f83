"""Reductions against numpy (and torch where numpy lacks the op or the exact semantics).

Tolerances: float32 sums are checked with atol = 1e-5 * sum(|x|) over the reduced elements (the
error of any summation order is bounded relative to that, not to the possibly-cancelling sum);
other float32 results with rtol 1e-5 / atol 1e-6 unless a test states otherwise; float64 1e-12
relative to sum(|x|); integers exactly.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import clnet
from clnet.kernels import reduce as _reduce_launch
from clnet.ops.reduce import reduce_sum_to_shape
from tests.helpers import EDGE_SIZES, as_noncontiguous, assert_close, random_array, shapes

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _sum_tol(x, axis):
    x64 = np.abs(x.astype(np.float64))
    scale = x64.sum(axis=axis) if x.size else np.zeros(())
    rel = 1e-5 if x.dtype == np.float32 else 1e-12
    return rel * np.max(scale, initial=0.0) + 1e-6


def _np_axis(dim):
    if dim is None or dim == ():
        return None
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


def _check_sum(got, x, dim, keepdim, np_dtype=None):
    axis = _np_axis(dim)
    expected = np.sum(x, axis=axis, keepdims=keepdim, dtype=np_dtype)
    if x.dtype.kind in "biu" and np_dtype is None:
        expected = expected.astype(np.int64)
    if expected.dtype.kind == "f":
        assert_close(got, expected, rtol=0, atol=_sum_tol(x, axis))
    else:
        assert_close(got, expected)


def _all_dim_choices(ndim):
    """None, every single dim (positive and negative) and every tuple of 2+ dims."""
    out = [None]
    for d in range(ndim):
        out += [d, d - ndim]
    for k in range(2, ndim + 1):
        out += list(itertools.combinations(range(ndim), k))
    return out


@pytest.fixture
def tuned(dev):
    """Override the reduction launch parameters for one test (forces other kernel layouts)."""
    _reduce_launch.tuning(dev)
    saved = dict(dev.tuning)

    def apply(**kw):
        dev.tuning.update({"reduce." + k: v for k, v in kw.items()})
    yield apply
    dev.tuning.clear()
    dev.tuning.update(saved)


# ------------------------------------------------------------------ sum over every dim choice
@given(shape=shapes(max_dims=4, max_side=9), data=st.data())
def test_sum_random_shapes_and_dims(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    dt = data.draw(st.sampled_from(DTYPES))
    dim = data.draw(st.sampled_from(_all_dim_choices(len(shape)) or [None]))
    keepdim = data.draw(st.booleans())
    x = random_array(rng, shape, dt)
    _check_sum(clnet.sum(clnet.tensor(x), dim, keepdim), x, dim, keepdim)


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
@pytest.mark.parametrize("dt", [np.float32, np.int32])
def test_sum_every_dim_noncontiguous(rng, kind, dt):
    x = random_array(rng, (5, 6, 7), dt)
    t = as_noncontiguous(x, kind)
    for dim in _all_dim_choices(3):
        for keepdim in (False, True):
            _check_sum(t.sum(dim, keepdim=keepdim), x, dim, keepdim)


@pytest.mark.parametrize("n", EDGE_SIZES + [1 << 20])
def test_sum_edge_sizes_1d_and_2d(rng, n):
    x = random_array(rng, (n,), np.float32)
    _check_sum(clnet.sum(clnet.tensor(x)), x, None, False)
    if n <= 257:
        for shape in [(n, 3), (3, n), (2, n, 5)]:
            x2 = random_array(rng, shape, np.float32)
            for dim in range(len(shape)):
                _check_sum(clnet.sum(clnet.tensor(x2), dim), x2, dim, False)


@pytest.mark.parametrize("layout", ["default", "rows_contiguous", "rows_interleaved", "chunked"])
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.bool_])
def test_kernel_layouts(rng, tuned, layout, dt):
    """The GPU layout (work-group trees) and the two-pass chunked path, exercised on any device."""
    if layout == "rows_contiguous":
        tuned(rows_min=1, interleave=0)
    elif layout == "rows_interleaved":
        tuned(rows_min=1, interleave=1)
    elif layout == "chunked":
        tuned(items=1 << 16, groups=1 << 12, min_chunk=16)
    for shape, dim in [((3, 1000), 1), ((1000, 3), 0), ((4, 257, 3), 1), ((70, 65), None),
                       ((2, 33, 16), 1), ((5, 4099), -1), ((40, 17), 0), ((9, 50, 40), 1)]:
        x = random_array(rng, shape, dt)
        t = clnet.tensor(x)
        _check_sum(t.sum(dim), x, dim, False)
        if dt is not np.bool_:
            assert_close(t.amax(dim) if dim is not None else t.max(), x.max(axis=dim))
            if dt in (np.float32, np.float64):
                assert_close(t.std(dim), np.std(x, axis=dim, ddof=1), rtol=1e-4, atol=1e-5)
        idx = t.argmax(dim)
        assert_close(idx, np.argmax(x, axis=dim).astype(np.int64))
        assert_close(t.argmin(dim), np.argmin(x, axis=dim).astype(np.int64))
        assert_close(t.any(dim) if dim is not None else t.any(), np.any(x, axis=dim))


# ------------------------------------------------------------------ dtype rules
@pytest.mark.parametrize("dt", DTYPES)
def test_sum_and_prod_dtypes(rng, dt):
    x = random_array(rng, (4, 5), dt, low=-2, high=2)
    t = clnet.tensor(x)
    tt = torch.from_numpy(x)
    s, p = t.sum(), t.prod(1)
    # assert_close checks the dtype too: int/bool -> int64, floats keep theirs
    assert_close(s, tt.sum().numpy(), rtol=1e-5, atol=1e-5)
    assert_close(p, tt.prod(1).numpy(), rtol=1e-5, atol=1e-6)


def test_sum_mean_prod_dtype_argument(rng):
    x = random_array(rng, (3, 4), np.float32)
    t = clnet.tensor(x)
    assert_close(t.sum(dtype=clnet.float64), x.astype(np.float64).sum(), rtol=1e-12)
    assert t.sum(1, dtype=clnet.int32).dtype is clnet.int32
    xi = random_array(rng, (3, 4), np.int32)
    ti = clnet.tensor(xi)
    assert_close(ti.sum(dtype=clnet.int32), np.array(xi.sum(), dtype=np.int32))
    assert_close(ti.mean(dtype=clnet.float32), np.float32(xi.mean()), rtol=1e-6)
    assert_close(ti.prod(0, dtype=clnet.float64), np.prod(xi.astype(np.float64), axis=0))
    assert_close(clnet.sum(clnet.zeros(2, 3), dim=1, keepdim=True, dtype=clnet.float64),
                 np.zeros((2, 1)))


def test_mean_and_var_of_integers_raise():
    t = clnet.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match=r"mean\(\).*floating point.*int64"):
        t.mean()
    with pytest.raises(TypeError, match=r"var\(\).*floating point"):
        t.var()
    with pytest.raises(RuntimeError, match="vector_norm.*floating point"):
        clnet.norm(t)


# ------------------------------------------------------------------ mean / prod / amax / amin
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_mean_every_dim(rng, dt):
    x = random_array(rng, (4, 3, 5), dt)
    t = as_noncontiguous(x, "transpose")
    for dim in _all_dim_choices(3):
        for keepdim in (False, True):
            expected = np.mean(x, axis=_np_axis(dim), keepdims=keepdim)
            tol = _sum_tol(x, _np_axis(dim)) / 3
            assert_close(t.mean(dim, keepdim), expected, rtol=1e-6, atol=tol)


@pytest.mark.parametrize("dt", DTYPES)
def test_amax_amin_every_dim(rng, dt):
    x = random_array(rng, (4, 3, 6), dt)
    t = as_noncontiguous(x, "step")
    for dim in _all_dim_choices(3):
        for keepdim in (False, True):
            axis = _np_axis(dim)
            assert_close(clnet.amax(t, dim if dim is not None else (), keepdim),
                         np.max(x, axis=axis, keepdims=keepdim))
            assert_close(clnet.amin(t, dim if dim is not None else (), keepdim),
                         np.min(x, axis=axis, keepdims=keepdim))


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64])
def test_prod_every_dim(rng, dt):
    x = random_array(rng, (3, 4, 5), dt, low=-1.5, high=1.5)
    if x.dtype.kind == "i":
        x = np.clip(x, -3, 3)
    t = clnet.tensor(x)
    for dim in _all_dim_choices(3):
        expected = np.prod(x, axis=_np_axis(dim))
        if x.dtype.kind == "i":
            expected = expected.astype(np.int64)
        assert_close(t.prod(dim) if dim is None or isinstance(dim, int) else
                     clnet.prod(t, dim), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ max / min / argmax / argmin
@pytest.mark.parametrize("dt", DTYPES)
def test_max_min_with_dim_return_values_and_indices(rng, dt):
    x = random_array(rng, (5, 7, 3), dt, low=-2, high=2)     # small integer range: many ties
    t = as_noncontiguous(x, "offset")
    for dim in range(-3, 3):
        for keepdim in (False, True):
            res = clnet.max(t, dim, keepdim)
            ref = torch.max(torch.from_numpy(x), dim, keepdim)
            assert type(res).__name__ == "max" and res._fields == ("values", "indices")
            assert_close(res.values, ref.values.numpy())
            assert_close(res.indices, ref.indices.numpy())     # first occurrence on ties
            values, indices = t.min(dim, keepdim=keepdim)
            ref = torch.min(torch.from_numpy(x), dim, keepdim)
            assert_close(values, ref.values.numpy())
            assert_close(indices, ref.indices.numpy())


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 257, 1 << 20])
def test_argmax_flat_and_ties(rng, n):
    x = random_array(rng, (n,), np.float32)
    x[n // 2] = 10.0
    x[-1] = 10.0                   # a tie after the first maximum
    t = clnet.tensor(x)
    assert t.argmax().item() == n // 2
    assert clnet.max(t).item() == 10.0
    x[n // 3] = -10.0
    x[0 if n > 1 else -1] = -10.0 if n > 1 else x[0]
    t = clnet.tensor(x)
    assert t.argmin().item() == int(np.argmin(x))
    # flat index over a non-contiguous 2-D view: row-major logical order
    m = random_array(rng, (7, 9), np.float32)
    assert clnet.argmax(as_noncontiguous(m, "transpose")).item() == int(np.argmax(m))
    assert clnet.argmax(clnet.tensor(m), keepdim=True).shape == (1, 1)


@pytest.mark.parametrize("n", [5, 300, 1 << 18])
def test_nan_is_the_max_and_min(rng, n):
    x = random_array(rng, (n,), np.float32)
    x[n // 3] = np.nan
    x[n // 2] = np.nan
    tt = torch.from_numpy(x)
    t = clnet.tensor(x)
    assert math.isnan(clnet.max(t).item()) and math.isnan(clnet.min(t).item())
    assert math.isnan(t.amax().item())
    assert t.argmax().item() == torch.argmax(tt).item() == n // 3
    assert t.argmin().item() == torch.argmin(tt).item() == n // 3
    m = x[: (n // 5) * 5].reshape(5, -1)
    got = clnet.tensor(m).max(1)
    ref = torch.from_numpy(m).max(1)
    assert_close(got.values, ref.values.numpy())
    assert_close(got.indices, ref.indices.numpy())


def test_max_of_two_tensors_is_elementwise():
    a, b = clnet.tensor([1.0, 5.0, -2.0]), clnet.tensor([3.0, 2.0, -1.0])
    assert_close(clnet.max(a, b), np.array([3.0, 5.0, -1.0], np.float32))
    assert_close(clnet.min(a, b), np.array([1.0, 2.0, -2.0], np.float32))
    assert_close(a.max(b), np.array([3.0, 5.0, -1.0], np.float32))


# ------------------------------------------------------------------ var / std
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_var_std_forms_match_torch(rng, dt):
    x = random_array(rng, (6, 5, 4), dt) + 100.0      # offset: naive E[x^2]-E[x]^2 would fail
    t = as_noncontiguous(x, "step")
    tt = torch.from_numpy(x)
    tol = dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for dim in [None, 0, -1, (0, 2), (1, 2)]:
        for keepdim in (False, True):
            for kw in [{}, {"correction": 0}, {"correction": 2}, {"unbiased": False}]:
                assert_close(clnet.var(t, dim, keepdim=keepdim, **kw),
                             torch.var(tt, dim, keepdim=keepdim, **kw).numpy(), **tol)
                assert_close(t.std(dim, keepdim=keepdim, **kw),
                             tt.std(dim, keepdim=keepdim, **kw).numpy(), **tol)
            v, m = clnet.var_mean(t, dim, keepdim=keepdim)
            rv, rm = torch.var_mean(tt, dim, keepdim=keepdim)
            assert_close(v, rv.numpy(), **tol)
            assert_close(m, rm.numpy(), **tol)
            s, m = clnet.std_mean(t, dim, keepdim=keepdim, correction=0)
            rs, rm = torch.std_mean(tt, dim, keepdim=keepdim, correction=0)
            assert_close(s, rs.numpy(), **tol)
            assert_close(m, rm.numpy(), **tol)
    # legacy positional forms: var(input, unbiased) and var(input, dim, unbiased, keepdim)
    assert_close(t.var(False), tt.var(False).numpy(), **tol)
    assert_close(clnet.var(t, 1, True, True), torch.var(tt, 1, True, True).numpy(), **tol)


def test_var_degenerate_counts_follow_torch():
    one = clnet.tensor([1.5])
    assert math.isnan(one.var().item())                      # 0 / 0
    assert one.var(correction=0).item() == 0.0
    two = clnet.tensor([1.0, 2.0])
    assert two.var(correction=3).item() == math.inf          # divides by max(0, N - correction)
    with pytest.raises(ValueError, match="either unbiased or correction"):
        two.var(unbiased=True, correction=1)


# ------------------------------------------------------------------ norm / logsumexp
@pytest.mark.parametrize("p", ["fro", 2, 1, math.inf, -math.inf, 0, 3, 0.5])
def test_norm_matches_torch(rng, p):
    x = random_array(rng, (5, 6, 7), np.float32)
    x[0, 0, :3] = 0.0
    t = as_noncontiguous(x, "transpose")
    tt = torch.from_numpy(x)
    for dim in [None, 1, -1, (0, 2)]:
        for keepdim in (False, True):
            if p == "fro" and isinstance(dim, int):
                continue                    # torch.norm('fro') wants 2 dims or None
            assert_close(clnet.norm(t, p, dim, keepdim), torch.norm(tt, p, dim, keepdim).numpy(),
                         rtol=1e-5, atol=1e-5)
    assert_close(t.norm(), torch.norm(tt).numpy(), rtol=1e-5)
    assert_close(t.norm(dtype=clnet.float64), torch.norm(tt, dtype=torch.float64).numpy(),
                 rtol=1e-10)


def test_logsumexp_matches_torch_including_infinities(rng):
    x = random_array(rng, (4, 300), np.float32) * 30
    t = clnet.tensor(x)
    tt = torch.from_numpy(x)
    for dim in [0, 1, -1, (0, 1)]:
        for keepdim in (False, True):
            assert_close(clnet.logsumexp(t, dim, keepdim),
                         torch.logsumexp(tt, dim, keepdim).numpy(), rtol=1e-5, atol=1e-5)
    inf = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 0.0], [1e30, 1e30]], np.float32)
    assert_close(clnet.tensor(inf).logsumexp(1), torch.logsumexp(torch.from_numpy(inf), 1).numpy())
    xi = np.array([1, 2, 3])
    assert_close(clnet.logsumexp(clnet.tensor(xi), 0),
                 torch.logsumexp(torch.from_numpy(xi), 0).numpy(), rtol=1e-6)


# ------------------------------------------------------------------ all / any / count_nonzero
@pytest.mark.parametrize("dt", DTYPES)
def test_all_any_count_nonzero(rng, dt):
    x = random_array(rng, (4, 5, 3), dt, low=-1, high=1)
    if x.dtype.kind == "f":
        x = np.where(rng.random(x.shape) < 0.3, 0, x).astype(dt)
    t = as_noncontiguous(x, "step")
    for dim in _all_dim_choices(3):
        axis = _np_axis(dim)
        for keepdim in (False, True):
            assert_close(clnet.all(t, dim, keepdim), np.all(x, axis=axis, keepdims=keepdim))
            assert_close(clnet.any(t, dim, keepdim), np.any(x, axis=axis, keepdims=keepdim))
        assert_close(clnet.count_nonzero(t, dim), np.count_nonzero(x, axis=axis).astype(np.int64))
    assert t.all().dtype is clnet.bool


# ------------------------------------------------------------------ empty and 0-d tensors
def test_empty_reductions():
    e = clnet.zeros(0)
    assert e.sum().item() == 0.0 and e.prod().item() == 1.0
    assert math.isnan(e.mean().item()) and math.isnan(e.var().item())
    assert e.norm().item() == 0.0 and e.logsumexp(0).item() == -math.inf
    assert e.all().item() is True and e.any().item() is False
    assert e.count_nonzero().item() == 0
    z = clnet.zeros(3, 0)
    assert_close(z.sum(1), np.zeros(3, np.float32))
    assert_close(z.prod(1), np.ones(3, np.float32))
    assert_close(z.sum(0), np.zeros(0, np.float32))
    assert_close(z.max(0).values, np.zeros(0, np.float32))
    assert_close(clnet.zeros(0, 3, dtype=clnet.int32).sum(0), np.zeros(3, np.int64))


def test_max_of_empty_raises_naming_op_and_shape():
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified.*"
                                           r"shape \[0, 3\]"):
        clnet.zeros(0, 3).max()
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 1 to have non-zero "
                                         r"size.*shape \[3, 0\]"):
        clnet.zeros(3, 0).max(1)
    with pytest.raises(IndexError, match=r"argmax\(\).*numel\(\) == 0"):
        clnet.zeros(0).argmax()
    with pytest.raises(IndexError, match=r"amin\(\).*dim 1"):
        clnet.amin(clnet.zeros(3, 0), 1)
    with pytest.raises(IndexError, match="inf norm on an empty tensor"):
        clnet.zeros(0).norm(math.inf)


def test_zero_dim_tensors():
    s = clnet.tensor(3.5)
    assert s.sum().item() == 3.5 and s.sum(0).item() == 3.5 and s.sum(-1, keepdim=True).shape == ()
    assert s.max(0).values.item() == 3.5 and s.max(0).indices.item() == 0
    assert s.argmax().item() == 0 and s.mean().item() == 3.5


# ------------------------------------------------------------------ dim errors
def test_dim_errors():
    t = clnet.zeros(2, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        t.sum(2)
    with pytest.raises(RuntimeError, match="dim 0 appears multiple times"):
        t.sum((0, -2))
    with pytest.raises(TypeError, match="dim must be an int"):
        t.max((0, 1))
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.sum([1, 2])


def test_empty_dim_list_reduces_everything_like_torch(rng):
    x = random_array(rng, (2, 3), np.float32)
    assert_close(clnet.tensor(x).sum(()), np.float32(x.sum()), rtol=1e-6)
    assert_close(clnet.amax(clnet.tensor(x)), np.float32(x.max()))


# ------------------------------------------------------------------ reduce_sum_to_shape
@pytest.mark.parametrize("shape, target", [
    ((4, 3), (4, 3)), ((4, 3), (3,)), ((4, 3), (1, 3)), ((4, 3), (4, 1)), ((2, 4, 3), (4, 1)),
    ((2, 4, 3), ()), ((2, 4, 3), (1, 1, 1)), ((5, 1, 3), (1, 3)), ((2, 1, 3), (1, 1, 3))])
def test_reduce_sum_to_shape(rng, shape, target):
    x = random_array(rng, shape, np.float32)
    got = reduce_sum_to_shape(clnet.tensor(x), target)
    lead = x.ndim - len(target)
    expected = x.sum(axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, s in enumerate(target) if s == 1 and expected.shape[i] != 1)
    expected = expected.sum(axis=axes, keepdims=True) if axes else expected
    assert_close(got, expected.reshape(target), rtol=1e-6, atol=1e-6)
    # a broadcast (stride-0) input, as autograd produces
    b = clnet.tensor(random_array(rng, (3,), np.float32)).expand(4, 3)
    assert_close(reduce_sum_to_shape(b, (3,)), b.numpy().sum(0), rtol=1e-6)


def test_reduce_sum_to_shape_rejects_incompatible():
    with pytest.raises(ValueError, match=r"shape \[2\] does not broadcast.*\[4, 3\]"):
        reduce_sum_to_shape(clnet.zeros(4, 3), (2,))
