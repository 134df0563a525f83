"""``torch.accelerator`` for code written as ``import clnet as torch``.

clnet's accelerator is the OpenCL GPUs, the same devices ``clnet.cuda`` names: with a GPU,
``current_accelerator()`` is the current one and the rest delegates to ``clnet.cuda`` (as torch's
delegates to its device module); without one, ``is_available()`` is False and
``current_accelerator()`` None, as on a CPU-only PyTorch, and PoCL's CPU device is not an
accelerator (it is clnet's "cpu"). Streams and graphs are not here: a clnet device has one
in-order queue.
"""
from . import cuda as _cuda
from .backend import devices as _devices
from .errors import DeviceError


def is_available():
    return _cuda.is_available()


def device_count():
    return _cuda.device_count()


def current_accelerator(check_available=False):
    """The current OpenCL GPU as a clnet device, or None when there is no GPU (torch returns the
    device type with no index; a clnet device always has one: this is the current GPU)."""
    gs = _devices.gpus()
    if not gs:
        return None
    return gs[_devices.current_gpu_index()]


_NONE = ("Cannot access accelerator device when none is available (clnet's accelerator is an "
         "OpenCL GPU and none was found).")


def _index(device, optional):
    if device is None:
        if not optional:
            raise TypeError("Expected a torch.device with a specified index or an integer, "
                            "but got: None")
        return current_device_index()
    if not _devices.gpus():
        raise DeviceError(_NONE)
    return _cuda._gpu_index(device)


def current_device_index():
    if not _devices.gpus():
        raise DeviceError(_NONE)
    return _devices.current_gpu_index()


def set_device_index(device, /):
    """Make ``device`` (an index, ``"cuda:N"`` or a GPU) the current accelerator device; a
    negative index does nothing, as in torch."""
    if isinstance(device, int) and not isinstance(device, bool) and device < 0:
        return
    _devices.set_current_gpu_index(_index(device, optional=False))


class device_index:
    """``with clnet.accelerator.device_index(1): ...``: GPU 1 is the current one inside the block;
    None changes nothing."""

    def __init__(self, device, /):
        self.idx = device
        self.prev_idx = -1

    def __enter__(self):
        if self.idx is not None:
            self.prev_idx = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc_info):
        if self.idx is not None:
            _devices.set_current_gpu_index(self.prev_idx)
        return False


def _gpu(device):
    return _devices.gpus()[_index(device, optional=True)]


def synchronize(device=None, /):
    """Wait for the work queued on an accelerator device (the current one by default)."""
    _gpu(device).synchronize()


def memory_allocated(device_index=None, /):
    return _cuda.memory_allocated(_gpu(device_index))


def max_memory_allocated(device_index=None, /):
    return _cuda.max_memory_allocated(_gpu(device_index))


def memory_reserved(device_index=None, /):
    return _cuda.memory_reserved(_gpu(device_index))


def memory_stats(device_index=None, /):
    return _cuda.memory_stats(_gpu(device_index))


def reset_peak_memory_stats(device_index=None, /):
    _cuda.reset_peak_memory_stats(_gpu(device_index))


def get_memory_info(device_index=None, /):
    return _cuda.mem_get_info(_gpu(device_index))


def empty_cache():
    current_device_index()      # raises, as torch's, when there is no accelerator
    _cuda.empty_cache()
