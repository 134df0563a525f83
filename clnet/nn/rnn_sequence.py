"""Recurrent layers over whole sequences, one graph node per layer direction: ``lstm_layer``,
``gru_layer``, ``rnn_layer`` (Elman, tanh or relu). The modules in clnet/nn/modules/rnn.py call
them; the cells and their kernels are in clnet/ops/rnn.py. They live in nn, above autograd,
because their create_graph backward differentiates a recomputed sequence with autograd.grad.

Each forward runs, per time step, one GEMM (h @ W_hh^T, with the step's input projection or
b_hh as the addend) and one cell launch, all writing into whole-sequence buffers: no graph
bookkeeping per step. On CPU drivers (``kernels.rnn.fused_steps``) LSTM and GRU layers run ONE
fused launch per step instead, forward and backward (GEMM and cell in one kernel: see the
``_fused`` functions below). Each backward runs, per step from the last, the cell's backward kernel
(the step's output gradient and the carried one summed inside) and one GEMM for the carried
d h, then ONE GEMM over all steps for d W_hh. Under create_graph the backward rebuilds the
sequence with the differentiable per-step ops and differentiates that, so gradients of
gradients work. ``reverse`` runs the sequence last step first (bidirectional layers).
"""
from __future__ import annotations

from typing import Optional, Tuple

from .. import graph
from ..autograd import grad
from ..ops.copy import contiguous, copy_into
from ..ops.join import flip, stack
from ..kernels.gemm import gemm
from ..kernels.rnn import (fused_steps, gru_cell_bwd, gru_cell_fwd, lstm_cell_bwd, lstm_cell_fwd,
                           rnn_act_bwd, rnn_act_fwd, step_kernels)
from ..ops import opmath
from ..ops.linalg import addmm, mm
from ..ops.pointwise import relu, tanh
from ..ops.rnn import gru_cell, lstm_step, row_operand, time_steps
from ..tensor import Tensor

__all__ = []


def _seq(t, k, rows, cols):
    """Row block k of a contiguous (L, rows, cols) buffer as a (rows, cols) tensor."""
    return Tensor._make(t._storage, (rows, cols), (cols, 1), t._offset + k * rows * cols, t.dtype)


def _in_order(t, reverse):
    """A (L, ...) sequence contiguous in processing order (last step first when ``reverse``)."""
    return contiguous(flip(t, [0]) if reverse else t)


def _start(proj, h0, w_hh, H, reverse):
    """(P, hs, wt): the projections in processing order; hs (L + 1, N, H) with hs[0] = h0
    (hs[k]: h before step k); W_hh^T as a row-major GEMM operand, made once for the sequence so
    the GEMM copies its panels in vectors instead of transposing W_hh in every step."""
    L, N = proj._shape[:2]
    P = _in_order(proj, reverse)
    hs = Tensor._empty((L + 1, N, H), proj.dtype, proj._storage.device)
    copy_into(_seq(hs, 0, N, H), h0)
    w_t = contiguous(w_hh.t())
    return P, hs, (w_t, w_t._offset, (), w_t._stride[0], w_t._stride[1])


def _finish(hs, L, N, H, reverse):
    """(output (L, N, H) in the sequence's order, h_T) from the buffer of hidden states."""
    out = Tensor._make(hs._storage, (L, N, H), (N * H, H, 1), N * H, hs.dtype)
    return (_in_order(out, True) if reverse else out), _seq(hs, L, N, H)


