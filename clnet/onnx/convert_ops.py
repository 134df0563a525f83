"""Converters of the common tensor ops the other modules leave out: log1p/expm1, remainder,
fmod, lerp, logical and bitwise ops, any/all, var/std, logsumexp, norm, cumsum, triu/tril, flip,
repeat, gather, index_select, topk, sort, argsort and one_hot."""
import math

import numpy as np

from .. import dtypes
from ..ops import arithmetic as A
from ..ops import index as I
from ..ops import join as J
from ..ops import pointwise as P
from ..ops import reduce as R
from ..ops import scan as SC
from ..ops import sort as S
from ..tensor import Tensor
from .convert_util import INT64_MAX, cast, dims_arg, operand, reduce_node, reduced_dyn, \
    tensor_attr, wrap_dim
from .tracer import converts


def _bind(ctx, out, name, *like):
    ctx.out(out, name, like=like)


# ------------------------------------------------------------------ pointwise
@converts(P.log1p)
def _log1p(ctx, out, x, *rest):
    dt = out.dtype
    _bind(ctx, out, ctx.node("Log", [ctx.node("Add", [operand(ctx, x, dt),
                                                      ctx.b.scalar(1, dt)])]), x)


@converts(P.expm1)
def _expm1(ctx, out, x, *rest):
    dt = out.dtype
    _bind(ctx, out, ctx.node("Sub", [ctx.node("Exp", [operand(ctx, x, dt)]),
                                     ctx.b.scalar(1, dt)]), x)


