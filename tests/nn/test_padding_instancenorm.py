"""F.pad's reflect / replicate / circular modes, the padding layers, F.instance_norm and
InstanceNorm1d/2d against PyTorch: values and input / parameter gradients, odd sizes,
non-contiguous inputs, running statistics, torch's errors. float32 tolerances: padding is a
pure gather (exact values, gradients sums of a few terms: atol 1e-6); instance norm
rtol 1e-4 / atol 1e-5."""
import warnings

import numpy as np
import pytest
import torch

import clnet
import clnet.nn as nn
import clnet.nn.functional as F

RNG = np.random.default_rng(0)


def _pair(x, transpose=False):
    """A clnet and a torch leaf of the same data; transpose=True makes both non-contiguous."""
    c = clnet.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    if transpose:
        return c, t, c.transpose(-1, -2), t.transpose(-1, -2)
    return c, t, c, t


def _backward(cy, ty, seed=1):
    g = np.random.default_rng(seed).standard_normal(tuple(ty.shape)).astype(np.float32)
    cy.backward(clnet.tensor(g))
    ty.backward(torch.tensor(g))


# ------------------------------------------------------------------------------------- F.pad
PAD_CASES = [
    ((2, 3, 7), (2, 3)), ((3, 5), (4, 1)), ((3, 5), (-1, 2)), ((3, 5), (2, -2)),
    ((2, 3, 5, 6), (1, 2, 3, 0)), ((3, 5, 6), (4, 1, -1, 2)), ((1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 0)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_modes_values_and_grads(mode, shape, pad):
    x = RNG.standard_normal(shape).astype(np.float32)
    c, t, cx, tx = _pair(x)
    cy, ty = F.pad(cx, pad, mode=mode), torch.nn.functional.pad(tx, pad, mode=mode)
    assert tuple(cy.shape) == tuple(ty.shape)
    np.testing.assert_array_equal(cy.detach().numpy(), ty.detach().numpy())
    _backward(cy, ty)
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_non_contiguous(mode):
    x = RNG.standard_normal((2, 3, 7, 5)).astype(np.float32)
    c, t, cx, tx = _pair(x, transpose=True)                  # (2, 3, 5, 7) transposed views
    assert not cx.is_contiguous()
    cy = F.pad(cx, (3, 2, 1, 4), mode=mode)
    ty = torch.nn.functional.pad(tx, (3, 2, 1, 4), mode=mode)
    np.testing.assert_array_equal(cy.detach().numpy(), ty.detach().numpy())
    _backward(cy, ty)
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), atol=1e-6)


def _raises_like(fn_c, fn_t):
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(type(et.value)) as ec:
        fn_c()
    return str(ec.value), str(et.value)


@pytest.mark.parametrize("shape,pad,mode", [
    ((1, 1, 5), (5, 0), "reflect"), ((2, 3, 4), (1, 1, 4, 0), "reflect"),
    ((1, 5), (6, 0), "circular"), ((2, 3, 4, 5), (1, 1), "reflect"),
    ((5,), (1, 1), "replicate"), ((2, 5), (1,), "reflect"), ((5,), (1, 1, 1, 1), "reflect"),
    ((1, 5), (-3, -3), "replicate"), ((1, 0, 5), (1, 1), "reflect"), ((2, 5), (1, 1), "bogus"),
])
def test_pad_errors_match_torch(shape, pad, mode):
    x = np.zeros(shape, np.float32)
    mc, mt = _raises_like(lambda: F.pad(clnet.tensor(x), pad, mode=mode),
                          lambda: torch.nn.functional.pad(torch.tensor(x), pad, mode=mode))
    if "too small" not in mt:                 # that one names the dimension differently
        assert mc == mt


def test_pad_value_rejected_for_reflect():
    x = np.zeros((2, 5), np.float32)
    mc, mt = _raises_like(lambda: F.pad(clnet.tensor(x), (1, 1), "reflect", 1.0),
                          lambda: torch.nn.functional.pad(torch.tensor(x), (1, 1), "reflect", 1.0))
    assert mc == mt


