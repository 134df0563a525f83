"""Convolutions (clnet/ops/conv.py) against torch.nn.functional.

float32 tolerance for outputs: rtol 1e-4 / atol 1e-4 (each output sums C*kH*kW products in a
different order than torch); float64: rtol 1e-10 / atol 1e-10.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

import clnet
from clnet.ops import conv as C
from helpers import as_noncontiguous, assert_close

TOL = dict(rtol=1e-4, atol=1e-4)
TOL64 = dict(rtol=1e-10, atol=1e-10)


def _arr(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _run(fn_name, x, w, b, tol=TOL, layout=None, **kw):
    cx = as_noncontiguous(x, layout) if layout else clnet.tensor(x)
    got = getattr(C, fn_name)(cx, clnet.tensor(w), None if b is None else clnet.tensor(b), **kw)
    want = getattr(F, fn_name)(torch.tensor(x), torch.tensor(w),
                               None if b is None else torch.tensor(b), **kw)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want.numpy(), **tol)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 5))       # stride > kernel too
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 5)), draw(st.integers(0, 2))        # padding > kernel too
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 11))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 11))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return dict(n=n, cin=cin, cout=cout, h=h, w=w, k=(kh, kw), stride=(sh, sw),
                padding=(ph, pw), dilation=(dh, dw), groups=groups, bias=bias)


@given(conv_cases())
def test_conv2d_matches_torch(case):
    rng = np.random.default_rng(0)
    x = _arr(rng, (case["n"], case["cin"], case["h"], case["w"]))
    w = _arr(rng, (case["cout"], case["cin"] // case["groups"]) + case["k"])
    b = _arr(rng, (case["cout"],)) if case["bias"] else None
    _run("conv2d", x, w, b, stride=case["stride"], padding=case["padding"],
         dilation=case["dilation"], groups=case["groups"])


@given(conv_cases(), st.integers(0, 2))
def test_conv_transpose2d_matches_torch(case, extra):
    rng = np.random.default_rng(1)
    g = case["groups"]
    sh, sw = case["stride"]
    dh, dw = case["dilation"]
    # output_padding must be below stride or dilation
    op = (min(extra, max(sh, dh) - 1), min(extra, max(sw, dw) - 1))
    x = _arr(rng, (case["n"], case["cin"], case["h"], case["w"]))
    w = _arr(rng, (case["cin"], case["cout"] // g) + case["k"])
    b = _arr(rng, (case["cout"],)) if case["bias"] else None
    hout = (case["h"] - 1) * sh - 2 * case["padding"][0] + dh * (case["k"][0] - 1) + op[0] + 1
    wout = (case["w"] - 1) * sw - 2 * case["padding"][1] + dw * (case["k"][1] - 1) + op[1] + 1
    if hout <= 0 or wout <= 0:
        with pytest.raises(ValueError, match="empty output"):
            C.conv_transpose2d(clnet.tensor(x), clnet.tensor(w), stride=case["stride"],
                               padding=case["padding"], output_padding=op, groups=g,
                               dilation=case["dilation"])
        return
    _run("conv_transpose2d", x, w, b, stride=case["stride"], padding=case["padding"],
         output_padding=op, groups=g, dilation=case["dilation"])


@pytest.mark.parametrize("shape,k", [((64, 1, 28, 28), 5), ((64, 10, 12, 12), 5),
                                     ((3, 7, 13, 17), 1), ((2, 5, 31, 29), 3)])
def test_conv2d_larger_shapes(shape, k):
    rng = np.random.default_rng(2)
    x, w, b = _arr(rng, shape), _arr(rng, (11, shape[1], k, k)), _arr(rng, (11,))
    _run("conv2d", x, w, b)
    _run("conv2d", x, w, None, padding="same")


# Gradients through every conv.cl kernel and each of its branches: im2col's plain-copy rows
# (stride 1, contiguous rows) and strided ones, with rows partly in the padding; col2im with
# stride 1 and stride > 1, dilation; to_cnhw and channel_sum on contiguous and strided upstream
# gradients, planes whose size is not a multiple of 4, and more than 64 images (channel_sum's
# work-items then sum several planes).
@pytest.mark.parametrize("shape,k,kw", [
    ((64, 1, 28, 28), 5, dict()),                                   # LeNet conv1
    ((64, 10, 12, 12), 5, dict()),                                  # LeNet conv2
    ((70, 3, 7, 5), 3, dict()),                                     # N > 64, 5 x 3 planes
    ((2, 3, 9, 11), 3, dict(padding=2)),                            # rows in the padding
    ((2, 3, 9, 11), (2, 3), dict(stride=(2, 3), padding=1)),        # strided
    ((2, 3, 9, 11), 3, dict(dilation=(2, 1), padding=(1, 2))),      # dilated
    ((2, 4, 8, 9), 3, dict(stride=(1, 2), groups=2)),               # groups
])
@pytest.mark.parametrize("layout", [None, "transpose"])
def test_conv2d_gradients(shape, k, kw, layout):
    rng = np.random.default_rng(7)
    kh, kwid = (k, k) if isinstance(k, int) else k
    x = _arr(rng, shape)
    w = _arr(rng, (6, shape[1] // kw.get("groups", 1), kh, kwid))
    b = _arr(rng, (6,))
    cx = as_noncontiguous(x, layout) if layout else clnet.tensor(x)
    cx.requires_grad = True
    cw, cb = clnet.tensor(w, requires_grad=True), clnet.tensor(b, requires_grad=True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out, want = C.conv2d(cx, cw, cb, **kw), F.conv2d(tx, tw, tb, **kw)
    assert_close(out.detach(), want.detach().numpy(), **TOL)
    up = _arr(rng, tuple(want.shape))
    cup = as_noncontiguous(up, layout) if layout else clnet.tensor(up)
    got = clnet.autograd.grad([out], [cx, cw, cb], [cup])
    ref = torch.autograd.grad([want], [tx, tw, tb], [torch.tensor(up)])
    for g, r in zip(got, ref):
        assert_close(g, r.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("layout", ["step", "transpose", "offset"])
@pytest.mark.parametrize("k", [1, 3])
def test_conv2d_noncontiguous_input(layout, k):
    rng = np.random.default_rng(3)
    x = _arr(rng, (2, 3, 6, 6))
    w, b = _arr(rng, (4, 3, k, k)), _arr(rng, (4,))
    _run("conv2d", x, w, b, layout=layout)
    _run("conv2d", x, w, b, layout=layout, stride=2, padding=1)


def test_conv2d_noncontiguous_weight_and_bias():
    rng = np.random.default_rng(4)
    x, w, b = _arr(rng, (2, 3, 7, 7)), _arr(rng, (3, 4, 3, 3)), _arr(rng, (8,))
    cw = clnet.tensor(w).permute(1, 0, 2, 3)        # (4, 3, 3, 3) non-contiguous
    cb = clnet.tensor(b)[::2]
    got = C.conv2d(clnet.tensor(x), cw, cb, padding=1)
    want = F.conv2d(torch.tensor(x), torch.tensor(w).permute(1, 0, 2, 3),
                    torch.tensor(b)[::2], padding=1)
    assert_close(got, want.numpy(), **TOL)


@pytest.mark.parametrize("padding", ["same", "valid", 0, (2, 1)])
def test_conv2d_unbatched_and_string_padding(padding):
    rng = np.random.default_rng(5)
    x, w, b = _arr(rng, (3, 8, 9)), _arr(rng, (5, 3, 4, 3)), _arr(rng, (5,))
    _run("conv2d", x, w, b, padding=padding, dilation=(1, 2) if padding == "same" else 1)


def test_conv2d_float64():
    rng = np.random.default_rng(6)
    if not clnet.default_device().has_fp64:
        pytest.skip("device has no fp64")
    x, w, b = (_arr(rng, s, np.float64) for s in ((2, 4, 9, 8), (6, 2, 3, 3), (6,)))
    _run("conv2d", x, w, b, tol=TOL64, stride=2, padding=1, groups=2)
    wt = _arr(rng, (4, 3, 3, 3), np.float64)
    _run("conv_transpose2d", x, wt, None, tol=TOL64, stride=2, output_padding=1)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same",
                                                                         dilation=2),
                                dict(groups=2, dilation=3)])
def test_conv1d(kw):
    rng = np.random.default_rng(7)
    x, w, b = _arr(rng, (3, 4, 17)), _arr(rng, (6, 4 // kw.get("groups", 1), 3)), _arr(rng, (6,))
    _run("conv1d", x, w, b, **kw)
    _run("conv1d", x[0], w, None, **kw)       # unbatched


def test_conv_transpose1d_and_unbatched_transpose():
    rng = np.random.default_rng(8)
    x, w, b = _arr(rng, (2, 4, 9)), _arr(rng, (4, 3, 3)), _arr(rng, (3,))
    _run("conv_transpose1d", x, w, b, stride=2, padding=1, output_padding=1)
    x2, w2 = _arr(rng, (4, 5, 6)), _arr(rng, (4, 2, 3, 2))
    _run("conv_transpose2d", x2, w2, None, stride=(2, 3))


def test_empty_batch_and_1x1_fast_path_values():
    rng = np.random.default_rng(9)
    w, b = _arr(rng, (3, 2, 1, 1)), _arr(rng, (3,))
    out = C.conv2d(clnet.zeros(0, 2, 5, 5), clnet.tensor(w), clnet.tensor(b))
    assert tuple(out.shape) == (0, 3, 5, 5)
    x = _arr(rng, (2, 2, 5, 5))
    # the 1x1 path multiplies the input in place: a plain per-pixel matrix product
    want = np.einsum("oc,nchw->nohw", w[:, :, 0, 0], x) + b[None, :, None, None]
    assert_close(C.conv2d(clnet.tensor(x), clnet.tensor(w), clnet.tensor(b)), want, **TOL)


def test_conv_functions_are_exported():
    for name in ("conv2d", "conv1d", "conv_transpose2d", "conv_transpose1d"):
        assert getattr(clnet, name) is getattr(C, name)


@pytest.mark.parametrize("call,msg", [
    (lambda: C.conv2d(clnet.zeros(1, 4, 5, 5), clnet.zeros(2, 3, 3, 3)),
     r"conv2d: expected weight of shape \[2, 4, 3, 3\].*got \[2, 3, 3, 3\]"),
    (lambda: C.conv2d(clnet.zeros(1, 3, 5, 5), clnet.zeros(2, 1, 3, 3), groups=2),
     r"in_channels \(3\).*not divisible by groups \(2\)"),
    (lambda: C.conv2d(clnet.zeros(1, 4, 5, 5), clnet.zeros(3, 2, 3, 3), groups=2),
     r"out_channels \(3\).*not divisible by groups \(2\)"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 2, 2), clnet.zeros(1, 1, 3, 3)),
     r"smaller than the \(dilated\) kernel \(3 x 3\)"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3), dilation=3),
     r"smaller than the \(dilated\) kernel \(7 x 7\)"),
    (lambda: C.conv2d(clnet.zeros(5, 5), clnet.zeros(1, 1, 3, 3)),
     r"conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \[5, 5\]"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3)),
     r"conv2d: expected a 4-D weight"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(2, 1, 3, 3), clnet.zeros(3)),
     r"expected bias of shape \[2\], got \[3\]"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3), stride=2,
                      padding="same"), r"padding='same' is not supported for strided"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3), padding="full"),
     r"padding must be 'valid', 'same'"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3), stride=0),
     r"stride must be positive"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3), padding=-1),
     r"negative padding"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5, dtype=clnet.int32),
                      clnet.zeros(1, 1, 3, 3, dtype=clnet.int32)), r"floating point input"),
    (lambda: C.conv2d(clnet.zeros(1, 1, 5, 5), clnet.zeros(1, 1, 3, 3, dtype=clnet.float64)),
     r"input type \(float32\) and weight type \(float64\) should be the same"),
    (lambda: C.conv_transpose2d(clnet.zeros(1, 4, 5, 5), clnet.zeros(3, 2, 3, 3)),
     r"conv_transpose2d: expected weight of shape \[4, out_channels/groups, 3, 3\]"),
    (lambda: C.conv_transpose2d(clnet.zeros(1, 4, 5, 5), clnet.zeros(4, 2, 3, 3), stride=2,
                                output_padding=2), r"output padding .* must be smaller"),
    (lambda: C.conv1d(clnet.zeros(1, 2, 5), clnet.zeros(1, 2, 3, 3)),
     r"conv1d: expected a 3-D weight"),
])
def test_errors(call, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        call()
