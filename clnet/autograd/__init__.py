"""Autograd: ``backward``, ``grad``, grad modes, custom ``Function``s, ``gradcheck``, anomaly mode.

The graph itself (nodes, recording) is ``clnet/graph.py``; each op's backward rule lives next to
its forward in ``clnet/ops``. This package walks the graph and gives the PyTorch API.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union, overload
import weakref

from .. import graph
from ..ops.creation import full_like, ones_like, tensor as make_tensor, zeros_like
from ..tensor import Tensor
from . import function
from . import engine
from .engine import run_backward
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (detect_anomaly, enable_grad, inference_mode, is_anomaly_enabled,
                        is_grad_enabled, no_grad, set_detect_anomaly, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["backward", "grad", "is_grad_enabled", "is_anomaly_enabled", "Function", "FunctionCtx", "once_differentiable", "Variable",
           "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "detect_anomaly",
           "set_detect_anomaly", "gradcheck", "gradgradcheck", "GradcheckError", "function"]


def _seed_grads(tensors, grad_tensors, create_graph):
    seeds = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(output {i} has shape {list(t._shape)}); pass gradient=")
            g = ones_like(t)
        elif not isinstance(g, Tensor):
            g = full_like(t, g)
        elif g._shape != t._shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{list(g._shape)} and output[{i}] has a shape of {list(t._shape)}.")
        seeds.append(g)
    return seeds


@overload
def _as_list(x: None) -> None: ...


@overload
def _as_list(x: Any) -> List[Any]: ...


def _as_list(x: Any) -> Optional[List[Any]]:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors: Union[Tensor, Sequence[Tensor]],
             grad_tensors: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
             retain_graph: Optional[bool] = None, create_graph: bool = False,
             inputs: Optional[Union[Tensor, Sequence[Tensor]]] = None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves (or of ``inputs``)."""
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors) or [None] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                               "grad_fn")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seed_grads(tensors, grad_tensors, create_graph)
    run_backward(tensors, seeds, retain_graph, create_graph, inputs=_as_list(inputs),
                 allow_unused=True, accumulate=True)


def grad(outputs: Union[Tensor, Sequence[Tensor]], inputs: Union[Tensor, Sequence[Tensor]],
         grad_outputs: Optional[Union[Tensor, Sequence[Optional[Tensor]]]] = None,
         retain_graph: Optional[bool] = None, create_graph: bool = False, only_inputs: bool = True,
         allow_unused: Optional[bool] = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> Tuple[Optional[Tensor], ...]:
    """Gradients of ``outputs`` with respect to ``inputs`` (a tuple), leaving ``.grad`` alone."""
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs) or [None] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    for i, t in enumerate(outputs):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                               "grad_fn")
    seeds = _seed_grads(outputs, grad_outputs, create_graph)
    result = run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs,
                          allow_unused=allow_unused, accumulate=False)
    if materialize_grads:
        result = tuple(zeros_like(x) if r is None else r for r, x in zip(result, inputs))
    return result


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """Old-code shim: ``Variable(t)`` is ``t`` (a Tensor); with requires_grad it becomes a leaf
    that requires grad."""
    if not isinstance(data, Tensor):
        data = make_tensor(data)
    if requires_grad:
        t = data.detach()
        t.requires_grad = True
        return t
    return data


class _ExecutionEngine:
    """``Variable._execution_engine`` as in PyTorch, for code that queues a callback to run when
    the current backward pass ends (``queue_callback(fn)``)."""
    queue_callback = staticmethod(engine.queue_callback)


Variable._execution_engine = _ExecutionEngine()  # type: ignore[attr-defined]  # torch's path


# ------------------------------------------------------------------ Tensor methods
def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)


def _register_hook(self, hook):
    """``hook(grad)`` runs when this tensor's gradient is computed; it may return a new one."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self.grad_fn is None:
        hooks = graph.grad_state(self).hooks
        hooks.append(hook)
        return graph._Handle(hooks, hook)
    return self.grad_fn._add_pre_hook(graph.output_nr(self), hook)


def _register_post_accumulate_grad_hook(self, hook):
    if self.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    hooks = graph.grad_state(self).post_accumulate_hooks
    hooks.append(hook)
    return graph._Handle(hooks, hook)


def _retain_grad(self):
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self.grad_fn is None:
        return   # leaves keep their grad anyway
    state = graph.grad_state(self)
    if state.retains_grad:
        return
    state.retains_grad = True
    ref = weakref.ref(self)

    def keep(g):
        t = ref()
        if t is not None:
            d = g.detach()
            t.grad = d if t.grad is None else t.grad + d
    self.grad_fn._add_pre_hook(graph.output_nr(self), keep)


def _requires_grad_(self, requires_grad=True):
    if requires_grad and not self.dtype.is_floating_point:
        raise RuntimeError(f"only Tensors of floating point dtype can require gradients "
                           f"(got {self.dtype})")
    if not requires_grad and self.grad_fn is not None:
        raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                           "want to use a computed variable in a subgraph that doesn't require "
                           "differentiation use var_no_grad = var.detach().")
    self.requires_grad = requires_grad
    return self


def _install():
    Tensor.backward = _tensor_backward
    Tensor.register_hook = _register_hook
    Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
    Tensor.retain_grad = _retain_grad
    Tensor.requires_grad_ = _requires_grad_
    Tensor.retains_grad = property(
        lambda self: self._grad_state is not None and self._grad_state.retains_grad)


_install()
