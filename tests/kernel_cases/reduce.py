"""cl_kernels/reduce.cl: every reduction kernel of every dtype in every launch layout.

The reduce family picks its layout per device from ``dev.tuning["reduce.*"]`` (see
clnet/kernels/reduce.py): a CPU takes the ``_cols``/``_colsv`` kernels, a GPU the ``_rows``
work-group tree. Oclgrind reports a GPU and PoCL a CPU, so each case forces its layouts
explicitly, each one with and without the chunked two-pass path:
  cols      : rows kernel off; one pass, then many chunks (partials reduced by a second launch)
  rows      : rows kernel for every contiguous row, blocked and interleaved loads, one pass and
              chunked (small work-groups keep the simulation cheap)
Shapes: rows of 300 (unaligned row starts, a vector tail), columns of 17 outputs (colsv with a
partial vector group, gathered loads) and 32 outputs (aligned vector loads), a strided view
(scalar strided walks) and the whole tensor.
"""
import contextlib

import numpy as np

import clnet
from clnet.kernels import reduce as _reduce_launch

from ._util import check, dtype_names, host, strided

LAYOUTS = {
    "cols": dict(rows_min=1 << 30, items=1, min_chunk=1 << 30),
    "cols_chunked": dict(rows_min=1 << 30, items=1 << 20, min_chunk=4),
    "rows_blocked": dict(rows_min=1, local=16, interleave=0, groups=1, min_chunk=1 << 30),
    "rows_interleaved": dict(rows_min=1, local=16, interleave=1, groups=1, min_chunk=1 << 30),
    "rows_blocked_chunked": dict(rows_min=1, local=16, interleave=0, groups=1 << 20,
                                 min_chunk=1),
    "rows_interleaved_chunked": dict(rows_min=1, local=16, interleave=1, groups=1 << 20,
                                     min_chunk=1),
}


@contextlib.contextmanager
def forced_layout(dev, **overrides):
    """Override the device's reduce.* launch parameters for the duration of a block."""
    _reduce_launch.tuning(dev)
    saved = dict(dev.tuning)
    dev.tuning.update({"reduce." + k: v for k, v in overrides.items()})
    try:
        yield
    finally:
        dev.tuning.clear()
        dev.tuning.update(saved)


def _np_ref(op, a, dim):
    """numpy result of clnet op ``op`` over ``dim`` (None: everything)."""
    x = a.astype(np.float64) if a.dtype.kind == "f" else a
    if op == "sum":
        return a.sum(dim, dtype=a.dtype if a.dtype.kind == "f" else np.int64)
    if op == "prod":
        return a.prod(dim, dtype=a.dtype if a.dtype.kind == "f" else np.int64)
    if op in ("amax", "amin"):
        return getattr(np, op)(a, dim)
    if op in ("argmax", "argmin"):
        return getattr(np, op)(a.reshape(-1) if dim is None else a, dim).astype(np.int64)
    if op == "count_nonzero":
        return np.count_nonzero(a, dim).astype(np.int64)
    if op in ("all", "any"):
        return getattr(np, op)(a, dim)
    if op == "var":
        return x.var(dim, ddof=1)
    if op == "logsumexp":
        m = x.max(dim, keepdims=True)
        return (np.log(np.exp(x - m).sum(dim, keepdims=True)) + m).squeeze(dim)
    p = float(op[len("norm"):])                # "norm1", "norm-inf", ...
    ax = x.reshape(-1) if dim is None else x
    return np.linalg.norm(ax, p, axis=dim if dim is not None else 0)


INT_OPS = ["sum", "prod", "amax", "amin", "argmax", "argmin", "count_nonzero", "all", "any"]
FLOAT_OPS = INT_OPS + ["var", "logsumexp", "norm0", "norm1", "norm2", "norm3", "norminf",
                       "norm-inf"]


def _run(op, t, dim):
    if op.startswith("norm"):
        return clnet.norm(t, float(op[len("norm"):]), dim)
    return getattr(clnet, op)(t, dim)


def _check_op(op, a, t, dim, name):
    got = _run(op, t, dim)
    ref = _np_ref(op, a, dim)
    if op == "prod" and name in ("float32", "float64") and (a.size if dim is None else a.shape[dim]) > 40:
        return                                  # long float products: order-dependent overflow
    rtol = 1e-3 if name == "float32" else 1e-6
    check(got, np.asarray(ref).astype(got.numpy().dtype), rtol=rtol, atol=1e-4)


def _inputs(name):
    """(array, dims) pairs: rows of 300, columns of 17 and 32 outputs (20 long), strided."""
    low, high = (-3, 3) if name in ("float32", "float64") else (0, 2)
    rows = host(name, (2, 300), seed=11, low=low, high=high)
    cols17 = host(name, (20, 17), seed=12, low=low, high=high)
    cols32 = host(name, (20, 32), seed=13, low=low, high=high)
    return rows, cols17, cols32


def _sweep_layout(dev, layout):
    with forced_layout(dev, **LAYOUTS[layout]):
        for name in dtype_names(dev):
            ops = FLOAT_OPS if name in ("float32", "float64") else INT_OPS
            rows, cols17, cols32 = _inputs(name)
            for op in ops:
                _check_op(op, rows, clnet.tensor(rows, device=dev), 1, name)
                _check_op(op, rows, clnet.tensor(rows, device=dev), None, name)
                if layout.startswith("cols"):   # column walks: colsv (si == 1) and strided cols
                    _check_op(op, cols17, clnet.tensor(cols17, device=dev), 0, name)
                    _check_op(op, cols32, clnet.tensor(cols32, device=dev), 0, name)
                    _check_op(op, cols17, strided(cols17, dev), 0, name)
            values, indices = clnet.max(clnet.tensor(rows, device=dev), 1)
            check(values, rows.max(1))
            check(indices, np.argmax(rows, 1).astype(np.int64))


def cols_one_pass(dev):
    _sweep_layout(dev, "cols")


def cols_chunked(dev):
    _sweep_layout(dev, "cols_chunked")


def rows_blocked(dev):
    _sweep_layout(dev, "rows_blocked")


def rows_interleaved(dev):
    _sweep_layout(dev, "rows_interleaved")


def rows_blocked_chunked(dev):
    _sweep_layout(dev, "rows_blocked_chunked")


def rows_interleaved_chunked(dev):
    _sweep_layout(dev, "rows_interleaved_chunked")


def device_default_layout(dev):
    """Whatever the device's own tuning picks, on edge sizes, keepdim and empty reductions."""
    for name in dtype_names(dev):
        for shape in [(1,), (7,), (65,), (5, 13)]:
            a = host(name, shape, seed=1, low=0, high=2)
            for t in (clnet.tensor(a, device=dev), strided(a, dev)):
                check(clnet.sum(t, -1, keepdim=True),
                      a.sum(-1, keepdims=True, dtype=a.dtype if a.dtype.kind == "f" else np.int64),
                      rtol=1e-5, atol=1e-5)
                check(clnet.amax(t), np.amax(a))
                check(clnet.argmin(t), np.int64(np.argmin(a)))
    empty = clnet.tensor(np.zeros((0, 4), np.float32), device=dev)
    check(clnet.sum(empty, 0), np.zeros(4, np.float32))
    check(clnet.any(empty, 0), np.zeros(4, np.bool_))


CASES = [cols_one_pass, cols_chunked, rows_blocked, rows_interleaved, rows_blocked_chunked,
         rows_interleaved_chunked, device_default_layout]