# ------------------------------------------------------------------------------ padding layers
@pytest.mark.parametrize("name,args,shape", [
    ("ReflectionPad1d", (3,), (2, 3, 5)), ("ReflectionPad2d", ((1, 2, 3, 0),), (2, 3, 5, 4)),
    ("ReflectionPad2d", (2,), (3, 5, 4)), ("ReplicationPad1d", ((2, 4),), (3, 5)),
    ("ReplicationPad2d", (2,), (1, 2, 3, 3)), ("CircularPad1d", ((1, 3),), (2, 2, 4)),
    ("CircularPad2d", (1,), (1, 2, 3, 3)), ("ZeroPad1d", ((1, 2),), (2, 3, 5)),
    ("ZeroPad2d", (1,), (2, 3, 5, 4)), ("ConstantPad1d", (2, 1.5), (2, 3, 5)),
    ("ConstantPad2d", ((1, 0, 2, 3), -2.0), (2, 3, 5, 4)),
])
def test_padding_layers(name, args, shape):
    cm, tm = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(cm) == repr(tm)
    x = RNG.standard_normal(shape).astype(np.float32)
    c, t, cx, tx = _pair(x)
    cy, ty = cm(cx), tm(tx)
    np.testing.assert_array_equal(cy.detach().numpy(), ty.detach().numpy())
    _backward(cy, ty)
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), atol=1e-6)


def test_padding_module_path():
    assert clnet.nn.modules.padding.ReflectionPad2d is nn.ReflectionPad2d
    assert clnet.nn.modules.instancenorm.InstanceNorm2d is nn.InstanceNorm2d


# ------------------------------------------------------------------------------ instance norm
def _check_norm(cm, tm, x, train=True, transpose=False):
    cm.train(train)
    tm.train(train)
    cm.load_state_dict({k: clnet.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    c, t, cx, tx = _pair(x, transpose)
    cy, ty = cm(cx), tm(tx)
    np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    _backward(cy, ty)
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    tp = dict(tm.named_parameters())
    for n, p in cm.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), rtol=1e-4, atol=1e-5)
    for n, b in cm.named_buffers():
        tb = dict(tm.named_buffers())[n]
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("cls,shape", [("InstanceNorm2d", (2, 3, 5, 7)),
                                       ("InstanceNorm2d", (3, 4, 5)),
                                       ("InstanceNorm1d", (3, 4, 9)), ("InstanceNorm1d", (4, 6))])
def test_instance_norm_layers(cls, shape, affine, track):
    C = shape[-3] if cls == "InstanceNorm2d" else shape[-2]
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(C, affine=affine, track_running_stats=track, momentum=0.3)
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
    cm = getattr(nn, cls)(C, affine=affine, track_running_stats=track, momentum=0.3)
    assert repr(cm) == repr(tm)
    x = (RNG.standard_normal(shape) * 2 + 1).astype(np.float32)
    _check_norm(cm, tm, x, train=True)
    _check_norm(cm, tm, x, train=True)       # second step: running stats compound
    _check_norm(cm, tm, x * 0.5, train=False)


def test_instance_norm_non_contiguous():
    tm = torch.nn.InstanceNorm2d(3, affine=True)
    cm = nn.InstanceNorm2d(3, affine=True)
    x = RNG.standard_normal((2, 3, 7, 5)).astype(np.float32)
    _check_norm(cm, tm, x, transpose=True)


def test_functional_instance_norm_eval_stats():
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    rm, rv = RNG.standard_normal(3).astype(np.float32), RNG.uniform(0.5, 2, 3).astype(np.float32)
    cy = F.instance_norm(clnet.tensor(x), clnet.tensor(rm), clnet.tensor(rv),
                         use_input_stats=False)
    ty = torch.nn.functional.instance_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv),
                                           use_input_stats=False)
    np.testing.assert_allclose(cy.numpy(), ty.numpy(), rtol=1e-4, atol=1e-5)


def test_instance_norm_errors():
    x = np.zeros((2, 3, 1, 1), np.float32)
    mc, mt = _raises_like(lambda: F.instance_norm(clnet.tensor(x)),
                          lambda: torch.nn.functional.instance_norm(torch.tensor(x)))
    assert mc == mt.replace("torch.Size(", "").replace("])", "]")   # torch prints its Size
    for ctor, shape in ((nn.InstanceNorm2d, (2, 3)), (nn.InstanceNorm1d, (1, 2, 3, 4))):
        tctor = getattr(torch.nn, ctor.__name__)
        mc, mt = _raises_like(lambda: ctor(3)(clnet.zeros(shape)),
                              lambda: tctor(3)(torch.zeros(shape)))
        assert mc == mt
    mc, mt = _raises_like(lambda: nn.InstanceNorm2d(4, affine=True)(clnet.zeros(2, 3, 4, 4)),
                          lambda: torch.nn.InstanceNorm2d(4, affine=True)(torch.zeros(2, 3, 4, 4)))
    assert mc == mt
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.InstanceNorm2d(4)(clnet.ones(2, 3, 4, 4))
    assert any("does not match num_features" in str(m.message) for m in w)
