"""Step capture and replay: PyTorch's CUDA-graph API (``torch.cuda.CUDAGraph``, ``graph``,
``make_graphed_callables``) on clnet's OpenCL devices, and ``graphed_step``, one line that
captures a whole training step.

A capture records instead of running: while ``Graph.capture_begin`` .. ``capture_end`` is open on
a device, every kernel launch passes through ``backend/launch.py`` to the capture, which keeps the
kernel and its arguments and runs nothing (PyTorch's semantics: capture records, ``replay`` runs).
``replay`` then enqueues the recorded launches in order with no Python dispatch per op: each
launch has a ``cl.Kernel`` of its own whose arguments were set once at ``capture_end``, so a
replay is a loop of ``clEnqueueNDRangeKernel``. Work whose arguments follow host state that
changes between runs (a generator's offset, an optimizer's step count and learning rate) was
recorded with ``enqueue_dynamic``/``host_step`` and recomputes them at each replay, in order, so a
replayed step draws new random numbers and uses the current learning rate exactly as an eager
step would: N replays give the same bits as N eager steps.

What a capture cannot follow it refuses with ``GraphCaptureError`` (a RuntimeError) naming it:
a host read of a device value (``.item()``, ``.numpy()``, printing, ``bool(t)``, a
synchronize, saving, ``nonzero``): a replay would not run the Python that looked at it; a second
capture while one is open; and, at replay, a watched tensor (a static input, a module's
parameter) that was resized or re-assigned since capture. Host-to-device uploads in a captured
region (``clnet.tensor(data)``) are recorded as copies of the values seen at capture, re-copied
at each replay. Launches on a device other than the capturing one, and from other threads, run
eagerly (as CUDA's other streams do).

Memory, as PyTorch's graph pools: what the capturing thread allocates during a capture comes from
the graph's own memory pool, which never returns a block to the driver and never hands one to a
tensor outside its captures. A block freed during the capture is reused by a later allocation
of the same capture, as eager steps reuse theirs (a replay runs the launches in the same order on
the in-order queue, so the reuse is the eager one); buffers allocated before the capture that a
recorded launch uses are kept alive by the graph. ``pool=other.pool()`` captures into another
graph's pool, which is safe when the graphs are replayed in the order they were captured
(PyTorch's rule). ``reset()`` or dropping the graph frees it all.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
import threading
import weakref

import pyopencl as cl
import pyopencl.tools as cl_tools

from .autograd import Function, grad as _autograd_grad
from .autograd.grad_mode import no_grad
from .backend.devices import default_device, device as _resolve_device
from .backend.memory import graph_reserved
from .nn.module import Module
from .ops.copy import clone, copy_into
from .ops.creation import ones_like
from .tensor import Tensor

__all__ = ["Graph", "CUDAGraph", "graph", "make_graphed_callables", "graphed_step", "GraphedStep",
           "is_current_stream_capturing", "graph_pool_handle", "GraphCaptureError"]

_CAPTURE_ERROR_MODES = ("global", "thread_local", "relaxed")
_STATIC, _DYNAMIC, _HOST = 0, 1, 2
_open_lock = threading.Lock()
_open = []          # the captures open now (at most one: nested captures are refused)


class GraphCaptureError(RuntimeError):
    """A capture met something a replay could not reproduce, or a replay met a change since
    capture; the message names it and what to do instead."""


class _GraphPool(cl_tools.MemoryPool):
    """A graph's memory: a pyopencl pool that remembers every block it made (``ptrs``: a recorded
    launch may name any of them) and never gives one back to the driver."""

    def __init__(self, dev):
        super().__init__(cl_tools.ImmediateAllocator(dev.queue))
        self.device = dev
        self.ptrs = set()
        # backend/memory.py counts the graphs' pools in the device's figures and limit
        if not hasattr(dev, "graph_pools"):
            dev.graph_pools = weakref.WeakSet()
        dev.graph_pools.add(self)
        weakref.finalize(self, graph_reserved, dev)

    def allocate(self, size):
        buf = super().allocate(size)
        self.ptrs.add(buf.int_ptr)
        return buf

    def free_held(self):
        pass   # backend/memory.py's out-of-memory retry: these blocks are the graphs' own


class _PoolHandle:
    """What ``Graph.pool()`` and ``graph_pool_handle()`` return: a memory pool that captures
    given it share (made on the first capture, on its device)."""

    __slots__ = ("graphs", "mempool")

    def __init__(self):
        self.graphs = 0
        self.mempool = None

    def for_device(self, dev):
        if self.mempool is None:
            self.mempool = _GraphPool(dev)
        elif self.mempool.device is not dev:
            raise GraphCaptureError(f"pool: this memory pool is on {self.mempool.device}, the "
                                    f"capture on {dev}; share pools between graphs of one device")
        return self.mempool

    def __repr__(self):
        return f"<clnet graph memory pool ({self.graphs} graphs)>"


def graph_pool_handle():
    """A new pool handle (``torch.cuda.graph_pool_handle``)."""
    return _PoolHandle()


# ================================================================== the capture
def _own_kernel(kernel):
    """A kernel object of its own for one recorded launch (its arguments are set once)."""
    k = cl.Kernel(kernel.program, kernel.function_name)
    k.set_scalar_arg_dtypes(kernel.clnet_arg_types)
    return k


class _Capture:
    """What ``dev.capture`` holds while a graph records (see backend/launch.py): the replay's
    entries in launch order, ``(tag, kernel, gsize, lsize, x)``: a kernel object of its own per
    launch (a static launch's arguments set now; ``x`` keeps the buffers allocated before the
    capture alive), the make_args of a dynamic launch, the function of a host step. Launches
    (and allocations) from threads other than the capturing one are not the capture's."""

    __slots__ = ("graph", "device", "mode", "thread", "entries", "flag_ops", "mempool")

    def __init__(self, graph, dev, mode, mempool):
        self.graph, self.device, self.mode, self.mempool = graph, dev, mode, mempool
        self.thread = threading.get_ident()
        self.entries = []
        self.flag_ops = tuple(getattr(dev, "_error_flag_ops", ()))

    def _elsewhere(self):
        return threading.get_ident() != self.thread

    def allocation_pool(self):
        """The pool backend/memory.py allocates from: the graph's, on the capturing thread."""
        return self.device._pool if self._elsewhere() else self.mempool

    def record(self, kernel, gsize, lsize, args):
        if self._elsewhere():
            kernel(self.device.queue, gsize, lsize, *args)
            return
        k = _own_kernel(kernel)
        k.set_args(*args)
        # the graph's own blocks live as long as its pool; a block freed during the capture may
        # serve a later allocation of it, so the entry must not keep its PooledBuffer alive
        ptrs = self.mempool.ptrs
        keep = tuple(a for a in args
                     if isinstance(a, cl.MemoryObjectHolder) and a.int_ptr not in ptrs)
        self.entries.append((_STATIC, k, gsize, lsize, keep))

    def record_dynamic(self, kernel, gsize, lsize, make_args):
        if self._elsewhere():
            kernel(self.device.queue, gsize, lsize, *make_args())
        else:
            self.entries.append((_DYNAMIC, _own_kernel(kernel), gsize, lsize, make_args))

    def record_host(self, fn):
        if self._elsewhere():
            fn()
        else:
            self.entries.append((_HOST, None, None, None, fn))

    def refusal(self, what):
        """The error for ``what`` met during this capture (None: another thread's read, which
        "thread_local" and "relaxed" capture modes let run)."""
        if self._elsewhere() and self.mode != "global":
            return None
        return GraphCaptureError(
            f"{what} during a graph capture on {self.device}: a captured step cannot read device "
            "values on the host, because a replay enqueues the recorded kernels without running "
            "the Python that would look at them. Move the read out of the captured region and "
            "read the static outputs after replay() (or run this step eagerly)")


