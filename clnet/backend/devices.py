"""OpenCL device discovery and naming; one context, one in-order queue and one memory pool per device.

A device is named ``cl:N`` (its index in ``clnet.devices()``), by a case-insensitive substring of
its platform or device name (``"pocl"``, ``"nvidia"``), or by type (``"cpu"``, ``"gpu"``).
``CLNET_DEVICE`` sets the default; without it the default is the first GPU, else the first CPU.
"""
import os
import re
import threading

import pyopencl as cl
import pyopencl.tools as cl_tools

from ..errors import DeviceError
from . import tuning
from .device_errors import check_device_errors
from .launch import refuse_in_capture

_lock = threading.Lock()
_devices = None
_default = None
_current_gpu = 0    # which OpenCL GPU a bare "cuda" names (torch.cuda.set_device's current one)


def _type_name(t):
    if t & cl.device_type.GPU:
        return "GPU"
    if t & cl.device_type.CPU:
        return "CPU"
    if t & cl.device_type.ACCELERATOR:
        return "ACCELERATOR"
    return "OTHER"


class Device:
    """One OpenCL device. Its context, queue and memory pool are created on first use."""

    def __init__(self, index, platform, cl_device):
        self.index = index
        self.platform = platform
        self.cl_device = cl_device
        self.name = cl_device.name.strip()
        self.platform_name = platform.name.strip()
        self.platform_vendor = platform.vendor.strip()
        self.kind = _type_name(cl_device.type)
        self.extensions = set(cl_device.extensions.split())
        self.has_fp64 = "cl_khr_fp64" in self.extensions or cl_device.double_fp_config != 0
        self.has_fp16 = "cl_khr_fp16" in self.extensions
        m = re.search(r"OpenCL C (\d+)\.(\d+)", cl_device.opencl_c_version or "")
        self.opencl_c_version = (int(m.group(1)), int(m.group(2))) if m else (1, 2)
        self.max_work_group_size = cl_device.max_work_group_size
        self.global_mem_size = cl_device.global_mem_size
        self.max_mem_alloc_size = cl_device.max_mem_alloc_size
        self.local_mem_size = cl_device.local_mem_size
        self._context = None
        self._queue = None
        self._pool = None
        self.peak_allocated = 0
        self._capture = None  # the clnet.graphs capture recording this device's launches, if any
        self.pending = None   # small elementwise ops not launched yet (kernels/chain.py)
        self.launches = 0     # kernels launched so far (backend/launch.py counts them)
        self.programs = {}    # (family, defines) -> backend.programs.Program, see programs.get_program
        self.tuning = {}      # per-device tuned parameters (GEMM tiles...), filled lazily by ops
        self._init_lock = threading.Lock()

    # -- lazily created OpenCL objects ---------------------------------------------------------
    def _init(self):
        with self._init_lock:
            if self._queue is not None:
                return
            try:
                ctx = cl.Context([self.cl_device])
                queue = cl.CommandQueue(ctx)  # in-order: kernels never need explicit events
            except cl.Error as e:
                raise DeviceError(f"cannot open OpenCL device {self}: {e}") from e
            self._pool = cl_tools.MemoryPool(cl_tools.ImmediateAllocator(queue))
            self._context = ctx
            self._queue = queue

    @property
    def context(self):
        if self._queue is None:
            self._init()
        return self._context

    @property
    def queue(self):
        """The in-order queue, with every queued small op launched (kernels/chain.py): whoever
        asks for the queue is about to use it directly (a copy to or from the host, say)."""
        pending = self.pending   # read once: another thread may launch it meanwhile
        if pending is not None:
            pending.flush()
        if self._queue is None:
            self._init()
        return self._queue

    @property
    def capture(self):
        """The ``clnet.graphs`` capture recording this device's launches, or None."""
        return self._capture

    @capture.setter
    def capture(self, cap):
        # ops queued before a capture begins belong to the eager run, those queued inside it to
        # the capture: launch them (or hand them to the capture) before the switch
        pending = self.pending   # read once: another thread may launch it meanwhile
        if pending is not None:
            pending.flush()
        self._capture = cap

    @property
    def pool(self):
        if self._queue is None:
            self._init()
        return self._pool

    def synchronize(self):
        refuse_in_capture(self, "synchronize()")
        pending = self.pending   # read once: another thread may launch it meanwhile
        if pending is not None:
            pending.flush()
        if self._queue is not None:
            self._queue.finish()
            check_device_errors(self)

    # -- PyTorch-like identity ----------------------------------------------------------------
    @property
    def type(self):
        return "cl"

    def __str__(self):
        return f"cl:{self.index}"

    def __repr__(self):
        return f"device(type='cl', index={self.index})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        return self is other

    def __hash__(self):
        return hash(("cl", self.index))

    def info(self):
        """Everything ``clnet devices`` shows, as a plain dict."""
        d = self.cl_device
        state, _ = tuning.status(self)
        return {
            "index": self.index,
            "name": f"cl:{self.index}",
            "platform": self.platform_name,
            "platform_version": self.platform.version.strip(),
            "device": self.name,
            "type": self.kind,
            "vendor": d.vendor.strip(),
            "opencl_version": d.version.strip(),
            "opencl_c_version": "%d.%d" % self.opencl_c_version,
            "driver_version": d.driver_version.strip(),
            "compute_units": d.max_compute_units,
            "clock_mhz": d.max_clock_frequency,
            "global_mem_bytes": d.global_mem_size,
            "local_mem_bytes": d.local_mem_size,
            "max_alloc_bytes": d.max_mem_alloc_size,
            "max_work_group_size": d.max_work_group_size,
            "fp16": self.has_fp16,
            "fp64": self.has_fp64,
            "default": self is _default_or_none(),
            # `clnet tune`'s file for this device: "tuned", "untuned" or "stale" (made under
            # another driver or clnet version, or unreadable: not used)
            "tuned": state == "tuned",
            "tuning": state,
            "tuning_file": tuning.cache_path(self),
        }


