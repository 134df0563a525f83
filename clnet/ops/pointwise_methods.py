"""The method forms of the elementwise family that are more than the function itself: the
operators (``x + y`` tries the engine's fast path first and gives NotImplemented for a foreign
operand, ``x += y``...), the two kinds of in-place forms (``inplace_kernel``: the kernel writes
the tensor's own storage; ``wrap_inplace``: the out-of-place function, copied back), and
``zero_``/``fill_``/``copy_``/``clamp_``. In-place forms record their autograd history on the
tensor they change. tensor_methods.py lists which method uses which."""
from .. import dtypes, graph
from ..tensor import Tensor
from .arithmetic import _needs, _scaled, bitwise_not, clamp, eq, logical_not, ne
from .copy import cast, clone, copy_into, fill_into
from .creation import tensor as _tensor
from .elementwise import (_can_cast, _fast_binary, _inplace_binary, _inplace_unary, _is_num,
                          _sum_to)


def wrap_inplace(fn, name):
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
    """``x.clamp_(min, max)``: clamp, copied back."""
    return _clamp_(self, min, max)


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


_clamp_ = wrap_inplace(clamp, "clamp_")


def inplace_kernel(op, float_only=True):
    """``x.op_()`` for an elementwise kernel ``op`` that writes ``x``'s own storage."""
    def method(self):
        return _inplace_unary(op, self, float_only=float_only)
    method.__name__ = method.__qualname__ = op + "_"
    return method


def iop(op, name):
    """``x op= y`` and ``x.op_(y)``: the binary kernel ``op`` writing ``x`` in place."""
    def method(self, other):
        return _inplace_binary(op, self, other, name)
    method.__name__ = method.__qualname__ = name
    return method


def add_(self, other, *, alpha=1):
    return _inplace_binary("add", self, _scaled(other, alpha), "add_")


def sub_(self, other, *, alpha=1):
    return _inplace_binary("sub", self, _scaled(other, alpha), "sub_")


def div_(self, other, *, rounding_mode=None):
    op = {None: "div", "trunc": "div_trunc", "floor": "floordiv"}[rounding_mode]
    return _inplace_binary(op, self, other, "div_")


def pos(self):
    return self


def invert(self):
    """``~x``: logical not of a bool tensor, bitwise not of an integer one."""
    return logical_not(self) if self.dtype is dtypes.bool_ else bitwise_not(self)


def eq_method(self, other):
    if not isinstance(other, Tensor) and not _is_num(other):
        return NotImplemented
    return eq(self, other)


def ne_method(self, other):
    if not isinstance(other, Tensor) and not _is_num(other):
        return NotImplemented
    return ne(self, other)


def binop(fn):
    """``x <op> y`` as ``fn(x, y)``; NotImplemented for an operand that is not a tensor or a
    number, so Python tries the other operand's method."""
    def method(self, other):
        if not isinstance(other, Tensor) and not _is_num(other):
            return NotImplemented
        return fn(self, other)
    return method


def fast_binop(op, fn):
    """``x + y`` and friends: the general function ``fn`` behind the engine's fast path (a
    contiguous float32/float64 tensor and a number or a like tensor, nothing to record).
    ops/__init__.py puts ``fast_front`` in front of this method once opmath.py has wrapped it,
    so the fast case skips the 16-bit wrapper (it never takes a 16-bit tensor)."""
    def method(self, other):
        if not isinstance(other, Tensor) and not _is_num(other):
            return NotImplemented
        return fn(self, other)
    method.fast_op = op
    return method


def fast_front(op, method):
    """``method`` (a wrapped ``fast_binop`` method) with the fast path tried first."""
    def front(self, other):
        r = _fast_binary(op, self, other)
        return method(self, other) if r is None else r
    front._opmath = True
    return front


def rbinop(fn):
    """``number <op> x`` as ``fn(number, x)``."""
    def method(self, other):
        if not _is_num(other):
            return NotImplemented
        return fn(other, self)
    return method
