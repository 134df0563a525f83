"""Reductions with PyTorch's names and semantics: sum, mean, prod, max/min (+ indices), amax/amin,
argmax/argmin, var/std (+ _mean), norm, logsumexp, all/any, count_nonzero, each with its backward
rule right after it (the ``record_*`` functions, written with differentiable ops so that gradients
of gradients work). Launch machinery: clnet/kernels/reduce.py; kernels: cl_kernels/reduce.cl.
Cumulative ops live in scan.py; ``reduce_sum_to_shape`` (broadcast gradients) in views.py.
"""
import collections
import math
import numbers

from .. import dtypes, graph
from ..kernels import reduce as L
from ..kernels.layout import check_index_range, numel
from ..tensor import Tensor
from . import pointwise as P
from .copy import cast
from .creation import zeros
from .index import scatter
from .views import expand, reduce_sum_to_shape, reshape, unsqueeze

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
           "var_mean", "std_mean", "norm", "logsumexp", "all", "any", "count_nonzero",
           "reduce_sum_to_shape"]

_builtin_all, _builtin_max, _builtin_sum = all, max, sum


class ReductionError(ValueError, RuntimeError):
    """A bad reduction request; PyTorch raises RuntimeError here, so it is both."""


class ReductionDtypeError(TypeError, RuntimeError):
    """A dtype the reduction does not take; PyTorch raises RuntimeError here, so it is both."""


class EmptyReductionError(IndexError, RuntimeError):
    """max/min/argmax... of nothing; PyTorch raises IndexError or RuntimeError, so it is both."""


# named tuples like torch.return_types.max / .min
max_return = collections.namedtuple("max", ["values", "indices"])
min_return = collections.namedtuple("min", ["values", "indices"])


# ------------------------------------------------------------------ argument handling
def _check_tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(x).__name__}")


def _reduce_dims(op, t, dim):
    """Wrapped, de-duplicated reduced dims; None or () means all dims (PyTorch's rule)."""
    nd = t.dim()
    if dim is None:
        return tuple(range(nd))
    ds = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not ds:
        return tuple(range(nd))
    out = []
    for d in ds:
        w = t._wrap_dim(d)
        if nd == 0:
            continue                       # a 0-d tensor accepts dim 0 / -1 and reduces nothing
        if w in out:
            raise ReductionError(f"{op}(): dim {w} appears multiple times in the list of dims "
                                 f"{list(ds)}")
        out.append(w)
    return tuple(sorted(out))


def _out_shape(t, rdims, keepdim):
    if keepdim:
        return tuple(1 if d in rdims else s for d, s in enumerate(t._shape))
    return tuple(s for d, s in enumerate(t._shape) if d not in rdims)


def _float_input(op, t, msg=None):
    if not t.dtype.is_floating_point:
        raise ReductionDtypeError(msg or f"{op}(): expected a floating point input, got {t.dtype}"
                                  f" (shape {list(t._shape)}); convert with .float()")


def _cast_for(t, dtype):
    return t if dtype is None else cast(t, dtypes.to_dtype(dtype))


_reduce = L.reduce


def _reduced_count(t, rdims):
    return numel([t._shape[d] for d in rdims])


def _empty_check(op, t, rdims, dim_given):
    if t.numel() != 0:
        return
    if not dim_given:
        raise EmptyReductionError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0 (input shape "
            f"{list(t._shape)}). Specify the reduction dim with the 'dim' argument.")
    for d in rdims:
        if t._shape[d] == 0:
            raise EmptyReductionError(f"{op}(): Expected reduction dim {d} to have non-zero size "
                                      f"(input shape {list(t._shape)}).")


