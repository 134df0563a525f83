"""Out of memory is an error, not a crash: per-device accounting against a limit, the host behind
a CPU device, the retry after emptying the cache, and ops that fail midway.

Every test here allocates at most a few hundred MiB for real; limits are made small instead (a
per-process fraction, ``CLNET_MEMORY_LIMIT``, a ``ulimit -v`` on a subprocess).
"""
import gc
import os
import resource
import subprocess
import sys
import textwrap

import pyopencl as cl
import pytest

import clnet
from clnet.backend import memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


@pytest.fixture
def cpu():
    """PoCL's CPU device (its memory is host memory), with no limit and an empty cache after."""
    d = clnet.device("cpu")
    gc.collect()
    memory.empty_cache(d)
    yield d
    memory._budgets.pop(d.index, None)      # forget a limit or a CLNET_MEMORY_LIMIT read here
    gc.collect()
    memory.empty_cache(d)


def limit_to(d, nbytes, reserved=None):
    """Leave ``nbytes`` of room past what the pool holds now (or past ``reserved``): tensors of
    other tests may still be alive when this one runs. Returns the limit set."""
    base = memory.memory_reserved(d) if reserved is None else reserved
    memory.set_per_process_memory_fraction((base + nbytes) / d.global_mem_size, d)
    limit = memory.memory_limit(d)
    assert abs(limit - (base + nbytes)) <= 1
    return limit


fmt = memory._fmt_bytes


def floats(nbytes):
    return nbytes // 4


# -- the repro: a process under ulimit -v ------------------------------------------------------
REPRO = textwrap.dedent("""
    import sys, clnet
    ts = []
    try:
        for i in range(20):                      # 20 x 64 MiB at most: the limit stops it first
            ts.append(clnet.ones(16 << 20))
            assert ts[-1][-1].item() == 1.0
    except clnet.OutOfMemoryError as e:
        print("allocated", len(ts))
        print("MESSAGE", e)
        del ts[:]                                 # freeing makes room again
        again = clnet.ones(16 << 20)
        print("again", again[-1].item())
        sys.exit(3)
    print("no error")
""")


