"""Step capture and replay: PyTorch's CUDA-graph API (``torch.cuda.CUDAGraph``, ``graph``,
``make_graphed_callables``) on clnet's OpenCL devices, and ``graphed_step``, one line that
captures a whole training step.

A capture records instead of running: while ``Graph.capture_begin`` .. ``capture_end`` is open on
a device, every kernel launch passes through ``backend/launch.py`` to the capture, which keeps the
kernel and its arguments and runs nothing (PyTorch's semantics: capture records, ``replay`` runs).
``replay`` then enqueues the recorded launches in order with no Python dispatch per op: each
launch has a ``cl.Kernel`` of its own whose arguments were set once, as it was recorded, so a
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

Modules: ``graph.py`` (the capture, Graph, graph(), the memory pools), ``step.py``
(graphed_step), ``callables.py`` (make_graphed_callables).
"""
from .callables import make_graphed_callables
from .graph import (CUDAGraph, Graph, GraphCaptureError, graph, graph_pool_handle,
                    is_current_stream_capturing)
from .step import GraphedStep, graphed_step

__all__ = ["Graph", "CUDAGraph", "graph", "make_graphed_callables", "graphed_step", "GraphedStep",
           "is_current_stream_capturing", "graph_pool_handle", "GraphCaptureError"]
