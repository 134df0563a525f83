"""The pointwise half of numeric.py (which re-exports everything here, so only numeric needs
wiring): logaddexp/logaddexp2, xlogy, sinc, logit, deg2rad, rad2deg, heaviside, addcmul,
addcdiv, plus the helpers and error classes both modules share. Compositions of pointwise.py's
ops; xlogy and logit record a node with PyTorch's own gradient formulas (written in clnet ops),
since the composed rule differs at xlogy's zeros and outside logit's [0, 1] (sinc's too, for
rounding near its derivative's zeros). heaviside records no gradient (PyTorch's raises on
backward)."""
import math

from .. import dtypes, graph
from ..graph import no_grad_recording
from ..tensor import Tensor
from . import pointwise as P
from .copy import cast
from .creation import full
from .elementwise import _sum_to, result_type

__all__ = ["logaddexp", "logaddexp2", "xlogy", "sinc", "logit", "deg2rad", "rad2deg",
           "heaviside", "addcmul", "addcdiv", "erfinv"]


class NumericValueError(ValueError, RuntimeError):
    """A bad argument value or shape; PyTorch raises RuntimeError here, so it is both."""


class NumericTypeError(TypeError, RuntimeError):
    """A dtype the op does not take; PyTorch raises RuntimeError here, so it is both."""


def _check(op, **tensors):
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(t).__name__}")


def _floating(x):
    """x, cast to the default float dtype when it is integer or bool (torch's unary rule)."""
    return x if x.dtype.is_floating_point else cast(x, dtypes.get_default_dtype())


def _full(shape, value, dt, dev):
    return full(shape, value, dtype=dt, device=dev)


# ------------------------------------------------------------------ pointwise
def _logaddexp(op, input, other, base2):
    _check(op, input=input, other=other)
    if not result_type(input, other).is_floating_point:
        raise NumericTypeError(f"{op}(): not implemented for integer inputs ({input.dtype}, "
                        f"{other.dtype}); convert with .float()")
    m = P.maximum(input, other)
    e = P.neg(P.abs(P.sub(input, other)))
    if base2:
        r = P.add(m, P.mul(P.log1p(P.exp2(e)), 1.0 / math.log(2.0)))
    else:
        r = P.add(m, P.log1p(P.exp(e)))
    # equal infinities: inf - inf is NaN in the formula, PyTorch returns the infinity
    return P.where(P.logical_and(P.isinf(input), P.eq(input, other)), input, r)


def logaddexp(input, other):
    """log(exp(input) + exp(other)), stable: max + log1p(exp(-|input - other|))."""
    return _logaddexp("logaddexp", input, other, False)


def logaddexp2(input, other):
    """log2(2**input + 2**other), stable."""
    return _logaddexp("logaddexp2", input, other, True)


def _operand(x, ct, dev):
    return cast(x, ct) if isinstance(x, Tensor) else _full((), x, ct, dev)


def xlogy(input, other):
    """input * log(other), 0 where input == 0 (even for other 0 or inf), NaN where other is
    NaN. Either argument may be a number. Gradients follow PyTorch's formulas."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("xlogy(): at least one of input and other must be a Tensor")
    ct = result_type(input, other)
    ct = ct if ct.is_floating_point else dtypes.get_default_dtype()
    dev = (input if isinstance(input, Tensor) else other).device
    x, y = _operand(input, ct, dev), _operand(other, ct, dev)
    with no_grad_recording():
        r = P.mul(x, P.log(y))
        r = P.where(P.eq(x, 0), 0.0, r)
        r = P.where(P.isnan(y), math.nan, r)
    if graph.recording(x, y):
        def backward(g):
            gx = gy = None
            if x.requires_grad:
                gx = P.where(P.logical_and(P.eq(x, 0), P.le(y, 0)), 0.0, xlogy(g, y))
                gx = _sum_to(gx, x)
            if y.requires_grad:
                gy = _sum_to(P.div(P.mul(g, x), y), y)
            return gx, gy
        graph.record("XlogyBackward0", r, (x, y), backward, saved=(x, y))
    return r


def sinc(input):
    """sin(pi x) / (pi x), 1 at x == 0. Gradient by PyTorch's closed form
    (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 at x == 0: the chain rule through the quotient
    rounds differently near the derivative's zeros."""
    _check("sinc", input=input)
    x = _floating(input)
    zero = P.eq(x, 0)
    with no_grad_recording():
        px = P.mul(P.where(zero, 1.0, x), math.pi)    # no 0/0 in the branch where() discards
        r = P.where(zero, 1.0, P.div(P.sin(px), px))
    if graph.recording(x):
        def backward(g):
            pxs = P.mul(x, math.pi)
            d = P.div(P.sub(P.mul(pxs, P.cos(pxs)), P.sin(pxs)), P.mul(pxs, x))
            return (P.where(zero, 0.0, P.mul(g, d)),)
        graph.record("SincBackward0", r, (x,), backward, saved=(x,))
    return r


def logit(input, eps=None):
    """log(z / (1 - z)) with z = input clamped to [eps, 1 - eps] when eps is given (and >= 0).
    Gradient as PyTorch: 0 outside [eps, 1 - eps], NaN outside [0, 1] without eps."""
    _check("logit", input=input)
    x = _floating(input)
    clamped = eps is not None and eps >= 0
    with no_grad_recording():
        z = P.clamp(x, eps, 1.0 - eps) if clamped else x
        r = P.log(P.div(z, P.rsub(z, 1)))
    if graph.recording(x):
        lo, hi, outside = (eps, 1.0 - eps, 0.0) if clamped else (0.0, 1.0, math.nan)

        def backward(g):
            base = P.div(g, P.mul(x, P.rsub(x, 1)))
            return (P.where(P.logical_or(P.lt(x, lo), P.gt(x, hi)), outside, base),)
        graph.record("LogitBackward0", r, (x,), backward, saved=(x,))
    return r


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2010), single precision:
# erfinv(x) ~ x * p(w), w = -log((1 - x)(1 + x)), one polynomial each side of w = 5
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(coeffs, w):
    p = P.add(P.mul(w, coeffs[0]), coeffs[1])
    for c in coeffs[2:]:
        p = P.add(P.mul(p, w), c)
    return p


