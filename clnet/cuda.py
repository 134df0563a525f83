"""``torch.cuda`` for code written as ``import clnet as torch``: "cuda" means the OpenCL GPUs.

``clnet.cuda.is_available()`` is True when an OpenCL GPU exists; ``cuda:N`` is the N-th OpenCL GPU
in ``clnet.devices()`` order and a bare ``cuda`` the current one (``set_device``, default 0). So
``device = "cuda" if torch.cuda.is_available() else "cpu"`` picks a GPU through OpenCL when there
is one and PoCL's CPU device otherwise. Without a GPU the queries answer like a CPU-only PyTorch
(``device_count()`` 0, memory figures 0) and what needs a GPU raises ``clnet.DeviceError``.
"""
import sys

from .backend import devices as _devices, memory as _memory
from .errors import DeviceError, OutOfMemoryError  # noqa: F401 (torch.cuda.OutOfMemoryError)
from .amp import cuda as amp  # noqa: F401 (torch.cuda.amp: autocast/GradScaler for "cuda")
from . import graphs  # noqa: F401 (torch.cuda.graphs)
from .graphs import (graph_pool_handle, is_current_stream_capturing,  # noqa: F401
                     make_graphed_callables)

# `from torch.cuda.amp import GradScaler` imports the module path: this file is not a package
sys.modules[__name__ + ".amp"] = amp
sys.modules[__name__ + ".graphs"] = graphs


def is_available():
    return bool(_devices.gpus())


def device_count():
    return len(_devices.gpus())


def _gpu(device=None):
    """The OpenCL GPU a torch.cuda ``device`` argument names: None (the current GPU), an index
    among the GPUs, ``"cuda[:N]"``, or a clnet device / name that is a GPU."""
    if device is None or (isinstance(device, int) and not isinstance(device, bool)):
        return _devices.cuda_device(device, "cuda" if device is None else f"cuda:{device}")
    d = _devices.device(device)
    if d.kind != "GPU":
        raise DeviceError(f"{device!r} is {d} ({d.name}), a {d.kind} OpenCL device; torch.cuda "
                          f"functions take an OpenCL GPU ('cuda', 'cuda:N' or an index)")
    return d


def _gpu_index(device=None):
    return _devices.gpus().index(_gpu(device))


def current_device():
    """The index of the current GPU (what ``cuda`` names)."""
    return _gpu_index(None)


def set_device(device):
    """Make ``device`` (an index, ``"cuda:N"`` or a GPU) the GPU a bare ``cuda`` names. A negative
    index does nothing, as in torch."""
    if isinstance(device, int) and not isinstance(device, bool) and device < 0:
        return
    _devices.set_current_gpu_index(_gpu_index(device))


class device:
    """``with clnet.cuda.device(1): ...`` makes GPU 1 the current one inside the block."""

    def __init__(self, device):
        self.idx = None if device is None else _gpu_index(device)
        self.prev_idx = -1

    def __enter__(self):
        if self.idx is not None:
            self.prev_idx = _devices.current_gpu_index()
            _devices.set_current_gpu_index(self.idx)

    def __exit__(self, *exc_info):
        if self.idx is not None:
            _devices.set_current_gpu_index(self.prev_idx)
        return False


def get_device_name(device=None):
    return _gpu(device).name


class _DeviceProperties:
    """What ``get_device_properties`` reports, under torch's attribute names where OpenCL has
    the same figure (CUDA's compute capability and warp size have no OpenCL counterpart)."""

    def __init__(self, d):
        self.name = d.name
        self.total_memory = d.global_mem_size
        self.multi_processor_count = d.cl_device.max_compute_units
        self.is_integrated = bool(d.cl_device.host_unified_memory)
        self.L2_cache_size = d.cl_device.global_mem_cache_size

    def __repr__(self):
        return (f"_DeviceProperties(name='{self.name}', total_memory="
                f"{self.total_memory // (1 << 20)}MB, multi_processor_count="
                f"{self.multi_processor_count}, is_integrated={int(self.is_integrated)}, "
                f"L2_cache_size={self.L2_cache_size // (1 << 20)}MB)")


def get_device_properties(device=None):
    return _DeviceProperties(_gpu(device))


def is_bf16_supported(including_emulation=True):
    return False    # clnet has no bfloat16 dtype on any device


def synchronize(device=None):
    """Wait for the work queued on a GPU (the current one by default)."""
    _gpu(device).synchronize()


