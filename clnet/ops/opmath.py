"""float16 and bfloat16 arithmetic: computed in float32, rounded once per op, as PyTorch CPU does.

The 16-bit floats are storage types (clnet/dtypes.py, cl_kernels/copy.cl). PyTorch's CPU kernels
compute a half/bfloat16 op in float ("opmath") and round its result to the 16-bit type; clnet does
the same at the op level rather than in every kernel: ``wrap(fn)`` gives an op that, when a
16-bit tensor (or a 16-bit ``dtype=``) is among its arguments,

1. casts each 16-bit tensor argument to float32 with the recorded, differentiable cast (so the
   gradient reaches the 16-bit input in its own dtype through ToCopyBackward0),
2. runs the float32 op (its kernels, its backward rule),
3. casts each float32 result once to the op's result dtype: ``dtype=`` when given, else PyTorch's
   promotion of the floating inputs (bf16 with bf16 -> bf16, bf16 with fp16 or with float32 ->
   float32, which needs no cast).

An in-place op (``x.add_(y)``, ``x[idx] = v``, ``nn.init.normal_(w)``) runs on the float32
copy and writes it back into the 16-bit tensor with ``copy_`` (differentiable, version-bumped).
A Python number is rounded to the 16-bit dtype where PyTorch rounds it (ROUNDED_SCALAR_OPS).
Elementwise results therefore match PyTorch CPU's bits wherever the two float32 results round
alike (always for arithmetic; erf, gelu and rsqrt differ by one 16-bit ulp on a few % of the
elements, tests/dtypes/test_half_ops.py); reductions, GEMM and convolution accumulate in float32
like PyTorch's, in their own order.

ops/__init__.py applies ``wrap`` in one place: to every Tensor method and every public function
of the op families, except the ops that only move or reinterpret storage (views, copies, casts,
fills, creation), which handle 16-bit storage themselves (STORAGE_OPS). The elementwise engine
(elementwise.py's binary/unary) applies the same rule where the families call it directly (a
backward rule with a 16-bit gradient). A float32 call costs one scan of the arguments.

Native float16: on a device reporting cl_khr_fp16, the elementwise family (NATIVE_MODULES) runs
float16 kernels itself (kernels/elementwise.py's native_half); a build failure of the half
program there falls back to float32 for good. No device here reports cl_khr_fp16 (PoCL, Oclgrind):
that path is untested; the fallback is tested by pretending."""
import functools
import types

from .. import dtypes
from ..errors import KernelBuildError
from ..kernels.elementwise import native_half
from ..tensor import Tensor
from .copy import cast, write_out

_F16, _BF16 = dtypes.float16, dtypes.bfloat16

# ops that move or reinterpret 16-bit storage as it is (no arithmetic): not wrapped
STORAGE_OPS = frozenset((
    # copies, casts, devices (copy.py)
    "contiguous", "clone", "to", "cpu", "cuda", "float", "double", "int", "long", "bool", "half",
    "bfloat16", "type", "cast", "to_device", "write_out", "detach",
    # creation (creation.py): fills and host uploads store 16-bit values directly
    "_from_data", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "tensor",
    "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace",
    "logspace", "eye", "zeros_like", "ones_like", "full_like", "empty_like", "scalar_tensor",
    "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
    # views (views.py, tensor_shape.py): share the storage, whatever its type
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze",
    "t", "transpose", "swapaxes", "swapdims", "permute", "movedim", "moveaxis", "expand",
    "expand_as", "broadcast_to", "narrow", "select", "split", "chunk", "unbind", "as_strided",
    "unsqueeze_", "squeeze_", "transpose_", "t_", "swapaxes_", "swapdims_", "diagonal",
    "tensor_split", "hsplit", "vsplit", "dsplit", "getitem", "ravel", "atleast_1d",
    "atleast_2d", "atleast_3d", "squeeze_copy", "view_as_real",
    # fills and copies in place (pointwise_methods.py): the copy kernels convert
    "zero_", "fill_", "copy_", "requires_grad_", "retain_grad", "register_hook",
    # helpers that return views or (tensor, offset, stride) of their argument for a caller that
    # writes or reads through them (views.basic_index: t[idx] = v writes through its view)
    "basic_index", "time_steps", "row_operand",
))


