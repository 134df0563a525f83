"""Building blocks of recurrent layers (clnet.nn.RNN / LSTM / GRU and their cells).

- ``lstm_cell(gates, c_prev)`` and ``gru_cell(gi, gh, h)``: the elementwise part of one time
  step as one kernel (cl_kernels/rnn.cl) with a fused backward kernel; when the backward itself
  is recorded (``create_graph=True``) it is written with differentiable ops instead, so second
  derivatives work.
- ``lstm_layer`` / ``gru_layer`` / ``rnn_layer``: one direction of a layer over a whole sequence as ONE graph
  node (per step a GEMM and a cell kernel writing into whole-sequence buffers).
- ``time_steps(x)``: the (L, ...) tensor as L views with ONE backward node (a stack of the step
  gradients), where L ``select`` calls would each scatter into a zero-filled tensor of x's size.

None of these is a PyTorch name: the modules in clnet/nn/modules/rnn.py are the public face.
"""
import numpy as np

from .. import graph
from ..backend.programs import get_program
from ..tensor import Tensor
from ._layout import launch_1d, same_device
from .copy import contiguous

__all__ = []
TENSOR_METHODS = {}

_I32 = np.int32


def _vector_width(dt):
    """Hidden units per LSTM work-item: 256 bits of them (see cl_kernels/rnn.cl)."""
    return 32 // dt.itemsize


def _program(dev, dt):
    key = ("rnn", dt.cl)
    prg = dev.programs.get(key)
    if prg is None:
        prg = dev.programs[key] = get_program(dev, "rnn", (("T", dt.cl),
                                                           ("VW", _vector_width(dt))))
    return prg


