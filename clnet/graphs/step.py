"""``graphed_step``: capture a whole training step in one line (see its docstring)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence

from ..autograd.grad_mode import no_grad
from ..backend.devices import default_device
from ..nn.module import Module
from ..ops.copy import clone, copy_into
from ..tensor import Tensor
from .graph import Graph, GraphCaptureError, graph

def _flatten(obj, out):
    """Append the leaves of nested tuples/lists/dicts to ``out``; returns the structure."""
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_flatten(o, out) for o in obj))
    if isinstance(obj, dict):
        return (dict, tuple((k, _flatten(v, out)) for k, v in obj.items()))
    out.append(obj)
    return None


def _unflatten(spec, leaves):
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, items = s
        if kind is dict:
            return {k: build(v) for k, v in items}
        return kind(build(v) for v in items)
    return build(spec)


def _leaf_key(op, i, x):
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise GraphCaptureError(
                f"{op}: argument {i} requires grad; its gradient would land on the graph's "
                "static copy. Pass inputs that do not require grad, or graph the function with "
                "make_graphed_callables (whose backward returns input gradients)")
        return ("tensor", x._shape, x.dtype, x._storage.device)
    try:
        hash(x)
    except TypeError:
        raise GraphCaptureError(
            f"{op}: argument {i} is a {type(x).__name__}, which is not a tensor and not "
            "hashable; graphs are kept per argument signature (tensor shapes, dtypes, devices "
            "and the other arguments' values), so pass tensors or hashable values") from None
    return ("value", type(x), x)


class _Signature:
    """One captured graph of a GraphedStep: its static inputs and outputs."""

    __slots__ = ("graph", "statics", "outputs")

    def __init__(self, graph, statics, outputs):
        self.graph, self.statics, self.outputs = graph, statics, outputs


class GraphedStep:
    """``graphed_step(fn)``'s callable: see there."""

    def __init__(self, fn: Callable[..., Any], warmup: int = 2, max_graphs: int = 4,
                 watch: Sequence[Any] = ()) -> None:
        if not callable(fn):
            raise TypeError(f"graphed_step: fn must be callable, got {type(fn).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"graphed_step: warmup must be an int >= 0, got {warmup!r}")
        if isinstance(max_graphs, bool) or not isinstance(max_graphs, int) or max_graphs < 1:
            raise ValueError(f"graphed_step: max_graphs must be an int >= 1, got {max_graphs!r}")
        self.fn, self.warmup, self.max_graphs = fn, warmup, max_graphs
        self._watch = list(watch) + ([fn] if isinstance(fn, Module) else [])
        self._graphs: Dict[tuple, _Signature] = {}
        self.calls = 0

    @property
    def graphs(self) -> Dict[tuple, Graph]:
        """The graphs captured so far, by argument signature."""
        return {k: s.graph for k, s in self._graphs.items()}

    def _watched_tensors(self):
        out = []
        for w in self._watch:
            if isinstance(w, Tensor):
                out.append(w)
            elif isinstance(w, Module):
                out.extend(w.parameters())
                out.extend(b for b in w.buffers() if b is not None)
            elif hasattr(w, "param_groups"):        # an optimizer: its parameters and states
                for group in w.param_groups:
                    out.extend(group["params"])
                for state in w.state.values():
                    out.extend(v for v in state.values() if isinstance(v, Tensor))
            else:
                raise TypeError(f"graphed_step: watch takes tensors, modules and optimizers, "
                                f"got {type(w).__name__}")
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.calls < self.warmup:
            self.calls += 1
            return self.fn(*args, **kwargs)
        leaves: List[Any] = []
        spec = _flatten((args, kwargs), leaves)
        key = (spec, tuple(_leaf_key("graphed_step", i, x) for i, x in enumerate(leaves)))
        sig = self._graphs.get(key)
        if sig is None:
            if len(self._graphs) >= self.max_graphs:
                shapes = [list(x._shape) for x in leaves if isinstance(x, Tensor)]
                raise GraphCaptureError(
                    f"graphed_step: a {len(self._graphs) + 1}th argument signature (tensor "
                    f"shapes {shapes}) would exceed max_graphs={self.max_graphs}; each shape "
                    "keeps a graph and its memory. Pad or bucket inputs to a few shapes, raise "
                    "max_graphs, or call the function eagerly")
            sig = self._capture(key, spec, leaves)
        else:
            for s, x in zip(sig.statics, leaves):
                if s is not None and s is not x:
                    copy_into(s, x)
        self.calls += 1
        sig.graph.replay()
        return sig.outputs

    def _capture(self, key, spec, leaves):
        devs = {x._storage.device for x in leaves if isinstance(x, Tensor)}
        if len(devs) > 1:
            raise GraphCaptureError(f"graphed_step: inputs on several devices "
                                    f"({sorted(map(str, devs))}); a graph captures one device")
        dev = devs.pop() if devs else default_device()
        with no_grad():
            statics = [clone(x) if isinstance(x, Tensor) else None for x in leaves]
        args, kwargs = _unflatten(spec, [s if s is not None else x
                                         for s, x in zip(statics, leaves)])
        g = Graph()
        with graph(g, device=dev):
            out = self.fn(*args, **kwargs)
        flat: List[Any] = []
        ospec = _flatten(out, flat)
        outputs = _unflatten(ospec, [o.detach() if isinstance(o, Tensor) and o.grad_fn is not None
                                     else o for o in flat])
        g.watch(*[s for s in statics if s is not None], *self._watched_tensors())
        sig = self._graphs[key] = _Signature(g, statics, outputs)
        return sig

    def reset(self) -> None:
        """Drop every graph (the next call captures again, without warm-up)."""
        for s in self._graphs.values():
            s.graph.reset()
        self._graphs = {}


def graphed_step(fn: Callable[..., Any], warmup: int = 2, *, max_graphs: int = 4,
                 watch: Sequence[Any] = ()) -> GraphedStep:
    """Capture ``fn`` (a whole training step: forward, loss, backward, optimizer step) once and
    replay it at every later call.

    ``step = clnet.graphs.graphed_step(train_step)``; ``loss = step(x, y)``. The first
    ``warmup`` calls run ``fn`` eagerly (they create the optimizer's state and build the kernels'
    programs: state created inside a capture would be re-made by every replay). The next call
    captures ``fn`` with static copies of its tensor arguments and replays it; every later call
    copies its tensors into the static ones, replays, and returns ``fn``'s outputs, the same
    tensor objects each time (static outputs: read them, or clone what you keep, before the
    next call). Arguments of another signature (tensor shapes, dtypes, devices; other
    arguments by value), such as a short last batch, capture a graph of their own, up to
    ``max_graphs``. ``watch`` lists modules, optimizers or tensors whose parameters, buffers and
    states must keep their storage (checked at each replay); a Module passed as ``fn`` is
    watched. ``fn`` must not read device values on the host (``loss.item()``): read the
    returned outputs instead."""
    return GraphedStep(fn, warmup, max_graphs, watch)
