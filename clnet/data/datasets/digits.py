"""``Digits``: the 1,797 real 8x8 handwritten digits that scikit-learn bundles (``load_digits``;
UCI's optical recognition of handwritten digits test set). clnet ships the same file
(``digits.csv.gz``, BSD-3-Clause, from scikit-learn), so it works after a plain ``pip install``
with no download and no scikit-learn.

Images are float32 in [0, 1] (the 0..16 pixel counts divided by 16), shape (1, 8, 8); labels are
int64 0..9. The split is the first 80% ('train', 1,438 images) and the last 20% ('test', 359) of a
permutation drawn from ``seed`` (0 by default), so it is the same on every machine.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple
import functools
import gzip
import os

import numpy as np

from .base import ArrayDataset, check_split, split_indices

_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv.gz")


@functools.lru_cache(maxsize=1)
def load_digits_arrays() -> Tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64) float64 0..16, labels (1797,) int64), read once per process."""
    with gzip.open(_FILE, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


class Digits(ArrayDataset):
    classes = [str(d) for d in range(10)]

    def __init__(self, split: str = "train", transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None, seed: int = 0,
                 test_fraction: float = 0.2) -> None:
        check_split("digits", split)
        pixels, labels = load_digits_arrays()
        idx = split_indices(len(labels), split, test_fraction, seed)
        images = (pixels[idx] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        super().__init__(images, labels[idx], transform, target_transform)
        self.split = split
