"""clnet/ops/numeric.py against torch (CPU) as the oracle: values, indices, dtypes and shapes,
dim/keepdim (negative dims too), broadcasting, non-contiguous inputs, empty / size-1 / 0-d
inputs, NaN and inf, errors, and input gradients through .backward() with a random upstream
gradient. Tolerances: float32 values and gradients rtol 1e-5 / atol 1e-6 (the suite's default);
float64 the same; integer and bool results, indices and dtypes exactly."""
import math

import numpy as np
import pytest
import torch

import clnet
from tests.helpers import as_noncontiguous, assert_close, random_array

NAN, INF = math.nan, math.inf
LAYOUTS = [None, "step", "transpose"]


def _pair(a, layout=None, grad=False):
    """(clnet tensor, torch tensor) holding numpy ``a``."""
    c = clnet.tensor(a) if layout is None else as_noncontiguous(a, layout)
    t = torch.from_numpy(np.array(a))
    if grad:
        c.requires_grad_(True)
        t.requires_grad_(True)
    return c, t


def _same(c, t, **kw):
    if isinstance(t, bool):
        assert c is t
        return
    assert_close(c, t, **kw)


def _grads(fc, ft, arrays, rng, layouts=None):
    """Compare input gradients of fc(*clnet) and ft(*torch) under a random upstream gradient."""
    layouts = layouts or [None] * len(arrays)
    pairs = [_pair(a, lay, grad=True) for a, lay in zip(arrays, layouts)]
    cs, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    rc, rt = fc(*cs), ft(*ts)
    _same(rc, rt)
    up = random_array(rng, tuple(rt.shape), rt.detach().numpy().dtype)
    rc.backward(clnet.tensor(up))
    rt.backward(torch.from_numpy(up))
    for c, t in zip(cs, ts):
        assert_close(c.grad, t.grad)


def _vals_idx(rc, rt):
    assert_close(rc[0], rt[0])
    assert_close(rc[1], rt[1])


# ------------------------------------------------------------------ isclose / allclose / equal
def test_isclose_values_broadcast_nan_inf():
    a = np.array([[1.0, 1.0 + 1e-6, 1.1, NAN, INF, -INF, INF, 0.0]], np.float32)
    b = np.array([1.0, 1.0, 1.0, NAN, INF, -INF, -INF, 1e-9], np.float32)
    for kw in [{}, {"equal_nan": True}, {"rtol": 0.2}, {"rtol": 0, "atol": 0},
               {"atol": 0.2, "rtol": 0, "equal_nan": True}]:
        (ca, ta), (cb, tb) = _pair(a), _pair(b)
        _same(clnet.isclose(ca, cb, **kw), torch.isclose(ta, tb, **kw))
        _same(ca.isclose(cb, **kw), ta.isclose(tb, **kw))
        _same(clnet.allclose(ca, cb, **kw), torch.allclose(ta, tb, **kw))
    x = np.array([1, 2, 3, 100], np.int64)
    y = np.array([1, 3, 2, 101], np.int64)
    for kw in [{}, {"rtol": 0.5}, {"atol": 1, "rtol": 0}]:
        _same(clnet.isclose(clnet.tensor(x), clnet.tensor(y), **kw),
              torch.isclose(torch.tensor(x), torch.tensor(y), **kw))
    bx, by = np.array([True, False]), np.array([True, True])
    _same(clnet.isclose(clnet.tensor(bx), clnet.tensor(by)),
          torch.isclose(torch.tensor(bx), torch.tensor(by)))
    assert clnet.allclose(clnet.zeros(0), clnet.zeros(0)) is True


@pytest.mark.parametrize("layout", LAYOUTS)
def test_isclose_noncontiguous(rng, layout):
    a = random_array(rng, (5, 4))
    b = a + random_array(rng, (5, 4), low=-1e-5, high=1e-5)
    ca, ta = _pair(a, layout)
    _same(clnet.isclose(ca, clnet.tensor(b)), torch.isclose(ta, torch.from_numpy(b)))


def test_isclose_errors():
    with pytest.raises(TypeError, match="same dtype"):
        clnet.isclose(clnet.tensor([1, 2]), clnet.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="non-negative"):
        clnet.isclose(clnet.ones(2), clnet.ones(2), rtol=-1)
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.isclose(clnet.ones(2), 1.0)
    with pytest.raises(ValueError):
        clnet.isclose(clnet.ones(2), clnet.ones(3))