def _default_or_none():
    try:
        return default_device()
    except DeviceError:     # e.g. a CLNET_DEVICE that matches nothing: still list the devices
        return None


def devices():
    """All OpenCL devices of all platforms, in a stable order (platform, then device)."""
    global _devices
    if _devices is None:
        with _lock:
            if _devices is None:
                found = []
                try:
                    platforms = cl.get_platforms()
                except cl.Error:
                    platforms = []  # no ICD loader / no platform: reported below
                for p in platforms:
                    try:
                        devs = p.get_devices()
                    except cl.Error:
                        continue
                    for d in devs:
                        found.append(Device(len(found), p, d))
                _devices = found
    return _devices


def _describe_all():
    devs = devices()
    if not devs:
        return "no OpenCL devices were found (install 'pocl-binary-distribution' for a CPU device)"
    return "available devices: " + "; ".join(
        f"cl:{d.index} = {d.name} [{d.platform_name}, {d.kind}]" for d in devs)


def gpus():
    """The OpenCL GPUs, in ``devices()`` order: PyTorch's ``cuda:0``, ``cuda:1``, ..."""
    return [d for d in devices() if d.kind == "GPU"]


def cuda_device(index=None, spec="cuda"):
    """The OpenCL GPU that ``cuda:index`` names (``cuda`` alone: the current one)."""
    gs = gpus()
    if not gs:
        raise DeviceError(
            f"no OpenCL GPU was found, so {spec!r} names no device (clnet's 'cuda' is an OpenCL "
            f"GPU; a CPU-only PyTorch fails here with 'Torch not compiled with CUDA enabled'); "
            f"use 'cpu', or check torch.cuda.is_available() first; {_describe_all()}")
    i = _current_gpu if index is None else index
    if not 0 <= i < len(gs):
        raise DeviceError(f"{spec!r}: no OpenCL GPU with index {i}; there are {len(gs)} "
                          f"(cuda:0 to cuda:{len(gs) - 1}); {_describe_all()}")
    return gs[i]


def current_gpu_index():
    return _current_gpu


def set_current_gpu_index(index):
    """Make ``cuda`` name the index-th OpenCL GPU (``torch.cuda.set_device``)."""
    global _current_gpu
    cuda_device(index, f"cuda:{index}")     # raises when there is no such GPU
    _current_gpu = index


def device(spec=None, index=None):
    """Resolve a device name: a Device, ``cl:N``, ``N``, ``cuda[:N]``, ``cpu``/``gpu`` or a name
    substring; ``device("cuda", 1)`` is ``device("cuda:1")`` as in ``torch.device``."""
    if index is not None:
        if not isinstance(spec, str) or ":" in spec or isinstance(index, bool) \
                or not isinstance(index, int):
            raise TypeError(f"device(type, index): type must be a device type string without an "
                            f"index and index an int, got {spec!r}, {index!r}")
        if index < 0:
            raise ValueError(f"device index must not be negative, got {index}")
        return device(f"{spec}:{index}")
    if spec is None:
        return default_device()
    if isinstance(spec, Device):
        return spec
    devs = devices()
    if not devs:
        raise DeviceError(_describe_all())
    if isinstance(spec, int) and not isinstance(spec, bool):
        if 0 <= spec < len(devs):
            return devs[spec]
        raise DeviceError(f"no device with index {spec}; {_describe_all()}")
    if not isinstance(spec, str):
        raise TypeError(f"device must be a clnet device, a string or an int, got {type(spec).__name__}")
    s = spec.strip().lower()
    m = re.fullmatch(r"(?:cl|opencl)(?::(\d+))?", s)
    if m:
        if m.group(1) is None:
            return default_device()
        return device(int(m.group(1)))
    if s.isdigit():
        return device(int(s))
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if m:
        return cuda_device(None if m.group(1) is None else int(m.group(1)), spec)
    m = re.fullmatch(r"(cpu|gpu|accelerator)(?::(\d+))?", s)
    if m:
        of_kind = [d for d in devs if d.kind == m.group(1).upper()]
        i = int(m.group(2) or 0)
        if i < len(of_kind):
            return of_kind[i]
        what = f"{m.group(1).upper()} OpenCL device" + (f" with index {i}" if m.group(2) else "")
        raise DeviceError(f"no {what}; {_describe_all()}")
    for d in devs:
        # PoCL's platform is "Portable Computing Language" by vendor "The pocl project"
        if s in d.name.lower() or s in d.platform_name.lower() or s in d.platform_vendor.lower():
            return d
    raise DeviceError(f"no OpenCL device matches {spec!r}; {_describe_all()}")


def default_device():
    global _default
    if _default is None:
        env = os.environ.get("CLNET_DEVICE", "").strip()
        if env:
            try:
                _default = device(env)
            except DeviceError as e:
                raise DeviceError(f"CLNET_DEVICE={env!r}: {e}") from None
        else:
            devs = devices()
            if not devs:
                raise DeviceError(_describe_all())
            gpus = [d for d in devs if d.kind == "GPU"]
            cpus = [d for d in devs if d.kind == "CPU"]
            _default = (gpus or cpus or devs)[0]
    return _default


def set_default_device(spec):
    """Make ``spec`` the device new tensors go to (like ``torch.set_default_device``)."""
    global _default
    _default = device(spec)


def synchronize(spec=None):
    """Wait for all work queued on a device (all devices when ``spec`` is None)."""
    if spec is None:
        for d in devices():
            d.synchronize()
    else:
        device(spec).synchronize()
