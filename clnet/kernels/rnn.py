"""rnn.cl's launches: the LSTM / GRU cells (forward and fused backward) and the Elman RNN's
in-place activation, each work-item on a run of VW hidden units of one row.

Each function here binds one kernel to a device, dtype and (N, H) once and returns the launch,
so a layer that runs it every time step (clnet/nn/rnn_sequence.py) looks nothing up per step.
Row operands are ``(tensor, element offset, row stride)`` with contiguous columns: the kernels
take every buffer with its offset. clnet/ops/rnn.py holds the cells and their backward rules.
"""
import numpy as np

from ..backend.programs import ProgramCache
from .layout import launch_1d

_I32 = np.int32


def vector_width(dt):
    """Hidden units per work-item: 256 bits of them (see cl_kernels/rnn.cl)."""
    return 32 // dt.itemsize


_programs = ProgramCache("rnn", lambda dev, dt: (("T", dt.cl), ("VW", vector_width(dt))))


def cell_items(N, H, dt):
    """Work-items of the cell kernels: one per run of VW hidden units of a row."""
    return N * -(-H // vector_width(dt))


def _row(op):
    t, off, row = op
    return t._storage.buffer, _I32(off), _I32(row)


def lstm_cell_fwd(dev, dt, N, H):
    """launch(gates, cprev, h_out, c_out, hoff, c_out_off): h and c of one LSTM step from the
    pre-activation gates (N, 4H) and the previous cell state (row operands)."""
    k = _programs(dev, dt).kernel("lstm_cell_fwd", [_I32, _I32] + [None, _I32, _I32] * 2
                                  + [None, None, _I32, _I32])
    items = cell_items(N, H, dt)

    def launch(gates, cprev, h_out, c_out, hoff, c_out_off):
        launch_1d(dev, k, items, _I32(N), _I32(H), *_row(gates), *_row(cprev),
                  h_out._storage.buffer, c_out._storage.buffer, _I32(hoff), _I32(c_out_off))
    return launch


def lstm_cell_bwd(dev, dt, N, H):
    """launch(gates, cprev, gh, gc, dgates, dcprev, dgoff, gh2=None): the gates' and the
    previous cell state's gradients from those of h and c; ``gh2`` (a row operand), when given,
    is a second gradient of h summed in (a sequence's carried one)."""
    k = _programs(dev, dt).kernel("lstm_cell_bwd", [_I32, _I32] + [None, _I32, _I32] * 4
                                  + [None, None, _I32, None, _I32, _I32, _I32])
    items = cell_items(N, H, dt)

    def launch(gates, cprev, gh, gc, dgates, dcprev, dgoff, gh2=None):
        second = _row(gh2) if gh2 is not None else (gates[0]._storage.buffer, _I32(0), _I32(0))
        launch_1d(dev, k, items, _I32(N), _I32(H), *_row(gates), *_row(cprev), *_row(gh),
                  *_row(gc), dgates._storage.buffer, dcprev._storage.buffer, _I32(dgoff),
                  *second, _I32(gh2 is not None))
    return launch


def gru_cell_fwd(dev, dt, N, H):
    """launch(gi, gh, h, h_out, ooff): h' of one GRU step from the input and hidden parts of
    the gates (N, 3H) and the previous state (row operands)."""
    k = _programs(dev, dt).kernel("gru_cell_fwd", [_I32, _I32] + [None, _I32, _I32] * 3
                                  + [None, _I32])
    items = cell_items(N, H, dt)

    def launch(gi, gh, h, h_out, ooff):
        launch_1d(dev, k, items, _I32(N), _I32(H), *_row(gi), *_row(gh), *_row(h),
                  h_out._storage.buffer, _I32(ooff))
    return launch


def gru_cell_bwd(dev, dt, N, H):
    """launch(gi, gh, h, g, dgi, dgh, dgoff, dh, g2=None): the gradients of both gate parts
    (at ``dgoff``) and the direct part of h's (``dh``) from h' 's gradient ``g``; ``g2`` (a
    row operand), when given, is a second gradient of h' summed in."""
    k = _programs(dev, dt).kernel("gru_cell_bwd", [_I32, _I32] + [None, _I32, _I32] * 4
                                  + [None, None, _I32, None, None, _I32, _I32, _I32])
    items = cell_items(N, H, dt)

    def launch(gi, gh, h, g, dgi, dgh, dgoff, dh, g2=None):
        second = _row(g2) if g2 is not None else (gi[0]._storage.buffer, _I32(0), _I32(0))
        launch_1d(dev, k, items, _I32(N), _I32(H), *_row(gi), *_row(gh), *_row(h), *_row(g),
                  dgi._storage.buffer, dgh._storage.buffer, _I32(dgoff), dh._storage.buffer,
                  *second, _I32(g2 is not None))
    return launch


def rnn_act_fwd(dev, dt, n):
    """launch(x, off, use_relu): tanh (or relu) in place on ``n`` elements of x from ``off``."""
    k = _programs(dev, dt).kernel("rnn_act_fwd", [_I32, None, _I32, _I32])
    items = -(-n // vector_width(dt))

    def launch(x, off, use_relu):
        launch_1d(dev, k, items, _I32(n), x._storage.buffer, _I32(off), _I32(int(use_relu)))
    return launch


def rnn_act_bwd(dev, dt, n):
    """launch(h, hoff, g, goff, g2, g2off, d, doff, use_relu): ``d`` = the activation's input
    gradient from its output ``h`` and the sum of the gradients ``g`` and ``g2``."""
    k = _programs(dev, dt).kernel("rnn_act_bwd", [_I32, None, _I32, None, _I32, None, _I32,
                                                  _I32, None, _I32, _I32])
    items = -(-n // vector_width(dt))

    def launch(h, hoff, g, goff, g2, g2off, d, doff, use_relu):
        launch_1d(dev, k, items, _I32(n), h._storage.buffer, _I32(hoff), g._storage.buffer,
                  _I32(goff), g2._storage.buffer, _I32(g2off), _I32(1), d._storage.buffer,
                  _I32(doff), _I32(int(use_relu)))
    return launch
