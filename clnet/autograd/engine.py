"""The backward engine: walks recorded nodes in reverse topological order, iteratively.

Dependencies are counted first (how many graph edges point at each node), then a node runs
once every node that feeds it has run, so each node runs exactly once with its summed
gradient, however deep the graph (no recursion: a 10,000-step RNN is fine). Nothing here waits
for the device; in anomaly mode the NaN check does.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
import sys
import threading

from .. import graph
from ..graph import AccumulateGrad, mode
from ..ops.copy import clone
from ..ops.creation import zeros
from ..ops.pointwise import add, isfinite
from ..ops.reduce import all as all_
from ..ops.views import expand
from ..tensor import Tensor


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return add(a, b)


def _zeros(meta):
    shape, dt, dev = meta
    return zeros(shape, dtype=dt, device=dev)


def _check_nan(node, grads):
    for i, g in enumerate(grads):
        if g is not None and g.dtype.is_floating_point and not bool(all_(isfinite(g)).item()):
            trace = "".join(node._trace or []) or "(enable anomaly mode before the forward pass " \
                                                  "to see where the op was created)\n"
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output."
                               f"\nThe forward call that created it:\n{trace}")


def _walk(roots):
    """One iterative DFS from ``roots``: how many graph edges point at each reachable node
    (dependency counts) and, for each node, the nodes with an edge to it (parents)."""
    deps, parents = {}, {}
    seen = set()
    stack = [n for n in roots if n is not None]
    seen.update(stack)
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            parents.setdefault(nxt, []).append(node)
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps, parents, seen


def _needed(parents, seen, targets):
    """Nodes from which some target node is reachable (only they need to run for ``grad``)."""
    needed = set()
    stack = [t for t in targets if t in seen]
    needed.update(stack)
    while stack:
        node = stack.pop()
        for p in parents.get(node, ()):
            if p not in needed:
                needed.add(p)
                stack.append(p)
    return needed


class _Callbacks(threading.local):
    # the running backward's callbacks (None outside a backward)
    queue: Optional[List[Callable[[], None]]] = None


_callbacks = _Callbacks()


def queue_callback(fn: Callable[[], None]) -> None:
    """Run ``fn()`` once the backward pass that is running now has finished (PyTorch's
    ``Variable._execution_engine.queue_callback``; DistributedDataParallel waits for its
    gradient reductions there). Only valid from inside a backward (a hook)."""
    if _callbacks.queue is None:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _callbacks.queue.append(fn)


def run_backward(tensors: Sequence[Tensor], grad_tensors: Sequence[Any], retain_graph: bool,
                 create_graph: bool, inputs: Optional[Sequence[Tensor]] = None,
                 allow_unused: bool = False, accumulate: bool = True) -> Any:
    """Backpropagate from ``tensors`` seeded with ``grad_tensors``.

    accumulate=True: add into the ``.grad`` of leaves (restricted to ``inputs`` when given).
    accumulate=False (autograd.grad): return the gradients of ``inputs`` instead."""
    roots = []
    buffers: Dict[Any, List[Any]] = {}   # node -> its output gradients
    for t, g in zip(tensors, grad_tensors):
        node = t.grad_fn if t.grad_fn is not None else (
            graph.accumulate_node(t) if t.requires_grad else None)
        if node is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        buf = buffers.setdefault(node, [None] * len(node._out_meta))
        idx = graph.output_nr(t) if t.grad_fn is not None else 0
        buf[idx] = _add(buf[idx], g)
        if node not in roots:
            roots.append(node)

    # where the gradients of `inputs` are read: (node, output index) -> positions in `inputs`
    capture: Dict[Tuple[Any, int], List[int]] = {}
    targets = []
    if inputs is not None:
        for pos, x in enumerate(inputs):
            if not isinstance(x, Tensor):
                raise TypeError(f"inputs[{pos}] is not a Tensor")
            if not x.requires_grad:
                raise RuntimeError(f"One of the differentiated Tensors (inputs[{pos}], shape "
                                   f"{list(x._shape)}) does not require grad")
            node, idx = graph.edge(x)
            capture.setdefault((node, idx), []).append(pos)
            targets.append(node)
    results = [None] * (len(inputs) if inputs is not None else 0)

    deps, parents, seen = _walk(roots)
    needed = _needed(parents, seen, targets) if inputs is not None else None
    ready = [n for n in roots if deps.get(n, 0) == 0]
    prev_mode = graph.set_grad_enabled_flag(create_graph)
    outer_callbacks, _callbacks.queue = _callbacks.queue, []
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * len(node._out_meta)
            # a node that received no gradient at all contributes none: skip it (its saved
            # tensors are not even checked), as PyTorch does for undefined gradients
            run = (needed is None or node in needed) and any(g is not None for g in grads)
            if run:
                grads = _run_pre_hooks(node, grads)
                for i in range(len(grads)):
                    key = (node, i)
                    if key in capture:
                        for pos in capture[key]:
                            results[pos] = grads[i]
                if isinstance(node, AccumulateGrad):
                    if accumulate and (inputs is None or (node, 0) in capture):
                        _accumulate(node.variable, grads[0], create_graph)
                    in_grads = ()
                else:
                    in_grads = _apply(node, grads, retain_graph)
            else:
                in_grads = ()
            for (nxt, idx), g in zip(node.next_functions, in_grads or (None,) * len(
                    node.next_functions)):
                if nxt is None:
                    continue
                if g is not None:
                    buf = buffers.setdefault(nxt, [None] * len(nxt._out_meta))
                    buf[idx] = _add(buf[idx], g)
                deps[nxt] -= 1
                if deps[nxt] == 0:
                    ready.append(nxt)
        queued = _callbacks.queue
        while queued:                   # a callback may queue another
            queued.pop(0)()
    finally:
        graph.set_grad_enabled_flag(prev_mode)
        _callbacks.queue = outer_callbacks

    if inputs is not None and not accumulate:
        for pos, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (inputs[{pos}], shape "
                    f"{list(inputs[pos]._shape)}) appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior.")
        return tuple(r if (r is None or create_graph) else r.detach() for r in results)
    return None


def _run_pre_hooks(node, grads):
    hooks = node._pre_hooks
    if hooks:
        grads = list(grads)
        for idx, fns in hooks.items():
            for fn in list(fns):
                if idx == -1:
                    r = fn(tuple(grads))
                    if r is not None:
                        grads = list(r)
                elif grads[idx] is not None:
                    r = fn(grads[idx])
                    if r is not None:
                        grads[idx] = r
    return grads


def _apply(node, grads, retain_graph):
    fn = node._fn
    if fn is None:
        raise RuntimeError(
            "Trying to backward through the graph a second time (or directly access saved "
            "tensors after they have already been freed). Saved intermediate values of the graph "
            "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
            "you need to backward through the graph a second time or if you need to access saved "
            "tensors after calling backward.")
    node.check_saved()
    if any(g is None for g in grads) and node.__dict__.get("materialize_grads", True):
        grads = [_zeros(m) if g is None else g for g, m in zip(grads, node._out_meta)]
    out = fn(*grads)
    if type(out) is not tuple:
        out = tuple(out) if isinstance(out, list) else (out,)
    if len(out) != len(node.next_functions):
        raise RuntimeError(f"{node.name()} returned {len(out)} gradients, expected "
                           f"{len(node.next_functions)}")
    if node._hooks:
        for hook in list(node._hooks):
            r = hook(out, tuple(grads))
            if r is not None:
                out = tuple(r)
    if mode.anomaly and mode.anomaly_check_nan:
        _check_nan(node, out)
    if not retain_graph:
        node.release()
    return out


# References to an incoming gradient inside _accumulate when only the engine holds it (its
# buffer list, the producing node's result tuple, this frame, getrefcount's argument); measured,
# and checked by tests/autograd/test_engine.py::test_grad_buffers_never_alias.
_ENGINE_ONLY_REFS = 5


def _owned(g):
    """True when nothing but the engine refers to ``g`` or to its storage, so ``.grad`` can take
    it without a copy (PyTorch's AccumulateGrad steals under the same condition)."""
    return (sys.getrefcount(g) <= _ENGINE_ONLY_REFS + 1 and sys.getrefcount(g._storage) <= 2
            and g._offset == 0 and g.is_contiguous() and g._storage.nbytes == g.nbytes)


def _accumulate(t, g, create_graph):
    if g is None:
        return
    owned = _owned(g)
    state = t._grad_state
    if state is not None:
        for hook in list(state.hooks):
            r = hook(g)
            if r is not None:
                g = r
    if not create_graph:
        g = g.detach()
    if g._shape != t._shape:
        g = expand(g, t._shape)
    if t.grad is None:
        # .grad must own its buffer: in-place updates of it (clipping, zero_) must not write into
        # a tensor someone else holds (the incoming grad of an add goes to both inputs; a user's
        # gradient= tensor can reach a leaf unchanged). Take it without a copy when it is ours.
        if create_graph or g.grad_fn is not None or (owned and g._shape == t._shape):
            t.grad = g
        else:
            t.grad = clone(g)
    else:
        t.grad = _add(t.grad, g)
    if state is not None:
        for hook in list(state.post_accumulate_hooks):
            hook(t)
