"""pool.cl's launches: max / average / adaptive pooling, the gather at max-pool's indices and
nearest-neighbour resampling, forward and backward, each taking the PoolGeom struct. Forward
kernels read the input in place (any strides, offset in the struct); backward kernels gather
per input pixel. Max pools whose windows tile the image take kernels unrolled for the window.
clnet/ops/pool.py holds the ops, their argument rules and their (adjoint) backward rules.
"""
import numpy as np

from ..backend.programs import ProgramCache
from .layout import buf, check_index_range, launch_1d

_I32 = np.int32
_F32 = np.float32


class PoolGeom:
    """Pooling geometry: image (N, C, H, W) -> (N, C, OH, OW)."""

    __slots__ = ("N", "C", "H", "W", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW",
                 "adaptive", "count_pad", "divisor")

    def __init__(self, N, C, H, W, OH, OW, K=(1, 1), S=(1, 1), P=(0, 0), D=(1, 1),
                 adaptive=False, count_pad=True, divisor=0):
        self.N, self.C, self.H, self.W, self.OH, self.OW = N, C, H, W, OH, OW
        (self.KH, self.KW), (self.SH, self.SW), (self.PH, self.PW) = K, S, P
        self.DH, self.DW = D
        self.adaptive, self.count_pad, self.divisor = int(adaptive), int(count_pad), int(divisor)

    def struct(self, t=None):
        strides = (t._offset,) + tuple(t._stride) if t is not None else (0, 0, 0, 0, 0)
        return np.array((self.C, self.H, self.W, self.OH, self.OW, self.KH, self.KW, self.SH,
                         self.SW, self.PH, self.PW, self.DH, self.DW, self.adaptive,
                         self.count_pad, self.divisor) + strides, dtype=_I32)

    @property
    def in_shape(self):
        return (self.N, self.C, self.H, self.W)

    @property
    def out_shape(self):
        return (self.N, self.C, self.OH, self.OW)

    @property
    def tiled(self):
        """Windows that tile the image (stride == kernel, no padding, dilation 1, none
        partial): the maxpool_tile_* kernels of the program built with POOL_KH/POOL_KW."""
        return (not self.adaptive and (self.SH, self.SW) == (self.KH, self.KW)
                and (self.PH, self.PW) == (0, 0) and (self.DH, self.DW) == (1, 1)
                and self.OH * self.KH <= self.H and self.OW * self.KW <= self.W)


_programs = ProgramCache("pool")
# the tiled max-pool kernels unroll their window: one program per window size
_tiled_programs = ProgramCache("pool", lambda dev, kh, kw: (("POOL_KH", kh),
                                                          ("POOL_KW", kw)))
_NO_EXTRA = ((), ())


def _launch(name, op, src, out, g, *args, extra=_NO_EXTRA):
    """One work-item per row (all dims but the last) of ``out`` (non-empty); ``args`` are the
    buffers after the row count, ``extra`` (types, values) the scalars after the struct."""
    total = out.numel() // out._shape[-1]
    check_index_range(op, src, out)
    dev = out._storage.device
    k = _programs(dev).kernel(f"{name}_{out.dtype.cl}",
                              [_I32] + [None] * len(args) + [None] + list(extra[0]))
    launch_1d(dev, k, total, total, *args, g.struct(src), *extra[1])


def _launch_tiled(name, op, src, out, g, *args):
    """One work-item per output row (n, c, oh) of a tiled max pool."""
    total = g.N * g.C * g.OH
    check_index_range(op, src, out)
    dev = out._storage.device
    k = _tiled_programs(dev, g.KH, g.KW).kernel(f"{name}_{src.dtype.cl}",
                                                [_I32] + [None] * (len(args) + 1))
    launch_1d(dev, k, total, total, *args, g.struct(src))


def maxpool_fwd(op, x, out, idx, g):
    """``out`` and the int64 argmax ``idx`` (both (N, C, OH, OW), non-empty) of image ``x``."""
    if g.tiled and x.is_contiguous():
        _launch_tiled("maxpool_tile_fwd", op, x, out, g, buf(x), buf(out), buf(idx))
    else:
        _launch("maxpool_fwd", op, x, out, g, buf(x), buf(out), buf(idx))


def maxpool_bwd(gy, idx, gx, g):
    """``gx`` (the image) = for each pixel, the sum of the (contiguous) output gradients ``gy``
    whose argmax it is."""
    if g.tiled:
        _launch_tiled("maxpool_tile_bwd", "max_pool2d backward", gy, gx, g, buf(gy), buf(idx),
                      buf(gx))
    else:
        _launch("maxpool_bwd", "max_pool2d backward", gy, gx, g, buf(gy), buf(idx), buf(gx))


def pool_gather(src, idx, out, g):
    """out[n, c, o] = src[n, c, idx[n, c, o]] (contiguous ``src``): maxpool_bwd's adjoint."""
    _launch("pool_gather", "max_pool2d double backward", src, out, g, buf(src), buf(idx),
            buf(out))


def avgpool_fwd(op, x, out, g):
    _launch("avgpool_fwd", op, x, out, g, buf(x), buf(out))


def avgpool_bwd(gy, gx, g):
    _launch("avgpool_bwd", "avg_pool2d backward", gy, gx, g, buf(gy), buf(gx))


def nearest_fwd(x, out, g, scales):
    _launch("nearest_fwd", "interpolate", x, out, g, buf(x), buf(out),
            extra=((_F32, _F32), scales))


def nearest_bwd(gy, gx, g, scales):
    _launch("nearest_bwd", "interpolate backward", gy, gx, g, buf(gy), buf(gx),
            extra=((_F32, _F32), scales))
