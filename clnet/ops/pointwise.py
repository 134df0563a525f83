"""The public elementwise API, PyTorch-named: arithmetic and comparison operators, unary math,
activations, ``where``, ``lerp``, ``clamp`` and the in-place forms. Everything goes through the
engine in elementwise.py, which launches the kernels and records autograd nodes."""
import builtins
import math

import numpy as np

from .. import dtypes, graph
from ..tensor import Tensor
from ._layout import broadcast_shapes, check_index_range, same_device
from .copy import cast, clone, copy_into, fill_into
from .elementwise import (_as_tensor_operand, _check_out, _inplace_unary, _is_num, _py_scalar,
                          _scalar_type, _sum_to, _ternary_contiguous, _ternary_strided, binary,
                          result_type, unary)

_I32 = np.int32


def _unary_fn(op, float_only=True, doc=None):
    def fn(input, *, out=None):
        return unary(op, input, out=out, float_only=float_only)
    fn.__name__ = fn.__qualname__ = op   # the name it is exported under (docs, repr)
    fn.__doc__ = doc or f"Elementwise {op} (like torch.{op})."
    return fn


_FLOAT_UNARY = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
                "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "digamma", "sigmoid",
                "logsigmoid", "silu", "mish", "softsign", "hardsigmoid", "hardswish", "selu",
                "frac"]
_g = globals()
for _op in _FLOAT_UNARY:
    _g[_op] = _unary_fn(_op)


def _int_identity_or(op):
    """floor/ceil/round/trunc: identity on integer tensors (a copy, like PyTorch)."""
    def fn(input, *, out=None, decimals=0):
        if not input.dtype.is_floating_point:
            r = clone(input)
            return r if out is None else copy_into(out, r, op)
        if decimals:
            scale = 10.0 ** decimals
            return div(unary(op, mul(input, scale)), scale, out=out)
        return unary(op, input, out=out)
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"Elementwise {op}; integer tensors are returned unchanged (copied)."
    return fn


floor = _int_identity_or("floor")
ceil = _int_identity_or("ceil")
round = _int_identity_or("round")
trunc = _int_identity_or("trunc")
fix = trunc


def neg(input, *, out=None):
    if input.dtype is dtypes.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; "
                        "use logical_not or ~ instead")
    return unary("neg", input, out=out, float_only=False)


negative = neg


def abs(input, *, out=None):
    if input.dtype is dtypes.bool_:
        raise TypeError("abs: not supported for bool tensors (as in PyTorch)")
    return unary("abs", input, out=out, float_only=False)


absolute = abs


def sign(input, *, out=None):
    if input.dtype is dtypes.bool_:
        return clone(input)
    return unary("sign", input, out=out, float_only=False)


sgn = sign


def square(input, *, out=None):
    if input.dtype is dtypes.bool_:
        input = cast(input, dtypes.int64)
    return unary("square", input, out=out, float_only=False)


