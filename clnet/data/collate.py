"""Batch assembly: ``default_collate`` stacks samples on the host into numpy arrays (PyTorch's
rules for tuples, lists, dicts, namedtuples, numbers and arrays); ``to_device`` then uploads each
array field with ONE host-to-device copy per batch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence
import collections.abc
import numbers

import numpy as np

from .. import dtypes
from ..ops import copy as copy_ops
from ..tensor import Tensor

if TYPE_CHECKING:
    from ..types import _device

__all__ = ["default_collate", "to_device"]


def _stack(arrays):
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"default_collate: cannot stack samples of different shapes "
                         f"{sorted(shapes)}; pad them or pass a collate_fn")
    return np.stack(arrays)


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into one host batch.

    numpy arrays and clnet tensors -> stacked arrays (a new first dimension); numpy scalars ->
    arrays of their dtype; Python bool/int/float -> bool/int64/float64 arrays (as PyTorch);
    strings -> lists; dicts -> dicts of collated values; namedtuples -> the same namedtuple;
    tuples and lists -> lists of collated fields (as PyTorch)."""
    if not batch:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if isinstance(elem, np.ndarray):
        return _stack([np.asarray(b) for b in batch])
    if isinstance(elem, Tensor):
        # a host read-back per sample: datasets should hold numpy arrays, not device tensors
        if elem.dtype is dtypes.bfloat16:
            raise TypeError("default_collate: the samples are bfloat16 tensors, which host "
                            "batches (numpy) have no type for; return float32 samples and cast "
                            "each batch on the device (x.bfloat16())")
        return _stack([b.numpy() for b in batch])
    if isinstance(elem, np.generic):
        return np.array(batch, dtype=elem.dtype)
    if isinstance(elem, bool):
        return np.array(batch, dtype=np.bool_)
    if isinstance(elem, numbers.Integral):
        return np.array(batch, dtype=np.int64)
    if isinstance(elem, numbers.Real):
        return np.array(batch, dtype=np.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        keys = list(elem.keys())
        for b in batch:
            if not isinstance(b, collections.abc.Mapping) or set(b.keys()) != set(keys):
                raise ValueError(f"default_collate: samples are dicts with different keys "
                                 f"({sorted(map(str, keys))} vs "
                                 f"{sorted(map(str, getattr(b, 'keys', lambda: [])()))})")
        return {k: default_collate([b[k] for b in batch]) for k in keys}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        sizes = {len(b) for b in batch}
        if len(sizes) != 1:
            raise ValueError(f"default_collate: samples are sequences of different lengths "
                             f"{sorted(sizes)}")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: samples must be numpy arrays, clnet tensors, numbers, "
                    f"strings, dicts, tuples or lists; got {type(elem).__name__}")


def to_device(batch: Any, device: _device) -> Any:
    """Upload every numpy array in ``batch`` (nested dicts/lists/tuples) as a clnet tensor on
    ``device``: one non-blocking copy per array. float64 becomes float32 on devices without
    fp64."""
    if isinstance(batch, np.ndarray):
        dt = dtypes.to_dtype(batch.dtype)
        if dt is dtypes.float64 and not device.has_fp64:
            dt = dtypes.float32
        return copy_ops.from_numpy_to(batch, device, dt)
    if isinstance(batch, np.generic):
        return to_device(np.asarray(batch), device)
    if isinstance(batch, collections.abc.Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
