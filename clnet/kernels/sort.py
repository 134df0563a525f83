"""sort.cl's launches: a bitonic sort of contiguous rows in local-memory chunks, merged pairwise
for rows longer than a chunk, and the run boundaries and statistics behind ``unique``.
``clnet/ops/sort.py`` holds sort/argsort/topk/unique and the backward."""
import numpy as np

from .. import dtypes
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .layout import buf, launch_1d

_I32 = np.int32
_MAX_CHUNK = 2048       # elements per work-group in local memory (keys + int positions)
_MAX_GROUP = 256
_program = ProgramCache("sort", lambda dev, chunk: (("SORT_CHUNK", chunk),))   # (dev, chunk)


def _config(dev):
    """(program, chunk, work-group size) for ``dev``: the chunk fits the largest key (8 bytes)
    plus its int position in half the local memory, so any driver overhead still fits."""
    chunk = _MAX_CHUNK
    while chunk > 64 and chunk * 12 > dev.local_mem_size // 2:
        chunk //= 2
    group = min(_MAX_GROUP, dev.max_work_group_size, chunk // 2)
    return _program(dev, chunk), chunk, group


def _next_pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def sort_rows(x, descending, out_len):
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
    k_init = prg.kernel(f"sort_init_{t}", [_I32, None, _I32, _I32, _I32, None, None])
    launch_1d(dev, k_init, total, total, buf(x), x._offset, L, P, buf(keys), buf(idx))
    span = min(chunk, _next_pow2(total))
    groups = -(-total // span)
    k_local = prg.kernel(f"sort_local_{t}", [_I32, None, None, _I32, _I32, _I32, _I32])
    enqueue(dev, k_local, (groups * group,), (group,), total, buf(keys), buf(idx), L, P, desc, span)
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
            enqueue(dev, k_merge, ((total // chunk) * group,), (group,), total, buf(keys),
                    buf(idx), L, P, desc, k)
            k *= 2
    vals = Tensor._empty((R, out_len), x.dtype, dev)
    inds = Tensor._empty((R, out_len), dtypes.int64, dev)
    n = R * out_len
    if n:
        k_fin = prg.kernel(f"sort_finish_{t}", [_I32, None, None, _I32, _I32, None, None])
        launch_1d(dev, k_fin, n, n, buf(keys), buf(idx), out_len, P, buf(vals), buf(inds))
    return vals, inds


def run_starts(values, flags):
    """``flags[i]`` = whether sorted ``values[i]`` starts a run of equal values (NaNs each start
    one)."""
    n = values.numel()
    if n:
        dev = values._storage.device
        k = _config(dev)[0].kernel(f"run_starts_{values.dtype.cl}", [_I32, None, None])
        launch_1d(dev, k, n, n, buf(values), buf(flags))
    return flags


def run_stats(n, starts, perm, inverse, counts):
    """For the ``nruns`` runs starting at ``starts`` in a sort of ``n`` elements (``perm`` the
    sorting permutation): each input element's run (``inverse``) and each run's length."""
    nruns = starts.numel()
    if nruns:
        dev = starts._storage.device
        k = _config(dev)[0].kernel("run_stats", [_I32, _I32, None, None, None, None])
        launch_1d(dev, k, nruns, nruns, n, buf(starts), buf(perm), buf(inverse), buf(counts))
