"""LSTM and GRU layers on both per-step paths against torch.nn: the fused step kernels (one
launch per time step each way, rnn.cl built with RNN_STEP: CPU drivers' default) and the
GEMM + cell launches (GPUs' default), each forced with ``kernels.rnn.FUSED_STEPS``.

Shapes cross the step kernels' blocks: batch sizes around the row block (1, 4, 5, 33), hidden
sizes around the vector width and the backward's two-vector block (1, 7, 16, 37, 40), prime
sizes; gradients arrive in odd layouts (a transposed upstream gradient, an expanded one).
float32 tolerances as tests/nn/test_rnn.py; float64 rtol 1e-10.
"""
import warnings

import numpy as np
import pytest
import torch

import clnet
from clnet.kernels import rnn as rnn_kernels

PATHS = [True, False]


@pytest.fixture(params=PATHS, ids=["fused", "gemm+cell"])
def path(request, monkeypatch):
    monkeypatch.setattr(rnn_kernels, "FUSED_STEPS", request.param)
    return request.param


def _twins(cls, dtype, *args, **kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls)(*args, **kw).to(getattr(torch, dtype))
        cm = getattr(clnet.nn, cls)(*args, **kw, dtype=getattr(clnet, dtype))
    cm.load_state_dict({k: clnet.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


def _run(cls, L, N, I, H, dtype="float32", states=True, odd_grads=False, **kw):
    cm, tm = _twins(cls, dtype, I, H, **kw)
    rng = np.random.default_rng(1)
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    x = rng.standard_normal((N, L, I) if bf else (L, N, I)).astype(dtype)
    cx, tx = clnet.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hx = [rng.standard_normal((layers * D, N, H)).astype(dtype) for _ in range(2)]
    ch = [clnet.tensor(a, requires_grad=True) for a in hx]
    th = [torch.tensor(a, requires_grad=True) for a in hx]
    lstm = cls == "LSTM"
    if states:
        c_out = cm(cx, tuple(ch) if lstm else ch[0])
        t_out = tm(tx, tuple(th) if lstm else th[0])
    else:
        c_out, t_out = cm(cx), tm(tx)
    c_flat = [c_out[0]] + (list(c_out[1]) if lstm else [c_out[1]])
    t_flat = [t_out[0]] + (list(t_out[1]) if lstm else [t_out[1]])
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for i, (c, t) in enumerate(zip(c_flat, t_flat)):
        np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), err_msg=f"out {i}",
                                   **tol)
    up = rng.standard_normal(tuple(t_out[0].shape)).astype(dtype)
    if odd_grads:
        # the output's gradient reaches the layer transposed (unit stride on the batch axis),
        # the last h's as an expanded scalar gradient (zero strides)
        upt = np.ascontiguousarray(up.transpose(2, 1, 0))
        c_loss = (c_out[0].transpose(0, 2) * clnet.tensor(upt)).sum() + c_flat[1].sum()
        t_loss = (t_out[0].transpose(0, 2) * torch.tensor(upt)).sum() + t_flat[1].sum()
    else:
        c_loss = (c_out[0] * clnet.tensor(up)).sum() + (c_flat[1] * c_flat[1]).sum()
        t_loss = (t_out[0] * torch.tensor(up)).sum() + (t_flat[1] * t_flat[1]).sum()
        if lstm:
            c_loss = c_loss + (c_flat[2] * 3).sum()
            t_loss = t_loss + (t_flat[2] * 3).sum()
    c_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), err_msg="d input", **tol)
    if states:
        for i in range(2 if lstm else 1):
            np.testing.assert_allclose(ch[i].grad.numpy(), th[i].grad.numpy(),
                                       err_msg=f"d state {i}", **tol)
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), err_msg=n, **tol)


SIZES = [(1, 1, 1, 1), (3, 1, 2, 7), (4, 5, 3, 16), (2, 4, 5, 37), (3, 33, 4, 40)]


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
@pytest.mark.parametrize("L,N,I,H", SIZES)
def test_sizes_across_the_step_blocks(path, cls, L, N, I, H):
    _run(cls, L, N, I, H)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
