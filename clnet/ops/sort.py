"""Sorting: sort, argsort, msort, topk, unique. Kernels: cl_kernels/sort.cl.

Each row (the sorted dimension, moved last and made contiguous) is padded to a power of two and
sorted by a bitonic network over (value, original position) pairs: rows up to SORT_CHUNK
elements entirely in local memory (several short rows per work-group), longer rows with
global-memory merge passes between local ones (O(n log^2 n) work, about log^2(n/chunk)/2 extra
launches). NaN sorts as the largest value, as in PyTorch. Ties are broken by the original
position, so every sort is stable and ``stable=False`` gives the same (valid) answer.

Autograd: the values of sort/msort/topk get a gradient, scattered back to the positions the
indices name (``zeros.scatter_(dim, indices, g)``, differentiable in g); indices, argsort and
unique have none.
"""
import collections

import numpy as np

from .. import dtypes, graph
from ..backend.programs import get_program
from ..tensor import Tensor
from ._layout import buf, check_index_range, launch_1d
from .copy import contiguous, copy_into, fill_into
from .index import gather, scatter_
from .indexing import no_grad_recording, nonzero_positions

__all__ = ["sort", "argsort", "msort", "topk", "unique"]

_I32 = np.int32
_MAX_CHUNK = 2048       # elements per work-group in local memory (keys + int positions)
_MAX_GROUP = 256

# PyTorch's named tuples (torch.return_types.sort / topk)
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])


