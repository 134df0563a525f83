"""Building blocks of recurrent layers (clnet.nn.RNN / LSTM / GRU and their cells).

- ``lstm_cell(gates, c_prev)`` and ``gru_cell(gi, gh, h)``: the elementwise part of one time
  step as one kernel (cl_kernels/rnn.cl, launched by clnet/kernels/rnn.py) with a fused
  backward kernel; when the backward itself
  is recorded (``create_graph=True``) it is written with differentiable ops instead, so second
  derivatives work. ``lstm_step``: an LSTM step (GEMM + cell) as one graph node.
- The whole-sequence layers built on these kernels are in clnet/nn/rnn_sequence.py.
- ``time_steps(x)``: the (L, ...) tensor as L views with ONE backward node (a stack of the step
  gradients), where L ``select`` calls would each scatter into a zero-filled tensor of x's size.

None of these is a PyTorch name: the modules in clnet/nn/modules/rnn.py are the public face.
"""
from .. import graph
from ..kernels.layout import same_device
from ..kernels.rnn import gru_cell_bwd, gru_cell_fwd, lstm_cell_bwd, lstm_cell_fwd
from ..tensor import Tensor
from .copy import contiguous
from .join import cat, stack
from .linalg import addmm, mm
from .pointwise import sigmoid, tanh  # type: ignore[attr-defined]  # made by a loop in ops
from .views import _view, split

__all__ = []


def _check(op, *tensors):
    same_device(op, *tensors)
    dt = tensors[0].dtype
    for t in tensors:
        if t.dtype != dt or not dt.is_floating_point:
            raise TypeError(f"{op}: expected floating-point tensors of one dtype, got "
                            + ", ".join(f"{x.dtype} {list(x._shape)}" for x in tensors))
        if t.dim() != 2:
            raise ValueError(f"{op}: expected 2-D (batch, features) tensors, got shapes "
                             + ", ".join(str(list(x._shape)) for x in tensors))
    return tensors[0]._storage.device, dt


def row_operand(t):
    """(tensor, element offset, row stride) of a 2-D operand whose columns are contiguous
    (copied to contiguous otherwise, a recorded copy): the cell kernels' row operands."""
    if t._shape[1] > 1 and t._stride[1] != 1:
        t = contiguous(t)
    return t, t._offset, t._stride[0]


# ------------------------------------------------------------------ LSTM
def _lstm_shapes(op, gates, c_prev):
    N, H = c_prev._shape
    if gates._shape != (N, 4 * H):
        raise ValueError(f"{op}: gates of shape {list(gates._shape)} do not match the cell state "
                         f"{list(c_prev._shape)} (expected [{N}, {4 * H}])")
    return N, H


def lstm_cell(gates, c_prev):
    """(h, c) of one LSTM step from the pre-activation gates (N, 4H) in PyTorch's order i, f, g,
    o and the previous cell state (N, H): c = f * c_prev + i * g, h = o * tanh(c)."""
    dev, dt = _check("lstm_cell", gates, c_prev)
    N, H = _lstm_shapes("lstm_cell", gates, c_prev)
    g, c = row_operand(gates), row_operand(c_prev)
    h_out = Tensor._empty((N, H), dt, dev)
    c_out = Tensor._empty((N, H), dt, dev)
    if N * H:
        lstm_cell_fwd(dev, dt, N, H)(g, c, h_out, c_out, 0, 0)
    if graph.recording(gates, c_prev):
        gates, c_prev = g[0], c[0]

        def backward(gh, gc):
            if graph.mode.grad_enabled:
                return _lstm_grads_composite(gates, c_prev, gh, gc)
            return _lstm_grads_fused(gates, c_prev, gh, gc)
        graph.record("LstmCellBackward0", (h_out, c_out), (gates, c_prev), backward,
                     saved=(gates, c_prev))
    return h_out, c_out


def _lstm_grads_fused(gates, c_prev, gh, gc):
    dev, dt = gates._storage.device, gates.dtype
    N, H = c_prev._shape
    dgates = Tensor._empty((N, 4 * H), dt, dev)
    dc = Tensor._empty((N, H), dt, dev)
    if N * H:
        lstm_cell_bwd(dev, dt, N, H)(row_operand(gates), row_operand(c_prev), row_operand(gh),
                                     row_operand(gc), dgates, dc, 0)
    return dgates, dc


