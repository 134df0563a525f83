"""conv.cl's launches: im2col, col2im (with an optional bias), the (C, N, H, W) transpose of a
gradient and the per-channel sum, each taking the ConvGeom struct that describes one
convolution. The GEMMs between them are kernels/gemm.py's; clnet/ops/conv.py holds the ops and
their backward rules (each written with the others, so gradients of gradients work).
"""
import numpy as np

from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .copy import fill_into
from .layout import buf, check_index_range, launch_1d

_I32 = np.int32
_CS_LOCAL = 64   # CS_LOCAL in conv.cl

_program = ProgramCache("conv")


class ConvGeom:
    """The geometry of one convolution: image (N, C, H, W), output (N, Cout, OH, OW), kernel,
    stride, top/left padding, dilation, groups. Shared by the forward and every backward."""

    __slots__ = ("N", "C", "H", "W", "Cout", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW",
                 "DH", "DW", "G")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, int(v))

    def struct(self, t=None, dims=None):
        """The ConvGeom struct; the image operand ``t``'s offset and strides go at the end.
        ``dims`` overrides (N, C, H, W) (channel_sum passes the output's)."""
        n, c, h, w = dims if dims is not None else (self.N, self.C, self.H, self.W)
        strides = (t._offset,) + tuple(t._stride) if t is not None else (0, 0, 0, 0, 0)
        return np.array((n, c, h, w, self.OH, self.OW, self.KH, self.KW, self.SH, self.SW,
                         self.PH, self.PW, self.DH, self.DW) + strides, dtype=_I32)

    @property
    def pointwise(self):
        """1x1, stride 1, no padding: the input itself is the column matrix."""
        return (self.KH == 1 and self.KW == 1 and self.SH == 1 and self.SW == 1 and
                self.PH == 0 and self.PW == 0 and self.OH == self.H and self.OW == self.W)


def _identity_geom():
    return ConvGeom(OH=0, OW=0, KH=1, KW=1, SH=1, SW=1, PH=0, PW=0, DH=1, DW=1)


def im2col(x, g):
    """cols (C*KH*KW, N*OH*OW): row (c, ki, kj), column (n, oh, ow), of the image ``x``
    (N, C, H, W, any strides)."""
    dev = x._storage.device
    cols = Tensor._empty((g.C * g.KH * g.KW, g.N * g.OH * g.OW), x.dtype, dev)
    total = g.C * g.KH * g.N       # one work-item per (c, ki, n)
    if cols.numel():
        check_index_range("conv2d", x, cols)
        k = _program(dev).kernel(f"im2col_{x.dtype.cl}", [_I32, None, None, None])
        launch_1d(dev, k, total, total, buf(x), buf(cols), g.struct(x))
    return cols


def col2im(cols, bias, g):
    """The image (N, C, H, W) summing every column entry into the pixel it was read from, plus
    ``bias`` (C,) per channel when given."""
    dev = cols._storage.device
    out = Tensor._empty((g.N, g.C, g.H, g.W), cols.dtype, dev)
    total = g.N * g.C * g.H
    if out.numel():
        check_index_range("conv_transpose2d", cols, out)
        k = _program(dev).kernel(f"col2im_{cols.dtype.cl}",
                                 [_I32, None, None, None, _I32, _I32, _I32, None])
        if bias is None:
            launch_1d(dev, k, total, total, buf(cols), buf(out), buf(out), 0, 0, 0, g.struct())
        else:
            launch_1d(dev, k, total, total, buf(cols), buf(out), buf(bias), bias._offset,
                      bias._stride[0], 1, g.struct())
    return out


def to_cnhw(y):
    """(C, N, H, W) contiguous copy of a 4-D y (any strides): y as a (C, N*H*W) matrix."""
    n, c, h, w = y._shape
    dev = y._storage.device
    out = Tensor._empty((c, n, h, w), y.dtype, dev)
    check_index_range("conv2d backward", y, out)
    k = _program(dev).kernel(f"to_cnhw_{y.dtype.cl}", [_I32, None, None, None])
    launch_1d(dev, k, n * c, n * c, buf(y), buf(out),
              _identity_geom().struct(y, dims=(n, c, h, w)))
    return out


def channel_sum(y):
    """out[c] = sum of y[:, c] for a 4-D y (any strides): one work-group per channel."""
    n, c, h, w = y._shape
    dev = y._storage.device
    out = Tensor._empty((c,), y.dtype, dev)
    if c == 0:
        return out
    if n * h * w == 0:
        return fill_into(out, 0)
    check_index_range("conv2d backward", y)
    k = _program(dev).kernel(f"channel_sum_{y.dtype.cl}", [None, None, None])
    enqueue(dev, k, (c * _CS_LOCAL,), (_CS_LOCAL,), buf(y), buf(out),
            _identity_geom().struct(y, dims=(n, c, h, w)))
    return out
