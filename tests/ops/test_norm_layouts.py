"""The two kernel layouts of cl_kernels/norm.cl (a work-item per row / channel in vectors for CPU
drivers, a work-group per row / channel for GPUs) against torch on shapes that hit vector tails
(row lengths around the 8-float / 4-double vector and the 32-element unrolled step), fewer and
more rows than the CPU layout's work-groups (16 per compute unit), non-contiguous inputs, with
and without the affine parameters, float32 and float64; forward and all first derivatives.

Tolerances: float32 rtol 1e-4 / atol 1e-5 (outputs) and rtol 1e-4 / atol 1e-4 (gradients; the
parameter gradients are sums over up to ~2000 rows); float64 rtol 1e-9 / atol 1e-11.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import norm as N
from helpers import as_noncontiguous

ROW_LENGTHS = [1, 7, 8, 9, 33, 128, 1000]
ROW_COUNTS = [1, 5, 67]        # fewer and more rows than the 32 work-groups of a 2-core CPU


@pytest.fixture(params=[1, 64], ids=["item-per-row", "group-per-row"])
def layout(request, monkeypatch):
    monkeypatch.setitem(clnet.default_device().tuning, "norm.ls", request.param)
    return request.param


def _tol(dt):
    if dt == np.float64:
        return dict(rtol=1e-9, atol=1e-11), dict(rtol=1e-9, atol=1e-11)
    return dict(rtol=1e-4, atol=1e-5), dict(rtol=1e-4, atol=1e-4)


def _compare(cf, tf, arrays, grad_mask, dt, layouts=None, grad_tol=None):
    """Run cf on clnet tensors and tf on torch tensors of ``arrays`` (None entries pass None),
    compare the output and the gradients of the inputs marked in grad_mask."""
    out_tol, default_grad_tol = _tol(dt)
    grad_tol = grad_tol or default_grad_tol
    rng = np.random.default_rng(7)
    cx, tx = [], []
    for i, a in enumerate(arrays):
        if a is None:
            cx.append(None)
            tx.append(None)
            continue
        make = layouts[i] if layouts and layouts[i] else clnet.tensor
        c = make(a).detach()
        c.requires_grad_(grad_mask[i])
        cx.append(c)
        tx.append(torch.tensor(a, requires_grad=grad_mask[i]))
    y, ty = cf(*cx), tf(*tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **out_tol)
    g = rng.standard_normal(tuple(ty.shape)).astype(dt)
    ci = [c for c, m in zip(cx, grad_mask) if m]
    ti = [t for t, m in zip(tx, grad_mask) if m]
    got = clnet.autograd.grad([y], ci, [clnet.tensor(g)])
    want = torch.autograd.grad([ty], ti, [torch.tensor(g)])
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), err_msg=f"gradient {k}", **grad_tol)


def _data(rng, shape, dt):
    return (rng.standard_normal(shape) * 1.5 + 0.7).astype(dt)


@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("rows", ROW_COUNTS)
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_layer_norm_tails(rng, layout, n, rows, dt):
    x, w, b = _data(rng, (rows, n), dt), _data(rng, n, dt), _data(rng, n, dt)
    # a row of ONE element has variance 0: rstd = 1/sqrt(eps) ~ 316 turns torch's float32
    # rounding of (x - mean) into gradients of up to ~2e-4 where the exact ones (and clnet's)
    # are 0; compare those against that noise level
    loose = dict(rtol=1e-4, atol=5e-4) if n == 1 and dt == np.float32 else None
    _compare(lambda x, w, b: N.layer_norm(x, (n,), w, b),
             lambda x, w, b: F.layer_norm(x, (n,), w, b), [x, w, b], [True, True, True], dt,
             grad_tol=loose)


@pytest.mark.parametrize("affine", ["none", "weight", "bias"])
@pytest.mark.parametrize("n", [9, 33])
def test_layer_norm_partial_affine(rng, layout, affine, n):
    x = _data(rng, (40, n), np.float32)
    w = _data(rng, n, np.float32) if affine == "weight" else None
    b = _data(rng, n, np.float32) if affine == "bias" else None
    _compare(lambda x, w, b: N.layer_norm(x, (n,), w, b),
             lambda x, w, b: F.layer_norm(x, (n,), w, b), [x, w, b],
             [True, w is not None, b is not None], np.float32)


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
def test_layer_norm_noncontiguous(rng, layout, kind):
    x, w, b = _data(rng, (37, 9), np.float32), _data(rng, 9, np.float32), _data(rng, 9, np.float32)
    _compare(lambda x, w, b: N.layer_norm(x, (9,), w, b),
             lambda x, w, b: F.layer_norm(x, (9,), w, b), [x, w, b], [True, True, True],
             np.float32, layouts=[lambda a: as_noncontiguous(a, kind),
                                  lambda a: as_noncontiguous(a, "step"), None])


@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("rows", ROW_COUNTS)
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_rms_norm_tails(rng, layout, n, rows, dt):
    x, w = _data(rng, (rows, n), dt), _data(rng, n, dt)
    _compare(lambda x, w: N.rms_norm(x, (n,), w, 1e-6),
             lambda x, w: F.rms_norm(x, (n,), w, 1e-6), [x, w], [True, True], dt)
    _compare(lambda x: N.rms_norm(x, (n,)), lambda x: F.rms_norm(x, (n,)), [x], [True], dt)


# (N, C, spatial...), groups: S = 1 (no spatial dims), S < and > the vector width, tails
@pytest.mark.parametrize("shape,groups", [((3, 6), 3), ((2, 4, 7), 2), ((5, 8, 3, 3), 4),
                                          ((40, 6, 9), 3), ((2, 4, 33), 1), ((3, 6, 2, 4), 6),
                                          ((4, 8, 128), 2)])
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_tails(rng, layout, shape, groups, dt, affine):
    C = shape[1]
    x = _data(rng, shape, dt)
    w = _data(rng, C, dt) if affine else None
    b = _data(rng, C, dt) if affine else None
    # gradients scale with each group's rstd = 1/std: a group of two close values (std ~0.02)
    # amplifies both frameworks' float32 rounding ~50x, so the tolerance follows the worst rstd
    grad_tol = None
    if dt == np.float32:
        rstd = 1 / x.astype(np.float64).reshape(shape[0], groups, -1).std(-1).min()
        grad_tol = dict(rtol=1e-4, atol=max(1e-4, 2e-5 * rstd))
    _compare(lambda x, w, b: N.group_norm(x, groups, w, b),
             lambda x, w, b: F.group_norm(x, groups, w, b), [x, w, b], [True, affine, affine], dt,
             grad_tol=grad_tol)


def test_group_norm_noncontiguous(rng, layout):
    x, w, b = _data(rng, (4, 6, 5), np.float32), _data(rng, 6, np.float32), _data(rng, 6, np.float32)
    _compare(lambda x, w, b: N.group_norm(x, 3, w, b), lambda x, w, b: F.group_norm(x, 3, w, b),
             [x, w, b], [True, True, True], np.float32,
             layouts=[lambda a: as_noncontiguous(a, "transpose"), None, None])


# (N, C, S...): S = 1, S at / around the vector width, more channels than the CPU work-groups
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 1), (3, 2, 7), (2, 3, 8), (2, 3, 9),
                                   (3, 40, 33), (2, 3, 10, 10)])
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_tails(rng, layout, shape, dt, training):
    C = shape[1]
    x, w, b = _data(rng, shape, dt), _data(rng, C, dt), _data(rng, C, dt)
    rm, rv = _data(rng, C, dt), np.abs(_data(rng, C, dt)) + 0.5
    crm, crv = clnet.tensor(rm), clnet.tensor(rv)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    _compare(lambda x, w, b: N.batch_norm(x, crm, crv, w, b, training, 0.1, 1e-5),
             lambda x, w, b: F.batch_norm(x, trm, trv, w, b, training, 0.1, 1e-5),
             [x, w, b], [True, True, True], dt)
    out_tol, _ = _tol(dt)
    np.testing.assert_allclose(crm.numpy(), trm.numpy(), **out_tol)
    np.testing.assert_allclose(crv.numpy(), trv.numpy(), **out_tol)


def test_batch_norm_noncontiguous(rng, layout):
    x, w = _data(rng, (6, 3, 9), np.float32), _data(rng, 3, np.float32)
    _compare(lambda x, w: N.batch_norm(x, None, None, w, None, True),
             lambda x, w: F.batch_norm(x, None, None, w, None, True), [x, w], [True, True],
             np.float32, layouts=[lambda a: as_noncontiguous(a, "step"), None])


def test_layouts_are_the_device_defaults():
    """A fresh device picks 1 (CPU drivers) or 64 (GPUs)."""
    dev = clnet.default_device()
    saved = dev.tuning.pop("norm.ls", None)
    try:
        N.layer_norm(clnet.ones(2, 3), (3,))
        assert dev.tuning["norm.ls"] == (1 if dev.kind == "CPU" else 64)
    finally:
        if saved is not None:
            dev.tuning["norm.ls"] = saved
