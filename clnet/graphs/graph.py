"""The capture and its replay: ``Graph`` (torch.cuda.CUDAGraph), the ``graph`` context, the
recording ``backend/launch.py`` hands launches to, and the graphs' memory pools (see the
package's docstring)."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple
import threading
import weakref

import pyopencl as cl
import pyopencl.tools as cl_tools

from ..backend.devices import default_device, device as _resolve_device
from ..backend.memory import graph_reserved
from ..tensor import Tensor

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


class PoolHandle:
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
    return PoolHandle()


# ================================================================== the capture
def _own_kernel(kernel):
    """A kernel object of its own for one recorded launch (its arguments are set once)."""
    types = getattr(kernel, "clnet_arg_types", None)
    if types is None:
        raise GraphCaptureError(f"kernel {kernel.function_name!r} was not made by "
                                "backend.programs.Program.kernel, so its argument types are "
                                "unknown and its launch cannot be recorded")
    k = cl.Kernel(kernel.program, kernel.function_name)
    k.set_scalar_arg_dtypes(types)
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
        self._pool = PoolHandle()
        self._mempool: Optional[_GraphPool] = None    # the pool the capture allocated from
        self._launches = 0

    # ---------------------------------------------------------------- capture
    def capture_begin(self, pool: Optional[PoolHandle] = None,
                      capture_error_mode: str = "global", *, device: Any = None) -> None:
        """Start recording the launches on ``device`` (clnet's default device by default)."""
        if capture_error_mode not in _CAPTURE_ERROR_MODES:
            raise ValueError(f"capture_error_mode must be one of {list(_CAPTURE_ERROR_MODES)}, "
                             f"got {capture_error_mode!r}")
        if pool is not None and not isinstance(pool, PoolHandle):
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
                moved = "" if t._storage is storage else " on another storage"
                raise GraphCaptureError(
                    f"replay: a tensor the graph uses changed since capture (it was "
                    f"{list(shape)} with strides {list(stride)}, it is now {_describe(t)} "
                    f"with strides {list(t._stride)}{moved}); "
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
        self._pool = PoolHandle()
        self._watched = []
        self._launches = 0

    def pool(self) -> PoolHandle:
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

    def __init__(self, cuda_graph: Graph, pool: Optional[PoolHandle] = None,
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
