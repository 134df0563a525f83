"""Pooling and resampling over (N, C, H, W): max/avg/adaptive pools (1-D via a unit height),
nearest-neighbour interpolate and constant padding, with torch.nn.functional's signatures.

Forward kernels read the input in place (any strides); backward kernels gather per input pixel
(cl_kernels/pool.cl, launched by clnet/kernels/pool.py). Each backward is a recorded op whose
own backward is the forward again (avg-pool and its gradient are adjoint linear maps; so are
max-pool's gradient scatter and the gather at its indices; so are nearest upsampling and its sum
back), so double backward works.
"""
import math

import numpy as np

from .. import dtypes, graph
from ..tensor import Tensor
from ..kernels.pool import (PoolGeom, avgpool_bwd, avgpool_fwd, maxpool_bwd, maxpool_fwd,
                            nearest_bwd, nearest_fwd, pool_gather)
from ..kernels.layout import int_tuple
from .copy import copy_into, fill_into

__all__ = ["max_pool2d", "max_pool1d", "avg_pool2d", "avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_max_pool2d", "adaptive_max_pool1d",
           "max_pool2d_with_indices", "constant_pad_nd"]

_F32 = np.float32   # interpolate computes its scales in float32, as PyTorch does


def _raw_contiguous(t):
    if t.is_contiguous():
        return t
    return copy_into(Tensor._empty(t._shape, t.dtype, t._storage.device), t, "pool")


# ------------------------------------------------------------------------------------ max pool
def _max_forward(x, g, op):
    dev = x._storage.device
    out = Tensor._empty(g.out_shape, x.dtype, dev)
    idx = Tensor._empty(g.out_shape, dtypes.int64, dev)
    if out.numel():
        maxpool_fwd(op, x, out, idx, g)
    if graph.recording(x):
        # only ``out`` is differentiable: recording the int64 indices as an output too would
        # make the engine materialise a zero gradient for them on every backward
        graph.record("MaxPool2DWithIndicesBackward0", out, (x,),
                     lambda gy: (_max_scatter(gy, idx, g),))
    return out, idx


def _max_scatter(gy, idx, g):
    """Each input pixel gets the sum of the output gradients whose argmax it is."""
    gy = _raw_contiguous(gy)
    gx = Tensor._empty(g.in_shape, gy.dtype, gy._storage.device)
    if gx.numel():
        if gy.numel() == 0:
            fill_into(gx, 0)
        else:
            maxpool_bwd(gy, idx, gx, g)
    if graph.recording(gy):
        graph.record("MaxPool2DWithIndicesBackwardBackward0", gx, (gy,),
                     lambda gg: (_max_gather(gg, idx, g),))
    return gx


def _max_gather(src, idx, g):
    """out[n, c, o] = src[n, c, idx[n, c, o]] (the adjoint of _max_scatter)."""
    src = _raw_contiguous(src)
    out = Tensor._empty(g.out_shape, src.dtype, src._storage.device)
    if out.numel():
        pool_gather(src, idx, out, g)
    if graph.recording(src):
        graph.record("GatherBackward0", out, (src,), lambda h: (_max_scatter(h, idx, g),))
    return out


# ------------------------------------------------------------------------------------ avg pool
def _avg_forward(x, g, op="avg_pool2d"):
    out = Tensor._empty(g.out_shape, x.dtype, x._storage.device)
    if out.numel():
        if x.numel() == 0:
            fill_into(out, 0)
        else:
            avgpool_fwd(op, x, out, g)
    if graph.recording(x):
        name = "AdaptiveAvgPool2DBackward0" if g.adaptive else "AvgPool2DBackward0"
        graph.record(name, out, (x,), lambda gy: (_avg_backward(gy, g),))
    return out


def _avg_backward(gy, g):
    gy = _raw_contiguous(gy)
    gx = Tensor._empty(g.in_shape, gy.dtype, gy._storage.device)
    if gx.numel():
        if gy.numel() == 0:
            fill_into(gx, 0)
        else:
            avgpool_bwd(gy, gx, g)
    if graph.recording(gy):
        graph.record("AvgPool2DBackwardBackward0", gx, (gy,), lambda gg: (_avg_forward(gg, g),))
    return gx


# ------------------------------------------------------------------------------------ arguments
_tuple = int_tuple   # (shared with the other family: kernels.layout.int_tuple)


