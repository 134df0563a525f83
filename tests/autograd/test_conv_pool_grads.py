"""Backward and double backward of convolutions and pools against torch.

Tolerances (float32): conv outputs rtol 1e-4 / atol 1e-4 (sums over C*kH*kW products), conv
gradients rtol 1e-4 / atol 1e-4 (sums over N*OH*OW or Cout*kH*kW terms), second derivatives
rtol 1e-3 / atol 1e-3; pools use tests/grad_helpers.py's defaults.
"""
import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, strategies as st

import clnet
from clnet.ops import conv as C
from clnet.ops import pool as P
from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

CONV_TOL = dict(out_tol=dict(rtol=1e-4, atol=1e-4), grad_tol=dict(rtol=1e-4, atol=1e-4),
                grad2_tol=dict(rtol=1e-3, atol=1e-3))


def _f(m, mod):
    return mod if m is clnet else F


def _arr(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    kw = dict(stride=(draw(st.integers(1, 3)), draw(st.integers(1, 2))),
              padding=(draw(st.integers(0, 3)), draw(st.integers(0, 1))),
              dilation=(draw(st.integers(1, 2)), 1), groups=groups)
    h = draw(st.integers(max(1, kw["dilation"][0] * (k[0] - 1) + 1 - 2 * kw["padding"][0]), 7))
    w = draw(st.integers(max(1, k[1] - 2 * kw["padding"][1]), 7))
    shape = (draw(st.integers(1, 3)), groups * draw(st.integers(1, 2)), h, w)
    cout = groups * draw(st.integers(1, 2))
    return shape, (cout, shape[1] // groups) + k, kw


@given(conv_cases())
def test_conv2d_grads_match_torch(case):
    xs, ws, kw = case
    rng = np.random.default_rng(0)
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv2d(x, w, b, **kw),
                      _arr(rng, xs), _arr(rng, ws), _arr(rng, ws[:1]), **CONV_TOL)


@given(conv_cases(), st.integers(0, 1))
def test_conv_transpose2d_grads_match_torch(case, op):
    xs, ws, kw = case
    rng = np.random.default_rng(1)
    s, d = kw["stride"], kw["dilation"]
    op = tuple(min(op, max(si, di) - 1) for si, di in zip(s, d))
    wt = (xs[1], ws[0] // kw["groups"]) + ws[2:]
    hout = (xs[2] - 1) * s[0] - 2 * kw["padding"][0] + d[0] * (ws[2] - 1) + op[0] + 1
    wout = (xs[3] - 1) * s[1] - 2 * kw["padding"][1] + d[1] * (ws[3] - 1) + op[1] + 1
    if hout <= 0 or wout <= 0:
        return   # torch and clnet both refuse (tested in tests/ops/test_conv.py)
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv_transpose2d(x, w, b, output_padding=op,
                                                                    **kw),
                      _arr(rng, xs), _arr(rng, wt), _arr(rng, (wt[1] * kw["groups"],)),
                      **CONV_TOL)


@pytest.mark.parametrize("layout", ["step", "transpose"])
def test_conv2d_grads_noncontiguous_lenet_like(layout):
    rng = np.random.default_rng(2)
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv2d(x, w, b),
                      _arr(rng, (8, 3, 12, 12)), _arr(rng, (5, 3, 5, 5)), _arr(rng, (5,)),
                      layouts=[lambda a: as_noncontiguous(a, layout), None, None], **CONV_TOL)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(groups=2, dilation=2),
                                dict(padding="same")])
def test_conv2d_second_derivatives(kw):
    rng = np.random.default_rng(3)
    ws = (4, 4 // kw.get("groups", 1), 3, 2)
    # bias stays constant: its gradient depends on the upstream gradient only, which torch
    # still marks as differentiable (a zero second derivative) while clnet records nothing
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv2d(x, w, b, **kw).tanh(),
                      _arr(rng, (2, 4, 6, 5)), _arr(rng, ws), _arr(rng, (4,)), second=True,
                      requires_grad=[True, True, False], **CONV_TOL)


