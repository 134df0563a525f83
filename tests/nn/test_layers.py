"""Layers against PyTorch with the same weights and inputs: forward, input gradient and parameter
gradients, in train and eval mode. float32 tolerances: rtol 1e-4 / atol 1e-5 (1e-4 for convs,
whose outputs sum C*kh*kw products)."""
import numpy as np
import pytest
import torch

import clnet
import clnet.nn as nn


def _load_from_torch(cm, tm):
    """Copy a torch module's parameters and buffers into the clnet twin (same names)."""
    state = {k: clnet.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    cm.load_state_dict(state)


def check_layer(cm, tm, x, *, atol=1e-5, rtol=1e-4, train=True, grad=True):
    _load_from_torch(cm, tm)
    cm.train(train)
    tm.train(train)
    cx = clnet.tensor(x, requires_grad=grad and x.dtype.kind == "f")
    tx = torch.tensor(x, requires_grad=grad and x.dtype.kind == "f")
    cy, ty = cm(cx), tm(tx)
    if isinstance(ty, tuple):
        cy, ty = cy[0], ty[0]
    np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    if not grad:
        return
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(np.float32)
    cy.backward(clnet.tensor(g))
    ty.backward(torch.tensor(g))
    if tx.requires_grad:
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        tp = tparams[name]
        if tp.grad is None:
            assert p.grad is None or not np.any(p.grad.numpy())
            continue
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"grad of {name}")
    for name, b in cm.named_buffers():
        tb = dict(tm.named_buffers())[name]
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"buffer {name}")


def rnd(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_linear_and_bilinear(rng):
    check_layer(nn.Linear(7, 5), torch.nn.Linear(7, 5), rnd(rng, 4, 7))
    check_layer(nn.Linear(7, 5, bias=False), torch.nn.Linear(7, 5, bias=False), rnd(rng, 2, 3, 7))
    check_layer(nn.Linear(3, 1), torch.nn.Linear(3, 1), rnd(rng, 3))
    cb, tb = nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    _load_from_torch(cb, tb)
    a, b = rnd(rng, 5, 3), rnd(rng, 5, 4)
    np.testing.assert_allclose(cb(clnet.tensor(a), clnet.tensor(b)).detach().numpy(),
                               tb(torch.tensor(a), torch.tensor(b)).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


def test_linear_init_matches_torch_bounds():
    m = nn.Linear(100, 50)
    w = m.weight.detach().numpy()
    bound = 1 / np.sqrt(100)      # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), ...)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2),
                                dict(groups=2), dict(padding="same"), dict(stride=3, bias=False)])
def test_conv2d(kw, rng):
    check_layer(nn.Conv2d(4, 6, 3, **kw), torch.nn.Conv2d(4, 6, 3, **kw), rnd(rng, 2, 4, 9, 7),
                atol=1e-4)


def test_conv1d_and_transpose(rng):
    check_layer(nn.Conv1d(3, 5, 4, stride=2), torch.nn.Conv1d(3, 5, 4, stride=2),
                rnd(rng, 2, 3, 13), atol=1e-4)
    check_layer(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
                torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
                rnd(rng, 2, 4, 5, 6), atol=1e-4)


def test_pooling_layers(rng):
    x = rnd(rng, 2, 3, 9, 8)
    check_layer(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x)
    check_layer(nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1),
                x)
    check_layer(nn.AvgPool2d(2, ceil_mode=True), torch.nn.AvgPool2d(2, ceil_mode=True), x)
    check_layer(nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)), x)
    cm, tm = nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)
    cv, ci = cm(clnet.tensor(x))
    tv, ti = tm(torch.tensor(x))
    np.testing.assert_array_equal(ci.numpy(), ti.numpy())


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm(train, rng):
    check_layer(nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), rnd(rng, 4, 3, 5, 5), train=train)
    check_layer(nn.BatchNorm1d(6), torch.nn.BatchNorm1d(6), rnd(rng, 8, 6), train=train)
    check_layer(nn.BatchNorm1d(6, affine=False), torch.nn.BatchNorm1d(6, affine=False),
                rnd(rng, 8, 6, 3), train=train)


def test_batchnorm_running_stats_over_steps_and_momentum_none(rng):
    for momentum in (0.1, None):
        cm, tm = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
        for step in range(4):
            x = rnd(rng, 4, 3, 2, 2) * (step + 1)
            cm(clnet.tensor(x))
            tm(torch.tensor(x))
        np.testing.assert_allclose(cm.running_mean.numpy(), tm.running_mean.numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(cm.running_var.numpy(), tm.running_var.numpy(), rtol=1e-5,
                                   atol=1e-6)
        assert cm.num_batches_tracked.item() == 4


def test_layernorm_groupnorm(rng):
    check_layer(nn.LayerNorm(8), torch.nn.LayerNorm(8), rnd(rng, 3, 5, 8))
    check_layer(nn.LayerNorm((5, 8)), torch.nn.LayerNorm((5, 8)), rnd(rng, 3, 5, 8))
    check_layer(nn.LayerNorm(8, eps=1e-3, bias=False), torch.nn.LayerNorm(8, eps=1e-3, bias=False),
                rnd(rng, 3, 5, 8))
    check_layer(nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6), rnd(rng, 3, 6, 4, 4))


def test_dropout_and_embedding(rng):
    x = rnd(rng, 50, 40)
    d = nn.Dropout(0.3)
    y = d(clnet.tensor(x)).numpy()
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    d.eval()
    np.testing.assert_array_equal(d(clnet.tensor(x)).numpy(), x)
    idx = np.array([[1, 0, 3], [3, 3, 2]])
    check_layer(nn.Embedding(5, 4, padding_idx=0), torch.nn.Embedding(5, 4, padding_idx=0), idx)


ACTS = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus", "Hardtanh",
        "ReLU6", "Mish", "Softsign", "Hardsigmoid", "Hardswish", "LogSigmoid", "SELU", "CELU"]


@pytest.mark.parametrize("name", ACTS)
def test_activation_modules(name, rng):
    x = rnd(rng, 4, 9) * 3
    check_layer(getattr(nn, name)(), getattr(torch.nn, name)(), x)


def test_softmax_modules(rng):
    x = rnd(rng, 3, 6)
    check_layer(nn.Softmax(dim=1), torch.nn.Softmax(dim=1), x)
    check_layer(nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0), x)


def test_sequential_mlp_and_lenet_shapes(rng):
    lenet_c = nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(10, 20, 5),
                            nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(320, 50),
                            nn.ReLU(), nn.Linear(50, 10))
    lenet_t = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 5), torch.nn.MaxPool2d(2),
                                  torch.nn.ReLU(), torch.nn.Conv2d(10, 20, 5),
                                  torch.nn.MaxPool2d(2), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(320, 50), torch.nn.ReLU(),
                                  torch.nn.Linear(50, 10))
    check_layer(lenet_c, lenet_t, rnd(rng, 3, 1, 28, 28), atol=1e-4)
    assert repr(lenet_c) == repr(lenet_t)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(scale_factor=(2, 3)),
                                    dict(scale_factor=1.5, mode="bilinear"), dict(size=4),
                                    dict(size=(4, 6))])
def test_upsample_repr_matches_torch(kwargs):
    # a tuple scale_factor made repr() raise TypeError (float() of a tuple), found by mypy
    assert repr(nn.Upsample(**kwargs)) == repr(torch.nn.Upsample(**kwargs))
