"""Tensor methods and operators of the elementwise family (``x + y``, ``x += y``, ``x.exp_()``,
``zero_``, ``fill_``, ``copy_``...), mapped onto the functions of pointwise.py (arithmetic.py,
unary_math.py, activations.py); in-place forms record their autograd history on the tensor
they change."""
from .. import dtypes, graph
from ..tensor import Tensor
from . import pointwise as P
from .arithmetic import (_needs, _scaled, add, bitwise_and, bitwise_left_shift, bitwise_not,
                         bitwise_or, bitwise_right_shift, bitwise_xor, clamp, div, eq,
                         floor_divide, logical_not, lt, le, gt, ge, mul, ne, neg, pow, remainder,
                         sub, where)
from .arithmetic import abs as _abs
from .activations import relu
from .copy import cast, clone, copy_into, fill_into
from .creation import tensor as _tensor
from .elementwise import (_can_cast, _fast_binary, _inplace_binary, _inplace_unary, _is_num,
                          _sum_to)
from .pointwise import _FLOAT_UNARY


def _wrap_inplace(fn, name):
    """``x.f_(...)`` as ``x.copy_(f(x, ...))``: autograd sees the out-of-place graph of f."""
    def method(self, *args, **kwargs):
        src = self
        if graph.mode.grad_enabled and (graph.tracks(self) or any(
                isinstance(a, Tensor) and a.requires_grad for a in args)):
            graph.check_inplace(self)
            src = clone(self)   # f's backward may save its input, which we are about to overwrite
        r = fn(src, *args, **kwargs)
        if r is not self:
            if not _can_cast(r.dtype, self.dtype):
                raise TypeError(f"{name}: result type {r.dtype.name} can't be cast to the desired "
                                f"output type {self.dtype.name}")
            copy_into(self, r, name)
            self._bump_version()
            if r.requires_grad and graph.mode.grad_enabled:
                graph.rebase_history(self, "CopyBackwards", (graph.edge(r),), lambda g: (g,))
        return self
    method.__name__ = method.__qualname__ = name   # the name it is exported under
    return method


def clamp_(self, min=None, max=None):
    return _wrap_inplace(clamp, "clamp_")(self, min, max)


def _overwrite(self, name, write, src=None):
    """Run ``write()`` (an in-place overwrite of ``self``) and give ``self`` the history of
    ``src`` (the gradient of the old value is zero)."""
    rec = graph.mode.grad_enabled and (graph.tracks(self) or _needs(src))
    if rec:
        graph.check_inplace(self)
        edges = (graph.edge(self), graph.edge(src))
    write()
    self._bump_version()
    if rec:
        def backward(g):
            if not _needs(src):
                return (None, None)
            gs = _sum_to(g, src)
            return (None, gs if gs.dtype is src.dtype else cast(gs, src.dtype))
        graph.rebase_history(self, name, edges, backward)
    return self


def zero_(self):
    return _overwrite(self, "ZeroBackward0", lambda: fill_into(self, 0))


def fill_(self, value):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"fill_: only supports 0-dimension value tensor but got tensor with "
                             f"{value.dim()} dimensions")
        v = value.reshape(())
        return _overwrite(self, "FillBackward0", lambda: copy_into(self, v, "fill_"), v)
    return _overwrite(self, "FillBackward0", lambda: fill_into(self, value))


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        src = _tensor(src, device=self.device)
    return _overwrite(self, "CopyBackwards", lambda: copy_into(self, src, "copy_"), src)


def _rev(fn):
    return lambda self, other: fn(other, self)


def _iop(op, name):
    return lambda self, other: _inplace_binary(op, self, other, name)


def _pos(self):
    return self


def _invert(self):
    return logical_not(self) if self.dtype is dtypes.bool_ else bitwise_not(self)


def _eq_method(self, other):
    if not isinstance(other, Tensor) and not _is_num(other):
        return NotImplemented
    return eq(self, other)


def _ne_method(self, other):
    if not isinstance(other, Tensor) and not _is_num(other):
        return NotImplemented
    return ne(self, other)


def _binop(fn):
    def method(self, other):
        if not isinstance(other, Tensor) and not _is_num(other):
            return NotImplemented
        return fn(self, other)
    return method


def _fast_binop(op, fn):
    """``x + y`` and friends: try the engine's fast path first (a contiguous float tensor and a
    number or a like tensor, nothing to record), the general function otherwise."""
    def method(self, other):
        r = _fast_binary(op, self, other)
        if r is not None:
            return r
        if not isinstance(other, Tensor) and not _is_num(other):
            return NotImplemented
        return fn(self, other)
    return method


def _rbinop(fn):
    def method(self, other):
        if not _is_num(other):
            return NotImplemented
        return fn(other, self)
    return method


