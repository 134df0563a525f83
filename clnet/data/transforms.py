"""Host-side transforms for one sample (numpy in, numpy out), composable with ``Compose``.

Images are channel-first arrays ``(C, H, W)`` (or ``(H, W)``), as the built-in image datasets give
them. Random transforms draw from the generator the DataLoader installs for each batch (seeded
from the loader's generator, the epoch and the batch number), so a run with a given seed, and a
resumed run, see the same augmentations; pass ``generator=`` (an int or numpy Generator) to fix
them outside a loader.

Example::

    from clnet.data import transforms as T
    tf = T.Compose([T.ToFloat(), T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(0.5),
                    T.Normalize(0.2860, 0.3530), T.Flatten()])
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence, Tuple, Union
import numbers

import numpy as np

from ._random import current_rng

if TYPE_CHECKING:
    from ._random import RandomSource

__all__ = ["Compose", "ToFloat", "Normalize", "Flatten", "OneHot", "RandomCrop",
           "RandomHorizontalFlip", "Lambda"]


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToFloat:
    """Convert to ``dtype`` (float32); integer inputs are scaled to [0, 1] by their type's
    maximum (uint8: /255) unless ``scale=False``."""

    def __init__(self, dtype: Any = np.float32, scale: bool = True) -> None:
        self.dtype = np.dtype(dtype)
        self.scale = scale

    def __call__(self, x: Any) -> Any:
        a = np.asarray(x)
        out = a.astype(self.dtype)
        if self.scale and a.dtype.kind in "iu":
            out *= self.dtype.type(1.0 / np.iinfo(a.dtype).max)
        return out

    def __repr__(self) -> str:
        return f"ToFloat(dtype={self.dtype.name}, scale={self.scale})"


def _per_channel(values, ndim):
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    if v.size == 1 or ndim < 2:
        return v.reshape(()) if v.size == 1 else v
    return v.reshape((-1,) + (1,) * (ndim - 1))    # (C, 1, 1) against (C, H, W)


class Normalize:
    """``(x - mean) / std`` per channel (the first dimension) or with scalars."""

    def __init__(self, mean: Union[float, Sequence[float]],
                 std: Union[float, Sequence[float]]) -> None:
        self.mean, self.std = mean, std
        if np.any(np.asarray(std, dtype=np.float64) == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {std}")

    def __call__(self, x: Any) -> Any:
        a = np.asarray(x, dtype=np.float32)
        mean = _per_channel(self.mean, a.ndim)
        std = _per_channel(self.std, a.ndim)
        if mean.ndim and mean.shape[0] != a.shape[0]:
            raise ValueError(f"Normalize: {mean.shape[0]} channel means for an input of shape "
                             f"{a.shape} (channels first)")
        return (a - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Flatten:
    """Reshape a sample to one dimension."""

    def __call__(self, x: Any) -> Any:
        return np.asarray(x).reshape(-1)

    def __repr__(self) -> str:
        return "Flatten()"


class OneHot:
    """An integer label -> a ``dtype`` (float32) vector of length ``num_classes``."""

    num_classes: int
    dtype: np.dtype

    def __init__(self, num_classes: int, dtype: Any = np.float32) -> None:
        if not isinstance(num_classes, numbers.Integral) or num_classes <= 0:
            raise ValueError(f"OneHot: num_classes must be a positive integer, got "
                             f"{num_classes!r}")
        self.num_classes = int(num_classes)
        self.dtype = np.dtype(dtype)

    def __call__(self, y: Any) -> Any:
        label = np.asarray(y)
        if label.dtype.kind not in "iu" or np.any(label < 0) or np.any(label >= self.num_classes):
            raise ValueError(f"OneHot: labels must be integers in [0, {self.num_classes}), got "
                             f"{label.tolist()!r}")
        return np.eye(self.num_classes, dtype=self.dtype)[label]

    def __repr__(self) -> str:
        return f"OneHot(num_classes={self.num_classes})"


def _rng(generator):
    if generator is None:
        return current_rng()
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


class RandomCrop:
    """Pad the last two dimensions by ``padding`` (an int, (pad_h, pad_w) or
    (left, top, right, bottom) as torchvision) with ``fill``, then cut a random ``size`` window
    (an int for square, or (h, w))."""

    def __init__(self, size: Union[int, Tuple[int, int]],
                 padding: Union[int, Tuple[int, ...]] = 0, fill: float = 0,
                 generator: RandomSource = None) -> None:
        self.size = (size, size) if isinstance(size, (int, numbers.Integral)) else tuple(size)
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"RandomCrop: size must be a positive int or (h, w), got {size!r}")
        p: Tuple[int, ...] = ((int(padding),) * 4 if isinstance(padding, (int, numbers.Integral))
                              else tuple(padding))
        if len(p) == 2:
            p = (p[0], p[1], p[0], p[1])
        if len(p) != 4 or min(p) < 0:
            raise ValueError(f"RandomCrop: padding must be an int, 2 or 4 non-negative ints, "
                             f"got {padding!r}")
        self.padding, self.fill = p, fill
        self._generator = None if generator is None else _rng(generator)

    def _padded(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim < 2:
            raise ValueError(f"RandomCrop: expected an image (..., H, W), got shape {a.shape}")
        left, top, right, bottom = self.padding
        if any(self.padding):
            widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
            a = np.pad(a, widths, constant_values=self.fill)
        h, w = a.shape[-2:]
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"({h}, {w})")
        return a

    def __call__(self, x: Any) -> Any:
        a = self._padded(x)
        (h, w), (th, tw) = a.shape[-2:], self.size
        rng = self._generator or current_rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return a[..., i:i + th, j:j + tw].copy()

    def centre(self, x: Any) -> Any:
        """The same padding and window size, the window at the centre: the crop's deterministic
        form, for evaluation and prediction."""
        a = self._padded(x)
        (h, w), (th, tw) = a.shape[-2:], self.size
        i, j = (h - th) // 2, (w - tw) // 2
        return a[..., i:i + th, j:j + tw].copy()

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the last dimension with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: RandomSource = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p
        self._generator = None if generator is None else _rng(generator)

    def __call__(self, x: Any) -> Any:
        a = np.asarray(x)
        rng = self._generator or current_rng()
        if rng.random() < self.p:
            return a[..., ::-1].copy()
        return a

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Lambda:
    """Wrap any function of one sample as a transform."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: {fn!r} is not callable")
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def __repr__(self) -> str:
        return f"Lambda({getattr(self.fn, '__name__', self.fn)!r})"
