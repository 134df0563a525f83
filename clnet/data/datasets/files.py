"""Datasets from your own files: ``NpzDataset`` (named arrays in a ``.npz``) and ``CsvDataset``
(named columns in a ``.csv`` with a header row).

Splits: an ``.npz`` holding ``<features>_train``/``<features>_test`` (and the same for labels)
gives those arrays; otherwise, and for CSV files, 'train' and 'test' are the first
``1 - test_fraction`` and the rest of a permutation drawn from ``seed`` ('all': every row).
Features become float32 (npz arrays keep integer/float types as stored, cast to float32 when
``float_features``); CSV labels become int64 when every value is an integer, class indices
(``classes`` in sorted order) when they are strings, else float32.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence
import csv
import os

import numpy as np

from .base import ArrayDataset, check_split, split_indices

if TYPE_CHECKING:
    from ...types import PathLike


def _need_file(kind, path):
    if path is None:
        raise ValueError(f"{kind}: pass path= (the file to read)")
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{kind}: no such file: {path}")
    return path


class NpzDataset(ArrayDataset):

    def __init__(self, path: Optional[PathLike] = None, split: str = "train", features: str = "x",
                 labels: str = "y", test_fraction: float = 0.2, seed: int = 0,
                 float_features: bool = True, transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None) -> None:
        path = _need_file("npz", path)
        check_split("npz", split)
        with np.load(path, allow_pickle=False) as z:
            keys = sorted(z.files)
            split_keys = (f"{features}_{split}", f"{labels}_{split}")
            if split != "all" and all(k in keys for k in split_keys):
                x, y = z[split_keys[0]], z[split_keys[1]]
                idx = None
            else:
                missing = [k for k in (features, labels) if k not in keys]
                if missing:
                    raise KeyError(f"npz: {path} has no array named {', '.join(map(repr, missing))}"
                                   f"; it holds {keys} (choose them with features=/labels=)")
                x, y = z[features], z[labels]
                idx = split_indices(len(x), split, test_fraction, seed)
        if len(x) != len(y):
            raise ValueError(f"npz: {len(x)} feature rows but {len(y)} labels in {path}")
        if idx is not None:
            x, y = x[idx], y[idx]
        if float_features and x.dtype.kind in "iufb":
            x = x.astype(np.float32)
        super().__init__(x, y, transform, target_transform)
        self.split = split


class CsvDataset(ArrayDataset):

    def __init__(self, path: Optional[PathLike] = None, split: str = "train", label: str = "label",
                 features: Optional[Sequence[str]] = None, delimiter: str = ",",
                 test_fraction: float = 0.2, seed: int = 0,
                 transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None) -> None:
        path = _need_file("csv", path)
        check_split("csv", split)
        with open(path, newline="") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
        if not rows:
            raise ValueError(f"csv: {path} is empty")
        header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
        if label not in header:
            raise KeyError(f"csv: {path} has no column {label!r}; its columns are {header}")
        features = [h for h in header if h != label] if features is None else list(features)
        unknown = [c for c in features if c not in header]
        if unknown:
            raise KeyError(f"csv: {path} has no column(s) {unknown}; its columns are {header}")
        cols = [header.index(c) for c in features]
        try:
            x = np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float32)
        except (ValueError, IndexError) as e:
            raise ValueError(f"csv: feature columns of {path} must be numbers ({e})") from None
        x = x.reshape(len(body), len(cols))
        y = self._labels([r[header.index(label)].strip() for r in body])
        idx = split_indices(len(x), split, test_fraction, seed)
        super().__init__(x[idx], y[idx], transform, target_transform)
        self.split, self.columns = split, features

    def _labels(self, values):
        try:
            as_float = np.array([float(v) for v in values], dtype=np.float64)
        except ValueError:
            self.classes = sorted(set(values))
            index = {c: i for i, c in enumerate(self.classes)}
            return np.array([index[v] for v in values], dtype=np.int64)
        if np.all(as_float == np.round(as_float)):
            return as_float.astype(np.int64)
        return as_float.astype(np.float32)
