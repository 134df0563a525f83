"""Elementwise unary math, PyTorch-named: exponentials and logarithms, roots, trigonometric and
hyperbolic functions, erf, lgamma/digamma, rounding, and the float classifiers (isnan...), each
with its backward rule beside it (see arithmetic.py for the rule signature). The engine is
elementwise.py; the launches clnet/kernels/elementwise.py; kernels: cl_kernels/elementwise.cl.
Integer and bool inputs compute in the default float dtype, as in PyTorch.
"""
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .arithmetic import _mask, add, div, lt, mul, neg, sub, where
from .copy import clone, copy_into, fill_into
from .elementwise import fused_backward, register_unary, unary

__all__ = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
           "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
           "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "digamma", "frac", "floor",
           "ceil", "round", "trunc", "fix", "isnan", "isinf", "isfinite", "signbit",
           "nan_to_num"]


# ---------------------------------------------------------------------------------- exp, log
def exp(input, *, out=None):
    """Elementwise exp (like torch.exp)."""
    return unary("exp", input, out=out)


register_unary("exp", lambda g, x, o, p0, p1: mul(g, o), "o")


def exp2(input, *, out=None):
    """Elementwise 2**x (like torch.exp2)."""
    return unary("exp2", input, out=out)


register_unary("exp2", lambda g, x, o, p0, p1: mul(g, mul(o, math.log(2.0))), "o")


def expm1(input, *, out=None):
    """Elementwise exp(x) - 1 (like torch.expm1)."""
    return unary("expm1", input, out=out)


register_unary("expm1", lambda g, x, o, p0, p1: mul(g, add(o, 1.0)), "o")


def log(input, *, out=None):
    """Elementwise natural logarithm (like torch.log)."""
    return unary("log", input, out=out)


register_unary("log", lambda g, x, o, p0, p1: div(g, x), "x")


def log2(input, *, out=None):
    """Elementwise base-2 logarithm (like torch.log2)."""
    return unary("log2", input, out=out)


register_unary("log2", lambda g, x, o, p0, p1: div(g, mul(x, math.log(2.0))), "x")


def log10(input, *, out=None):
    """Elementwise base-10 logarithm (like torch.log10)."""
    return unary("log10", input, out=out)


register_unary("log10", lambda g, x, o, p0, p1: div(g, mul(x, math.log(10.0))), "x")


def log1p(input, *, out=None):
    """Elementwise log(1 + x) (like torch.log1p)."""
    return unary("log1p", input, out=out)


register_unary("log1p", lambda g, x, o, p0, p1: div(g, add(x, 1.0)), "x")


# ---------------------------------------------------------------------------------- roots
def sqrt(input, *, out=None):
    """Elementwise square root (like torch.sqrt)."""
    return unary("sqrt", input, out=out)


register_unary("sqrt", lambda g, x, o, p0, p1: div(g, mul(o, 2.0)), "o")


def rsqrt(input, *, out=None):
    """Elementwise 1 / sqrt(x) (like torch.rsqrt)."""
    return unary("rsqrt", input, out=out)


register_unary("rsqrt", lambda g, x, o, p0, p1: mul(g, mul(mul(mul(o, o), o), -0.5)), "o")


def reciprocal(input, *, out=None):
    """Elementwise 1 / x (like torch.reciprocal)."""
    return unary("reciprocal", input, out=out)


register_unary("reciprocal", lambda g, x, o, p0, p1: neg(mul(g, mul(o, o))), "o")


# ---------------------------------------------------------------------------------- trigonometric
def sin(input, *, out=None):
    """Elementwise sine (like torch.sin)."""
    return unary("sin", input, out=out)


register_unary("sin", lambda g, x, o, p0, p1: mul(g, cos(x)), "x")


def cos(input, *, out=None):
    """Elementwise cosine (like torch.cos)."""
    return unary("cos", input, out=out)


register_unary("cos", lambda g, x, o, p0, p1: neg(mul(g, sin(x))), "x")


def tan(input, *, out=None):
    """Elementwise tangent (like torch.tan)."""
    return unary("tan", input, out=out)


register_unary("tan", lambda g, x, o, p0, p1: mul(g, add(mul(o, o), 1.0)), "o")


def asin(input, *, out=None):
    """Elementwise arcsine (like torch.asin)."""
    return unary("asin", input, out=out)


register_unary("asin", lambda g, x, o, p0, p1: mul(g, rsqrt(sub(1.0, mul(x, x)))), "x")


def acos(input, *, out=None):
    """Elementwise arccosine (like torch.acos)."""
    return unary("acos", input, out=out)


register_unary("acos", lambda g, x, o, p0, p1: neg(mul(g, rsqrt(sub(1.0, mul(x, x))))), "x")


def atan(input, *, out=None):
    """Elementwise arctangent (like torch.atan)."""
    return unary("atan", input, out=out)


register_unary("atan", lambda g, x, o, p0, p1: div(g, add(mul(x, x), 1.0)), "x")


# ---------------------------------------------------------------------------------- hyperbolic
def sinh(input, *, out=None):
    """Elementwise hyperbolic sine (like torch.sinh)."""
    return unary("sinh", input, out=out)


register_unary("sinh", lambda g, x, o, p0, p1: mul(g, cosh(x)), "x")


def cosh(input, *, out=None):
    """Elementwise hyperbolic cosine (like torch.cosh)."""
    return unary("cosh", input, out=out)


