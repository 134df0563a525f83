"""``torch.xpu`` for code written as ``import clnet as torch``: Intel GPUs through SYCL.

clnet reaches Intel (and every other) GPU through OpenCL, as ``clnet.accelerator`` / "cuda"
devices, and has no separate XPU backend; so, like a PyTorch build without XPU support, no XPU
is available here and programs that test ``torch.xpu.is_available()`` take their other branch."""
from .errors import DeviceError

__all__ = ["is_available", "device_count", "is_initialized", "current_device", "synchronize",
           "manual_seed", "manual_seed_all", "empty_cache"]


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def _absent(what):
    raise DeviceError(f"torch.xpu.{what}(): no XPU device: clnet has no XPU backend (Intel GPUs "
                      "are OpenCL devices here: use clnet.accelerator or the 'cuda' device)")


def current_device():
    _absent("current_device")


def synchronize(device=None):
    _absent("synchronize")


def manual_seed(seed):
    """Ignored without an XPU, as in PyTorch (seeding an absent device is a no-op there)."""


manual_seed_all = manual_seed


def empty_cache():
    """Nothing is cached for an absent device (PyTorch returns without doing anything)."""
