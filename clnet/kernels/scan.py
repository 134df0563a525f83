"""scan.cl's launches: cumulative sums and products along one dim of a contiguous tensor.
``clnet/ops/scan.py`` holds cumsum/cumprod and their backward. The chunk sizes follow the
reduction tuning (clnet/kernels/reduce.py), whose reduce_template.h scan.cl shares."""
import numpy as np

from ..backend.programs import ProgramCache
from ..tensor import Tensor
from .layout import launch_1d, numel
from .reduce import tuning

_I32 = np.int32
_program = ProgramCache("scan", lambda dev, dt: (("DT_" + dt.cl, None),))  # (dev, dtype)


def scan_into(op, c, d, out):
    """``out`` (contiguous, the accumulator dtype) = ``op`` ("cumsum"/"cumprod") of the
    contiguous tensor ``c`` along dim ``d``. Lines that are few and long run in three passes over
    chunks (totals, carries, chunks) so that every core gets work."""
    dev = c._storage.device
    n = out.numel()
    shape = c._shape or (1,)
    L = shape[d]
    inner = numel(shape[d + 1:])
    n_lines = n // L
    prg = _program(dev, c.dtype)
    cfg = tuning(dev)
    wanted, min_chunk = cfg["reduce.items"], cfg["reduce.min_chunk"]
    if inner == 1 and n_lines < wanted and L >= 2 * min_chunk:
        chunks = min(-(-wanted // n_lines), L // min_chunk)
        chunk_len = -(-L // chunks)
        chunks = -(-L // chunk_len)
        totals = Tensor._empty((n_lines * chunks,), out.dtype, dev)
        launch_1d(dev, prg.kernel(f"{op}_chunk_totals", [_I32] * 4 + [None, _I32, None]),
                  n_lines * chunks, n_lines, L, chunks, chunk_len, c._storage.buffer, c._offset,
                  totals._storage.buffer)
        launch_1d(dev, prg.kernel(f"{op}_carry", [_I32, _I32, None]), n_lines,
                  n_lines, chunks, totals._storage.buffer)
        launch_1d(dev, prg.kernel(f"{op}_chunks", [_I32] * 4 + [None, _I32, None, None]),
                  n_lines * chunks, n_lines, L, chunks, chunk_len, c._storage.buffer, c._offset,
                  totals._storage.buffer, out._storage.buffer)
    else:
        launch_1d(dev, prg.kernel(f"{op}_lines", [_I32] * 3 + [None, _I32, None]), n_lines,
                  n_lines, L, inner, c._storage.buffer, c._offset, out._storage.buffer)
    return out
