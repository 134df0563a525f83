"""Cumulative reductions along one dim: cumsum, cumprod (PyTorch semantics: integer and bool
inputs give int64, ``dtype=`` casts the input first), each with its backward. Launches:
clnet/kernels/scan.py; kernels: cl_kernels/scan.cl."""
from .. import dtypes, graph
from ..kernels.copy import contiguous_copy
from ..kernels.layout import check_index_range
from ..kernels.scan import scan_into
from ..tensor import Tensor
from . import pointwise as P
from .copy import cast
from .join import flip

__all__ = ["cumsum", "cumprod"]


def _scan(op, input, dim, dtype):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if dim is None:
        raise TypeError(f"{op}(): missing required argument 'dim'")
    x = input if dtype is None else cast(input, dtypes.to_dtype(dtype))
    d = x._wrap_dim(dim)
    acc_dt = x.dtype if x.dtype.is_floating_point else dtypes.int64
    out = Tensor._empty(x._shape, acc_dt, x._storage.device)
    if out.numel():
        check_index_range(op, x)
        scan_into(op, contiguous_copy(x), d, out)
    if dtype is not None and out.dtype is not x.dtype:
        out = cast(out, x.dtype)           # e.g. cumsum(int32 input, dtype=int32)
    return out, x, d


def cumsum(input, dim, *, dtype=None):
    out, x, d = _scan("cumsum", input, dim, dtype)
    if x.dim() == 0 or not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    src_dt = x.dtype

    def backward(g):
        g = _reverse_cumsum(g, d)
        return (g if g.dtype is src_dt else cast(g, src_dt),)
    graph.record("CumsumBackward0", out, (x,), backward)
    return out


def _reverse_cumsum(t, dim):
    return flip(cumsum(flip(t, [dim]), dim), [dim])


def cumprod(input, dim, *, dtype=None):
    """Backward exact with zeros: before the first zero of a slice, revcumsum(g * out) / x; at
    the first zero, revcumsum(g * P) with P the cumprod where that zero is replaced by 1; after
    it, 0."""
    out, x, d = _scan("cumprod", input, dim, dtype)
    if x.dim() == 0 or not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    so = graph.SavedOutput(out)

    def backward(g):
        o = so.unpack()
        is_zero = x == 0
        first_zero = P.logical_and(is_zero, cumsum(P.where(is_zero, 1, 0), d) == 1)
        safe_x = P.where(is_zero, 1.0, x)
        nonzero_part = _reverse_cumsum(g * o, d) / safe_x
        p_first = cumprod(P.where(first_zero, 1.0, x), d)
        zero_part = _reverse_cumsum(g * p_first, d)
        return (P.where(is_zero, P.where(first_zero, zero_part, 0.0), nonzero_part),)
    graph.record("CumprodBackward0", out, (x,), backward, (x,), (so,))
    return out
