"""RNN / LSTM / GRU and their cells against torch.nn: torch's weights are loaded into the clnet
module (load_state_dict), then outputs, final states, input / initial-state gradients and every
parameter gradient are compared for a random upstream gradient.

float32 tolerances: rtol 1e-4 / atol 1e-5 for outputs and gradients (a few rounded float32 GEMMs
and OpenCL exp/tanh, within a few ULP, per step; the recurrences here are short); second
derivatives (create_graph through the cells) rtol 1e-3 / atol 1e-4.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import clnet
from grad_helpers import check_grad_parity

TOL = dict(rtol=1e-4, atol=1e-5)
I, H = 5, 6


def _close(name, got, want):
    got = got.detach().numpy() if isinstance(got, clnet.Tensor) else got
    np.testing.assert_allclose(got, want.detach().numpy(), err_msg=name, **TOL)


def _twins(cls, *args, **kw):
    """(clnet module, torch module) with torch's initial weights copied into clnet."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls)(*args, **kw)
        cm = getattr(clnet.nn, cls)(*args, **kw)
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


def _leaf(a, m):
    return (clnet.tensor(a) if m is clnet else torch.tensor(a)).requires_grad_(True)


def _flat_out(out):
    if isinstance(out, tuple):
        r = []
        for o in out:
            r += _flat_out(o)
        return r
    return [out]


def _compare_run(cm, tm, x, states=None, seed=1):
    """Forward both with leaves x (and states), backward a random upstream gradient through
    every output, compare outputs and all gradients."""
    rng = np.random.default_rng(seed)
    cx, tx = _leaf(x, clnet), _leaf(x, torch)
    if states is None:
        c_out, t_out = cm(cx), tm(tx)
        cs = ts = []
    elif isinstance(states, tuple):
        cs, ts = [_leaf(s, clnet) for s in states], [_leaf(s, torch) for s in states]
        c_out, t_out = cm(cx, tuple(cs)), tm(tx, tuple(ts))
    else:
        cs, ts = [_leaf(states, clnet)], [_leaf(states, torch)]
        c_out, t_out = cm(cx, cs[0]), tm(tx, ts[0])
    c_flat, t_flat = _flat_out(c_out), _flat_out(t_out)
    assert len(c_flat) == len(t_flat)
    ups = []
    for k, (c, t) in enumerate(zip(c_flat, t_flat)):
        assert tuple(c.shape) == tuple(t.shape), f"output {k}: {c.shape} vs {t.shape}"
        _close(f"output {k}", c, t)
        ups.append(rng.standard_normal(tuple(t.shape)).astype(np.float32))
    clnet.autograd.backward(c_flat, [clnet.tensor(u) for u in ups])
    torch.autograd.backward(t_flat, [torch.tensor(u) for u in ups])
    _close("input grad", cx.grad, tx.grad)
    for k, (c, t) in enumerate(zip(cs, ts)):
        _close(f"state {k} grad", c.grad, t.grad)
    for (name, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        _close(f"grad of {name}", cp.grad, tp.grad)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


MODES = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]
VARIANTS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True},
    {"bias": False},
]


@pytest.mark.parametrize("cls,mkw", MODES, ids=lambda v: str(v))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: str(v) or "plain")
def test_sequence_layers_match_torch(cls, mkw, variant):
    cm, tm = _twins(cls, I, H, **mkw, **variant)
    _compare_run(cm, tm, _x(7, 3, I))


@pytest.mark.parametrize("cls,mkw", MODES, ids=lambda v: str(v))
def test_batch_first_unbatched_and_given_states(cls, mkw):
    D, Lyr = 2, 2
    cm, tm = _twins(cls, I, H, num_layers=Lyr, bidirectional=True, batch_first=True, **mkw)
    lstm = cls == "LSTM"
    h0 = _x(Lyr * D, 4, H, seed=2)
    states = (h0, _x(Lyr * D, 4, H, seed=3)) if lstm else h0
    _compare_run(cm, tm, _x(4, 5, I), states)            # batch_first: (N, L, H_in)
    cm.zero_grad(), tm.zero_grad()
    _compare_run(cm, tm, _x(5, I))                        # unbatched (L, H_in), zero states
    cm.zero_grad(), tm.zero_grad()
    h0 = _x(Lyr * D, H, seed=4)
    states = (h0, _x(Lyr * D, H, seed=5)) if lstm else h0
    _compare_run(cm, tm, _x(5, I), states)                # unbatched with 2-D states