def test_equal():
    a = clnet.tensor([1.0, 2.0])
    assert clnet.equal(a, clnet.tensor([1.0, 2.0])) is True
    assert a.equal(clnet.tensor([1.0, 2.5])) is False
    assert clnet.equal(a, clnet.tensor([[1.0, 2.0]])) is False       # no broadcasting
    assert clnet.equal(clnet.tensor([1, 2]), clnet.tensor([1.0, 2.0])) is True
    assert clnet.equal(clnet.tensor([NAN]), clnet.tensor([NAN])) is False
    assert clnet.equal(clnet.zeros(0, 3), clnet.zeros(0, 3)) is True
    assert clnet.equal(clnet.zeros(0, 3), clnet.zeros(3, 0)) is False


# ------------------------------------------------------------------ nansum / nanmean
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nansum_nanmean_dims(rng, layout):
    a = random_array(rng, (4, 5, 3))
    a[rng.random(a.shape) < 0.3] = NAN
    a[0, :, 0] = NAN                                          # an all-NaN line
    c, t = _pair(a, layout)
    for dim in [None, 0, -1, 1, (0, 2), (-1, -3)]:
        for keepdim in [False, True]:
            kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
            _same(clnet.nansum(c, **kw), torch.nansum(t, **kw))
            _same(c.nanmean(**kw), t.nanmean(**kw))
    _same(clnet.nansum(c, 1, dtype=clnet.float64), torch.nansum(t, 1, dtype=torch.float64))
    _same(clnet.nanmean(c, dtype=clnet.float64), torch.nanmean(t, dtype=torch.float64))


def test_nansum_nanmean_edges():
    for a in [np.zeros((0,), np.float32), np.zeros((2, 0), np.float32),
              np.array([NAN, NAN], np.float32), np.array(3.0, np.float32), np.array([INF, NAN])]:
        c, t = _pair(a)
        _same(clnet.nansum(c), torch.nansum(t))
        _same(clnet.nanmean(c), torch.nanmean(t))
        if a.ndim:
            _same(clnet.nanmean(c, -1, keepdim=True), torch.nanmean(t, -1, keepdim=True))
    for a in [np.array([1, 2, 3], np.int32), np.array([True, True, False])]:
        c, t = _pair(a)
        _same(clnet.nansum(c), torch.nansum(t))
        _same(c.nansum(0, keepdim=True), t.nansum(0, keepdim=True))
    with pytest.raises(TypeError, match="floating point"):
        clnet.nanmean(clnet.tensor([1, 2]))


def test_nansum_nanmean_grad(rng):
    a = random_array(rng, (3, 4))
    a[0, 1] = a[2, 3] = NAN
    _grads(lambda x: clnet.nansum(x, 1), lambda x: torch.nansum(x, 1), [a], rng)
    _grads(lambda x: x.nanmean(0, keepdim=True), lambda x: x.nanmean(0, keepdim=True), [a], rng)
    _grads(lambda x: clnet.nanmean(x), lambda x: torch.nanmean(x), [a], rng, ["transpose"])


# ------------------------------------------------------------------ median / nanmedian
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("fn", ["median", "nanmedian"])
def test_median_dims_distinct(rng, layout, fn):
    a = rng.permutation(4 * 6 * 5).reshape(4, 6, 5).astype(np.float32)   # distinct: indices unique
    c, t = _pair(a, layout)
    for dim in range(-3, 3):
        for keepdim in [False, True]:
            rc, rt = getattr(clnet, fn)(c, dim, keepdim), getattr(torch, fn)(t, dim, keepdim)
            _vals_idx(rc, rt)
            assert type(rc).__name__ == fn and rc.values is rc[0] and rc.indices is rc[1]
    _same(getattr(c, fn)(), getattr(t, fn)())


