"""rnn.cl's launches: the LSTM / GRU cells (forward and fused backward) and the Elman RNN's
in-place activation, each work-item on a run of VW hidden units of one row.

Each function here binds one kernel to a device, dtype and (N, H) once and returns the launch,
so a layer that runs it every time step (clnet/nn/rnn_sequence.py) looks nothing up per step.
Row operands are ``(tensor, element offset, row stride)`` with contiguous columns: the kernels
take every buffer with its offset. clnet/ops/rnn.py holds the cells and their backward rules.
"""
import numpy as np

from ..backend.launch import enqueue
from ..backend.programs import ProgramCache
from ..tensor import Tensor
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


# ------------------------------------------------------------------ fused time steps (CPU)
# Which devices run a sequence layer with the fused step kernels (rnn.cl built with RNN_STEP):
# None = CPU drivers, where a launch costs more than a step's small GEMM; GPUs keep one GEMM
# launch (many work-items per tile) plus one cell launch per step. Tests set True/False to run
# either path on the device they have.
FUSED_STEPS = None

# Register blocks of the step kernels: forward RM rows x (gates x VW units); backward RB rows x
# NU vectors of VW units (4 x 4 and 4 x 2 vector accumulators: within AVX2's 16 registers
# for 8-wide vectors, and AVX-512's 32 for 16-wide ones, with room for the weight vectors).
STEP_RM, STEP_RB, STEP_NU = 4, 4, 2


# Work-groups per compute unit the step kernels aim at: PoCL pays a fixed cost per work-group,
# so each work-item takes several blocks of hidden units (``ub``) while every core keeps a few
# groups to balance.
STEP_GROUPS_PER_CU = 4


