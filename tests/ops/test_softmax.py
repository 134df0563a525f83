"""softmax / log_softmax / fused cross-entropy rows against torch (forward, backward, double
backward). float32 tolerances: outputs rtol 1e-5/atol 1e-6 (logits scaled up to +-30; log-softmax
atol 4e-6, one ulp of the ~30-sized lse it subtracts), grads as in tests/grad_helpers.py."""
import numpy as np
import pytest
import torch

import clnet
from clnet.ops.softmax import cross_entropy_rows, log_softmax, softmax
from grad_helpers import check_grad_parity
from helpers import as_noncontiguous


@pytest.fixture(params=[1, 64], ids=["row-per-item", "group-per-row"])
def layout(request, monkeypatch):
    """Both row layouts of softmax.cl on this device (CPU drivers default to 1, GPUs to 64)."""
    monkeypatch.setitem(clnet.default_device().tuning, "softmax.ls", request.param)
    return request.param


@pytest.mark.parametrize("shape,dim", [((4, 7), 1), ((4, 7), 0), ((2, 3, 5), -1), ((2, 3, 5), 1),
                                       ((1, 1), 1), ((3, 130), 1), ((6,), 0), ((0, 4), 1),
                                       ((5, 8), 1), ((2, 9), 1), ((37, 16), 1), ((3, 257), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_forward_matches_torch(shape, dim, log, rng, layout):
    a = (rng.standard_normal(shape) * 10).astype(np.float32)
    f = log_softmax if log else softmax
    tf = torch.log_softmax if log else torch.softmax
    got = f(clnet.tensor(a), dim).numpy()
    np.testing.assert_allclose(got, tf(torch.tensor(a), dim).numpy(), rtol=1e-5,
                               atol=4e-6 if log else 1e-6)


def test_large_logits_are_stable(layout):
    a = np.array([[1000.0, 0.0, -1000.0], [-1e30, -1e30, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(softmax(clnet.tensor(a), 1).numpy(),
                               torch.softmax(torch.tensor(a), 1).numpy(), atol=1e-7)
    np.testing.assert_allclose(log_softmax(clnet.tensor(a), 1).numpy(),
                               torch.log_softmax(torch.tensor(a), 1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_and_infinite_rows_match_torch(dtype, layout):
    # attention's causal mask: rows with -inf tails, a row of -inf only (NaN, as torch), rows
    # with a +inf (inf - inf: all NaN, as torch); lengths across the vector width and remainder
    for n in (1, 3, 16, 19, 64, 67):
        a = np.random.default_rng(n).standard_normal((6, n)).astype(dtype) * 5
        a[1, n // 2 + 1:] = -np.inf
        a[2, :] = -np.inf
        a[3, n - 1] = np.inf
        a[4, 0] = np.inf
        a[4, -1] = -np.inf
        # an offset view: the rows start mid-buffer
        buf = np.concatenate([np.zeros(5, dtype), a.ravel()])
        x = clnet.tensor(buf)[5:].view(6, n)
        np.testing.assert_allclose(softmax(x, 1).numpy(), torch.softmax(torch.tensor(a), 1).numpy(),
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(log_softmax(x, 1).numpy(),
                                   torch.log_softmax(torch.tensor(a), 1).numpy(), rtol=1e-5,
                                   atol=4e-6)


@pytest.mark.parametrize("n", [1, 8, 19, 64, 67])
@pytest.mark.parametrize("log", [False, True])
def test_backward_rows_across_vector_width(n, log, rng, layout):
    # rows shorter than, equal to and past the kernel's vector width; a transposed upstream
    # gradient; -inf entries (zero probability: zero gradient)
    a = (rng.standard_normal((5, n)) * 4).astype(np.float32)
    a[1, n // 2 + 1:] = -np.inf
    up = rng.standard_normal((n, 5)).astype(np.float32)
    name = "log_softmax" if log else "softmax"
    x = clnet.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = getattr(clnet, name)(x, 1), getattr(torch, name)(tx, 1)
    (gx,) = clnet.autograd.grad([y], [x], [clnet.tensor(up).t()])
    (tgx,) = torch.autograd.grad([ty], [tx], [torch.tensor(up).t()])
    np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-5, atol=1e-5)


def test_noncontiguous_input_and_methods(rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    x = as_noncontiguous(a, "transpose")
    np.testing.assert_allclose(x.softmax(0).numpy(), torch.tensor(a).softmax(0).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clnet.log_softmax(x, dim=-1).numpy(),
                               torch.tensor(a).log_softmax(-1).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("log", [False, True])
def test_grads_and_second_derivatives(dim, log, rng, layout):
    a = rng.standard_normal((3, 4, 11)).astype(np.float32)
    name = "log_softmax" if log else "softmax"
    check_grad_parity(lambda m, x: getattr(m, name)(x, dim) * x, a, second=True)


def test_int_input_needs_dtype():
    with pytest.raises(TypeError, match="floating-point"):
        softmax(clnet.tensor([1, 2]), 0)
    np.testing.assert_allclose(softmax(clnet.tensor([1, 2]), 0, dtype=clnet.float32).numpy(),
                               torch.softmax(torch.tensor([1.0, 2.0]), 0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("classes", [5, 8, 19, 128])
def test_cross_entropy_rows_match_torch(weighted, eps, classes, rng, layout):
    rows = 11
    a = (rng.standard_normal((rows, classes)) * 4).astype(np.float32)
    t = rng.integers(0, classes, rows)
    t[3] = -100
    w = rng.uniform(0.5, 2.0, classes).astype(np.float32) if weighted else None
    x = clnet.tensor(a, requires_grad=True)
    loss, wrow = cross_entropy_rows(x, clnet.tensor(t), None if w is None else clnet.tensor(w),
                                    -100, eps)
    tx = torch.tensor(a, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=None if w is None else
                                           torch.tensor(w), reduction="none", label_smoothing=eps)
    np.testing.assert_allclose(loss.detach().numpy(), tl.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(rows).astype(np.float32)
    loss.backward(clnet.tensor(g))
    tl.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    expected_w = np.where(t == -100, 0.0, 1.0 if w is None else w[np.clip(t, 0, None)])
    np.testing.assert_allclose(wrow.numpy(), expected_w, rtol=1e-6)


def test_cross_entropy_rows_double_backward(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 2])

    def f(m, x):
        if m is clnet:
            loss, _ = cross_entropy_rows(x, clnet.tensor(t), None, -100, 0.1)
            return loss
        return torch.nn.functional.cross_entropy(x, torch.tensor(t), reduction="none",
                                                 label_smoothing=0.1)
    check_grad_parity(f, a, second=True)
