"""Tracing a forward pass into ONNX nodes.

The forward runs for real on the example inputs while the public entry points a model can call
are wrapped: ``Tensor`` methods and operators, the functions of ``clnet`` and of
``clnet.nn.functional``, and ``Module.__call__``. A wrapped call whose tensor arguments include
a traced value (one that depends on the graph's inputs) is converted by the converter registered
for that function (or module class), which emits ONNX nodes and binds the call's outputs to new
values. Calls made inside a converted call run untouched (``depth``), so ``F.linear`` is one
Gemm, not the ops it is written with.

Nothing may slip through unconverted, because a value computed outside the tracer's view would be
frozen into the graph as a constant (a silently wrong model). Three nets catch it:

- a wrapped function with no converter runs (it may be written with wrapped ops, like
  ``F.glu``), and then every tensor it returned must be traced; otherwise it is refused;
- float inputs are traced with ``requires_grad``, so every float op on them records an autograd
  node; ``graph.record`` is wrapped, and a node recorded outside a converted call with a traced
  input names an op the tracer did not see (an ops-module function called directly, say);
- in-place ops and conversions to Python values (``item``, ``bool``, ``numpy``) of traced values
  are refused: the graph cannot follow them.

Calls whose tensors are all constants just run: their results are constants of the graph (this
is the constant folding of ``do_constant_folding``).
"""
import inspect
import sys
import threading

from .. import graph
from ..nn.module import Module
from ..tensor import Tensor
from .errors import UnsupportedOperatorError

FUNCTION_CONVERTERS = {}   # function object -> converter(ctx, out, *bound argument values)
MODULE_CONVERTERS = {}     # Module class -> converter(ctx, module, out, args, kwargs)

_state = threading.local()
_lock = threading.Lock()

# Tensor attributes that are data layout or host conveniences, never graph ops
_TENSOR_SKIP = {
    "__init__", "__new__", "__repr__", "__format__", "__reduce_ex__", "__hash__", "__len__",
    "__iter__", "__array__", "__setattr__", "__getattribute__", "__dir__", "__sizeof__",
    "size", "stride", "dim", "ndimension", "numel", "nelement", "element_size",
    "storage_offset", "is_contiguous", "is_floating_point", "is_complex", "is_signed",
    "get_device", "data_ptr", "untyped_storage", "register_hook", "retain_grad",
    "requires_grad_", "backward",
}
# calls whose result depends on a traced tensor's sizes only, never on its data: their results
# are constants of the graph (Tracer.out refuses one that spans a dynamic axis)
_CONSTANT_RESULTS = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"}
# calls that hand a traced value's data to Python: the graph would hard-code it
_VALUE_LEAKS = {"item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__",
                "__array__", "__complex__"}


def active():
    return getattr(_state, "tracer", None)


def converts(*fns):
    """Register a converter for the given function objects."""
    def deco(conv):
        for fn in fns:
            FUNCTION_CONVERTERS[fn] = conv
        return conv
    return deco


def converts_module(*classes):
    def deco(conv):
        for cls in classes:
            MODULE_CONVERTERS[cls] = conv
        return conv
    return deco