def manual_seed(seed):
    # one Philox generator serves every device, so seeding "the GPU's" seeds all of them
    from .ops.random import manual_seed as _seed
    return _seed(seed)


manual_seed_all = manual_seed


def _figure(fn, device):
    # a CPU-only PyTorch answers 0 when nothing names a device; so does clnet without a GPU
    if device is None and not _devices.gpus():
        return 0
    return fn(_gpu(device))


def memory_allocated(device=None):
    return _figure(_memory.memory_allocated, device)


def max_memory_allocated(device=None):
    return _figure(_memory.max_memory_allocated, device)


def memory_reserved(device=None):
    return _figure(_memory.memory_reserved, device)


def reset_peak_memory_stats(device=None):
    if device is not None or _devices.gpus():
        _memory.reset_peak_memory_stats(_gpu(device))


def memory_stats(device=None):
    """torch's keys for the figures clnet keeps (allocated and reserved bytes, peak allocated)."""
    if device is None and not _devices.gpus():
        return {}
    d = _gpu(device)
    stats = _memory.memory_stats(d)
    return {
        "allocated_bytes.all.current": stats["allocated_bytes"],
        "allocated_bytes.all.peak": _memory.max_memory_allocated(d),
        "reserved_bytes.all.current": stats["reserved_bytes"],
        "active.all.current": stats["active_blocks"],
    }


def mem_get_info(device=None):
    """(free, total) bytes: total is the GPU's global memory; free is what clnet's pool has not
    reserved of it (OpenCL cannot report other processes' use)."""
    d = _gpu(device)
    return max(d.global_mem_size - _memory.memory_reserved(d), 0), d.global_mem_size


def empty_cache():
    for d in _devices.gpus():
        _memory.empty_cache(d)


def set_per_process_memory_fraction(fraction, device=None):
    _memory.set_per_process_memory_fraction(fraction, _gpu(device))


# ---- CUDA graphs and streams ---------------------------------------------------------------------
def _capture_device(device=None):
    """Where a torch.cuda capture or stream runs: the current GPU, or, on a machine without an
    OpenCL GPU, clnet's default device (so a CUDA-graph program runs on PoCL's CPU device)."""
    if device is not None:
        return _devices.device(device) if not isinstance(device, int) else _gpu(device)
    return _gpu(None) if _devices.gpus() else _devices.default_device()


class CUDAGraph(graphs.Graph):
    """``torch.cuda.CUDAGraph``: a ``clnet.graphs.Graph`` that captures on the current GPU (the
    default device without one)."""

    def capture_begin(self, pool=None, capture_error_mode="global", *, device=None):
        super().capture_begin(pool, capture_error_mode, device=_capture_device(device))


class graph(graphs.graph):
    """``torch.cuda.graph``: ``clnet.graphs.graph`` on the current GPU (see CUDAGraph)."""

    def __init__(self, cuda_graph, pool=None, stream=None, capture_error_mode="global"):
        super().__init__(cuda_graph, pool, stream, capture_error_mode,
                         device=getattr(stream, "device", None) or _capture_device())


class Stream:
    """``torch.cuda.Stream``. A clnet device has one in-order queue, which every stream of it
    stands for: work on two streams runs in the order it was queued, so ``wait_stream`` and
    ``wait_event`` hold already, and a side stream is as safe as torch's for warm-ups."""

    def __init__(self, device=None, priority=0, **kwargs):
        self.device = _capture_device(device)
        self.priority = priority

    def wait_stream(self, stream):
        if not isinstance(stream, Stream):
            raise TypeError(f"wait_stream takes a Stream, got {type(stream).__name__}")

    def wait_event(self, event):
        pass   # one in-order queue: everything queued before the event is done first

    def synchronize(self):
        self.device.synchronize()

    def query(self):
        """True once the queue's work is done (this waits for it: OpenCL has no cheap probe
        of an in-order queue)."""
        self.device.synchronize()
        return True

    def __eq__(self, other):
        return isinstance(other, Stream) and other.device is self.device

    def __hash__(self):
        return hash(("stream", self.device))

    def __repr__(self):
        return f"<torch.cuda.Stream device={self.device} (the device's in-order queue)>"


def current_stream(device=None):
    return Stream(device)


default_stream = current_stream


class stream:
    """``with torch.cuda.stream(s):``: the device's queue is every stream's, so this only checks
    its argument."""

    def __init__(self, stream):
        if stream is not None and not isinstance(stream, Stream):
            raise TypeError(f"torch.cuda.stream takes a Stream or None, got "
                            f"{type(stream).__name__}")
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc_info):
        return False
