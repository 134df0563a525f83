"""Samplers (``torch.utils.data.sampler``): the order in which a DataLoader visits a dataset.

Each is an iterable of indices (``BatchSampler``: of index lists) with ``__len__``, as in
PyTorch, and a DataLoader takes one as ``sampler=`` (or ``batch_sampler=``). Random samplers draw
on the host from a numpy Generator made from ``generator`` (an int seed, a clnet.Generator or a
numpy Generator; None: clnet's default generator, so ``clnet.manual_seed`` makes them
reproducible); the Generator is kept, so every pass over the sampler gives a new order.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Optional, Sequence, Sized, Union
import numbers

import numpy as np

from ._random import numpy_rng

if TYPE_CHECKING:
    from ._random import RandomSource

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (and ``__len__`` where they know it)."""

    def __init__(self, data_source: Optional[Sized] = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:   # indices, or lists of them (BatchSampler)
        raise TypeError(f"{type(self).__name__} must define __iter__ (Sampler is a base class)")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


class RandomSampler(Sampler):
    """A random permutation of the dataset's indices, or ``num_samples`` indices drawn with
    replacement when ``replacement=True``; without replacement and ``num_samples`` > len, whole
    permutations follow each other (PyTorch's rule)."""

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: Optional[int] = None, generator: RandomSource = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None:
            _positive_int("num_samples", num_samples)
        self._rng = numpy_rng(generator)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            return iter(self._rng.integers(0, n, size=k).tolist()) if n else iter(())
        out = [self._rng.permutation(n) for _ in range(k // n)] if n else []
        if n and k % n:
            out.append(self._rng.permutation(n)[:k % n])
        return iter(np.concatenate(out).tolist() if out else [])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order on every pass."""

    def __init__(self, indices: Sequence[int], generator: RandomSource = None) -> None:
        self.indices = indices
        self.generator = generator
        self._rng = numpy_rng(generator)

    def __iter__(self) -> Iterator[int]:
        for i in self._rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in [0, len(weights)) drawn with probabilities proportional to
    ``weights`` (with or without replacement), as ``torch.multinomial`` draws them."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: RandomSource = None) -> None:
        _positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement!r}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution: weights must be finite, "
                               "non-negative and not all zero")
        if not replacement and num_samples > len(w):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator
        self._rng = numpy_rng(generator)

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        k = self.num_samples
        if self.replacement:
            return iter(self._rng.choice(len(p), size=k, replace=True, p=p).tolist())
        # without replacement: the weighted order of the non-zero weights, then (as torch's
        # multinomial does once they run out) zero-weight indices in a random order
        nonzero = np.flatnonzero(p)
        first = self._rng.choice(nonzero, size=min(k, len(nonzero)), replace=False,
                                 p=p[nonzero])
        rest = self._rng.permutation(np.flatnonzero(p == 0))[:k - len(first)]
        return iter(np.concatenate([first, rest]).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last one shorter unless
    ``drop_last``."""

    def __init__(self, sampler: Union[Sampler, Iterable[int]], batch_size: int,
                 drop_last: bool) -> None:
        _positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[List[int]]:
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]  # len() of a sampler without one raises
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
