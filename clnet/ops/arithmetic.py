"""Elementwise arithmetic, comparison, logical and bitwise ops, ``where``, ``lerp``, ``clamp`` and
the sign-like unary ops (neg, abs, sign, square), PyTorch-named, each with its backward rule
beside it. The engine (promotion, broadcasting, recording) is elementwise.py; the launches are
clnet/kernels/elementwise.py; kernels: cl_kernels/elementwise.cl.

A rule registered with ``register_binary(op, rule, needs)`` is ``rule(g, a, b, o, need_a,
need_b) -> (grad_a, grad_b)``; with ``register_unary(op, rule, needs)``, ``rule(g, x, o, p0, p1)
-> grad_x``. ``needs`` names what the rule reads (``a``, ``b``, ``x``, ``o`` = the output).
Rules are written with differentiable ops, so gradients of gradients work; a rule that needs a
unary math op of unary_math.py (above this file) calls the engine's ``unary`` by kernel name.
"""
import builtins
import math

import numpy as np

from .. import dtypes, graph
from ..kernels.index import nonzero
from ..kernels.layout import broadcast_shapes, check_index_range, same_device
from ..tensor import Tensor
from .copy import cast, clone, copy_into, write_out
from .creation import arange
from .elementwise import (_as_tensor_operand, _check_out, _is_num, _py_scalar, _scalar_type,
                          _sum_to, _ternary_contiguous, _ternary_strided, binary,
                          register_binary, register_unary, result_type, unary)

__all__ = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide",
           "floor_divide", "remainder", "fmod", "pow", "float_power", "maximum", "minimum",
           "fmax", "fmin", "atan2", "arctan2", "hypot", "copysign", "eq", "ne", "lt", "le", "gt",
           "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "logical_and",
           "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
           "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift", "neg",
           "negative", "abs", "absolute", "sign", "sgn", "square", "clamp", "clip", "clamp_min",
           "clamp_max", "where", "lerp", "result_type", "tril", "triu"]

_I32 = np.int32


def _needs(t):
    return isinstance(t, Tensor) and t.requires_grad


def _mask(cond, g):
    return where(cond, g, 0.0)


def _scaled(other, alpha):
    if alpha == 1:
        return other
    return mul(other, alpha) if isinstance(other, Tensor) else other * alpha


# ---------------------------------------------------------------------------------- + - * /
def add(input, other, *, alpha=1, out=None):
    return binary("add", input, _scaled(other, alpha), out=out)


register_binary("add", lambda g, a, b, o, na, nb: (g, g), "")


def sub(input, other, *, alpha=1, out=None):
    return binary("sub", input, _scaled(other, alpha), out=out)


register_binary("sub", lambda g, a, b, o, na, nb: (g, neg(g) if nb else None), "")
subtract = sub


def rsub(input, other, *, alpha=1):
    """other - alpha * input (torch.rsub)."""
    return binary("sub", other, input if alpha == 1 else mul(input, alpha), opname="rsub")


def mul(input, other, *, out=None):
    return binary("mul", input, other, out=out)


def _mul_backward(g, a, b, o, na, nb):
    return (mul(g, b) if na else None), (mul(g, a) if nb else None)


register_binary("mul", _mul_backward, "ab")
multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return binary("div", input, other, out=out)
    if rounding_mode == "trunc":
        return binary("div_trunc", input, other, out=out, opname="div")
    if rounding_mode == "floor":
        return binary("floordiv", input, other, out=out, opname="div")
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


def _div_backward(g, a, b, o, na, nb):
    ga = div(g, b) if na else None
    gb = neg(div(mul(g, a), mul(b, b))) if nb else None
    return ga, gb


register_binary("div", _div_backward, "ab")
divide = div
true_divide = div


def floor_divide(input, other, *, out=None):
    return binary("floordiv", input, other, out=out, opname="floor_divide")


def remainder(input, other, *, out=None):
    return binary("remainder", input, other, out=out, opname="remainder")


register_binary("remainder", lambda g, a, b, o, na, nb: (
    g, neg(mul(g, floor_divide(a, b))) if nb else None), "ab")


def fmod(input, other, *, out=None):
    return binary("fmod", input, other, out=out)


register_binary("fmod", lambda g, a, b, o, na, nb: (
    g, neg(mul(g, unary("trunc", div(a, b)))) if nb else None), "ab")