# ================================================================== Graph
def _describe(t):
    return f"a tensor of shape {list(t._shape)} ({t.dtype})"


class Graph:
    """A captured sequence of launches on one device (``torch.cuda.CUDAGraph``).

    ``capture_begin()`` .. ``capture_end()`` (or ``with clnet.graphs.graph(g):``) records,
    ``replay()`` runs the recording, ``reset()`` drops it and its memory. ``watch(*tensors)``
    (clnet's addition) makes ``replay`` check that those tensors still have the storage and
    layout they had at capture: a replay writes the buffers it recorded, so a static input that
    was resized or re-assigned (``t.data = other``) would silently no longer be the one used.
    """

    def __init__(self, keep_graph: bool = False) -> None:
        self._capture: Optional[_Capture] = None
        self._steps: Optional[List[Tuple]] = None
        self._device = None
        self._flag_ops: Tuple[str, ...] = ()
        self._watched: List[Tuple[Tensor, Any, tuple, tuple, int]] = []
        self._pool = _PoolHandle()
        self._mempool: Optional[_GraphPool] = None    # the pool the capture allocated from
        self._launches = 0

    # ---------------------------------------------------------------- capture
    def capture_begin(self, pool: Optional[_PoolHandle] = None,
                      capture_error_mode: str = "global", *, device: Any = None) -> None:
        """Start recording the launches on ``device`` (clnet's default device by default)."""
        if capture_error_mode not in _CAPTURE_ERROR_MODES:
            raise ValueError(f"capture_error_mode must be one of {list(_CAPTURE_ERROR_MODES)}, "
                             f"got {capture_error_mode!r}")
        if pool is not None and not isinstance(pool, _PoolHandle):
            raise TypeError(f"pool must be a handle from Graph.pool() or graph_pool_handle(), got "
                            f"{type(pool).__name__}")
        if self._capture is not None:
            raise GraphCaptureError("capture_begin: this graph is already capturing; call "
                                    "capture_end() first")
        if self._steps is not None:
            raise GraphCaptureError("capture_begin: this graph already holds a capture; call "
                                    "reset() before capturing into it again")
        dev = default_device() if device is None else _resolve_device(device)
        with _open_lock:
            if _open:
                other = _open[0]
                raise GraphCaptureError(
                    f"capture_begin on {dev}: a capture is already open on {other.device} "
                    "(captures do not nest); end it (capture_end / leave its graph() block) "
                    "before beginning another")
            if dev.capture is not None:
                raise GraphCaptureError(f"capture_begin: {dev} is already being captured")
            cap = _Capture(self, dev, capture_error_mode,
                           (pool or self._pool).for_device(dev))
            _open.append(cap)
            dev.capture = cap
        self._capture, self._device = cap, dev
        if pool is not None:
            self._pool = pool
        self._pool.graphs += 1

    def _close(self):
        cap = self._capture
        with _open_lock:
            if cap in _open:
                _open.remove(cap)
            if cap.device.capture is cap:
                cap.device.capture = None
        self._capture = None
        graph_reserved(cap.device)      # what the capture added to its pool
        return cap

    def capture_end(self) -> None:
        """Stop recording and build the replay (a kernel object per launch, arguments set)."""
        if self._capture is None:
            raise GraphCaptureError("capture_end: no capture is open on this graph (call "
                                    "capture_begin() first)")
        cap = self._close()
        self._steps = cap.entries
        self._mempool = cap.mempool
        self._launches = sum(1 for e in cap.entries if e[0] != _HOST)
        # kernels that can report bad device data asked for the error flag while recording:
        # after each replay the next host read must check it, as after an eager step
        self._flag_ops = tuple(op for op in getattr(cap.device, "_error_flag_ops", ())
                               if op not in cap.flag_ops)

    def abort(self) -> None:
        """Drop an open capture (what ``graph`` does when its block raises)."""
        if self._capture is not None:
            self._close()
            self._pool.graphs -= 1

    # ---------------------------------------------------------------- replay
    def watch(self, *tensors: Tensor) -> "Graph":
        """Check at each replay that ``tensors`` keep their storage, shape, strides and offset."""
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"watch takes tensors, got {type(t).__name__}")
            self._watched.append((t, t._storage, t._shape, t._stride, t._offset))
        return self

    def _check_watched(self):
        for t, storage, shape, stride, offset in self._watched:
            if t._storage is not storage or t._shape != shape or t._stride != stride \
                    or t._offset != offset:
                raise GraphCaptureError(
                    f"replay: a tensor the graph uses changed since capture (it was "
                    f"{list(shape)} with strides {list(stride)}, it is now {_describe(t)} "
                    f"with strides {list(t._stride)}{'' if t._storage is storage else ' on another storage'}); "
                    "a replay writes the buffers it recorded. Copy new values into the tensor "
                    "in place (t.copy_(new)) instead of re-assigning or resizing it, or reset() "
                    "and capture again")

    def replay(self) -> None:
        """Enqueue the recorded launches (and run the recorded host steps) in order."""
        steps = self._steps
        if steps is None:
            raise GraphCaptureError("replay: nothing captured (capture_begin() .. capture_end() "
                                    "first)" if self._capture is None else
                                    "replay: the capture is still open; call capture_end() first")
        if self._watched:
            self._check_watched()
        dev = self._device
        if dev.capture is not None:
            raise GraphCaptureError(f"replay inside a capture on {dev}: graphs do not nest")
        queue = dev.queue
        enqueue = cl.enqueue_nd_range_kernel
        for tag, k, gsize, lsize, x in steps:
            if tag == _STATIC:
                enqueue(queue, k, gsize, lsize)
            elif tag == _DYNAMIC:
                k.set_args(*x())
                enqueue(queue, k, gsize, lsize)
            else:
                x()
        dev.launches += self._launches
        if self._flag_ops:
            ops = getattr(dev, "_error_flag_ops", ())
            dev._error_flag_ops = ops + tuple(op for op in self._flag_ops if op not in ops)

    def reset(self) -> None:
        """Drop the recording and release its memory (and any open capture)."""
        self.abort()
        if self._steps is not None:
            self._pool.graphs -= 1
        self._steps = None
        self._mempool = None
        self._pool = _PoolHandle()
        self._watched = []
        self._launches = 0

    def pool(self) -> _PoolHandle:
        return self._pool

    # ---------------------------------------------------------------- introspection
    @property
    def launches(self) -> int:
        """Kernel launches one replay enqueues."""
        return self._launches

    def enable_debug_mode(self) -> None:
        """Kept for PyTorch's API: clnet's recording is always inspectable (``debug_dump``)."""

    def debug_dump(self, debug_path: str) -> None:
        """Write the recording, one line per launch or host step, to ``debug_path``."""
        if self._steps is None:
            raise GraphCaptureError("debug_dump: nothing captured")
        with open(debug_path, "w", encoding="utf-8") as f:
            for i, (tag, k, gsize, lsize, _) in enumerate(self._steps):
                kind = ("launch", "dynamic launch", "host step")[tag]
                name = "" if k is None else f" {k.function_name} global={gsize} local={lsize}"
                f.write(f"{i}: {kind}{name}\n")

    def __repr__(self):
        state = ("capturing" if self._capture is not None else
                 "empty" if self._steps is None else f"{self._launches} launches")
        return f"<clnet.graphs.Graph {state}>"