_UNARY_METHODS = _FLOAT_UNARY + ["floor", "ceil", "round", "trunc", "neg", "negative", "abs",
                                 "absolute", "sign", "sgn", "square", "logical_not", "bitwise_not",
                                 "isnan", "isinf", "isfinite", "signbit", "nan_to_num", "fix"]
_BINARY_METHODS = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
                   "floor_divide", "remainder", "fmod", "pow", "float_power", "maximum", "minimum",
                   "fmax", "fmin", "atan2", "arctan2", "hypot", "copysign", "eq", "ne", "lt", "le",
                   "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
                   "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
                   "bitwise_xor", "lerp", "clamp", "clip", "clamp_min", "clamp_max", "tril",
                   "triu"]

TENSOR_METHODS = {name: getattr(P, name) for name in _UNARY_METHODS + _BINARY_METHODS}
TENSOR_METHODS.update({
    "relu": lambda self: relu(self),
    "where": lambda self, condition, other: where(condition, self, other),
    "__add__": _fast_binop("add", add), "__radd__": _rbinop(add),
    "__sub__": _fast_binop("sub", sub), "__rsub__": _rbinop(sub),
    "__mul__": _fast_binop("mul", mul), "__rmul__": _rbinop(mul),
    "__truediv__": _fast_binop("div", div), "__rtruediv__": _rbinop(div),
    "__floordiv__": _binop(floor_divide), "__rfloordiv__": _rbinop(floor_divide),
    "__mod__": _binop(remainder), "__rmod__": _rbinop(remainder),
    "__pow__": _binop(pow), "__rpow__": _rbinop(pow),
    "__and__": _binop(bitwise_and), "__rand__": _rbinop(bitwise_and),
    "__or__": _binop(bitwise_or), "__ror__": _rbinop(bitwise_or),
    "__xor__": _binop(bitwise_xor), "__rxor__": _rbinop(bitwise_xor),
    "__lshift__": _binop(bitwise_left_shift), "__rshift__": _binop(bitwise_right_shift),
    "__lt__": _binop(lt), "__le__": _binop(le), "__gt__": _binop(gt), "__ge__": _binop(ge),
    "__eq__": _eq_method, "__ne__": _ne_method,
    "__neg__": neg, "__pos__": _pos, "__abs__": _abs, "__invert__": _invert,
    "__iadd__": _iop("add", "__iadd__"), "__isub__": _iop("sub", "__isub__"),
    "__imul__": _iop("mul", "__imul__"), "__itruediv__": _iop("div", "__itruediv__"),
    "__ifloordiv__": _iop("floordiv", "__ifloordiv__"), "__imod__": _iop("remainder", "__imod__"),
    "__ipow__": _iop("pow", "__ipow__"), "__iand__": _iop("bitwise_and", "__iand__"),
    "__ior__": _iop("bitwise_or", "__ior__"), "__ixor__": _iop("bitwise_xor", "__ixor__"),
    "zero_": zero_, "fill_": fill_, "copy_": copy_, "clamp_": clamp_, "clip_": clamp_,
    "relu_": lambda self: _inplace_unary("relu", self, float_only=False),
})


def _add_(self, other, *, alpha=1):
    return _inplace_binary("add", self, _scaled(other, alpha), "add_")


def _sub_(self, other, *, alpha=1):
    return _inplace_binary("sub", self, _scaled(other, alpha), "sub_")


def _div_(self, other, *, rounding_mode=None):
    op = {None: "div", "trunc": "div_trunc", "floor": "floordiv"}[rounding_mode]
    return _inplace_binary(op, self, other, "div_")


TENSOR_METHODS.update({"add_": _add_, "sub_": _sub_, "div_": _div_})
for _name, _op in (("mul_", "mul"), ("pow_", "pow"), ("remainder_", "remainder"),
                   ("fmod_", "fmod"), ("floor_divide_", "floordiv"), ("maximum_", "maximum"),
                   ("minimum_", "minimum"), ("bitwise_and_", "bitwise_and"),
                   ("bitwise_or_", "bitwise_or"), ("bitwise_xor_", "bitwise_xor"),
                   ("atan2_", "atan2"), ("hypot_", "hypot")):
    TENSOR_METHODS[_name] = _iop(_op, _name)
for _name in _FLOAT_UNARY + ["floor", "ceil", "round", "trunc", "frac"]:
    TENSOR_METHODS[_name + "_"] = (lambda op: lambda self: _inplace_unary(op, self))(_name)
for _name in ("neg", "abs", "sign", "square", "logical_not", "nan_to_num", "lerp", "clamp_min",
              "clamp_max", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
              "logical_xor"):
    TENSOR_METHODS[_name + "_"] = _wrap_inplace(getattr(P, _name), _name + "_")
