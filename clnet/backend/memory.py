"""Device memory from pyopencl's memory pool, with clear out-of-memory errors and usage figures."""
import pyopencl as cl

from ..errors import DeviceError
from .devices import device as _resolve, devices


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024.0


def allocate(dev, nbytes):
    """A pooled buffer of ``nbytes`` on ``dev`` (None for 0 bytes: empty tensors own no buffer)."""
    if nbytes == 0:
        return None
    if nbytes > dev.max_mem_alloc_size:
        raise DeviceError(
            f"out of memory on {dev} ({dev.name}): tried to allocate {_fmt_bytes(nbytes)}, but the "
            f"largest single buffer this device allows is {_fmt_bytes(dev.max_mem_alloc_size)} "
            f"(global memory {_fmt_bytes(dev.global_mem_size)})")
    pool = dev._pool or dev.pool      # (the attribute skips the property on the hot path)
    try:
        buf = pool.allocate(nbytes)
    except (cl.MemoryError, cl.RuntimeError) as e:
        pool.free_held()
        try:
            buf = pool.allocate(nbytes)
        except (cl.MemoryError, cl.RuntimeError):
            raise DeviceError(
                f"out of memory on {dev} ({dev.name}): tried to allocate {_fmt_bytes(nbytes)}; "
                f"{_fmt_bytes(pool.active_bytes)} in use by clnet tensors, device global memory "
                f"{_fmt_bytes(dev.global_mem_size)} ({e})") from None
    active = pool.active_bytes
    if active > dev.peak_allocated:
        dev.peak_allocated = active
    return buf


def memory_allocated(device=None):
    """Bytes currently held by live tensors on ``device`` (default: the default device)."""
    d = _resolve(device)
    return d._pool.active_bytes if d._pool is not None else 0


def memory_reserved(device=None):
    """Bytes the pool holds from the driver: live tensors plus cached free blocks."""
    d = _resolve(device)
    return d._pool.managed_bytes if d._pool is not None else 0


def max_memory_allocated(device=None):
    """The peak of ``memory_allocated`` since start or the last ``reset_peak_memory_stats``."""
    return _resolve(device).peak_allocated


def reset_peak_memory_stats(device=None):
    d = _resolve(device)
    d.peak_allocated = memory_allocated(d)


def empty_cache(device=None):
    """Return cached free blocks to the driver (all devices when ``device`` is None)."""
    targets = devices() if device is None else [_resolve(device)]
    for d in targets:
        if d._pool is not None:
            d._pool.free_held()


def memory_stats(device=None):
    d = _resolve(device)
    p = d._pool
    return {
        "allocated_bytes": p.active_bytes if p else 0,
        "reserved_bytes": p.managed_bytes if p else 0,
        "active_blocks": p.active_blocks if p else 0,
        "held_blocks": p.held_blocks if p else 0,
        "device_global_mem_bytes": d.global_mem_size,
    }
