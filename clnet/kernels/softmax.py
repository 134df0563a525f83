"""softmax.cl's launches: softmax / log-softmax over rows and the fused cross-entropy.

Every kernel takes contiguous (rows, n) row blocks (element offsets passed with each buffer) and
runs in one of two layouts per device (``dev.tuning["softmax.ls"]``): a work-group of LS
work-items per row on GPUs, one work-item looping over rows on CPU drivers. clnet/ops/softmax.py
holds the ops and their backward rules.
"""
import numpy as np

from ..backend.device_errors import error_flag
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from .layout import check_index_range, row_groups, row_local

_I32 = np.int32

_programs = ProgramCache("softmax", lambda dev, dt, ls: (("T", dt.cl), ("LS", ls),
                                                          ("VW", 32 // dt.itemsize)))


def _row_local(dev):
    """LS of cl_kernels/softmax.cl on ``dev`` (row_local: "softmax.ls")."""
    return row_local(dev, "softmax.ls")


def _kernel(dev, dt, name, arg_types):
    return _programs(dev, dt, _row_local(dev)).kernel(name, arg_types)


def _rows_launch(dev, kernel, rows, *args):
    ls = _row_local(dev)
    if ls == 1:     # the kernels loop over rows (row += groups)
        enqueue(dev, kernel, (row_groups(dev, rows, 1),), (1,), *args)
    else:
        enqueue(dev, kernel, (rows * ls,), (ls,), *args)


def softmax_fwd(op, x, y, rows, n, log_out):
    """``y`` = (log-)softmax of each of the ``rows`` rows of length ``n`` of ``x`` (both
    contiguous, non-empty)."""
    check_index_range(op, x, y)
    dev = x._storage.device
    k = _kernel(dev, x.dtype, "softmax_fwd", [_I32, _I32, None, _I32, None, _I32, _I32])
    _rows_launch(dev, k, rows, rows, n, x._storage.buffer, x._offset, y._storage.buffer,
                 y._offset, int(log_out))


def softmax_bwd(g, y, gx, rows, n, log_out):
    """``gx`` = the input gradient of (log-)softmax rows from the output ``y`` and its gradient
    ``g`` (all contiguous (rows, n), non-empty)."""
    dev = y._storage.device
    k = _kernel(dev, y.dtype, "softmax_bwd", [_I32, _I32, None, _I32, None, _I32, None, _I32,
                                              _I32])
    _rows_launch(dev, k, rows, rows, n, g._storage.buffer, g._offset, y._storage.buffer,
                 y._offset, gx._storage.buffer, gx._offset, int(log_out))


def cross_entropy_fwd(x2, t2, wbuf, has_w, ignore_index, eps, loss, wrow, lse):
    """Per-row cross-entropy of logits ``x2`` (rows, C) against int64 classes ``t2``: writes
    ``loss``, the row weights ``wrow`` and the rows' log-sum-exp ``lse`` (for the backward). A
    class index out of range sets the device's error flag."""
    rows, n = x2._shape
    dev, dt = x2._storage.device, x2.dtype
    st = dt.np.type
    check_index_range("cross_entropy", x2)
    k = _kernel(dev, dt, "cross_entropy_fwd", [
        _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, _I32, st, None, None, None, None])
    _rows_launch(dev, k, rows, rows, n, x2._storage.buffer, x2._offset, t2._storage.buffer,
                 t2._offset, wbuf._storage.buffer, wbuf._offset, int(has_w), int(ignore_index),
                 st(eps), loss._storage.buffer, wrow._storage.buffer, lse._storage.buffer,
                 error_flag(dev, "cross_entropy"))


def cross_entropy_bwd(x2, t2, wbuf, has_w, ignore_index, eps, wsum, lse, gc, gx):
    """``gx`` (rows, C) = the logits' gradient of the per-row cross-entropy for the incoming
    per-row gradient ``gc``; ``wsum`` is the class weights' total (a 0-d device tensor)."""
    rows, n = x2._shape
    dev, dt = x2._storage.device, x2.dtype
    st = dt.np.type
    k = _kernel(dev, dt, "cross_entropy_bwd", [
        _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, _I32, st, None, _I32, None, None,
        _I32, _I32, None])
    _rows_launch(dev, k, rows, rows, n, x2._storage.buffer, x2._offset, t2._storage.buffer,
                 t2._offset, wbuf._storage.buffer, wbuf._offset, int(has_w), int(ignore_index),
                 st(eps), wsum._storage.buffer, wsum._offset, lse._storage.buffer,
                 gc._storage.buffer, gc._offset, gc._stride[0] if gc._shape else 0,
                 gx._storage.buffer)
