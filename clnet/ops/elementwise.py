"""The elementwise engine: PyTorch type promotion, broadcasting, out= and in-place forms, and
autograd recording for every unary/binary kernel of cl_kernels/elementwise.cl. The launches are
in clnet/kernels/elementwise.py; the public functions (``add``, ``exp``, ``relu``...) in
pointwise.py.

Backward rules are looked up by kernel op in ``BINARY`` and ``UNARY``, which the files above
fill with ``register_binary`` / ``register_unary`` beside each op's ``def`` (arithmetic.py,
unary_math.py, activations.py), so that a rule may use any differentiable op without this file
importing it (PyTorch's derivatives table, registered from above as ``graph.view_hooks`` is).
Each entry is (rule, needs) where ``needs`` names what the rule reads: ``a``/``b`` (binary
inputs) or ``x`` (unary input) and ``o`` (the op's output, saved without a cycle).
"""
import builtins
import numbers

import numpy as np

from .. import dtypes, graph
from ..backend.launch import enqueue
from ..errors import KernelBuildError
from ..kernels.elementwise import (FAST_KERNELS, chain_binary, fast_kernel, launch_binary,
                                   launch_unary, native_half, program, scalar_type,
                                   ternary_contiguous, ternary_strided)
from ..kernels.layout import _INT32_BYTES, broadcast_shapes, check_index_range, same_device
from ..tensor import Storage, Tensor, _numel, contiguous_strides
from .copy import cast, clone, copy_into
from .views import reduce_sum_to_shape

# backward rules by kernel op: op -> (rule, needs); see the module docstring
BINARY = {}
UNARY = {}


def register_binary(op, rule, needs):
    """``rule(g, a, b, o, need_a, need_b) -> (grad_a, grad_b)``, broadcast-shaped (the engine
    sums them back to each operand's shape); a or b may be a Python number."""
    BINARY[op] = (rule, needs)


def register_unary(op, rule, needs):
    """``rule(g, x, o, p0, p1) -> grad_x``, with the kernel's two parameters."""
    UNARY[op] = (rule, needs)


def node_name(op):
    return "".join(part.capitalize() for part in op.split("_")) + "Backward0"


def fused_backward(op, g, t):
    """An activation's backward as ONE kernel (``<act>_backward(g, t)`` in elementwise.cl, t the
    input or output) when the result will not be differentiated (no create_graph, or nothing
    requiring grad); None otherwise, and the rule composes differentiable ops. The fused kernel
    records no graph node, hence the check. gelu's backward: 11 kernels -> 1 (2^17 floats on
    PoCL: 1307 -> ~480 us of device time)."""
    if graph.mode.grad_enabled and (g.requires_grad or t.requires_grad):
        return None
    return binary(op, g, t)


# names the families above import from here (the launches moved to clnet/kernels/elementwise.py)
_scalar_type = scalar_type
_ternary_strided = ternary_strided
_ternary_contiguous = ternary_contiguous

_PY_NUMBERS = (int, float, builtins.bool)


def _is_num(x):
    return type(x) in _PY_NUMBERS or isinstance(x, (numbers.Number, np.number, np.bool_))


# ---------------------------------------------------------------------------------- promotion
def result_type(*operands):
    """torch.result_type over tensors and Python scalars: dimensioned tensors take priority over
    0-d tensors, which take priority over scalars; a lower-priority group only matters when it
    raises the category (bool < integer < floating)."""
    if len(operands) == 2:
        a, b = operands
        if type(a) is Tensor and type(b) is Tensor and a.dtype is b.dtype:
            return a.dtype
        if type(a) is Tensor and a.dtype is not dtypes.bool_ and (
                type(b) is int or (type(b) is float and a.dtype.is_floating_point)):
            return a.dtype     # a Python number of the same or a lower category
    groups = [None, None, None]   # promoted dtype of: dimensioned tensors, 0-d tensors, scalars
    for x in operands:
        if isinstance(x, Tensor):
            g, d = (0 if x._shape else 1), x.dtype
        else:
            g, d = 2, dtypes.scalar_dtype(x)   # float -> default float, int -> int64
        groups[g] = d if groups[g] is None else dtypes.promote_types(groups[g], d)
    result = None
    for d in groups:
        if d is not None and (result is None or dtypes._category(d) > dtypes._category(result)):
            result = d
    return result


