"""PyTorch's numeric odds and ends, written as compositions of clnet's existing ops: closeness
tests (isclose, allclose, equal), NaN-aware reductions (nansum, nanmean, median, nanmedian),
aminmax, running extremes (cummax, cummin), diff, bincount, binary search (searchsorted,
bucketize), take; and, re-exported from numeric_pointwise.py (its pointwise half, which needs
no wiring of its own), logaddexp/logaddexp2, xlogy, sinc, logit, deg2rad, rad2deg, heaviside,
addcmul, addcdiv. Their Tensor methods (and the in-place forms torch has, x.addcmul_ etc., which
go through pointwise_methods' copy-back machinery) are listed in tensor_methods.py.

Why compositions: none of these needs its own kernel to be correct, so each is built from ops
that already run on every device (where, sort, gather, index_add_, maximum, log1p...). Autograd
then comes from those ops' own backward rules; where the composed rule would differ from
PyTorch's at an edge (xlogy at 0, logit outside [0, 1], median() over ties) a small node is
recorded with PyTorch's formula, itself written in clnet ops. Costs: cummax/cummin take
log2(n) passes (a doubling scan), searchsorted about log2(n) gathers (a vectorised binary search
with PyTorch's exact comparisons, so NaNs land where they do in PyTorch), bincount and median()
of an empty tensor read back from the device (the output size depends on the data).

Differences from PyTorch: take() reports an out-of-range device index at the next host read
(clnet's rule for device index tensors, see index.py), not at the call; heaviside's result records no gradient
(PyTorch records one that raises on backward); median/nanmedian over ties may return a
different index of an equal value (PyTorch's CPU index there is unspecified).
"""
import collections
import math

import numpy as np

from .. import dtypes, graph
from ..graph import no_grad_recording
from ..tensor import Tensor
from . import pointwise as P
from . import reduce as R
from .copy import cast, clone
from .creation import arange
from .elementwise import result_type
from .index import gather, index_add_
from .join import cat
from .pointwise_methods import wrap_inplace
from .sort import sort
from .numeric_pointwise import (NumericTypeError, NumericValueError, _check, _floating, _full,
                                addcdiv, addcmul, deg2rad, erfinv, heaviside, logaddexp,
                                logaddexp2, logit, rad2deg, sinc, xlogy)

__all__ = ["isclose", "allclose", "equal", "nansum", "nanmean", "median", "nanmedian", "aminmax",
           "cummax", "cummin", "diff", "bincount", "searchsorted", "bucketize", "take",
           "logaddexp", "logaddexp2", "xlogy", "sinc", "logit", "deg2rad", "rad2deg",
           "heaviside", "addcmul", "addcdiv", "erfinv"]

# torch.return_types.*
median_return = collections.namedtuple("median", ["values", "indices"])
nanmedian_return = collections.namedtuple("nanmedian", ["values", "indices"])
aminmax_return = collections.namedtuple("aminmax", ["min", "max"])
cummax_return = collections.namedtuple("cummax", ["values", "indices"])
cummin_return = collections.namedtuple("cummin", ["values", "indices"])


def _arange_along(n, d, nd, dev):
    shape = [1] * nd
    shape[d] = n
    return arange(n, device=dev).reshape(shape)