def _as_4d(op, input):
    """(4-D view, unbatched flag): pools take (C, H, W) or (N, C, H, W)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype.name}")
    if input.dim() == 3:
        return input.unsqueeze(0), True
    if input.dim() != 4:
        raise ValueError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
                         f"{list(input._shape)}")
    return input, False


def _out_size(op, size, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape."""
    eff = d * (k - 1) + 1
    out = (size + 2 * p - eff + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _window_geom(op, input, x, kernel_size, stride, padding, dilation, ceil_mode, **flags):
    K = _tuple(op, "kernel_size", kernel_size, 2)
    S = K if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _tuple(op, "stride", stride, 2)
    P, D = _tuple(op, "padding", padding, 2), _tuple(op, "dilation", dilation, 2)
    for name, v in (("kernel_size", K), ("stride", S), ("dilation", D)):
        if min(v) <= 0:
            raise ValueError(f"{op}: {name} must be greater than zero, got {v}")
    for p, k, d in zip(P, K, D):
        if p < 0 or p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: pad should be at most half of effective kernel size, but "
                             f"got pad={P}, kernel_size={K} and dilation={D}")
    N, C, H, W = x._shape
    OH = _out_size(op, H, K[0], S[0], P[0], D[0], ceil_mode)
    OW = _out_size(op, W, K[1], S[1], P[1], D[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: given input size {list(input._shape)}, kernel {K}, stride {S}, "
                         f"padding {P} and dilation {D}, the output size ({OH} x {OW}) is too "
                         f"small")
    return PoolGeom(N, C, H, W, OH, OW, K, S, P, D, **flags)


def _adaptive_geom(op, input, x, output_size):
    N, C, H, W = x._shape
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size}")
        OH, OW = (H if output_size[0] is None else int(output_size[0]),
                  W if output_size[1] is None else int(output_size[1]))
    else:
        OH = OW = int(output_size)
    if OH < 0 or OW < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {(OH, OW)}")
    if (H == 0 or W == 0) and OH * OW and N * C:
        raise ValueError(f"{op}: expected non-empty spatial dimensions, got input "
                         f"{list(input._shape)}")
    return PoolGeom(N, C, H, W, OH, OW, adaptive=True)


def _finish(out, unbatched):
    return out.squeeze(0) if unbatched else out


# ------------------------------------------------------------------------------------ public
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """torch.nn.functional.max_pool2d; indices are flat h*W + w per plane (int64)."""
    x, unbatched = _as_4d("max_pool2d", input)
    g = _window_geom("max_pool2d", input, x, kernel_size, stride, padding, dilation, ceil_mode)
    out, idx = _max_forward(x, g, "max_pool2d")
    if return_indices:
        return _finish(out, unbatched), _finish(idx, unbatched)
    return _finish(out, unbatched)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _lift_1d(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                         f"{list(input._shape)}")
    return input.unsqueeze(-2)


