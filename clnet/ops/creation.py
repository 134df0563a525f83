"""Tensor creation: from data, filled, ranges, identity, and the ``*_like`` forms."""
import collections
import math
import numbers

import numpy as np

from .. import dtypes
from ..backend.devices import device as _device
from ..tensor import Size, Tensor
from .copy import cast, clone, fill_into, from_numpy_to, to_device

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange",
           "linspace", "logspace", "eye", "zeros_like", "ones_like", "full_like", "empty_like",
           "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "scalar_tensor"]


def _sizes(size, fn):
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s.item())
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{fn}(): size must be a sequence of ints, got {list(size)!r}")
        if s < 0:
            raise ValueError(f"{fn}(): negative dimension {s} in size {list(size)}")
        out.append(int(s))
    return tuple(out)


# what tensor() reads as nested sequences: torch takes any Python sequence, and a deque (of
# discounted returns, say) or a range is common in real programs
_SEQUENCES = (list, tuple, collections.deque, range)


def _finish(t, requires_grad):
    if requires_grad:
        if not t.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point dtype can require gradients "
                               f"(got {t.dtype})")
        t.requires_grad = True
    return t


def _infer_host(data):
    """numpy array of ``data`` and its clnet dtype under PyTorch's inference rules. Python
    floats stay float64 on the host (the upload converts to the dtype asked for), so
    ``tensor([0.7], dtype=float64)`` holds 0.7, not float32's 0.699999988."""
    if isinstance(data, np.ndarray):
        return data, dtypes.to_dtype(data.dtype)
    if isinstance(data, (bool, np.bool_)):
        return np.asarray(data, dtype=np.bool_), dtypes.bool_
    if isinstance(data, numbers.Integral):
        _check_int_range(int(data), int(data), dtypes.int64)
        return np.asarray(data, dtype=np.int64), dtypes.int64
    if isinstance(data, numbers.Real):
        return np.asarray(data, dtype=np.float64), dtypes.get_default_dtype()
    if isinstance(data, Tensor):
        return data.numpy(), data.dtype
    if isinstance(data, _SEQUENCES):
        flat = list(_flatten(data))
        if any(isinstance(x, Tensor) for x in flat):
            data = _tensors_to_lists(data)
            flat = list(_flatten(data))
        ints = [x for x in flat if isinstance(x, numbers.Integral) and not isinstance(x, bool)]
        if ints:      # checked before numpy sees them: it would wrap or fall back to objects
            _check_int_range(min(ints), max(ints), dtypes.int64)
        arr = np.array(data)
        if arr.dtype == object:
            raise ValueError("tensor(): nested sequences have inconsistent lengths: "
                             f"{str(data)[:80]}")
        if arr.size == 0:
            d = dtypes.get_default_dtype()
            return arr.astype(d.np), d
        if all(isinstance(x, (bool, np.bool_)) for x in flat):
            return arr.astype(np.bool_), dtypes.bool_
        if all(isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, bool)
               or isinstance(x, (bool, np.bool_)) for x in flat):
            return arr.astype(np.int64), dtypes.int64
        return arr.astype(np.float64), dtypes.get_default_dtype()
    raise TypeError(f"tensor(): could not infer a dtype for data of type {type(data).__name__}")


class IntegerOverflowError(RuntimeError, OverflowError):
    """An integer that the requested integer dtype cannot hold (PyTorch's RuntimeError; also an
    OverflowError, Python's own type for it)."""


def _check_int_range(lo, hi, dt):
    """Refuse integers outside ``dt``'s range instead of letting the cast wrap them."""
    info = np.iinfo(dt.np)
    if lo < info.min or hi > info.max:
        bad = lo if lo < info.min else hi
        raise IntegerOverflowError(f"value cannot be converted to type {dt.name} without "
                                   f"overflow: {bad} is outside [{info.min}, {info.max}]")


def _flatten(x):
    if isinstance(x, _SEQUENCES):
        for y in x:
            yield from _flatten(y)
    else:
        yield x