def test_median_nan_ties_ints_edges():
    a = np.array([[1.0, NAN, 0.0, NAN], [2.0, 2.0, 1.0, 5.0], [NAN, NAN, NAN, NAN],
                  [INF, -INF, 3.0, 3.0]], np.float32)
    c, t = _pair(a)
    for fn in ["median", "nanmedian"]:
        rc, rt = getattr(clnet, fn)(c, 1), getattr(torch, fn)(t, 1)
        assert_close(rc.values, rt.values)
        # NaN rows: the first NaN (median) / all-NaN -> 0 (nanmedian); tied rows: any index of
        # an element equal to the median (PyTorch's CPU choice there is unspecified)
        got = a[np.arange(4), rc.indices.numpy()]
        np.testing.assert_array_equal(got, rt.values.numpy())
        assert rc.indices.numpy()[0] == rt.indices.numpy()[0]
        _same(getattr(clnet, fn)(c), getattr(torch, fn)(t))
        _same(getattr(clnet, fn)(c[1:2]), getattr(torch, fn)(t[1:2]))
    i = np.array([[5, 1, 4], [2, 2, 9]], np.int64)
    ci, ti = _pair(i)
    _vals_idx(clnet.median(ci, -1, keepdim=True), torch.median(ti, -1, keepdim=True))
    _same(clnet.median(ci), torch.median(ti))
    _same(clnet.median(clnet.tensor(i.astype(np.int32))), torch.median(torch.tensor(i).int()))
    s = clnet.tensor(5.0)
    _vals_idx(clnet.median(s, 0), torch.median(torch.tensor(5.0), 0))
    _vals_idx(clnet.median(s, -1, True), torch.median(torch.tensor(5.0), -1, True))
    _same(clnet.median(clnet.zeros(0)), torch.median(torch.zeros(0)))
    _vals_idx(clnet.median(clnet.zeros(0, 3), 1), torch.median(torch.zeros(0, 3), 1))
    with pytest.raises(IndexError, match="non-zero size"):
        clnet.median(clnet.zeros(2, 0), 1)
    with pytest.raises(RuntimeError):
        clnet.median(clnet.zeros(0), 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        clnet.median(clnet.zeros(2, 3), 2)
    with pytest.raises(TypeError):
        clnet.median(clnet.ones(3), keepdim=True)


def test_median_grads(rng):
    a = rng.permutation(20).reshape(4, 5).astype(np.float32)
    _grads(lambda x: clnet.median(x, 1).values, lambda x: torch.median(x, 1).values, [a], rng)
    _grads(lambda x: x.nanmedian(0, True)[0], lambda x: x.nanmedian(0, True)[0], [a], rng,
           ["transpose"])
    # median() over everything spreads the gradient evenly over the tied elements
    tied = np.array([[3.0, 1.0, 2.0], [2.0, 5.0, 2.0]], np.float32)
    _grads(lambda x: clnet.median(x), lambda x: torch.median(x), [tied], rng)
    nan = np.array([1.0, NAN, 2.0, NAN], np.float32)
    _grads(lambda x: clnet.nanmedian(x), lambda x: torch.nanmedian(x), [nan], rng)
    _grads(lambda x: clnet.median(x), lambda x: torch.median(x), [nan], rng)


# ------------------------------------------------------------------ aminmax
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dt", [np.float32, np.int32, np.int64, np.bool_])
def test_aminmax(rng, layout, dt):
    a = random_array(rng, (3, 5, 4), dt)
    c, t = _pair(a, layout)
    for kw in [{}, {"keepdim": True}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"dim": 1}]:
        rc, rt = clnet.aminmax(c, **kw), torch.aminmax(t, **kw)
        assert_close(rc.min, rt.min)
        assert_close(rc.max, rt.max)
        rc = c.aminmax(**kw)
        assert_close(rc[0], rt[0])


def test_aminmax_edges_and_grad(rng):
    a = np.array([[1.0, NAN, 2.0], [4.0, 4.0, -INF]], np.float32)
    c, t = _pair(a)
    for kw in [{}, {"dim": 1}]:
        rc, rt = clnet.aminmax(c, **kw), torch.aminmax(t, **kw)
        assert_close(rc.min, rt.min)
        assert_close(rc.max, rt.max)
    s = clnet.aminmax(clnet.tensor(2.0), dim=0)
    assert s.min.shape == () and s.max.item() == 2.0
    rc = clnet.aminmax(clnet.zeros(0, 3), dim=1)
    assert rc.min.shape == (0,)
    with pytest.raises(RuntimeError, match="empty"):
        clnet.aminmax(clnet.zeros(0))
    with pytest.raises(RuntimeError, match="empty"):
        clnet.aminmax(clnet.zeros(3, 0), dim=1)
    g = random_array(rng, (4, 6))

    def both(m):
        return lambda x: m.aminmax(x, dim=1).min * 2 + m.aminmax(x, dim=1).max
    _grads(both(clnet), both(torch), [g], rng)