# the modules whose ops run float16 natively where the device has cl_khr_fp16: the elementwise
# engine's callers, and the Tensor-method adapters that only call other (wrapped) ops
NATIVE_MODULES = frozenset(("clnet.ops.activations", "clnet.ops.arithmetic",
                            "clnet.ops.unary_math", "clnet.ops.pointwise_methods",
                            "clnet.ops.tensor_methods"))


def _native_call(args, kwargs):
    """The device when every 16-bit tensor argument is float16 on a device that runs float16
    natively (and no bfloat16 is involved), else None."""
    dev = None
    for a in list(args) + list(kwargs.values()):
        for x in (a if type(a) is list or type(a) is tuple else (a,)):
            if x is _BF16:
                return None
            if isinstance(x, Tensor) and x.dtype.itemsize == 2:
                dev = x._storage.device
                if not native_half(dev, x.dtype):
                    return None
    return dev


def _run(fn, args, kwargs, name, native, inplace):
    """A call that involves a 16-bit float: natively where allowed, else through float32."""
    if native:
        dev = _native_call(args, kwargs)
        if dev is not None:
            try:
                return fn(*args, **kwargs)
            except KernelBuildError:
                dev.tuning["elementwise.half"] = 0     # this device's half program fails
    if inplace:
        return run_inplace_in_float32(fn, args[0], args[1:], kwargs, name)
    return run_in_float32(fn, args, kwargs, name)


def _is_half_tensor(x):
    return isinstance(x, Tensor) and x.dtype.compute is not x.dtype


def _involves_half(args, kwargs):
    for a in args:
        if isinstance(a, Tensor):
            if a.dtype.itemsize == 2:
                return True
        elif type(a) is list or type(a) is tuple:
            for x in a:
                if isinstance(x, Tensor) and x.dtype.itemsize == 2:
                    return True
        elif a is _F16 or a is _BF16:
            return True
    if kwargs:
        return _involves_half(kwargs.values(), None)
    return False


class _Plan:
    """The float32 arguments of a call and the dtype its floating results round to."""

    __slots__ = ("result", "floats")

    def __init__(self):
        self.result = None          # a dtype argument (dtype=...), when one was given
        # promotion of the floating tensor arguments: [dimensioned ones, 0-d ones] (a 0-d
        # tensor does not raise a dimensioned one's floating dtype: torch.result_type)
        self.floats = [None, None]

    def up(self, x):
        if isinstance(x, Tensor):
            if x.dtype.is_floating_point:
                k = 0 if x._shape else 1
                self.floats[k] = x.dtype if self.floats[k] is None else \
                    dtypes.promote_types(self.floats[k], x.dtype)
            return cast(x, dtypes.float32) if x.dtype.compute is not x.dtype else x
        if type(x) is list or type(x) is tuple:
            return type(x)(self.up(y) for y in x)
        if isinstance(x, dtypes.dtype):
            self.result = x
            return dtypes.float32 if x.compute is not x else x
        return x

    def target(self):
        """The 16-bit dtype the float32 results round to, or None (they stay float32)."""
        d = self.result or self.floats[0] or self.floats[1]
        return d if d is _F16 or d is _BF16 else None

    def down(self, r, dt):
        if isinstance(r, Tensor):
            return cast(r, dt) if r.dtype is dtypes.float32 else r
        if isinstance(r, tuple):
            items = [self.down(y, dt) for y in r]
            return type(r)(*items) if hasattr(r, "_fields") else type(r)(items)
        if isinstance(r, list):
            return [self.down(y, dt) for y in r]
        return r


