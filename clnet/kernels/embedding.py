"""embedding.cl's launches: the in-place max-norm renormalisation of looked-up rows and the
weight gradient as sums over runs of equal (sorted) indices. clnet/ops/embedding.py holds the
op, its index checks and its backward rules; the lookup itself is an index_select."""
import numpy as np

from ..backend.programs import ProgramCache
from ..backend.launch import enqueue

_LOCAL = 64
_I32 = np.int32

_program = ProgramCache("embedding", lambda dev, dt: (("T", dt.cl),))   # (dev, dtype)


def embedding_renorm(svals, weight, max_norm, norm_type):
    """Scale each row of ``weight`` (V, D, any strides) named in the sorted indices ``svals``
    (n, contiguous) down to a ``norm_type`` norm of at most ``max_norm``, in place."""
    n, (V, D) = svals.numel(), weight._shape
    dev, dt = weight._storage.device, weight.dtype
    k = _program(dev, dt).kernel(f"embedding_renorm_{svals.dtype.cl}", [
        _I32, _I32, _I32, None, None, _I32, _I32, _I32, dt.np.type, dt.np.type])
    enqueue(dev, k, (-(-n // _LOCAL) * _LOCAL,), (_LOCAL,), n, D, V, svals._storage.buffer,
            weight._storage.buffer, weight._offset, weight._stride[0], weight._stride[1],
            dt.np.type(max_norm), dt.np.type(norm_type))


def embedding_bwd(svals, perm, g, pad, scale_by_freq, gw):
    """``gw`` (V, D, zero-filled, contiguous) += the rows of ``g`` (n, D, contiguous) at their
    indices: ``svals`` are the indices sorted stably, ``perm`` their original positions; one
    work-item per (run of equal indices, column) adds its run in order (no float atomics: the
    same bits on every run). Row ``pad`` gets nothing; ``scale_by_freq`` divides by the run's
    length."""
    n, D = perm.numel(), g._shape[-1]
    V = gw._shape[0]
    dev, dt = g._storage.device, g.dtype
    k = _program(dev, dt).kernel(f"embedding_bwd_{svals.dtype.cl}", [
        _I32, _I32, _I32, None, None, None, _I32, _I32, _I32, None])
    enqueue(dev, k, (-(-D // _LOCAL) * _LOCAL, n), (_LOCAL, 1), n, D, V, svals._storage.buffer,
            perm._storage.buffer, g._storage.buffer, g._offset, pad, int(scale_by_freq),
            gw._storage.buffer)