# ------------------------------------------------------------------ closeness
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise (and equal values, infinities
    included); NaNs compare equal only with equal_nan=True."""
    _check("isclose", input=input, other=other)
    if input.dtype is not other.dtype:
        raise NumericTypeError(f"isclose(): input ({input.dtype}) and other ({other.dtype}) must have "
                        f"the same dtype (shapes {list(input.shape)} and {list(other.shape)})")
    if rtol < 0 or atol < 0:
        raise NumericValueError(f"isclose(): rtol ({rtol}) and atol ({atol}) must be non-negative")
    a, b = input.detach(), other.detach()
    close = P.eq(a, b)
    if equal_nan and a.dtype.is_floating_point:
        close = P.logical_or(close, P.logical_and(P.isnan(a), P.isnan(b)))
    if rtol == 0 and atol == 0:
        return close
    if a.dtype is dtypes.bool_:
        a, b = _floating(a), _floating(b)
    allowed = P.add(P.abs(P.mul(b, rtol)), atol)
    actual = P.abs(P.sub(a, b))
    return P.logical_or(close, P.logical_and(P.isfinite(actual), P.le(actual, allowed)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """isclose over all elements, as a Python bool."""
    return bool(R.all(isclose(input, other, rtol, atol, equal_nan)).item())


def equal(input, other):
    """True when both have the same shape and equal elements (after type promotion)."""
    _check("equal", input=input, other=other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(R.all(P.eq(input.detach(), other.detach())).item())


# ------------------------------------------------------------------ NaN-aware reductions
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """sum with NaNs counted as zero (their gradient is zero)."""
    _check("nansum", input=input)
    x = input
    if x.dtype.is_floating_point:
        x = P.where(P.isnan(x), 0, x)
    return R.sum(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """mean of the non-NaN elements (NaN where there are none)."""
    _check("nanmean", input=input)
    if not input.dtype.is_floating_point:
        raise NumericTypeError(f"nanmean(): expected input to have floating point dtype but got "
                        f"{input.dtype} (shape {list(input.shape)})")
    count = R.sum(P.logical_not(P.isnan(input)), dim, keepdim)
    return P.div(nansum(input, dim, keepdim, dtype=dtype), count)


def _median_dim(op, input, dim, keepdim, ignore_nan):
    """(values, indices) of the lower median along dim. Without ignore_nan a row holding NaN
    gives NaN and the index of its first NaN; with it, NaNs are left out (all-NaN: NaN, 0)."""
    x = input.reshape(1) if input.dim() == 0 else input
    d = x._wrap_dim(dim)
    n = x.shape[d]
    out_shape = list(x.shape)
    out_shape[d] = 1
    if n == 0 and math.prod(out_shape):
        raise R.EmptyReductionError(f"{op}(): Expected reduction dim {d} to have non-zero size "
                                    f"(input shape {list(input.shape)})")
    vals, idx = sort(x, d)
    dev = x.device
    if x.dtype.is_floating_point and math.prod(out_shape):
        nan_count = R.sum(P.isnan(x.detach()), d, keepdim=True)
        if ignore_nan:
            k = P.clamp(P.floor_divide(P.rsub(nan_count, n - 1), 2), min=0)
        else:   # NaNs sort last: the first one in the row sits at n - nan_count (sort is stable)
            k = P.where(P.gt(nan_count, 0), P.rsub(nan_count, n), (n - 1) // 2)
    else:
        k = _full(out_shape, max((n - 1) // 2, 0), dtypes.int64, dev)
    values, indices = gather(vals, d, k), gather(idx, d, k)
    if input.dim() == 0:
        return values.reshape(()), indices.reshape(())
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return values, indices


def _median_all(op, input, ignore_nan):
    """The median of all elements; its gradient is spread evenly over the elements equal to it
    (PyTorch's evenly_distribute_backward)."""
    if input.numel() == 0:
        if input.dtype.is_floating_point:
            return _full((), math.nan, input.dtype, input.device)
        return _full((), int(np.iinfo(input.dtype.np).min), input.dtype, input.device)
    with no_grad_recording():
        value = _median_dim(op, input.detach().reshape(-1), 0, False, ignore_nan)[0]
    if graph.recording(input) and input.dtype.is_floating_point:
        v = value.detach()

        def backward(g):
            mask = P.logical_or(P.eq(input, v), P.logical_and(P.isnan(input), P.isnan(v)))
            return (P.where(mask, P.div(g, R.sum(mask)), 0.0),)
        graph.record(("Nanm" if ignore_nan else "M") + "edianBackward0", value, (input,),
                     backward, saved=(input,))
    return value


def median(input, dim=None, keepdim=False):
    """median(x): the lower median of all elements; median(x, dim, keepdim) -> (values,
    indices). NaN propagates (a row with NaN gives NaN)."""
    _check("median", input=input)
    if dim is None:
        if keepdim:
            raise TypeError("median(): keepdim needs a dim (use median(input, dim, keepdim=True))")
        return _median_all("median", input, False)
    return median_return(*_median_dim("median", input, dim, keepdim, False))


def nanmedian(input, dim=None, keepdim=False):
    """median ignoring NaNs (NaN only where every element is NaN)."""
    _check("nanmedian", input=input)
    if dim is None:
        if keepdim:
            raise TypeError("nanmedian(): keepdim needs a dim")
        return _median_all("nanmedian", input, True)
    return nanmedian_return(*_median_dim("nanmedian", input, dim, keepdim, True))


def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) over dim (an int) or over everything (dim=None)."""
    _check("aminmax", input=input)
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"aminmax(): dim must be an int or None, got {dim!r}")
    empty = input.numel() == 0 and (dim is None or input.dim() == 0 or
                                    input.shape[input._wrap_dim(dim)] == 0)
    if empty:
        raise R.EmptyReductionError(f"aminmax(): cannot compute aminmax over an empty dimension "
                                    f"as the operation has no identity (input shape "
                                    f"{list(input.shape)}, dim {dim})")
    d = () if dim is None else dim
    return aminmax_return(R.amin(input, d, keepdim), R.amax(input, d, keepdim))


# ------------------------------------------------------------------ running extremes
def _doubling(t, d, better):
    """Inclusive running ``better`` (maximum/minimum) along d: log2(n) shifted passes."""
    n = t.shape[d]
    s = 1
    while s < n:
        t = cat([t.narrow(d, 0, s), better(t.narrow(d, s, n - s), t.narrow(d, 0, n - s))], d)
        s *= 2
    return t


def _cum_extreme(op, input, dim):
    _check(op, input=input)
    x = input.reshape(1) if input.dim() == 0 else input
    d = x._wrap_dim(dim)
    n = x.shape[d]
    with no_grad_recording():
        xd = x.detach()
        if xd.dtype is dtypes.bool_:
            xd = cast(xd, dtypes.int32)
        v = _doubling(xd, d, P.maximum if op == "cummax" else P.minimum)
        # the running extreme at j is x[p] for the last p <= j where x[p] equals its own
        # running extreme (ties and NaNs included): PyTorch's last-index rule
        at_record = P.eq(xd, v)
        if xd.dtype.is_floating_point:
            at_record = P.logical_or(at_record, P.isnan(xd))
        pos = P.where(at_record, _arange_along(n, d, x.dim(), x.device), 0)
        indices = _doubling(pos, d, P.maximum)
    values = gather(x, d, indices)     # differentiable: backward scatter-adds to the indices
    if input.dim() == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return (cummax_return if op == "cummax" else cummin_return)(values, indices)


def cummax(input, dim):
    """(values, indices) of the running maximum along dim; NaN propagates; among equal
    maxima the last index is reported (as PyTorch)."""
    return _cum_extreme("cummax", input, dim)


def cummin(input, dim):
    return _cum_extreme("cummin", input, dim)


# ------------------------------------------------------------------ diff / bincount / take
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """n-th forward difference along dim (logical_xor for bool), after joining prepend/append."""
    _check("diff", input=input)
    if input.dim() == 0:
        raise NumericValueError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise NumericValueError(f"diff(): order must be non-negative but got {n}")
    d = input._wrap_dim(dim)
    parts = []
    for name, t in (("prepend", prepend), ("input", input), ("append", append)):
        if t is None:
            continue
        if name != "input":
            _check("diff", **{name: t})
            if t.dim() != input.dim():
                raise NumericValueError(f"diff expects {name} ({list(t.shape)}) to have the same number "
                                 f"of dimensions as input ({list(input.shape)})")
            if any(a != b for k, (a, b) in enumerate(zip(t.shape, input.shape)) if k != d):
                raise NumericValueError(f"diff expects the shape of {name} ({list(t.shape)}) to match "
                                 f"that of input ({list(input.shape)}) except along dim {d}")
        parts.append(t)
    x = cat(parts, d) if len(parts) > 1 else input
    if n == 0 and x is input:
        return clone(input)
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        hi, lo = x.narrow(d, 1, size - 1), x.narrow(d, 0, size - 1)
        x = P.logical_xor(hi, lo) if x.dtype is dtypes.bool_ else P.sub(hi, lo)
    return x


def bincount(input, weights=None, minlength=0):
    """Counts (int64) or summed weights (float32 for float32 weights, else float64) of each
    value of a 1-D non-negative integer tensor. Reads the maximum back from the device."""
    _check("bincount", input=input)
    if input.dtype not in (dtypes.int32, dtypes.int64):
        raise NumericTypeError(f"bincount(): not implemented for {input.dtype} (needs int32/int64)")
    if input.dim() != 1:
        raise NumericValueError(f"bincount only supports 1-d non-negative integral inputs (got shape "
                         f"{list(input.shape)})")
    if minlength < 0:
        raise NumericValueError(f"bincount(): minlength should be >= 0, got {minlength}")
    if weights is not None:
        _check("bincount", weights=weights)
        if weights.dim() != 1 or weights.shape[0] != input.shape[0]:
            raise NumericValueError(f"bincount(): weights should be 1-d and have the same length as "
                             f"input (weights shape {list(weights.shape)}, input shape "
                             f"{list(input.shape)})")
    size = minlength
    if input.numel():
        lo, hi = int(R.amin(input).item()), int(R.amax(input).item())
        if lo < 0:
            raise NumericValueError(f"bincount only supports 1-d non-negative integral inputs (found "
                             f"{lo})")
        size = max(size, hi + 1)
    if weights is None:
        dt, src = dtypes.int64, _full((input.numel(),), 1, dtypes.int64, input.device)
    else:
        dt = dtypes.float32 if weights.dtype is dtypes.float32 else dtypes.float64
        src = cast(weights.detach(), dt)
    out = _full((size,), 0, dt, input.device)
    if input.numel():
        index_add_(out, 0, input, src)
    return out


def take(input, index):
    """input.flatten()[index] (negative indices count from the end), shaped like index."""
    _check("take", input=input, index=index)
    if index.dtype is not dtypes.int64:
        raise NumericTypeError(f"take(): Expected a long tensor for index, but got {index.dtype}")
    flat = input.reshape(-1)
    idx = index.reshape(-1)
    idx = P.where(P.lt(idx, 0), P.add(idx, flat.numel()), idx)
    return gather(flat, 0, idx).reshape(index.shape)


# ------------------------------------------------------------------ binary search
def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Insertion points of ``values`` in the innermost dim of ``sorted_sequence`` (1-D, or with
    leading dims matching values'). A binary search with PyTorch's comparisons
    (left: !(seq[mid] >= v); right: !(seq[mid] > v)), so NaN values go last."""
    _check("searchsorted", sorted_sequence=sorted_sequence)
    if side not in (None, "left", "right"):
        raise NumericValueError(f"searchsorted(): side can only be 'left' or 'right', got {side!r}")
    if side == "left" and right:
        raise NumericValueError("searchsorted(): side and right can't be set to opposites, got side "
                         "of left while right was True")
    upper = right or side == "right"
    seq = sorted_sequence.detach()
    dev = seq.device
    if isinstance(values, Tensor):
        vals = values.detach()
    else:
        if seq.dim() != 1:
            raise NumericValueError(f"searchsorted(): input value can be a scalar only when boundaries "
                             f"tensor dimension is 1, got boundaries shape {list(seq.shape)}")
        vals = _full((), values, result_type(seq, values), dev)
    if seq.dim() == 0 or (seq.dim() > 1 and tuple(seq.shape[:-1]) != tuple(vals.shape[:-1])) \
            or (seq.dim() > 1 and vals.dim() != seq.dim()):
        raise NumericValueError(f"searchsorted(): boundaries tensor should be 1 dimension or the first "
                         f"N-1 dimensions of boundaries tensor and input value tensor must "
                         f"match (boundaries shape {list(seq.shape)}, values shape "
                         f"{list(vals.shape)})")
    if sorter is not None:
        _check("searchsorted", sorter=sorter)
        if sorter.dtype is not dtypes.int64 or tuple(sorter.shape) != tuple(seq.shape):
            raise NumericValueError(f"searchsorted(): sorter must be an int64 tensor of the "
                             f"boundaries' shape {list(seq.shape)}, got {sorter.dtype} "
                             f"{list(sorter.shape)}")
        seq = gather(seq, seq.dim() - 1, sorter)
    n = seq.shape[-1]
    shape = tuple(vals.shape)
    lo = _full(shape, 0, dtypes.int64, dev)
    if n and vals.numel():
        hi = _full(shape, n, dtypes.int64, dev)
        for _ in range(n.bit_length()):
            mid = P.floor_divide(P.add(lo, hi), 2)
            at = P.clamp(mid, max=n - 1)
            if seq.dim() == 1:
                mv = gather(seq, 0, at.reshape(-1)).reshape(shape)
            else:
                mv = gather(seq, seq.dim() - 1, at)
            go_right = P.logical_not(P.gt(mv, vals) if upper else P.ge(mv, vals))
            active = P.lt(lo, hi)
            lo = P.where(P.logical_and(active, go_right), P.add(mid, 1), lo)
            hi = P.where(P.logical_and(active, P.logical_not(go_right)), mid, hi)
    return cast(lo, dtypes.int32) if out_int32 else lo


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each input value among 1-D ``boundaries``: searchsorted(boundaries, input)."""
    _check("bucketize", boundaries=boundaries)
    if boundaries.dim() != 1:
        raise NumericValueError(f"bucketize(): boundaries tensor must be 1 dimension, but got shape "
                         f"{list(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


_heaviside_copied_back = wrap_inplace(heaviside, "heaviside_")


def heaviside_(self, values):
    """``x.heaviside_(values)``; refused where autograd would record it (PyTorch has no
    derivative of heaviside)."""
    if graph.mode.grad_enabled and (self.requires_grad or values.requires_grad):
        raise NumericTypeError("heaviside_(): the derivative of heaviside is not implemented "
                               "(as in PyTorch); call it under no_grad()")
    return _heaviside_copied_back(self, values)
