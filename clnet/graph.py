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


class no_grad_recording:
    """Grad mode off inside an op's forward, so its internal views and copies record nothing
    (the op records one node itself). A tiny context manager: the ops sit below clnet.autograd,
    whose ``no_grad`` is the public one."""

    __slots__ = ("prev",)

    def __enter__(self):
        self.prev = set_grad_enabled_flag(False)
        return self

    def __exit__(self, *exc):
        set_grad_enabled_flag(self.prev)


def recording(*args):
    """True when an op on ``args`` must record a node: grad mode on and an input requires grad."""
    if not mode.grad_enabled:
        return False
    for a in args:
        if isinstance(a, Tensor):
            if a._base is not None and a._view_version != a._storage.version:
                refresh_view(a)
            if a.requires_grad:
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
    if not isinstance(t, Tensor):
        return (None, 0)
    if t._base is not None and t._view_version != t._storage.version:
        refresh_view(t)
    if not t.requires_grad:
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
        o._view_version = o._storage.version
        if i:
            grad_state(o).out_nr = i
    return outputs


def tracks(t):
    """Whether an in-place change of ``t`` concerns the graph: ``t`` requires grad, or it is a
    view of a tensor that does (then the change must reach the base's history, or be refused)."""
    return t.requires_grad or (t._base is not None and t._base.requires_grad)


def check_inplace(t):
    """Called before an in-place op that will be recorded (something involved requires grad).

    Refuses what PyTorch refuses: a leaf that requires grad, and a view of one. An in-place op on
    any other view is recorded like PyTorch's: the view's base gets a CopySlices node (see
    ``rebase_history``). A view whose base is not laid out densely (a view of a non-contiguous
    tensor that is not itself a view) cannot be mapped back onto its base's gradient: refused."""
    if not mode.grad_enabled:
        return
    base = t._base
    if base is None:
        if t.requires_grad and t.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation (wrap it in clnet.no_grad() or operate on a .clone())")
        return
    if t._view_version == NO_GRAD_VIEW:
        raise RuntimeError(
            f"a view (shape {list(t._shape)}) was created in no_grad mode and is being modified "
            "in-place with grad mode enabled: the change cannot reach the gradient of the tensor "
            "it views. Take the view outside no_grad, or .clone() it first")
    if t._view_version == FUNCTION_VIEW:
        raise RuntimeError(
            f"a tensor (shape {list(t._shape)}) output by a module backward hook's identity node "
            "is a view and is being modified in-place; .clone() it first")
    if base.requires_grad and base.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation (wrap it in clnet.no_grad() or operate on a "
                           ".clone())")
    if not base.is_contiguous():
        raise RuntimeError(
            f"an in-place operation on a view (shape {list(t._shape)}) of a non-contiguous "
            f"tensor (shape {list(base._shape)}, strides {list(base._stride)}) cannot be recorded "
            "by clnet's autograd; .contiguous() the tensor before taking the view, or use an "
            "out-of-place op")


def inplace_node(t, name, edges, backward, saved=(), saved_outputs=()):
    """The node of an in-place op on ``t``: ``edges`` were taken before the op (so they include
    ``t`` as it was); its one output is ``t``'s new value."""
    versions = tuple((x, x._version) for x in saved if x is not None) + tuple(
        (so.data, so.data._version) for so in saved_outputs)
    node = node_class(name)(backward, tuple(edges), versions,
                            ((t._shape, t.dtype, t._storage.device),))
    if saved_outputs:
        ref = weakref.ref(node)
        for so in saved_outputs:
            so.node_ref = ref
    return node


def set_history(t, node):
    """Make output 0 of ``node`` the history of ``t`` (which then requires grad)."""
    t.grad_fn = node
    t.requires_grad = True
    t._view_version = t._storage.version
    if t._grad_state is not None:
        t._grad_state.out_nr = 0
    return t


def rebase_history(t, name, edges, backward, saved=(), saved_outputs=()):
    """Record an in-place op on ``t`` (after the op ran). On a view, the view's base is rebased
    too (PyTorch's CopySlices, by the ops layer's ``view_hooks``)."""
    node = inplace_node(t, name, edges, backward, saved, saved_outputs)
    if t._base is not None:
        view_hooks.rebase(t, node)
        return t
    return set_history(t, node)


# Tensor._view_version of views that never join the graph (see clnet/ops/inplace_views.py)
NO_GRAD_VIEW = -1      # taken in no_grad mode
FUNCTION_VIEW = -2     # an alias output of an identity node (module backward hooks)


class _ViewHooks:
    """What the ops layer installs (clnet/ops/inplace_views.py) so that views and in-place ops
    keep PyTorch's semantics without this module importing ops:

    - ``rebase(view, node, out_nr=0)``: an in-place op recorded as ``node`` (output ``out_nr``)
      changed ``view``; give its base a CopySlices node and the view a fresh view-of-base
      history.
    - ``refresh(view)``: the view's storage changed since its history was set (an in-place op on
      its base or on another view of it): rebuild its history as a view of the base's current
      one, so that its gradient sees the change."""
    rebase = None
    refresh = None


view_hooks = _ViewHooks()


def refresh_view(t):
    if view_hooks.refresh is not None:
        view_hooks.refresh(t)
    else:
        t._view_version = t._storage.version