def _cell_items(N, H, dt):
    """Work-items of the cell kernels: one per run of VW hidden units of a row."""
    vw = _vector_width(dt)
    return N * -(-H // vw)


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


def _rows(t):
    """(tensor, element offset, row stride) of a 2-D operand whose columns are contiguous
    (copied to contiguous otherwise)."""
    if t._shape[1] > 1 and t._stride[1] != 1:
        t = contiguous(t)
    return t, t._offset, t._stride[0]


def _args(*ops):
    out = []
    for t, off, row in ops:
        out += [t._storage.buffer, _I32(off), _I32(row)]
    return out


# ------------------------------------------------------------------ LSTM
def _lstm_shapes(op, gates, c_prev):
    N, H = c_prev._shape
    if gates._shape != (N, 4 * H):
        raise ValueError(f"{op}: gates of shape {list(gates._shape)} do not match the cell state "
                         f"{list(c_prev._shape)} (expected [{N}, {4 * H}])")
    return N, H


def _cell_fwd_kernel(dev, dt):
    return _program(dev, dt).kernel("lstm_cell_fwd", [_I32, _I32] + [None, _I32, _I32] * 2
                                    + [None, None, _I32, _I32])


def _cell_bwd_kernel(dev, dt):
    return _program(dev, dt).kernel("lstm_cell_bwd", [_I32, _I32] + [None, _I32, _I32] * 4
                                    + [None, None, _I32, None, _I32, _I32, _I32])


def lstm_cell(gates, c_prev):
    """(h, c) of one LSTM step from the pre-activation gates (N, 4H) in PyTorch's order i, f, g,
    o and the previous cell state (N, H): c = f * c_prev + i * g, h = o * tanh(c)."""
    dev, dt = _check("lstm_cell", gates, c_prev)
    N, H = _lstm_shapes("lstm_cell", gates, c_prev)
    g, c = _rows(gates), _rows(c_prev)
    h_out = Tensor._empty((N, H), dt, dev)
    c_out = Tensor._empty((N, H), dt, dev)
    if N * H:
        launch_1d(dev, _cell_fwd_kernel(dev, dt), _cell_items(N, H, dt), _I32(N), _I32(H), *_args(g, c),
                  h_out._storage.buffer, c_out._storage.buffer, _I32(0), _I32(0))
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
        launch_1d(dev, _cell_bwd_kernel(dev, dt), _cell_items(N, H, dt), _I32(N), _I32(H),
                  *_args(_rows(gates), _rows(c_prev), _rows(gh), _rows(gc)),
                  dgates._storage.buffer, dc._storage.buffer, _I32(0),
                  gates._storage.buffer, _I32(0), _I32(0), _I32(0))
    return dgates, dc


def _lstm_grads_composite(gates, c_prev, gh, gc):
    """The same gradients as lstm_cell_bwd, with differentiable ops (for create_graph)."""
    from .join import cat
    from .pointwise import sigmoid, tanh
    from .views import split
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
    from .linalg import addmm, mm
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


def _seq(t, k, rows, cols):
    """Row block k of a contiguous (L, rows, cols) buffer as a (rows, cols) tensor."""
    return Tensor._make(t._storage, (rows, cols), (cols, 1), t._offset + k * rows * cols, t.dtype)


def lstm_layer(proj, h0, c0, w_hh, reverse=False):
    """One direction of an LSTM layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, 4H): every step's input projection with both biases; ``h0``, ``c0`` (N, H);
    ``w_hh`` (4H, H). Returns (output (L, N, H), h_T, c_T). Forward: per step one GEMM writing
    the step's gates and one fused cell kernel writing h and c into whole-sequence buffers, with
    no graph bookkeeping per step. Backward: per step (last first) one add, the fused cell
    backward and one GEMM for d h; then ONE GEMM over all steps for d w_hh; d proj is the gate
    gradients themselves. Under create_graph the backward recomputes the sequence with the
    per-step differentiable path (``lstm_step``) and differentiates that."""
    from .join import flip
    from .linalg import _gemm, mm
    from .copy import copy_into
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H = G // 4
    with_graph = graph.recording(proj, h0, c0, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P = contiguous(flip(proj, [0]) if reverse else proj)   # steps in processing order
        gates = Tensor._empty((L, N, G), dt, dev)
        hs = Tensor._empty((L + 1, N, H), dt, dev)              # hs[k]: h before step k
        cs = Tensor._empty((L + 1, N, H), dt, dev)
        copy_into(_seq(hs, 0, N, H), h0)
        copy_into(_seq(cs, 0, N, H), c0)
        # w_hh^T made row-major once for the whole sequence: the GEMM then copies B's panels in
        # vectors instead of transposing W_hh in every one of the L steps
        w_t = contiguous(w_hh.t())
        wt = (w_t, w_t._offset, (), w_t._stride[0], w_t._stride[1])
        cell = _cell_fwd_kernel(dev, dt)
        items = _cell_items(N, H, dt)
        for k in range(L):
            _gemm("lstm", (), N, G, H, (hs, k * N * H, (), H, 1), wt,
                  (gates, k * N * G, (), G, 1), (P, P._offset + k * N * G, (), G, 1), 1, 1)
            launch_1d(dev, cell, items, _I32(N), _I32(H), gates._storage.buffer,
                      _I32(k * N * G), _I32(G), cs._storage.buffer, _I32(k * N * H), _I32(H),
                      hs._storage.buffer, cs._storage.buffer, _I32((k + 1) * N * H),
                      _I32((k + 1) * N * H))
        out = Tensor._make(hs._storage, (L, N, H), (N * H, H, 1), N * H, dt)
        if reverse:
            out = contiguous(flip(out, [0]))
        h_t, c_t = _seq(hs, L, N, H), _seq(cs, L, N, H)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t, c_t

    def backward(g_out, g_h, g_c):
        if graph.mode.grad_enabled:
            return _lstm_layer_recompute(proj, h0, c0, w_hh, reverse, g_out, g_h, g_c)
        go = contiguous(flip(g_out, [0]) if reverse else g_out)
        dG = Tensor._empty((L, N, G), dt, dev)
        dh, dc = g_h, g_c
        bwd = _cell_bwd_kernel(dev, dt)
        items = _cell_items(N, H, dt)
        for k in range(L - 1, -1, -1):
            dhr, dcr = _rows(dh), _rows(dc)
            dc_new = Tensor._empty((N, H), dt, dev)
            # the step's output gradient and the carried dh are summed inside the kernel
            launch_1d(dev, bwd, items, _I32(N), _I32(H), gates._storage.buffer,
                      _I32(k * N * G), _I32(G), cs._storage.buffer, _I32(k * N * H), _I32(H),
                      go._storage.buffer, _I32(go._offset + k * N * H), _I32(H),
                      *_args(dcr), dG._storage.buffer, dc_new._storage.buffer,
                      _I32(k * N * G), *_args(dhr), _I32(1))
            dc = dc_new
            dh = mm(_seq(dG, k, N, G), w_hh)
        d_proj = dG if not reverse else contiguous(flip(dG, [0]))
        d_w = None
        if w_hh.requires_grad:
            g_rows = Tensor._make(dG._storage, (L * N, G), (G, 1), 0, dt)
            h_rows = Tensor._make(hs._storage, (L * N, H), (H, 1), 0, dt)
            d_w = mm(g_rows.t(), h_rows)
        return (d_proj, dh, dc, d_w)
    graph.record("LstmLayerBackward0", (out, h_t, c_t), (proj, h0, c0, w_hh), backward,
                 saved=(proj, h0, c0, w_hh))
    return out, h_t, c_t


def _lstm_layer_recompute(proj, h0, c0, w_hh, reverse, g_out, g_h, g_c):
    """create_graph backward of lstm_layer: rebuild the sequence with the per-step
    differentiable path and differentiate it (so gradients of gradients work)."""
    from ..autograd import grad
    from .join import stack
    prev = graph.set_grad_enabled_flag(True)
    try:
        steps = time_steps(proj)
        h, c = h0, c0
        outs = [None] * len(steps)
        for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
            h, c = lstm_step(steps[t], h, c, w_hh)
            outs[t] = h
        inputs = [x for x in (proj, h0, c0, w_hh) if x.requires_grad]
        grads = iter(grad([stack(outs, 0), h, c], inputs, [g_out, g_h, g_c],
                          create_graph=True, allow_unused=True))
    finally:
        graph.set_grad_enabled_flag(prev)
    return tuple(next(grads) if x.requires_grad else None for x in (proj, h0, c0, w_hh))


# ------------------------------------------------------------------ GRU
def _gru_fwd_kernel(dev, dt):
    return _program(dev, dt).kernel("gru_cell_fwd", [_I32, _I32] + [None, _I32, _I32] * 3
                                    + [None, _I32])


def _gru_bwd_kernel(dev, dt):
    return _program(dev, dt).kernel("gru_cell_bwd", [_I32, _I32] + [None, _I32, _I32] * 4
                                    + [None, None, _I32, None, None, _I32, _I32, _I32])


def gru_cell(gi, gh, h):
    """h' of one GRU step from the input part gi = x W_ih^T + b_ih (N, 3H), the hidden part
    gh = h W_hh^T + b_hh (N, 3H) (PyTorch's order r, z, n) and the previous state h (N, H)."""
    dev, dt = _check("gru_cell", gi, gh, h)
    N, H = h._shape
    if gi._shape != (N, 3 * H) or gh._shape != (N, 3 * H):
        raise ValueError(f"gru_cell: gate shapes {list(gi._shape)} and {list(gh._shape)} do not "
                         f"match the hidden state {list(h._shape)} (expected [{N}, {3 * H}])")
    a, b, hp = _rows(gi), _rows(gh), _rows(h)
    out = Tensor._empty((N, H), dt, dev)
    if N * H:
        launch_1d(dev, _gru_fwd_kernel(dev, dt), _cell_items(N, H, dt), _I32(N), _I32(H),
                  *_args(a, b, hp), out._storage.buffer, _I32(0))
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
        gr = _rows(g)
        launch_1d(dev, _gru_bwd_kernel(dev, dt), _cell_items(N, H, dt), _I32(N), _I32(H),
                  *_args(_rows(gi), _rows(gh), _rows(h), gr),
                  dgi._storage.buffer, dgh._storage.buffer, _I32(0), dh._storage.buffer,
                  *_args(gr), _I32(0))
    return dgi, dgh, dh


def _gru_grads_composite(gi, gh, h, g):
    from .join import cat
    from .pointwise import sigmoid, tanh
    from .views import split
    H = h._shape[1]
    a_r, a_z, a_n = split(gi, H, 1)
    b_r, b_z, b_n = split(gh, H, 1)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = tanh(a_n + r * b_n)
    dn = g * (1 - z) * (1 - n * n)
    dz = g * (h - n) * z * (1 - z)
    dr = dn * b_n * r * (1 - r)
    return cat([dr, dz, dn], 1), cat([dr, dz, dn * r], 1), g * z


def gru_layer(proj, h0, w_hh, b_hh=None, reverse=False):
    """One direction of a GRU layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, 3H): every step's input part x W_ih^T + b_ih; ``h0`` (N, H); ``w_hh``
    (3H, H); ``b_hh`` (3H,) or None. Returns (output (L, N, H), h_T). Forward: per step one GEMM
    writing the step's hidden part gh = h W_hh^T + b_hh into a whole-sequence buffer and one
    fused cell kernel writing h. Backward: per step (last first) the fused cell backward (the
    step's output gradient and the carried one summed inside) and one GEMM for d h
    (= g z + d gh W_hh); then ONE GEMM over all steps for d w_hh and one sum for d b_hh; d proj is
    the input-part gradients themselves. Under create_graph the backward recomputes the sequence
    with differentiable per-step ops and differentiates that."""
    from .join import flip
    from .linalg import _gemm, mm
    from .copy import copy_into
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H = G // 3
    with_graph = graph.recording(proj, h0, w_hh, b_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P = contiguous(flip(proj, [0]) if reverse else proj)   # steps in processing order
        gh = Tensor._empty((L, N, G), dt, dev)
        hs = Tensor._empty((L + 1, N, H), dt, dev)              # hs[k]: h before step k
        copy_into(_seq(hs, 0, N, H), h0)
        w_t = contiguous(w_hh.t())      # row-major W_hh^T once (see lstm_layer)
        wt = (w_t, w_t._offset, (), w_t._stride[0], w_t._stride[1])
        bias = (b_hh, b_hh._offset, (), 0, b_hh._stride[0]) if b_hh is not None else None
        cell = _gru_fwd_kernel(dev, dt)
        items = _cell_items(N, H, dt)
        for k in range(L):
            _gemm("gru", (), N, G, H, (hs, k * N * H, (), H, 1), wt,
                  (gh, k * N * G, (), G, 1), bias, 1, 1)
            launch_1d(dev, cell, items, _I32(N), _I32(H), P._storage.buffer,
                      _I32(P._offset + k * N * G), _I32(G), gh._storage.buffer, _I32(k * N * G),
                      _I32(G), hs._storage.buffer, _I32(k * N * H), _I32(H),
                      hs._storage.buffer, _I32((k + 1) * N * H))
        out = Tensor._make(hs._storage, (L, N, H), (N * H, H, 1), N * H, dt)
        if reverse:
            out = contiguous(flip(out, [0]))
        h_t = _seq(hs, L, N, H)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t

    def backward(g_out, g_h):
        if graph.mode.grad_enabled:
            return _gru_layer_recompute(proj, h0, w_hh, b_hh, reverse, g_out, g_h)
        go = contiguous(flip(g_out, [0]) if reverse else g_out)
        dGI = Tensor._empty((L, N, G), dt, dev)
        dGH = Tensor._empty((L, N, G), dt, dev)
        dh = g_h
        bwd = _gru_bwd_kernel(dev, dt)
        items = _cell_items(N, H, dt)
        w_rows = (w_hh, w_hh._offset, (), w_hh._stride[0], w_hh._stride[1])
        for k in range(L - 1, -1, -1):
            dhr = _rows(dh)
            direct = Tensor._empty((N, H), dt, dev)
            launch_1d(dev, bwd, items, _I32(N), _I32(H), P._storage.buffer,
                      _I32(P._offset + k * N * G), _I32(G), gh._storage.buffer,
                      _I32(k * N * G), _I32(G), hs._storage.buffer, _I32(k * N * H), _I32(H),
                      go._storage.buffer, _I32(go._offset + k * N * H), _I32(H),
                      dGI._storage.buffer, dGH._storage.buffer, _I32(k * N * G),
                      direct._storage.buffer, *_args(dhr), _I32(1))
            # d h = g z + d gh @ W_hh, the direct part as the GEMM's addend
            dh = Tensor._empty((N, H), dt, dev)
            _gemm("gru backward", (), N, H, G, (dGH, k * N * G, (), G, 1), w_rows,
                  (dh, 0, (), H, 1), (direct, 0, (), H, 1), 1, 1)
        d_proj = dGI if not reverse else contiguous(flip(dGI, [0]))
        d_w = d_b = None
        gh_rows = Tensor._make(dGH._storage, (L * N, G), (G, 1), 0, dt)
        if w_hh.requires_grad:
            h_rows = Tensor._make(hs._storage, (L * N, H), (H, 1), 0, dt)
            d_w = mm(gh_rows.t(), h_rows)
        if b_hh is not None and b_hh.requires_grad:
            d_b = gh_rows.sum(0)
        return (d_proj, dh, d_w, d_b)
    graph.record("GruLayerBackward0", (out, h_t), (proj, h0, w_hh, b_hh), backward,
                 saved=(proj, h0, w_hh) + ((b_hh,) if b_hh is not None else ()))
    return out, h_t


def _gru_layer_recompute(proj, h0, w_hh, b_hh, reverse, g_out, g_h):
    """create_graph backward of gru_layer: the sequence rebuilt with differentiable per-step
    ops (addmm + gru_cell), then differentiated (so gradients of gradients work)."""
    from ..autograd import grad
    from .join import stack
    from .linalg import addmm, mm
    prev = graph.set_grad_enabled_flag(True)
    try:
        steps = time_steps(proj)
        h = h0
        w_t = w_hh.t()
        outs = [None] * len(steps)
        for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
            ghs = mm(h, w_t) if b_hh is None else addmm(b_hh, h, w_t)
            h = gru_cell(steps[t], ghs, h)
            outs[t] = h
        args = (proj, h0, w_hh, b_hh)
        inputs = [x for x in args if x is not None and x.requires_grad]
        grads = iter(grad([stack(outs, 0), h], inputs, [g_out, g_h], create_graph=True,
                          allow_unused=True))
    finally:
        graph.set_grad_enabled_flag(prev)
    return tuple(next(grads) if x is not None and x.requires_grad else None for x in args)


# ------------------------------------------------------------------ Elman RNN
def rnn_layer(proj, h0, w_hh, use_relu=False, reverse=False):
    """One direction of an Elman RNN layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, H): every step's input projection with both biases; ``h0`` (N, H); ``w_hh``
    (H, H). h_{t+1} = act(proj_t + h_t W_hh^T), act = tanh (or relu). Returns (output (L, N, H),
    h_T). Forward: per step one GEMM writing the pre-activation where h_{t+1} goes and one
    in-place activation launch. Backward: per step one activation-backward launch (the carried
    gradient summed in) and one GEMM for d h; one GEMM over all steps for d w_hh. Under
    create_graph the backward recomputes with differentiable per-step ops."""
    from .join import flip
    from .linalg import _gemm, mm
    from .copy import copy_into
    dev, dt = proj._storage.device, proj.dtype
    L, N, H = proj._shape
    n = N * H
    prg = _program(dev, dt)
    act = prg.kernel("rnn_act_fwd", [_I32, None, _I32, _I32])
    items = -(-n // _vector_width(dt))
    with_graph = graph.recording(proj, h0, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P = contiguous(flip(proj, [0]) if reverse else proj)
        hs = Tensor._empty((L + 1, N, H), dt, dev)              # hs[k]: h before step k
        copy_into(_seq(hs, 0, N, H), h0)
        w_t = contiguous(w_hh.t())      # row-major W_hh^T once (see lstm_layer)
        wt = (w_t, w_t._offset, (), w_t._stride[0], w_t._stride[1])
        for k in range(L):
            _gemm("rnn", (), N, H, H, (hs, k * n, (), H, 1), wt, (hs, (k + 1) * n, (), H, 1),
                  (P, P._offset + k * n, (), H, 1), 1, 1)
            if n:
                launch_1d(dev, act, items, _I32(n), hs._storage.buffer, _I32((k + 1) * n),
                          _I32(int(use_relu)))
        out = Tensor._make(hs._storage, (L, N, H), (n, H, 1), n, dt)
        if reverse:
            out = contiguous(flip(out, [0]))
        h_t = _seq(hs, L, N, H)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t

    def backward(g_out, g_h):
        if graph.mode.grad_enabled:
            return _rnn_layer_recompute(proj, h0, w_hh, use_relu, reverse, g_out, g_h)
        go = contiguous(flip(g_out, [0]) if reverse else g_out)
        dP = Tensor._empty((L, N, H), dt, dev)
        bwd = prg.kernel("rnn_act_bwd", [_I32, None, _I32, None, _I32, None, _I32, _I32, None,
                                         _I32, _I32])
        dh = contiguous(g_h)
        for k in range(L - 1, -1, -1):
            if n:
                launch_1d(dev, bwd, items, _I32(n), hs._storage.buffer, _I32((k + 1) * n),
                          go._storage.buffer, _I32(go._offset + k * n), dh._storage.buffer,
                          _I32(dh._offset), _I32(1), dP._storage.buffer, _I32(k * n),
                          _I32(int(use_relu)))
            dh = mm(_seq(dP, k, N, H), w_hh)
        d_proj = dP if not reverse else contiguous(flip(dP, [0]))
        d_w = None
        if w_hh.requires_grad:
            p_rows = Tensor._make(dP._storage, (L * N, H), (H, 1), 0, dt)
            h_rows = Tensor._make(hs._storage, (L * N, H), (H, 1), 0, dt)
            d_w = mm(p_rows.t(), h_rows)
        return (d_proj, dh, d_w)
    graph.record("RnnLayerBackward0", (out, h_t), (proj, h0, w_hh), backward,
                 saved=(proj, h0, w_hh))
    return out, h_t


def _rnn_layer_recompute(proj, h0, w_hh, use_relu, reverse, g_out, g_h):
    """create_graph backward of rnn_layer: the sequence rebuilt with addmm + tanh/relu per step,
    then differentiated (so gradients of gradients work)."""
    from ..autograd import grad
    from .join import stack
    from .linalg import addmm
    from .pointwise import relu, tanh
    prev = graph.set_grad_enabled_flag(True)
    try:
        steps = time_steps(proj)
        h = h0
        w_t = w_hh.t()
        outs = [None] * len(steps)
        for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
            pre = addmm(steps[t], h, w_t)
            h = relu(pre) if use_relu else tanh(pre)
            outs[t] = h
        args = (proj, h0, w_hh)
        inputs = [x for x in args if x.requires_grad]
        grads = iter(grad([stack(outs, 0), h], inputs, [g_out, g_h], create_graph=True,
                          allow_unused=True))
    finally:
        graph.set_grad_enabled_flag(prev)
    return tuple(next(grads) if x.requires_grad else None for x in args)


# ------------------------------------------------------------------ time steps
def time_steps(x):
    """x (L, ...) as a tuple of L views x[t]; their gradients are stacked back in one node."""
    from .views import _view
    L = x._shape[0]
    shape, stride = x._shape[1:], x._stride[1:]
    steps = tuple(_view(x, shape, stride, x._offset + t * x._stride[0]) for t in range(L))
    if L and graph.recording(x):
        def backward(*grads):
            from .join import stack
            return (stack(grads, 0),)
        graph.record("UnbindBackward0", steps, (x,), backward)
    return steps