# PyTorch rounds a Python-number operand of these ops (and add/sub's alpha) to the tensor's
# 16-bit dtype before computing (TensorIterator casts the wrapped scalar to the common dtype);
# mul, div, lerp, addcmul and the activations' parameters keep it in float ("opmath" scalars).
# Measured against torch 2.x CPU: x + 0.1 in bfloat16 differs in 25% of elements otherwise.
ROUNDED_SCALAR_OPS = frozenset((
    "add", "sub", "subtract", "rsub", "remainder", "fmod", "pow", "add_", "sub_", "subtract_",
    "remainder_", "fmod_", "pow_", "__add__", "__radd__", "__sub__", "__rsub__", "__mod__",
    "__rmod__", "__pow__", "__rpow__", "__iadd__", "__isub__", "__imod__", "__ipow__"))


def _round_scalars(args, kwargs, name, dt):
    if name not in ROUNDED_SCALAR_OPS:
        return args, kwargs
    args = [dtypes.round_scalar(a, dt) if type(a) is float else a for a in args]
    if type(kwargs.get("alpha")) is float:
        kwargs["alpha"] = dtypes.round_scalar(kwargs["alpha"], dt)
    return args, kwargs


def _call_with_float32_default(fn, args, kwargs):
    """``fn(*args, **kwargs)``, under a 16-bit default dtype (``set_default_dtype(bfloat16)``)
    with float32 as the default meanwhile: kernels only see float32 (the caller rounds)."""
    default = dtypes.get_default_dtype()
    if default.compute is default:
        return fn(*args, **kwargs)
    dtypes.set_default_dtype(dtypes.float32)
    try:
        return fn(*args, **kwargs)
    finally:
        dtypes.set_default_dtype(default)


def run_in_float32(fn, args, kwargs, name):
    """``fn(*args, **kwargs)`` with 16-bit tensors computed in float32 (the module docstring)."""
    plan = _Plan()
    out = kwargs.pop("out", None) if "out" in kwargs else None
    # a new leaf (randn(..., dtype=bfloat16, requires_grad=True)) requires grad once rounded
    leaf = kwargs.pop("requires_grad", False) if "requires_grad" in kwargs else False
    args = [plan.up(a) for a in args]
    kwargs = {k: plan.up(v) for k, v in kwargs.items()}
    dt = plan.target()
    if dt is not None:
        args, kwargs = _round_scalars(args, kwargs, name, dt)
    r = _call_with_float32_default(fn, args, kwargs)
    default = dtypes.get_default_dtype()
    if dt is None and default.compute is not default and plan.result is None and \
            plan.floats == [None, None]:
        dt = default    # no floating input: a float32 result is the 16-bit default's
    if dt is not None:
        r = plan.down(r, dt)
    if leaf and isinstance(r, Tensor):
        r = r.detach().requires_grad_()
    if out is not None:
        if isinstance(r, Tensor):
            return write_out(name, r, out)
        kwargs["out"] = out     # a tuple result: let the op report what it supports
        return fn(*args, **kwargs)
    return r


def run_inplace_in_float32(fn, self, args, kwargs, name):
    """An in-place op on a 16-bit ``self``: run on a float32 copy, write the result back."""
    if not _is_half_tensor(self):
        return run_in_float32(fn, (self,) + tuple(args), kwargs, name)
    plan = _Plan()
    work = cast(self, dtypes.float32)
    args = [plan.up(a) for a in args]
    kwargs = {k: plan.up(v) for k, v in kwargs.items()}
    args, kwargs = _round_scalars(args, kwargs, name, self.dtype)
    r = _call_with_float32_default(fn, [work] + args, kwargs)
    self.copy_(work)
    return self if r is work else r


# one wrapper per (function, name): a function re-exported by several modules (activations.relu
# as pointwise.relu and nn.functional.relu) stays one object everywhere, so pickle, which finds a
# function by its __module__ and __qualname__, gets back the very object it was given
_WRAPPERS = {}


