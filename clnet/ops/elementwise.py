"""The elementwise engine: PyTorch type promotion, broadcasting, kernel launches and autograd
recording for every unary/binary kernel of cl_kernels/elementwise.cl (one program per compute
dtype). The public functions (``add``, ``exp``, ``relu``...) are in pointwise.py; their backward
rules in elementwise_grads.py.

Each op launches one kernel: ``<op>_c`` when every operand is contiguous with the output's shape
(or a Python scalar), else ``<op>_n`` with the `Strided` struct. Nothing here waits for the device.
On CPU drivers the floating-point ops with a transcendental call (exp, tanh, erf, gelu, pow...)
use ``<op>_v`` instead of ``<op>_c``: one 256-bit vector per work-item through the vector builtins
(see elementwise.cl); ``dev.tuning["elementwise.vec"]`` (1/0) selects it, tests set it to run either.
"""
import builtins
import numbers

import numpy as np

from .. import dtypes, graph
from ..backend.programs import get_program
from ..tensor import Storage, Tensor
from ._layout import (_INT32_BYTES, LOCAL_1D, broadcast_shapes, broadcast_strides,
                      check_index_range, same_device)
from .copy import cast, clone, copy_into, launch_vec, strided_launch

_grads = None   # elementwise_grads, imported on first use (it imports pointwise, which imports us)


def _rules():
    global _grads
    if _grads is None:
        from . import elementwise_grads
        _grads = elementwise_grads
    return _grads

_I32 = np.int32
_VW = 4  # elements per work-item in the *_c kernels (VW in elementwise.cl)
_KIND = {"float": "IS_FLOAT", "double": "IS_FLOAT", "int": "IS_INT", "long": "IS_INT",
         "uchar": "IS_BOOL"}


# the *_v kernels: elements per work-item (VW in elementwise.cl: one 256-bit vector)
_VEC_W = {"float": 8, "double": 4}
_VEC_UNARY = frozenset((
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc",
    "lgamma", "sigmoid", "logsigmoid", "elu", "celu", "selu", "gelu", "gelu_tanh", "silu", "mish",
    "softplus", "softsign"))
_VEC_BINARY = frozenset(("fmod", "pow", "atan2", "hypot", "sigmoid_backward", "tanh_backward",
                         "silu_backward", "gelu_backward", "gelu_tanh_backward", "mish_backward",
                         "softplus_backward"))


def _program(dev, dt):
    key = ("elementwise", dt.cl)
    prg = dev.programs.get(key)   # fast path: skip building the defines tuple on every launch
    if prg is None:
        defines = (("T", dt.cl), (_KIND[dt.cl], 1))
        if dt.cl in _VEC_W:
            defines += (("VW", _VEC_W[dt.cl]),)
        if dt.cl == "float":
            defines += (("ERF_POLY", 1),)   # the *_v kernels' erf (elementwise.cl)
        prg = get_program(dev, "elementwise", defines)
        dev.programs[key] = prg
    return prg


def _vec_width(dev, op, ct, ops):
    """Elements per work-item of ``op``'s *_v kernel when this device uses it, else 0."""
    if op not in ops or ct.cl not in _VEC_W:
        return 0
    use = dev.tuning.get("elementwise.vec")
    if use is None:
        use = dev.tuning["elementwise.vec"] = 1 if dev.kind == "CPU" else 0
    return _VEC_W[ct.cl] if use else 0


