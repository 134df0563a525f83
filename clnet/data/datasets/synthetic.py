"""``Synthetic``: small seeded datasets for smoke tests (no files, same data on every machine).

- ``task='classification'``: ``num_classes`` Gaussian blobs in ``num_features`` dimensions
  (centres drawn uniformly in [-5, 5], unit spread times ``noise``); float32 features, int64
  labels.
- ``task='regression'``: ``y = x @ w + b + noise * N(0, 1)`` with a seeded ``w``; float32
  features and float32 targets of shape (num_outputs,).
'train' and 'test' are disjoint draws of ``num_samples`` and ``num_test`` samples.
"""
from __future__ import annotations

from typing import Any, Callable, Optional
import numpy as np

from .base import ArrayDataset, check_split


class Synthetic(ArrayDataset):

    def __init__(self, split: str = "train", task: str = "classification", num_samples: int = 512,
                 num_test: int = 128, num_features: int = 8, num_classes: int = 3,
                 num_outputs: int = 1, noise: float = 1.0, seed: int = 0,
                 transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None) -> None:
        check_split("synthetic", split)
        if task not in ("classification", "regression"):
            raise ValueError(f"synthetic: task must be 'classification' or 'regression', got "
                             f"{task!r}")
        rng = np.random.default_rng(seed)
        n_all = num_samples + num_test
        if task == "classification":
            centres = rng.uniform(-5, 5, size=(num_classes, num_features))
            y = rng.integers(0, num_classes, size=n_all)
            x = centres[y] + noise * rng.standard_normal((n_all, num_features))
            y = y.astype(np.int64)
        else:
            w = rng.standard_normal((num_features, num_outputs))
            b = rng.standard_normal(num_outputs)
            x = rng.standard_normal((n_all, num_features))
            y = (x @ w + b + noise * rng.standard_normal((n_all, num_outputs))).astype(np.float32)
            self.weight, self.bias = w.astype(np.float32), b.astype(np.float32)
        x = x.astype(np.float32)
        part = {"train": slice(0, num_samples), "test": slice(num_samples, n_all),
                "all": slice(0, n_all)}[split]
        super().__init__(x[part], y[part], transform, target_transform)
        self.split, self.task = split, task
        self.num_classes = num_classes if task == "classification" else None