CUDAGraph = Graph


class graph:
    """``with clnet.graphs.graph(g):`` captures the block into ``g`` (``torch.cuda.graph``).

    ``stream`` is accepted for PyTorch's API: a clnet device has one in-order queue, which every
    stream stands for. A block that raises drops the capture and lets the error through."""

    default_capture_stream = None

    def __init__(self, cuda_graph: Graph, pool: Optional[_PoolHandle] = None,
                 stream: Any = None, capture_error_mode: str = "global", *,
                 device: Any = None) -> None:
        if not isinstance(cuda_graph, Graph):
            raise TypeError(f"graph() takes a clnet.graphs.Graph (torch.cuda.CUDAGraph), got "
                            f"{type(cuda_graph).__name__}")
        self.cuda_graph = cuda_graph
        self.pool = pool
        self.capture_error_mode = capture_error_mode
        self.device = device if device is not None else getattr(stream, "device", None)

    def __enter__(self) -> None:
        self.cuda_graph.capture_begin(self.pool, capture_error_mode=self.capture_error_mode,
                                      device=self.device)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.cuda_graph.abort()
            return False
        self.cuda_graph.capture_end()
        return False


def is_current_stream_capturing() -> bool:
    """True inside a capture, on the thread that began it."""
    with _open_lock:
        return any(c.thread == threading.get_ident() for c in _open)