# ------------------------------------------------------------------ cummax / cummin
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_cummax_cummin_every_dim(rng, layout, dt):
    a = random_array(rng, (5, 7, 6), dt, low=-2, high=2)   # small range: many ties
    if dt is np.float32:
        a = np.round(a)
    c, t = _pair(a, layout)
    for dim in range(-3, 3):
        _vals_idx(clnet.cummax(c, dim), torch.cummax(t, dim))
        _vals_idx(c.cummin(dim), t.cummin(dim))
        assert type(clnet.cummin(c, dim)).__name__ == "cummin"


@pytest.mark.parametrize("n", [0, 1, 2, 3, 31, 64, 65, 300])
def test_cummax_cummin_lengths_nan_inf(rng, n):
    a = np.round(random_array(rng, (2, n), low=-3, high=3))
    if n > 2:
        a[0, n // 3] = NAN
        a[1, n // 2] = INF
        a[1, n - 1] = NAN
        a[0, n - 1] = -INF
    c, t = _pair(a)
    _vals_idx(clnet.cummax(c, 1), torch.cummax(t, 1))
    _vals_idx(clnet.cummin(c, -1), torch.cummin(t, -1))
    _vals_idx(clnet.cummax(c, 0), torch.cummax(t, 0))


def test_cummax_scalar_and_grad(rng):
    _vals_idx(clnet.cummax(clnet.tensor(2.0), 0), torch.cummax(torch.tensor(2.0), 0))
    _vals_idx(clnet.cummin(clnet.tensor(2.0), -1), torch.cummin(torch.tensor(2.0), -1))
    with pytest.raises(IndexError):
        clnet.cummax(clnet.ones(2, 3), 2)
    a = np.round(random_array(rng, (4, 9), low=-2, high=2))
    _grads(lambda x: clnet.cummax(x, 1).values, lambda x: torch.cummax(x, 1).values, [a], rng)
    _grads(lambda x: x.cummin(0)[0], lambda x: x.cummin(0)[0], [a], rng, ["step"])


# ------------------------------------------------------------------ diff
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dt", [np.float32, np.int64, np.bool_])
def test_diff(rng, layout, dt):
    a = random_array(rng, (4, 6), dt)
    c, t = _pair(a, layout)
    for n in [0, 1, 2, 5, 7]:
        for dim in [-1, 0, 1, -2]:
            _same(clnet.diff(c, n, dim), torch.diff(t, n, dim))
            _same(c.diff(n=n, dim=dim), t.diff(n=n, dim=dim))
    p, ap = _pair(random_array(rng, (4, 2), dt))
    q, aq = _pair(random_array(rng, (1, 6), dt))
    _same(clnet.diff(c, 2, 1, prepend=p), torch.diff(t, 2, 1, prepend=ap))
    _same(clnet.diff(c, 1, 0, append=q), torch.diff(t, 1, 0, append=aq))
    _same(clnet.diff(c, 1, 1, prepend=p, append=p), torch.diff(t, 1, 1, prepend=ap, append=ap))


def test_diff_edges_errors_grad(rng):
    c, t = _pair(np.array([1, 2, 4], np.int64))
    f, tf = _pair(np.array([0.5], np.float32))
    _same(clnet.diff(c, prepend=f), torch.diff(t, prepend=tf))               # promotes
    _same(clnet.diff(clnet.zeros(0)), torch.diff(torch.zeros(0)))
    _same(clnet.diff(clnet.ones(1)), torch.diff(torch.ones(1)))
    with pytest.raises(ValueError, match="one-dimensional"):
        clnet.diff(clnet.tensor(1.0))
    with pytest.raises(ValueError, match="non-negative"):
        clnet.diff(c, n=-1)
    with pytest.raises(ValueError, match="same number of dimensions"):
        clnet.diff(c, prepend=clnet.tensor(0))
    with pytest.raises(ValueError, match="except along dim"):
        clnet.diff(clnet.ones(1, 3), prepend=clnet.ones(2, 1))
    a = random_array(rng, (3, 7))
    _grads(lambda x: clnet.diff(x, 2), lambda x: torch.diff(x, 2), [a], rng, ["transpose"])
    p = random_array(rng, (3, 2))
    _grads(lambda x, y: clnet.diff(x, 1, -1, prepend=y), lambda x, y: torch.diff(x, 1, -1, y),
           [a, p], rng)


# ------------------------------------------------------------------ bincount
def test_bincount(rng):
    x = rng.integers(0, 9, size=50).astype(np.int64)
    c, t = _pair(x)
    _same(clnet.bincount(c), torch.bincount(t))
    _same(c.bincount(minlength=20), t.bincount(minlength=20))
    _same(clnet.bincount(c, minlength=3), torch.bincount(t, minlength=3))
    for wdt in [np.float32, np.float64, np.int64]:
        w = random_array(rng, (50,), wdt)
        _same(clnet.bincount(c, clnet.tensor(w)), torch.bincount(t, torch.from_numpy(w)))
    _same(clnet.bincount(clnet.tensor(x.astype(np.int32))),
          torch.bincount(torch.from_numpy(x.astype(np.int32))))
    big = np.array([0, 3, 1, 2, 3, 2, 0, 4, 6, 8, 10], np.int64)
    cs, ts = _pair(big, "step")
    _same(clnet.bincount(cs, minlength=2), torch.bincount(ts, minlength=2))
    _same(clnet.bincount(clnet.zeros(0, dtype=clnet.int64)),
          torch.bincount(torch.zeros(0, dtype=torch.int64)))
    _same(clnet.bincount(clnet.zeros(0, dtype=clnet.int64), minlength=3),
          torch.bincount(torch.zeros(0, dtype=torch.int64), minlength=3))


def test_bincount_errors():
    with pytest.raises(ValueError, match="non-negative"):
        clnet.bincount(clnet.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match="1-d"):
        clnet.bincount(clnet.tensor([[0, 1]]))
    with pytest.raises(TypeError):
        clnet.bincount(clnet.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="minlength"):
        clnet.bincount(clnet.tensor([0, 1]), minlength=-1)
    with pytest.raises(ValueError, match="same length"):
        clnet.bincount(clnet.tensor([0, 1]), clnet.tensor([1.0]))


# ------------------------------------------------------------------ searchsorted / bucketize
@pytest.mark.parametrize("n", [0, 1, 2, 5, 8, 33])
def test_searchsorted_1d(rng, n):
    seq = np.sort(np.round(random_array(rng, (n,), low=-4, high=4)))      # with repeats
    vals = np.round(random_array(rng, (3, 7), low=-5, high=5) * 2) / 2
    vals[0, 0], vals[1, 1], vals[2, 2] = NAN, INF, -INF
    (cs, ts), (cv, tv) = _pair(seq), _pair(vals, "transpose")
    for kw in [{}, {"right": True}, {"side": "right"}, {"side": "left"}, {"out_int32": True}]:
        _same(clnet.searchsorted(cs, cv, **kw), torch.searchsorted(ts, tv, **kw))
        _same(clnet.bucketize(cv, cs, right=kw.get("right", False)),
              torch.bucketize(tv, ts, right=kw.get("right", False)))
    for v in [0.5, 2, -10.0]:
        _same(clnet.searchsorted(cs, v), torch.searchsorted(ts, v))
        _same(clnet.bucketize(v, cs, right=True), torch.bucketize(v, ts, right=True))
    _same(clnet.searchsorted(cs, clnet.zeros(0)), torch.searchsorted(ts, torch.zeros(0)))


def test_searchsorted_nd_sorter_nan(rng):
    seq = np.sort(random_array(rng, (2, 3, 9)), axis=-1)
    vals = random_array(rng, (2, 3, 4))
    (cs, ts), (cv, tv) = _pair(seq, "step"), _pair(vals)
    for right in [False, True]:
        _same(clnet.searchsorted(cs, cv, right=right), torch.searchsorted(ts, tv, right=right))
    raw = random_array(rng, (2, 3, 9))
    order = np.argsort(raw, axis=-1, kind="stable").astype(np.int64)
    (cr, tr), (co, to) = _pair(raw), _pair(order)
    _same(clnet.searchsorted(cr, cv, sorter=co), torch.searchsorted(tr, tv, sorter=to))
    s = np.array([1.0, 3.0, NAN], np.float32)
    v = np.array([NAN, 2.0, 4.0, 3.0], np.float32)
    for right in [False, True]:
        _same(clnet.searchsorted(clnet.tensor(s), clnet.tensor(v), right=right),
              torch.searchsorted(torch.tensor(s), torch.tensor(v), right=right))
    si, vi = np.array([1, 3, 5, 7], np.int64), np.array([3.0, 4.5], np.float32)
    _same(clnet.searchsorted(clnet.tensor(si), clnet.tensor(vi)),
          torch.searchsorted(torch.tensor(si), torch.tensor(vi)))


def test_searchsorted_errors():
    s = clnet.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="opposites"):
        clnet.searchsorted(s, s, right=True, side="left")
    with pytest.raises(ValueError, match="first N-1 dimensions"):
        clnet.searchsorted(clnet.ones(2, 3), clnet.ones(3, 1))
    with pytest.raises(ValueError, match="scalar"):
        clnet.searchsorted(clnet.ones(2, 3), 1.0)
    with pytest.raises(ValueError, match="1 dimension"):
        clnet.bucketize(s, clnet.ones(1, 2))
    with pytest.raises(ValueError, match="side"):
        clnet.searchsorted(s, s, side="middle")


# ------------------------------------------------------------------ take
@pytest.mark.parametrize("layout", LAYOUTS)
def test_take(rng, layout):
    a = random_array(rng, (4, 5))
    idx = rng.integers(-20, 20, size=(3, 2)).astype(np.int64)
    (c, t), (ci, ti) = _pair(a, layout), _pair(idx)
    _same(clnet.take(c, ci), torch.take(t, ti))
    _same(c.take(clnet.tensor(7)), t.take(torch.tensor(7)))
    _same(clnet.take(c, clnet.zeros(0, dtype=clnet.int64)), torch.take(t, torch.zeros(0).long()))
    ai = random_array(rng, (20,), np.int32)
    _same(clnet.take(clnet.tensor(ai), ci), torch.take(torch.from_numpy(ai), ti))
    with pytest.raises(TypeError, match="long tensor"):
        clnet.take(c, clnet.tensor([1], dtype=clnet.int32))
    _grads(lambda x: clnet.take(x, clnet.tensor(idx)), lambda x: torch.take(x, torch.tensor(idx)),
           [a], rng, [layout])


# ------------------------------------------------------------------ pointwise
def test_logaddexp_values_edges_dtypes():
    a = np.array([0.0, 1.0, -100.0, 100.0, INF, -INF, INF, NAN, 30.0], np.float32)
    b = np.array([0.0, 2.0, -100.0, -100.0, INF, -INF, -INF, 1.0, 30.0], np.float32)
    (ca, ta), (cb, tb) = _pair(a), _pair(b)
    _same(clnet.logaddexp(ca, cb), torch.logaddexp(ta, tb))
    _same(ca.logaddexp2(cb), ta.logaddexp2(tb))
    d = np.array([1.5, -2.0], np.float64)
    _same(clnet.logaddexp(ca[:2], clnet.tensor(d)), torch.logaddexp(ta[:2], torch.tensor(d)))
    i = np.array([1, 2], np.int64)
    _same(clnet.logaddexp(ca[:2], clnet.tensor(i)), torch.logaddexp(ta[:2], torch.tensor(i)))
    with pytest.raises(TypeError, match="integer"):
        clnet.logaddexp(clnet.tensor(i), clnet.tensor(i))
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.logaddexp(ca, 1.0)


@pytest.mark.parametrize("fn", ["logaddexp", "logaddexp2"])
def test_logaddexp_broadcast_grad(rng, fn):
    a, b = random_array(rng, (3, 1, 4)), random_array(rng, (5, 4))
    b[0, :2] = a[0, 0, :2]                                # ties: gradient splits evenly
    _grads(getattr(clnet, fn), getattr(torch, fn), [a, b], rng, ["step", "transpose"])


def test_xlogy():
    x = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 1.0, -1.0, 3.0], np.float32)
    y = np.array([0.0, INF, NAN, -1.0, 0.0, 3.0, NAN, 2.0, INF], np.float32)
    (cx, tx), (cy, ty) = _pair(x), _pair(y)
    _same(clnet.xlogy(cx, cy), torch.xlogy(tx, ty))
    _same(cx.xlogy(cy), tx.xlogy(ty))
    _same(clnet.xlogy(2, cy), torch.xlogy(2, ty))
    _same(clnet.xlogy(cx, 3), torch.xlogy(tx, 3))
    _same(clnet.xlogy(cx, 0.0), torch.xlogy(tx, 0.0))
    i = np.array([0, 1, 2], np.int64)
    _same(clnet.xlogy(clnet.tensor(i), clnet.tensor(i)), torch.xlogy(torch.tensor(i),
                                                                      torch.tensor(i)))
    d = np.array([[1.0], [0.5]], np.float64)
    _same(clnet.xlogy(cx, clnet.tensor(d)), torch.xlogy(tx, torch.tensor(d)))


