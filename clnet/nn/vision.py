"""``F.affine_grid`` and ``F.grid_sample``: spatial-transformer sampling from existing ops.

No kernels of their own: affine_grid is a matmul of a base grid of normalised coordinates with
theta^T; grid_sample unnormalises the grid, applies the padding rule to the coordinates, and
reads the flattened input with one gather per interpolation corner (4 for 2-D bilinear, 8 for
3-D), masking corners that fall outside the image. Gradients to the input (through gather's
backward, a scatter-add) and to the grid (through the interpolation weights) come from autograd.
The coordinate rules follow ATen's GridSampler.h (grid_sampler_compute_source_index).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence
import itertools
import math
import sys
import warnings

from .. import dtypes
from ..ops import autocast as _autocast
from ..ops import pointwise as P
from ..ops.creation import linspace, ones, zeros
from ..ops.index import gather
from ..ops.join import stack
from ..ops.linalg import matmul

if TYPE_CHECKING:
    from ..tensor import Tensor

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to "
                  "align_corners=False since 1.3.0. Please specify align_corners=True if the old "
                  "behavior is desired. See the documentation of grid_sample for details.")


def _neg_one_to_one(steps, align_corners, like):
    """torch's linspace_from_neg_one: pixel-centre coordinates in [-1, 1] (one step -> 0)."""
    if steps <= 1:
        return zeros(1, dtype=like.dtype, device=like.device)
    r = linspace(-1, 1, steps, dtype=like.dtype, device=like.device)
    # align_corners=False: -1 and 1 are the image edges, so the centres sit half a pixel inside
    return r if align_corners else r * (steps - 1) / steps


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: Optional[bool] = None) -> Tensor:
    """Sampling grid (N, H, W, 2) [or (N, D, H, W, 3)] of theta applied to the output's
    normalised pixel coordinates, for ``grid_sample``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(s) for s in size]
    d = len(size) - 2
    if d not in (2, 3):
        raise ValueError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine "
                         f"transforms, respectively. Got size {size}.")
    if theta.dim() != 3 or tuple(theta.shape[-2:]) != (d, d + 1):
        kind, shape = ("2D", "Nx2x3") if d == 2 else ("3D", "Nx3x4")
        raise ValueError(f"Expected a batch of {kind} affine matrices of shape {shape} for size "
                         f"{size}. Got {theta.shape}.")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise ValueError(f"affine_grid: theta has batch size {theta.shape[0]} but size asks for "
                         f"{size[0]}")
    # base[..., k] is the coordinate along the k-th grid axis: x (width, last), y, [z], then 1
    axes = []
    for k in range(d):
        dim = d - 1 - k                            # spatial dim that grid axis k runs along
        r = _neg_one_to_one(spatial[dim], align_corners, theta)
        view = [1] * d
        view[dim] = spatial[dim]
        axes.append(r.reshape(view).expand(*spatial))
    axes.append(ones(*spatial, dtype=theta.dtype, device=theta.device))
    base = stack(axes, -1).reshape(1, -1, d + 1)   # (1, prod(spatial), d + 1)
    return matmul(base, theta.transpose(1, 2)).reshape(size[0], *spatial, d)


def _unnormalize(coord, size, align_corners):
    """[-1, 1] -> pixel index: -1/1 are corner pixel centres (align_corners) or image edges."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _clip(coord, size):
    """Clamp to [0, size - 1]; like ATen the gradient is 0 on and beyond the bounds."""
    inside = (coord > 0) & (coord < size - 1)
    return P.where(inside, coord, P.clamp(coord.detach(), 0, size - 1))


def _reflect(coord, twice_low, twice_high):
    """Reflect coord by the bounds twice_low/2 and twice_high/2 until it lies between them."""
    if twice_low == twice_high:
        return coord * 0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    c = coord - low
    c = P.where(c < 0, -c, c)                      # not abs(): ATen's slope at 0 is +1
    flips = P.floor(c.detach() / span)
    extra = c - flips * span                       # fmod(c, span), c >= 0
    return P.where(P.remainder(flips, 2) == 0, extra + low, span - extra + low)