def _remainder(swap=False):
    """Python's modulo (the sign of the divisor): a - floor(a / b) * b for floats; ONNX's Mod
    with fmod=0 for integers, which is defined that way."""
    def conv(ctx, out, a, b, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        an, bn = operand(ctx, a, dt), operand(ctx, b, dt)
        if dt.is_floating_point:
            q = ctx.node("Floor", [ctx.node("Div", [an, bn])])
            r = ctx.node("Sub", [an, ctx.node("Mul", [q, bn])])
        else:
            r = ctx.node("Mod", [an, bn], fmod=0)
        _bind(ctx, out, r, a, b)
    return conv


converts(P.remainder, tensor_attr("__mod__"))(_remainder())
converts(tensor_attr("__rmod__"))(_remainder(swap=True))


@converts(P.fmod)
def _fmod(ctx, out, a, b, *rest):
    dt = out.dtype
    _bind(ctx, out, ctx.node("Mod", [operand(ctx, a, dt), operand(ctx, b, dt)], fmod=1), a, b)


@converts(P.lerp)
def _lerp(ctx, out, a, end, weight, *rest):
    dt = out.dtype
    an = operand(ctx, a, dt)
    step = ctx.node("Mul", [operand(ctx, weight, dt),
                            ctx.node("Sub", [operand(ctx, end, dt), an])])
    _bind(ctx, out, ctx.node("Add", [an, step]), a, end, weight)


def _logic(bool_op, int_op, swap=False):
    """And/Or/Xor on bool tensors (the logical ops always, the bitwise ones on bools) and
    BitwiseAnd/Or/Xor on integers (opset 18)."""
    def conv(ctx, out, a, b, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        if dt is dtypes.bool_ or int_op is None:
            src = [operand(ctx, x, dtypes.bool_) if isinstance(x, Tensor) else
                   ctx.b.scalar(bool(x), dtypes.bool_) for x in (a, b)]
            _bind(ctx, out, ctx.node(bool_op, src), a, b)
            return
        if ctx.b.opset < 18:
            ctx.unsupported(f"the integer bitwise op {int_op} at opset {ctx.b.opset}",
                            "export with opset_version=18 or later")
        _bind(ctx, out, ctx.node(int_op, [operand(ctx, a, dt), operand(ctx, b, dt)]), a, b)
    return conv


for _fns, _ops in (((P.logical_and,), ("And", None)), ((P.logical_or,), ("Or", None)),
                   ((P.logical_xor,), ("Xor", None)),
                   ((P.bitwise_and, tensor_attr("__and__")), ("And", "BitwiseAnd")),
                   ((P.bitwise_or, tensor_attr("__or__")), ("Or", "BitwiseOr")),
                   ((P.bitwise_xor, tensor_attr("__xor__")), ("Xor", "BitwiseXor"))):
    converts(*_fns)(_logic(*_ops))
converts(tensor_attr("__rand__"))(_logic("And", "BitwiseAnd", swap=True))
converts(tensor_attr("__ror__"))(_logic("Or", "BitwiseOr", swap=True))
converts(tensor_attr("__rxor__"))(_logic("Xor", "BitwiseXor", swap=True))


@converts(P.bitwise_not, tensor_attr("__invert__"))
def _invert(ctx, out, x, *rest):
    if x.dtype is dtypes.bool_:
        _bind(ctx, out, ctx.node("Not", [ctx.name(x)]), x)
        return
    if ctx.b.opset < 18:
        ctx.unsupported(f"bitwise_not of an integer tensor at opset {ctx.b.opset}",
                        "export with opset_version=18 or later")
    _bind(ctx, out, ctx.node("BitwiseNot", [ctx.name(x)]), x)


# ----------------------------------------------------------------- reductions
def _any_all(reduce_op):
    def conv(ctx, out, x, dim=None, keepdim=False):
        n = len(x._shape)
        axes = dims_arg(dim, n)
        name = ctx.name(x)
        truth = name if x.dtype is dtypes.bool_ else ctx.node(
            "Not", [ctx.node("Equal", [name, ctx.b.scalar(0, x.dtype)])])
        as_int = cast(ctx, truth, dtypes.bool_, dtypes.int32)
        y = reduce_node(ctx, reduce_op, as_int, axes, keepdim)
        ctx.out(out, cast(ctx, y, dtypes.int32, dtypes.bool_),
                dyn=reduced_dyn(ctx.dyn(x), axes, n, keepdim))
    return conv


converts(R.any)(_any_all("ReduceMax"))
converts(R.all)(_any_all("ReduceMin"))


def _count(ctx, x, axes, dt):
    """The number of elements over ``axes`` of ``x`` as a 0-d value of ``dt``: a constant unless
    an axis is dynamic, then read from the runtime's shape."""
    if not set(axes) & set(ctx.dyn(x)):
        return ctx.b.scalar(math.prod(x._shape[a] for a in axes), dt)
    sizes = ctx.node("Gather", [ctx.node("Shape", [ctx.name(x)]), ctx.b.const(axes)])
    return cast(ctx, ctx.node("ReduceProd", [sizes], keepdims=0), dtypes.int64, dt)


def _var_std(root):
    def conv(ctx, out, x, dim=None, unbiased=None, keepdim=False, correction=None):
        if isinstance(dim, bool):              # var(x, unbiased): the legacy form
            dim, unbiased = None, dim
        c = correction if correction is not None else (0 if unbiased is False else 1)
        n = len(x._shape)
        axes = dims_arg(None if dim == () else dim, n)
        dt = out.dtype
        name = cast(ctx, ctx.name(x), x.dtype, dt)
        centred = ctx.node("Sub", [name, reduce_node(ctx, "ReduceMean", name, axes, True)])
        sq = reduce_node(ctx, "ReduceSum", ctx.node("Mul", [centred, centred]), axes, keepdim)
        count = _count(ctx, x, axes, dt)
        denom = ctx.node("Max", [ctx.node("Sub", [count, ctx.b.scalar(c, dt)]),
                                 ctx.b.scalar(0, dt)])
        y = ctx.node("Div", [sq, denom])
        if root:
            y = ctx.node("Sqrt", [y])
        ctx.out(out, y, dyn=reduced_dyn(ctx.dyn(x), axes, n, keepdim))
    return conv


converts(R.var)(_var_std(False))
converts(R.std)(_var_std(True))


@converts(R.logsumexp)
def _logsumexp(ctx, out, x, dim, keepdim=False):
    n = len(x._shape)
    axes = dims_arg(None if dim == () else dim, n)
    name = cast(ctx, ctx.name(x), x.dtype, out.dtype)
    # max-shifted, as PyTorch computes it, so large logits do not overflow exp
    m = reduce_node(ctx, "ReduceMax", name, axes, True)
    m = ctx.node("Where", [ctx.node("IsInf", [m]), ctx.b.scalar(0, out.dtype), m])
    s = reduce_node(ctx, "ReduceSum", ctx.node("Exp", [ctx.node("Sub", [name, m])]), axes,
                    keepdim)
    mk = m if keepdim else ctx.node("Squeeze", [m, ctx.b.const(axes)])
    ctx.out(out, ctx.node("Add", [ctx.node("Log", [s]), mk]),
            dyn=reduced_dyn(ctx.dyn(x), axes, n, keepdim))


@converts(R.norm)
def _norm(ctx, out, x, p="fro", dim=None, keepdim=False, dtype=None):
    n = len(x._shape)
    axes = dims_arg(dim, n)
    name = cast(ctx, ctx.name(x), x.dtype, out.dtype)
    if p in ("fro", 2, 2.0):
        y = reduce_node(ctx, "ReduceL2", name, axes, keepdim)
    elif p in (1, 1.0):
        y = reduce_node(ctx, "ReduceL1", name, axes, keepdim)
    elif p in (math.inf, "inf"):
        y = reduce_node(ctx, "ReduceMax", ctx.node("Abs", [name]), axes, keepdim)
    elif p in (-math.inf, "-inf"):
        y = reduce_node(ctx, "ReduceMin", ctx.node("Abs", [name]), axes, keepdim)
    elif isinstance(p, (int, float)) and p > 0:
        dt = out.dtype
        powered = ctx.node("Pow", [ctx.node("Abs", [name]), ctx.b.scalar(float(p), dt)])
        y = ctx.node("Pow", [reduce_node(ctx, "ReduceSum", powered, axes, keepdim),
                             ctx.b.scalar(1.0 / p, dt)])
    else:
        ctx.unsupported(f"norm with p={p!r}")
    ctx.out(out, y, dyn=reduced_dyn(ctx.dyn(x), axes, n, keepdim))


@converts(SC.cumsum)
def _cumsum(ctx, out, x, dim, dtype=None):
    n = max(x.dim(), 1)
    name = cast(ctx, ctx.name(x), x.dtype, out.dtype)     # int32 sums in int64, as torch
    if x.dim() == 0:
        ctx.out(out, ctx.node("Identity", [name]), dyn=set())
        return
    y = ctx.node("CumSum", [name, ctx.b.const(wrap_dim(dim, n))])
    ctx.out(out, y, dyn=ctx.dyn(x))


def _triangle(upper):
    def conv(ctx, out, x, diagonal=0):
        y = ctx.node("Trilu", [ctx.name(x), ctx.b.const(int(diagonal))], upper=int(upper))
        ctx.out(out, y, dyn=ctx.dyn(x))     # Trilu reads the sizes at run time
    return conv


converts(A.triu)(_triangle(True))
converts(A.tril)(_triangle(False))


# -------------------------------------------------------------- shape, indexing
@converts(J.flip)
def _flip(ctx, out, x, dims):
    n = len(x._shape)
    axes = dims_arg(list(dims) if isinstance(dims, (list, tuple)) else dims, n)
    k = len(axes)
    y = ctx.node("Slice", [ctx.name(x), ctx.b.const([-1] * k), ctx.b.const([-INT64_MAX] * k),
                           ctx.b.const(axes), ctx.b.const([-1] * k)])
    ctx.out(out, y, dyn=ctx.dyn(x))


@converts(J.repeat)
def _repeat(ctx, out, x, sizes):
    reps = list(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) \
        else list(sizes)
    reps = [int(r) for r in reps]
    n = len(x._shape)
    name, extra = ctx.name(x), len(reps) - n
    if extra:            # torch prepends size-1 dimensions to the tensor
        name = ctx.node("Unsqueeze", [name, ctx.b.const(list(range(extra)))])
    dyn = {a + extra for a in ctx.dyn(x) if reps[a + extra] == 1}
    ctx.out(out, ctx.node("Tile", [name, ctx.b.const(reps)]), dyn=dyn)


@converts(I.gather)
def _gather(ctx, out, x, dim, index, *rest, **kw):
    a = wrap_dim(dim, len(x._shape))
    if not ctx.b.is_traced(index):     # its shape is the output's: fixed by the example
        ctx.check_constants([index], set(ctx.dyn(x)) - {a}, x.dim(), "the index")
    ctx.out(out, ctx.node("GatherElements", [ctx.name(x), ctx.name(index)], axis=a),
            dyn=ctx.dyn(index) if ctx.b.is_traced(index) else set())


@converts(I.index_select)
def _index_select(ctx, out, x, dim, index):
    a = wrap_dim(dim, len(x._shape))
    dyn = set(ctx.dyn(x)) - {a}
    if ctx.b.is_traced(index) and 0 in ctx.dyn(index):
        dyn.add(a)
    ctx.out(out, ctx.node("Gather", [ctx.name(x), ctx.name(index)], axis=a), dyn=dyn)


def _k_of(ctx, x, a, k=None):
    """TopK's K input: ``k``, or the size of axis ``a`` (from the runtime when it is dynamic)."""
    if k is not None:
        return ctx.b.const([int(k)])
    if a not in ctx.dyn(x):
        return ctx.b.const([x._shape[a]])
    return ctx.node("Gather", [ctx.node("Shape", [ctx.name(x)]), ctx.b.const([a])])


def _top(ctx, out, x, k, a, largest):
    values, indices = out
    if x.dim() == 0:
        ctx.unsupported("sort/topk of a 0-d tensor")
    v, i = ctx.node("TopK", [ctx.name(x), _k_of(ctx, x, a, k)], n_out=2, axis=a,
                    largest=int(largest), sorted=1)
    dyn = set(ctx.dyn(x)) - ({a} if k is not None else set())
    ctx.out(values, v, dyn=dyn)
    ctx.out(indices, i, dyn=dyn)


@converts(S.topk)
def _topk(ctx, out, x, k, dim=-1, largest=True, sorted=True):
    _top(ctx, out, x, int(k), wrap_dim(dim, max(x.dim(), 1)), largest)


@converts(S.sort)
def _sort(ctx, out, x, dim=-1, descending=False, stable=False, out_=None):
    # ONNX's TopK puts the lower index first among equal values, as a stable sort does
    _top(ctx, out, x, None, wrap_dim(dim, max(x.dim(), 1)), descending)


@converts(S.argsort)
def _argsort(ctx, out, x, dim=-1, descending=False, stable=False):
    a = wrap_dim(dim, max(x.dim(), 1))
    _, i = ctx.node("TopK", [ctx.name(x), _k_of(ctx, x, a)], n_out=2, axis=a,
                    largest=int(descending), sorted=1)
    ctx.out(out, i, dyn=ctx.dyn(x))


@converts(I.one_hot)
def _one_hot(ctx, out, x, num_classes=-1):
    depth = out._shape[-1]
    values = ctx.b.const([0, 1], np.int64)
    ctx.out(out, ctx.node("OneHot", [ctx.name(x), ctx.b.const([depth]), values], axis=-1),
            dyn=ctx.dyn(x))
