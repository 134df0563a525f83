"""pixel_shuffle / pixel_unshuffle (and their modules) and out= on matmul / mm, against torch."""
import numpy as np
import pytest
import torch

import clnet


@pytest.mark.parametrize("shape,r", [((2, 12, 3, 5), 2), ((1, 9, 4, 4), 3), ((2, 3, 8, 5, 7), 2),
                                     ((4, 1, 1), 1)])
def test_pixel_shuffle_values_and_gradients_match_torch(rng, shape, r):
    x = rng.standard_normal(shape).astype(np.float32)
    g_seed = rng.integers(1 << 30)
    out = {}
    for lib in (clnet, torch):
        t = lib.tensor(x, requires_grad=True)
        base = t.transpose(-1, -2).contiguous().transpose(-1, -2)   # a non-contiguous input
        y = lib.nn.functional.pixel_shuffle(base, r)
        g = np.random.default_rng(g_seed).standard_normal(tuple(y.shape)).astype(np.float32)
        y.backward(lib.tensor(g))
        back = lib.nn.PixelUnshuffle(r)(y.detach())
        out[lib.__name__] = (y.detach().numpy(), t.grad.numpy(), back.numpy())
    for got, want in zip(out["clnet"], out["torch"]):
        np.testing.assert_array_equal(got, want)      # a pure rearrangement: exact
    np.testing.assert_array_equal(out["clnet"][2], x)


def test_pixel_shuffle_errors_and_reprs():
    with pytest.raises(ValueError, match="not divisible by upscale_factor squared"):
        clnet.pixel_shuffle(clnet.zeros(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match="not divisible by downscale_factor 2"):
        clnet.pixel_unshuffle(clnet.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        clnet.pixel_shuffle(clnet.zeros(4, 4), 2)
    assert repr(clnet.nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3))
    assert repr(clnet.nn.PixelUnshuffle(2)) == repr(torch.nn.PixelUnshuffle(2))


@pytest.mark.parametrize("fn", ["matmul", "mm"])
def test_out_receives_the_product(rng, fn):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    out = clnet.full((3, 5), 7.0)
    v = out._version
    got = getattr(clnet, fn)(clnet.tensor(a), clnet.tensor(b), out=out)
    assert got is out and out._version > v
    np.testing.assert_allclose(out.numpy(), torch.matmul(torch.tensor(a), torch.tensor(b)),
                               rtol=1e-5, atol=1e-6)


def test_out_errors_like_torch():
    a, b = clnet.ones(3, 4), clnet.ones(4, 5)
    with pytest.raises(ValueError, match=r"out= has shape \[2, 2\]"):
        clnet.matmul(a, b, out=clnet.empty(2, 2))
    with pytest.raises(TypeError, match="expected out tensor to have dtype float32"):
        clnet.matmul(a, b, out=clnet.empty(3, 5, dtype=clnet.float64))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        clnet.matmul(a.requires_grad_(), b, out=clnet.empty(3, 5))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        torch.matmul(torch.ones(3, 4, requires_grad=True), torch.ones(4, 5),
                     out=torch.empty(3, 5))