def _config(dev):
    """(program, chunk, work-group size) for ``dev``: the chunk fits the largest key (8 bytes)
    plus its int position in half the local memory, so any driver overhead still fits."""
    chunk = _MAX_CHUNK
    while chunk > 64 and chunk * 12 > dev.local_mem_size // 2:
        chunk //= 2
    group = min(_MAX_GROUP, dev.max_work_group_size, chunk // 2)
    return get_program(dev, "sort", (("SORT_CHUNK", chunk),)), chunk, group


def _next_pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def _sort_rows(x, descending, out_len):
    """x: contiguous (R, L) with L >= 1. Returns (values, int64 indices), each (R, out_len)."""
    dev = x._storage.device
    R, L = x._shape
    prg, chunk, group = _config(dev)
    P = _next_pow2(L)
    total = R * P
    if total >= 2 ** 31:
        raise ValueError(f"sort: {R} rows of {L} elements need {total} padded slots; more than "
                         "2**31 are not supported")
    t = x.dtype.cl
    keys = Tensor._empty((total,), x.dtype, dev)
    idx = Tensor._empty((total,), dtypes.int32, dev)
    desc = 1 if descending else 0
    q = dev.queue
    k_init = prg.kernel(f"sort_init_{t}", [_I32, None, _I32, _I32, _I32, None, None])
    launch_1d(dev, k_init, total, total, buf(x), x._offset, L, P, buf(keys), buf(idx))
    span = min(chunk, _next_pow2(total))
    groups = -(-total // span)
    k_local = prg.kernel(f"sort_local_{t}", [_I32, None, None, _I32, _I32, _I32, _I32])
    k_local(q, (groups * group,), (group,), total, buf(keys), buf(idx), L, P, desc, span)
    if P > chunk:   # rows longer than a chunk: merge the sorted chunks pairwise, then larger
        k_global = prg.kernel(f"sort_merge_global_{t}",
                              [_I32, None, None, _I32, _I32, _I32, _I32, _I32])
        k_merge = prg.kernel(f"sort_merge_local_{t}", [_I32, None, None, _I32, _I32, _I32, _I32])
        npairs = total // 2
        k = 2 * chunk
        while k <= P:
            j = k // 2
            while j >= chunk:
                launch_1d(dev, k_global, npairs, npairs, buf(keys), buf(idx), L, P, desc, k, j)
                j //= 2
            k_merge(q, ((total // chunk) * group,), (group,), total, buf(keys), buf(idx), L, P,
                    desc, k)
            k *= 2
    vals = Tensor._empty((R, out_len), x.dtype, dev)
    inds = Tensor._empty((R, out_len), dtypes.int64, dev)
    n = R * out_len
    if n:
        k_fin = prg.kernel(f"sort_finish_{t}", [_I32, None, None, _I32, _I32, None, None])
        launch_1d(dev, k_fin, n, n, buf(keys), buf(idx), out_len, P, buf(vals), buf(inds))
    return vals, inds


def _sorted_along(op, input, dim, descending, out_len=None):
    """(values, indices) of input sorted along dim, keeping the first out_len of each row."""
    x = input.reshape(1) if input.dim() == 0 else input
    d = x._wrap_dim(dim)
    L = x._shape[d]
    out_len = L if out_len is None else out_len
    moved = x.movedim(d, -1)
    R = moved.numel() // L if L else 0
    out_shape = x._shape[:d] + (out_len,) + x._shape[d + 1:]
    dev = x._storage.device
    if L > 1 and R * out_len:
        rows = contiguous(moved).reshape(R, L)
        check_index_range(op, rows)
        v, i = _sort_rows(rows, descending, out_len)
        if d == x.dim() - 1:
            values, indices = v.reshape(out_shape), i.reshape(out_shape)
        else:   # rows were sorted with dim moved last: write them back into place
            values = Tensor._empty(out_shape, x.dtype, dev)
            indices = Tensor._empty(out_shape, dtypes.int64, dev)
            moved_shape = moved._shape[:-1] + (out_len,)
            copy_into(values.movedim(d, -1), v.reshape(moved_shape), op)
            copy_into(indices.movedim(d, -1), i.reshape(moved_shape), op)
    else:   # nothing to sort: rows of length <= 1, or no output
        values = Tensor._empty(out_shape, x.dtype, dev)
        indices = Tensor._empty(out_shape, dtypes.int64, dev)
        copy_into(values, x.narrow(d, 0, out_len), op)
        fill_into(indices, 0)
    if input.dim() == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return values, indices


def _recorded(op, name, input, dim, descending, out_len=None):
    """_sorted_along, recording the values' backward when input requires grad."""
    if not (graph.recording(input) and input.dtype.is_floating_point):
        return _sorted_along(op, input, dim, descending, out_len)
    with no_grad_recording():
        values, indices = _sorted_along(op, input, dim, descending, out_len)
    shape, dt = input._shape, input.dtype
    d = input._wrap_dim(dim) if input.dim() else 0

    def backward(g_values, g_indices):
        from .creation import zeros
        z = zeros(shape, dtype=dt, device=g_values._storage.device)
        return (scatter_(z, d, indices, g_values),)
    graph.record(name, (values, indices), (input,), backward, saved=(indices,))
    return values, indices


def sort(input, dim=-1, descending=False, stable=False, *, out=None):
    """(values, indices) sorted along ``dim``; NaN is the largest value; ties keep input order."""
    if out is not None:
        raise TypeError("sort(): out= is not supported; use the returned tensors")
    return SortResult(*_recorded("sort", "SortBackward0", input, dim, descending))


def argsort(input, dim=-1, descending=False, stable=False):
    return SortResult(*_sorted_along("sort", input, dim, descending)).indices


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) elements along ``dim`` and their indices, always in sorted
    order (PyTorch allows any order for sorted=False, so sorted order is valid)."""
    if input.dtype is dtypes.bool_:
        raise TypeError("topk does not support bool tensors (as in PyTorch); convert with .int()")
    size = input._shape[input._wrap_dim(dim)] if input.dim() else 1
    k = int(k)
    if k < 0 or k > size:
        raise ValueError(f"topk(): selected index k={k} out of range for dimension {dim} of "
                         f"size {size} (input shape {list(input._shape)})")
    v, i = _recorded("topk", "TopkBackward0", input, dim, largest, k)
    return TopkResult(v, i)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Distinct values of the flattened input in ascending order (NaNs are all distinct, as in
    PyTorch), with optional inverse indices (input's shape) and counts. Waits for the device:
    the number of distinct values sets the output size."""
    if dim is not None:
        raise ValueError("unique(): only dim=None (the flattened input) is supported")
    dev = input._storage.device
    flat = input.detach().reshape(-1)
    n = flat.numel()
    values, perm = sort(flat)
    prg, _, _ = _config(dev)
    flags = Tensor._empty((n,), dtypes.bool_, dev)
    if n:
        k = prg.kernel(f"run_starts_{input.dtype.cl}", [_I32, None, None])
        launch_1d(dev, k, n, n, buf(values), buf(flags))
    starts, nruns = nonzero_positions(flags)
    out = Tensor._empty((nruns,), input.dtype, dev)
    if nruns:
        out = gather(values, 0, starts)
    if not (return_inverse or return_counts):
        return out
    inverse = Tensor._empty(input._shape, dtypes.int64, dev)
    counts = Tensor._empty((nruns,), dtypes.int64, dev)
    if nruns:
        k = prg.kernel("run_stats", [_I32, _I32, None, None, None, None])
        launch_1d(dev, k, nruns, nruns, n, buf(starts), buf(perm), buf(inverse), buf(counts))
    result = [out]
    if return_inverse:
        result.append(inverse)
    if return_counts:
        result.append(counts)
    return tuple(result)


TENSOR_METHODS = {
    "sort": sort, "argsort": argsort, "msort": msort, "topk": topk, "unique": unique,
}
