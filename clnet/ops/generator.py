"""Generators for the Philox4x32-10 streams of cl_kernels/random.cl: the state, seeding and
PyTorch's module-level seed functions. The sampling ops live in ops/random.py.

A ``Generator`` is two host integers: a 64-bit seed (the Philox key) and an offset (the next
unused counter). A launch that uses c counters gets counters offset .. offset+c-1 and advances the
offset by c, so nothing is read back from the device and (seed, offset) fully determines every
later result. One default generator per device, seeded with PyTorch's default seed
(67280421310721) so that runs are reproducible even without ``manual_seed``.
"""
import contextlib
import os

import numpy as np

from .. import dtypes
from ..backend.devices import device as _device, devices as _all_devices
from ..errors import DeviceError
from ..tensor import Tensor
from .copy import from_numpy_to

DEFAULT_SEED = 67280421310721
_MASK64 = (1 << 64) - 1
_U64 = np.uint64


# ================================================================== generators
class Generator:
    """A Philox stream for one device: ``(seed, offset)``, both 64-bit, kept on the host."""

    def __init__(self, device=None):
        self.device = _device(device)
        self._seed = DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed):
        self._seed = _check_seed(seed)
        self._offset = 0
        return self

    def seed(self):
        """Seed from the OS's entropy; returns the new seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_offset(self):
        return self._offset

    def set_offset(self, offset):
        self._offset = int(offset) & _MASK64
        return self

    def get_state(self):
        """``(seed, offset)`` as an int64 tensor of 2 elements (64-bit values stored as their
        two's-complement bit patterns); ``set_state`` restores it exactly."""
        host = np.array([self._seed, self._offset], dtype=np.uint64).view(np.int64)
        return from_numpy_to(host, self.device, dtypes.int64)

    def set_state(self, state):
        """Accepts what ``get_state`` returns: an int64 tensor/array of (seed, offset), or the same
        16 bytes as a uint8 array."""
        a = state.numpy() if hasattr(state, "numpy") else np.asarray(state)
        a = np.asarray(a)
        if a.dtype == np.uint8 and a.size == 16:
            a = a.reshape(-1).view("<i8")
        if a.shape != (2,) or a.dtype.kind not in "iu":
            raise ValueError(f"Generator.set_state: expected 2 integers (seed, offset) or 16 "
                             f"bytes, got an array of shape {list(a.shape)} and dtype {a.dtype}")
        seed_, offset = (int(x) & _MASK64 for x in a.astype(np.int64))
        self._seed, self._offset = seed_, offset
        return self

    def _take(self, counters):
        """Reserve ``counters`` consecutive counters; returns (key, first counter)."""
        first = self._offset
        self._offset = (first + counters) & _MASK64
        return _U64(self._seed), _U64(first)

    def __repr__(self):
        return f"<clnet.Generator device={self.device} seed={self._seed} offset={self._offset}>"


def _check_seed(s):
    if isinstance(s, Tensor):
        s = s.item()
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(s).__name__}")
    s = int(s)
    if not -(1 << 63) <= s <= _MASK64:
        raise ValueError(f"manual_seed: seed must be within [-0x8000_0000_0000_0000, "
                         f"0xffff_ffff_ffff_ffff], got {s}")
    return s & _MASK64   # negative seeds wrap as in PyTorch (-1 -> 2**64 - 1)


_default_generators = {}


def default_generator(dev=None):
    dev = _device(dev)
    g = _default_generators.get(dev)
    if g is None:
        g = _default_generators[dev] = Generator(dev)
    return g


def manual_seed(seed):
    """Seed the default generator of every device; returns the default device's generator."""
    s = _check_seed(seed)
    for d in _all_devices():
        default_generator(d).manual_seed(s)
    return default_generator()


def seed():
    """Seed every device's default generator from the OS's entropy; returns the seed."""
    s = int.from_bytes(os.urandom(8), "little")
    manual_seed(s)
    return s


def initial_seed():
    return default_generator().initial_seed()


def get_rng_state(device=None):
    return default_generator(device).get_state()


def set_rng_state(new_state, device=None):
    default_generator(device).set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True):
    """Restore the default generators of ``devices`` (all by default) on exit."""
    if not enabled:
        yield
        return
    gens = [default_generator(d) for d in (_all_devices() if devices is None else devices)]
    saved = [(g._seed, g._offset) for g in gens]
    try:
        yield
    finally:
        for g, (s, o) in zip(gens, saved):
            g._seed, g._offset = s, o


def generator_for(op, generator, dev):
    """The generator a launch on ``dev`` uses (the device default when None); dev None only
    validates the type."""
    if generator is None:
        return default_generator(dev)
    if not isinstance(generator, Generator):
        raise TypeError(f"{op}: generator must be a clnet.Generator, got "
                        f"{type(generator).__name__}")
    if dev is not None and generator.device is not dev:
        raise DeviceError(f"{op}: the generator is for device {generator.device} but the tensor "
                          f"is on {dev}; create the Generator with device={str(dev)!r}")
    return generator


def philox4x32_10_host(key, counters):
    """Philox4x32-10 in numpy: words (len(counters), 4) uint64 (each < 2**32) of 64-bit
    ``counters`` under 64-bit ``key``, laid out as the kernel's (lo, hi, 0, 0) counters."""
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    counters = np.asarray(counters, dtype=np.uint64)
    c0, c1 = counters & m32, counters >> s32
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = key & 0xFFFFFFFF, (key >> 32) & 0xFFFFFFFF
    for r in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> s32) ^ c1 ^ np.uint64(k0), p1 & m32,
                          (p0 >> s32) ^ c3 ^ np.uint64(k1), p0 & m32)
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1)
