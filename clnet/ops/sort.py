"""Sorting: sort, argsort, msort, topk, unique. Launches: clnet/kernels/sort.py; kernels:
cl_kernels/sort.cl.

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

from .. import dtypes, graph
from ..graph import no_grad_recording
from ..kernels.index import nonzero_positions
from ..kernels.layout import check_index_range
from ..kernels.sort import run_starts, run_stats, sort_rows
from ..tensor import Tensor
from .copy import contiguous, copy_into, fill_into
from .creation import zeros
from .index import gather, scatter_

__all__ = ["sort", "argsort", "msort", "topk", "unique"]

# PyTorch's named tuples (torch.return_types.sort / topk)
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])


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
        v, i = sort_rows(rows, descending, out_len)
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
    flags = run_starts(values, Tensor._empty((n,), dtypes.bool_, dev))
    starts, nruns = nonzero_positions(flags)
    out = Tensor._empty((nruns,), input.dtype, dev)
    if nruns:
        out = gather(values, 0, starts)
    if not (return_inverse or return_counts):
        return out
    inverse = Tensor._empty(input._shape, dtypes.int64, dev)
    counts = Tensor._empty((nruns,), dtypes.int64, dev)
    run_stats(n, starts, perm, inverse, counts)
    result = [out]
    if return_inverse:
        result.append(inverse)
    if return_counts:
        result.append(counts)
    return tuple(result)