def test_xlogy_grad(rng):
    x = np.array([[0.0, 0.0, 1.5, 2.0], [0.0, 1.0, 0.5, -2.0]], np.float32)
    y = np.array([[2.0, 0.0, 3.0, 0.5], [-1.0, 0.7, 4.0, 1.5]], np.float32)
    _grads(clnet.xlogy, torch.xlogy, [x, y], rng)
    _grads(clnet.xlogy, torch.xlogy, [x, y[:1]], rng, ["transpose", None])
    _grads(lambda a: clnet.xlogy(a, 2.5), lambda a: torch.xlogy(a, 2.5), [x], rng)


def test_sinc_logit_deg_rad(rng):
    a = np.array([0.0, 0.5, -1.0, 1.0, 2.25, -0.3, INF, NAN, 1e-6], np.float32)
    c, t = _pair(a)
    _same(clnet.sinc(c), torch.sinc(t))
    _same(clnet.deg2rad(c), torch.deg2rad(t))
    _same(c.rad2deg(), t.rad2deg())
    p = np.array([0.0, 1.0, 0.5, 0.25, 0.999, 1e-3, -0.5, 1.5, NAN], np.float32)
    cp, tp = _pair(p)
    for eps in [None, 1e-3, 0.2, -1.0]:
        _same(clnet.logit(cp, eps), torch.logit(tp, eps))
        _same(cp.logit(eps=eps), tp.logit(eps=eps))
    for m in ["sinc", "deg2rad", "rad2deg", "logit"]:
        for arr in [np.array([0, 1, 2], np.int64), np.array([True, False])]:
            _same(getattr(clnet, m)(clnet.tensor(arr)), getattr(torch, m)(torch.tensor(arr)))
        _same(getattr(clnet, m)(clnet.zeros(0, 2)), getattr(torch, m)(torch.zeros(0, 2)))
    d = random_array(rng, (3, 4), np.float64)
    _same(clnet.sinc(clnet.tensor(d)), torch.sinc(torch.from_numpy(d)))