def _source_index(coord, size, padding_mode, align_corners):
    c = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        c = _clip(c, size)
    elif padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        c = _clip(c, size)
    return c


def _read(flat, index, spatial):
    """flat (N, C, prod(spatial)) at integer-valued float positions index[k] (N, 1, P) along
    spatial dim k; positions outside the image read 0."""
    valid = None
    linear = None
    for i, size in zip(index, spatial):
        ok = (i >= 0) & (i <= size - 1)            # NaN compares False: it reads 0 as well
        valid = ok if valid is None else valid & ok
    stride = 1
    for i, size in reversed(list(zip(index, spatial))):
        term = P.where(valid, i, 0.0).long() * stride
        linear = term if linear is None else linear + term
        stride *= size
    n, c = flat.shape[0], flat.shape[1]
    values = gather(flat, 2, linear.expand(n, c, linear.shape[2]))
    return P.where(valid, values, 0.0)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: Optional[bool] = None) -> Tensor:
    """Sample input (N, C, H, W) [or (N, C, D, H, W)] at grid (N, H_out, W_out, 2) [or
    (..., 3)] of normalised (x, y[, z]) positions; modes 'bilinear' and 'nearest'."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if mode == "bicubic":
        raise ValueError("grid_sample: clnet has no mode='bicubic'; use 'bilinear' or 'nearest'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.dim() not in (4, 5) or grid.dim() != input.dim():
        raise RuntimeError("grid_sampler(): expected 4D or 5D input and grid with same number "
                           f"of dimensions, but got input with sizes {list(input.shape)} and "
                           f"grid with sizes {list(grid.shape)}")
    d = input.dim() - 2
    if grid.shape[-1] != d:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {d} in last dimension, "
                           f"but got grid with sizes {list(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, "
                           f"but got input with sizes {list(input.shape)} and grid with sizes "
                           f"{list(grid.shape)}")
    if input.dtype != grid.dtype:
        raise RuntimeError("grid_sampler(): expected input and grid to have same dtype, but "
                           f"input has {input.dtype} and grid has {grid.dtype}")
    n, c = input.shape[0], input.shape[1]
    spatial = list(input.shape[2:])
    out_spatial = list(grid.shape[1:-1])
    points = math.prod(out_spatial)
    flat = input.reshape(n, c, -1)
    # spatial dim k (D, H, W order) is read from grid axis d-1-k (the grid stores x first)
    coords = [_source_index(grid[..., d - 1 - k].reshape(n, 1, points), size, padding_mode,
                            align_corners) for k, size in enumerate(spatial)]
    if mode == "nearest":                          # round half to even, like nearbyint
        out = _read(flat, [P.round(x.detach()) for x in coords], spatial)
        if grid.requires_grad:
            # the output is piecewise constant in the grid, so torch's grid.grad is zeros (not
            # None): a where() that never picks the coordinate links it with a zero gradient
            never = zeros(1, dtype=dtypes.bool_, device=grid.device)
            out = out + P.where(never, coords[0], 0.0)
        return out.reshape(n, c, *out_spatial)
    lows = [P.floor(x.detach()) for x in coords]
    out = None
    for corner in itertools.product((0, 1), repeat=d):
        weight, index = None, []
        for x, low, upper in zip(coords, lows, corner):
            # the far corner weighs the fraction past low, the near one its complement
            w = x - low if upper else low + 1 - x
            weight = w if weight is None else weight * w
            index.append(low + upper)
        term = weight * _read(flat, index, spatial)
        out = term if out is None else out + term
    return out.reshape(n, c, *out_spatial)


# autocast (ops/autocast.py): grid_sample (torch's grid_sampler) casts its inputs at entry
_autocast.wrap_module(sys.modules[__name__])