@pytest.mark.parametrize("cls,mkw", MODES, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", [8, 11, 20])
def test_hidden_sizes_across_the_cell_vector_width(cls, mkw, hidden):
    """The cell kernels compute runs of 8 float32 elements in vectors and the rest scalar
    (cl_kernels/rnn.cl): hidden sizes at, past and between multiples of the run."""
    cm, tm = _twins(cls, I, hidden, bidirectional=True, batch_first=True, **mkw)
    _compare_run(cm, tm, _x(3, 6, I), (_x(2, 3, hidden, seed=2), _x(2, 3, hidden, seed=3))
                 if cls == "LSTM" else _x(2, 3, hidden, seed=2))


def test_gru_layer_in_float64():
    """float64 runs use 4-wide vectors: hidden 6 = one run and a tail of 2."""
    torch.manual_seed(0)
    tm = torch.nn.GRU(I, H, batch_first=True).double()
    cm = clnet.nn.GRU(I, H, batch_first=True).double()
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, I))
    cx, tx = clnet.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    co, ch = cm(cx)
    to, th = tm(tx)
    np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    (co.sum() + (ch * ch).sum()).backward()
    (to.sum() + (th * th).sum()).backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=n)


def test_lstm_projection():
    cm, tm = _twins("LSTM", I, H, num_layers=2, proj_size=3, bidirectional=True)
    assert tuple(cm.weight_hr_l1_reverse.shape) == (3, H)
    _compare_run(cm, tm, _x(6, 2, I), (_x(4, 2, 3, seed=2), _x(4, 2, H, seed=3)))


def test_long_sequence_backward():
    """300 steps: the graph is deep (thousands of nodes); the engine is iterative."""
    cm, tm = _twins("LSTM", 3, 4)
    _compare_run(cm, tm, _x(300, 2, 3))


def test_parameter_layout_and_init():
    m = clnet.nn.LSTM(I, H, num_layers=2, bidirectional=True)
    assert tuple(m.weight_ih_l0.shape) == (4 * H, I)
    assert tuple(m.weight_ih_l1.shape) == (4 * H, 2 * H)
    assert tuple(m.weight_hh_l1_reverse.shape) == (4 * H, H)
    assert tuple(m.bias_hh_l0_reverse.shape) == (4 * H,)
    assert len(m.all_weights) == 4 and len(m._flat_weights) == 16
    g = clnet.nn.GRU(I, 64)
    bound = 1 / math.sqrt(64)
    w = np.concatenate([p.detach().numpy().ravel() for p in g.parameters()])
    assert w.min() >= -bound and w.max() <= bound
    # U(-b, b) has std b / sqrt(3): 3 * 64 * (5 + 64 + 2) samples, so 5% is generous
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert repr(clnet.nn.GRU(I, H, num_layers=2, batch_first=True)) == \
        repr(torch.nn.GRU(I, H, num_layers=2, batch_first=True))


def test_dropout_between_layers_only_in_training():
    cm, tm = _twins("LSTM", I, H, num_layers=2, dropout=0.5)
    x = _x(4, 3, I)
    cm.eval(), tm.eval()
    _compare_run(cm, tm, x)
    cm.train()
    clnet.manual_seed(3)
    a = cm(clnet.tensor(x))[0].detach().numpy()
    clnet.manual_seed(3)
    b = cm(clnet.tensor(x))[0].detach().numpy()
    np.testing.assert_array_equal(a, b)                   # reproducible under manual_seed
    assert not np.allclose(a, tm(torch.tensor(x))[0].detach().numpy(), **TOL)
    # p = 1 zeroes the second layer's input: its output is the zero-input recurrence
    cm.dropout = 1.0
    out = cm(clnet.tensor(x))[0]
    l1 = torch.nn.LSTM(H, H)
    l1.load_state_dict({k[:-1] + "0": v for k, v in tm.state_dict().items() if k.endswith("l1")})
    _close("p=1 output", out, l1(torch.zeros(4, 3, H))[0])


CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
         ("GRUCell", {}), ("GRUCell", {"bias": False})]