def test_sinc_logit_deg_rad_grads(rng):
    a = random_array(rng, (3, 5), low=-2.5, high=2.5)
    a[0, 0] = 0.0
    _grads(clnet.sinc, torch.sinc, [a], rng, ["transpose"])
    _grads(clnet.deg2rad, torch.deg2rad, [a], rng)
    _grads(clnet.rad2deg, torch.rad2deg, [a], rng, ["step"])
    p = random_array(rng, (4, 5), low=0.05, high=0.95)
    _grads(clnet.logit, torch.logit, [p], rng)
    for eps in [0.1, 0.2]:
        _grads(lambda x: clnet.logit(x, eps), lambda x: torch.logit(x, eps), [p], rng)
    q = np.array([0.0, 1.0, -0.5, 1.5, 0.5], np.float32)
    _grads(clnet.logit, torch.logit, [q], rng)
    _grads(lambda x: clnet.logit(x, 0.1), lambda x: torch.logit(x, 0.1), [q], rng)


def test_heaviside():
    x = np.array([[0.0, 1.0, -1.0, NAN, -0.0, INF]], np.float32)
    v = np.array([[0.5], [7.0]], np.float32)
    (cx, tx), (cv, tv) = _pair(x), _pair(v)
    _same(clnet.heaviside(cx, cv), torch.heaviside(tx, tv))
    _same(cx.heaviside(cv[0]), tx.heaviside(tv[0]))
    i, vi = np.array([0, 3, -2], np.int64), np.array([7], np.int64)
    _same(clnet.heaviside(clnet.tensor(i), clnet.tensor(vi)),
          torch.heaviside(torch.tensor(i), torch.tensor(vi)))
    b = np.array([True, False])
    for bv in [np.array([True]), np.array([False])]:
        _same(clnet.heaviside(clnet.tensor(b), clnet.tensor(bv)),
              torch.heaviside(torch.tensor(b), torch.tensor(bv)))
    with pytest.raises(TypeError, match="different dtypes"):
        clnet.heaviside(clnet.tensor(i), cv)
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.heaviside(cx, 0.5)