def _as_tensor_operand(x, dt, dev):
    """A tensor operand cast to the compute dtype (scalars stay Python numbers)."""
    if isinstance(x, Tensor):
        return x if x.dtype is dt else cast(x, dt)
    return x


# ---------------------------------------------------------------------------------- binary ops
_FLOAT_ONLY = {"div", "atan2", "hypot", "copysign", "fmax", "fmin"}
_INT_BOOL_ONLY = {"bitwise_and", "bitwise_or", "bitwise_xor", "lshift", "rshift"}
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_NO_BOOL = {"sub", "div_trunc", "floordiv", "remainder", "fmod", "pow", "lshift", "rshift"}


def _check_out(op, out, shape, dt):
    if tuple(out._shape) != tuple(shape):
        raise ValueError(f"{op}: out= has shape {list(out._shape)} but the result has shape "
                         f"{list(shape)}")
    if not _can_cast(dt, out.dtype):
        raise TypeError(f"{op}: result type {dt.name} can't be cast to the desired output type "
                        f"{out.dtype.name}")


def _can_cast(src, dst):
    return dtypes._category(src) <= dtypes._category(dst)


_NOT_FAST = _COMPARE | _INT_BOOL_ONLY


_F32, _F64 = dtypes.float32, dtypes.float64
_LAYOUTS = {}   # shape -> (its contiguous strides, its element count)


def _layout(shape):
    hit = _LAYOUTS.get(shape)
    if hit is None:
        if len(_LAYOUTS) > 4096:
            _LAYOUTS.clear()
        hit = _LAYOUTS[shape] = (contiguous_strides(shape), _numel(shape))
    return hit