def relu(input, inplace=False):
    if input.dtype is dtypes.bool_:
        raise TypeError("relu: not supported for bool tensors")
    if inplace:
        return _inplace_unary("relu", input, float_only=False)
    return unary("relu", input, float_only=False)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _inplace_unary("leaky_relu", input, negative_slope)
    return unary("leaky_relu", input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return _inplace_unary("elu", input, alpha) if inplace else unary("elu", input, alpha)


def celu(input, alpha=1.0, inplace=False):
    return _inplace_unary("celu", input, alpha) if inplace else unary("celu", input, alpha)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return unary("gelu" if approximate == "none" else "gelu_tanh", input, opname="gelu")


def softplus(input, beta=1.0, threshold=20.0):
    return unary("softplus", input, beta, threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    # clamp's values; torch's gradient, which is 0 at the bounds themselves (clamp's passes there)
    if inplace:
        return _inplace_unary("hardtanh", input, min_val, max_val)
    return unary("hardtanh", input, min_val, max_val)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def threshold(input, threshold, value, inplace=False):
    if inplace:
        return _inplace_unary("threshold", input, threshold, value)
    return unary("threshold", input, threshold, value)


def isnan(input):
    if not input.dtype.is_floating_point:
        return _zeros_bool(input)
    return unary("isnan", input, out_dtype=dtypes.bool_)


def isinf(input):
    if not input.dtype.is_floating_point:
        return _zeros_bool(input)
    return unary("isinf", input, out_dtype=dtypes.bool_)


def isfinite(input):
    if not input.dtype.is_floating_point:
        return fill_into(Tensor._empty(input._shape, dtypes.bool_, input.device), True)
    return unary("isfinite", input, out_dtype=dtypes.bool_)


def signbit(input):
    if not input.dtype.is_floating_point:
        return lt(input, 0)
    return unary("signbit", input, out_dtype=dtypes.bool_)


def _zeros_bool(input):
    return fill_into(Tensor._empty(input._shape, dtypes.bool_, input.device), False)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    if not input.dtype.is_floating_point:
        return clone(input)
    info = np.finfo(input.dtype.np)
    lo = float(info.min) if neginf is None else neginf
    hi = float(info.max) if posinf is None else posinf
    r = unary("nan_to_num", input, lo, hi)   # NaN -> 0 in the kernel
    if nan != 0.0:
        r = where(isnan(input), float(nan), r)
    return r if out is None else copy_into(out, r, "nan_to_num")


def logical_not(input, *, out=None):
    return unary("logical_not", input, out=out, float_only=False, out_dtype=dtypes.bool_)


def bitwise_not(input, *, out=None):
    if input.dtype.is_floating_point:
        raise TypeError(f"bitwise_not: not supported for floating-point tensors ({input.dtype})")
    return unary("bitwise_not", input, out=out, float_only=False)


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


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


# ---------------------------------------------------------------------------------- binary API
def _scaled(other, alpha):
    if alpha == 1:
        return other
    return mul(other, alpha) if isinstance(other, Tensor) else other * alpha


def add(input, other, *, alpha=1, out=None):
    return binary("add", input, _scaled(other, alpha), out=out)


def sub(input, other, *, alpha=1, out=None):
    return binary("sub", input, _scaled(other, alpha), out=out)


subtract = sub


def rsub(input, other, *, alpha=1):
    """other - alpha * input (torch.rsub)."""
    return binary("sub", other, input if alpha == 1 else mul(input, alpha), opname="rsub")


def mul(input, other, *, out=None):
    return binary("mul", input, other, out=out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return binary("div", input, other, out=out)
    if rounding_mode == "trunc":
        return binary("div_trunc", input, other, out=out, opname="div")
    if rounding_mode == "floor":
        return binary("floordiv", input, other, out=out, opname="div")
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


divide = div
true_divide = div


def floor_divide(input, other, *, out=None):
    return binary("floordiv", input, other, out=out, opname="floor_divide")


def remainder(input, other, *, out=None):
    return binary("remainder", input, other, out=out, opname="remainder")


def fmod(input, other, *, out=None):
    return binary("fmod", input, other, out=out)


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


def float_power(input, exponent):
    """pow computed in float64 (needs a device with cl_khr_fp64)."""
    return pow(cast(input, dtypes.float64) if isinstance(input, Tensor) else float(input),
               cast(exponent, dtypes.float64) if isinstance(exponent, Tensor) else float(exponent))


def maximum(input, other, *, out=None):
    return binary("maximum", input, other, out=out)


def minimum(input, other, *, out=None):
    return binary("minimum", input, other, out=out)


def fmax(input, other, *, out=None):
    return binary("fmax", input, other, out=out)


def fmin(input, other, *, out=None):
    return binary("fmin", input, other, out=out)


def atan2(input, other, *, out=None):
    return binary("atan2", input, other, out=out)


arctan2 = atan2


def hypot(input, other, *, out=None):
    return binary("hypot", input, other, out=out)


def copysign(input, other, *, out=None):
    return binary("copysign", input, other, out=out)


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


def bitwise_and(input, other, *, out=None):
    return binary("bitwise_and", input, other, out=out)


def bitwise_or(input, other, *, out=None):
    return binary("bitwise_or", input, other, out=out)


def bitwise_xor(input, other, *, out=None):
    return binary("bitwise_xor", input, other, out=out)


def bitwise_left_shift(input, other, *, out=None):
    return binary("lshift", input, other, out=out, opname="bitwise_left_shift")


def bitwise_right_shift(input, other, *, out=None):
    return binary("rshift", input, other, out=out, opname="bitwise_right_shift")


def where(condition, input=None, other=None):
    """``where(cond, x, y)``: x where cond else y; x and y may be tensors or numbers."""
    if input is None and other is None:
        from .index import nonzero
        return nonzero(condition, as_tuple=True)
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


def _triangle_mask(input, diagonal, lower):
    from .creation import arange
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


def _needs(t):
    return isinstance(t, Tensor) and t.requires_grad


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


__all__ = (["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide",
            "floor_divide", "remainder", "fmod", "pow", "float_power", "maximum", "minimum",
            "fmax", "fmin", "atan2", "arctan2", "hypot", "copysign", "eq", "ne", "lt", "le", "gt",
            "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "logical_and",
            "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
            "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift", "neg",
            "negative", "abs", "absolute", "sign", "sgn", "square", "relu", "floor", "ceil",
            "round", "trunc", "fix", "clamp", "clip", "clamp_min", "clamp_max", "where", "lerp",
            "isnan", "isinf", "isfinite", "signbit", "nan_to_num", "result_type", "tril", "triu"]
           + _FLOAT_UNARY)