def test_addcmul_addcdiv_values(rng):
    a, b, c = random_array(rng, (3, 1)), random_array(rng, (1, 4)), random_array(rng, (3, 4))
    (ca, ta), (cb, tb), (cc, tc) = _pair(a), _pair(b, "step"), _pair(c, "transpose")
    for value in [1, 0.5, -2]:
        _same(clnet.addcmul(ca, cb, cc, value=value), torch.addcmul(ta, tb, tc, value=value))
        _same(ca.addcdiv(cb, cc, value=value), ta.addcdiv(tb, tc, value=value))
    i = np.array([1, 2], np.int64)
    ci, ti = _pair(i)
    _same(clnet.addcmul(ci, ci, ci, value=3), torch.addcmul(ti, ti, ti, value=3))
    _same(clnet.addcmul(ci, ci, ci, value=0.5), torch.addcmul(ti, ti, ti, value=0.5))
    f = np.array([1.0, 2.0], np.float32)
    _same(clnet.addcmul(ci, ci, clnet.tensor(f), value=2),
          torch.addcmul(ti, ti, torch.tensor(f), value=2))
    _same(clnet.addcdiv(ci, ci, clnet.tensor(f)), torch.addcdiv(ti, ti, torch.tensor(f)))
    with pytest.raises(TypeError, match="integer division"):
        clnet.addcdiv(clnet.tensor(f), ci, ci)
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.addcmul(clnet.tensor(f), 2, clnet.tensor(f))
    with pytest.raises(ValueError):
        clnet.addcmul(clnet.ones(2), clnet.ones(3), clnet.ones(2))


