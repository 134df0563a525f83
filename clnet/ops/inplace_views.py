"""Autograd of in-place ops on views, as PyTorch does it (installed into ``graph.view_hooks``).

An in-place op recorded on a view ``v`` of ``base`` (``v = y[:, 0]; v.mul_(2)``, and so
``y[:, 0] *= 2``) gives three nodes:
- the op's own node, whose output is the view's new value (its inputs: the view as it was, and
  the op's other operands);
- ``CopySlices`` for ``base``: its new value is its old value outside the view and the op's
  result inside, so the gradient splits the same way (zeros inside for the old base, the region
  for the op's node);
- ``AsStridedBackward0`` for ``v``: from now on the view is a view of the new base.

A view whose storage changed after its history was set (an in-place op on its base or on
another view of it) gets the same ``AsStridedBackward0`` history from the base's current node
the next time an op uses it, so its gradient sees the change (``refresh``).

The view's place in its base is (shape, strides, offset from the base's start) in elements of a
contiguous tensor of the base's shape: graph.check_inplace only lets contiguous bases through,
so the same place applies to any contiguous gradient of the base.
"""
from .. import graph
from ..tensor import Tensor
from .copy import clone, contiguous, fill_into
from .creation import ones
from .views import _embed


def _place(view, base):
    """A function mapping a contiguous tensor of ``base``'s shape to the raw view at ``view``'s
    place in it."""
    shape, stride, rel = view._shape, view._stride, view._offset - base._offset

    def at(g):
        return Tensor._make(g._storage, shape, stride, g._offset + rel, g.dtype)
    return at


def _region(g, at, base_shape):
    """``at(g)`` as a new contiguous tensor, recorded (its gradient scatters back) when ``g``
    requires grad, for create_graph backward passes."""
    with_graph = graph.recording(g)
    prev = graph.set_grad_enabled_flag(False)
    try:
        r = contiguous(at(contiguous(g)))
        if r._storage is g._storage:
            r = clone(r)
    finally:
        graph.set_grad_enabled_flag(prev)
    if with_graph:
        graph.record("AsStridedBackward0", r, (g,), lambda gg: (_embed(gg, base_shape, at),))
    return r


def _view_node(view, base, at):
    """``view``'s history as a view of ``base``'s current one."""
    shape = base._shape
    return graph.node_class("AsStridedBackward0")(
        lambda g: (_embed(g, shape, at),), (graph.edge(base),), (),
        ((view._shape, view.dtype, view._storage.device),))


def rebase(view, op_node, out_nr=0):
    base = view._base
    at = _place(view, base)
    shape, dt, dev = base._shape, base.dtype, base._storage.device
    base_edge = graph.edge(base)
    base_needs = base_edge[0] is not None

    def backward(g):
        if graph.mode.grad_enabled:            # create_graph: differentiable in g
            prev = graph.set_grad_enabled_flag(False)
            try:
                keep = ones(shape, dtype=dt, device=dev)
                fill_into(at(keep), 0)
            finally:
                graph.set_grad_enabled_flag(prev)
            return (g * keep if base_needs else None), _region(g, at, shape)
        gc = contiguous(g)
        g_view = contiguous(at(gc))
        if g_view._storage is gc._storage:
            g_view = clone(g_view)
        g_base = None
        if base_needs:
            g_base = clone(gc) if gc._storage is g._storage else gc
            fill_into(at(g_base), 0)
        return g_base, g_view

    node = graph.node_class("CopySlices")(backward, (base_edge, (op_node, out_nr)), (),
                                          ((shape, dt, dev),))
    graph.set_history(base, node)
    graph.set_history(view, _view_node(view, base, at))


def refresh(view):
    if view._view_version < 0:     # NO_GRAD_VIEW / FUNCTION_VIEW: stays out of the graph
        return
    base = view._base
    view._view_version = view._storage.version
    if base.requires_grad and base.is_contiguous() and view.dtype.is_floating_point:
        graph.set_history(view, _view_node(view, base, _place(view, base)))


graph.view_hooks.rebase = rebase
graph.view_hooks.refresh = refresh