@pytest.mark.parametrize("kw", [dict(bidirectional=True, batch_first=True),
                                dict(num_layers=2, bias=False),
                                dict(num_layers=2, bidirectional=True, dropout=0.0)],
                         ids=str)
def test_layouts_and_stacks(path, cls, kw):
    _run(cls, 5, 3, 4, 11, **kw)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_gradients_in_odd_layouts_and_zero_states(path, cls):
    _run(cls, 4, 6, 3, 17, odd_grads=True, bidirectional=True)
    _run(cls, 4, 6, 3, 17, states=False, batch_first=True)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_float64(path, cls):
    if not clnet.default_device().has_fp64:
        pytest.skip("the device has no float64")
    _run(cls, 4, 5, 3, 13, dtype="float64", bidirectional=True, batch_first=True)


def test_input_projection_of_a_strided_view(path):
    """An input projection that is a step slice of a bigger tensor (a row stride of its own)."""
    from clnet.nn.rnn_sequence import gru_layer, lstm_layer
    rng = np.random.default_rng(3)
    L, N, H = 3, 4, 5
    for G, layer in ((4, lstm_layer), (3, gru_layer)):
        big = rng.standard_normal((L, N, 2 * G * H)).astype(np.float32)
        proj = clnet.tensor(big, requires_grad=True)[:, :, 1:1 + G * H]
        h0 = rng.standard_normal((N, H)).astype(np.float32)
        w = (rng.standard_normal((G * H, H)) * 0.3).astype(np.float32)
        dense = clnet.tensor(np.ascontiguousarray(big[:, :, 1:1 + G * H]))
        args = (clnet.tensor(h0),) + ((clnet.tensor(h0),) if G == 4 else ())
        got = layer(proj, *args, clnet.tensor(w))[0]
        want = layer(dense, *args, clnet.tensor(w))[0]
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls,G", [("LSTM", 4), ("GRU", 3)])
def test_one_launch_per_step_each_way(monkeypatch, cls, G):
    """The fused path issues one step launch per time step forward and one backward (plus a
    fixed number per sequence: weight packing, the state copies, the weight gradient)."""
    monkeypatch.setattr(rnn_kernels, "FUSED_STEPS", True)
    dev = clnet.default_device()
    counts = []
    for L in (4, 12):
        m = getattr(clnet.nn, cls)(3, 8)
        x = clnet.randn(L, 2, 3)
        out = m(x)[0]
        n0 = dev.launches
        m(x)[0].sum().backward()
        counts.append(dev.launches - n0)
    assert counts[1] - counts[0] == 2 * 8, counts


@pytest.mark.parametrize("per_cu", [1, 2, 1000])
@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_unit_blocks_per_work_item(monkeypatch, cls, per_cu):
    """Work-items looping over several blocks of hidden units (``ub``), including a last group
    whose blocks run past H (H = 80: five 16-wide blocks taken two or more at a time)."""
    monkeypatch.setattr(rnn_kernels, "FUSED_STEPS", True)
    monkeypatch.setattr(rnn_kernels, "STEP_GROUPS_PER_CU", per_cu)
    monkeypatch.setattr(rnn_kernels, "_step_cache", {})
    _run(cls, 3, 8, 4, 80)
    _run(cls, 2, 33, 3, 37, bidirectional=True)


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_batch_first_output_is_written_batch_first(cls):
    """A one-direction batch_first module's last layer stores its output (N, L, H)-contiguous
    on the fused path (the steps' second store), so the caller's view needs no copy; values and
    gradients as torch's whatever the path."""
    m = getattr(clnet.nn, cls)(3, 5, num_layers=2, batch_first=True)
    out = m(clnet.randn(4, 6, 3))[0]
    assert out.shape == (4, 6, 5)
    assert out.is_contiguous() == rnn_kernels.fused_steps(clnet.default_device())
    _run(cls, 6, 4, 3, 21, batch_first=True, num_layers=2)