def test_addcmul_addcdiv_grads(rng):
    a, b, c = random_array(rng, (3, 1)), random_array(rng, (1, 4)), random_array(rng, (3, 4))
    c[np.abs(c) < 0.3] = 1.0
    _grads(lambda x, y, z: clnet.addcmul(x, y, z, value=0.7),
           lambda x, y, z: torch.addcmul(x, y, z, value=0.7), [a, b, c], rng)
    _grads(lambda x, y, z: clnet.addcdiv(x, y, z, value=-1.5),
           lambda x, y, z: torch.addcdiv(x, y, z, value=-1.5), [a, b, c], rng,
           [None, "step", "transpose"])


def test_inplace_methods(rng):
    a, b = random_array(rng, (3, 4)), random_array(rng, (3, 4))
    p = random_array(rng, (3, 4), low=0.1, high=0.9)
    cases = [("addcmul_", a, (b, b), {"value": 0.5}), ("addcdiv_", a, (b, a + 10), {}),
             ("logit_", p, (), {"eps": 0.2}), ("sinc_", a, (), {}), ("deg2rad_", a, (), {}),
             ("rad2deg_", a, (), {}), ("xlogy_", a, (np.abs(b),), {}),
             ("heaviside_", a, (b,), {})]
    for name, x, args, kw in cases:
        cx, tx = _pair(x)
        rc = getattr(cx, name)(*[clnet.tensor(v) for v in args], **kw)
        rt = getattr(tx, name)(*[torch.from_numpy(v) for v in args], **kw)
        assert rc is cx
        _same(cx, rt)
    # autograd through an in-place op on a non-leaf
    for name, args, kw in [("addcmul_", (b, p), {"value": 2.0}), ("logit_", (), {}),
                           ("xlogy_", (p,), {})]:
        def f(m):
            return lambda x, *rest: getattr(x * 1.0, name)(*rest, **kw)
        _grads(f(clnet), f(torch), [p if name == "logit_" else a, *args], rng)
    with pytest.raises(TypeError):
        clnet.tensor([1, 2]).sinc_()
    with pytest.raises(RuntimeError, match="derivative"):
        (clnet.ones(2, requires_grad=True) * 1.0).heaviside_(clnet.ones(2))


def test_exported_names():
    for name in ["isclose", "allclose", "equal", "nansum", "nanmean", "median", "nanmedian",
                 "aminmax", "cummax", "cummin", "diff", "bincount", "searchsorted", "bucketize",
                 "take", "logaddexp", "logaddexp2", "xlogy", "sinc", "logit", "deg2rad",
                 "rad2deg", "heaviside", "addcmul", "addcdiv"]:
        assert callable(getattr(clnet, name)), name
        assert hasattr(clnet.Tensor, name) == hasattr(torch.Tensor, name), name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erfinv_matches_torch_in_values_and_gradients(dtype):
    x = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [-1.0, 1.0, 1.5, -2.0, 0.0]])
    x = x.astype(dtype)
    c = clnet.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    yc, yt = clnet.erfinv(c), torch.erfinv(t)
    tol = dict(rtol=5e-7, atol=1e-7) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), equal_nan=True, **tol)
    inner = np.abs(x) < 1
    g = np.where(inner, 1.0, 0.0).astype(dtype)
    yc.backward(clnet.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(c.grad.numpy()[inner], t.grad.numpy()[inner],
                               rtol=20 * tol["rtol"], atol=tol["atol"])
    assert c.erfinv().shape == c.shape