def _lstm_grads_composite(gates, c_prev, gh, gc):
    """The same gradients as lstm_cell_bwd, with differentiable ops (for create_graph)."""
    H = c_prev._shape[1]
    a_i, a_f, a_g, a_o = split(gates, H, 1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)
    tc = tanh(f * c_prev + i * g)
    dc = gc + gh * o * (1 - tc * tc)
    dgates = cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                  gh * tc * o * (1 - o)], 1)
    return dgates, dc * f


def lstm_step(x_part, h, c, w_hh):
    """One LSTM time step as ONE graph node: gates = x_part + h @ w_hh^T (x_part: that step's
    input projection with the biases, (N, 4H)), then the fused cell. Its backward gives
    d x_part = d gates (no copy), d h = d gates @ w_hh, d w_hh = d gates^T @ h, skipping the
    scale-by-alpha/beta products a generic addmm node pays for."""
    _check("lstm_step", x_part, h, c, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        gates = addmm(x_part, h, w_hh.t())
        h_out, c_out = lstm_cell(gates, c)
    finally:
        graph.set_grad_enabled_flag(prev)
    if graph.recording(x_part, h, c, w_hh):
        def backward(gh, gc):
            if graph.mode.grad_enabled:      # create_graph: everything differentiable
                g = addmm(x_part, h, w_hh.t())
                dgates, dc = _lstm_grads_composite(g, c, gh, gc)
            else:
                dgates, dc = _lstm_grads_fused(gates, c, gh, gc)
            return (dgates, mm(dgates, w_hh) if h.requires_grad else None, dc,
                    mm(dgates.t(), h) if w_hh.requires_grad else None)
        graph.record("LstmStepBackward0", (h_out, c_out), (x_part, h, c, w_hh), backward,
                     saved=(x_part, h, c, w_hh))
    return h_out, c_out


# ------------------------------------------------------------------ GRU
def gru_cell(gi, gh, h):
    """h' of one GRU step from the input part gi = x W_ih^T + b_ih (N, 3H), the hidden part
    gh = h W_hh^T + b_hh (N, 3H) (PyTorch's order r, z, n) and the previous state h (N, H)."""
    dev, dt = _check("gru_cell", gi, gh, h)
    N, H = h._shape
    if gi._shape != (N, 3 * H) or gh._shape != (N, 3 * H):
        raise ValueError(f"gru_cell: gate shapes {list(gi._shape)} and {list(gh._shape)} do not "
                         f"match the hidden state {list(h._shape)} (expected [{N}, {3 * H}])")
    a, b, hp = row_operand(gi), row_operand(gh), row_operand(h)
    out = Tensor._empty((N, H), dt, dev)
    if N * H:
        gru_cell_fwd(dev, dt, N, H)(a, b, hp, out, 0)
    if graph.recording(gi, gh, h):
        gi, gh, h = a[0], b[0], hp[0]

        def backward(g):
            if graph.mode.grad_enabled:
                return _gru_grads_composite(gi, gh, h, g)
            return _gru_grads_fused(gi, gh, h, g)
        graph.record("GruCellBackward0", out, (gi, gh, h), backward, saved=(gi, gh, h))
    return out


def _gru_grads_fused(gi, gh, h, g):
    dev, dt = h._storage.device, h.dtype
    N, H = h._shape
    dgi = Tensor._empty((N, 3 * H), dt, dev)
    dgh = Tensor._empty((N, 3 * H), dt, dev)
    dh = Tensor._empty((N, H), dt, dev)
    if N * H:
        gru_cell_bwd(dev, dt, N, H)(row_operand(gi), row_operand(gh), row_operand(h),
                                    row_operand(g), dgi, dgh, 0, dh)
    return dgi, dgh, dh


def _gru_grads_composite(gi, gh, h, g):
    H = h._shape[1]
    a_r, a_z, a_n = split(gi, H, 1)
    b_r, b_z, b_n = split(gh, H, 1)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = tanh(a_n + r * b_n)
    dn = g * (1 - z) * (1 - n * n)
    dz = g * (h - n) * z * (1 - z)
    dr = dn * b_n * r * (1 - r)
    return cat([dr, dz, dn], 1), cat([dr, dz, dn * r], 1), g * z


# ------------------------------------------------------------------ time steps
def time_steps(x):
    """x (L, ...) as a tuple of L views x[t]; their gradients are stacked back in one node."""
    L = x._shape[0]
    shape, stride = x._shape[1:], x._stride[1:]
    steps = tuple(_view(x, shape, stride, x._offset + t * x._stride[0]) for t in range(L))
    if L and graph.recording(x):
        def backward(*grads):
            return (stack(grads, 0),)
        graph.record("UnbindBackward0", steps, (x,), backward)
    return steps