def _cell_run(cm, tm, x, states):
    cx, tx = _leaf(x, clnet), _leaf(x, torch)
    cs = None if states is None else [_leaf(s, clnet) for s in states]
    ts = None if states is None else [_leaf(s, torch) for s in states]
    if isinstance(cm, clnet.nn.LSTMCell):
        c_out = cm(cx, None if cs is None else tuple(cs))
        t_out = tm(tx, None if ts is None else tuple(ts))
    else:
        c_out = cm(cx, None if cs is None else cs[0])
        t_out = tm(tx, None if ts is None else ts[0])
    c_flat, t_flat = _flat_out(c_out), _flat_out(t_out)
    rng = np.random.default_rng(7)
    ups = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in t_flat]
    for k, (c, t) in enumerate(zip(c_flat, t_flat)):
        _close(f"output {k}", c, t)
    clnet.autograd.backward(c_flat, [clnet.tensor(u) for u in ups])
    torch.autograd.backward(t_flat, [torch.tensor(u) for u in ups])
    _close("input grad", cx.grad, tx.grad)
    for k, (c, t) in enumerate(zip(cs or [], ts or [])):
        _close(f"state {k} grad", c.grad, t.grad)
    for (name, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        _close(f"grad of {name}", cp.grad, tp.grad)


@pytest.mark.parametrize("cls,kw", CELLS, ids=lambda v: str(v))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given", [True, False])
def test_cells_match_torch(cls, kw, batched, given):
    cm, tm = _twins(cls, I, H, **kw)
    lead = (4,) if batched else ()
    n_states = 2 if cls == "LSTMCell" else 1
    states = [_x(*lead, H, seed=s) for s in range(2, 2 + n_states)] if given else None
    _cell_run(cm, tm, _x(*lead, I), states)


@pytest.mark.parametrize("cls", ["LSTMCell", "GRUCell"])
def test_cell_second_derivatives(cls):
    """create_graph through the fused cell takes its composite backward."""
    cm, tm = _twins(cls, 3, 4)
    weights = {n: p.detach().numpy() for n, p in tm.named_parameters()}

    def fn(m, x, h, c):
        cell = getattr(m.nn, cls)(3, 4)
        with m.no_grad():
            for n, p in cell.named_parameters():
                p.copy_(m.tensor(weights[n]))
        if cls == "LSTMCell":
            return cell(x, (h, c))
        return cell(x, h) * c
    check_grad_parity(fn, _x(2, 3), _x(2, 4, seed=1), _x(2, 4, seed=2), second=True)


def test_gradient_of_gradient_through_lstm_sequence():
    cm, tm = _twins("LSTM", 2, 3)
    weights = {n: p.detach().numpy() for n, p in tm.named_parameters()}

    def fn(m, x):
        lstm = m.nn.LSTM(2, 3)
        with m.no_grad():
            for n, p in lstm.named_parameters():
                p.copy_(m.tensor(weights[n]))
        return lstm(x)[0]
    check_grad_parity(fn, _x(4, 2, 2), second=True)


@pytest.mark.parametrize("cls,mkw", MODES[1:3], ids=lambda v: str(v))   # GRU, tanh RNN
def test_gradient_of_gradient_through_gru_and_rnn_sequences(cls, mkw):
    cm, tm = _twins(cls, 2, 3, **mkw)
    weights = {n: p.detach().numpy() for n, p in tm.named_parameters()}

    def fn(m, x):
        gru = getattr(m.nn, cls)(2, 3, bidirectional=True, **mkw)
        with m.no_grad():
            for n, p in gru.named_parameters():
                p.copy_(m.tensor(weights[n.replace("_reverse", "")]))
        return gru(x)[0]
    check_grad_parity(fn, _x(4, 2, 2), second=True)


def test_no_grad_records_nothing():
    m = clnet.nn.GRU(I, H, num_layers=2)
    with clnet.no_grad():
        out, h = m(clnet.tensor(_x(3, 2, I)))
    assert out.grad_fn is None and not out.requires_grad and h.grad_fn is None


def test_errors():
    lstm = clnet.nn.LSTM(I, H, num_layers=2)
    with pytest.raises(ValueError, match=r"input.size\(-1\) must be equal to input_size. "
                                         r"Expected 5, got 4"):
        lstm(clnet.zeros(3, 2, 4))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        lstm(clnet.zeros(3, 2, 1, I))
    with pytest.raises(ValueError, match=r"Expected hidden\[0\] size \(2, 2, 6\), got \[1, 2, 6\]"):
        lstm(clnet.zeros(3, 2, I), (clnet.zeros(1, 2, H), clnet.zeros(2, 2, H)))
    with pytest.raises(ValueError, match=r"Expected hidden\[1\] size \(2, 2, 6\), got \[2, 3, 6\]"):
        lstm(clnet.zeros(3, 2, I), (clnet.zeros(2, 2, H), clnet.zeros(2, 3, H)))
    gru = clnet.nn.GRU(I, H)
    with pytest.raises(ValueError, match="For unbatched 2-D input, hidden should also be 2-D but "
                                         "got 3-D"):
        gru(clnet.zeros(3, I), clnet.zeros(1, 1, H))
    with pytest.raises(ValueError, match="For batched 3-D input, hidden should also be 3-D"):
        gru(clnet.zeros(3, 2, I), clnet.zeros(1, H))
    with pytest.raises(ValueError, match=r"Expected hidden size \(1, 2, 6\), got \[1, 2, 7\]"):
        gru(clnet.zeros(3, 2, I), clnet.zeros(1, 2, 7))
    with pytest.raises(ValueError, match="dtype"):
        gru(clnet.zeros(3, 2, I, dtype=clnet.float64))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        clnet.nn.RNN(I, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        clnet.nn.GRU(I, H, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        clnet.nn.LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        clnet.nn.LSTM(I, H, dropout=1.5)
    with pytest.raises(TypeError, match="hidden_size should be of type int"):
        clnet.nn.LSTM(I, 2.0)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        clnet.nn.GRU(I, H, dropout=0.2)
    cell = clnet.nn.LSTMCell(I, H)
    with pytest.raises(ValueError, match="input has inconsistent input_size: got 4 expected 5"):
        cell(clnet.zeros(2, 4))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(clnet.zeros(1, 2, I))
    with pytest.raises(ValueError, match=r"hidden\[1\] of shape \[2, 5\] does not match"):
        cell(clnet.zeros(2, I), (clnet.zeros(2, H), clnet.zeros(2, 5)))