# ------------------------------------------------------------------ LSTM
def lstm_layer(proj: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor,
               reverse: bool = False, batch_first_out: bool = False
               ) -> Tuple[Tensor, Tensor, Tensor]:
    """One direction of an LSTM layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, 4H): every step's input projection with both biases; ``h0``, ``c0`` (N, H);
    ``w_hh`` (4H, H). Returns (output (L, N, H), h_T, c_T). Forward: per step one GEMM writing
    the step's gates and one fused cell kernel writing h and c into whole-sequence buffers, with
    no graph bookkeeping per step. Backward: per step (last first) one add, the fused cell
    backward and one GEMM for d h; then ONE GEMM over all steps for d w_hh; d proj is the gate
    gradients themselves. Under create_graph the backward recomputes the sequence with the
    per-step differentiable path (``lstm_step``) and differentiates that. ``batch_first_out``:
    the fused path writes the output (N, L, H)-contiguous (returned as its (L, N, H) view), so
    a batch_first consumer reads it without a copy; a layout hint only."""
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H = G // 4
    if fused_steps(dev) and N * H:
        return _lstm_fused(proj, h0, c0, w_hh, reverse, batch_first_out)
    with_graph = graph.recording(proj, h0, c0, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P, hs, wt = _start(proj, h0, w_hh, H, reverse)
        gates = Tensor._empty((L, N, G), dt, dev)
        cs = Tensor._empty((L + 1, N, H), dt, dev)
        copy_into(_seq(cs, 0, N, H), c0)
        cell = lstm_cell_fwd(dev, dt, N, H)
        for k in range(L):
            gemm("lstm", (), N, G, H, (hs, k * N * H, (), H, 1), wt,
                 (gates, k * N * G, (), G, 1), (P, P._offset + k * N * G, (), G, 1), 1, 1)
            cell((gates, k * N * G, G), (cs, k * N * H, H), hs, cs, (k + 1) * N * H,
                 (k + 1) * N * H)
        out, h_t = _finish(hs, L, N, H, reverse)
        c_t = _seq(cs, L, N, H)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t, c_t

    def backward(g_out, g_h, g_c):
        if graph.mode.grad_enabled:
            return _lstm_layer_recompute(proj, h0, c0, w_hh, reverse, g_out, g_h, g_c)
        go = _in_order(g_out, reverse)
        dG = Tensor._empty((L, N, G), dt, dev)
        dh, dc = g_h, g_c
        bwd = lstm_cell_bwd(dev, dt, N, H)
        for k in range(L - 1, -1, -1):
            dc_new = Tensor._empty((N, H), dt, dev)
            # the step's output gradient and the carried dh are summed inside the kernel
            bwd((gates, k * N * G, G), (cs, k * N * H, H), (go, go._offset + k * N * H, H),
                row_operand(dc), dG, dc_new, k * N * G, row_operand(dh))
            dc = dc_new
            dh = mm(_seq(dG, k, N, G), w_hh)
        d_proj = _in_order(dG, reverse)
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
def gru_layer(proj: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor] = None,
              reverse: bool = False, batch_first_out: bool = False) -> Tuple[Tensor, Tensor]:
    """One direction of a GRU layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, 3H): every step's input part x W_ih^T + b_ih; ``h0`` (N, H); ``w_hh``
    (3H, H); ``b_hh`` (3H,) or None. Returns (output (L, N, H), h_T). Forward: per step one GEMM
    writing the step's hidden part gh = h W_hh^T + b_hh into a whole-sequence buffer and one
    fused cell kernel writing h. Backward: per step (last first) the fused cell backward (the
    step's output gradient and the carried one summed inside) and one GEMM for d h
    (= g z + d gh W_hh); then ONE GEMM over all steps for d w_hh and one sum for d b_hh; d proj is
    the input-part gradients themselves. Under create_graph the backward recomputes the sequence
    with differentiable per-step ops and differentiates that. ``batch_first_out``: as
    lstm_layer's."""
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H = G // 3
    if fused_steps(dev) and N * H:
        return _gru_fused(proj, h0, w_hh, b_hh, reverse, batch_first_out)
    with_graph = graph.recording(proj, h0, w_hh, b_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P, hs, wt = _start(proj, h0, w_hh, H, reverse)
        gh = Tensor._empty((L, N, G), dt, dev)
        bias = (b_hh, b_hh._offset, (), 0, b_hh._stride[0]) if b_hh is not None else None
        cell = gru_cell_fwd(dev, dt, N, H)
        for k in range(L):
            gemm("gru", (), N, G, H, (hs, k * N * H, (), H, 1), wt,
                 (gh, k * N * G, (), G, 1), bias, 1, 1)
            cell((P, P._offset + k * N * G, G), (gh, k * N * G, G), (hs, k * N * H, H), hs,
                 (k + 1) * N * H)
        out, h_t = _finish(hs, L, N, H, reverse)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t

    def backward(g_out, g_h):
        if graph.mode.grad_enabled:
            return _gru_layer_recompute(proj, h0, w_hh, b_hh, reverse, g_out, g_h)
        go = _in_order(g_out, reverse)
        dGI = Tensor._empty((L, N, G), dt, dev)
        dGH = Tensor._empty((L, N, G), dt, dev)
        dh = g_h
        bwd = gru_cell_bwd(dev, dt, N, H)
        w_rows = (w_hh, w_hh._offset, (), w_hh._stride[0], w_hh._stride[1])
        for k in range(L - 1, -1, -1):
            direct = Tensor._empty((N, H), dt, dev)
            bwd((P, P._offset + k * N * G, G), (gh, k * N * G, G), (hs, k * N * H, H),
                (go, go._offset + k * N * H, H), dGI, dGH, k * N * G, direct, row_operand(dh))
            # d h = g z + d gh @ W_hh, the direct part as the GEMM's addend
            dh = Tensor._empty((N, H), dt, dev)
            gemm("gru backward", (), N, H, G, (dGH, k * N * G, (), G, 1), w_rows,
                 (dh, 0, (), H, 1), (direct, 0, (), H, 1), 1, 1)
        d_proj = _in_order(dGI, reverse)
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
def rnn_layer(proj: Tensor, h0: Tensor, w_hh: Tensor, use_relu: bool = False,
              reverse: bool = False) -> Tuple[Tensor, Tensor]:
    """One direction of an Elman RNN layer over a whole sequence as ONE graph node.

    ``proj`` (L, N, H): every step's input projection with both biases; ``h0`` (N, H); ``w_hh``
    (H, H). h_{t+1} = act(proj_t + h_t W_hh^T), act = tanh (or relu). Returns (output (L, N, H),
    h_T). Forward: per step one GEMM writing the pre-activation where h_{t+1} goes and one
    in-place activation launch. Backward: per step one activation-backward launch (the carried
    gradient summed in) and one GEMM for d h; one GEMM over all steps for d w_hh. Under
    create_graph the backward recomputes with differentiable per-step ops."""
    dev, dt = proj._storage.device, proj.dtype
    L, N, H = proj._shape
    n = N * H
    act = rnn_act_fwd(dev, dt, n)
    with_graph = graph.recording(proj, h0, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P, hs, wt = _start(proj, h0, w_hh, H, reverse)
        for k in range(L):
            gemm("rnn", (), N, H, H, (hs, k * n, (), H, 1), wt, (hs, (k + 1) * n, (), H, 1),
                 (P, P._offset + k * n, (), H, 1), 1, 1)
            if n:
                act(hs, (k + 1) * n, use_relu)
        out, h_t = _finish(hs, L, N, H, reverse)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t

    def backward(g_out, g_h):
        if graph.mode.grad_enabled:
            return _rnn_layer_recompute(proj, h0, w_hh, use_relu, reverse, g_out, g_h)
        go = _in_order(g_out, reverse)
        dP = Tensor._empty((L, N, H), dt, dev)
        bwd = rnn_act_bwd(dev, dt, n)
        dh = contiguous(g_h)
        for k in range(L - 1, -1, -1):
            if n:
                bwd(hs, (k + 1) * n, go, go._offset + k * n, dh, dh._offset, dP, k * n, use_relu)
            dh = mm(_seq(dP, k, N, H), w_hh)
        d_proj = _in_order(dP, reverse)
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


# ------------------------------------------------------------------ fused steps (CPU drivers)
# Buffers in SEQUENCE order (no flips for reverse directions, no copies for batch_first
# projections, read in place through their strides): hs and cs hold L + 1 row blocks of (N, H),
# a forward direction's step t reading block t and writing t + 1, a reverse one's reading t + 1
# and writing t, so the output is a plain view either way.
def _slots(t, reverse):
    """(block read, block written) of h and c at sequence step t."""
    return (t + 1, t) if reverse else (t, t + 1)


def _step_rows(x, t):
    """(element offset, row stride) of step t's rows in an (L, N, C) tensor with unit columns."""
    return x._offset + t * x._stride[0], x._stride[1]


def _unit_columns(x):
    return x if x._shape[-1] <= 1 or x._stride[-1] == 1 else contiguous(x)


def _fresh_rows(t, dt, dev):
    """A contiguous (N, H) copy of ``t``, a buffer the step kernels may overwrite."""
    out = Tensor._empty(tuple(t._shape), dt, dev)
    copy_into(out, t)
    return out


def _hidden_states(h0, L, N, H, reverse, dt, dev):
    hs = Tensor._empty((L + 1, N, H), dt, dev)
    copy_into(_seq(hs, L if reverse else 0, N, H), h0)
    return hs


def _outputs(hs, L, N, H, reverse):
    """(output (L, N, H), last state (N, H)) of a sequence-order buffer of states."""
    out = Tensor._make(hs._storage, (L, N, H), (N * H, H, 1), 0 if reverse else N * H, hs.dtype)
    return out, _seq(hs, 0 if reverse else L, N, H)


def _prev_rows(hs, L, N, H, reverse):
    """The (L * N, H) rows of every step's previous state, in sequence order."""
    return Tensor._make(hs._storage, (L * N, H), (H, 1), N * H if reverse else 0, hs.dtype)


def _batch_first_output(bf, L, N, H, dt, dev):
    """(buffer (N, L, H) or None, its (L, N, H) view or None, row stride) for the steps'
    second store of h."""
    if not bf:
        return None, None, 0
    ob = Tensor._empty((N, L, H), dt, dev)
    return ob, Tensor._make(ob._storage, (L, N, H), (H, L * H, 1), 0, dt), L * H


def _lstm_fused(proj, h0, c0, w_hh, reverse, bf=False):
    """lstm_layer with one fused launch per step each way (rnn.cl, RNN_STEP). Saves the
    activated gates, so the backward evaluates only tanh(c)."""
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H, nh = G // 4, N * G // 4
    sk = step_kernels(dev, dt, N, H)
    with_graph = graph.recording(proj, h0, c0, w_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P = _unit_columns(proj)
        wf = sk.pack(w_hh, 4, False)
        hs = _hidden_states(h0, L, N, H, reverse, dt, dev)
        cs = _hidden_states(c0, L, N, H, reverse, dt, dev)
        acts = Tensor._empty((L, N, G), dt, dev)
        ob, ob_view, orow = _batch_first_output(bf, L, N, H, dt, dev)
        for k in range(L):
            t = L - 1 - k if reverse else k
            src, dst = _slots(t, reverse)
            sk.lstm_fwd(wf, P, *_step_rows(P, t), hs, src * nh, dst * nh, cs, src * nh,
                        dst * nh, acts, t * N * G, ob, t * H, orow)
        out, h_t = _outputs(hs, L, N, H, reverse)
        out = ob_view if bf else out
        c_t = _seq(cs, 0 if reverse else L, N, H)
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t, c_t

    def backward(g_out, g_h, g_c):
        if graph.mode.grad_enabled:
            return _lstm_layer_recompute(proj, h0, c0, w_hh, reverse, g_out, g_h, g_c)
        go = _unit_columns(g_out)
        gx, gxoff, gxrow = row_operand(g_h)
        dc = _fresh_rows(g_c, dt, dev)
        dG = Tensor._empty((L, N, G), dt, dev)
        wb = sk.pack(w_hh, 4, True)
        for k in range(L - 1, -1, -1):          # processing order, last step first
            t = L - 1 - k if reverse else k
            src, dst = _slots(t, reverse)
            nxt = t - 1 if reverse else t + 1     # the step processed after t
            sk.lstm_bwd(wb, dG, nxt * N * G if k < L - 1 else 0, t * N * G, int(k < L - 1), go,
                        *_step_rows(go, t), gx, gxoff, gxrow, acts, t * N * G, cs, src * nh,
                        dst * nh, dc)
        first = L - 1 if reverse else 0
        dh = mm(_seq(dG, first, N, G), w_hh)
        d_w = None
        if w_hh.requires_grad:
            d_w = mm(Tensor._make(dG._storage, (L * N, G), (G, 1), 0, dt).t(),
                     _prev_rows(hs, L, N, H, reverse))
        return (dG, dh, dc, d_w)
    graph.record("LstmLayerBackward0", (out, h_t, c_t), (proj, h0, c0, w_hh), backward,
                 saved=(proj, h0, c0, w_hh))
    return out, h_t, c_t


def _gru_fused(proj, h0, w_hh, b_hh, reverse, bf=False):
    """gru_layer with one fused launch per step each way (rnn.cl, RNN_STEP). Saves r, z, n and
    the hidden part of n's pre-activation per step."""
    dev, dt = proj._storage.device, proj.dtype
    L, N, G = proj._shape
    H, nh = G // 3, N * G // 3
    sk = step_kernels(dev, dt, N, H)
    with_graph = graph.recording(proj, h0, w_hh, b_hh)
    prev = graph.set_grad_enabled_flag(False)
    try:
        P = _unit_columns(proj)
        bias = contiguous(b_hh) if b_hh is not None else None
        wf = sk.pack(w_hh, 3, False)
        hs = _hidden_states(h0, L, N, H, reverse, dt, dev)
        acts = Tensor._empty((L, N, 4 * H), dt, dev)
        ob, ob_view, orow = _batch_first_output(bf, L, N, H, dt, dev)
        for k in range(L):
            t = L - 1 - k if reverse else k
            src, dst = _slots(t, reverse)
            sk.gru_fwd(wf, P, *_step_rows(P, t), bias, hs, src * nh, dst * nh, acts,
                       t * N * 4 * H, ob, t * H, orow)
        out, h_t = _outputs(hs, L, N, H, reverse)
        out = ob_view if bf else out
    finally:
        graph.set_grad_enabled_flag(prev)
    if not with_graph:
        return out, h_t

    def backward(g_out, g_h):
        if graph.mode.grad_enabled:
            return _gru_layer_recompute(proj, h0, w_hh, b_hh, reverse, g_out, g_h)
        go = _unit_columns(g_out)
        carry = _fresh_rows(g_h, dt, dev)
        dGI = Tensor._empty((L, N, G), dt, dev)
        dGH = Tensor._empty((L, N, G), dt, dev)
        wb = sk.pack(w_hh, 3, True)
        for k in range(L - 1, -1, -1):
            t = L - 1 - k if reverse else k
            nxt = t - 1 if reverse else t + 1
            sk.gru_bwd(wb, dGH, nxt * N * G if k < L - 1 else 0, t * N * G, int(k < L - 1), dGI,
                       go, *_step_rows(go, t), acts, t * N * 4 * H, hs,
                       _slots(t, reverse)[0] * nh, carry)
        first = L - 1 if reverse else 0
        dh = addmm(carry, _seq(dGH, first, N, G), w_hh)
        d_w = d_b = None
        gh_rows = Tensor._make(dGH._storage, (L * N, G), (G, 1), 0, dt)
        if w_hh.requires_grad:
            d_w = mm(gh_rows.t(), _prev_rows(hs, L, N, H, reverse))
        if b_hh is not None and b_hh.requires_grad:
            d_b = gh_rows.sum(0)
        return (dGI, dh, d_w, d_b)
    graph.record("GruLayerBackward0", (out, h_t), (proj, h0, w_hh, b_hh), backward,
                 saved=(proj, h0, w_hh) + ((b_hh,) if b_hh is not None else ()))
    return out, h_t


# float16/bfloat16 (ops/opmath.py): a layer reads 16-bit inputs and weights as float32 (the cell
# kernels compute in float32) and rounds its outputs once, as the op families do
lstm_layer = opmath.wrap(lstm_layer)
gru_layer = opmath.wrap(gru_layer)
rnn_layer = opmath.wrap(rnn_layer)
