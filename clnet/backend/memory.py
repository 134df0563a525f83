"""Device memory from pyopencl's memory pool: per-device accounting against a limit, host-memory
checks for CPU devices, and ``clnet.OutOfMemoryError`` instead of a crash.

Every allocation is checked before the driver is asked:

- a single buffer may not exceed CL_DEVICE_MAX_MEM_ALLOC_SIZE (the pool's rounded size counts:
  pyopencl's pool rounds a request up to its bin size, up to 1/16 more);
- the bytes the pool holds from the driver plus the new block may not exceed the device's limit:
  CL_DEVICE_GLOBAL_MEM_SIZE, times ``set_per_process_memory_fraction`` (like torch.cuda's), and
  at most ``CLNET_MEMORY_LIMIT`` (bytes, or with a unit: ``512MiB``, ``2G``; units are powers
  of 1024);
- on a CPU device, whose memory is host memory, the new block plus a margin (``_HOST_MARGIN``) must
  fit in the address space the process has left under RLIMIT_AS (``ulimit -v``) and in the
  host's available memory (MemAvailable, and a cgroup v2 ``memory.max``).

A check that fails empties the pool's cache (``empty_cache``) and is tried once more; then, and
when the driver itself fails the allocation after the same retry, ``OutOfMemoryError`` names the
size asked, what clnet has allocated and reserved on the device, and the limit it hit.

Why check the host before allocating: PoCL (measured with PoCL 3.0-rc2, LLVM 14, pthread
device, through pyopencl 2026.1) never reports a failed host allocation. ``clCreateBuffer`` is
lazy (no address space is used until first use); pyopencl's ImmediateAllocator maps the block at
creation (address space grows by the pool's block size, resident memory does not); when that
mapping fails under ``ulimit -v``, clCreateBuffer still returns success and the first fill
segfaults in a driver thread (``pocl_driver_memfill``), killing the process with exit code 139.
So the failure must be predicted, not caught.
"""
import os
import re
import resource

import pyopencl as cl

from ..errors import OutOfMemoryError
from .devices import device as _resolve, devices

LIMIT_ENV = "CLNET_MEMORY_LIMIT"

# Address space and host memory a CPU device keeps free beyond the block asked for: PoCL's driver
# threads (stacks, malloc arenas) and kernel builds map more as they run; we measured ~120 MiB
# for compiling a dozen op families and ~240 MiB once driver threads start on big fills.
_HOST_MARGIN = 256 << 20
# A request this large always checks the host; smaller ones check once this many new bytes have
# come from the driver since the last check (reading /proc costs ~10 us; a cached 4 KiB
# allocation costs ~0.5 us, so the small-request path must not read it every time).
_HOST_CHECK_BYTES = 4 << 20
_HOST_UNCHECKED = 32 << 20

