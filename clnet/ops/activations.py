"""Elementwise activations, PyTorch-named (``relu``, ``sigmoid``, ``gelu``, ``silu``...), each
with its backward rule beside it (see arithmetic.py for the rule signature). Where a rule's
result will not be differentiated again, the common ones run as ONE kernel
(``<act>_backward`` in elementwise.cl, through ``fused_backward``) instead of a composition.
The engine is elementwise.py; the launches clnet/kernels/elementwise.py.
"""
import math

from .. import dtypes
from .arithmetic import _mask, add, div, gt, le, logical_and, lt, mul, neg, sub, where
from .elementwise import (_inplace_unary, binary, fused_backward, register_binary,
                          register_unary, unary)
from .unary_math import erf, exp, tanh

__all__ = ["relu", "sigmoid", "logsigmoid", "silu", "mish", "softsign", "hardsigmoid",
           "hardswish", "selu"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------------------------- ReLU family
def relu(input, inplace=False):
    if input.dtype is dtypes.bool_:
        raise TypeError("relu: not supported for bool tensors")
    if inplace:
        return _inplace_unary("relu", input, float_only=False)
    return unary("relu", input, float_only=False)


def _threshold_backward(g, o):
    """ReLU's gradient in one kernel: g where o > 0, else 0 (torch's threshold_backward(g, o, 0),
    so a NaN output passes the gradient)."""
    return binary("threshold_backward", g, o)


register_unary("relu", lambda g, x, o, p0, p1: _threshold_backward(g, o), "o")
# threshold_backward is itself differentiated (double backward through relu): linear in the
# gradient a, piecewise constant in the output b
register_binary("threshold_backward", lambda g, a, b, o, na, nb: (
    _threshold_backward(g, b) if na else None, None), "b")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _inplace_unary("leaky_relu", input, negative_slope)
    return unary("leaky_relu", input, negative_slope)


register_unary("leaky_relu", lambda g, x, o, slope, p1: where(gt(x, 0), g, mul(g, slope)), "x")


def threshold(input, threshold, value, inplace=False):
    if inplace:
        return _inplace_unary("threshold", input, threshold, value)
    return unary("threshold", input, threshold, value)


register_unary("threshold", lambda g, x, o, th, value: _mask(gt(x, th), g), "x")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    # clamp's values; torch's gradient, which is 0 at the bounds themselves (clamp's passes there)
    if inplace:
        return _inplace_unary("hardtanh", input, min_val, max_val)
    return unary("hardtanh", input, min_val, max_val)


register_unary("hardtanh", lambda g, x, o, lo, hi: _mask(logical_and(gt(x, lo), lt(x, hi)), g),
               "x")


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


# ---------------------------------------------------------------------------------- exponential
def elu(input, alpha=1.0, inplace=False):
    return _inplace_unary("elu", input, alpha) if inplace else unary("elu", input, alpha)


register_unary("elu", lambda g, x, o, alpha, p1: where(gt(x, 0), g, mul(g, add(o, alpha))), "xo")


def celu(input, alpha=1.0, inplace=False):
    return _inplace_unary("celu", input, alpha) if inplace else unary("celu", input, alpha)


register_unary("celu", lambda g, x, o, alpha, p1: where(gt(x, 0), g, mul(g, exp(div(x, alpha)))),
               "x")


def selu(input, *, out=None):
    """Elementwise SELU (like torch.selu)."""
    return unary("selu", input, out=out)


register_unary("selu", lambda g, x, o, p0, p1: mul(
    g, where(gt(x, 0), _SELU_SCALE, mul(exp(x), _SELU_SCALE * _SELU_ALPHA))), "x")


# ---------------------------------------------------------------------------------- sigmoid family
def sigmoid(input, *, out=None):
    """Elementwise logistic sigmoid (like torch.sigmoid)."""
    return unary("sigmoid", input, out=out)


def _sigmoid_backward(g, x, o, p0, p1):
    r = fused_backward("sigmoid_backward", g, o)
    return r if r is not None else mul(g, mul(o, sub(1.0, o)))


register_unary("sigmoid", _sigmoid_backward, "o")


def logsigmoid(input, *, out=None):
    """Elementwise log(sigmoid(x)) (like torch.nn.functional.logsigmoid)."""
    return unary("logsigmoid", input, out=out)


register_unary("logsigmoid", lambda g, x, o, p0, p1: mul(g, sigmoid(neg(x))), "x")


def silu(input, *, out=None):
    """Elementwise x * sigmoid(x) (like torch.nn.functional.silu)."""
    return unary("silu", input, out=out)


def _silu_backward(g, x, o, p0, p1):
    r = fused_backward("silu_backward", g, x)
    if r is not None:
        return r
    s = sigmoid(x)
    return mul(g, mul(s, add(mul(x, sub(1.0, s)), 1.0)))


register_unary("silu", _silu_backward, "x")


def hardsigmoid(input, *, out=None):
    """Elementwise piecewise-linear sigmoid (like torch.nn.functional.hardsigmoid)."""
    return unary("hardsigmoid", input, out=out)


register_unary("hardsigmoid", lambda g, x, o, p0, p1: _mask(
    logical_and(gt(x, -3.0), lt(x, 3.0)), div(g, 6.0)), "x")


def hardswish(input, *, out=None):
    """Elementwise x * hardsigmoid(x) (like torch.nn.functional.hardswish)."""
    return unary("hardswish", input, out=out)


def _hardswish_backward(g, x, o, p0, p1):
    mid = add(div(x, 3.0), 0.5)
    return mul(g, where(lt(x, -3.0), 0.0, where(le(x, 3.0), mid, 1.0)))


register_unary("hardswish", _hardswish_backward, "x")


# ---------------------------------------------------------------------------------- smooth
def softplus(input, beta=1.0, threshold=20.0):
    return unary("softplus", input, beta, threshold)


def _softplus_backward(g, x, o, beta, threshold):
    if beta == 1 and threshold == 20:
        r = fused_backward("softplus_backward", g, x)
        if r is not None:
            return r
    z = mul(x, beta)
    return where(gt(z, threshold), g, mul(g, sigmoid(z)))


register_unary("softplus", _softplus_backward, "x")


def softsign(input, *, out=None):
    """Elementwise x / (1 + |x|) (like torch.nn.functional.softsign)."""
    return unary("softsign", input, out=out)


register_unary("softsign", lambda g, x, o, p0, p1: div(
    g, mul(add(x.abs(), 1.0), add(x.abs(), 1.0))), "x")


def mish(input, *, out=None):
    """Elementwise x * tanh(softplus(x)) (like torch.nn.functional.mish)."""
    return unary("mish", input, out=out)


def _mish_backward(g, x, o, p0, p1):
    r = fused_backward("mish_backward", g, x)
    if r is not None:
        return r
    t = tanh(softplus(x))
    return mul(g, add(t, mul(mul(x, sub(1.0, mul(t, t))), sigmoid(x))))


register_unary("mish", _mish_backward, "x")


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return unary("gelu" if approximate == "none" else "gelu_tanh", input, opname="gelu")


def _gelu_backward(g, x, o, p0, p1):
    r = fused_backward("gelu_backward", g, x)
    if r is not None:
        return r
    cdf = mul(add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
    pdf = mul(exp(mul(mul(x, x), -0.5)), _INV_SQRT_2PI)
    return mul(g, add(cdf, mul(x, pdf)))


register_unary("gelu", _gelu_backward, "x")


def _gelu_tanh_backward(g, x, o, p0, p1):
    r = fused_backward("gelu_tanh_backward", g, x)
    if r is not None:
        return r
    x2 = mul(x, x)
    inner = mul(add(x, mul(mul(x2, x), 0.044715)), _SQRT_2_OVER_PI)
    t = tanh(inner)
    d_inner = mul(add(mul(x2, 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
    left = mul(add(t, 1.0), 0.5)
    right = mul(mul(mul(x, 0.5), sub(1.0, mul(t, t))), d_inner)
    return mul(g, add(left, right))


register_unary("gelu_tanh", _gelu_tanh_backward, "x")