def _fast_binary(op, a, b):
    """The common case at the lowest host cost: a contiguous float32/float64 tensor with a
    Python number or a same-shape, same-dtype contiguous tensor, nothing to record. None
    otherwise (16-bit floats compute in float32 through opmath.py, integers promote). ``op``
    is an arithmetic op (not in ``_NOT_FAST``: those give another dtype)."""
    dt = a.dtype
    if dt is not _F32 and dt is not _F64:
        return None
    shape = a._shape
    strides, n = _layout(shape)
    storage = a._storage
    dev = storage.device
    tb = type(b)
    if tb is Tensor:
        if (b.dtype is not dt or b._shape != shape or b._storage.device is not dev
                or (b._stride != strides and not b.is_contiguous())):
            return None
        mode = 0
    elif tb is float or tb is int:
        mode = 1
    else:
        return None
    if (a._stride != strides and not a.is_contiguous()) or (graph.mode.grad_enabled and (
            a.requires_grad or (mode == 0 and b.requires_grad))):
        return None
    if n == 0 or storage.nbytes > _INT32_BYTES[dt.itemsize]:
        return None
    ostorage = Storage(dev, n * dt.itemsize)
    out = Tensor._make(ostorage, shape, strides, 0, dt)
    # a small tensor: the op joins the device's pending chain (kernels/chain.py)
    if chain_binary(dev, program(dev, dt), op, dt, n, storage.buffer, a._offset,
                    None if mode else b._storage.buffer, 0 if mode else b._offset, 0.0,
                    b if mode else 0.0, ostorage, 0):
        return out
    hit = FAST_KERNELS.get((dev, op, dt, dev.tuning.get("elementwise.vec")))
    k, local, w = hit if hit is not None else fast_kernel(dev, op, dt)
    # launch_w inlined: this path is the per-op host cost of small tensors
    gsize = ((n + w - 1) // w + local - 1) // local * local
    if mode:
        enqueue(dev, k, (gsize,), (local,), n, storage.buffer, a._offset, storage.buffer,
                a._offset, 0.0, b, out._storage.buffer, 0, 1)
    else:
        enqueue(dev, k, (gsize,), (local,), n, storage.buffer, a._offset, b._storage.buffer,
                b._offset, 0.0, 0.0, out._storage.buffer, 0, 0)
    return out


def binary(op, a, b, out=None, opname=None, _record=True):
    """Apply binary kernel ``op`` with broadcasting and PyTorch promotion; returns a new tensor
    (or writes ``out``) and records the op's backward when an operand requires grad."""
    if out is None and type(a) is Tensor and op not in _NOT_FAST:
        r = _fast_binary(op, a, b)
        if r is not None:
            return r
    name = opname or op
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if not a_t and not b_t:
        raise TypeError(f"{name}: expected at least one tensor operand")
    for x in (a, b):
        if not isinstance(x, Tensor) and not _is_num(x):
            raise TypeError(f"{name}: unsupported operand type {type(x).__name__}")
    if a_t and b_t:
        dev = same_device(name, a, b)
        shape = a._shape if a._shape == b._shape else broadcast_shapes(name, a._shape, b._shape)
    else:
        t = a if a_t else b
        dev = t._storage.device
        shape = t._shape
    if op == "sub" and any((x.dtype is dtypes.bool_) if isinstance(x, Tensor)
                           else isinstance(x, (builtins.bool, np.bool_)) for x in (a, b)):
        raise TypeError(f"{name}: subtraction, the `-` operator, with a bool tensor is not "
                        "supported; use logical_xor or bitwise_xor instead")
    ct = result_type(a, b)
    if op in _FLOAT_ONLY and not ct.is_floating_point:
        ct = dtypes.get_default_dtype()
    if op in _INT_BOOL_ONLY and ct.is_floating_point:
        raise TypeError(f"{name}: not supported for floating-point tensors ({ct.name})")
    if ct is dtypes.bool_ and op in _NO_BOOL:
        ct = dtypes.int64
    out_dt = dtypes.bool_ if op in _COMPARE else ct
    if ct.compute is not ct and not native_half(dev, ct):
        return _binary_in_float32(op, a, b, out, name, _record, out_dt)
    given_out = out is not None
    if out is None:
        out = Tensor._empty(shape, out_dt, dev)
        target = out
    else:
        _check_out(name, out, shape, out_dt)
        same_device(name, out, *(x for x in (a, b) if isinstance(x, Tensor)))
        target = out if out.dtype is out_dt else Tensor._empty(shape, out_dt, dev)
    a = _as_tensor_operand(a, ct, dev)
    b = _as_tensor_operand(b, ct, dev)
    if not a_t:
        a = _py_scalar(a, ct, name)
    if not b_t:
        b = _py_scalar(b, ct, name)
    check_index_range(name, target, *(x for x in (a, b) if isinstance(x, Tensor)))
    try:
        launch_binary(op, a, b, target, ct)
    except KernelBuildError:
        if ct.compute is ct:
            raise
        give_up_native_half(dev)
        return _binary_in_float32(op, a, b, out if given_out else None, name, _record, out_dt)
    if target is not out:
        copy_into(out, target, name)
    if _record and graph.mode.grad_enabled and (
            (a_t and a.requires_grad) or (b_t and b.requires_grad)):
        if out is not target or given_out:
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation")
        _record_binary(op, a, b, out)
    return out


def give_up_native_half(dev):
    """The half program failed to build on a device reporting cl_khr_fp16: float16 computes in
    float32 there from now on (kernels/elementwise.py's native_half)."""
    dev.tuning["elementwise.half"] = 0


def _up(x):
    """A 16-bit tensor operand as float32 (recorded cast); anything else as it is."""
    return cast(x, dtypes.float32) if isinstance(x, Tensor) and x.dtype.compute is not x.dtype \
        else x


# the kernel ops whose Python-number operand PyTorch rounds to a 16-bit dtype (opmath.py)
_ROUNDED_SCALAR = frozenset(("add", "sub", "remainder", "fmod", "pow"))


def _binary_in_float32(op, a, b, out, name, record, out_dt):
    """A 16-bit result computed in float32 and rounded once (ops/opmath.py: PyTorch CPU's
    opmath); here for the families that call the engine directly with 16-bit tensors."""
    if op in _ROUNDED_SCALAR:     # PyTorch rounds such a Python number to the 16-bit dtype
        ct = out_dt if out_dt.is_floating_point else (a if isinstance(a, Tensor) else b).dtype
        a, b = (dtypes.round_scalar(x, ct) if type(x) is float else x for x in (a, b))
    if out is None:
        r = binary(op, _up(a), _up(b), opname=name, _record=record)
        return cast(r, out_dt) if r.dtype is not out_dt else r
    if record and graph.mode.grad_enabled and any(
            isinstance(x, Tensor) and x.requires_grad for x in (a, b)):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                           "automatic differentiation")
    r = binary(op, _up(a), _up(b), opname=name, _record=False)
    _check_out(name, out, r._shape, out_dt)
    copy_into(out, r, name)
    return out