def erfinv(input):
    """torch.erfinv: the inverse of erf on [-1, 1] (+-inf at +-1, NaN outside). Giles' polynomial,
    accurate to a few float32 ulp, and in float64 three Newton steps on erf from there.
    Gradient: sqrt(pi) / 2 * exp(erfinv(x)^2), as PyTorch."""
    _check("erfinv", input=input)
    x = _floating(input)
    with no_grad_recording():
        w = P.neg(P.log(P.mul(P.rsub(x, 1), P.add(x, 1))))
        central = _horner(_ERFINV_CENTRAL, P.sub(w, 2.5))
        tail = _horner(_ERFINV_TAIL, P.sub(P.sqrt(w), 3.0))
        r = P.mul(P.where(P.lt(w, 5.0), central, tail), x)
        for _ in range(3 if x.dtype is dtypes.float64 else 0):
            step = P.div(P.sub(P.erf(r), x), P.mul(P.exp(P.neg(P.mul(r, r))),
                                                   2.0 / math.sqrt(math.pi)))
            r = P.sub(r, P.where(P.isfinite(step), step, 0.0))
        r = P.where(P.eq(x, 1.0), math.inf, P.where(P.eq(x, -1.0), -math.inf, r))
    if graph.recording(x):
        def backward(g):
            return (P.mul(g, P.mul(P.exp(P.mul(r, r)), math.sqrt(math.pi) / 2)),)
        graph.record("ErfinvBackward0", r, (x,), backward, saved=(x,))
    return r


def deg2rad(input):
    _check("deg2rad", input=input)
    return P.mul(_floating(input), math.pi / 180.0)


def rad2deg(input):
    _check("rad2deg", input=input)
    return P.mul(_floating(input), 180.0 / math.pi)


def heaviside(input, values):
    """0 where input < 0, values where input == 0, 1 where input > 0 (NaN gives 0)."""
    _check("heaviside", input=input, values=values)
    if input.dtype is not values.dtype:
        raise NumericTypeError(f"heaviside is not yet implemented for tensors with different dtypes "
                        f"({input.dtype} and {values.dtype})")
    x, v = input.detach(), values.detach()
    if x.dtype is dtypes.bool_:
        return P.logical_or(x, v)
    return P.where(P.eq(x, 0), v, cast(P.gt(x, 0), x.dtype))


def _addc(op, input, tensor1, tensor2, value, combine):
    _check(op, input=input, tensor1=tensor1, tensor2=tensor2)
    if not result_type(input, tensor1, tensor2).is_floating_point and isinstance(value, float):
        value = int(value)          # PyTorch truncates a float value for integer tensors
    t = tensor1 if value == 1 else P.mul(tensor1, value)
    return P.add(input, combine(t, tensor2))


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2 (all broadcast)."""
    return _addc("addcmul", input, tensor1, tensor2, value, P.mul)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (all broadcast); integer tensor1 and tensor2 raise,
    as in PyTorch."""
    _check("addcdiv", input=input, tensor1=tensor1, tensor2=tensor2)
    if not tensor1.dtype.is_floating_point and not tensor2.dtype.is_floating_point:
        raise NumericTypeError(f"addcdiv(): integer division with addcdiv is not supported (tensor1 "
                        f"{tensor1.dtype}, tensor2 {tensor2.dtype}); use addcmul with the "
                        f"reciprocal, or convert to floating point")
    return _addc("addcdiv", input, tensor1, tensor2, value, P.div)