register_unary("cosh", lambda g, x, o, p0, p1: mul(g, sinh(x)), "x")


def tanh(input, *, out=None):
    """Elementwise hyperbolic tangent (like torch.tanh)."""
    return unary("tanh", input, out=out)


def _tanh_backward(g, x, o, p0, p1):
    r = fused_backward("tanh_backward", g, o)
    return r if r is not None else mul(g, sub(1.0, mul(o, o)))


register_unary("tanh", _tanh_backward, "o")


def asinh(input, *, out=None):
    """Elementwise inverse hyperbolic sine (like torch.asinh)."""
    return unary("asinh", input, out=out)


register_unary("asinh", lambda g, x, o, p0, p1: mul(g, rsqrt(add(mul(x, x), 1.0))), "x")


def acosh(input, *, out=None):
    """Elementwise inverse hyperbolic cosine (like torch.acosh)."""
    return unary("acosh", input, out=out)


register_unary("acosh", lambda g, x, o, p0, p1: mul(g, rsqrt(sub(mul(x, x), 1.0))), "x")


def atanh(input, *, out=None):
    """Elementwise inverse hyperbolic tangent (like torch.atanh)."""
    return unary("atanh", input, out=out)


register_unary("atanh", lambda g, x, o, p0, p1: div(g, sub(1.0, mul(x, x))), "x")


# ---------------------------------------------------------------------------------- erf, gamma
def erf(input, *, out=None):
    """Elementwise error function (like torch.erf)."""
    return unary("erf", input, out=out)


register_unary("erf", lambda g, x, o, p0, p1: mul(
    g, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))), "x")


def erfc(input, *, out=None):
    """Elementwise complementary error function (like torch.erfc)."""
    return unary("erfc", input, out=out)


register_unary("erfc", lambda g, x, o, p0, p1: mul(
    g, mul(exp(neg(mul(x, x))), -2.0 / math.sqrt(math.pi))), "x")


def lgamma(input, *, out=None):
    """Elementwise log |gamma(x)| (like torch.lgamma)."""
    return unary("lgamma", input, out=out)


register_unary("lgamma", lambda g, x, o, p0, p1: mul(g, digamma(x)), "x")


def digamma(input, *, out=None):
    """Elementwise digamma, lgamma's derivative (like torch.digamma)."""
    return unary("digamma", input, out=out)


register_unary("digamma", lambda g, x, o, p0, p1: mul(g, unary("trigamma", x)), "x")


def _no_third_lgamma_derivative(g, x, o, p0, p1):
    raise RuntimeError("clnet computes lgamma's derivatives up to the second (digamma, then "
                       "trigamma); a third one (polygamma of order 2) is not available")


# trigamma is digamma's derivative only (no public function)
register_unary("trigamma", _no_third_lgamma_derivative, "")


# ---------------------------------------------------------------------------------- rounding
def _zero_backward(g, x, o, p0, p1):
    return mul(g, 0.0)


def _round_like(op, input, out, decimals=0):
    """floor/ceil/round/trunc: identity on integer tensors (a copy, like PyTorch)."""
    if not input.dtype.is_floating_point:
        r = clone(input)
        return r if out is None else copy_into(out, r, op)
    if decimals:
        scale = 10.0 ** decimals
        return div(unary(op, mul(input, scale)), scale, out=out)
    return unary(op, input, out=out)


def floor(input, *, out=None, decimals=0):
    """Elementwise floor; integer tensors are returned unchanged (copied)."""
    return _round_like("floor", input, out, decimals)


register_unary("floor", _zero_backward, "")


def ceil(input, *, out=None, decimals=0):
    """Elementwise ceil; integer tensors are returned unchanged (copied)."""
    return _round_like("ceil", input, out, decimals)


register_unary("ceil", _zero_backward, "")


def round(input, *, out=None, decimals=0):
    """Elementwise round (half to even, ``decimals`` places); integer tensors are returned
    unchanged (copied)."""
    return _round_like("round", input, out, decimals)


register_unary("round", _zero_backward, "")


def trunc(input, *, out=None, decimals=0):
    """Elementwise trunc; integer tensors are returned unchanged (copied)."""
    return _round_like("trunc", input, out, decimals)


register_unary("trunc", _zero_backward, "")
fix = trunc


def frac(input, *, out=None):
    """Elementwise x - trunc(x) (like torch.frac)."""
    return unary("frac", input, out=out)


register_unary("frac", lambda g, x, o, p0, p1: g, "")


# ---------------------------------------------------------------------------------- classifiers
def _bool_filled(input, value):
    return fill_into(Tensor._empty(input._shape, dtypes.bool_, input.device), value)


def isnan(input):
    if not input.dtype.is_floating_point:
        return _bool_filled(input, False)
    return unary("isnan", input, out_dtype=dtypes.bool_)


def isinf(input):
    if not input.dtype.is_floating_point:
        return _bool_filled(input, False)
    return unary("isinf", input, out_dtype=dtypes.bool_)


def isfinite(input):
    if not input.dtype.is_floating_point:
        return _bool_filled(input, True)
    return unary("isfinite", input, out_dtype=dtypes.bool_)


def signbit(input):
    if not input.dtype.is_floating_point:
        return lt(input, 0)
    return unary("signbit", input, out_dtype=dtypes.bool_)


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


register_unary("nan_to_num", lambda g, x, o, p0, p1: _mask(isfinite(x), g), "x")
