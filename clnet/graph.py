"""The recorded autograd graph: grad mode, nodes, and how an op records one.

This sits beside tensor.py, below the ops, so that every op can record its backward closure;
the engine that walks the graph (``backward``, ``grad``), custom Functions and gradcheck live in
``clnet/autograd`` above the ops, because running a backward calls ops.

An op records ``record(name, outputs, inputs, backward, saved)``: ``backward(*grad_outputs)``
returns one gradient (or None) per input and is written with differentiable clnet ops, so with
``create_graph=True`` the backward itself is recorded and gradients of gradients work.
"""
import threading
import traceback
import weakref

from .tensor import Tensor


class _Mode(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.anomaly = False
        self.anomaly_check_nan = True


mode = _Mode()


def is_grad_enabled():
    return mode.grad_enabled


def set_grad_enabled_flag(flag):
    """Set grad mode; returns the previous value (the context managers restore it)."""
    prev = mode.grad_enabled
    mode.grad_enabled = bool(flag)
    return prev


def recording(*args):
    """True when an op on ``args`` must record a node: grad mode on and an input requires grad."""
    if not mode.grad_enabled:
        return False
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
    return False


class Node:
    """One backward step. ``next_functions`` are (node, output index) edges toward the inputs,
    like PyTorch's; ``(None, 0)`` for inputs that need no gradient."""

    __slots__ = ("next_functions", "_fn", "_saved", "_out_meta", "_pre_hooks", "_hooks",
                 "_trace", "__weakref__", "__dict__")

    def __init__(self, fn, next_functions, saved, out_meta):
        self._fn = fn
        self.next_functions = next_functions
        self._saved = saved            # ((tensor, version at save time), ...)
        self._out_meta = out_meta      # ((shape, dtype, device), ...) per output, for zero grads
        self._pre_hooks = None         # {output index: [fn(grad) -> grad or None]}
        self._hooks = None             # [fn(grad_inputs, grad_outputs)]
        self._trace = traceback.format_stack()[:-2] if mode.anomaly else None

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` after this node ran; may return new grad_inputs."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _Handle(self._hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` before this node runs; may return new grad_outputs."""
        return self._add_pre_hook(-1, fn)

    def _add_pre_hook(self, index, fn):
        if self._pre_hooks is None:
            self._pre_hooks = {}
        hooks = self._pre_hooks.setdefault(index, [])
        hooks.append(fn)
        return _Handle(hooks, fn)

    def check_saved(self):
        for t, version in self._saved:
            if t._version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t.dtype.name} tensor of shape {list(t._shape)}], which "
                    f"is saved by {self.name()}, is at version {t._version}; expected version "
                    f"{version} instead. Hint: the in-place op came after the forward op that "
                    "saved it; use an out-of-place op or .clone() before modifying it.")

    def release(self):
        self._fn = None
        self._saved = ()


class AccumulateGrad(Node):
    """The node of a leaf tensor: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        super().__init__(None, (), (), ((variable._shape, variable.dtype, variable.device),))
        self.variable = variable

    def release(self):
        pass   # nothing saved; the leaf stays usable for the next graph


class _Handle:
    """A removable hook handle (``handle.remove()``), like torch.utils.hooks.RemovableHandle."""

    def __init__(self, container, item):
        self._container = container
        self._item = item

    def remove(self):
        try:
            self._container.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class GradState:
    """Per-tensor autograd bookkeeping kept off the hot path: leaf hooks, retain_grad, the leaf's
    AccumulateGrad node (weakly: it lives as long as some graph uses it)."""

    __slots__ = ("accumulate_ref", "hooks", "retains_grad", "out_nr", "post_accumulate_hooks")

    def __init__(self):
        self.accumulate_ref = None
        self.hooks = []
        self.retains_grad = False
        self.out_nr = 0
        self.post_accumulate_hooks = []


def grad_state(t):
    s = t._grad_state
    if s is None:
        s = t._grad_state = GradState()
    return s


def output_nr(t):
    s = t._grad_state
    return 0 if s is None else s.out_nr


def accumulate_node(t):
    s = grad_state(t)
    node = s.accumulate_ref() if s.accumulate_ref is not None else None
    if node is None:
        node = AccumulateGrad(t)
        s.accumulate_ref = weakref.ref(node)
    return node


def edge(t):
    """The graph edge a tensor input contributes: (node, output index) or (None, 0)."""
    if not isinstance(t, Tensor) or not t.requires_grad:
        return (None, 0)
    if t.grad_fn is not None:
        return (t.grad_fn, output_nr(t))
    return (accumulate_node(t), 0)


class SavedOutput:
    """An op's own output saved for its backward without a reference cycle (output -> node ->
    closure -> output): a detached view of the data plus a weak reference to the node. Unpacked
    while recording (create_graph=True) it gets the node back as grad_fn, so gradients of
    gradients flow through it; otherwise it is the plain data."""

    __slots__ = ("data", "node_ref", "out_nr")

    def __init__(self, t, out_nr=0):
        self.data = t.detach()
        self.node_ref = None
        self.out_nr = out_nr

    def unpack(self):
        if not mode.grad_enabled or self.node_ref is None:
            return self.data
        node = self.node_ref()
        d = self.data
        t = Tensor._make(d._storage, d._shape, d._stride, d._offset, d.dtype)
        if node is not None:
            t.grad_fn = node
            t.requires_grad = True
            if self.out_nr:
                grad_state(t).out_nr = self.out_nr
        return t


_node_classes = {}


def node_class(name):
    """A Node subclass per op name, so ``type(t.grad_fn).__name__`` reads ``MulBackward0``."""
    cls = _node_classes.get(name)
    if cls is None:
        cls = _node_classes[name] = type(name, (Node,), {"__slots__": ()})
    return cls


def record(name, outputs, inputs, backward, saved=(), saved_outputs=()):
    """Attach a node to ``outputs`` (a tensor or a tuple of tensors; non-float ones are skipped).

    ``backward(*grad_outputs)`` gets one gradient per output (zeros for outputs that received
    none) and returns a tuple with one entry per ``inputs`` item (a tensor or None). ``saved``
    are input tensors the closure uses (checked for in-place changes before it runs);
    ``saved_outputs`` are ``SavedOutput``s of this op's outputs that the closure unpacks."""
    single = isinstance(outputs, Tensor)
    outs = (outputs,) if single else tuple(outputs)
    versions = tuple((t, t._version) for t in saved if t is not None) + tuple(
        (so.data, so.data._version) for so in saved_outputs)
    node = node_class(name)(
        backward, tuple(edge(t) for t in inputs), versions,
        tuple((o._shape, o.dtype, o._storage.device) for o in outs))
    if saved_outputs:
        ref = weakref.ref(node)
        for so in saved_outputs:
            so.node_ref = ref
    for i, o in enumerate(outs):
        if o is None or not o.dtype.is_floating_point:
            continue
        o.grad_fn = node
        o.requires_grad = True
        if i:
            grad_state(o).out_nr = i
    return outputs


def check_inplace(t):
    """Called before an in-place op that will be recorded (something involved requires grad).

    Refuses a leaf that requires grad (PyTorch's rule) and any view: clnet records the op on the
    view but does not rewrite its base's history (PyTorch's CopySlices), so the base's gradient
    would silently miss the change; we say so instead. Assigning through indexing on the tensor
    itself (``x[mask] = v``, ``x[:, 1] = v``) is recorded on ``x`` and works."""
    if not mode.grad_enabled:
        return
    if t.requires_grad and t.grad_fn is None and t._base is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation (wrap it in clnet.no_grad() or operate on a .clone())")
    if t._base is not None:
        raise RuntimeError(
            f"an in-place operation on a view (shape {list(t._shape)}) of another tensor (shape "
            f"{list(t._base._shape)}) cannot be recorded by clnet's autograd: the gradient of the "
            "tensor it views would miss the change. Index the tensor itself (x[idx] = v), use an "
            "out-of-place op (torch.where / cat), or .clone() the view first")


def rebase_history(t, name, edges, backward, saved=(), saved_outputs=()):
    """Record an in-place op on ``t``: ``edges`` were taken before the op (so they include ``t``
    as it was), then ``t`` gets the new node."""
    versions = tuple((x, x._version) for x in saved if x is not None) + tuple(
        (so.data, so.data._version) for so in saved_outputs)
    node = node_class(name)(backward, tuple(edges), versions,
                            ((t._shape, t.dtype, t._storage.device),))
    if saved_outputs:
        ref = weakref.ref(node)
        for so in saved_outputs:
            so.node_ref = ref
    t.grad_fn = node
    t.requires_grad = True
    if t._grad_state is not None:
        t._grad_state.out_nr = 0
    return t