def test_out_of_address_space_raises_instead_of_segfaulting():
    # PoCL maps a block at creation; when the mapping fails under RLIMIT_AS it still reports
    # success and the first fill segfaults (exit 139). clnet must refuse before that.
    limit = 1_500_000 * 1024                      # `ulimit -v 1500000`

    def preexec():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CLNET_MEMORY_LIMIT", None)
    p = subprocess.run([sys.executable, "-c", REPRO], cwd=ROOT, env=env, preexec_fn=preexec,
                       capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode != -11 and p.returncode != 139, f"segfault:\n{out}"
    assert p.returncode == 3, out
    assert int(out.split("allocated ")[1].split()[0]) >= 1, out
    msg = out.split("MESSAGE ")[1].splitlines()[0]
    assert "out of memory" in msg and "Tried to allocate 64.00 MiB" in msg, msg
    assert "allocated by tensors" in msg and "reserved" in msg, msg
    assert "RLIMIT_AS" in msg and "1.43 GiB" in msg, msg       # the limit, named
    assert "again 1.0" in out, out


# -- per-device accounting -----------------------------------------------------------------------
def test_allocating_past_the_limit_raises_before_allocating(cpu):
    limit = limit_to(cpu, 64 * MiB)
    a = clnet.ones(floats(32 * MiB), device=cpu)
    allocated, reserved = memory.memory_allocated(cpu), memory.memory_reserved(cpu)
    with pytest.raises(clnet.OutOfMemoryError) as info:
        clnet.empty(floats(32 * MiB), device=cpu)
    e = info.value
    assert isinstance(e, clnet.DeviceError) and isinstance(e, RuntimeError)
    # nothing was asked of the driver
    assert memory.memory_allocated(cpu) == allocated and memory.memory_reserved(cpu) == reserved
    msg = str(e)
    assert "Tried to allocate 32.00 MiB" in msg, msg
    assert f"{fmt(allocated)} allocated by tensors" in msg, msg
    assert f"{fmt(reserved)} reserved" in msg, msg
    assert f"the limit is {fmt(limit)}" in msg and "set_per_process_memory_fraction" in msg, msg
    assert (e.requested_bytes, e.allocated_bytes, e.limit_bytes) == (32 * MiB, allocated, limit)
    assert a[-1].item() == 1.0


def test_freeing_makes_room_again(cpu):
    base = memory.memory_allocated(cpu)
    limit_to(cpu, 64 * MiB)
    a = clnet.ones(floats(40 * MiB), device=cpu)
    with pytest.raises(clnet.OutOfMemoryError):
        clnet.ones(floats(40 * MiB), device=cpu)
    del a
    gc.collect()
    b = clnet.full((floats(40 * MiB),), 2.0, device=cpu)
    assert b[-1].item() == 2.0
    assert memory.memory_allocated(cpu) == base + 40 * MiB


def test_cached_blocks_are_freed_and_the_allocation_retried(cpu):
    base, base_reserved = memory.memory_allocated(cpu), memory.memory_reserved(cpu)
    limit_to(cpu, 64 * MiB)
    a = clnet.ones(floats(48 * MiB), device=cpu)
    del a
    gc.collect()
    assert memory.memory_allocated(cpu) == base
    assert memory.memory_reserved(cpu) >= base_reserved + 48 * MiB   # the block stays cached
    b = clnet.ones(floats(40 * MiB), device=cpu)          # cached 48 + new 40 > 64: empty, retry
    assert b[-1].item() == 1.0
    assert memory.memory_allocated(cpu) == base + 40 * MiB
    assert memory.memory_reserved(cpu) < base_reserved + 48 * MiB


class _FailingPool:
    """The device's pool, except that the driver fails the next ``failures`` allocations."""

    def __init__(self, pool, failures):
        self._real, self.failures, self.freed = pool, failures, 0

    def allocate(self, nbytes):
        if self.failures:
            self.failures -= 1
            raise cl.MemoryError("clCreateBuffer failed: MEM_OBJECT_ALLOCATION_FAILURE")
        return self._real.allocate(nbytes)

    def free_held(self):
        self.freed += 1
        self._real.free_held()

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def failing_pool(cpu):
    real = cpu.pool
    fakes = []

    def install(failures):
        fakes.append(_FailingPool(real, failures))
        cpu._pool = fakes[-1]
        return fakes[-1]
    yield install
    cpu._pool = real


def test_a_driver_failure_empties_the_cache_and_retries_once(cpu, failing_pool):
    pool = failing_pool(1)                     # fails once: the retry succeeds
    t = clnet.ones(1000, device=cpu)
    assert pool.freed == 1 and t[-1].item() == 1.0
    pool = failing_pool(2)                     # fails twice: out of memory
    with pytest.raises(clnet.OutOfMemoryError) as info:
        clnet.ones(1000, device=cpu)
    assert pool.freed == 1
    msg = str(info.value)
    assert "Tried to allocate 3.91 KiB" in msg and "MEM_OBJECT_ALLOCATION_FAILURE" in msg, msg


def test_an_op_that_fails_midway_leaves_nothing_allocated(cpu):
    before = memory.memory_reserved(cpu)
    x = clnet.randn(floats(24 * MiB), device=cpu)
    # room for x and one more buffer, not for sort's values + indices
    limit_to(cpu, 60 * MiB, reserved=before)
    base = memory.memory_allocated(cpu)
    memory.reset_peak_memory_stats(cpu)
    try:
        x.sort()
        raise AssertionError("sort fitted in 60 MiB")
    except clnet.OutOfMemoryError:
        pass
    gc.collect()
    assert memory.max_memory_allocated(cpu) > base, "the op failed before allocating anything"
    assert memory.memory_allocated(cpu) == base


def test_a_single_buffer_past_max_mem_alloc_size_is_out_of_memory(cpu):
    with pytest.raises(clnet.OutOfMemoryError) as info:
        clnet.empty(cpu.max_mem_alloc_size // 4 + 1, device=cpu)
    assert "CL_DEVICE_MAX_MEM_ALLOC_SIZE" in str(info.value)


# -- the knobs -------------------------------------------------------------------------------------
def test_clnet_memory_limit_env(cpu, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "40MiB")
    memory._budgets.pop(cpu.index, None)          # read again, as on a process's first allocation
    assert memory.memory_limit(cpu) == 40 * MiB
    a = clnet.ones(floats(32 * MiB), device=cpu)
    with pytest.raises(clnet.OutOfMemoryError) as info:
        clnet.ones(floats(16 * MiB), device=cpu)
    assert "the limit is 40.00 MiB: CLNET_MEMORY_LIMIT=40MiB" in str(info.value)
    assert a[0].item() == 1.0
    monkeypatch.setenv(memory.LIMIT_ENV, "lots")
    memory._budgets.pop(cpu.index, None)
    with pytest.raises(ValueError, match="CLNET_MEMORY_LIMIT='lots'"):
        clnet.ones(4, device=cpu)


def test_memory_fraction_is_validated(cpu):
    with pytest.raises(ValueError, match="fraction"):
        memory.set_per_process_memory_fraction(1.5, cpu)
    memory.set_per_process_memory_fraction(0.5, cpu)
    assert memory.get_per_process_memory_fraction(cpu) == 0.5
    assert memory.memory_limit(cpu) == round(cpu.global_mem_size * 0.5)
    assert memory.memory_stats(cpu)["limit_bytes"] == memory.memory_limit(cpu)


def test_host_memory_is_checked_for_a_cpu_device(cpu, monkeypatch):
    monkeypatch.setattr(memory, "_host_available",
                        lambda: (300 * MiB, "the host's available memory (MemAvailable)"))
    reserved = memory.memory_reserved(cpu)
    with pytest.raises(clnet.OutOfMemoryError) as info:
        clnet.empty(floats(64 * MiB), device=cpu)      # 64 MiB + the 256 MiB margin > 300 MiB
    msg = str(info.value)
    assert "only 300.00 MiB is available" in msg and "MemAvailable" in msg, msg
    assert memory.memory_reserved(cpu) == reserved


def test_the_memory_fraction_is_reachable_under_torch_names():
    import clnet.backend.memory as memory
    assert clnet.set_per_process_memory_fraction is memory.set_per_process_memory_fraction
    assert clnet.get_per_process_memory_fraction is memory.get_per_process_memory_fraction
    assert clnet.cuda.OutOfMemoryError is clnet.OutOfMemoryError
    assert issubclass(clnet.OutOfMemoryError, RuntimeError)