def test_conv_transpose2d_and_1x1_second_derivatives():
    rng = np.random.default_rng(4)
    check_grad_parity(lambda m, x, w: _f(m, C).conv_transpose2d(x, w, stride=2, padding=1,
                                                                output_padding=1).tanh(),
                      _arr(rng, (2, 3, 4, 3)), _arr(rng, (3, 2, 3, 3)), second=True, **CONV_TOL)
    check_grad_parity(lambda m, x, w: _f(m, C).conv2d(x, w).tanh(),
                      _arr(rng, (2, 3, 4, 3)), _arr(rng, (5, 3, 1, 1)), second=True, **CONV_TOL)


def test_conv1d_grads():
    rng = np.random.default_rng(5)
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv1d(x, w, b, stride=2, padding=1),
                      _arr(rng, (3, 4, 11)), _arr(rng, (6, 4, 3)), _arr(rng, (6,)), **CONV_TOL)
    check_grad_parity(lambda m, x, w: _f(m, C).conv1d(x, w, padding="same"),
                      _arr(rng, (4, 9)), _arr(rng, (2, 4, 4)), **CONV_TOL)


def test_bias_gradient_sums_over_batch_and_pixels():
    rng = np.random.default_rng(6)
    check_grad_parity(lambda m, x, w, b: _f(m, C).conv2d(x, w, b, padding=1),
                      _arr(rng, (16, 2, 9, 9)), _arr(rng, (3, 2, 3, 3)), _arr(rng, (3,)),
                      requires_grad=[False, False, True], **CONV_TOL)


POOLS = [
    ("max_pool2d", dict(kernel_size=2)),
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=(2, 3), stride=1, count_include_pad=False, padding=1)),
    ("avg_pool2d", dict(kernel_size=2, divisor_override=3)),
    ("adaptive_avg_pool2d", dict(output_size=(4, 3))),
    ("adaptive_max_pool2d", dict(output_size=(3, 4))),
    ("interpolate", dict(scale_factor=2)),
    ("interpolate", dict(size=(5, 13))),
    ("pad", dict(pad=(1, 2, -1, 3), value=0.5)),
]


@pytest.mark.parametrize("name,kw", POOLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(POOLS)])
def test_pool_grads_and_second_derivatives(name, kw):
    x = _arr(np.random.default_rng(7), (2, 3, 9, 8))
    # squared so that the gradient depends on the input and the second derivative runs the
    # pools' backward-of-backward (gather at the argmax, the avg forward, nearest forward, crop)
    check_grad_parity(lambda m, t: getattr(_f(m, P), name)(t, **kw) ** 2, x, second=True)
    check_grad_parity(lambda m, t: getattr(_f(m, P), name)(t, **kw), x,
                      layouts=[lambda a: as_noncontiguous(a, "transpose")])


def test_max_pool_tie_gradient_goes_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4), np.float32)        # every window is a tie
    check_grad_parity(lambda m, t: _f(m, P).max_pool2d(t, 2, stride=1), x)


def test_max_pool_with_indices_grad():
    x = _arr(np.random.default_rng(8), (2, 2, 7, 7))
    check_grad_parity(lambda m, t: _f(m, P).max_pool2d(t, 3, stride=2, return_indices=True)[0],
                      x)


def test_lenet_block_grads():
    """Conv -> max pool -> relu twice, the LeNet feature extractor, at a small batch."""
    rng = np.random.default_rng(9)

    def net(m, x, w1, b1, w2, b2):
        f, p = _f(m, C), _f(m, P)
        h = p.max_pool2d(f.conv2d(x, w1, b1), 2).relu()
        return p.max_pool2d(f.conv2d(h, w2, b2), 2).relu()
    check_grad_parity(net, _arr(rng, (4, 1, 28, 28)), _arr(rng, (10, 1, 5, 5)) * 0.2,
                      _arr(rng, (10,)), _arr(rng, (20, 10, 5, 5)) * 0.1, _arr(rng, (20,)),
                      requires_grad=[False, True, True, True, True], **CONV_TOL)
