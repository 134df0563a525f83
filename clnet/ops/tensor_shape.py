"""Grids, splits and block layouts (split out of tensor_algebra.py, which exports them):
meshgrid, cartesian_prod, block_diag, rot90, atleast_1d/2d/3d, tensor_split, hsplit, vsplit,
dsplit, column_stack. All are views (reshape/expand/narrow/transpose) or cat/flip, so they are
differentiable and device-agnostic without code of their own.
"""
import numbers
import warnings

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .copy import clone
from .creation import zeros
from .join import _atleast, cat, flip, stack

__all__ = ["meshgrid", "cartesian_prod", "block_diag", "rot90", "atleast_1d", "atleast_2d",
           "atleast_3d", "tensor_split", "hsplit", "vsplit", "dsplit", "column_stack",
           "pixel_shuffle", "pixel_unshuffle"]


def _tensors(op, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor as element {i}, got {type(t).__name__}")
    return tuple(tensors)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids (expanded views) of 0-D/1-D tensors; indexing 'ij' (default, with
    PyTorch's warning when not given) or 'xy' (the first two dims swapped)."""
    tensors = _tensors("meshgrid", tensors)
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                         f"received: {indexing}")
    if not tensors:
        raise ValueError("torch.meshgrid: expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t.dim() > 1:
            raise ValueError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                             f"got: {list(t._shape)} (tensor {i})")
        if t.dtype is not tensors[0].dtype:
            raise TypeError("torch.meshgrid: expects all tensors to have the same dtype, got "
                            f"{', '.join(x.dtype.name for x in tensors)}")
    n = len(tensors)
    pos = list(range(n))
    if indexing == "xy" and n >= 2:
        pos[0], pos[1] = 1, 0
    shape = [1] * n
    for i, t in enumerate(tensors):
        shape[pos[i]] = t.numel()
    out = []
    for i, t in enumerate(tensors):
        vs = [1] * n
        vs[pos[i]] = t.numel()
        out.append(t.reshape(tuple(vs)).expand(tuple(shape)))
    return tuple(out)


def cartesian_prod(*tensors):
    tensors = _tensors("cartesian_prod", tensors)
    for i, t in enumerate(tensors):
        if t.dim() != 1:
            raise ValueError(f"cartesian_prod(): expect a 1D vector, but got shape "
                             f"{list(t._shape)} (tensor {i})")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)


