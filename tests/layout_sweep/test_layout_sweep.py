"""Every op of the sample table (sweep_ops.py) against torch on every layout a user can hand it.

For each sample: the inputs in one layout (contiguous, at a storage offset, transposed, stepped,
expanded), the forward compared with torch's, then a backward with the incoming gradient in one
layout, and the gradients that reach the inputs' bases compared with torch's. The pairs cover
each input layout with a contiguous gradient and each gradient layout with contiguous inputs,
plus the two faults seen in real programs: both at an offset, both transposed.

Written after the fused softmax / cross-entropy kernels were found to ignore storage offsets
(a GCN's ``nll_loss(log_softmax(x)[idx], y[idx])`` trained to chance); this sweep failed on
those samples before the fix.
"""
import zlib

import numpy as np
import pytest
import torch

import clnet
from sweep_layouts import LAYOUTS, base_array, view
from sweep_ops import OPS

PAIRS = ([(layout, "contiguous") for layout in LAYOUTS]
         + [("contiguous", layout) for layout in LAYOUTS[1:]]
         + [("offset", "offset"), ("transposed", "transposed")])


def _run(lib, op, arrays, in_layout, grad_array, grad_layout):
    bases, views = [], []
    for spec, a in zip(op.inputs, arrays):
        b, how = base_array(a, in_layout if spec.layout else "contiguous")
        t = lib.tensor(b, requires_grad=spec.grad)
        bases.append(t)
        views.append(view(t, how))
    out = op.fn(lib, *views)
    value = out.detach().numpy()
    grads = None
    if out.requires_grad:
        gb, ghow = base_array(grad_array(value.shape), grad_layout)
        out.backward(view(lib.tensor(gb), ghow))
        grads = [b.grad.numpy() if spec.grad else None for spec, b in zip(op.inputs, bases)]
    return value, grads


@pytest.mark.parametrize("in_layout,grad_layout", PAIRS, ids=[f"{a}-in-{b}-grad" for a, b in PAIRS])
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_op_matches_torch_on_layout(op, in_layout, grad_layout):
    seed = zlib.crc32(f"{op.name}/{in_layout}/{grad_layout}".encode())
    rng = np.random.default_rng(seed)
    arrays = [spec.sample(rng) for spec in op.inputs]
    g_seed = rng.integers(1 << 30)

    def grad_array(shape):
        return np.random.default_rng(g_seed).standard_normal(shape).astype(np.float32)

    got, got_grads = _run(clnet, op, arrays, in_layout, grad_array, grad_layout)
    want, want_grads = _run(torch, op, arrays, in_layout, grad_array, grad_layout)
    tol = dict(rtol=op.rtol, atol=op.atol)
    assert got.shape == want.shape, f"{op.name}: shape {got.shape} != torch's {want.shape}"
    np.testing.assert_allclose(got, want, err_msg=f"{op.name} forward", **tol)
    assert (got_grads is None) == (want_grads is None), f"{op.name}: requires_grad differs"
    for i, (g, w) in enumerate(zip(got_grads or [], want_grads or [])):
        if w is None:
            continue
        np.testing.assert_allclose(g, w, err_msg=f"{op.name}: gradient of input {i}", **tol)
