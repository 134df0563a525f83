"""``torch.cuda`` for code written as ``import clnet as torch``: "cuda" means the OpenCL GPUs.

``clnet.cuda.is_available()`` is True when an OpenCL GPU exists, and ``device("cuda")`` is the
first one, so ``device = "cuda" if torch.cuda.is_available() else "cpu"`` picks a GPU through
OpenCL when there is one and PoCL's CPU device otherwise."""
from .backend import devices as _devices, memory as _memory
from .errors import OutOfMemoryError  # noqa: F401 (torch.cuda.OutOfMemoryError)


def _gpus():
    return [d for d in _devices.devices() if d.kind == "GPU"]


def is_available():
    return bool(_gpus())


def device_count():
    return len(_gpus())


def current_device():
    gpus = _gpus()
    return gpus.index(_devices.device("cuda")) if gpus else 0


def get_device_name(device=None):
    d = _gpus()[device] if isinstance(device, int) else _devices.device(device or "cuda")
    return d.name


def synchronize(device=None):
    _devices.synchronize("cuda" if device is None else device)


def manual_seed(seed):
    from .ops.random import manual_seed as _seed
    return _seed(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None):
    return _memory.memory_allocated(device or "cuda")


def max_memory_allocated(device=None):
    return _memory.max_memory_allocated(device or "cuda")


def empty_cache():
    _memory.empty_cache()


def set_per_process_memory_fraction(fraction, device=None):
    _memory.set_per_process_memory_fraction(fraction, device or "cuda")
