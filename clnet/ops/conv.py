"""Convolutions: conv2d, conv1d, conv_transpose2d, conv_transpose1d (torch.nn.functional's).

A convolution is im2col (cl_kernels/conv.cl: every batch at once into a (C*KH*KW, N*OH*OW)
matrix) and one strided GEMM (clnet/kernels/gemm.py) per group with the bias added in the GEMM's
epilogue; 1x1 convolutions with stride 1 and no padding skip im2col and multiply the input in
place.

Three linear maps are each other's adjoints, and each one's backward is written with the others,
so gradients of gradients work without extra code:
  _conv(x, w)          y = conv2d(x, w)                  -> (N, Cout, OH, OW)
  _conv_t(y, w)        x = conv2d's input gradient       -> (N, C, H, W)   (= conv_transpose2d)
                         (W^T @ y per group, then col2im: a gather, no atomics)
  _conv_weight(x, y)   w = conv2d's weight gradient      -> (Cout, C/groups, KH, KW)
                         (one GEMM over all N*OH*OW positions of the batch)
plus _channel_sum(y) for the bias gradient.
"""
from .. import graph
from ..tensor import Tensor
from ..kernels.conv import ConvGeom, channel_sum, col2im, im2col, to_cnhw
from ..kernels.gemm import gemm
from ..kernels.layout import int_tuple, same_device
from .copy import copy_into, fill_into

__all__ = ["conv2d", "conv1d", "conv_transpose2d", "conv_transpose1d"]


def _plane_stride(t):
    """The element stride of the flattened (H*W) index of a 4-D tensor, or None when H and W do
    not merge into one strided dimension."""
    h, w = t._shape[2], t._shape[3]
    if w == 1:
        return t._stride[2]
    if h == 1 or t._stride[2] == w * t._stride[3]:
        return t._stride[3]
    return None


def _raw_contiguous(t):
    """A contiguous copy that records nothing (our own nodes carry the gradient)."""
    if t.is_contiguous():
        return t
    return copy_into(Tensor._empty(t._shape, t.dtype, t._storage.device), t, "conv")


def _zeros(shape, like):
    return fill_into(Tensor._empty(shape, like.dtype, like._storage.device), 0)




# ---------------------------------------------------------------------------------- raw maps
def _bias_operand(b, rows_per_group):
    """The GEMM addend for a per-row (channel) bias, broadcast along the columns."""
    sb = b._stride[0]
    return (b, b._offset, (rows_per_group * sb, 0), sb, 0)


def _forward_raw(x, w, b, g):
    """conv2d: (out, cols); cols is None on the 1x1 path (nothing to keep for the backward)."""
    dev = x._storage.device
    P, Cg, Cog = g.OH * g.OW, g.C // g.G, g.Cout // g.G
    Kg = Cg * g.KH * g.KW
    out = Tensor._empty((g.N, g.Cout, g.OH, g.OW), x.dtype, dev)
    if out.numel() == 0:
        return out, None
    if Kg == 0:
        return (_fill_bias(out, b) if b is not None else _zeros(out._shape, out)), None
    w = _raw_contiguous(w)
    ps = _plane_stride(x) if g.pointwise else None
    cols = None
    if ps is not None:
        B = (x, x._offset, (Cg * x._stride[1], x._stride[0]), x._stride[1], ps)
    else:
        cols = im2col(x, g)
        B = (cols, 0, (Kg * g.N * P, P), g.N * P, 1)
    A = (w, w._offset, (Cog * Kg, 0), Kg, 1)
    C = (out, 0, (Cog * P, g.Cout * P), P, 1)
    X = _bias_operand(b, Cog) if b is not None else None
    gemm("conv2d", (g.G, g.N), Cog, P, Kg, A, B, C, X, 1, 1, table="conv.gemm")
    return out, cols


def _fill_bias(out, b):
    n, c, h, w = out._shape
    view = Tensor._make(out._storage, (n, h, w, c), (c * h * w, w, 1, h * w), 0, out.dtype)
    copy_into(view, b, "conv2d")
    return out


