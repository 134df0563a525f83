"""Recurrent layers and cells in float64 (``.double()`` or ``dtype=float64``) against torch in
float64: outputs, final states and gradients of the input, the initial states and every weight.
Tolerances: rtol 1e-10, atol 1e-12 (float64 end to end). On a device without fp64, float64 is
refused with an error that says so."""
import numpy as np
import pytest
import torch

import clnet
from helpers import assert_close

HAS_FP64 = clnet.default_device().has_fp64
TOL = dict(rtol=1e-10, atol=1e-12)

LAYERS = [
    ("LSTM", dict(num_layers=2)),
    ("LSTM", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict(proj_size=3)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(batch_first=True, bias=False)),
    ("RNN", dict(num_layers=2)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
]


def _copy_weights(cm, tm):
    cm.load_state_dict({k: clnet.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _states(kind, tm, batch, rng):
    layers = tm.num_layers * (2 if tm.bidirectional else 1)
    hsize = tm.proj_size if getattr(tm, "proj_size", 0) else tm.hidden_size
    h = rng.standard_normal((layers, batch, hsize))
    if kind == "LSTM":
        return (h, rng.standard_normal((layers, batch, tm.hidden_size)))
    return (h,)


def _fp64_refused():
    with pytest.raises(TypeError, match="float64 is not supported.*cl_khr_fp64"):
        clnet.nn.LSTM(3, 4).double()


@pytest.mark.parametrize("kind,kw", LAYERS)
@pytest.mark.parametrize("how", ["double", "dtype"])
def test_layers_match_torch_in_float64(rng, kind, kw, how):
    if not HAS_FP64:
        return _fp64_refused()
    torch.manual_seed(0)
    if how == "double":
        tm = getattr(torch.nn, kind)(5, 7, **kw).double()
        cm = getattr(clnet.nn, kind)(5, 7, **kw).double()
    else:
        tm = getattr(torch.nn, kind)(5, 7, dtype=torch.float64, **kw)
        cm = getattr(clnet.nn, kind)(5, 7, dtype=clnet.float64, **kw)
    assert all(p.dtype == clnet.float64 for p in cm.parameters())
    _copy_weights(cm, tm)
    T, N = 6, 3
    x = rng.standard_normal((N, T, 5) if tm.batch_first else (T, N, 5))
    states = _states(kind, tm, N, rng)
    # the input transposed in memory: a non-contiguous float64 tensor
    xc = clnet.tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1))).transpose(0, 1)
    xc.requires_grad_(True)
    xt = torch.tensor(x, requires_grad=True)
    sc = [clnet.tensor(s, requires_grad=True) for s in states]
    st = [torch.tensor(s, requires_grad=True) for s in states]
    oc, hc = cm(xc, tuple(sc) if kind == "LSTM" else sc[0])
    ot, ht = tm(xt, tuple(st) if kind == "LSTM" else st[0])
    hc, ht = (hc if kind == "LSTM" else (hc,)), (ht if kind == "LSTM" else (ht,))
    assert oc.dtype == clnet.float64 and all(h.dtype == clnet.float64 for h in hc)
    assert_close(oc, ot.detach().numpy(), **TOL)
    for a, b in zip(hc, ht):
        assert_close(a, b.detach().numpy(), **TOL)
    g = rng.standard_normal(tuple(ot.shape))
    gh = [rng.standard_normal(tuple(h.shape)) for h in ht]
    loss_c = (oc * clnet.tensor(g)).sum() + sum((h * clnet.tensor(w)).sum() for h, w in zip(hc, gh))
    loss_t = (ot * torch.tensor(g)).sum() + sum((h * torch.tensor(w)).sum() for h, w in zip(ht, gh))
    loss_c.backward()
    loss_t.backward()
    assert_close(xc.grad, xt.grad.numpy(), **TOL)
    for a, b in zip(sc, st):
        assert_close(a.grad, b.grad.numpy(), **TOL)
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        assert p.grad.dtype == clnet.float64
        assert_close(p.grad, tparams[name].grad.numpy(), **TOL)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch_in_float64(rng, kind):
    if not HAS_FP64:
        return _fp64_refused()
    torch.manual_seed(1)
    tm = getattr(torch.nn, kind)(5, 7).double()
    cm = getattr(clnet.nn, kind)(5, 7, dtype=clnet.float64)
    _copy_weights(cm, tm)
    x = rng.standard_normal((4, 5))
    states = [rng.standard_normal((4, 7)) for _ in range(2 if kind == "LSTMCell" else 1)]
    xc, xt = clnet.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sc = [clnet.tensor(s, requires_grad=True) for s in states]
    st = [torch.tensor(s, requires_grad=True) for s in states]
    # two steps, so the second step's gradient flows through the first's state
    hc = tuple(sc) if kind == "LSTMCell" else sc[0]
    ht = tuple(st) if kind == "LSTMCell" else st[0]
    for _ in range(2):
        hc, ht = cm(xc, hc), tm(xt, ht)
    outs_c = hc if kind == "LSTMCell" else (hc,)
    outs_t = ht if kind == "LSTMCell" else (ht,)
    for a, b in zip(outs_c, outs_t):
        assert a.dtype == clnet.float64
        assert_close(a, b.detach().numpy(), **TOL)
    sum(o.sum() * (i + 1) for i, o in enumerate(outs_c)).backward()
    sum(o.sum() * (i + 1) for i, o in enumerate(outs_t)).backward()
    assert_close(xc.grad, xt.grad.numpy(), **TOL)
    for a, b in zip(sc, st):
        assert_close(a.grad, b.grad.numpy(), **TOL)
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        assert_close(p.grad, tparams[name].grad.numpy(), **TOL)


def test_mixed_dtypes_are_refused_like_torch():
    if not HAS_FP64:
        return _fp64_refused()
    m = clnet.nn.GRU(3, 4).double()
    with pytest.raises(ValueError, match="input dtype .*float32.* does not match weight dtype"):
        m(clnet.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="input dtype .*float32.* does not match weight dtype"):
        torch.nn.GRU(3, 4).double()(torch.zeros(2, 1, 3))