def _one(op, name, v):
    return _tuple(op, name, v, 1)[0]


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    op = "max_pool1d"
    s = None if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else (1, _one(op, "stride", stride))
    r = max_pool2d(_lift_1d(op, input), (1, _one(op, "kernel_size", kernel_size)), s,
                   (0, _one(op, "padding", padding)), (1, _one(op, "dilation", dilation)),
                   ceil_mode, return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """torch.nn.functional.avg_pool2d with PyTorch's divisor rules."""
    x, unbatched = _as_4d("avg_pool2d", input)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero")
    g = _window_geom("avg_pool2d", input, x, kernel_size, stride, padding, 1, ceil_mode,
                     count_pad=bool(count_include_pad), divisor=int(divisor_override or 0))
    return _finish(_avg_forward(x, g), unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    op = "avg_pool1d"
    s = None if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else (1, _one(op, "stride", stride))
    return avg_pool2d(_lift_1d(op, input), (1, _one(op, "kernel_size", kernel_size)), s,
                      (0, _one(op, "padding", padding)), ceil_mode,
                      count_include_pad).squeeze(-2)


def adaptive_avg_pool2d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool2d: windows [floor(i*H/OH), ceil((i+1)*H/OH))."""
    x, unbatched = _as_4d("adaptive_avg_pool2d", input)
    g = _adaptive_geom("adaptive_avg_pool2d", input, x, output_size)
    return _finish(_avg_forward(x, g, "adaptive_avg_pool2d"), unbatched)


def adaptive_avg_pool1d(input, output_size):
    op = "adaptive_avg_pool1d"
    return adaptive_avg_pool2d(_lift_1d(op, input),
                               (1, _one(op, "output_size", output_size))).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    x, unbatched = _as_4d("adaptive_max_pool2d", input)
    g = _adaptive_geom("adaptive_max_pool2d", input, x, output_size)
    if g.H * g.W == 0 and g.N * g.C * g.OH * g.OW:
        raise ValueError(f"adaptive_max_pool2d: expected non-empty spatial dimensions, got "
                         f"input {list(input._shape)}")
    out, idx = _max_forward(x, g, "adaptive_max_pool2d")
    if return_indices:
        return _finish(out, unbatched), _finish(idx, unbatched)
    return _finish(out, unbatched)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    op = "adaptive_max_pool1d"
    r = adaptive_max_pool2d(_lift_1d(op, input), (1, _one(op, "output_size", output_size)),
                            return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


# ------------------------------------------------------------------------------------ resampling
def _nearest(x, g, scales):
    out = Tensor._empty(g.out_shape, x.dtype, x._storage.device)
    if out.numel():
        nearest_fwd(x, out, g, scales)
    if graph.recording(x):
        graph.record("UpsampleNearest2DBackward0", out, (x,),
                     lambda gy: (_nearest_backward(gy, g, scales),))
    return out


def _nearest_backward(gy, g, scales):
    gy = _raw_contiguous(gy)
    gx = Tensor._empty(g.in_shape, gy.dtype, gy._storage.device)
    if gx.numel():
        if gy.numel() == 0:
            fill_into(gx, 0)
        else:
            nearest_bwd(gy, gx, g, scales)
    if graph.recording(gy):
        graph.record("UpsampleNearest2DBackwardBackward0", gx, (gy,),
                     lambda gg: (_nearest(gg, g, scales),))
    return gx


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """torch.nn.functional.interpolate for mode='nearest' on 3-D (N, C, L) and 4-D inputs."""
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if mode != "nearest":
        raise ValueError(f"{op}: clnet supports mode='nearest' only, got mode={mode!r}")
    if align_corners is not None:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear | bicubic | trilinear")
    if antialias:
        raise ValueError(f"{op}: anti-alias option is only supported for bilinear and bicubic "
                         f"modes")
    if input.dim() not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D or 4-D input for mode='nearest', got shape "
                         f"{list(input._shape)}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype.name}")
    nsp = input.dim() - 2
    spatial = input._shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        out_sz = _tuple(op, "size", size, nsp)
        scales = [None] * nsp
    else:
        sf = (tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list))
              else (float(scale_factor),) * nsp)
        if len(sf) != nsp:
            raise ValueError(f"{op}: scale_factor shape must match input shape. Input is {nsp}D, "
                             f"scale_factor size is {len(sf)}")
        out_sz = tuple(int(math.floor(float(s) * f)) for s, f in zip(spatial, sf))
        scales = [None] * nsp if recompute_scale_factor else list(sf)
    if min(out_sz) <= 0:
        raise ValueError(f"{op}: output size {out_sz} must be positive (input "
                         f"{list(input._shape)})")
    # PyTorch's compute_scales_value<float>: 1/scale when given, else in/out, in float32
    fs = [_F32(1.0 / s) if s is not None and s > 0 else _F32(_F32(i) / _F32(o))
          for s, i, o in zip(scales, spatial, out_sz)]
    x = input.unsqueeze(-2) if nsp == 1 else input
    if nsp == 1:
        out_sz, fs = (1,) + out_sz, [_F32(1.0)] + fs
    N, C, H, W = x._shape
    g = PoolGeom(N, C, H, W, out_sz[0], out_sz[1])
    out = _nearest(x, g, (fs[0], fs[1]))
    return out.squeeze(-2) if nsp == 1 else out


# ------------------------------------------------------------------------------------ padding
def constant_pad_nd(input, pad, value=0):
    """Pad (or crop, for negative amounts) the last len(pad)//2 dims; pad lists (left, right)
    pairs starting from the last dimension, like torch.nn.functional.pad."""
    op = "pad"
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.dim():
        raise ValueError(f"{op}: padding length must be even and at most twice the number of "
                         f"dimensions ({input.dim()}), got {len(pad)} for shape "
                         f"{list(input._shape)}")
    nd = input.dim()
    out_shape = list(input._shape)
    src_off, src_shape = input._offset, list(input._shape)
    dst_start = [0] * nd
    for k in range(len(pad) // 2):
        d = nd - 1 - k
        left, right = pad[2 * k], pad[2 * k + 1]
        size = input._shape[d] + left + right
        if size < 0:
            raise ValueError(f"{op}: the input size {input._shape[d]} in dimension {d} plus "
                             f"padding {left} and {right} gives a negative size {size}")
        out_shape[d] = size
        crop_l, crop_r = max(0, -left), max(0, -right)
        src_off += crop_l * input._stride[d]
        src_shape[d] = max(0, input._shape[d] - crop_l - crop_r)
        dst_start[d] = max(0, left)
    out = Tensor._empty(tuple(out_shape), input.dtype, input._storage.device)
    fill_into(out, value)
    if all(s > 0 for s in src_shape) and out.numel():
        src = Tensor._make(input._storage, tuple(src_shape), input._stride, src_off, input.dtype)
        dst = Tensor._make(out._storage, tuple(src_shape), out._stride,
                           sum(s * st for s, st in zip(dst_start, out._stride)), out.dtype)
        copy_into(dst, src, op)
    if graph.recording(input) and out.dtype.is_floating_point:
        back = [-p for p in pad]
        graph.record("ConstantPadNdBackward0", out, (input,),
                     lambda g: (constant_pad_nd(g, back, 0),))
    return out


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad; mode='constant' only (negative amounts crop)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: expected a Tensor input, got {type(input).__name__}")
    if mode != "constant":
        raise ValueError(f"pad: clnet supports mode='constant' only, got mode={mode!r}")
    return constant_pad_nd(input, pad, 0 if value is None else value)
