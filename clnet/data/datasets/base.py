"""``ArrayDataset``: the common shape of the built-in datasets (features and labels held as numpy
arrays, optional per-sample transforms, a batch fast path for the DataLoader) and the
deterministic train/test split they share."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Tuple
import numpy as np

from ..collate import default_collate
from ..dataset import Dataset

if TYPE_CHECKING:
    from ...tensor import Tensor

SPLITS = ("train", "test", "all")


class ArrayDataset(Dataset):
    """Items ``(x, y)``: ``x = transform(features[i])`` and ``y = target_transform(labels[i])``.

    Subclasses may override ``_convert`` to store compact arrays (uint8 images) and convert on
    access (to float32 in [0, 1])."""

    def __init__(self, data: np.ndarray, targets: np.ndarray,
                 transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None) -> None:
        if len(data) != len(targets):
            raise ValueError(f"{type(self).__name__}: {len(data)} samples but {len(targets)} "
                             f"labels")
        self.data = data
        self.targets = targets
        self.transform = transform
        self.target_transform = target_transform

    def _convert(self, x):
        return x

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for "
                             f"{len(self)} samples")
        x, y = self._convert(self.data[index]), self.targets[index]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def get_batch(self, indices: Sequence[int]) -> Tuple[Any, ...]:
        """``(features, labels)`` of ``indices`` stacked: one fancy-indexing gather when there are
        no transforms, otherwise the transformed samples stacked."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.transform is None and self.target_transform is None:
            return self._convert(self.data[idx]), self.targets[idx]
        return tuple(default_collate([self[int(i)] for i in idx]))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}: {len(self)} samples, features "
                f"{tuple(np.shape(self.data)[1:])} {np.asarray(self.data[:0]).dtype}>")


def check_split(name: str, split: str, allowed: Sequence[str] = SPLITS) -> str:
    if split not in allowed:
        raise ValueError(f"{name}: unknown split {split!r}; expected one of "
                         f"{', '.join(map(repr, allowed))}")
    return split


def split_indices(n: int, split: str, test_fraction: float, seed: int) -> np.ndarray:
    """Deterministic split of ``range(n)``: a permutation from ``seed``, its first
    ``1 - test_fraction`` for 'train' and the rest for 'test' ('all': every index in order)."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if split == "all":
        return np.arange(n)
    perm = np.random.default_rng(seed).permutation(n)
    n_train = n - int(round(n * test_fraction))
    return np.sort(perm[:n_train]) if split == "train" else np.sort(perm[n_train:])
