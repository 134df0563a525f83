"""Host-side randomness for data: shuffling, splits and random transforms use numpy Generators
seeded from an int or a clnet Generator, so runs are reproducible and need no device round trip.

Random transforms draw from ``current_rng()``: the DataLoader installs a generator seeded from
(its epoch seed, the batch number) around the loading of each batch, in whichever thread loads
it, so augmentations are the same on every run and on a resumed run."""
from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Iterator, Union

import numpy as np

from ..ops.generator import default_generator

if TYPE_CHECKING:
    from ..ops.generator import Generator

_local = threading.local()
_fallback = np.random.default_rng()

# what ``generator=`` arguments of clnet.data take (see numpy_rng)
RandomSource = Union[int, "Generator", np.random.Generator, None]


def numpy_rng(generator: RandomSource) -> np.random.Generator:
    """A new numpy Generator from an int seed, a clnet Generator (its seed and offset), a numpy
    Generator (returned as is) or None (clnet's default generator)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        generator = default_generator()
    if isinstance(generator, (bool, float)) or not hasattr(generator, "initial_seed") \
            and not isinstance(generator, (int, np.integer)):
        raise TypeError(f"expected an int seed, a clnet.Generator or a numpy Generator, got "
                        f"{type(generator).__name__}")
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator) & ((1 << 64) - 1))
    # a clnet Generator by now (the checker cannot narrow after default_generator(), untyped)
    return np.random.default_rng([generator.initial_seed(),
                                  generator.get_offset()])  # type: ignore[union-attr]


def current_rng() -> np.random.Generator:
    """The generator random transforms use: the loader's per-batch one, or an unseeded one when a
    dataset is indexed outside a DataLoader (pass ``generator=`` to a transform to fix it)."""
    return getattr(_local, "rng", None) or _fallback


@contextlib.contextmanager
def use_rng(rng: np.random.Generator) -> Iterator[np.random.Generator]:
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous
