"""Backward rules of the elementwise kernels, written with differentiable ops so that gradients of
gradients work. Each entry: (rule, needs) where ``needs`` names what the rule reads: ``a``/``b``
(binary inputs) or ``x`` (unary input) and ``o`` (the op's output, saved without a cycle).

Binary rules: ``rule(g, a, b, o, need_a, need_b) -> (grad_a, grad_b)``, broadcast-shaped (the
engine sums them back to each operand's shape); a or b may be a Python number.
Unary rules: ``rule(g, x, o, p0, p1) -> grad_x`` with the kernel's two parameters.
"""
import math

from .. import graph
from .elementwise import unary
from .pointwise import (add, cos, cosh, digamma, div, erf, exp, floor_divide, gt, lt, eq, le, ge,
                        log, logical_and, mul, neg, rsqrt, sigmoid, sin, sinh, softplus, sub, tanh,
                        trunc, where)


def node_name(op):
    return "".join(part.capitalize() for part in op.split("_")) + "Backward0"


def _mask(cond, g):
    return where(cond, g, 0.0)


def _threshold_backward(g, o):
    """ReLU's gradient in one kernel: g where o > 0, else 0 (torch's threshold_backward(g, o, 0),
    so a NaN output passes the gradient)."""
    from .elementwise import binary
    return binary("threshold_backward", g, o)


def _fused(op, g, t):
    """An activation's backward as ONE kernel (``<act>_backward(g, t)`` in elementwise.cl, t the
    input or output) when the result will not be differentiated (no create_graph, or nothing
    requiring grad); None otherwise, and the caller composes differentiable ops. The fused kernel
    records no graph node, hence the check. gelu's backward: 11 kernels -> 1 (2^17 floats on PoCL:
    1307 -> ~480 us of device time)."""
    if graph.mode.grad_enabled and (g.requires_grad or t.requires_grad):
        return None
    from .elementwise import binary
    return binary(op, g, t)


def _threshold_backward_rule(g, a, b, o, na, nb):
    # linear in the gradient a, piecewise constant in the output b
    return (_threshold_backward(g, b) if na else None), None


# ------------------------------------------------------------------ binary
def _add(g, a, b, o, na, nb):
    return g, g


def _sub(g, a, b, o, na, nb):
    return g, (neg(g) if nb else None)


def _mul(g, a, b, o, na, nb):
    return (mul(g, b) if na else None), (mul(g, a) if nb else None)


def _div(g, a, b, o, na, nb):
    ga = div(g, b) if na else None
    gb = neg(div(mul(g, a), mul(b, b))) if nb else None
    return ga, gb


def _pow(g, a, b, o, na, nb):
    ga = gb = None
    if na:
        if isinstance(b, (int, float)):
            ga = mul(g, mul(a ** (b - 1), b)) if b != 0 else mul(g, 0.0)
        else:
            ga = mul(g, mul(b, a ** sub(b, 1)))
    if nb:
        # d/db a**b = a**b * log(a); PyTorch masks the 0**b (b >= 0) case to 0
        base_zero = logical_and(eq(a, 0), ge(b, 0)) if not isinstance(a, (int, float)) else None
        term = mul(o, math.log(a)) if isinstance(a, (int, float)) and a > 0 else mul(o, log(a))
        if base_zero is not None:
            term = where(base_zero, 0.0, term)
        gb = mul(g, term)
    return ga, gb


def _maximum(g, a, b, o, na, nb):
    tie = eq(a, b)
    half = mul(g, 0.5)
    ga = where(tie, half, _mask(gt(a, b), g)) if na else None
    gb = where(tie, half, _mask(lt(a, b), g)) if nb else None
    return ga, gb


def _minimum(g, a, b, o, na, nb):
    tie = eq(a, b)
    half = mul(g, 0.5)
    ga = where(tie, half, _mask(lt(a, b), g)) if na else None
    gb = where(tie, half, _mask(gt(a, b), g)) if nb else None
    return ga, gb


def _atan2(g, a, b, o, na, nb):
    d = add(mul(a, a), mul(b, b))
    return (div(mul(g, b), d) if na else None), (neg(div(mul(g, a), d)) if nb else None)


def _hypot(g, a, b, o, na, nb):
    return (mul(g, div(a, o)) if na else None), (mul(g, div(b, o)) if nb else None)


def _copysign(g, a, b, o, na, nb):
    return (where(eq(a, 0), 0.0, mul(g, div(o, a))) if na else None), None


def _remainder(g, a, b, o, na, nb):
    return g, (neg(mul(g, floor_divide(a, b))) if nb else None)


