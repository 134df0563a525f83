"""Custom differentiable ops the PyTorch way: subclass ``Function`` with static ``forward(ctx,
...)`` and ``backward(ctx, *grad_outputs)``, call ``YourFunction.apply(...)``."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Set, Tuple
import functools
import inspect

from .. import graph
from ..ops.views import reduce_sum_to_shape
from ..tensor import Tensor


class FunctionCtx:
    """The ``ctx`` of a custom Function: saved tensors, flags, and any attribute you set."""

    _saved: Tuple[Optional[Tensor], ...]
    _saved_versions: Tuple[Optional[int], ...]
    _non_differentiable: Set[int]     # ids of the outputs marked so
    _dirty: Set[int]
    needs_input_grad: Tuple[bool, ...]

    def __init__(self) -> None:
        self._saved = ()
        self._saved_versions = ()
        self._non_differentiable = set()
        self._dirty = set()
        self.materialize_grads = True
        self.needs_input_grad = ()
        self._released = False
        self._name = "Function"

    def save_for_backward(self, *tensors: Optional[Tensor]) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors or None, but argument "
                                f"{i} is of type {type(t).__name__}")
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._version for t in tensors)

    def save_for_forward(self, *tensors: Optional[Tensor]) -> None:
        self.save_for_backward(*tensors)

    @property
    def saved_tensors(self) -> Tuple[Any, ...]:
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Specify retain_graph=True if you "
                "need to backward through the graph a second time.")
        for i, (t, v) in enumerate(zip(self._saved, self._saved_versions)):
            if t is not None and t._version != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: saved tensor {i} of {self._name} (shape {list(t._shape)}) "
                    f"is at version {t._version}; expected version {v} instead.")
        return self._saved

    saved_variables = saved_tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Tensor) -> None:
        self._dirty.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_name = name + "Backward"


class Function(metaclass=_FunctionMeta):
    """Base class of custom autograd functions (``forward``/``backward`` are static methods)."""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a Function subclass must define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise TypeError("a Function subclass must define a static backward(ctx, *grad_outputs) "
                        "to be differentiated")

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        return None

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx()
        ctx._name = cls._backward_name
        tensor_args = [a if isinstance(a, Tensor) else None for a in args]
        ctx.needs_input_grad = tuple(a is not None and a.requires_grad for a in tensor_args)
        prev = graph.set_grad_enabled_flag(False)   # forward runs without recording
        try:
            if cls.setup_context is not Function.setup_context and _forward_has_no_ctx(cls):
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        finally:
            graph.set_grad_enabled_flag(prev)
        single = not isinstance(output, tuple)
        outs = (output,) if single else output
        if not (graph.mode.grad_enabled and any(ctx.needs_input_grad)):
            return output
        outs = tuple(_own_output(o, args) if isinstance(o, Tensor) and id(o) not in ctx._dirty
                     else o for o in outs)
        tensor_outs = [o for o in outs if isinstance(o, Tensor)]
        nd = {i for i, o in enumerate(tensor_outs)
              if id(o) in ctx._non_differentiable or not o.dtype.is_floating_point}
        backward_fn = _make_backward(cls, ctx, args, len(tensor_outs), nd)
        inputs = [a if isinstance(a, Tensor) else None for a in args]
        node = _function_node_class(cls._backward_name)(
            backward_fn, tuple(graph.edge(t) for t in inputs), (),
            tuple((o._shape, o.dtype, o._storage.device) for o in tensor_outs))
        node.ctx = ctx
        node.materialize_grads = ctx.materialize_grads
        for i, o in enumerate(tensor_outs):
            if i in nd:
                continue
            if id(o) in ctx._dirty and o._base is not None:
                # a view changed in place: its base's history is rebased (CopySlices), as for
                # clnet's own in-place ops on views (clnet/ops/inplace_views.py)
                graph.check_inplace(o)
                graph.view_hooks.rebase(o, node, i)  # type: ignore[misc]  # set by ops/ at import
                continue
            if id(o) in ctx._dirty and o.requires_grad and o.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad has been used in an "
                                   "in-place operation (mark_dirty)")
            o.grad_fn = node
            o.requires_grad = True
            graph.grad_state(o).out_nr = i
        return outs[0] if single else outs


def _broadcasts_to(shape, target):
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))


class _FunctionNode(graph.Node):
    """A custom Function's node: releasing it frees ``ctx.saved_tensors`` too."""

    __slots__ = ()

    def release(self):
        super().release()
        ctx = self.__dict__.get("ctx")
        if ctx is not None:
            ctx._released = True
            ctx._saved = ()


_function_node_classes: Dict[str, type] = {}


def _function_node_class(name):
    cls = _function_node_classes.get(name)
    if cls is None:
        cls = _function_node_classes[name] = type(name, (_FunctionNode,), {"__slots__": ()})
    return cls


def _forward_has_no_ctx(cls):
    try:
        params = list(inspect.signature(cls.forward).parameters)
    except (TypeError, ValueError):
        return False
    return not params or params[0] != "ctx"


def _own_output(o, args):
    """An output that is one of the inputs (returned as-is) becomes a view so that its history
    is the Function's, not the input's."""
    if any(o is a for a in args):
        return o.view_as(o)
    return o


def _make_backward(cls, ctx, args, n_outputs, non_diff):
    def backward_fn(*grads):
        grads = tuple(None if i in non_diff else g for i, g in enumerate(grads))
        result = cls.backward(ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != len(args):
            if len(result) > len(args) and all(r is None for r in result[len(args):]):
                result = result[:len(args)]
            else:
                raise RuntimeError(
                    f"function {cls._backward_name} returned an incorrect number of gradients "
                    f"(expected {len(args)}, got {len(result)})")
        checked = []
        for i, (g, a) in enumerate(zip(result, args)):
            if g is None or not isinstance(a, Tensor):
                checked.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {cls._backward_name} returned a gradient of type "
                                f"{type(g).__name__} at index {i}; expected a Tensor or None")
            if g._shape != a._shape:
                # like PyTorch: a gradient of a shape the input broadcasts to is summed down
                if not _broadcasts_to(a._shape, g._shape):
                    raise RuntimeError(
                        f"Function {cls._backward_name} returned an invalid gradient at index {i}"
                        f" - got {list(g._shape)} but expected shape compatible with "
                        f"{list(a._shape)}")
                g = reduce_sum_to_shape(g, a._shape)
            checked.append(g)
        return tuple(checked)
    return backward_fn


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a ``backward`` that is not itself differentiable: it runs without recording, and
    a double backward through it raises."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        create_graph = graph.mode.grad_enabled
        prev = graph.set_grad_enabled_flag(False)
        try:
            out = fn(ctx, *args)
        finally:
            graph.set_grad_enabled_flag(prev)
        if not create_graph:
            return out
        outs = out if isinstance(out, tuple) else (out,)
        marked = []
        for g in outs:
            if isinstance(g, Tensor):
                g = graph.record("OnceDifferentiableBackward", g.detach(), (g,),
                                 _raise_double_backward) if any(
                    isinstance(a, Tensor) and a.requires_grad for a in args) else g
            marked.append(g)
        return tuple(marked) if isinstance(out, tuple) else marked[0]
    return wrapper


def _raise_double_backward(*_):
    raise RuntimeError("trying to differentiate twice a function that was marked with "
                       "@once_differentiable")