def _tensors_to_lists(x):
    if isinstance(x, Tensor):
        return x.tolist()
    if isinstance(x, _SEQUENCES):
        return [_tensors_to_lists(y) for y in x]
    return x


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (list, scalar, numpy array or tensor)."""
    dev = _device(device)
    if isinstance(data, Tensor):
        t = clone(to_device(data, dev))
        t = cast(t, dtypes.to_dtype(dtype)) if dtype is not None else t
        return _finish(t, requires_grad)
    host, inferred = _infer_host(data)
    dt = dtypes.to_dtype(dtype) if dtype is not None else inferred
    if dt in (dtypes.int32, dtypes.int64) and host.dtype.kind in "iu" and host.size:
        _check_int_range(int(host.min()), int(host.max()), dt)
    return _finish(from_numpy_to(host, dev, dt), requires_grad)


def scalar_tensor(value, dtype=None, device=None, requires_grad=False):
    return tensor(value, dtype=dtype or dtypes.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but returns ``data`` itself when it already matches dtype and device."""
    if isinstance(data, Tensor):
        out = data
        if device is not None:
            out = to_device(out, _device(device))
        if dtype is not None:
            out = cast(out, dtypes.to_dtype(dtype))
        return out
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a):
    """A device tensor with a copy of ``a``. (PyTorch shares memory with the array; a device
    tensor cannot, so later changes to ``a`` are not seen: a documented difference.)"""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray, got {type(a).__name__}")
    return from_numpy_to(a, _device(None))


def empty(*size, dtype=None, device=None, requires_grad=False, **_ignored):
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    t = Tensor._empty(_sizes(size, "empty"), dt, _device(device))
    return _finish(t, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False, **_ignored):
    if dtype is None:
        dt = dtypes.scalar_dtype(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    else:
        dt = dtypes.to_dtype(dtype)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    t = Tensor._empty(_sizes((size,) if isinstance(size, int) else tuple(size), "full"), dt,
                      _device(device))
    fill_into(t, fill_value)
    return _finish(t, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, **_ignored):
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return full(_sizes(size, "zeros"), 0, dtype=dt, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, **_ignored):
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return full(_sizes(size, "ones"), 1, dtype=dt, device=device, requires_grad=requires_grad)


def _like(t, dtype, device):
    return (dtypes.to_dtype(dtype) if dtype is not None else t.dtype,
            _device(device) if device is not None else t.device)


def empty_like(t, dtype=None, device=None, requires_grad=False, **_ignored):
    dt, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False, **_ignored):
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False, **_ignored):
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False, **_ignored):
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def _num(x):
    return x.item() if isinstance(x, Tensor) else x


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, **_ignored):
    """Like torch.arange: ``arange(end)``, ``arange(start, end, step)``; int64 for int arguments."""
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange(): upper bound and larger bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    all_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                  for v in (start, end, step))
    dt = dtypes.to_dtype(dtype) if dtype is not None else (
        dtypes.int64 if all_int else dtypes.get_default_dtype())
    n = max(0, math.ceil((end - start) / step))
    # computed in float64/int64 on the host as PyTorch does, then stored in the target type
    # (from_numpy_to converts: bfloat16 has no numpy type to astype to)
    host = start + np.arange(n, dtype=np.int64 if all_int else np.float64) * step
    return _finish(from_numpy_to(host, _device(device), dt), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, **_ignored):
    start, end = _num(start), _num(end)
    if steps < 0:
        raise ValueError(f"linspace(): number of steps must be non-negative, got {steps}")
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    host = np.linspace(start, end, int(steps), dtype=np.float64)
    return _finish(from_numpy_to(host, _device(device), dt), requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False, **_i):
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    host = np.power(float(base), np.linspace(_num(start), _num(end), int(steps), dtype=np.float64))
    return _finish(from_numpy_to(host, _device(device), dt), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False, **_ignored):
    m = n if m is None else m
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    t = zeros(n, m, dtype=dt, device=device)
    k = min(n, m)
    if k:
        diag = Tensor._make(t._storage, (k,), (m + 1,), 0, dt)
        fill_into(diag, 1)
    return _finish(t, requires_grad)


def _legacy(dt):
    def ctor(*args, device=None):
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            return tensor(args[0], dtype=dt, device=device)
        return empty(*args, dtype=dt, device=device)
    ctor.__name__ = ctor.__qualname__ = f"{dt.name.capitalize()}Tensor"
    ctor.__doc__ = f"Old-style constructor: ``{ctor.__name__}(*sizes)`` or ``{ctor.__name__}(data)``."
    return ctor


FloatTensor = _legacy(dtypes.float32)
DoubleTensor = _legacy(dtypes.float64)
LongTensor = _legacy(dtypes.int64)
IntTensor = _legacy(dtypes.int32)
BoolTensor = _legacy(dtypes.bool_)