# OpenCL status codes that mean "out of memory" (pyopencl raises some of them as cl.MemoryError).
_OOM_CODES = {
    -4,     # CL_MEM_OBJECT_ALLOCATION_FAILURE
    -5,     # CL_OUT_OF_RESOURCES
    -6,     # CL_OUT_OF_HOST_MEMORY
}


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024.0


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _parse_bytes(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m or (not m.group(2) and "." in m.group(1)):
        raise ValueError(f"{LIMIT_ENV}={text!r}: expected a number of bytes, optionally with a unit "
                         f"(K, M, G, T, powers of 1024), e.g. 512MiB or 2G")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class _Budget:
    """What one device may hold: its limit and how it was set, and the host-check bookkeeping."""

    __slots__ = ("limit", "fraction", "env_limit", "host", "unchecked")

    def __init__(self, dev):
        env = os.environ.get(LIMIT_ENV, "").strip()
        self.env_limit = _parse_bytes(env) if env else None
        self.fraction = 1.0
        self.host = dev.kind == "CPU"     # a CPU device's memory is the process's host memory
        self.unchecked = _HOST_UNCHECKED  # check the host on the first allocation
        self.limit = 0
        self.update(dev)

    def update(self, dev):
        limit = round(dev.global_mem_size * self.fraction)
        if self.env_limit is not None:
            limit = min(limit, self.env_limit)
        self.limit = limit

    def describe(self, dev):
        glob = f"{_fmt_bytes(dev.global_mem_size)} global memory (CL_DEVICE_GLOBAL_MEM_SIZE)"
        if self.env_limit is not None and self.env_limit <= dev.global_mem_size * self.fraction:
            return f"{LIMIT_ENV}={os.environ.get(LIMIT_ENV, '').strip()} (the device has {glob})"
        if self.fraction != 1.0:
            return f"set_per_process_memory_fraction({self.fraction:g}) of the device's {glob}"
        return f"the device's {glob}"


_budgets = {}   # device index -> _Budget


def _budget(dev):
    b = _budgets.get(dev.index)
    if b is None:
        b = _budgets[dev.index] = _Budget(dev)
    return b


# -- the host behind a CPU device ------------------------------------------------------------------
def _address_space_left():
    """(bytes of address space the process has left, its RLIMIT_AS) or None when unlimited."""
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", "rb") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
    except OSError:
        return None
    return soft - used, soft


def _read_int(path, key=None):
    try:
        with open(path, "rb") as f:
            if key is None:
                text = f.read().strip()
                return None if text == b"max" else int(text)
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024    # /proc/meminfo counts kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _host_available():
    """(bytes of host memory available to this process, where the figure comes from) or None."""
    found = []
    avail = _read_int("/proc/meminfo", b"MemAvailable:")
    if avail is not None:
        found.append((avail, "the host's available memory (MemAvailable)"))
    cap = _read_int("/sys/fs/cgroup/memory.max")
    if cap is not None:
        cur = _read_int("/sys/fs/cgroup/memory.current")
        if cur is not None:
            found.append((max(cap - cur, 0), f"the cgroup's memory.max of {_fmt_bytes(cap)}"))
    return min(found) if found else None


# -- allocation -------------------------------------------------------------------------------------
def graph_reserved(dev):
    """Bytes held by the memory pools of ``dev``'s graphs (clnet.graphs registers them in
    ``dev.graph_pools`` and calls this when a capture ends); kept in ``dev.graph_reserved``, and
    their tensors' bytes in ``dev.graph_active``, for the allocation's fast path."""
    pools = list(getattr(dev, "graph_pools", ()))
    dev.graph_active = sum(p.active_bytes for p in pools)
    dev.graph_reserved = total = sum(p.managed_bytes for p in pools)
    return total


def _reserved_elsewhere(dev, pool):
    """Bytes the device's other pools hold beside ``pool`` (the main pool, the graphs')."""
    total = 0
    for p in (dev._pool, *getattr(dev, "graph_pools", ())):
        if p is not None and p is not pool:
            total += p.managed_bytes
    return total


def _refusal(dev, pool, b, need):
    """Why a new block of ``need`` bytes must not be allocated now, or None when it fits."""
    if pool.managed_bytes + _reserved_elsewhere(dev, pool) + need > b.limit:
        return f"the limit is {_fmt_bytes(b.limit)}: {b.describe(dev)}"
    if b.host:
        left = _address_space_left()
        if left is not None and need + _HOST_MARGIN > left[0]:
            return (f"the device's memory is host memory and the process has only "
                    f"{_fmt_bytes(max(left[0], 0))} of address space left under its limit of "
                    f"{_fmt_bytes(left[1])} (RLIMIT_AS, ulimit -v), of which clnet keeps "
                    f"{_fmt_bytes(_HOST_MARGIN)} for the driver")
        avail = _host_available()
        if avail is not None and need + _HOST_MARGIN > avail[0]:
            return (f"the device's memory is host memory and only {_fmt_bytes(avail[0])} is "
                    f"available: {avail[1]}; clnet keeps {_fmt_bytes(_HOST_MARGIN)} of it free")
        b.unchecked = 0
    return None


def _oom(dev, pool, nbytes, need, why):
    allocated, reserved = pool.active_bytes, pool.managed_bytes
    asked = _fmt_bytes(nbytes)
    if need != nbytes:
        asked += f" (a {_fmt_bytes(need)} block from the pool)"
    err = OutOfMemoryError(
        f"{dev} ({dev.name}) out of memory. Tried to allocate {asked}; clnet has "
        f"{_fmt_bytes(allocated)} allocated by tensors and {_fmt_bytes(reserved)} reserved by its "
        f"pool on the device (blocks are rounded up to the pool's sizes; {pool.held_blocks} cached "
        f"free blocks left after emptying the cache); {why}. Free tensors you no longer need or "
        f"use smaller sizes.")
    err.requested_bytes, err.allocated_bytes, err.reserved_bytes = nbytes, allocated, reserved
    err.limit_bytes = _budget(dev).limit
    return err


def _is_oom(e):
    if isinstance(e, (cl.MemoryError, MemoryError)):
        return True
    code = getattr(e, "code", None)
    if code is None and e.args:
        code = getattr(e.args[0], "code", None)
    return code in _OOM_CODES


def _make_room(dev, pool, b, nbytes, need):
    """Raise OutOfMemoryError unless a new block of ``need`` bytes fits (after emptying the cache)."""
    if need > dev.max_mem_alloc_size:
        raise _oom(dev, pool, nbytes, need,
                   f"the largest single buffer this device allows is "
                   f"{_fmt_bytes(dev.max_mem_alloc_size)} (CL_DEVICE_MAX_MEM_ALLOC_SIZE; "
                   f"global memory {_fmt_bytes(dev.global_mem_size)})")
    why = _refusal(dev, pool, b, need)
    if why is not None and pool.held_blocks:
        pool.free_held()
        why = _refusal(dev, pool, b, need)
    if why is not None:
        raise _oom(dev, pool, nbytes, need, why)


def allocate(dev, nbytes):
    """A pooled buffer of ``nbytes`` on ``dev`` (None for 0 bytes: empty tensors own no buffer).

    Raises ``clnet.OutOfMemoryError`` (nothing allocated) when the block does not fit."""
    if nbytes == 0:
        return None
    cap = dev._capture
    # (the attribute skips the property on the hot path); a capture (clnet.graphs) allocates from
    # its graph's pool, whose blocks no tensor outside the graph may get
    pool = (dev._pool or dev.pool) if cap is None else cap.allocation_pool()
    b = _budgets.get(dev.index) or _budget(dev)
    # The pool's block is at most 1/16 bigger than asked (its default 4 leading bits per bin):
    # the bound keeps the common case to one comparison each; near a limit, the exact size.
    need = nbytes + (nbytes >> 4) + 16
    before = pool.managed_bytes
    other = getattr(dev, "graph_reserved", 0) if cap is None else _reserved_elsewhere(dev, pool)
    if (before + other + need > b.limit or need > dev.max_mem_alloc_size
            or (b.host and (nbytes >= _HOST_CHECK_BYTES or b.unchecked + need > _HOST_UNCHECKED))):
        need = pool.alloc_size(pool.bin_number(nbytes))
        _make_room(dev, pool, b, nbytes, need)
        before = pool.managed_bytes
    try:
        buf = pool.allocate(nbytes)
    except (cl.Error, MemoryError) as e:
        if not _is_oom(e):
            raise
        pool.free_held()
        try:
            buf = pool.allocate(nbytes)
        except (cl.Error, MemoryError) as e2:
            if not _is_oom(e2):
                raise
            raise _oom(dev, pool, nbytes, need,
                       f"the OpenCL driver could not allocate it ({e2})") from None
    if b.host:
        grown = pool.managed_bytes - before
        if grown > 0:
            b.unchecked += grown
    # the peak counts the graphs' tensors too (as of their capture's end: cheap on this path)
    active = (pool.active_bytes + getattr(dev, "graph_active", 0) if cap is None
              else memory_allocated(dev))
    if active > dev.peak_allocated:
        dev.peak_allocated = active
    return buf


# -- limits ------------------------------------------------------------------------------------------
def set_per_process_memory_fraction(fraction, device=None):
    """Let clnet hold at most ``fraction`` (0..1) of ``device``'s global memory, like
    ``torch.cuda.set_per_process_memory_fraction``: an allocation past it raises
    ``clnet.OutOfMemoryError`` before asking the driver. ``CLNET_MEMORY_LIMIT`` still caps it."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"set_per_process_memory_fraction(): fraction must be a float, "
                        f"got {type(fraction).__name__}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"set_per_process_memory_fraction(): invalid fraction {fraction}; "
                         f"allowed range: 0 to 1")
    d = _resolve(device)
    b = _budget(d)
    b.fraction = float(fraction)
    b.update(d)


def get_per_process_memory_fraction(device=None):
    return _budget(_resolve(device)).fraction


def memory_limit(device=None):
    """The bytes clnet may reserve on ``device``: its global memory times the per-process
    fraction, capped by ``CLNET_MEMORY_LIMIT`` (CPU devices also check host memory as they go)."""
    return _budget(_resolve(device)).limit


# -- usage figures -----------------------------------------------------------------------------------
def _pools(d):
    """The device's memory pools: the main one and its graphs' (clnet.graphs)."""
    return [p for p in (d._pool, *getattr(d, "graph_pools", ())) if p is not None]


def memory_allocated(device=None):
    """Bytes currently held by live tensors on ``device`` (default: the default device), and
    by the graphs captured on it (their memory is theirs until reset)."""
    d = _resolve(device)
    return sum(p.active_bytes for p in _pools(d))


def memory_reserved(device=None):
    """Bytes the pools hold from the driver: live tensors plus cached free blocks."""
    d = _resolve(device)
    return sum(p.managed_bytes for p in _pools(d))


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
    pools = _pools(d)
    return {
        "allocated_bytes": sum(p.active_bytes for p in pools),
        "reserved_bytes": sum(p.managed_bytes for p in pools),
        "active_blocks": sum(p.active_blocks for p in pools),
        "held_blocks": sum(p.held_blocks for p in pools),
        "device_global_mem_bytes": d.global_mem_size,
        "limit_bytes": _budget(d).limit,
    }
