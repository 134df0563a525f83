"""Dataset classes (PyTorch's ``torch.utils.data`` names): map-style ``Dataset``, ``IterableDataset``,
``TensorDataset``, ``Subset``, ``ConcatDataset`` and ``random_split``.

Built-in datasets live on the host: items are numpy arrays and Python numbers, and the DataLoader
stacks a batch on the host and uploads each field once. A dataset may also offer
``get_batch(indices)`` returning an already stacked batch (a tuple of numpy arrays); the loader
then skips the per-item Python loop, which matters for 60,000-image epochs. ``TensorDataset``
holds clnet tensors, as in PyTorch (its items are tensors), and batches through a host copy.
"""
from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, NoReturn, Optional,
                    Sequence, Tuple, Union)
import bisect
import math

import numpy as np

from .. import dtypes
from ..backend.devices import default_device
from ..ops.copy import from_numpy_to
from ..tensor import Tensor
from ._random import numpy_rng

if TYPE_CHECKING:
    from ._random import RandomSource

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split"]


class Dataset:
    """A map-style dataset: ``__getitem__(i)`` for ``0 <= i < len(self)``."""

    def __getitem__(self, index: Any) -> Any:
        raise TypeError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream (``__iter__``); the DataLoader batches consecutive items and
    cannot shuffle it."""

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset) -> NoReturn:
        raise TypeError("IterableDatasets cannot be concatenated with +")


def _as_field(x, what):
    """(a TensorDataset field as a clnet tensor, its host copy or None): tensors are kept as
    given (as torch keeps them); numpy arrays and lists are uploaded once to the default device
    (float64 as float32 where the device has no fp64, as the DataLoader uploads host batches)
    and keep a host copy, so the loader never reads them back."""
    host = None
    if isinstance(x, Tensor):
        t = x
    else:
        a = np.asarray(x)
        dev = default_device()
        dt = dtypes.to_dtype(a.dtype)
        if dt is dtypes.float64 and not dev.has_fp64:
            dt = dtypes.float32
        host = np.array(a, dtype=dt.np)     # a copy: the caller may change its array later
        t = from_numpy_to(host, dev, dt)
    if t.dim() == 0:
        raise ValueError(f"TensorDataset: {what} is a scalar; every field needs a first "
                         f"(sample) dimension")
    return t, host


class TensorDataset(Dataset):
    """Samples are tuples of the i-th rows of the given tensors (all with the same first
    dimension), as in PyTorch: ``ds.tensors`` are the tensors given, and ``ds[i]``, ``ds[2:5]``
    or ``ds[[0, 3]]`` index every one of them (views on the device where the index allows).
    numpy arrays are accepted too and uploaded once.

    The DataLoader batches it through ``get_batch``: one numpy gather per field on a host copy
    and one upload per field, never per-sample items. Why not gather on the device: on PoCL a
    (128, 784) row gather by the indexing kernel takes ~1 ms, the numpy gather and its upload
    ~50 us (a 60,000-sample epoch went from 0.25 s to 0.63 s). The host copy is read once, on
    first use, and read again only after a field was changed (its storage's version moved)."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor or array")
        fields = [_as_field(t, f"field {i}") for i, t in enumerate(tensors)]
        self.tensors = tuple(t for t, _ in fields)
        sizes = [t.size(0) for t in self.tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: Size mismatch between tensors: all fields need "
                             f"the same first dimension, got sizes {sizes}")
        # per field: (the layout and version the copy was read at, numpy copy) or None
        self._host = [None if h is None else (self._key(t), h) for t, h in fields]

    @staticmethod
    def _key(t):
        return (t._storage, t._storage.version, t._offset, t._shape, t._stride, t.dtype)

    def __len__(self) -> int:
        return self.tensors[0].size(0)

    def __getitem__(self, index: Any) -> Tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def _host_copy(self, i):
        t = self.tensors[i]
        key = self._key(t)
        cached = self._host[i]
        if cached is None or any(a is not b and a != b for a, b in zip(cached[0], key)):
            if t.dtype is dtypes.bfloat16:
                raise TypeError(f"TensorDataset: tensor {i} is bfloat16, which the loader's host "
                                "batches (numpy) have no type for; keep the dataset in float32 "
                                "and cast each batch on the device (x.bfloat16())")
            cached = self._host[i] = (key, t.numpy())
        return cached[1]

    def get_batch(self, indices: Any) -> Tuple[Any, ...]:
        """The samples at ``indices`` stacked, as numpy arrays (the loader uploads them)."""
        idx = np.asarray(indices, dtype=np.int64)
        return tuple(self._host_copy(i)[idx] for i in range(len(self.tensors)))


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: Union[int, List[int]]) -> Any:
        if isinstance(idx, (list, tuple, np.ndarray)):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    @property
    def get_batch(self) -> Optional[Callable[[Sequence[int]], Any]]:
        # exposed only when the wrapped dataset has a batch path, so ``hasattr`` stays truthful
        inner = getattr(self.dataset, "get_batch", None)
        if inner is None:
            raise AttributeError("get_batch")
        return lambda indices: inner([self.indices[i] for i in indices])


class ConcatDataset(Dataset):
    """The items of several map-style datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        # map-style datasets define __len__ (Dataset itself does not declare it, as torch's)
        sizes = [len(d) for d in self.datasets]  # type: ignore[arg-type]
        self.cumulative_sizes = list(np.cumsum(sizes).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
            idx += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        if d >= len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


def random_split(dataset: Dataset, lengths: Sequence[Union[int, float]],
                 generator: RandomSource = None) -> List[Subset]:
    """Split ``dataset`` into non-overlapping ``Subset``s of the given lengths, or of the given
    fractions (summing to 1; remainders go round-robin to the first parts, as in PyTorch).
    ``generator``: an int seed, a clnet Generator or a numpy Generator (None: clnet's default
    generator's seed), so the same seed always gives the same split."""
    n = len(dataset)  # type: ignore[arg-type]  # a map-style dataset: it has __len__
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) and 0 <= x <= 1 for x in lengths) \
            and math.isclose(sum(lengths), 1) and sum(lengths) <= 1 + 1e-9:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of lengths {sum(lengths)} does not equal the "
                         f"length of the dataset ({n})")
    perm = numpy_rng(generator).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + int(length)].tolist()))
        start += int(length)
    return out
