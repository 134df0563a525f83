"""sparse.cl's launch: the row-compressed sparse x dense product ``out = A @ x``, one work-item
per output element walking its row's entries. clnet/sparse/ops.py builds the row-compressed
plan from a coalesced COO tensor and holds the products and their backward rules.
"""
import numpy as np

from ..backend.programs import ProgramCache
from ..backend.launch import enqueue

_I32 = np.int32
_LOCAL = 64

_program = ProgramCache("sparse", lambda dev, dt: (("T", dt.cl),))   # (dev, dtype)


def spmm_csr(M, K, row_ptr, col, values, x, out):
    """``out`` (M, N, zero-filled, contiguous) = A @ ``x`` (K, N, any strides) for A given by
    its int32 row pointers ``row_ptr`` (M + 1) and column indices ``col`` and its ``values``
    (contiguous, in the same entry order)."""
    N = x._shape[1]
    dev, dt = x._storage.device, x.dtype
    lx = 1
    while lx < min(N, _LOCAL):
        lx *= 2
    ly = _LOCAL // lx
    k = _program(dev, dt).kernel("spmm_csr", [_I32, _I32, _I32, None, None, None, _I32, None,
                                              _I32, _I32, _I32, None])
    enqueue(dev, k, (-(-N // lx) * lx, -(-M // ly) * ly), (lx, ly), M, N, K,
            row_ptr._storage.buffer, col._storage.buffer, values._storage.buffer, values._offset,
            x._storage.buffer, x._offset, x._stride[0], x._stride[1], out._storage.buffer)