# backward helpers: a reduced gradient seen with the reduced dims kept, spread back
def _unreduce(g, x_shape, rdims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims of ``x_shape``."""
    if not keepdim:
        shape = [1 if d in rdims else s for d, s in enumerate(x_shape)]
        g = reshape(g, shape)
    return expand(g, x_shape)


def _cast_back(g, x):
    return g if g.dtype is x.dtype else cast(g, x.dtype)


def _keep(t, rdims, keepdim, x_shape):
    """A reduced output viewed with the reduced dims kept (size 1), for broadcasting."""
    if keepdim:
        return t
    return reshape(t, [1 if d in rdims else s for d, s in enumerate(x_shape)])


# ------------------------------------------------------------------ sum / mean / prod
def sum(input, dim=None, keepdim=False, *, dtype=None):
    _check_tensor("sum", input)
    x = _cast_for(input, dtype)
    rdims = _reduce_dims("sum", x, dim)
    out = _reduce("sum", x, rdims, keepdim, "sum", 0)
    out = _cast_for(out, dtype) if dtype is not None else out
    return record_sum("SumBackward1" if dim is not None else "SumBackward0", x, out, rdims,
                         keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    _check_tensor("mean", input)
    x = _cast_for(input, dtype)
    if not x.dtype.is_floating_point:
        raise ReductionDtypeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {x.dtype} (shape {list(x._shape)})")
    rdims = _reduce_dims("mean", x, dim)
    n = _reduced_count(x, rdims)
    out = _reduce("mean", x, rdims, keepdim, "sum", math.nan, post=L.POST_SCALE,
                  post_a=1.0 / n if n else 0.0)
    return record_sum("MeanBackward1" if dim is not None else "MeanBackward0", x, out, rdims,
                         keepdim, 1.0 / n if n else math.nan)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    _check_tensor("prod", input)
    x = _cast_for(input, dtype)
    rdims = _reduce_dims("prod", x, dim)
    out = _reduce("prod", x, rdims, keepdim, "prod", 1)
    out = _cast_for(out, dtype) if dtype is not None else out
    return record_prod(x, out, rdims, keepdim)


def record_sum(name, x, out, rdims, keepdim, scale=1.0):
    """sum (scale 1) and mean (scale 1/N): the gradient is g spread over the reduced dims."""
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    shape = x._shape

    def backward(g):
        gx = _unreduce(g, shape, rdims, keepdim)
        if scale != 1.0:
            gx = gx * scale
        return (_cast_back(gx, x),)
    graph.record(name, out, (x,), backward)
    return out


def record_prod(x, out, rdims, keepdim):
    """d prod / d x_i = product of the others: out / x_i without zeros; with exactly one zero in a
    slice only that element gets a gradient (the product of the others); with two, none does."""
    if not graph.recording(x):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        gk = _keep(g, rdims, keepdim, shape)
        is_zero = x == 0
        zeros_in_slice = sum(P.where(is_zero, 1.0, 0.0), rdims, keepdim=True)
        safe_x = P.where(is_zero, 1.0, x)
        others_nonzero = prod(safe_x, rdims, keepdim=True)
        no_zero = o / safe_x
        one_zero = P.where(is_zero, others_nonzero, 0.0)
        grad = P.where(zeros_in_slice == 0, no_zero,
                       P.where(zeros_in_slice == 1, one_zero, 0.0))
        return (grad * gk,)
    graph.record("ProdBackward0", out, (x,), backward, (x,), (so,))
    return out


# ------------------------------------------------------------------ max / min / arg*
def _with_indices(op, t, dim, keepdim):
    """(values, indices) of max/min over one dim (``dim`` None: flattened, for argmax)."""
    kop = "argmax" if op in ("max", "argmax") else "argmin"
    if dim is None:
        rdims = tuple(range(t.dim()))
        shape = (1,) * t.dim() if keepdim else ()
    else:
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"{op}(): dim must be an int, got {dim!r}")
        rdims = _reduce_dims(op, t, dim)
        shape = _out_shape(t, rdims, keepdim)
    _empty_check(op, t, rdims, dim is not None)
    dev = t._storage.device
    values = Tensor._empty(shape, t.dtype, dev)
    indices = Tensor._empty(shape, dtypes.int64, dev)
    if values.numel() == 0:
        return values, indices
    check_index_range(op, t)
    L.run_arg(kop, L.plan(t, rdims), values, indices)
    return values, indices


def _extreme(op, input, dim, keepdim, other):
    _check_tensor(op, input)
    if isinstance(dim, Tensor) or isinstance(other, Tensor):
        # torch.max(a, b): the elementwise form
        b = dim if isinstance(dim, Tensor) else other
        return (P.maximum if op == "max" else P.minimum)(input, b)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}(): keepdim needs a dim (use {op}(input, dim, keepdim=True))")
        _empty_check(op, input, (), False)
        rdims = tuple(range(input.dim()))
        return record_extreme_all(op.capitalize() + "Backward1", input,
                                     _reduce(op, input, rdims, False, op, 0), rdims, False)
    values, indices = _with_indices(op, input, dim, keepdim)
    values, indices = record_with_indices(op.capitalize() + "Backward0", input, values, indices,
                                             input._wrap_dim(dim) if input.dim() else 0, keepdim)
    return (max_return if op == "max" else min_return)(values, indices)


def record_extreme_all(name, x, out, rdims, keepdim):
    """max()/min()/amax/amin/inf-norm style: the gradient is shared evenly by all elements equal
    to the result (PyTorch's rule for reductions without indices)."""
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack().detach(), rdims, keepdim, shape)
        mask = P.where(x == o, 1.0, 0.0)
        count = sum(mask, rdims, keepdim=True)
        return (mask * (_keep(g, rdims, keepdim, shape) / count),)
    graph.record(name, out, (x,), backward, (x,), (so,))
    return out


def record_with_indices(name, x, values, indices, dim, keepdim):
    """max/min over a dim: the gradient goes to the chosen index (scatter into zeros)."""
    if not (graph.recording(x) and values.dtype.is_floating_point):
        return values, indices
    shape = x._shape

    def backward(g, _unused_indices_grad=None):
        if not shape:
            return (g,)
        gk = g if keepdim else unsqueeze(g, dim)
        ik = indices if keepdim else unsqueeze(indices, dim)
        z = zeros(shape, dtype=g.dtype, device=g.device)
        return (scatter(z, dim, ik, gk),)
    graph.record(name, values, (x,), backward)
    return values, indices


def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)`` -> value; ``max(x, dim, keepdim)`` -> (values, indices); ``max(x, y)`` -> maximum."""
    return _extreme("max", input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None):
    return _extreme("min", input, dim, keepdim, other)


def _amax_amin(op, input, dim, keepdim):
    _check_tensor(op, input)
    rdims = _reduce_dims(op, input, dim)
    _empty_check(op, input, rdims, dim is not None and not (isinstance(dim, (tuple, list))
                                                             and len(dim) == 0))
    return record_extreme_all(op.capitalize() + "Backward0", input,
                                 _reduce(op, input, rdims, keepdim, op[1:], 0), rdims, keepdim)


def amax(input, dim=(), keepdim=False):
    return _amax_amin("amax", input, dim, keepdim)


def amin(input, dim=(), keepdim=False):
    return _amax_amin("amin", input, dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    _check_tensor("argmax", input)
    return _with_indices("argmax", input, dim, keepdim)[1]


def argmin(input, dim=None, keepdim=False):
    _check_tensor("argmin", input)
    return _with_indices("argmin", input, dim, keepdim)[1]


# ------------------------------------------------------------------ var / std
def _correction(op, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise ReductionError(f"{op}(): pass either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _var_impl(op, input, dim, unbiased, keepdim, correction, want_std):
    """(var or std, mean), both shaped by keepdim. Two passes: the mean, then the sum of squared
    deviations from it (accurate where E[x^2] - E[x]^2 cancels)."""
    _check_tensor(op, input)
    if isinstance(dim, bool):               # legacy var(input, unbiased)
        dim, unbiased = None, dim
    if not input.dtype.is_floating_point:
        raise ReductionDtypeError(f"{op}(): std and var only support floating point dtypes, got "
                                  f"{input.dtype} (shape {list(input._shape)})")
    c = _correction(op, unbiased, correction)
    rdims = _reduce_dims(op, input, dim)
    n = _reduced_count(input, rdims)
    avg = _reduce(op, input, rdims, False, "sum", math.nan, post=L.POST_SCALE,
                  post_a=1.0 / n if n else 0.0)
    dof = n - c
    scale = 1.0 / dof if dof > 0 else math.inf      # PyTorch divides by max(0, N - correction)
    post = L.POST_SCALE_SQRT if want_std else L.POST_SCALE
    res = _reduce(op, input, rdims, keepdim, "sumsqdev", math.nan, param=avg, post=post,
                  post_a=scale)
    res = record_var(op, input, res, rdims, keepdim, n, c, want_std)
    avg = record_sum("MeanBackward1", input, avg, rdims, False, 1.0 / n if n else math.nan)
    return res, (reshape(avg, res._shape) if keepdim else avg)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var_impl("var", input, dim, unbiased, keepdim, correction, False)[0]


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var_impl("std", input, dim, unbiased, keepdim, correction, True)[0]


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var_impl("var_mean", input, dim, unbiased, keepdim, correction, False)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var_impl("std_mean", input, dim, unbiased, keepdim, correction, True)


def record_var(name, x, out, rdims, keepdim, n, correction, is_std):
    """var: g * 2 (x - mean) / (N - c); std: g * (x - mean) / ((N - c) std)."""
    if not graph.recording(x):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape
    dof = _builtin_max(n - correction, 0)

    def backward(g):
        m = mean(x, rdims, keepdim=True)       # recomputed so that it is differentiable
        gk = _keep(g, rdims, keepdim, shape)
        centred = x - m
        if is_std:
            s = _keep(so.unpack(), rdims, keepdim, shape)
            # PyTorch's rule: where the std is 0 (constant data) the gradient is 0, not 0/0
            grad = P.where(s == 0, 0.0, gk * centred / (s * dof)) if dof else \
                gk * centred * math.inf
        else:
            grad = gk * centred * (2.0 / dof) if dof else gk * centred * math.inf
        return (grad,)
    graph.record("StdBackward0" if is_std else "VarBackward0", out, (x,), backward, (x,), (so,))
    return out


# ------------------------------------------------------------------ norm / logsumexp
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all dims by default), like ``torch.norm`` for p in
    {'fro', 2, 1, inf, -inf, 0, any other number}; 'nuc' (a matrix norm) is not provided."""
    _check_tensor("norm", input)
    x = _cast_for(input, dtype)
    _float_input("norm", x, "linalg.vector_norm: Expected a floating point tensor as input. Got "
                 f"{x.dtype} (shape {list(x._shape)})")
    if p is None or p == "fro":
        p = 2
    if isinstance(p, str) or not isinstance(p, numbers.Real):
        raise ReductionError(f"norm(): p={p!r} is not supported; use 'fro' or a number")
    p = float(p)
    rdims = _reduce_dims("norm", x, dim)
    if p == math.inf or p == -math.inf:
        op = "norm"
        if _reduced_count(x, rdims) == 0:
            raise EmptyReductionError(
                f"linalg.vector_norm cannot compute the {p} norm on an empty tensor because the "
                f"operation does not have an identity (input shape {list(x._shape)})")
        out = _reduce(op, x, rdims, keepdim, "maxabs" if p > 0 else "minabs", 0)
    elif p == 0:
        out = cast(_reduce("norm", x, rdims, keepdim, "count", 0), x.dtype)
    elif p == 1:
        out = _reduce("norm", x, rdims, keepdim, "sumabs", 0)
    elif p == 2:
        out = _reduce("norm", x, rdims, keepdim, "sumsq", 0, post=L.POST_SQRT)
    else:
        out = _reduce("norm", x, rdims, keepdim, "sumpow", 0, map_a=p, post=L.POST_POW,
                      post_a=1.0 / p)
    return record_norm(x, out, rdims, keepdim, p)


