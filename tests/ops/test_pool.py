"""Pooling, nearest interpolate and constant pad (clnet/ops/pool.py) against torch.

Tolerances: max pools and nearest/pad are exact (they copy values); average pools float32
rtol 1e-5 / atol 1e-6 (a sum and a division, as in torch).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

import clnet
from clnet.ops import pool as P
from helpers import as_noncontiguous, assert_close

AVG_TOL = dict(rtol=1e-5, atol=1e-6)


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _both(name, x, tol=None, layout=None, torch_name=None, **kw):
    cx = as_noncontiguous(x, layout) if layout else clnet.tensor(x)
    got = getattr(P, name)(cx, **kw)
    want = getattr(F, torch_name or name)(torch.tensor(x), **kw)
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            assert tuple(g.shape) == tuple(w.shape)
            assert_close(g, w.numpy(), **(tol or dict(rtol=0, atol=0)))
    else:
        assert tuple(got.shape) == tuple(want.shape)
        assert_close(got, want.numpy(), **(tol or dict(rtol=0, atol=0)))


@st.composite
def window_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(kernel_size=(kh, kw),
                stride=(draw(st.integers(1, 5)), draw(st.integers(1, 3))),   # stride > kernel too
                padding=(draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))),
                ceil_mode=draw(st.booleans()),
                shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                       draw(st.integers(kh, 12)), draw(st.integers(kw, 12))))


@given(window_cases(), st.integers(1, 2), st.booleans())
def test_max_pool2d_matches_torch(case, dilation, noncontig):
    shape = case.pop("shape")
    k = case["kernel_size"]
    pads = tuple(min(p, (dilation * (kk - 1) + 1) // 2) for p, kk in zip(case["padding"], k))
    case["padding"] = pads
    if any(s < dilation * (kk - 1) + 1 - 2 * p for s, kk, p in zip(shape[2:], k, pads)):
        return   # the input is smaller than the dilated window (torch refuses too)
    _both("max_pool2d", _x(shape), layout="transpose" if noncontig else None,
          dilation=dilation, return_indices=True, **case)


@given(window_cases(), st.booleans(), st.sampled_from([None, 3]))
def test_avg_pool2d_matches_torch(case, count_include_pad, divisor):
    shape = case.pop("shape")
    _both("avg_pool2d", _x(shape), tol=AVG_TOL, count_include_pad=count_include_pad,
          divisor_override=divisor, **case)


def test_max_pool_ties_go_to_the_first_and_nan_propagates():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 5.0       # a tie in the first window
    x[0, 0, 3, 2] = np.nan
    _both("max_pool2d", x, kernel_size=2, return_indices=True)
    out, idx = P.max_pool2d(clnet.tensor(x), 2, return_indices=True)
    assert idx.dtype == clnet.int64
    assert idx.numpy()[0, 0, 0, 0] == 1 and np.isnan(out.numpy()[0, 0, 1, 1])


def _max_grads(x, layout=None, **kw):
    """max_pool2d values, indices, input gradient and the gradient's own gradient (the gather
    at the indices) against torch, exactly."""
    rng = np.random.default_rng(11)
    cx = as_noncontiguous(x, layout) if layout else clnet.tensor(x)
    cx.requires_grad = True
    tx = torch.tensor(x, requires_grad=True)
    out, idx = P.max_pool2d(cx, return_indices=True, **kw)
    tout, tidx = F.max_pool2d(tx, return_indices=True, **kw)
    assert tuple(out.shape) == tuple(tout.shape)
    assert_close(out.detach(), tout.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    up = rng.standard_normal(tuple(tout.shape)).astype(x.dtype)
    cu, tu = clnet.tensor(up, requires_grad=True), torch.tensor(up, requires_grad=True)
    (g,) = clnet.autograd.grad([out], [cx], [cu], create_graph=True)
    (tg,) = torch.autograd.grad([tout], [tx], [tu], create_graph=True)
    assert_close(g.detach(), tg.detach().numpy(), rtol=0, atol=0)
    v = rng.standard_normal(x.shape).astype(x.dtype)
    (gg,) = clnet.autograd.grad([g], [cu], [clnet.tensor(v)])
    (tgg,) = torch.autograd.grad([tg], [tu], [torch.tensor(v)])
    assert_close(gg, tgg.numpy(), rtol=0, atol=0)


# Windows that tile the image (stride == kernel, no padding, dilation 1) take the maxpool_tile_*
# kernels; the cases next to them just miss that path and take the general kernels.
@pytest.mark.parametrize("shape,kw", [
    ((3, 4, 24, 24), dict(kernel_size=2)),                          # tiled, exact
    ((2, 3, 9, 11), dict(kernel_size=2)),                           # tiled, uncovered row + col
    ((2, 3, 10, 9), dict(kernel_size=(3, 2))),                      # tiled, uneven kernel
    ((2, 3, 7, 8), dict(kernel_size=(1, 3))),                       # tiled, unit height
    ((1, 2, 8, 8), dict(kernel_size=2, ceil_mode=True)),            # tiled, ceil_mode no-op
    ((1, 2, 9, 9), dict(kernel_size=2, ceil_mode=True)),            # partial window: general
    ((2, 3, 9, 11), dict(kernel_size=2, stride=1)),                 # overlapping: general
    ((2, 3, 9, 11), dict(kernel_size=2, stride=3)),                 # gaps: general
    ((2, 3, 9, 11), dict(kernel_size=2, padding=1)),                # padding: general
    ((2, 3, 9, 11), dict(kernel_size=2, dilation=2)),               # dilation: general
])
@pytest.mark.parametrize("layout", [None, "offset", "transpose"])
def test_max_pool2d_tiled_and_general_gradients(shape, kw, layout):
    _max_grads(_x(shape, seed=9), layout, **kw)


def test_max_pool2d_tiled_ties_nan_and_infinities():
    x = np.zeros((2, 2, 6, 7), np.float32)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = 3.0                  # tie: the first in row order wins
    x[0, 0, 2, 2] = np.nan                               # NaN beats a larger value ...
    x[0, 0, 3, 3] = 9.0
    x[0, 1, 0, 0] = np.nan                               # ... and the last of two NaNs wins
    x[0, 1, 1, 1] = np.nan
    x[1, 0, :2, :2] = -np.inf                            # all -inf: the first tap
    x[1, 1, 2:4, 2:4] = [[-np.inf, np.inf], [np.inf, 1]]
    _max_grads(x, kernel_size=2)
    _max_grads(x, kernel_size=(2, 3))
    if clnet.default_device().has_fp64:
        _max_grads(x.astype(np.float64), kernel_size=2)


@pytest.mark.parametrize("layout", ["step", "transpose", "offset"])
def test_pools_read_noncontiguous_inputs(layout):
    x = _x((2, 3, 9, 8), seed=1)
    _both("max_pool2d", x, layout=layout, kernel_size=3, stride=2, padding=1)
    _both("avg_pool2d", x, tol=AVG_TOL, layout=layout, kernel_size=2)
    _both("adaptive_avg_pool2d", x, tol=AVG_TOL, layout=layout, output_size=(4, 3))
    _both("interpolate", x, layout=layout, scale_factor=2)


@pytest.mark.parametrize("out", [1, (3, 5), (7, 7), (9, 8), (13, 17), (None, 2)])
def test_adaptive_pools(out):
    x = _x((2, 3, 9, 8), seed=2)
    _both("adaptive_avg_pool2d", x, tol=AVG_TOL, output_size=out)
    _both("adaptive_max_pool2d", x, output_size=out, return_indices=True)


def test_unbatched_and_1d_pools():
    x = _x((3, 7, 10), seed=3)
    _both("max_pool2d", x, kernel_size=2, return_indices=True)
    _both("avg_pool2d", x, tol=AVG_TOL, kernel_size=3, stride=2, padding=1)
    _both("adaptive_avg_pool2d", x, tol=AVG_TOL, output_size=4)
    _both("max_pool1d", x, kernel_size=3, stride=2, padding=1, return_indices=True)
    _both("max_pool1d", x[0], kernel_size=2, dilation=2)
    _both("avg_pool1d", x, tol=AVG_TOL, kernel_size=4, stride=3, padding=2, ceil_mode=True,
          count_include_pad=False)
    _both("adaptive_avg_pool1d", x, tol=AVG_TOL, output_size=3)
    _both("adaptive_max_pool1d", x, output_size=3, return_indices=True)


def test_lenet_pool_and_float64():
    _both("max_pool2d", _x((64, 10, 24, 24), seed=4), kernel_size=2)
    if clnet.default_device().has_fp64:
        x = _x((2, 3, 9, 9), seed=5, dtype=np.float64)
        _both("avg_pool2d", x, tol=dict(rtol=1e-12, atol=1e-12), kernel_size=3, stride=2)
        _both("max_pool2d", x, kernel_size=3, stride=2, return_indices=True)
        _both("interpolate", x, size=(4, 13))


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(scale_factor=3), dict(size=(5, 4)),
                                dict(size=(19, 23)), dict(scale_factor=(1.5, 0.7)),
                                dict(scale_factor=2.2), dict(size=7),
                                dict(scale_factor=1.3, recompute_scale_factor=True)])
def test_interpolate_nearest(kw):
    _both("interpolate", _x((2, 3, 9, 10), seed=6), **kw)
    if not isinstance(kw.get("scale_factor"), tuple) and not isinstance(kw.get("size"), tuple):
        _both("interpolate", _x((2, 3, 11), seed=7), **kw)     # 3-D input


@pytest.mark.parametrize("pad,value", [((1, 2), 0), ((1, 2, 0, 3), 1.5), ((0, 0, 2, 1, 1, 1), 0),
                                        ((-1, 2, 1, -3), 2.5), ((-2, -2), 0)])
def test_constant_pad(pad, value):
    _both("pad", _x((2, 3, 5, 6), seed=8), pad=pad, value=value)
    _both("pad", _x((2, 3, 5, 6), seed=8), layout="transpose", pad=pad, value=value)


def test_pad_integer_tensors():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    got = P.pad(clnet.tensor(x), (1, 1), value=7)
    assert_close(got, F.pad(torch.tensor(x), (1, 1), value=7).numpy(), rtol=0, atol=0)


def test_pool_functions_are_exported():
    for name in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "max_pool1d", "avg_pool1d",
                 "adaptive_max_pool2d"):
        assert getattr(clnet, name) is getattr(P, name)


@pytest.mark.parametrize("call,msg", [
    (lambda: P.max_pool2d(clnet.zeros(1, 1, 5, 5), 3, padding=2),
     r"max_pool2d: pad should be at most half of effective kernel size"),
    (lambda: P.max_pool2d(clnet.zeros(1, 1, 2, 2), 3),
     r"max_pool2d: given input size \[1, 1, 2, 2\].*output size .* is too small"),
    (lambda: P.max_pool2d(clnet.zeros(5, 5), 2),
     r"max_pool2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \[5, 5\]"),
    (lambda: P.avg_pool2d(clnet.zeros(1, 1, 5, 5), 2, stride=0), r"stride must be greater"),
    (lambda: P.avg_pool2d(clnet.zeros(1, 1, 5, 5), 2, divisor_override=0),
     r"divisor_override must be non-zero"),
    (lambda: P.max_pool2d(clnet.zeros(1, 1, 5, 5, dtype=clnet.int64), 2),
     r"floating point input"),
    (lambda: P.adaptive_avg_pool2d(clnet.zeros(1, 1, 5, 5), (1, 2, 3)), r"output_size"),
    (lambda: P.interpolate(clnet.zeros(1, 1, 5, 5), size=3, scale_factor=2),
     r"only one of size or scale_factor"),
    (lambda: P.interpolate(clnet.zeros(1, 1, 5, 5), scale_factor=2, mode="bicubic"),
     r"mode='nearest' only"),
    (lambda: P.pad(clnet.zeros(2, 3), (1, 1, 1)), r"padding length must be even"),
    (lambda: P.pad(clnet.zeros(2, 3), (1, 1), mode="reflect"), r"mode='constant' only"),
    (lambda: P.pad(clnet.zeros(2, 3), (-2, -2)), r"negative size"),
])
def test_errors(call, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        call()
