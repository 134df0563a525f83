"""Every loss with every reduction against torch: value, input gradient (and target gradient
where torch has one). float32 tolerance rtol 1e-5 / atol 1e-6 for values, 1e-4 / 1e-5 grads."""
import numpy as np
import pytest
import torch

import clnet
import clnet.nn as nn

REDUCTIONS = ["mean", "sum", "none"]


def _pair(rng, shape):
    return (rng.standard_normal(shape).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


def check_loss(name, x, t, rtol=1e-5, atol=1e-6, target_grad=False, **kw):
    cx = clnet.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ct = clnet.tensor(t, requires_grad=target_grad)
    tt = torch.tensor(t, requires_grad=target_grad)
    cl = getattr(nn, name)(**kw)(cx, ct)
    tl = getattr(torch.nn, name)(**kw)(tx, tt)
    np.testing.assert_allclose(cl.detach().numpy(), tl.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(2).standard_normal(tuple(tl.shape)).astype(np.float32)
    cl.backward(clnet.tensor(g))
    tl.backward(torch.tensor(g))
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    if target_grad:
        np.testing.assert_allclose(ct.grad.numpy(), tt.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction, rng):
    x, t = _pair(rng, (4, 5))
    for name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"):
        check_loss(name, x, t, target_grad=True, reduction=reduction)
    check_loss("SmoothL1Loss", x, t, reduction=reduction, beta=0.5)
    check_loss("HuberLoss", x, t, reduction=reduction, delta=0.3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"ignore_index": 2},
                                     {"weight": True}, {"weight": True, "label_smoothing": 0.2}])
def test_cross_entropy_class_indices(reduction, options, rng):
    x = (rng.standard_normal((7, 4)) * 3).astype(np.float32)
    t = rng.integers(0, 4, 7)
    kw = dict(options)
    if kw.get("weight"):
        w = rng.uniform(0.5, 2, 4).astype(np.float32)
        cx = clnet.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        kw.pop("weight")
        cl = nn.CrossEntropyLoss(weight=clnet.tensor(w), reduction=reduction, **kw)(
            cx, clnet.tensor(t))
        tl = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), reduction=reduction, **kw)(
            tx, torch.tensor(t))
        np.testing.assert_allclose(cl.detach().numpy(), tl.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        cl.sum().backward()
        tl.sum().backward()
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        return
    check_loss("CrossEntropyLoss", x, t, reduction=reduction, **kw)


def test_cross_entropy_spatial_and_probabilities_and_large_logits(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = rng.integers(0, 3, (2, 4, 5))
    for red in REDUCTIONS:
        check_loss("CrossEntropyLoss", x, t, reduction=red)
    p = rng.uniform(0, 1, (6, 3)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    check_loss("CrossEntropyLoss", rng.standard_normal((6, 3)).astype(np.float32), p)
    check_loss("CrossEntropyLoss", rng.standard_normal((6, 3)).astype(np.float32), p,
               label_smoothing=0.1)
    big = np.array([[1000.0, -1000.0, 0.0], [0.0, 2000.0, -5.0]], dtype=np.float32)
    check_loss("CrossEntropyLoss", big, np.array([0, 2]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_bce_kl(reduction, rng):
    logp = torch.log_softmax(torch.tensor(rng.standard_normal((5, 4)).astype(np.float32)),
                             1).numpy()
    check_loss("NLLLoss", logp, rng.integers(0, 4, 5), reduction=reduction)
    check_loss("NLLLoss", logp, np.array([0, 1, -100, 3, 1]), reduction=reduction)
    probs = rng.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
    targets = rng.uniform(0, 1, (3, 4)).astype(np.float32)
    check_loss("BCELoss", probs, targets, reduction=reduction)
    logits = (rng.standard_normal((3, 4)) * 5).astype(np.float32)
    check_loss("BCEWithLogitsLoss", logits, targets, reduction=reduction)
    check_loss("BCEWithLogitsLoss", logits, targets, reduction=reduction,
               pos_weight=None)
    check_loss("KLDivLoss", np.log(probs), targets, reduction=reduction)
    check_loss("KLDivLoss", np.log(probs), np.log(targets + 0.01), reduction=reduction,
               log_target=True)


def test_bce_with_logits_pos_weight(rng):
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    t = (rng.uniform(0, 1, (3, 4)) > 0.5).astype(np.float32)
    pw = rng.uniform(0.5, 3, 4).astype(np.float32)
    cl = nn.BCEWithLogitsLoss(pos_weight=clnet.tensor(pw))(clnet.tensor(logits), clnet.tensor(t))
    tl = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(torch.tensor(logits),
                                                                 torch.tensor(t))
    np.testing.assert_allclose(cl.item(), tl.item(), rtol=1e-5)


def test_cosine_embedding_and_margin_losses(rng):
    a, b = _pair(rng, (5, 6))
    y = np.array([1, -1, 1, -1, 1], dtype=np.float32)
    for red in REDUCTIONS:
        ca, cb = clnet.tensor(a, requires_grad=True), clnet.tensor(b)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b)
        cl = nn.CosineEmbeddingLoss(margin=0.2, reduction=red)(ca, cb, clnet.tensor(y))
        tl = torch.nn.CosineEmbeddingLoss(margin=0.2, reduction=red)(ta, tb, torch.tensor(y))
        np.testing.assert_allclose(cl.detach().numpy(), tl.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        cl.sum().backward()
        tl.sum().backward()
        np.testing.assert_allclose(ca.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")(clnet.ones(2), clnet.ones(2))
    with pytest.raises(ValueError, match="target of shape"):
        nn.CrossEntropyLoss()(clnet.ones(3, 4), clnet.tensor([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)(clnet.ones(3, 4), clnet.tensor([0, 1, 2]))