def tensors_in(obj):
    """The tensors in nested tuples, lists and dicts (a namedtuple is a tuple)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            yield from tensors_in(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from tensors_in(x)


class Tracer:
    """The state of one export: the builder, the module path, the nesting depth."""

    def __init__(self, builder, module_names):
        self.b = builder
        self.module_names = module_names   # id(module) -> qualified name
        self.path = []
        self.depth = 0
        self.calls = []                    # unconverted wrapped calls being run (for messages)

    # --------------------------------------------------------- converter API
    def any_traced(self, *objs):
        return any(self.b.is_traced(t) for t in tensors_in(objs))

    def name(self, t):
        return self.b.name_of(t)

    def node(self, op_type, inputs, n_out=1, **attrs):
        return self.b.node(op_type, inputs, n_out, **attrs)

    def out(self, t, name, dyn=None, like=()):
        """Bind output tensor ``t`` to ``name``. ``dyn``: its dynamic axes; when None they follow
        the traced tensors in ``like`` axis by axis (aligned from the right, as broadcasting
        does), where the size is the same."""
        if dyn is None:
            dyn = set()
            n = len(t._shape)
            for x in like:
                if not self.b.is_traced(x):
                    continue
                xd = self.b.dyn_of(self.b.values[id(x)])
                off = n - len(x._shape)
                for a in xd:
                    j = a + off
                    if 0 <= j < n and t._shape[j] == x._shape[a]:
                        dyn.add(j)
            self.check_constants(like, dyn, n)
        return self.b.bind(t, name, dyn)

    def check_constants(self, like, dyn, n, what="an operand"):
        """A constant operand spanning a dynamic axis was sized from the example (``x.size(0)``,
        ``x.shape``, a mask built for this length): the file would only run at that size."""
        for x in like:
            if not isinstance(x, Tensor) or self.b.is_traced(x):
                continue
            off = n - len(x._shape)
            for j in sorted(dyn):
                a = j - off
                if 0 <= a < len(x._shape) and x._shape[a] != 1:
                    self.unsupported(
                        f"{what} of shape {tuple(x._shape)} (a constant) combined with a value "
                        f"whose axis {j} is dynamic (dynamic_axes)",
                        "the constant was sized from the example (x.size(), x.shape, a mask "
                        "built for this length), so the file would only run at this size; "
                        "derive it from the input (zeros_like, ones_like, slicing the input) or "
                        "leave that axis out of dynamic_axes", inside=False)

    def dyn(self, t):
        return self.b.dyn_of(self.b.values[id(t)]) if self.b.is_traced(t) else frozenset()

    def where(self, inside=True):
        """Where the tracer is, for error messages."""
        path = self.path[-1] if self.path else ""
        where = f"module '{path}'" if path else "the model's own forward"
        if self.calls and inside:
            where += f" (inside {self.calls[-1]})"
        return where

    def unsupported(self, what, hint="", inside=True):
        raise UnsupportedOperatorError(
            f"clnet.onnx.export: {what} in {self.where(inside)} has no ONNX conversion"
            + (f"; {hint}" if hint else "") + ". Nothing was written.")

    def convert(self, label, conv, out, *args):
        self.depth += 1        # ops a converter runs on the values are not traced again
        try:
            conv(self, out, *args)
        finally:
            self.depth -= 1
        for t in tensors_in(out):
            if not self.b.is_traced(t):
                raise AssertionError(f"converter of {label} left an output unbound")


# --------------------------------------------------------------------------- wrappers
def _wrap_converted(orig, conv, label):
    try:
        sig = inspect.signature(orig)
    except (TypeError, ValueError):
        sig = None

    def wrapper(*args, **kwargs):
        tr = active()
        if tr is None or tr.depth > 0 or not tr.any_traced(args, kwargs):
            return orig(*args, **kwargs)
        tr.depth += 1
        try:
            out = orig(*args, **kwargs)
        finally:
            tr.depth -= 1
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        tr.convert(label, conv, out, *bound.arguments.values())
        return out
    wrapper.__wrapped__ = orig
    return wrapper


def _wrap_guarded(orig, label, name):
    inplace = (name.endswith("_") and not name.endswith("__")) or name in (
        "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__",
        "__imod__", "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__",
        "__imatmul__", "copy_", "set_")

    def wrapper(*args, **kwargs):
        tr = active()
        if tr is None or tr.depth > 0 or not tr.any_traced(args, kwargs):
            return orig(*args, **kwargs)
        if name in _VALUE_LEAKS:
            tr.unsupported(f"{label} (a traced tensor turned into a Python value)",
                           "the exported graph would hard-code the value of this example; keep "
                           "data-dependent control flow out of forward")
        if inplace:
            tr.unsupported(f"the in-place op {label}", "use its out-of-place form")
        tr.calls.append(label)
        try:
            out = orig(*args, **kwargs)
        finally:
            tr.calls.pop()
        if name in _CONSTANT_RESULTS:
            return out
        for t in tensors_in(out):
            if not tr.b.is_traced(t):
                tr.unsupported(label)
        return out
    wrapper.__wrapped__ = orig
    return wrapper


def _wrap_record(orig):
    def record(name, outputs, inputs, *args, **kwargs):
        tr = active()
        if tr is not None and tr.depth == 0 and tr.any_traced(tuple(inputs)):
            if tr.calls:       # name the function the user called, then what it ran
                tr.unsupported(f"{tr.calls[-1]} (it runs the op recorded as {name})",
                               inside=False)
            tr.unsupported(f"the op recorded as {name}")
        return orig(name, outputs, inputs, *args, **kwargs)
    return record


def _wrap_inplace_record(orig):
    def wrapper(t, *args, **kwargs):
        tr = active()
        if tr is not None and tr.depth == 0 and tr.any_traced(t):
            tr.unsupported(f"an in-place op on a traced tensor (recorded as {args[0]})",
                           "use the out-of-place form")
        return orig(t, *args, **kwargs)
    return wrapper


def _module_call(orig):
    def __call__(self, *args, **kwargs):
        tr = active()
        if tr is None:
            return orig(self, *args, **kwargs)
        qualname = tr.module_names.get(id(self), type(self).__name__)
        tr.path.append(qualname)
        scope = tr.b.scope
        tr.b.scope = "/" + qualname.replace(".", "/") if qualname else ""
        try:
            cls = type(self)
            conv = MODULE_CONVERTERS.get(cls)
            if conv is not None and tr.depth == 0 and tr.any_traced(args, kwargs):
                tr.depth += 1
                try:
                    out = orig(self, *args, **kwargs)
                    conv(tr, self, out, args, kwargs)
                finally:
                    tr.depth -= 1
                return out
            return orig(self, *args, **kwargs)
        finally:
            tr.path.pop()
            tr.b.scope = scope
    return __call__


class Patches:
    """Installs the wrappers for the length of an export and takes them all off again."""

    def __init__(self, namespaces, modules=()):
        self.namespaces = namespaces       # [(label prefix, module object)]
        self.modules = list(modules)       # the model's modules (see patch_instances)
        self._undo = []
        self._wrapped = {}                 # original function -> its wrapper

    def _set(self, owner, name, value):
        orig = owner.__dict__[name]
        self._undo.append((owner, name, orig))
        if inspect.isfunction(orig):
            self._wrapped.setdefault(orig, value)
        setattr(owner, name, value)

    def patch_instances(self):
        """Functions a module stored on itself (``self.activation = F.relu``, as
        TransformerEncoderLayer does) were taken before the namespaces were patched: point
        them at the wrappers too, so the forward's calls through them are traced."""
        for m in self.modules:
            for name, attr in list(vars(m).items()):
                if inspect.isfunction(attr) and attr in self._wrapped:
                    self._set(m, name, self._wrapped[attr])

    def __enter__(self):
        _lock.acquire()
        try:
            for name, attr in list(vars(Tensor).items()):
                if name in _TENSOR_SKIP or (name.startswith("_") and not (
                        name.startswith("__") and name.endswith("__"))):
                    continue
                label = f"Tensor.{name}"
                if isinstance(attr, property):
                    conv = FUNCTION_CONVERTERS.get(attr.fget)
                    if conv is not None:
                        self._set(Tensor, name, property(_wrap_converted(attr.fget, conv, label)))
                    elif name in ("T", "mT", "H", "mH", "real", "imag"):
                        self._set(Tensor, name, property(_wrap_guarded(attr.fget, label, name)))
                    continue
                if not inspect.isfunction(attr):
                    continue
                conv = FUNCTION_CONVERTERS.get(attr)
                self._set(Tensor, name, _wrap_converted(attr, conv, label) if conv
                          else _wrap_guarded(attr, label, name))
            for prefix, mod in self.namespaces:
                for name, attr in list(vars(mod).items()):
                    if name.startswith("_") or not inspect.isfunction(attr):
                        continue
                    label = f"{prefix}.{name}"
                    conv = FUNCTION_CONVERTERS.get(attr)
                    self._set(mod, name, _wrap_converted(attr, conv, label) if conv
                              else _wrap_guarded(attr, label, name))
            # converted functions imported by name into other clnet modules (``from
            # ...ops.linalg import linear`` in a layer), so that the unconverted code around
            # them traces them instead of tripping the autograd net
            done = {id(mod) for _, mod in self.namespaces}
            for modname, mod in list(sys.modules.items()):
                if (not modname.startswith("clnet.") or modname.startswith("clnet.onnx")
                        or mod is None or id(mod) in done):
                    continue
                for name, attr in list(vars(mod).items()):
                    if inspect.isfunction(attr) and attr in FUNCTION_CONVERTERS:
                        self._set(mod, name, _wrap_converted(
                            attr, FUNCTION_CONVERTERS[attr], f"{attr.__module__}.{name}"))
            self._set(graph, "record", _wrap_record(graph.record))
            self._set(graph, "rebase_history", _wrap_inplace_record(graph.rebase_history))
            self._set(graph, "inplace_node", _wrap_inplace_record(graph.inplace_node))
            self._set(Module, "__call__", _module_call(Module.__dict__["__call__"]))
            self.patch_instances()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            for owner, name, value in reversed(self._undo):
                setattr(owner, name, value)
            self._undo.clear()
        finally:
            _lock.release()


class tracing:
    """``with tracing(tracer):`` makes ``tracer`` this thread's active one."""

    def __init__(self, tracer):
        self.tracer = tracer

    def __enter__(self):
        _state.tracer = self.tracer
        return self.tracer

    def __exit__(self, *exc):
        _state.tracer = None
