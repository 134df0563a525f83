"""Embedding lookup with torch.nn.functional.embedding's signature. Kernels:
cl_kernels/embedding.cl, launched by clnet/kernels/embedding.py.

Forward: ``index_select`` of the weight's rows (any index shape). Backward: the looked-up
indices are sorted stably (clnet's sort), so equal indices form runs; one work-item per (run,
column) adds its run's gradient rows in their original order into a zero-filled weight gradient.
No float atomics, the same bits on every run, and the cost is O(n log^2 n) for the sort plus
O(n * dim) for the sums, whatever the vocabulary size.

Index bounds follow clnet.ops.index: indices given as host data (lists, numpy arrays) are checked
on the host and raise IndexError; a device index tensor is used as it is (checking it would wait
for the device), and an out-of-range index reads a zero row and contributes no gradient.
"""
import numpy as np

from .. import dtypes, graph
from ..kernels.embedding import embedding_bwd, embedding_renorm
from ..tensor import Tensor
from ..kernels.layout import check_index_range, same_device
from .copy import cast, contiguous, fill_into, from_numpy_to
from .index import index_select, one_hot
from .reduce import sum as _sum
from .sort import sort
from .views import reshape

# torch.embedding takes (weight, indices): it is ``torch_embedding`` here, exported as
# clnet.embedding; ``embedding`` has F.embedding's signature (for clnet.nn.functional).
__all__ = []

def _indices(op, input, weight):
    """The index tensor on the weight's device; host data is range-checked here."""
    V = weight._shape[0]
    if isinstance(input, Tensor):
        if input.dtype not in (dtypes.int32, dtypes.int64):
            raise TypeError(f"{op}(): Expected tensor for argument #1 'indices' to have one of "
                            f"the following scalar types: Long, Int; but got {input.dtype} "
                            f"instead (shape {list(input._shape)})")
        same_device(op, weight, input)
        return input
    arr = np.asarray(input)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}(): indices must be integers, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= V):
        bad = arr[(arr < 0) | (arr >= V)].flat[0]
        raise IndexError(f"{op}(): index {bad} is out of range for a weight with {V} rows "
                         "(index out of range in self)")
    return from_numpy_to(arr.astype(np.int64), weight._storage.device, dtypes.int64)


def _padding(op, padding_idx, V):
    if padding_idx is None:
        return -1
    p = int(padding_idx)
    if not -V <= p < V:
        raise ValueError(f"{op}(): padding_idx must be within num_embeddings ({V}), got "
                         f"{padding_idx}")
    return p + V if p < 0 else p


def _sorted(flat_idx):
    """(sorted indices, their original positions int64) — runs of equal indices."""
    return sort(flat_idx, stable=True)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """F.embedding: rows of ``weight`` (num_embeddings, dim) picked by ``input`` (any shape);
    output shape input.shape + (dim,). The ``padding_idx`` row gets no gradient; ``max_norm``
    renormalises the looked-up rows of ``weight`` in place first; ``scale_grad_by_freq``
    divides each row's gradient by its index's count in ``input``."""
    op = "embedding"
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        raise ValueError(f"{op}(): 'weight' must be 2-D (num_embeddings, embedding_dim), got "
                         f"{list(weight._shape) if isinstance(weight, Tensor) else weight!r}")
    if sparse:
        raise ValueError(f"{op}(): sparse gradients are not supported by clnet (sparse=True); "
                         "use sparse=False, which gives the same values as a dense gradient")
    V, D = weight._shape
    idx = _indices(op, input, weight)
    pad = _padding(op, padding_idx, V)
    flat = reshape(contiguous(idx), (idx.numel(),))
    check_index_range(op, weight, flat)
    if max_norm is not None:
        _renorm_(weight, flat, float(max_norm), float(norm_type))
    prev = graph.set_grad_enabled_flag(False)     # the lookup records its own node below
    try:
        rows = index_select(weight, 0, flat)
    finally:
        graph.set_grad_enabled_flag(prev)
    out = reshape(rows, tuple(idx._shape) + (D,))
    if graph.recording(weight):
        def backward(g):
            return (_embedding_weight_grad(g, flat, V, pad, bool(scale_grad_by_freq)),)
        graph.record("EmbeddingBackward0", out, (weight,), backward)
    return out


def _renorm_(weight, flat, max_norm, norm_type):
    """PyTorch's embedding_renorm_: in place, outside the graph."""
    if not flat.numel() or not weight._shape[1]:
        return
    if not weight.dtype.is_floating_point:
        raise TypeError(f"embedding(): max_norm needs a floating-point weight, got {weight.dtype}")
    svals, _ = _sorted(flat)
    embedding_renorm(svals, weight, max_norm, norm_type)
    weight._bump_version()


def _embedding_weight_grad(g, flat, V, pad, scale_by_freq):
    """grad_weight (V, D) = the rows of g added at their indices. Records its own backward
    (a lookup of the incoming gradient, linear in g), so double backward works."""
    D = g._shape[-1]
    n = flat.numel()
    dev, dt = g._storage.device, g.dtype
    gw = fill_into(Tensor._empty((V, D), dt, dev), 0)
    if n and D:
        gc = contiguous(g.detach())
        svals, perm = _sorted(flat)
        embedding_bwd(svals, perm, gc, pad, scale_by_freq, gw)
    if graph.recording(g):
        def backward(gg):
            rows = embedding(flat, gg)                       # d gw[v] / d g[i] = [idx[i] == v]
            keep = flat != pad
            if scale_by_freq:
                counts = _sum(cast(one_hot(flat, V), dt), 0)
                rows = rows / reshape(index_select(counts, 0, flat), (n, 1))
            rows = rows * reshape(cast(keep, dt), (n, 1))
            return (reshape(rows, g._shape),)
        graph.record("EmbeddingBackwardBackward0", gw, (g,), backward)
    return gw


def torch_embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """torch.embedding: ATen's order (weight first); padding_idx < 0 means none."""
    pad = padding_idx if padding_idx is not None and padding_idx >= 0 else None
    return embedding(indices, weight, pad, None, 2.0, scale_grad_by_freq, sparse)
