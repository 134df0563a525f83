"""nn.utils against torch.nn.utils with the same gradients: clip_grad_norm_ (all norm types,
clipping and not), clip_grad_value_, parameters_to_vector / vector_to_parameters."""
import math

import numpy as np
import pytest
import torch

import clnet
from clnet.nn import utils
from tests.helpers import assert_close

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def _pairs(rng, scale=1.0, dtype=np.float32, shapes=SHAPES):
    """Parameters with the same gradients in clnet and torch."""
    cl, th = [], []
    for shape in shapes:
        w = rng.standard_normal(shape).astype(dtype)
        g = (rng.standard_normal(shape) * scale).astype(dtype)
        p = clnet.nn.Parameter(clnet.tensor(w))
        p.grad = clnet.tensor(g)
        q = torch.nn.Parameter(torch.tensor(w))
        q.grad = torch.tensor(g)
        cl.append(p)
        th.append(q)
    return cl, th


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])     # clipping, and a no-op scale of 1
def test_clip_grad_norm_matches_torch(rng, norm_type, max_norm):
    cl, th = _pairs(rng)
    total = utils.clip_grad_norm_(cl, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(th, max_norm, norm_type)
    assert isinstance(total, clnet.Tensor) and total.shape == ()
    assert_close(total, want, rtol=1e-5)
    for p, q in zip(cl, th):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_single_tensor_float64_and_no_grads(rng):
    cl, th = _pairs(rng, dtype=np.float64, shapes=[(6, 2)])
    assert_close(utils.clip_grad_norm_(cl[0], 0.1), torch.nn.utils.clip_grad_norm_(th[0], 0.1),
                 rtol=1e-12)
    assert_close(cl[0].grad, th[0].grad, rtol=1e-12)
    bare = clnet.nn.Parameter(clnet.ones(2))
    assert float(utils.clip_grad_norm_([bare], 1.0).item()) == 0.0


def test_clip_grad_norm_nonfinite(rng):
    cl, th = _pairs(rng)
    cl[0].grad = clnet.tensor(np.full((3, 4), np.inf, np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(cl, 1.0, error_if_nonfinite=True)
    total = utils.clip_grad_norm_(cl, 1.0)                  # no error: scaled by inf -> zeros/nan
    assert math.isinf(total.item())


def test_clip_grad_value_matches_torch(rng):
    cl, th = _pairs(rng, scale=3.0)
    assert utils.clip_grad_value_(cl, 0.7) is None
    torch.nn.utils.clip_grad_value_(th, 0.7)
    for p, q in zip(cl, th):
        assert_close(p.grad, q.grad)


def test_parameters_to_vector_and_back(rng):
    cl, th = _pairs(rng)
    vec = utils.parameters_to_vector(cl)
    assert_close(vec, torch.nn.utils.parameters_to_vector(th))
    assert vec.requires_grad              # differentiable, as in torch
    new = rng.standard_normal(vec.shape[0]).astype(np.float32)
    utils.vector_to_parameters(clnet.tensor(new), cl)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), th)
    for p, q in zip(cl, th):
        assert_close(p.detach(), q)
        assert isinstance(p, clnet.nn.Parameter) and p.shape == q.shape
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        utils.vector_to_parameters(new, cl)
