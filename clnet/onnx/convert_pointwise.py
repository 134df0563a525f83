"""Converters of elementwise ops: arithmetic with broadcasting and Python numbers, comparisons,
math functions, activations, casts and the identity-like ops (contiguous, clone, detach, to).

Operands are cast to the dtype clnet computed the result in (``out.dtype``), so int tensors
times Python floats, bool masks and mixed dtypes follow PyTorch's promotion as clnet ran it."""
import math

import numpy as np
from onnx import numpy_helper

from .. import dtypes
from ..ops import copy as C
from ..ops import creation as CR
from ..ops import pointwise as P
from ..tensor import Tensor
from .convert_util import cast, operand, promoted, tensor_attr
from .tracer import converts


def _bind(ctx, out, name, *like):
    ctx.out(out, name, like=like)


# ------------------------------------------------------------------ arithmetic
def _binary(op_type, swap=False):
    def conv(ctx, out, a, b, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        _bind(ctx, out, ctx.node(op_type, [operand(ctx, a, dt), operand(ctx, b, dt)]), a, b)
    return conv


def _with_alpha(op_type, swap=False):
    def conv(ctx, out, a, b, alpha=1, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        bn = operand(ctx, b, dt)
        if alpha != 1:
            bn = ctx.node("Mul", [bn, ctx.b.scalar(alpha, dt)])
        _bind(ctx, out, ctx.node(op_type, [operand(ctx, a, dt), bn]), a, b)
    return conv


def _div(swap=False):
    def conv(ctx, out, a, b, rounding_mode=None, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        q = ctx.node("Div", [operand(ctx, a, dt), operand(ctx, b, dt)])
        if rounding_mode == "floor" and dt.is_floating_point:
            q = ctx.node("Floor", [q])
        elif rounding_mode is not None and dt.is_floating_point:     # "trunc"
            q = ctx.node("Where", [ctx.node("Less", [q, ctx.b.scalar(0, dt)]),
                                   ctx.node("Ceil", [q]), ctx.node("Floor", [q])])
        elif rounding_mode == "floor":
            ctx.unsupported("integer division with rounding_mode='floor'")
        _bind(ctx, out, q, a, b)
    return conv


for _fn, _conv in ((P.add, _with_alpha("Add")), (P.sub, _with_alpha("Sub")),
                   (P.rsub, _with_alpha("Sub", swap=True)),
                   (P.mul, _binary("Mul")), (P.div, _div()), (P.pow, _binary("Pow")),
                   (P.maximum, _binary("Max")), (P.minimum, _binary("Min"))):
    converts(_fn)(_conv)
for _name, _conv in (("__add__", _binary("Add")), ("__radd__", _binary("Add", True)),
                     ("__sub__", _binary("Sub")), ("__rsub__", _binary("Sub", True)),
                     ("__mul__", _binary("Mul")), ("__rmul__", _binary("Mul", True)),
                     ("__truediv__", _div()), ("__rtruediv__", _div(True)),
                     ("__pow__", _binary("Pow")), ("__rpow__", _binary("Pow", True))):
    converts(tensor_attr(_name))(_conv)


def _compare(op_type, negate=False):
    def conv(ctx, out, a, b, *rest):
        dt = promoted(a, b)
        r = ctx.node(op_type, [operand(ctx, a, dt), operand(ctx, b, dt)])
        if negate:
            r = ctx.node("Not", [r])
        _bind(ctx, out, r, a, b)
    return conv


_COMPARE = {"eq": ("Equal", False), "ne": ("Equal", True), "lt": ("Less", False),
            "le": ("LessOrEqual", False), "gt": ("Greater", False),
            "ge": ("GreaterOrEqual", False)}
for _name, (_op, _neg) in _COMPARE.items():
    converts(getattr(P, _name), tensor_attr(f"__{_name}__"))(_compare(_op, _neg))


@converts(P.where)
def _where(ctx, out, cond, a=None, b=None, out_arg=None):
    if a is None:
        ctx.unsupported("where(condition) with one argument (it returns data-dependent indices)")
    dt = out.dtype
    c = operand(ctx, cond, dtypes.bool_)
    _bind(ctx, out, ctx.node("Where", [c, operand(ctx, a, dt), operand(ctx, b, dt)]), cond, a, b)


# ---------------------------------------------------------------------- unary
_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "sin": "Sin",
          "cos": "Cos", "tan": "Tan", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
          "erf": "Erf", "reciprocal": "Reciprocal", "floor": "Floor", "ceil": "Ceil",
          "sign": "Sign", "round": "Round", "softsign": "Softsign", "selu": "Selu",
          "hardswish": "HardSwish", "asin": "Asin", "acos": "Acos", "atan": "Atan",
          "sinh": "Sinh", "cosh": "Cosh", "logical_not": "Not"}


def _unary(op_type):
    def conv(ctx, out, x, *rest):
        src = operand(ctx, x, out.dtype) if op_type not in ("Not",) else ctx.name(x)
        _bind(ctx, out, ctx.node(op_type, [src]), x)
    return conv


for _name, _op in _UNARY.items():
    converts(getattr(P, _name))(_unary(_op))
converts(tensor_attr("relu"), tensor_attr("relu_"))(_unary("Relu"))
converts(tensor_attr("__neg__"))(_unary("Neg"))
converts(tensor_attr("__abs__"))(_unary("Abs"))


@converts(P.rsqrt)
def _rsqrt(ctx, out, x, *rest):
    _bind(ctx, out, ctx.node("Reciprocal", [ctx.node("Sqrt", [operand(ctx, x, out.dtype)])]), x)


@converts(P.square)
def _square(ctx, out, x, *rest):
    v = operand(ctx, x, out.dtype)
    _bind(ctx, out, ctx.node("Mul", [v, v]), x)


@converts(P.silu)
def _silu(ctx, out, x, *rest):
    v = ctx.name(x)
    _bind(ctx, out, ctx.node("Mul", [v, ctx.node("Sigmoid", [v])]), x)


@converts(P.mish)
def _mish(ctx, out, x, *rest):
    v = ctx.name(x)
    _bind(ctx, out, ctx.node("Mul", [v, ctx.node("Tanh", [ctx.node("Softplus", [v])])]), x)


@converts(P.logsigmoid)
def _logsigmoid(ctx, out, x, *rest):
    v = ctx.name(x)
    _bind(ctx, out, ctx.node("Neg", [ctx.node("Softplus", [ctx.node("Neg", [v])])]), x)


@converts(P.hardsigmoid)
def _hardsigmoid(ctx, out, x, *rest):
    _bind(ctx, out, ctx.node("HardSigmoid", [ctx.name(x)], alpha=1.0 / 6, beta=0.5), x)


@converts(P.leaky_relu)
def _leaky_relu(ctx, out, x, negative_slope=0.01, inplace=False):
    _bind(ctx, out, ctx.node("LeakyRelu", [ctx.name(x)], alpha=float(negative_slope)), x)


@converts(P.elu)
def _elu(ctx, out, x, alpha=1.0, inplace=False):
    _bind(ctx, out, ctx.node("Elu", [ctx.name(x)], alpha=float(alpha)), x)


@converts(P.celu)
def _celu(ctx, out, x, alpha=1.0, inplace=False):
    _bind(ctx, out, ctx.node("Celu", [ctx.name(x)], alpha=float(alpha)), x)


@converts(P.gelu)
def _gelu(ctx, out, x, approximate="none"):
    # the Gelu operator arrived in opset 20; the formula is exact in every opset
    v, dt = ctx.name(x), x.dtype
    half = ctx.node("Mul", [v, ctx.b.scalar(0.5, dt)])
    if approximate == "tanh":
        cube = ctx.node("Mul", [ctx.node("Mul", [v, v]), v])
        inner = ctx.node("Add", [v, ctx.node("Mul", [cube, ctx.b.scalar(0.044715, dt)])])
        t = ctx.node("Tanh", [ctx.node("Mul", [inner, ctx.b.scalar(math.sqrt(2 / math.pi), dt)])])
    else:
        t = ctx.node("Erf", [ctx.node("Div", [v, ctx.b.scalar(math.sqrt(2.0), dt)])])
    _bind(ctx, out, ctx.node("Mul", [half, ctx.node("Add", [t, ctx.b.scalar(1.0, dt)])]), x)


@converts(P.softplus)
def _softplus(ctx, out, x, beta=1.0, threshold=20.0):
    v, dt = ctx.name(x), x.dtype
    bx = v if beta == 1 else ctx.node("Mul", [v, ctx.b.scalar(beta, dt)])
    sp = ctx.node("Softplus", [bx])
    if beta != 1:
        sp = ctx.node("Div", [sp, ctx.b.scalar(beta, dt)])
    linear = ctx.node("Greater", [bx, ctx.b.scalar(threshold, dt)])   # PyTorch's cut-over
    _bind(ctx, out, ctx.node("Where", [linear, v, sp]), x)


def _clip(ctx, out, x, lo, hi):
    dt = out.dtype
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        r = operand(ctx, x, dt)
        if lo is not None:
            r = ctx.node("Max", [r, operand(ctx, lo, dt)])
        if hi is not None:
            r = ctx.node("Min", [r, operand(ctx, hi, dt)])
    else:
        r = ctx.node("Clip", [operand(ctx, x, dt),
                              "" if lo is None else ctx.b.scalar(lo, dt),
                              "" if hi is None else ctx.b.scalar(hi, dt)])
    _bind(ctx, out, r, x, lo, hi)


@converts(P.clamp)
def _clamp(ctx, out, x, min=None, max=None, *rest):
    _clip(ctx, out, x, min, max)


@converts(P.clamp_min)
def _clamp_min(ctx, out, x, min):
    _clip(ctx, out, x, min, None)


@converts(P.clamp_max)
def _clamp_max(ctx, out, x, max):
    _clip(ctx, out, x, None, max)


@converts(P.hardtanh)
def _hardtanh(ctx, out, x, min_val=-1.0, max_val=1.0, inplace=False):
    _clip(ctx, out, x, min_val, max_val)


@converts(P.relu6)
def _relu6(ctx, out, x, inplace=False):
    _clip(ctx, out, x, 0.0, 6.0)


@converts(P.threshold)
def _threshold(ctx, out, x, threshold, value, inplace=False):
    v, dt = ctx.name(x), x.dtype
    keep = ctx.node("Greater", [v, ctx.b.scalar(threshold, dt)])
    _bind(ctx, out, ctx.node("Where", [keep, v, ctx.b.scalar(value, dt)]), x)


# ------------------------------------------------------- casts and identities
def _cast_or_identity(ctx, out, x, *rest):
    """contiguous, clone, detach, float(), to(dtype), ...: a Cast where the dtype changed, else
    the same value."""
    if not isinstance(out, Tensor):
        return
    if not isinstance(x, Tensor):
        ctx.unsupported("a conversion of a non-tensor")
    if out.dtype == x.dtype:
        ctx.out(out, ctx.name(x), dyn=ctx.dyn(x))
    else:
        ctx.out(out, cast(ctx, ctx.name(x), x.dtype, out.dtype), dyn=ctx.dyn(x))


for _name in ("contiguous", "clone", "detach", "float", "double", "long", "int", "bool", "to",
              "type", "cpu", "cuda", "type_as"):
    if _name in vars(Tensor):
        converts(tensor_attr(_name))(_cast_or_identity)
converts(C.contiguous, C.clone, C.cast)(_cast_or_identity)


# ------------------------------------------------------------- filled like x
def _filled(value_of):
    def conv(ctx, out, x, *rest):
        value = numpy_helper.from_array(np.asarray([value_of(rest)], dtype=out.dtype.np))
        shape = ctx.node("Shape", [ctx.name(x)])        # the runtime's shape: dynamic axes stay
        ctx.out(out, ctx.node("ConstantOfShape", [shape], value=value), dyn=ctx.dyn(x))
    return conv


converts(CR.zeros_like)(_filled(lambda rest: 0))
converts(CR.ones_like)(_filled(lambda rest: 1))
converts(CR.full_like)(_filled(lambda rest: rest[0]))