def _transpose_raw(y, w, b, g):
    """conv2d's input gradient of output-gradient ``y`` (= conv_transpose2d): (N, C, H, W)."""
    dev = y._storage.device
    P, Cg, Cog = g.OH * g.OW, g.C // g.G, g.Cout // g.G
    Kg = Cg * g.KH * g.KW
    if g.N * g.C * g.H * g.W == 0:
        return Tensor._empty((g.N, g.C, g.H, g.W), y.dtype, dev)
    if P == 0 or Cog == 0:
        out = _zeros((g.N, g.C, g.H, g.W), y)
        return _fill_bias(out, b) if b is not None else out
    ys = _plane_stride(y)
    if ys is None:
        y = _raw_contiguous(y)
        ys = 1
    w = _raw_contiguous(w)
    A = (w, w._offset, (Cog * Kg, 0), 1, Kg)            # W_g^T: (Kg, Cog)
    B = (y, y._offset, (Cog * y._stride[1], y._stride[0]), y._stride[1], ys)
    if g.pointwise:
        out = Tensor._empty((g.N, g.C, g.H, g.W), y.dtype, dev)
        C = (out, 0, (Cg * P, g.C * P), P, 1)
        X = _bias_operand(b, Cg) if b is not None else None
        gemm("conv_transpose2d", (g.G, g.N), Cg, P, Cog, A, B, C, X, 1, 1, table="conv.gemm")
        return out
    # per-image column blocks (N, C*KH*KW, P): see col2im in cl_kernels/conv.cl
    cols = Tensor._empty((g.N, g.C * g.KH * g.KW, P), y.dtype, dev)
    C = (cols, 0, (Kg * P, g.C * g.KH * g.KW * P), P, 1)
    gemm("conv_transpose2d", (g.G, g.N), Kg, P, Cog, A, B, C, table="conv.gemm")
    return col2im(cols, b, g)


def _weight_raw(x, y, g, cols=None):
    """conv2d's weight gradient for input ``x`` and output-gradient ``y``: one GEMM per group
    over the N*OH*OW positions, (Cout, C/G, KH, KW)."""
    P, Cg, Cog = g.OH * g.OW, g.C // g.G, g.Cout // g.G
    Kg = Cg * g.KH * g.KW
    shape = (g.Cout, Cg, g.KH, g.KW)
    if g.N * P == 0 or g.Cout * Kg == 0:
        return _zeros(shape, x)
    ys = _plane_stride(y) if g.N == 1 else None
    if ys is not None:
        A = (y, y._offset, (Cog * y._stride[1],), y._stride[1], ys)
    else:
        # the output gradient as a (Cout, N*OH*OW) matrix: one permuting copy
        yp = to_cnhw(y)
        A = (yp, 0, (Cog * g.N * P,), g.N * P, 1)
    xs = _plane_stride(x) if (cols is None and g.pointwise and g.N == 1) else None
    if xs is not None:
        B = (x, x._offset, (Cg * x._stride[1],), xs, x._stride[1])
    else:
        if cols is None:
            cols = im2col(x, g)
        B = (cols, 0, (Kg * g.N * P,), 1, g.N * P)
    out = Tensor._empty(shape, x.dtype, x._storage.device)
    gemm("conv2d backward", (g.G,), Cog, Kg, g.N * P, A, B, (out, 0, (Cog * Kg,), Kg, 1),
         table="conv.gemm")
    return out


# ------------------------------------------------------------------------- recorded (adjoints)
def _conv(x, w, b, g):
    out, cols = _forward_raw(x, w, b, g)
    if graph.recording(x, w, b):
        need_x, need_w = x.requires_grad, w.requires_grad
        need_b = b is not None and b.requires_grad
        keep = cols if need_w else None

        def backward(gy):
            return (_conv_t(gy, w, None, g) if need_x else None,
                    _conv_weight(x, gy, g, keep) if need_w else None,
                    _channel_sum(gy) if need_b else None)
        graph.record("ConvolutionBackward0", out, (x, w, b), backward, saved=(x, w))
    return out


def _conv_t(y, w, b, g):
    out = _transpose_raw(y, w, b, g)
    if graph.recording(y, w, b):
        need_y, need_w = y.requires_grad, w.requires_grad
        need_b = b is not None and b.requires_grad

        def backward(gx):
            return (_conv(gx, w, None, g) if need_y else None,
                    _conv_weight(gx, y, g) if need_w else None,
                    _channel_sum(gx) if need_b else None)
        graph.record("ConvolutionBackward0", out, (y, w, b), backward, saved=(y, w))
    return out


def _conv_weight(x, y, g, cols=None):
    out = _weight_raw(x, y, g, cols)
    if graph.recording(x, y):
        need_x, need_y = x.requires_grad, y.requires_grad

        def backward(gw):
            return (_conv_t(y, gw, None, g) if need_x else None,
                    _conv(x, gw, None, g) if need_y else None)
        graph.record("ConvolutionBackwardBackward0", out, (x, y), backward, saved=(x, y))
    return out


