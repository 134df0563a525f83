"""Cumulative reductions along one dim: cumsum, cumprod (PyTorch semantics: integer and bool
inputs give int64, ``dtype=`` casts the input first). Kernels: cl_kernels/scan.cl."""
import numpy as np

from .. import dtypes
from ..backend.programs import get_program
from ..tensor import Tensor
from ._layout import check_index_range, launch_1d, numel
from ._reduce_launch import tuning
from .copy import cast, contiguous

__all__ = ["cumsum", "cumprod"]

_I32 = np.int32


def _scan(op, input, dim, dtype):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if dim is None:
        raise TypeError(f"{op}(): missing required argument 'dim'")
    x = input if dtype is None else cast(input, dtypes.to_dtype(dtype))
    d = x._wrap_dim(dim)
    acc_dt = x.dtype if x.dtype.is_floating_point else dtypes.int64
    dev = x._storage.device
    out = Tensor._empty(x._shape, acc_dt, dev)
    n = out.numel()
    if n:
        check_index_range(op, x)
        c = contiguous(x)
        shape = c._shape or (1,)
        L = shape[d]
        inner = numel(shape[d + 1:])
        n_lines = n // L
        prg = get_program(dev, "scan", (("DT_" + c.dtype.cl, None),))
        cfg = tuning(dev)
        wanted, min_chunk = cfg["reduce.items"], cfg["reduce.min_chunk"]
        if inner == 1 and n_lines < wanted and L >= 2 * min_chunk:
            # few long lines: three passes over chunks, so every core gets work
            chunks = min(-(-wanted // n_lines), L // min_chunk)
            chunk_len = -(-L // chunks)
            chunks = -(-L // chunk_len)
            totals = Tensor._empty((n_lines * chunks,), acc_dt, dev)
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
    if dtype is not None and out.dtype is not x.dtype:
        out = cast(out, x.dtype)           # e.g. cumsum(int32 input, dtype=int32)
    from . import reduce_grads as RG
    if x.dim() == 0:
        return out
    return (RG.record_cumsum if op == "cumsum" else RG.record_cumprod)(x, out, d)


def cumsum(input, dim, *, dtype=None):
    return _scan("cumsum", input, dim, dtype)


def cumprod(input, dim, *, dtype=None):
    return _scan("cumprod", input, dim, dtype)


TENSOR_METHODS = {
    "cumsum": lambda self, dim, *, dtype=None: cumsum(self, dim, dtype=dtype),
    "cumprod": lambda self, dim, *, dtype=None: cumprod(self, dim, dtype=dtype),
}