# ---------------------------------------------------------------------------------- powers
def pow(input, exponent, *, out=None):
    if isinstance(input, Tensor) and _is_num(exponent) and input.dtype.is_floating_point:
        if exponent == 2:
            return unary("square", input, out=out, opname="pow")
        if exponent == 1:
            return clone(input) if out is None else copy_into(out, input, "pow")
        if exponent == 0.5:
            return unary("sqrt", input, out=out, opname="pow")
        # torch's other fast exponents (pow_tensor_scalar_optimized): one cheap kernel each
        # instead of the pow builtin (~15x the cost of an exp on PoCL)
        if exponent == 3:
            return unary("cube", input, out=out, opname="pow")
        if exponent == -1:
            return unary("reciprocal", input, out=out, opname="pow")
        if exponent == -2:
            return unary("inv_square", input, out=out, opname="pow")
        if exponent == -0.5:
            return unary("rsqrt", input, out=out, opname="pow")
    if isinstance(input, Tensor) and not input.dtype.is_floating_point and _is_num(exponent) \
            and not isinstance(exponent, float) and exponent < 0:
        raise ValueError("pow: integers to negative integer powers are not allowed")
    return binary("pow", input, exponent, out=out)


def _pow_backward(g, a, b, o, na, nb):
    ga = gb = None
    if na:
        if isinstance(b, (int, float)):
            ga = mul(g, mul(a ** (b - 1), b)) if b != 0 else mul(g, 0.0)
        else:
            ga = mul(g, mul(b, a ** sub(b, 1)))
    if nb:
        # d/db a**b = a**b * log(a); PyTorch masks the 0**b (b >= 0) case to 0
        base_zero = logical_and(eq(a, 0), ge(b, 0)) if not isinstance(a, (int, float)) else None
        term = mul(o, math.log(a)) if isinstance(a, (int, float)) and a > 0 else \
            mul(o, unary("log", a))
        if base_zero is not None:
            term = where(base_zero, 0.0, term)
        gb = mul(g, term)
    return ga, gb


register_binary("pow", _pow_backward, "abo")
# pow's one-kernel exponents (sqrt, rsqrt and reciprocal are unary_math.py's)
register_unary("cube", lambda g, x, o, p0, p1: mul(g, mul(mul(x, x), 3.0)), "x")
register_unary("inv_square", lambda g, x, o, p0, p1: mul(g, mul(div(o, x), -2.0)), "xo")


def float_power(input, exponent):
    """pow computed in float64 (needs a device with cl_khr_fp64)."""
    return pow(cast(input, dtypes.float64) if isinstance(input, Tensor) else float(input),
               cast(exponent, dtypes.float64) if isinstance(exponent, Tensor) else float(exponent))


def square(input, *, out=None):
    if input.dtype is dtypes.bool_:
        input = cast(input, dtypes.int64)
    return unary("square", input, out=out, float_only=False)


register_unary("square", lambda g, x, o, p0, p1: mul(g, mul(x, 2.0)), "x")


# ---------------------------------------------------------------------------------- extremes
def maximum(input, other, *, out=None):
    return binary("maximum", input, other, out=out)


def _maximum_backward(g, a, b, o, na, nb):
    tie = eq(a, b)
    half = mul(g, 0.5)
    ga = where(tie, half, _mask(gt(a, b), g)) if na else None
    gb = where(tie, half, _mask(lt(a, b), g)) if nb else None
    return ga, gb


register_binary("maximum", _maximum_backward, "ab")


def minimum(input, other, *, out=None):
    return binary("minimum", input, other, out=out)


def _minimum_backward(g, a, b, o, na, nb):
    tie = eq(a, b)
    half = mul(g, 0.5)
    ga = where(tie, half, _mask(lt(a, b), g)) if na else None
    gb = where(tie, half, _mask(gt(a, b), g)) if nb else None
    return ga, gb


register_binary("minimum", _minimum_backward, "ab")


def fmax(input, other, *, out=None):
    return binary("fmax", input, other, out=out)


register_binary("fmax", _maximum_backward, "ab")


def fmin(input, other, *, out=None):
    return binary("fmin", input, other, out=out)


register_binary("fmin", _minimum_backward, "ab")