def _grid(units, rows, cores):
    """((global size), ub): unit blocks per work-item so that the launch has about
    STEP_GROUPS_PER_CU groups per core (never fewer than rows x 1)."""
    ub = max(1, units * rows // (STEP_GROUPS_PER_CU * max(cores, 1)))
    ub = min(ub, units)
    return (-(-units // ub), rows), _I32(ub)


def _second(ob, ooff, orow):
    """The kernels' (ob, ooff, orow): NULL and a zero row stride when there is none."""
    if ob is None:
        return None, _I32(0), _I32(0)
    return ob._storage.buffer, _I32(ooff), _I32(orow)


def fused_steps(dev):
    """Whether sequence layers on ``dev`` use the fused step kernels (see FUSED_STEPS)."""
    if FUSED_STEPS is not None:
        return FUSED_STEPS
    return dev.kind == "CPU"


def step_vector_width(dev, dt):
    """The step kernels' VW: the device's native vector width for ``dt`` (2 to 16)."""
    cd = dev.cl_device
    n = cd.native_vector_width_double if dt.itemsize == 8 else cd.native_vector_width_float
    return min(16, max(2, 1 << (max(int(n), 1).bit_length() - 1)))


_step_programs = ProgramCache("rnn", lambda dev, dt, vw: (
    ("T", dt.cl), ("VW", vw), ("RNN_STEP", None), ("RM", STEP_RM), ("RB", STEP_RB),
    ("NU", STEP_NU)))


class StepKernels:
    """The fused step kernels of one (device, dtype, N, H): weight packing and per-step launches
    whose constant arguments are converted once (a layer launches them every time step)."""

    def __init__(self, dev, dt, N, H):
        self.dev, self.dt, self.N, self.H = dev, dt, N, H
        self.vw = vw = step_vector_width(dev, dt)
        prg = _step_programs(dev, dt, vw)
        i2 = [_I32, _I32]
        self._pack_fwd = prg.kernel("rnn_pack_fwd", i2 + [None, _I32, _I32, _I32, None, _I32])
        self._pack_bwd = prg.kernel("rnn_pack_bwd", i2 + [None, _I32, _I32, _I32, None, _I32])
        self._lstm_fwd = prg.kernel("lstm_step_fwd", i2 + [None, _I32] + [None] + [_I32] * 2
                                    + ([None] + [_I32] * 2) * 2 + [None, _I32]
                                    + [None, _I32, _I32, _I32])
        self._lstm_bwd = prg.kernel("lstm_step_bwd", i2 + [None, _I32] + [None] + [_I32] * 3
                                    + ([None] + [_I32] * 2) * 2 + [None, _I32]
                                    + [None, _I32, _I32] + [None, _I32, _I32])
        self._gru_fwd = prg.kernel("gru_step_fwd", i2 + [None, _I32] + [None, _I32, _I32]
                                   + [None, _I32, _I32] + [None, _I32, _I32] + [None, _I32]
                                   + [None, _I32, _I32, _I32])
        self._gru_bwd = prg.kernel("gru_step_bwd", i2 + [None, _I32] + [None] + [_I32] * 3
                                   + [None, _I32] + [None, _I32, _I32] + [None, _I32]
                                   + [None, _I32, None, _I32, _I32])
        self._nh = (_I32(N), _I32(H))
        cores = dev.cl_device.max_compute_units
        self.fwd_size, self._fwd_ub = _grid(-(-H // vw), -(-N // STEP_RM), cores)
        self.bwd_size, self._bwd_ub = _grid(-(-H // (vw * STEP_NU)), -(-N // STEP_RB), cores)

    def pack(self, w, G, backward):
        """W_hh (G*H, H) packed for the forward (Wf) or backward (Wb) step kernels (rnn.cl)."""
        H = self.H
        unit = self.vw * (STEP_NU if backward else 1)
        n = -(-H // unit) * unit * G * H
        out = Tensor._empty((n,), self.dt, self.dev)
        k = self._pack_bwd if backward else self._pack_fwd
        size = (unit, G * H, -(-H // unit)) if backward else (G * unit, H, -(-H // unit))
        enqueue(self.dev, k, size, None, _I32(G), _I32(H), w._storage.buffer, _I32(w._offset),
                _I32(w._stride[0]), _I32(w._stride[1]), out._storage.buffer, _I32(0))
        return out

    def lstm_fwd(self, wf, P, poff, prow, hs, hin, hout, cs, cin, cout, acts, aoff,
                 ob=None, ooff=0, orow=0):
        """One forward step; ``ob`` (with ``ooff``, row stride ``orow``): a second place for
        h_out (a batch_first output), or None."""
        enqueue(self.dev, self._lstm_fwd, self.fwd_size, (1, 1), *self._nh,
                wf._storage.buffer, _I32(0), P._storage.buffer, _I32(poff), _I32(prow),
                hs._storage.buffer, _I32(hin), _I32(hout), cs._storage.buffer, _I32(cin),
                _I32(cout), acts._storage.buffer, _I32(aoff), *_second(ob, ooff, orow),
                self._fwd_ub)

    def lstm_bwd(self, wb, dG, dnext, dcur, has_next, go, gooff, gorow, gx, gxoff, gxrow,
                 acts, aoff, cs, cprev, ccur, dc):
        enqueue(self.dev, self._lstm_bwd, self.bwd_size, (1, 1), *self._nh,
                wb._storage.buffer, _I32(0), dG._storage.buffer, _I32(dnext), _I32(dcur),
                _I32(has_next), go._storage.buffer, _I32(gooff), _I32(gorow),
                gx._storage.buffer, _I32(gxoff), _I32(gxrow), acts._storage.buffer, _I32(aoff),
                cs._storage.buffer, _I32(cprev), _I32(ccur), dc._storage.buffer,
                _I32(dc._offset), self._bwd_ub)

    def gru_fwd(self, wf, P, poff, prow, bias, hs, hin, hout, acts, aoff, ob=None, ooff=0,
                orow=0):
        enqueue(self.dev, self._gru_fwd, self.fwd_size, (1, 1), *self._nh,
                wf._storage.buffer, _I32(0), P._storage.buffer, _I32(poff), _I32(prow),
                bias._storage.buffer if bias is not None else None,
                _I32(bias._offset if bias is not None else 0), _I32(bias is not None),
                hs._storage.buffer, _I32(hin), _I32(hout), acts._storage.buffer, _I32(aoff),
                *_second(ob, ooff, orow), self._fwd_ub)

    def gru_bwd(self, wb, dGH, dnext, dcur, has_next, dGI, go, gooff, gorow, acts, aoff, hs,
                hprev, carry):
        enqueue(self.dev, self._gru_bwd, self.bwd_size, (1, 1), *self._nh,
                wb._storage.buffer, _I32(0), dGH._storage.buffer, _I32(dnext), _I32(dcur),
                _I32(has_next), dGI._storage.buffer, _I32(dcur), go._storage.buffer,
                _I32(gooff), _I32(gorow), acts._storage.buffer, _I32(aoff),
                hs._storage.buffer, _I32(hprev), carry._storage.buffer, _I32(carry._offset),
                self._bwd_ub)


_step_cache = {}


def step_kernels(dev, dt, N, H):
    """The StepKernels of (dev, dt, N, H), made once."""
    key = (dev, dt.cl, N, H)
    sk = _step_cache.get(key)
    if sk is None:
        sk = _step_cache[key] = StepKernels(dev, dt, N, H)
    return sk