def _channel_sum(y):
    out = channel_sum(y)
    if graph.recording(y):
        shape = y._shape

        def backward(gb):
            return (gb.reshape(1, shape[1], 1, 1).expand(shape),)
        graph.record("SumBackward1", out, (y,), backward)
    return out


# ---------------------------------------------------------------------------------- arguments
_tuple = int_tuple   # (shared with the other family: kernels.layout.int_tuple)


def _check_tensors(op, input, weight, bias):
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype.name}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype is not input.dtype:
            raise TypeError(f"{op}: input type ({input.dtype.name}) and {name} type "
                            f"({t.dtype.name}) should be the same")
    same_device(op, *[t for t in (input, weight, bias) if t is not None])


def _check_positive(op, **params):
    for name, v in params.items():
        if any(e <= 0 for e in v):
            raise ValueError(f"{op}: {name} must be positive, got {v}")


def _check_bias(op, bias, channels):
    if bias is not None and tuple(bias._shape) != (channels,):
        raise ValueError(f"{op}: expected bias of shape [{channels}], got {list(bias._shape)}")


def _batched(op, input, nd):
    """(4-D input, was_unbatched) for spatial rank ``nd`` 2 (conv1d is lifted before)."""
    if input.dim() == nd + 1:
        return input.unsqueeze(0), True
    if input.dim() != nd + 2:
        raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                         f"input, got shape {list(input._shape)}")
    return input, False


