"""In-place view ops (unsqueeze_, squeeze_, transpose_, t_, swapdims_): shapes, values,
versions and gradients against torch."""
import numpy as np
import pytest
import torch

import clnet

CASES = [
    ("unsqueeze_", (1,)), ("unsqueeze_", (-1,)), ("squeeze_", ()), ("squeeze_", (1,)),
    ("transpose_", (0, 2)), ("swapdims_", (1, 2)),
]


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}{a}" for n, a in CASES])
def test_in_place_view_ops_match_torch(rng, name, args):
    shape = (3, 1, 4) if name == "squeeze_" else (3, 2, 4)
    a = rng.standard_normal(shape).astype(np.float32)
    w_seed = rng.integers(1 << 30)
    got = {}
    for lib in (clnet, torch):
        leaf = lib.tensor(a, requires_grad=True)
        x = leaf * 2.0                            # a non-leaf: in-place is allowed
        v = x._version
        assert getattr(x, name)(*args) is x
        w = np.random.default_rng(w_seed).standard_normal(tuple(x.shape)).astype(np.float32)
        (x * lib.tensor(w)).sum().backward()
        got[lib.__name__] = (tuple(x.shape), x.detach().numpy(), leaf.grad.numpy(),
                             x._version > v)
    c, t = got["clnet"], got["torch"]
    assert c[0] == t[0] and c[3] and t[3]
    np.testing.assert_array_equal(c[1], t[1])
    np.testing.assert_allclose(c[2], t[2], rtol=1e-6)


def test_t_and_no_grad_tensors():
    for lib in (clnet, torch):
        x = lib.arange(6.0).reshape(2, 3)
        x.t_()
        assert tuple(x.shape) == (3, 2) and x[2, 1].item() == 5.0
        y = lib.arange(3)
        y.unsqueeze_(-1)            # the char-RNN tutorial's target_line_tensor.unsqueeze_(-1)
        assert tuple(y.shape) == (3, 1)


def test_a_leaf_that_requires_grad_is_refused_like_torch():
    for lib in (clnet, torch):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            lib.ones(3, requires_grad=True).unsqueeze_(0)
    with clnet.no_grad():
        x = clnet.ones(3, requires_grad=True)
        x.unsqueeze_(0)
    assert x.shape == (1, 3)


def test_a_view_that_requires_grad_is_refused_clearly():
    base = clnet.ones(2, 3, requires_grad=True) * 1.0
    v = base[0]
    with pytest.raises(RuntimeError, match=r"use x = x.unsqueeze\(...\)"):
        v.unsqueeze_(0)