def record_norm(x, out, rdims, keepdim, p):
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        gk = _keep(g, rdims, keepdim, shape)
        if p == 2:
            return (P.where(o == 0, 0.0, gk * x / o),)
        if p == 1:
            return (gk * P.sign(x),)
        if math.isinf(p):
            a = P.abs(x)
            mask = P.where(a == o.detach(), 1.0, 0.0)
            return (gk * P.sign(x) * mask / sum(mask, rdims, keepdim=True),)
        if p == 0:
            return (gk * 0.0,)
        # d ||x||_p / dx = x |x|^(p-2) / ||x||_p^(p-1)
        a = P.abs(x)
        grad = x * a ** (p - 2) / o ** (p - 1)
        return (P.where(o == 0, 0.0, gk * grad),)
    graph.record("NormBackward1", out, (x,), backward, (x,), (so,))
    return out


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed as m + log(sum(exp(x - m))) with m the max (0
    where the max is infinite, as PyTorch does, so all -inf gives -inf and +inf gives inf)."""
    _check_tensor("logsumexp", input)
    x = input if input.dtype.is_floating_point else cast(input, dtypes.get_default_dtype())
    rdims = _reduce_dims("logsumexp", x, dim)
    shift = _reduce("logsumexp", x, rdims, False, "max", 0, post=L.POST_INF_TO_ZERO)
    out = _reduce("logsumexp", x, rdims, keepdim, "sumexp", -math.inf, param=shift,
                  post=L.POST_LOG_ADD)
    return record_logsumexp(x, out, rdims, keepdim)


def record_logsumexp(x, out, rdims, keepdim):
    if not graph.recording(x):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        return (_keep(g, rdims, keepdim, shape) * P.exp(x - o),)
    graph.record("LogsumexpBackward0", out, (x,), backward, (x,), (so,))
    return out


# ------------------------------------------------------------------ logical / counting
def all(input, dim=None, keepdim=False):
    _check_tensor("all", input)
    return _reduce("all", input, _reduce_dims("all", input, dim), keepdim, "all", True)


def any(input, dim=None, keepdim=False):
    _check_tensor("any", input)
    return _reduce("any", input, _reduce_dims("any", input, dim), keepdim, "any", False)


def count_nonzero(input, dim=None):
    _check_tensor("count_nonzero", input)
    return _reduce("count_nonzero", input, _reduce_dims("count_nonzero", input, dim), False,
                   "count", 0)
