"""Backward (fused kernels) and double backward (composite path) of the normalisation ops,
against torch.

Tolerances (float32): outputs rtol 1e-4 / atol 1e-5, first derivatives rtol 1e-4 / atol 1e-5
(tests/grad_helpers.py), second derivatives rtol 1e-3 / atol 1e-4.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import norm as N
from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

OUT = dict(rtol=1e-4, atol=1e-5)
GRAD = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(autouse=True, params=[1, 64], ids=["item-per-row", "group-per-row"])
def layout(request, monkeypatch):
    """Every test in both kernel layouts of norm.cl (``dev.tuning["norm.ls"]``: CPU drivers
    default to 1, GPUs to 64)."""
    monkeypatch.setitem(clnet.default_device().tuning, "norm.ls", request.param)
    return request.param


def _fn(module):
    """clnet's functional ops under torch.nn.functional's names, for check_grad_parity."""
    return N if module is clnet else F


def _rand(rng, shape):
    return (rng.standard_normal(shape) * 1.5 + 0.3).astype(np.float32)


@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 5), (3, 4, 3, 5), (2, 1, 7), (64, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward(rng, shape, training):
    C = shape[1]
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)

    def fn(m, x, w, b):
        mod = m if m is torch else clnet
        stats = (mod.tensor(rm), mod.tensor(rv))
        return _fn(m).batch_norm(x, *stats, w, b, training, 0.1, 1e-5)

    check_grad_parity(fn, _rand(rng, shape), rng.standard_normal(C).astype(np.float32),
                      rng.standard_normal(C).astype(np.float32), out_tol=OUT, grad_tol=GRAD)


def test_batch_norm_backward_without_affine_and_noncontiguous(rng):
    x = _rand(rng, (5, 3, 4))
    check_grad_parity(lambda m, x: _fn(m).batch_norm(x, None, None, training=True), x,
                      out_tol=OUT, grad_tol=GRAD, layouts=[lambda a: as_noncontiguous(a)])


def test_batch_norm_backward_through_a_broadcast_gradient(rng):
    """y.sum() hands the backward an expanded (stride-0) gradient."""
    x = _rand(rng, (4, 3, 5))
    w = rng.standard_normal(3).astype(np.float32)
    check_grad_parity(lambda m, x, w: (_fn(m).batch_norm(x, None, None, w, None, True) * x).sum(),
                      x, w, out_tol=dict(rtol=1e-4, atol=1e-4), grad_tol=GRAD)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_second_derivatives(rng, training):
    C = 3
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)

    def fn(m, x, w, b):
        mod = m if m is torch else clnet
        return _fn(m).batch_norm(x, mod.tensor(rm), mod.tensor(rv), w, b, training, 0.1, 1e-5)

    # bias gets no gradient here: its gradient (sum of g) is constant in the inputs, which torch
    # still marks as requiring grad and clnet does not (both are zero in the second derivative)
    check_grad_parity(fn, _rand(rng, (4, C, 3)), rng.standard_normal(C).astype(np.float32),
                      rng.standard_normal(C).astype(np.float32), second=True, out_tol=OUT,
                      grad_tol=GRAD, requires_grad=[True, True, False])


@pytest.mark.parametrize("shape,ns", [((5, 7), (7,)), ((2, 3, 65), (65,)), ((4, 3, 4), (3, 4)),
                                      ((1, 1), (1,)), ((3, 130), (130,))])
def test_layer_norm_backward(rng, shape, ns):
    check_grad_parity(lambda m, x, w, b: _fn(m).layer_norm(x, ns, w, b, 1e-5), _rand(rng, shape),
                      rng.standard_normal(ns).astype(np.float32),
                      rng.standard_normal(ns).astype(np.float32), out_tol=OUT, grad_tol=GRAD)


def test_layer_norm_backward_many_rows_uses_partial_parameter_sums(rng):
    """More rows than one chunk of layer_norm_bwd_params: the partial sums are added."""
    check_grad_parity(lambda m, x, w, b: _fn(m).layer_norm(x, (16,), w, b), _rand(rng, (700, 16)),
                      rng.standard_normal(16).astype(np.float32),
                      rng.standard_normal(16).astype(np.float32), out_tol=OUT,
                      grad_tol=dict(rtol=1e-4, atol=1e-4))


def test_layer_norm_backward_without_affine_noncontiguous(rng):
    check_grad_parity(lambda m, x: _fn(m).layer_norm(x, (6,)), _rand(rng, (4, 6)), out_tol=OUT,
                      grad_tol=GRAD, layouts=[lambda a: as_noncontiguous(a, "transpose")])


def test_layer_norm_second_derivatives(rng):
    check_grad_parity(lambda m, x, w, b: _fn(m).layer_norm(x, (5,), w, b), _rand(rng, (3, 5)),
                      rng.standard_normal(5).astype(np.float32),
                      rng.standard_normal(5).astype(np.float32), second=True, out_tol=OUT,
                      grad_tol=GRAD, requires_grad=[True, True, False])


def test_group_norm_backward_and_second_derivatives(rng):
    check_grad_parity(lambda m, x, w, b: _fn(m).group_norm(x, 2, w, b), _rand(rng, (3, 4, 5)),
                      rng.standard_normal(4).astype(np.float32),
                      rng.standard_normal(4).astype(np.float32), second=True, out_tol=OUT,
                      grad_tol=GRAD)


def test_rms_norm_backward(rng):
    check_grad_parity(lambda m, x, w: _fn(m).rms_norm(x, (6,), w, 1e-5), _rand(rng, (4, 6)),
                      rng.standard_normal(6).astype(np.float32), second=True, out_tol=OUT,
                      grad_tol=GRAD)


def test_fused_and_composite_backward_agree(rng):
    """The create_graph path (composite) gives the fused kernels' first derivatives."""
    x = clnet.tensor(_rand(rng, (6, 4, 3)), requires_grad=True)
    w = clnet.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    g = clnet.tensor(rng.standard_normal((6, 4, 3)).astype(np.float32))
    for f in (lambda: N.batch_norm(x, None, None, w, None, True),
              lambda: N.layer_norm(x, (4, 3))):
        fused = clnet.autograd.grad([f()], [x], [g])[0].numpy()
        composite = clnet.autograd.grad([f()], [x], [g], create_graph=True)[0].detach().numpy()
        np.testing.assert_allclose(fused, composite, rtol=1e-4, atol=1e-5)


def test_running_stats_do_not_require_grad_and_eval_backward_survives_their_update(rng):
    """Eval saves its own copy of the statistics: a later training step updating the running
    stats in place does not break (or change) an earlier eval graph's backward."""
    C = 3
    x = clnet.tensor(_rand(rng, (4, C)), requires_grad=True)
    rm, rv = clnet.zeros(C), clnet.ones(C)
    y = N.batch_norm(x, rm, rv, training=False)
    before = clnet.autograd.grad([y], [x], [clnet.ones(4, C)], retain_graph=True)[0].numpy()
    N.batch_norm(clnet.tensor(_rand(rng, (4, C))), rm, rv, training=True, momentum=0.9)
    after = clnet.autograd.grad([y], [x], [clnet.ones(4, C)])[0].numpy()
    np.testing.assert_array_equal(before, after)
    assert not rm.requires_grad