def clamp(input, min=None, max=None, *, out=None):
    """torch.clamp: ``min``/``max`` may be numbers or tensors (broadcast)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        r = input
        if min is not None:
            r = maximum(r, min) if isinstance(min, Tensor) else clamp(r, min=min)
        if max is not None:
            r = minimum(r, max) if isinstance(max, Tensor) else clamp(r, max=max)
        return r if out is None else copy_into(out, r, "clamp")
    ct = result_type(input, *(v for v in (min, max) if v is not None))
    src = input if input.dtype is ct else cast(input, ct)
    if ct.is_floating_point:
        lo = -math.inf if min is None else float(min)
        hi = math.inf if max is None else float(max)
    else:
        info = np.iinfo(ct.np) if ct is not dtypes.bool_ else None
        lo = (info.min if info else 0) if min is None else int(min)
        hi = (info.max if info else 1) if max is None else int(max)
    if ct is dtypes.bool_:
        src, ct = cast(src, dtypes.int64), dtypes.int64
        return cast(unary("clamp", src, lo, hi, float_only=False), dtypes.bool_)
    return unary("clamp", src, lo, hi, out=out, float_only=False)


# the gradient passes where lo <= x <= hi (bounds included, unlike hardtanh's)
register_unary("clamp", lambda g, x, o, lo, hi: _mask(logical_and(ge(x, lo), le(x, hi)), g), "x")
clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


# -------------------------------------------------------------------------- two-argument math
def atan2(input, other, *, out=None):
    return binary("atan2", input, other, out=out)


def _atan2_backward(g, a, b, o, na, nb):
    d = add(mul(a, a), mul(b, b))
    return (div(mul(g, b), d) if na else None), (neg(div(mul(g, a), d)) if nb else None)


register_binary("atan2", _atan2_backward, "ab")
arctan2 = atan2


def hypot(input, other, *, out=None):
    return binary("hypot", input, other, out=out)


register_binary("hypot", lambda g, a, b, o, na, nb: (
    mul(g, div(a, o)) if na else None, mul(g, div(b, o)) if nb else None), "abo")


def copysign(input, other, *, out=None):
    return binary("copysign", input, other, out=out)


register_binary("copysign", lambda g, a, b, o, na, nb: (
    where(eq(a, 0), 0.0, mul(g, div(o, a))) if na else None, None), "ao")


# ---------------------------------------------------------------------------------- comparisons
# (no gradient: their results are bool)
def eq(input, other, *, out=None):
    return binary("eq", input, other, out=out)


def ne(input, other, *, out=None):
    return binary("ne", input, other, out=out)


def lt(input, other, *, out=None):
    return binary("lt", input, other, out=out)


def le(input, other, *, out=None):
    return binary("le", input, other, out=out)


def gt(input, other, *, out=None):
    return binary("gt", input, other, out=out)


def ge(input, other, *, out=None):
    return binary("ge", input, other, out=out)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


# --------------------------------------------------------------------------- logical, bitwise
def _as_bool(x):
    if isinstance(x, Tensor):
        return x if x.dtype is dtypes.bool_ else ne(x, 0)
    return builtins.bool(x)


def logical_and(input, other, *, out=None):
    return binary("bitwise_and", _as_bool(input), _as_bool(other), out=out, opname="logical_and")


def logical_or(input, other, *, out=None):
    return binary("bitwise_or", _as_bool(input), _as_bool(other), out=out, opname="logical_or")


def logical_xor(input, other, *, out=None):
    return binary("bitwise_xor", _as_bool(input), _as_bool(other), out=out, opname="logical_xor")


def logical_not(input, *, out=None):
    return unary("logical_not", input, out=out, float_only=False, out_dtype=dtypes.bool_)


def bitwise_and(input, other, *, out=None):
    return binary("bitwise_and", input, other, out=out)


def bitwise_or(input, other, *, out=None):
    return binary("bitwise_or", input, other, out=out)


def bitwise_xor(input, other, *, out=None):
    return binary("bitwise_xor", input, other, out=out)


def bitwise_not(input, *, out=None):
    if input.dtype.is_floating_point:
        raise TypeError(f"bitwise_not: not supported for floating-point tensors ({input.dtype})")
    return unary("bitwise_not", input, out=out, float_only=False)


def bitwise_left_shift(input, other, *, out=None):
    return binary("lshift", input, other, out=out, opname="bitwise_left_shift")


def bitwise_right_shift(input, other, *, out=None):
    return binary("rshift", input, other, out=out, opname="bitwise_right_shift")


# ---------------------------------------------------------------------------------- sign-like
def neg(input, *, out=None):
    if input.dtype is dtypes.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; "
                        "use logical_not or ~ instead")
    return unary("neg", input, out=out, float_only=False)


register_unary("neg", lambda g, x, o, p0, p1: neg(g), "")
negative = neg


def abs(input, *, out=None):
    if input.dtype is dtypes.bool_:
        raise TypeError("abs: not supported for bool tensors (as in PyTorch)")
    return unary("abs", input, out=out, float_only=False)


register_unary("abs", lambda g, x, o, p0, p1: mul(g, sign(x)), "x")
absolute = abs


def sign(input, *, out=None):
    if input.dtype is dtypes.bool_:
        return clone(input)
    return unary("sign", input, out=out, float_only=False)


register_unary("sign", lambda g, x, o, p0, p1: mul(g, 0.0), "")
sgn = sign


# ---------------------------------------------------------------------------------- where, lerp
def where(condition, input=None, other=None, *, out=None):
    """``where(cond, x, y)``: x where cond else y; x and y may be tensors or numbers.
    ``where(cond)`` is ``nonzero(cond, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if out is not None:
        return write_out("where", where(condition, input, other), out)
    if not isinstance(condition, Tensor):
        raise TypeError("where: condition must be a bool tensor")
    cond = condition if condition.dtype is dtypes.bool_ else ne(condition, 0)
    tensors = [x for x in (input, other) if isinstance(x, Tensor)]
    dev = same_device("where", cond, *tensors)
    shape = broadcast_shapes("where", cond._shape, *(t._shape for t in tensors))
    ct = result_type(input, other)
    st = _scalar_type(ct)
    x = _as_tensor_operand(input, ct, dev)
    y = _as_tensor_operand(other, ct, dev)
    mode = (0 if isinstance(x, Tensor) else 1) | (0 if isinstance(y, Tensor) else 2)
    sa = st(0) if isinstance(x, Tensor) else st(_py_scalar(x, ct, "where"))
    sb = st(0) if isinstance(y, Tensor) else st(_py_scalar(y, ct, "where"))
    out = Tensor._empty(shape, ct, dev)
    # placeholders for scalar sides, of the compute type so that where_n loads unconditionally:
    # the other side, else the output itself (where_n then reads each element it writes)
    xt = x if isinstance(x, Tensor) else (y if isinstance(y, Tensor) else out)
    yt = y if isinstance(y, Tensor) else (x if isinstance(x, Tensor) else out)
    check_index_range("where", out, cond, *tensors)
    if all(t._shape == shape and t.is_contiguous() for t in (cond, xt, yt)):
        # the common masks (ReLU-style backward rules, where(c, g, 0.0)): VW elements per item
        _ternary_contiguous("where_c", out, [cond, xt, yt], [sa, sb], mode, ct,
                            [_I32, None, _I32, None, _I32, None, _I32, st, st, None, _I32, _I32])
    else:
        _ternary_strided("where_n", out, [cond, xt, yt], [sa, sb], mode, ct,
                         [_I32, None, None, None, st, st, None, _I32, None])
    if graph.recording(x, y) and ct.is_floating_point:
        def backward(g):
            return (None,
                    _sum_to(where(cond, g, 0.0), x) if _needs(x) else None,
                    _sum_to(where(cond, 0.0, g), y) if _needs(y) else None)
        graph.record("WhereBackward0", out, (cond, x, y), backward, (cond,))
    return out


def lerp(input, end, weight, *, out=None):
    tensors = [input, end] + ([weight] if isinstance(weight, Tensor) else [])
    dev = same_device("lerp", *tensors)
    if not input.dtype.is_floating_point:
        raise TypeError(f"lerp: expected floating-point tensors, got {input.dtype}")
    ct = input.dtype
    shape = broadcast_shapes("lerp", *(t._shape for t in tensors))
    e = _as_tensor_operand(end, ct, dev)
    w = _as_tensor_operand(weight, ct, dev) if isinstance(weight, Tensor) else None
    st = _scalar_type(ct)
    target = Tensor._empty(shape, ct, dev)
    check_index_range("lerp", target, *tensors)
    _ternary_strided("lerp_n", target, [input, e, w if w is not None else input],
                     [st(0 if w is not None else float(weight))], 0 if w is not None else 1, ct,
                     [_I32, None, None, None, st, None, _I32, None])
    wt = w if w is not None else float(weight)
    if graph.recording(input, e, w):
        if out is not None:
            raise RuntimeError("lerp(): functions with out=... arguments don't support automatic "
                               "differentiation")

        def backward(g):
            one_minus_w = rsub(wt, 1) if isinstance(wt, Tensor) else 1.0 - wt
            return (_sum_to(mul(g, one_minus_w), input) if _needs(input) else None,
                    _sum_to(mul(g, wt), e) if _needs(e) else None,
                    _sum_to(mul(g, sub(e, input)), w) if _needs(w) else None)
        graph.record("LerpBackward0", target, (input, e, w), backward,
                     [t for t in (input, e, w) if t is not None])
    if out is not None:
        _check_out("lerp", out, shape, ct)
        return copy_into(out, target, "lerp")
    return target


# ---------------------------------------------------------------------------------- triangles
def _triangle_mask(input, diagonal, lower):
    if input.dim() < 2:
        raise ValueError(f"{'tril' if lower else 'triu'}: input must be at least 2-D, got shape "
                         f"{list(input._shape)}")
    rows = arange(input._shape[-2], device=input.device).unsqueeze(1)
    cols = arange(input._shape[-1], device=input.device).unsqueeze(0)
    return (cols - rows <= diagonal) if lower else (cols - rows >= diagonal)


def tril(input, diagonal=0):
    """The lower triangle (j - i <= diagonal) of the last two dims; zeros elsewhere."""
    zero = False if input.dtype is dtypes.bool_ else 0
    return where(_triangle_mask(input, diagonal, True), input, zero)


def triu(input, diagonal=0):
    """The upper triangle (j - i >= diagonal) of the last two dims; zeros elsewhere."""
    zero = False if input.dtype is dtypes.bool_ else 0
    return where(_triangle_mask(input, diagonal, False), input, zero)