def _sum_to(g, x):
    """Reduce a broadcast gradient back to operand ``x``'s shape (None for Python scalars)."""
    if g is None or not isinstance(x, Tensor):
        return None
    if g._shape != x._shape:
        g = reduce_sum_to_shape(g, x._shape)
    return g


def _binary_backward(op, a, b, saved_out):
    rule, _ = BINARY[op]
    need_a = isinstance(a, Tensor) and a.requires_grad
    need_b = isinstance(b, Tensor) and b.requires_grad

    def backward(g):
        o = saved_out.unpack() if saved_out is not None else None
        ga, gb = rule(g, a, b, o, need_a, need_b)
        return (_sum_to(ga, a) if need_a else None, _sum_to(gb, b) if need_b else None)
    return backward


def _record_binary(op, a, b, out):
    entry = BINARY.get(op)
    if entry is None or not out.dtype.is_floating_point:
        return          # comparisons, bitwise and rounding divisions have no gradient
    needs = entry[1]
    if op == "mul":      # like torch: a product saves an operand only for the other's gradient
        needs = ("a" if isinstance(b, Tensor) and b.requires_grad else "") + (
            "b" if isinstance(a, Tensor) and a.requires_grad else "")
    saved_out = graph.SavedOutput(out) if "o" in needs else None
    saved = [t for t, k in ((a, "a"), (b, "b")) if k in needs and isinstance(t, Tensor)]
    graph.record(node_name(op), out, (a, b), _binary_backward(op, a, b, saved_out),
                 saved, (saved_out,) if saved_out is not None else ())

def _py_scalar(x, ct, name):
    if ct.is_floating_point:
        return float(x)
    if ct is dtypes.bool_:
        return bool(x)
    if isinstance(x, float):
        raise TypeError(f"{name}: a float scalar cannot be combined into an integer result")
    return int(x)


def _inplace_binary(op, self, other, name):
    ct = result_type(self, other)
    if not _can_cast(ct, self.dtype) and op not in _COMPARE:
        raise TypeError(f"{name}: result type {ct.name} can't be cast to the desired output type "
                        f"{self.dtype.name}")
    if isinstance(other, Tensor):
        shape = broadcast_shapes(name, self._shape, other._shape)
        if tuple(shape) != tuple(self._shape):
            raise ValueError(f"{name}: output with shape {list(self._shape)} doesn't match the "
                             f"broadcast shape {list(shape)}")
    rec = graph.mode.grad_enabled and (graph.tracks(self) or (
        isinstance(other, Tensor) and other.requires_grad))
    if rec:
        graph.check_inplace(self)
        entry = BINARY.get(op)
        needs = entry[1] if entry else ""
        edges = (graph.edge(self), graph.edge(other))
        old = clone(self) if "a" in needs else None     # the value the rule needs is overwritten
    binary(op, self, other, out=self, opname=name, _record=False)
    self._bump_version()
    if rec:
        if entry is None:
            graph.rebase_history(self, node_name(op), edges, lambda g: (None, None))
        else:
            saved_out = graph.SavedOutput(self) if "o" in needs else None
            old_a = old if old is not None else self
            backward = _binary_backward(op, old_a, other, saved_out)
            graph.rebase_history(self, node_name(op), edges, backward,
                                 [t for t in (old, other) if isinstance(t, Tensor)],
                                 (saved_out,) if saved_out is not None else ())
    return self