# ================================================================== graphed_step
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


# ================================================================== make_graphed_callables
def _params_of(c):
    return tuple(c.parameters()) if isinstance(c, Module) else ()


def _graph_callable(func, args, params, warmup, allow_unused):
    """Capture ``func``'s forward on ``args`` and its backward (autograd.grad of its outputs
    with respect to the inputs that require grad and ``params``); returns the graphed
    function."""
    surface = tuple(args) + tuple(params)
    needs = [t for t in surface if isinstance(t, Tensor) and t.requires_grad]
    for _ in range(warmup):     # eager warm-up (program builds, lazily made state)
        outs = func(*args)
        flat = [o for o in (outs if isinstance(outs, (tuple, list)) else (outs,))]
        diff = [o for o in flat if isinstance(o, Tensor) and o.requires_grad]
        if diff and needs:
            _autograd_grad(diff, needs, grad_outputs=[ones_like(o) for o in diff],
                           allow_unused=allow_unused)
        del outs, flat, diff
    fwd, bwd = Graph(), Graph()
    with graph(fwd):
        outs = func(*args)
    single = isinstance(outs, Tensor)
    flat_outs = (outs,) if single else tuple(outs)
    for i, o in enumerate(flat_outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"make_graphed_callables: output {i} is a {type(o).__name__}; "
                            "graphed callables return tensors (or tuples of them)")
    diff_outs = [o for o in flat_outs if o.requires_grad]
    with no_grad():
        static_grad_outputs = [clone(o.detach()) if o.requires_grad else None
                               for o in flat_outs]
    with graph(bwd):
        grads = _autograd_grad(diff_outs, needs,
                               grad_outputs=[g for g in static_grad_outputs if g is not None],
                               allow_unused=allow_unused) if diff_outs and needs else ()
    it = iter(grads)
    static_grad_inputs = tuple(next(it) if isinstance(t, Tensor) and t.requires_grad else None
                               for t in surface)
    static_outputs = tuple(o.detach() for o in flat_outs)
    fwd.watch(*[t for t in surface if isinstance(t, Tensor)])
    n_args = len(args)

    class Graphed(Function):
        @staticmethod
        def forward(ctx, *inputs):
            for i in range(n_args):
                if isinstance(surface[i], Tensor) and inputs[i] is not surface[i]:
                    if inputs[i]._shape != surface[i]._shape:
                        raise GraphCaptureError(
                            f"graphed callable: input {i} has shape {list(inputs[i]._shape)}, "
                            f"the graph was captured for {list(surface[i]._shape)}; make "
                            "another graphed callable for that shape")
                    copy_into(surface[i], inputs[i])
            fwd.replay()
            return tuple(o.detach() for o in static_outputs)

        @staticmethod
        def backward(ctx, *grad_outs):
            for g, s in zip(grad_outs, static_grad_outputs):
                if s is not None and g is not None and g is not s:
                    copy_into(s, g)
            bwd.replay()
            return tuple(None if g is None else g.detach() for g in static_grad_inputs)

    def functionalized(*user_args):
        out = Graphed.apply(*(tuple(user_args) + tuple(params)))
        return out[0] if single else out

    functionalized._graphs = (fwd, bwd)
    return functionalized