def _fmod(g, a, b, o, na, nb):
    return g, (neg(mul(g, trunc(div(a, b)))) if nb else None)


BINARY = {
    "add": (_add, ""), "sub": (_sub, ""), "mul": (_mul, "ab"), "div": (_div, "ab"),
    "pow": (_pow, "abo"), "maximum": (_maximum, "ab"), "minimum": (_minimum, "ab"),
    "fmax": (_maximum, "ab"), "fmin": (_minimum, "ab"), "atan2": (_atan2, "ab"),
    "hypot": (_hypot, "abo"), "copysign": (_copysign, "ao"), "remainder": (_remainder, "ab"),
    "fmod": (_fmod, "ab"), "threshold_backward": (_threshold_backward_rule, "b"),
}

# ------------------------------------------------------------------ unary
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _zero(g, x, o, p0, p1):
    return mul(g, 0.0)


def _gelu(g, x, o, p0, p1):
    r = _fused("gelu_backward", g, x)
    if r is not None:
        return r
    cdf = mul(add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
    pdf = mul(exp(mul(mul(x, x), -0.5)), _INV_SQRT_2PI)
    return mul(g, add(cdf, mul(x, pdf)))


def _gelu_tanh(g, x, o, p0, p1):
    r = _fused("gelu_tanh_backward", g, x)
    if r is not None:
        return r
    x2 = mul(x, x)
    inner = mul(add(x, mul(mul(x2, x), 0.044715)), _SQRT_2_OVER_PI)
    t = tanh(inner)
    d_inner = mul(add(mul(x2, 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
    left = mul(add(t, 1.0), 0.5)
    right = mul(mul(mul(x, 0.5), sub(1.0, mul(t, t))), d_inner)
    return mul(g, add(left, right))


def _silu(g, x, o, p0, p1):
    r = _fused("silu_backward", g, x)
    if r is not None:
        return r
    s = sigmoid(x)
    return mul(g, mul(s, add(mul(x, sub(1.0, s)), 1.0)))


def _mish(g, x, o, p0, p1):
    r = _fused("mish_backward", g, x)
    if r is not None:
        return r
    t = tanh(softplus(x))
    return mul(g, add(t, mul(mul(x, sub(1.0, mul(t, t))), sigmoid(x))))


def _hardswish(g, x, o, p0, p1):
    mid = add(div(x, 3.0), 0.5)
    return mul(g, where(lt(x, -3.0), 0.0, where(le(x, 3.0), mid, 1.0)))


def _selu(g, x, o, p0, p1):
    return mul(g, where(gt(x, 0), _SELU_SCALE, mul(exp(x), _SELU_SCALE * _SELU_ALPHA)))


def _sigmoid(g, x, o, p0, p1):
    r = _fused("sigmoid_backward", g, o)
    return r if r is not None else mul(g, mul(o, sub(1.0, o)))


def _tanh(g, x, o, p0, p1):
    r = _fused("tanh_backward", g, o)
    return r if r is not None else mul(g, sub(1.0, mul(o, o)))


def _softplus(g, x, o, beta, threshold):
    if beta == 1 and threshold == 20:
        r = _fused("softplus_backward", g, x)
        if r is not None:
            return r
    z = mul(x, beta)
    return where(gt(z, threshold), g, mul(g, sigmoid(z)))


def _no_third_lgamma_derivative(g, x, o, p0, p1):
    raise RuntimeError("clnet computes lgamma's derivatives up to the second (digamma, then "
                       "trigamma); a third one (polygamma of order 2) is not available")


def _clamp(g, x, lo, hi):
    return _mask(logical_and(ge(x, lo), le(x, hi)), g)


UNARY = {
    "neg": (lambda g, x, o, p0, p1: neg(g), ""),
    "abs": (lambda g, x, o, p0, p1: mul(g, x.sign()), "x"),
    "sign": (_zero, ""), "floor": (_zero, ""), "ceil": (_zero, ""), "round": (_zero, ""),
    "trunc": (_zero, ""),
    "frac": (lambda g, x, o, p0, p1: g, ""),
    "square": (lambda g, x, o, p0, p1: mul(g, mul(x, 2.0)), "x"),
    "exp": (lambda g, x, o, p0, p1: mul(g, o), "o"),
    "exp2": (lambda g, x, o, p0, p1: mul(g, mul(o, math.log(2.0))), "o"),
    "expm1": (lambda g, x, o, p0, p1: mul(g, add(o, 1.0)), "o"),
    "log": (lambda g, x, o, p0, p1: div(g, x), "x"),
    "log2": (lambda g, x, o, p0, p1: div(g, mul(x, math.log(2.0))), "x"),
    "log10": (lambda g, x, o, p0, p1: div(g, mul(x, math.log(10.0))), "x"),
    "log1p": (lambda g, x, o, p0, p1: div(g, add(x, 1.0)), "x"),
    "sqrt": (lambda g, x, o, p0, p1: div(g, mul(o, 2.0)), "o"),
    "rsqrt": (lambda g, x, o, p0, p1: mul(g, mul(mul(mul(o, o), o), -0.5)), "o"),
    "reciprocal": (lambda g, x, o, p0, p1: neg(mul(g, mul(o, o))), "o"),
    "cube": (lambda g, x, o, p0, p1: mul(g, mul(mul(x, x), 3.0)), "x"),
    "inv_square": (lambda g, x, o, p0, p1: mul(g, mul(div(o, x), -2.0)), "xo"),
    "lgamma": (lambda g, x, o, p0, p1: mul(g, digamma(x)), "x"),
    "digamma": (lambda g, x, o, p0, p1: mul(g, unary("trigamma", x)), "x"),
    "trigamma": (_no_third_lgamma_derivative, ""),
    "sin": (lambda g, x, o, p0, p1: mul(g, cos(x)), "x"),
    "cos": (lambda g, x, o, p0, p1: neg(mul(g, sin(x))), "x"),
    "tan": (lambda g, x, o, p0, p1: mul(g, add(mul(o, o), 1.0)), "o"),
    "asin": (lambda g, x, o, p0, p1: mul(g, rsqrt(sub(1.0, mul(x, x)))), "x"),
    "acos": (lambda g, x, o, p0, p1: neg(mul(g, rsqrt(sub(1.0, mul(x, x))))), "x"),
    "atan": (lambda g, x, o, p0, p1: div(g, add(mul(x, x), 1.0)), "x"),
    "sinh": (lambda g, x, o, p0, p1: mul(g, cosh(x)), "x"),
    "cosh": (lambda g, x, o, p0, p1: mul(g, sinh(x)), "x"),
    "tanh": (_tanh, "o"),
    "asinh": (lambda g, x, o, p0, p1: mul(g, rsqrt(add(mul(x, x), 1.0))), "x"),
    "acosh": (lambda g, x, o, p0, p1: mul(g, rsqrt(sub(mul(x, x), 1.0))), "x"),
    "atanh": (lambda g, x, o, p0, p1: div(g, sub(1.0, mul(x, x))), "x"),
    "erf": (lambda g, x, o, p0, p1: mul(g, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))),
            "x"),
    "erfc": (lambda g, x, o, p0, p1: mul(g, mul(exp(neg(mul(x, x))), -2.0 / math.sqrt(math.pi))),
             "x"),
    "sigmoid": (_sigmoid, "o"),
    "logsigmoid": (lambda g, x, o, p0, p1: mul(g, sigmoid(neg(x))), "x"),
    "silu": (_silu, "x"),
    "mish": (_mish, "x"),
    "softsign": (lambda g, x, o, p0, p1: div(g, mul(add(x.abs(), 1.0), add(x.abs(), 1.0))), "x"),
    "hardsigmoid": (lambda g, x, o, p0, p1: _mask(logical_and(gt(x, -3.0), lt(x, 3.0)),
                                                  div(g, 6.0)), "x"),
    "hardswish": (_hardswish, "x"),
    "selu": (_selu, "x"),
    "elu": (lambda g, x, o, alpha, p1: where(gt(x, 0), g, mul(g, add(o, alpha))), "xo"),
    "celu": (lambda g, x, o, alpha, p1: where(gt(x, 0), g, mul(g, exp(div(x, alpha)))), "x"),
    "gelu": (_gelu, "x"),
    "gelu_tanh": (_gelu_tanh, "x"),
    "softplus": (_softplus, "x"),
    "leaky_relu": (lambda g, x, o, slope, p1: where(gt(x, 0), g, mul(g, slope)), "x"),
    "relu": (lambda g, x, o, p0, p1: _threshold_backward(g, o), "o"),
    "threshold": (lambda g, x, o, th, value: _mask(gt(x, th), g), "x"),
    "clamp": (lambda g, x, o, lo, hi: _clamp(g, x, lo, hi), "x"),
    "hardtanh": (lambda g, x, o, lo, hi: _mask(logical_and(gt(x, lo), lt(x, hi)), g), "x"),
    "nan_to_num": (lambda g, x, o, p0, p1: _mask(x.isfinite(), g), "x"),
}