def _launch_w(dev, kernel, n, w, *args):
    """Launch a *_v kernel: one work-item per ``w`` elements, rounded up to whole work-groups."""
    local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size
    items = (n + w - 1) // w
    kernel(dev._queue or dev.queue, ((items + local - 1) // local * local,), (local,), *args)


def _scalar_type(dt):
    return np.uint8 if dt is dtypes.bool_ else dt.np.type


_launch_vec = launch_vec   # one work-item per _VW elements (copy.py)


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


# ---------------------------------------------------------------------------------- launches
def _launch_binary(op, a, b, out, ct):
    """out[...] = op(a, b) computed in ct; a or b may be a Python scalar (not both)."""
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    prg = _program(dev, ct)
    st = _scalar_type(ct)
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    mode = 0 if (a_t and b_t) else (1 if a_t else 2)
    sa = st(a) if not a_t else st(0)
    sb = st(b) if not b_t else st(0)
    ta = a if a_t else b      # buffer placeholders for the scalar side
    tb = b if b_t else a
    shape = out._shape
    if (out.is_contiguous() and (not a_t or (a._shape == shape and a.is_contiguous()))
            and (not b_t or (b._shape == shape and b.is_contiguous()))):
        w = _vec_width(dev, op, ct, _VEC_BINARY)
        k = prg.kernel(op + ("_v" if w else "_c"),
                       [_I32, None, _I32, None, _I32, st, st, None, _I32, _I32])
        _launch_w(dev, k, n, w or _VW, n, ta._storage.buffer, ta._offset, tb._storage.buffer,
                  tb._offset, sa, sb, out._storage.buffer, out._offset, mode)
    else:
        k = prg.kernel(op + "_n", [_I32, None, None, st, st, None, _I32, None])
        strided_launch(op, dev, k, n, shape, [
            (out._offset, out._stride),
            (ta._offset, broadcast_strides(shape, ta._shape, ta._stride)),
            (tb._offset, broadcast_strides(shape, tb._shape, tb._stride))],
            n, ta._storage.buffer, tb._storage.buffer, sa, sb, out._storage.buffer, mode)
    return out


def _launch_unary(op, a, out, ct, p0=0, p1=0):
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    prg = _program(dev, ct)
    st = _scalar_type(ct)
    if out.is_contiguous() and a.is_contiguous() and a._shape == out._shape:
        w = _vec_width(dev, op, ct, _VEC_UNARY)
        k = prg.kernel(op + ("_v" if w else "_c"), [_I32, None, _I32, None, _I32, st, st])
        _launch_w(dev, k, n, w or _VW, n, a._storage.buffer, a._offset, out._storage.buffer,
                  out._offset, st(p0), st(p1))
    else:
        k = prg.kernel(op + "_n", [_I32, None, None, st, st, None])
        strided_launch(op, dev, k, n, out._shape, [
            (out._offset, out._stride),
            (a._offset, broadcast_strides(out._shape, a._shape, a._stride))],
            n, a._storage.buffer, out._storage.buffer, st(p0), st(p1))
    return out


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


_FAST = {}     # (device, op, dtype) -> the *_c kernel, for the fast path below
_NOT_FAST = _COMPARE | _INT_BOOL_ONLY


def _fast_binary(op, a, b):
    """The common case at the lowest host cost: a contiguous floating-point tensor with a Python
    number or a same-shape, same-dtype contiguous tensor, nothing to record. None otherwise."""
    dt = a.dtype
    if not dt.is_floating_point or op in _NOT_FAST:
        return None
    tb = type(b)
    if tb is Tensor:
        if (b.dtype is not dt or b._shape != a._shape or b._storage.device is not
                a._storage.device or not b.is_contiguous()):
            return None
        mode = 0
    elif tb is float or tb is int:
        mode = 1
    else:
        return None
    if not a.is_contiguous() or (graph.mode.grad_enabled and (
            a.requires_grad or (mode == 0 and b.requires_grad))):
        return None
    storage = a._storage
    dev = storage.device
    n = a.numel()
    if n == 0 or storage.nbytes > _INT32_BYTES[dt.itemsize]:
        return None
    key = (dev, op, dt, dev.tuning.get("elementwise.vec"))
    hit = _FAST.get(key)
    if hit is None:
        st = dt.np.type
        w = _vec_width(dev, op, dt, _VEC_BINARY)
        k = _program(dev, dt).kernel(op + ("_v" if w else "_c"),
                                     [_I32, None, _I32, None, _I32, st, st, None, _I32, _I32])
        hit = _FAST[key] = (k, LOCAL_1D if dev.max_work_group_size >= LOCAL_1D
                            else dev.max_work_group_size, w or _VW)
    k, local, w = hit
    out = Tensor._make(Storage(dev, n * dt.itemsize), a._shape, a._stride if a._shape else (),
                       0, dt)
    # _launch_w inlined: this path is the per-op host cost of small tensors
    gsize = ((n + w - 1) // w + local - 1) // local * local
    if mode:
        k(dev._queue, (gsize,), (local,), n, storage.buffer, a._offset, storage.buffer,
          a._offset, 0.0, b, out._storage.buffer, 0, 1)
    else:
        k(dev._queue, (gsize,), (local,), n, storage.buffer, a._offset, b._storage.buffer,
          b._offset, 0.0, 0.0, out._storage.buffer, 0, 0)
    return out


def binary(op, a, b, out=None, opname=None, _record=True):
    """Apply binary kernel ``op`` with broadcasting and PyTorch promotion; returns a new tensor
    (or writes ``out``) and records the op's backward when an operand requires grad."""
    if out is None and type(a) is Tensor:
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
    _launch_binary(op, a, b, target, ct)
    if target is not out:
        copy_into(out, target, name)
    if _record and graph.mode.grad_enabled and (
            (a_t and a.requires_grad) or (b_t and b.requires_grad)):
        if out is not target or given_out:
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation")
        _record_binary(op, a, b, out)
    return out


def _sum_to(g, x):
    """Reduce a broadcast gradient back to operand ``x``'s shape (None for Python scalars)."""
    if g is None or not isinstance(x, Tensor):
        return None
    if g._shape != x._shape:
        from .reduce import reduce_sum_to_shape
        g = reduce_sum_to_shape(g, x._shape)
    return g


def _binary_backward(op, a, b, saved_out):
    rule, _ = _rules().BINARY[op]
    need_a = isinstance(a, Tensor) and a.requires_grad
    need_b = isinstance(b, Tensor) and b.requires_grad

    def backward(g):
        o = saved_out.unpack() if saved_out is not None else None
        ga, gb = rule(g, a, b, o, need_a, need_b)
        return (_sum_to(ga, a) if need_a else None, _sum_to(gb, b) if need_b else None)
    return backward


def _record_binary(op, a, b, out):
    entry = _rules().BINARY.get(op)
    if entry is None or not out.dtype.is_floating_point:
        return          # comparisons, bitwise and rounding divisions have no gradient
    needs = entry[1]
    if op == "mul":      # like torch: a product saves an operand only for the other's gradient
        needs = ("a" if isinstance(b, Tensor) and b.requires_grad else "") + (
            "b" if isinstance(a, Tensor) and a.requires_grad else "")
    saved_out = graph.SavedOutput(out) if "o" in needs else None
    saved = [t for t, k in ((a, "a"), (b, "b")) if k in needs and isinstance(t, Tensor)]
    graph.record(_rules().node_name(op), out, (a, b), _binary_backward(op, a, b, saved_out),
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
        entry = _rules().BINARY.get(op)
        needs = entry[1] if entry else ""
        edges = (graph.edge(self), graph.edge(other))
        old = clone(self) if "a" in needs else None     # the value the rule needs is overwritten
    binary(op, self, other, out=self, opname=name, _record=False)
    self._bump_version()
    if rec:
        if entry is None:
            graph.rebase_history(self, _rules().node_name(op), edges, lambda g: (None, None))
        else:
            saved_out = graph.SavedOutput(self) if "o" in needs else None
            old_a = old if old is not None else self
            backward = _binary_backward(op, old_a, other, saved_out)
            graph.rebase_history(self, _rules().node_name(op), edges, backward,
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
    src = a if a.dtype is ct else cast(a, ct)
    given_out = out is not None
    if out is None:
        out = Tensor._empty(a._shape, od, a._storage.device)
        target = out
    else:
        _check_out(name, out, a._shape, od)
        target = out if out.dtype is od else Tensor._empty(a._shape, od, a._storage.device)
    check_index_range(name, src, target)
    _launch_unary(op, src, target, ct, p0, p1)
    if target is not out:
        copy_into(out, target, name)
    if _record and src.requires_grad and graph.mode.grad_enabled:
        if given_out:
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                               "automatic differentiation")
        _record_unary(op, src, out, p0, p1)
    return out


def _unary_backward(op, x, saved_out, p0, p1):
    rule = _rules().UNARY[op][0]

    def backward(g):
        return (rule(g, x, saved_out.unpack() if saved_out is not None else None, p0, p1),)
    return backward


def _record_unary(op, x, out, p0, p1):
    entry = _rules().UNARY.get(op)
    if entry is None or not out.dtype.is_floating_point:
        return
    saved_out = graph.SavedOutput(out) if "o" in entry[1] else None
    graph.record(_rules().node_name(op), out, (x,), _unary_backward(op, x, saved_out, p0, p1),
                 (x,) if "x" in entry[1] else (), (saved_out,) if saved_out is not None else ())


# ---------------------------------------------------------------------------------- ternary
def _ternary_strided(kernel, out, operands, scalars, mode, ct, arg_types):
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    shape = out._shape
    metas = [(out._offset, out._stride)]
    bufs = []
    for t in operands:
        metas.append((t._offset, broadcast_strides(shape, t._shape, t._stride)))
        bufs.append(t._storage.buffer)
    k = _program(dev, ct).kernel(kernel, arg_types)
    strided_launch(kernel, dev, k, n, shape, metas, n, *bufs, *scalars, out._storage.buffer, mode)
    return out


def _ternary_contiguous(kernel, out, operands, scalars, mode, ct, arg_types):
    """The ``*_c`` form of a ternary kernel: every operand contiguous with ``out``'s shape
    (placeholders for scalar operands included); each buffer is passed with its offset."""
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    args = []
    for t in operands:
        args += (t._storage.buffer, t._offset)
    k = _program(dev, ct).kernel(kernel, arg_types)
    launch_vec(dev, k, n, n, *args, *scalars, out._storage.buffer, out._offset, mode)
    return out


# ---------------------------------------------------------------------------------- in-place
def _inplace_unary(op, self, p0=0, p1=0, float_only=True):
    if float_only and not self.dtype.is_floating_point:
        raise TypeError(f"{op}_: result type {dtypes.get_default_dtype().name} can't be cast to "
                        f"the desired output type {self.dtype.name}")
    rec = graph.mode.grad_enabled and graph.tracks(self)
    if rec:
        graph.check_inplace(self)
        entry = _rules().UNARY.get(op)
        needs = entry[1] if entry else ""
        edges = (graph.edge(self),)
        old = clone(self) if "x" in needs else None
    unary(op, self, p0, p1, out=self, float_only=float_only, opname=op + "_", _record=False)
    self._bump_version()
    if rec:
        if entry is None:
            graph.rebase_history(self, _rules().node_name(op), edges, lambda g: (None,))
        else:
            saved_out = graph.SavedOutput(self) if "o" in needs else None
            graph.rebase_history(self, _rules().node_name(op), edges,
                                 _unary_backward(op, old, saved_out, p0, p1),
                                 [old] if old is not None else [],
                                 (saved_out,) if saved_out is not None else ())
    return self

