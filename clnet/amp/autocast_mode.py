"""``torch.autocast``: run listed ops in float16/bfloat16 (or float32) inside a region.

``device_type`` picks PyTorch's op lists: ``"cpu"`` torch's CPU lists (matmul/conv family in the
low dtype; losses, norms of matrices, pooling in 3-D... in float32; cat/stack/index_copy
promote; default dtype bfloat16), ``"cuda"`` torch's CUDA lists (also exp/log/pow, softmax,
log_softmax, sum, prod, cumsum, layer_norm, group_norm, norm in float32; default dtype float16).
clnet's own device type ``"cl"`` (also ``"opencl"``) picks the lists of the default device's kind:
CUDA's on an OpenCL GPU, CPU's on a CPU device. Every clnet tensor is an OpenCL tensor, so the
active autocast applies to tensors on any clnet device; when both "cpu" and "cuda" autocast are
on, the one entered last applies. The policies themselves are in clnet/ops/autocast.py.
"""
import functools
import warnings

from ..backend import devices as _devices
from ..dtypes import bfloat16, float16
from ..ops import autocast as _ac

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "set_autocast_enabled",
           "get_autocast_dtype", "set_autocast_dtype", "get_autocast_gpu_dtype",
           "get_autocast_cpu_dtype", "set_autocast_gpu_dtype", "set_autocast_cpu_dtype",
           "is_autocast_cpu_enabled", "set_autocast_cpu_enabled", "is_autocast_cache_enabled",
           "set_autocast_cache_enabled", "clear_autocast_cache", "autocast_increment_nesting",
           "autocast_decrement_nesting"]

_CL_NAMES = ("cl", "opencl")


def _table_name(device_type):
    """The op-list table a device type string selects (see the module docstring)."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    name = device_type.strip().lower()
    if name in _CL_NAMES:
        return "cuda" if _devices.default_device().kind == "GPU" else "cpu"
    if name not in _ac.POLICIES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}' "
                           f"(clnet's autocast takes 'cpu', 'cuda', 'cl' or 'opencl')")
    return name


def is_autocast_available(device_type):
    try:
        _table_name(device_type)
    except (ValueError, RuntimeError):
        return False
    return True


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` ("cuda" when left out, as torch's)."""
    return _ac.state.enabled[_table_name("cuda" if device_type is None else device_type)]


def set_autocast_enabled(device_type, enabled=None):
    if enabled is None:             # torch's old one-argument form: set_autocast_enabled(bool)
        device_type, enabled = "cuda", device_type
    _ac.set_enabled(_table_name(device_type), enabled)


def get_autocast_dtype(device_type):
    return _ac.state.dtype[_table_name(device_type)]


def set_autocast_dtype(device_type, dtype):
    _ac.set_dtype(_table_name(device_type), dtype)


def get_autocast_gpu_dtype():
    return get_autocast_dtype("cuda")


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


def set_autocast_gpu_dtype(dtype):
    set_autocast_dtype("cuda", dtype)


def set_autocast_cpu_dtype(dtype):
    set_autocast_dtype("cpu", dtype)


def is_autocast_cpu_enabled():
    return is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled):
    set_autocast_enabled("cpu", enabled)


def is_autocast_cache_enabled():
    return _ac.state.cache_enabled


def set_autocast_cache_enabled(enabled):
    _ac.state.cache_enabled = bool(enabled)


def clear_autocast_cache():
    _ac.clear_cache()


def autocast_increment_nesting():
    _ac.state.nesting += 1
    return _ac.state.nesting


def autocast_decrement_nesting():
    _ac.state.nesting -= 1
    return _ac.state.nesting


class autocast:
    """``with clnet.autocast("cpu", dtype=clnet.bfloat16): ...`` or ``@clnet.autocast("cuda")``.

    Inside, the listed ops of ``device_type``'s tables cast their floating inputs (see the module
    docstring); ``enabled=False`` turns autocast off for a nested region; ``cache_enabled``
    (default: the current setting, True) keeps one low-precision copy of each float32 leaf
    weight per region. Only float16 and bfloat16 are autocast dtypes: any other disables the
    region with torch's warning."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = device_type
        self._table = _table_name(device_type)
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = (is_autocast_cache_enabled() if cache_enabled is None
                               else bool(cache_enabled))
        if enabled and self.fast_dtype not in (bfloat16, float16):
            name = self._table.upper()
            warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling "
                          f"autocast.\n{name} Autocast only supports dtypes of clnet.bfloat16, "
                          f"clnet.float16 currently.", stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)

    def __enter__(self):
        s = _ac.state
        self.prev_cache_enabled = s.cache_enabled
        self.prev = s.enabled[self._table]
        self.prev_fastdtype = s.dtype[self._table]
        self.prev_order = list(s.order)
        s.dtype[self._table] = self.fast_dtype
        _ac.set_enabled(self._table, self._enabled)
        autocast_increment_nesting()
        s.cache_enabled = self._cache_enabled
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        s = _ac.state
        # drop the weight cache on leaving the outermost region, as torch does
        if autocast_decrement_nesting() == 0:
            _ac.clear_cache()
        s.enabled[self._table] = self.prev
        s.dtype[self._table] = self.prev_fastdtype
        s.order[:] = self.prev_order
        _ac._refresh()
        s.cache_enabled = self.prev_cache_enabled
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got {type(func).__name__}."
                            f" Did you mean to use autocast as a context manager? For example:\n"
                            f"    with torch.autocast(device_type=...):\n"
                            f"        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorate_autocast