def wrap(fn, name=None):
    """``fn`` computing 16-bit floats in float32 (the module docstring); ``fn`` itself for a
    storage op, for what is not a plain function, and for a function already wrapped."""
    name = name or getattr(fn, "__name__", "")
    if (not isinstance(fn, types.FunctionType) or name in STORAGE_OPS
            or name.startswith("record_") or getattr(fn, "_opmath", False)):
        # (reduce.py's record_* attach a backward to a result the caller computed)
        return fn
    # an alias (subtract for sub) that the name rules treat alike shares the wrapper
    key = fn if _rules(name) == _rules(fn.__name__) else (fn, name)
    if key not in _WRAPPERS:
        _WRAPPERS[key] = _wrap(fn, name)
    return _WRAPPERS[key]


def _rules(name):
    """What a wrapper does differently by its op's name."""
    inplace = name.endswith("_") and not name.endswith("__") or name in _INPLACE_DUNDERS
    return (name in STORAGE_OPS, name.startswith("record_"), inplace, name == "setitem",
            name in ROUNDED_SCALAR_OPS)


def _wrap(fn, name):
    inplace = name.endswith("_") and not name.endswith("__") or name in _INPLACE_DUNDERS
    if name == "setitem":
        return wrap_setitem(fn)
    native = fn.__module__ in NATIVE_MODULES

    if inplace:
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if args and (_involves_half(args, kwargs) or dtypes.get_default_dtype().itemsize == 2):
                return _run(fn, args, kwargs, name, native, True)
            return fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def op(*args, **kwargs):
            # _involves_half inlined for the positional tensors: this runs on every float32 op
            for a in args:
                if isinstance(a, Tensor):
                    if a.dtype.itemsize == 2:      # only the 16-bit floats are 2 bytes
                        return _run(fn, args, kwargs, name, native, False)
                elif a is _F16 or a is _BF16 or (type(a) is list or type(a) is tuple) and (
                        _involves_half(a, None)):
                    return _run(fn, args, kwargs, name, native, False)
            if kwargs and _involves_half(kwargs.values(), None) or \
                    dtypes.get_default_dtype().itemsize == 2:    # set_default_dtype(bfloat16)
                return _run(fn, args, kwargs, name, native, False)
            return fn(*args, **kwargs)
    op._opmath = True
    return op


def _advanced(idx):
    items = idx if type(idx) is tuple else (idx,)
    return any(isinstance(i, (Tensor, list)) or hasattr(i, "__array__") for i in items)


def wrap_method(name, method):
    """A Tensor method of tensor_methods.py's table, wrapped as its name says (``t[idx] = v``
    only for advanced indices). ``t[idx]`` stays views.getitem itself: a basic index is a view,
    and the advanced gather it hands to ``views.beyond_views`` is wrapped with the views module
    (ops/__init__.py)."""
    if name == "__getitem__":
        return method
    if name == "__setitem__":
        return wrap_setitem(method)
    return wrap(method, name)


def wrap_setitem(fn):
    """``t[idx] = v``: a basic index writes through a view with the copy kernels; an advanced
    one on a 16-bit tensor runs in float32 and is written back."""
    @functools.wraps(fn)
    def setitem(self, idx, value):
        if _advanced(idx) and (_is_half_tensor(self) or _is_half_tensor(value)):
            return run_inplace_in_float32(fn, self, (idx, value), {}, "__setitem__")
        return fn(self, idx, value)
    setitem._opmath = True
    return setitem


_INPLACE_DUNDERS = frozenset(("__iadd__", "__isub__", "__imul__", "__itruediv__",
                              "__ifloordiv__", "__imod__", "__ipow__", "__iand__", "__ior__",
                              "__ixor__"))


def wrap_module(mod, owners):
    """Rebind every public function of op-family module ``mod`` that one of the modules named in
    ``owners`` defines (its own and those it re-exports, not the launch helpers it imports) to
    its wrapped form, so that the facade, nn and the calls within the module get the wrapped op."""
    for name, fn in list(vars(mod).items()):
        if (not name.startswith("_") and isinstance(fn, types.FunctionType)
                and fn.__module__ in owners):
            setattr(mod, name, wrap(fn, name))