def _conv2d(op, input, weight, bias, stride, padding, dilation, groups):
    _check_tensors(op, input, weight, bias)
    x, unbatched = _batched(op, input, 2)
    if weight.dim() != 4:
        raise ValueError(f"{op}: expected a 4-D weight (out_channels, in_channels/groups, kH, kW),"
                         f" got shape {list(weight._shape)}")
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    N, C, H, W = x._shape
    Cout, Cg, KH, KW = weight._shape
    if C % groups:
        raise ValueError(f"{op}: in_channels ({C}) of input {list(input._shape)} is not divisible "
                         f"by groups ({groups})")
    if Cout % groups:
        raise ValueError(f"{op}: out_channels ({Cout}) of weight {list(weight._shape)} is not "
                         f"divisible by groups ({groups})")
    if Cg != C // groups:
        raise ValueError(f"{op}: expected weight of shape [{Cout}, {C // groups}, {KH}, {KW}] "
                         f"for input {list(input._shape)} with groups={groups}, got "
                         f"{list(weight._shape)}")
    _check_bias(op, bias, Cout)
    (SH, SW), (DH, DW) = _tuple(op, "stride", stride, 2), _tuple(op, "dilation", dilation, 2)
    _check_positive(op, stride=(SH, SW), dilation=(DH, DW))
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if (SH, SW) != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {(SH, SW)})")
            th, tw = DH * (KH - 1), DW * (KW - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)   # extra on the bottom/right
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, got "
                             f"{padding!r}")
    else:
        ph, pw = _tuple(op, "padding", padding, 2)
        if ph < 0 or pw < 0:
            raise ValueError(f"{op}: negative padding is not supported, got {(ph, pw)}")
        pads = (ph, ph, pw, pw)
    eh, ew = DH * (KH - 1) + 1, DW * (KW - 1) + 1
    hp, wp = H + pads[0] + pads[1], W + pads[2] + pads[3]
    if hp < eh or wp < ew:
        raise ValueError(f"{op}: input {list(input._shape)} padded to ({hp} x {wp}) per channel is "
                         f"smaller than the (dilated) kernel ({eh} x {ew})")
    g = ConvGeom(N=N, C=C, H=H, W=W, Cout=Cout, OH=(hp - eh) // SH + 1, OW=(wp - ew) // SW + 1,
              KH=KH, KW=KW, SH=SH, SW=SW, PH=pads[0], PW=pads[2], DH=DH, DW=DW, G=groups)
    out = _conv(x, weight, bias, g)
    return out.squeeze(0) if unbatched else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: (N, C, H, W) or (C, H, W) input, padding int/tuple/'valid'/
    'same' (asymmetric like torch when the total padding is odd)."""
    return _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: conv2d over a unit height."""
    _check_tensors("conv1d", input, weight, bias)
    if input.dim() not in (2, 3):
        raise ValueError(f"conv1d: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                         f"{list(input._shape)}")
    if weight.dim() != 3:
        raise ValueError(f"conv1d: expected a 3-D weight (out_channels, in_channels/groups, kW), "
                         f"got shape {list(weight._shape)}")
    pad = padding if isinstance(padding, str) else (0, _tuple("conv1d", "padding", padding, 1)[0])
    out = _conv2d("conv1d", input.unsqueeze(-2), weight.unsqueeze(-2), bias,
                  (1, _tuple("conv1d", "stride", stride, 1)[0]), pad,
                  (1, _tuple("conv1d", "dilation", dilation, 1)[0]), groups)
    return out.squeeze(-2)


def _conv_transpose2d(op, input, weight, bias, stride, padding, output_padding, groups,
                      dilation):
    _check_tensors(op, input, weight, bias)
    y, unbatched = _batched(op, input, 2)
    if weight.dim() != 4:
        raise ValueError(f"{op}: expected a 4-D weight (in_channels, out_channels/groups, kH, kW),"
                         f" got shape {list(weight._shape)}")
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    N, Cin, H, W = y._shape
    Cw, Coutg, KH, KW = weight._shape
    if Cin % groups:
        raise ValueError(f"{op}: in_channels ({Cin}) of input {list(input._shape)} is not "
                         f"divisible by groups ({groups})")
    if Cw != Cin:
        raise ValueError(f"{op}: expected weight of shape [{Cin}, out_channels/groups, {KH}, "
                         f"{KW}] for input {list(input._shape)}, got {list(weight._shape)}")
    Cout = Coutg * groups
    _check_bias(op, bias, Cout)
    (SH, SW), (DH, DW) = _tuple(op, "stride", stride, 2), _tuple(op, "dilation", dilation, 2)
    _check_positive(op, stride=(SH, SW), dilation=(DH, DW))
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got {padding!r}")
    (PH, PW), (OPH, OPW) = (_tuple(op, "padding", padding, 2),
                            _tuple(op, "output_padding", output_padding, 2))
    if min(PH, PW, OPH, OPW) < 0:
        raise ValueError(f"{op}: padding and output_padding must be non-negative, got "
                         f"{(PH, PW)} and {(OPH, OPW)}")
    if (OPH >= SH and OPH >= DH) or (OPW >= SW and OPW >= DW):
        raise ValueError(f"{op}: output padding {(OPH, OPW)} must be smaller than either stride "
                         f"{(SH, SW)} or dilation {(DH, DW)}")
    HO = (H - 1) * SH - 2 * PH + DH * (KH - 1) + OPH + 1
    WO = (W - 1) * SW - 2 * PW + DW * (KW - 1) + OPW + 1
    if HO <= 0 or WO <= 0:
        raise ValueError(f"{op}: input {list(input._shape)} with kernel {(KH, KW)}, stride "
                         f"{(SH, SW)} and padding {(PH, PW)} gives an empty output "
                         f"({HO} x {WO})")
    # the convolution whose input gradient this is: image (N, Cout, HO, WO) -> (N, Cin, H, W)
    g = ConvGeom(N=N, C=Cout, H=HO, W=WO, Cout=Cin, OH=H, OW=W, KH=KH, KW=KW, SH=SH, SW=SW,
              PH=PH, PW=PW, DH=DH, DW=DW, G=groups)
    out = _conv_t(y, weight, bias, g)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """torch.nn.functional.conv_transpose2d; weight (in_channels, out_channels/groups, kH, kW)."""
    return _conv_transpose2d("conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """torch.nn.functional.conv_transpose1d: conv_transpose2d over a unit height."""
    _check_tensors("conv_transpose1d", input, weight, bias)
    if input.dim() not in (2, 3) or weight.dim() != 3:
        raise ValueError(f"conv_transpose1d: expected a 2-D or 3-D input and a 3-D weight, got "
                         f"shapes {list(input._shape)} and {list(weight._shape)}")
    one = lambda name, v: _tuple("conv_transpose1d", name, v, 1)[0]  # noqa: E731
    out = _conv_transpose2d("conv_transpose1d", input.unsqueeze(-2), weight.unsqueeze(-2), bias,
                            (1, one("stride", stride)), (0, one("padding", padding)),
                            (0, one("output_padding", output_padding)), groups,
                            (1, one("dilation", dilation)))
    return out.squeeze(-2)