def make_graphed_callables(callables: Any, sample_args: Any, num_warmup_iters: int = 3,
                           allow_unused_input: bool = False, pool: Optional[_PoolHandle] = None
                           ) -> Any:
    """Graphed versions of ``callables`` (modules or functions; one, or a tuple with a tuple of
    sample argument tuples), as ``torch.cuda.make_graphed_callables``: each one's forward and
    its backward are captured once (after ``num_warmup_iters`` eager runs) and replayed at each
    call. A module comes back as itself with ``forward`` replaced (the graph runs while
    ``module.training`` is what it was at capture, the original forward otherwise); a function
    comes back as a graphed function. Inputs must have the sample arguments' shapes and dtypes;
    the sample arguments become the static inputs."""
    just_one = not isinstance(callables, tuple)
    if just_one:
        callables, sample_args = (callables,), (sample_args,)
    if len(callables) != len(sample_args):
        raise ValueError(f"make_graphed_callables: {len(callables)} callables but "
                         f"{len(sample_args)} sample argument tuples")
    out = []
    for c, args in zip(callables, sample_args):
        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        for i, a in enumerate(args):
            if not isinstance(a, Tensor):
                raise TypeError(f"make_graphed_callables: sample argument {i} is a "
                                f"{type(a).__name__}; sample_args hold tensors only")
        if isinstance(c, Module):
            if c._forward_hooks or c._forward_pre_hooks or c._backward_hooks:
                raise GraphCaptureError("make_graphed_callables: modules with hooks are not "
                                        "graphed (a replay would not run them); remove them")
            params = _params_of(c)
            for p in params:
                if not p.requires_grad:
                    raise GraphCaptureError("make_graphed_callables: every parameter of a "
                                            "graphed module must require grad")
            graphed = _graph_callable(c.forward, args, params, num_warmup_iters,
                                      allow_unused_input)
            c.forward = _module_forward(c, c.forward, graphed, c.training)
            out.append(c)
        else:
            out.append(_graph_callable(c, args, (), num_warmup_iters, allow_unused_input))
    return out[0] if just_one else tuple(out)


def _module_forward(module, orig, graphed, training):
    def forward(*args):
        if module.training == training:
            return graphed(*args)
        return orig(*args)
    return forward