def block_diag(*tensors):
    """A block-diagonal matrix of 0-D (1x1), 1-D (1xn) and 2-D blocks; dtypes promote."""
    tensors = _tensors("block_diag", tensors)
    if not tensors:
        return zeros((1, 0))
    blocks = []
    for i, t in enumerate(tensors):
        if t.dim() > 2:
            raise ValueError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                             f"Input {i} has {t.dim()} dimensions (shape {list(t._shape)})")
        blocks.append(t.reshape(1, 1) if t.dim() == 0 else t.reshape(1, -1) if t.dim() == 1
                      else t)
    dt = blocks[0].dtype
    for b in blocks[1:]:
        dt = dtypes.promote_types(dt, b.dtype)
    dev = blocks[0].device
    cols = sum(b._shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b._shape
        parts = [zeros((r, left), dtype=dt, device=dev), b.to(dt) if b.dtype is not dt else b,
                 zeros((r, cols - left - c), dtype=dt, device=dev)]
        rows.append(cat(parts, 1))
        left += c
    return cat(rows, 0)


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane of dims, from the first towards the second."""
    dims = list(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90(): expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.dim() < 2:
        raise ValueError(f"rot90(): expected total dims >= 2, but got total dims = {input.dim()}")
    d0, d1 = input._wrap_dim(dims[0]), input._wrap_dim(dims[1])
    if d0 == d1:
        raise ValueError(f"rot90(): expected rotation dims to be different, but got dim0 = "
                         f"{dims[0]} and dim1 = {dims[1]}")
    k = int(k) % 4
    if k == 1:
        return flip(input, [d1]).transpose(d0, d1)
    if k == 2:
        return flip(input, [d0, d1])
    if k == 3:
        return flip(input, [d0]).transpose(d0, d1)
    return clone(input)


def _atleast_nd(op, n, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return _atleast(tensors[0], n)
    return tuple(_atleast(t, n) for t in _tensors(op, tensors))


def atleast_1d(*tensors):
    return _atleast_nd("atleast_1d", 1, tensors)


def atleast_2d(*tensors):
    return _atleast_nd("atleast_2d", 2, tensors)


def atleast_3d(*tensors):
    return _atleast_nd("atleast_3d", 3, tensors)


def tensor_split(input, indices_or_sections, dim=0):
    """Views splitting ``dim`` into n near-equal sections (an int) or at the given indices."""
    if input.dim() == 0:
        raise ValueError("tensor_split(): expected at least a 1-dimensional tensor")
    d = input._wrap_dim(dim)
    size = input._shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.dtype is not dtypes.int64 or ios.dim() > 1:
            raise TypeError(f"tensor_split(): expected tensor_indices_or_sections to be a 0-D or "
                            f"1-D int64 tensor, got {ios.dtype.name} of shape {list(ios._shape)}")
        ios = ios.item() if ios.dim() == 0 else ios.tolist()
    if isinstance(ios, (numbers.Integral, np.integer)) and not isinstance(ios, bool):
        n = int(ios)
        if n <= 0:
            raise ValueError(f"tensor_split(): number of sections must be larger than 0, got {n}")
        q, r = divmod(size, n)
        sizes = [q + 1] * r + [q] * (n - r)
        out, start = [], 0
        for s in sizes:
            out.append(input.narrow(d, start, s))
            start += s
        return tuple(out)
    bounds = [int(i) for i in ios] + [None]
    out, start = [], 0
    for end in bounds:
        a, b, _ = slice(start, end).indices(size)
        out.append(input.narrow(d, a, max(0, b - a)))
        start = end
    return tuple(out)


def _dir_split(op, input, ios, dim, min_dims):
    if input.dim() < min_dims:
        raise ValueError(f"torch.{op} requires a tensor with at least {min_dims} dimension"
                         f"{'s' if min_dims > 1 else ''}, but got a tensor with {input.dim()} "
                         "dimensions!")
    if isinstance(ios, (numbers.Integral, np.integer)) and not isinstance(ios, bool):
        size = input._shape[dim]
        if ios == 0 or size % ios:
            raise ValueError(f"torch.{op} attempted to split along dimension {dim}, but the size "
                             f"of the dimension {size} is not divisible by the split_size {ios}!")
    return tensor_split(input, ios, dim)


def hsplit(input, indices_or_sections):
    return _dir_split("hsplit", input, indices_or_sections, 1 if input.dim() > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    return _dir_split("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    return _dir_split("dsplit", input, indices_or_sections, 2, 3)


def column_stack(tensors):
    """0-D and 1-D tensors become columns; then everything joins along dim 1."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"column_stack(): expected a list or tuple of Tensors, got "
                        f"{type(tensors).__name__}")
    tensors = _tensors("column_stack", tuple(tensors))
    if not tensors:
        raise ValueError("column_stack(): expects a non-empty TensorList")
    return cat([t.reshape(-1, 1) if t.dim() <= 1 else t for t in tensors], 1)


def _pixel_check(op, x, factor, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor <= 0:
        raise ValueError(f"{op}(): {name} must be a positive integer, got {factor!r}")
    if x.dim() < 3:
        raise ValueError(f"{op}(): expected an input of at least 3 dimensions (*, C, H, W), got "
                         f"shape {list(x._shape)}")
    return int(factor)


def pixel_shuffle(input, upscale_factor):
    """torch.pixel_shuffle: (*, C r^2, H, W) -> (*, C, H r, W r), element (c, h r + i, w r + j)
    taken from channel c r^2 + i r + j (a reshape, a permute and a reshape: differentiable)."""
    r = _pixel_check("pixel_shuffle", input, upscale_factor, "upscale_factor")
    *batch, c, h, w = input._shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle(): the channel dimension {c} of shape "
                         f"{list(input._shape)} is not divisible by upscale_factor squared "
                         f"({r * r})")
    nb = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    order = list(range(nb)) + [nb, nb + 3, nb + 1, nb + 4, nb + 2]
    return x.permute(*order).reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """torch.pixel_unshuffle: the inverse of pixel_shuffle, (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = _pixel_check("pixel_unshuffle", input, downscale_factor, "downscale_factor")
    *batch, c, h, w = input._shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle(): the spatial dimensions of shape "
                         f"{list(input._shape)} are not divisible by downscale_factor {r}")
    nb = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    order = list(range(nb)) + [nb, nb + 2, nb + 4, nb + 1, nb + 3]
    return x.permute(*order).reshape(*batch, c * r * r, h // r, w // r)