# ---------------------------------------------------------------------------------- unary ops
def unary(op, a, p0=0, p1=0, out=None, float_only=True, out_dtype=None, opname=None,
          _record=True):
    """Apply unary kernel ``op`` (parameters p0, p1); records the backward when ``a`` requires
    grad."""
    name = opname or op
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    ct = a.dtype
    if float_only and not ct.is_floating_point:
        ct = dtypes.get_default_dtype()
    od = out_dtype or ct
    if ct.compute is not ct and not native_half(a._storage.device, ct):
        # 16-bit: in float32, rounded once (see _binary_in_float32)
        r = unary(op, cast(a, dtypes.float32), p0, p1, float_only=float_only,
                  out_dtype=None if od is ct else od, opname=name,
                  _record=_record and out is None)
        r = cast(r, od) if r.dtype is not od else r
        if out is None:
            return r
        _check_out(name, out, a._shape, od)
        copy_into(out, r, name)
        return out
    src = a if a.dtype is ct else cast(a, ct)
    given_out = out is not None
    if out is None:
        out = Tensor._empty(a._shape, od, a._storage.device)
        target = out
    else:
        _check_out(name, out, a._shape, od)
        target = out if out.dtype is od else Tensor._empty(a._shape, od, a._storage.device)
    check_index_range(name, src, target)
    try:
        launch_unary(op, src, target, ct, p0, p1)
    except KernelBuildError:
        if ct.compute is ct:
            raise
        give_up_native_half(a._storage.device)
        return unary(op, a, p0, p1, out=out if given_out else None, float_only=float_only,
                     out_dtype=out_dtype, opname=opname, _record=_record)
    if target is not out:
        copy_into(out, target, name)
    if _record and src.requires_grad and graph.mode.grad_enabled:
        if given_out:
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation")
        _record_unary(op, src, out, p0, p1)
    return out


def _unary_backward(op, x, saved_out, p0, p1):
    rule = UNARY[op][0]

    def backward(g):
        return (rule(g, x, saved_out.unpack() if saved_out is not None else None, p0, p1),)
    return backward


def _record_unary(op, x, out, p0, p1):
    entry = UNARY.get(op)
    if entry is None or not out.dtype.is_floating_point:
        return
    saved_out = graph.SavedOutput(out) if "o" in entry[1] else None
    graph.record(node_name(op), out, (x,), _unary_backward(op, x, saved_out, p0, p1),
                 (x,) if "x" in entry[1] else (), (saved_out,) if saved_out is not None else ())


# ---------------------------------------------------------------------------------- in-place
def _inplace_unary(op, self, p0=0, p1=0, float_only=True):
    if float_only and not self.dtype.is_floating_point:
        raise TypeError(f"{op}_: result type {dtypes.get_default_dtype().name} can't be cast to "
                        f"the desired output type {self.dtype.name}")
    rec = graph.mode.grad_enabled and graph.tracks(self)
    if rec:
        graph.check_inplace(self)
        entry = UNARY.get(op)
        needs = entry[1] if entry else ""
        edges = (graph.edge(self),)
        old = clone(self) if "x" in needs else None
    unary(op, self, p0, p1, out=self, float_only=float_only, opname=op + "_", _record=False)
    self._bump_version()
    if rec:
        if entry is None:
            graph.rebase_history(self, node_name(op), edges, lambda g: (None,))
        else:
            saved_out = graph.SavedOutput(self) if "o" in needs else None
            graph.rebase_history(self, node_name(op), edges,
                                 _unary_backward(op, old, saved_out, p0, p1),
                                 [old] if old is not None else [],
                                 (saved_out,) if saved_out is not None else ())
    return self

