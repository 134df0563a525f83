"""lgamma's derivatives: digamma (a public op, torch.digamma) and trigamma (digamma's derivative,
torch.polygamma(1, x)), against torch: values, first and second derivatives of lgamma, poles.

Tolerances: float32 rtol 1e-5 / atol 1e-6 (a recurrence of up to 10 steps plus a series, and the
reflection's pi/tan(pi x) for negative x); float64 rtol 1e-9 (torch's own polygamma(1, x) is only
good to ~5e-10: at x = 1 it returns 1.64493406764 for pi^2/6 = 1.64493406685)."""
import math

import numpy as np
import pytest
import torch

import clnet

X = np.array([-3.7, -2.5, -1.2, -0.5, 1e-3, 0.3, 0.5, 1.0, 1.4616, 2.5, 7.3, 9.99, 10.0, 12.5,
              100.0, 1e4, 1e7])


def _tol(dt):
    return dict(rtol=1e-5, atol=1e-6) if dt == np.float32 else dict(rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_digamma_and_lgamma_gradient_match_torch(dt):
    a = X.astype(dt)
    np.testing.assert_allclose(clnet.tensor(a).digamma().numpy(),
                               torch.tensor(a).digamma().numpy(), **_tol(dt))
    np.testing.assert_allclose(clnet.digamma(clnet.tensor(a)).numpy(),
                               torch.digamma(torch.tensor(a)).numpy(), **_tol(dt))
    c, t = clnet.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (c.lgamma() * 2).sum().backward()
    (t.lgamma() * 2).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), **_tol(dt))


def test_trigamma_is_digammas_gradient():
    a = X.astype(np.float64)
    c = clnet.tensor(a, requires_grad=True)
    c.digamma().sum().backward()
    want = torch.polygamma(1, torch.tensor(a)).numpy()
    np.testing.assert_allclose(c.grad.numpy(), want, rtol=1e-9)
    np.testing.assert_allclose(c.grad.numpy()[7], math.pi ** 2 / 6, rtol=1e-13)   # x = 1


def test_second_derivative_of_lgamma():
    def grads(m):
        x = m.tensor([0.7, 2.0, 5.5], dtype=m.float64, requires_grad=True)
        g, = m.autograd.grad(m.lgamma(x).sum(), x, create_graph=True)
        gg, = m.autograd.grad((g * g).sum(), x)
        return g.detach().numpy(), gg.numpy()
    for c, t in zip(grads(clnet), grads(torch)):
        np.testing.assert_allclose(c, t, rtol=1e-8)


def test_poles_and_the_third_derivative():
    x = clnet.tensor([0.0, -1.0, -2.0], requires_grad=True)
    d = x.digamma()
    np.testing.assert_array_equal(d.detach().numpy(), torch.tensor([0.0, -1.0, -2.0]).digamma())
    d.sum().backward()
    assert np.all(np.isinf(x.grad.numpy()))         # trigamma has poles there too
    y = clnet.tensor([1.5], dtype=clnet.float64, requires_grad=True)
    g, = clnet.autograd.grad(y.lgamma().sum(), y, create_graph=True)
    gg, = clnet.autograd.grad(g.sum(), y, create_graph=True)
    with pytest.raises(RuntimeError, match="polygamma of order 2"):
        clnet.autograd.grad(gg.sum(), y)
