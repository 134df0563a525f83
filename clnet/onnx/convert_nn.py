"""Converters of the nn ops: linear and matmul, reductions, softmax, convolutions, pooling,
normalization, dropout (eval: identity), embedding, pad, masked_fill."""
import numpy as np

from .. import dtypes
from ..nn import functional as NF
from ..ops import conv as CV
from ..ops import dropout as D
from ..ops import embedding as E
from ..ops import index as I
from ..ops import linalg as L
from ..ops import norm as N
from ..ops import pool as PL
from ..ops import reduce as R
from ..ops import softmax as S
from ..tensor import Tensor
from .convert_util import (cast, dims_arg, ntuple, operand, reduce_node, reduced_dyn,
                           tensor_attr, wrap_dim)
from .tracer import converts


def _like(ctx, out, name, *like):
    ctx.out(out, name, like=like)


# ----------------------------------------------------------------------- linalg
@converts(L.linear)
def _linear(ctx, out, x, weight, bias=None):
    if x.dim() == 2:
        ins = [ctx.name(x), ctx.name(weight)] + ([ctx.name(bias)] if bias is not None else [])
        _like(ctx, out, ctx.node("Gemm", ins, transB=1), x)
        return
    y = ctx.node("MatMul", [ctx.name(x), ctx.node("Transpose", [ctx.name(weight)], perm=[1, 0])])
    if bias is not None:
        y = ctx.node("Add", [y, ctx.name(bias)])
    _like(ctx, out, y, x)


def _matmul(swap=False):
    def conv(ctx, out, a, b, *rest):
        if swap:
            a, b = b, a
        dt = out.dtype
        y = ctx.node("MatMul", [operand(ctx, a, dt), operand(ctx, b, dt)])
        dyn = set()
        for t, keep_last in ((a, False), (b, True)):
            n, m = len(out._shape), len(t._shape)
            for d in ctx.dyn(t):
                if m == 1:
                    continue
                if d == m - 1:                # a's columns / b's rows are contracted
                    if keep_last:
                        dyn.add(n - 1)
                    continue
                if d == m - 2 and keep_last:
                    continue
                dyn.add(d + n - m)
        ctx.out(out, y, dyn=dyn)
    return conv


converts(L.matmul, L.mm, L.bmm, tensor_attr("__matmul__"))(_matmul())
converts(tensor_attr("__rmatmul__"))(_matmul(swap=True))


@converts(L.addmm)
def _addmm(ctx, out, c, a, b, beta=1, alpha=1):
    y = ctx.node("Gemm", [ctx.name(a), ctx.name(b), ctx.name(c)], alpha=float(alpha),
                 beta=float(beta))
    _like(ctx, out, y, a)


@converts(L.baddbmm)
def _baddbmm(ctx, out, c, a, b, beta=1, alpha=1):
    dt = out.dtype
    y = ctx.node("MatMul", [ctx.name(a), ctx.name(b)])
    if alpha != 1:
        y = ctx.node("Mul", [y, ctx.b.scalar(alpha, dt)])
    if beta != 0:
        cc = ctx.name(c) if beta == 1 else ctx.node("Mul", [ctx.name(c), ctx.b.scalar(beta, dt)])
        y = ctx.node("Add", [y, cc])
    _like(ctx, out, y, a)


# ------------------------------------------------------------------- reductions
def _reduction(op_type):
    def conv(ctx, out, x, dim=None, keepdim=False, *rest):
        dtype = rest[0] if rest and not isinstance(rest[0], Tensor) else None
        n = len(x._shape)
        axes = dims_arg(None if dim == () else dim, n)
        src = cast(ctx, ctx.name(x), x.dtype, out.dtype if dtype is not None or (
            op_type == "ReduceSum" and out.dtype != x.dtype) else x.dtype)
        y = reduce_node(ctx, op_type, src, axes, keepdim)
        ctx.out(out, y, dyn=reduced_dyn(ctx.dyn(x), axes, n, keepdim))
    return conv


converts(R.sum)(_reduction("ReduceSum"))
converts(R.mean)(_reduction("ReduceMean"))
converts(R.prod)(_reduction("ReduceProd"))
converts(R.amax)(_reduction("ReduceMax"))
converts(R.amin)(_reduction("ReduceMin"))


def _arg(op_type):
    def conv(ctx, out, x, dim=None, keepdim=False):
        name, n = ctx.name(x), len(x._shape)
        if dim is None:
            name = ctx.node("Reshape", [name, ctx.b.const([-1])])
            ctx.out(out, ctx.node(op_type, [name], axis=0, keepdims=0), dyn=())
            return
        a = wrap_dim(dim, n)
        ctx.out(out, ctx.node(op_type, [name], axis=a, keepdims=int(keepdim)),
                dyn=reduced_dyn(ctx.dyn(x), [a], n, keepdim))
    return conv


converts(R.argmax)(_arg("ArgMax"))
converts(R.argmin)(_arg("ArgMin"))


def _max_min(reduce_op, arg_op, binary_op):
    def conv(ctx, out, x, dim=None, keepdim=False, other=None):
        if isinstance(dim, Tensor) or other is not None:       # max(a, b): elementwise
            b = dim if isinstance(dim, Tensor) else other
            dt = out.dtype
            _like(ctx, out, ctx.node(binary_op, [operand(ctx, x, dt), operand(ctx, b, dt)]), x, b)
            return
        n = len(x._shape)
        if dim is None:
            ctx.out(out, reduce_node(ctx, reduce_op, ctx.name(x), list(range(n)), False), dyn=())
            return
        a = wrap_dim(dim, n)
        values, indices = out
        dyn = reduced_dyn(ctx.dyn(x), [a], n, keepdim)
        ctx.out(values, reduce_node(ctx, reduce_op, ctx.name(x), [a], keepdim), dyn=dyn)
        ctx.out(indices, ctx.node(arg_op, [ctx.name(x)], axis=a, keepdims=int(keepdim)), dyn=dyn)
    return conv


converts(R.max)(_max_min("ReduceMax", "ArgMax", "Max"))
converts(R.min)(_max_min("ReduceMin", "ArgMin", "Min"))


# ---------------------------------------------------------------------- softmax
def _softmax(op_type):
    def conv(ctx, out, x, dim=None, dtype=None, *rest):
        n = len(x._shape)
        if dim is None:       # PyTorch's legacy implicit dim
            dim = 0 if n in (0, 1, 3) else 1
        src = cast(ctx, ctx.name(x), x.dtype, out.dtype)
        _like(ctx, out, ctx.node(op_type, [src], axis=wrap_dim(dim, n) if n else 0), x)
    return conv


converts(S.softmax, tensor_attr("softmax"))(_softmax("Softmax"))
converts(S.log_softmax, tensor_attr("log_softmax"))(_softmax("LogSoftmax"))


# ----------------------------------------------------------------- convolutions
def _same_pads(kernel, dilation):
    begin, end = [], []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _conv_common(ctx, x, weight, bias):
    ins = [ctx.name(x), ctx.name(weight)]
    if bias is not None:
        ins.append(ctx.name(bias))
    return ins


def _conv(ctx, out, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    n = weight.dim() - 2
    kernel = list(weight._shape[2:])
    dil = ntuple(dilation, n)
    if padding == "same":
        pads = _same_pads(kernel, dil)
    elif padding == "valid":
        pads = [0] * (2 * n)
    else:
        pads = ntuple(padding, n) * 2
    y = ctx.node("Conv", _conv_common(ctx, x, weight, bias), kernel_shape=kernel,
                 strides=ntuple(stride, n), pads=pads, dilations=dil, group=int(groups))
    ctx.out(out, y, dyn=ctx.dyn(x) & {0})


converts(CV.conv1d, CV.conv2d)(_conv)


def _conv_transpose(ctx, out, x, weight, bias=None, stride=1, padding=0, output_padding=0,
                    groups=1, dilation=1):
    n = weight.dim() - 2
    y = ctx.node("ConvTranspose", _conv_common(ctx, x, weight, bias),
                 kernel_shape=list(weight._shape[2:]), strides=ntuple(stride, n),
                 pads=ntuple(padding, n) * 2, dilations=ntuple(dilation, n),
                 output_padding=ntuple(output_padding, n), group=int(groups))
    ctx.out(out, y, dyn=ctx.dyn(x) & {0})


converts(CV.conv_transpose1d, CV.conv_transpose2d)(_conv_transpose)


# ---------------------------------------------------------------------- pooling
def _pool_args(x, kernel_size, stride, padding):
    n = x.dim() - 2
    kernel = ntuple(kernel_size, n)
    strides = kernel if stride is None or stride == [] or stride == () else ntuple(stride, n)
    return n, kernel, strides, ntuple(padding, n) * 2


def _max_pool(ctx, out, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
              return_indices=False):
    if return_indices:
        ctx.unsupported("max pooling with return_indices=True")
    n, kernel, strides, pads = _pool_args(x, kernel_size, stride, padding)
    dilations = ntuple(dilation, n)
    if ceil_mode and not ctx.dyn(x) - {0, 1}:
        # torch drops a last window that would start in the right padding; ONNX's shape rule
        # keeps it. Pad the right end just far enough for torch's output size instead (MaxPool's
        # pads never win a max), so the file's declared and computed shapes agree everywhere
        for i, (L, k, st, d, o) in enumerate(zip(x._shape[2:], kernel, strides, dilations,
                                                 out[0]._shape[2:] if isinstance(out, tuple)
                                                 else out._shape[2:])):
            pads[n + i] += max(0, (o - 1) * st + d * (k - 1) + 1 - (L + pads[i] + pads[n + i]))
        ceil_mode = False
    y = ctx.node("MaxPool", [ctx.name(x)], kernel_shape=kernel, strides=strides, pads=pads,
                 dilations=dilations, ceil_mode=int(bool(ceil_mode)))
    ctx.out(out, y, dyn=ctx.dyn(x) & {0, 1})


converts(PL.max_pool1d, PL.max_pool2d)(_max_pool)


def _avg_pool(ctx, out, x, kernel_size, stride=None, padding=0, ceil_mode=False,
              count_include_pad=True, divisor_override=None):
    if ceil_mode or divisor_override is not None:
        _avg_pool_exact(ctx, out, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)
        return
    _, kernel, strides, pads = _pool_args(x, kernel_size, stride, padding)
    y = ctx.node("AveragePool", [ctx.name(x)], kernel_shape=kernel, strides=strides, pads=pads,
                 count_include_pad=int(bool(count_include_pad)))
    ctx.out(out, y, dyn=ctx.dyn(x) & {0, 1})


converts(PL.avg_pool1d, PL.avg_pool2d)(_avg_pool)


def _avg_pool_exact(ctx, out, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override):
    """PyTorch's average pooling where ONNX's AveragePool differs: ``ceil_mode`` (torch drops a
    last window that starts in the right padding and divides a window running past the padded
    input by its clipped size, ONNX runtimes do neither alike) and ``divisor_override``. The
    window sums come from a plain AveragePool over the input padded with zeros far enough,
    times the window's size; each output is then divided by torch's divisor for its window, a
    constant map (the spatial sizes are static)."""
    n, kernel, strides, pads = _pool_args(x, kernel_size, stride, padding)
    if ctx.dyn(x) - {0, 1}:
        ctx.unsupported("avg pooling with ceil_mode or divisor_override over dynamic spatial "
                        "axes", "its divisors depend on the size; keep those axes out of "
                        "dynamic_axes")
    sizes, extra, divisors = list(out._shape[2:]), [], []
    for L, k, st, p, o in zip(x._shape[2:], kernel, strides, pads[:n], sizes):
        extra.append(max(0, (o - 1) * st + k - (L + 2 * p)))
        start = np.arange(o) * st - p
        end = np.minimum(start + k, L + p)
        valid = np.minimum(end, L) - np.maximum(start, 0)
        divisors.append(end - start if count_include_pad else valid)
    div = divisors[0].astype(np.float64)
    for d in divisors[1:]:
        div = np.multiply.outer(div, d)
    if divisor_override is not None:
        div = np.full(div.shape, float(divisor_override))
    name = ctx.name(x)
    if any(pads) or any(extra):
        widths = [0, 0] + pads[:n] + [0, 0] + [p + e for p, e in zip(pads[:n], extra)]
        name = ctx.node("Pad", [name, ctx.b.const(widths)], mode="constant")
    mean = ctx.node("AveragePool", [name], kernel_shape=kernel, strides=strides)
    dt = out.dtype
    window = float(np.prod(kernel))
    y = ctx.node("Div", [ctx.node("Mul", [mean, ctx.b.scalar(window, dt)]),
                         ctx.b.initializer(div.astype(dt.np))])
    ctx.out(out, y, dyn=ctx.dyn(x) & {0, 1})


def _adaptive(global_op, pool_op):
    def conv(ctx, out, x, output_size, return_indices=False):
        if return_indices:
            ctx.unsupported("adaptive max pooling with return_indices=True")
        spatial, target = list(x._shape[2:]), list(out._shape[2:])
        dyn = ctx.dyn(x) & {0, 1}
        if all(t == 1 for t in target):
            ctx.out(out, ctx.node(global_op, [ctx.name(x)]), dyn=dyn)
            return
        if ctx.dyn(x) - {0, 1}:
            ctx.unsupported(f"adaptive pooling to {target} of an input whose spatial axes are "
                            "dynamic", "its windows depend on the size; keep those axes out of "
                            "dynamic_axes (global pooling, output size 1, converts either way)")
        if all(s % t == 0 for s, t in zip(spatial, target)):
            k = [s // t for s, t in zip(spatial, target)]   # equal windows: a plain pooling
            ctx.out(out, ctx.node(pool_op, [ctx.name(x)], kernel_shape=k, strides=k), dyn=dyn)
            return
        # PyTorch's windows [floor(i*S/T), ceil((i+1)*S/T)) overlap and vary in size: pool them
        # one axis at a time (a mean or max over a rectangle is one over rows of one over
        # columns), each window a Slice reduced on its axis, the T results concatenated
        reduce_op = "ReduceMean" if pool_op == "AveragePool" else "ReduceMax"
        y = ctx.name(x)
        for a, (size, t) in enumerate(zip(spatial, target), start=2):
            if size == t:
                continue
            parts = []
            for i in range(t):
                lo, hi = (i * size) // t, -((-(i + 1) * size) // t)
                part = ctx.node("Slice", [y, ctx.b.const([lo]), ctx.b.const([hi]),
                                          ctx.b.const([a])])
                parts.append(reduce_node(ctx, reduce_op, part, [a], True))
            y = ctx.node("Concat", parts, axis=a)
        ctx.out(out, y, dyn=dyn)
    return conv


converts(PL.adaptive_avg_pool1d, PL.adaptive_avg_pool2d)(_adaptive("GlobalAveragePool",
                                                                   "AveragePool"))
converts(PL.adaptive_max_pool1d, PL.adaptive_max_pool2d)(_adaptive("GlobalMaxPool", "MaxPool"))


_ONNX_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@converts(PL.pad, NF.pad)
def _pad(ctx, out, x, pad, mode="constant", value=None):
    # F.pad checked the amounts and the mode before this runs
    if mode not in _ONNX_PAD_MODES:
        ctx.unsupported(f"pad with mode={mode!r}")
    n = x.dim()
    begin, end = [0] * n, [0] * n
    for i in range(len(pad) // 2):
        begin[n - 1 - i], end[n - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    if mode != "constant" and min(begin + end) < 0:
        ctx.unsupported(f"pad with mode={mode!r} and negative amounts")
    ins = [ctx.name(x), ctx.b.const(begin + end)]
    if mode == "constant":
        ins.append(ctx.b.scalar(0 if value is None else value, x.dtype))
    changed = {a for a in range(n) if begin[a] or end[a]}
    ctx.out(out, ctx.node("Pad", ins, mode=_ONNX_PAD_MODES[mode]), dyn=ctx.dyn(x) - changed)


# ---------------------------------------------------------------- normalization
def _ones_like_features(ctx, n, dt, value):
    return ctx.b.initializer(np.full((n,), value, dtype=dt.np))


def _batch_norm(ctx, out, x, running_mean, running_var, weight, bias, training, eps):
    if training or running_mean is None:
        ctx.unsupported("batch_norm with batch statistics (training=True or "
                        "track_running_stats=False)", "export the model in eval mode with "
                        "running statistics")
    c = x._shape[1]
    scale = ctx.name(weight) if weight is not None else _ones_like_features(ctx, c, x.dtype, 1)
    shift = ctx.name(bias) if bias is not None else _ones_like_features(ctx, c, x.dtype, 0)
    y = ctx.node("BatchNormalization", [ctx.name(x), scale, shift, ctx.name(running_mean),
                                        ctx.name(running_var)], epsilon=float(eps))
    _like(ctx, out, y, x)


@converts(N.batch_norm)
def _f_batch_norm(ctx, out, x, running_mean, running_var, weight=None, bias=None,
                  training=False, momentum=0.1, eps=1e-5):
    _batch_norm(ctx, out, x, running_mean, running_var, weight, bias, training, eps)


@converts(N.torch_batch_norm)
def _aten_batch_norm(ctx, out, x, weight, bias, running_mean, running_var, training, momentum,
                     eps, cudnn_enabled=True):
    _batch_norm(ctx, out, x, running_mean, running_var, weight, bias, training, eps)


@converts(N.layer_norm)
def _layer_norm(ctx, out, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    scale = ctx.name(weight) if weight is not None else ctx.b.initializer(
        np.ones(shape, dtype=x.dtype.np))
    ins = [ctx.name(x), scale] + ([ctx.name(bias)] if bias is not None else [])
    y = ctx.node("LayerNormalization", ins, axis=-len(shape), epsilon=float(eps))
    _like(ctx, out, y, x)


# ---------------------------------------------------------------------- dropout
def _dropout(ctx, out, x, p=0.5, training=True, inplace=False):
    if training and p > 0:
        ctx.unsupported("dropout in training mode",
                        "export with training=TrainingMode.EVAL (the default)")
    ctx.out(out, ctx.name(x), dyn=ctx.dyn(x))


for _name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
              "feature_alpha_dropout", "torch_dropout", "torch_alpha_dropout"):
    if hasattr(D, _name):
        converts(getattr(D, _name))(_dropout)


# -------------------------------------------------------------------- embedding
def _gather_rows(ctx, out, weight, indices):
    y = ctx.node("Gather", [ctx.name(weight), ctx.name(indices)], axis=0)
    ctx.out(out, y, dyn=ctx.dyn(indices))      # the index axes lead the output


@converts(E.embedding)
def _embedding(ctx, out, indices, weight, padding_idx=None, max_norm=None, *rest):
    if max_norm is not None:
        ctx.unsupported("embedding with max_norm (it renormalizes the weight in place)")
    _gather_rows(ctx, out, weight, indices)


@converts(E.torch_embedding)
def _aten_embedding(ctx, out, weight, indices, *rest):
    _gather_rows(ctx, out, weight, indices)


@converts(I.masked_fill)
def _masked_fill(ctx, out, x, mask, value):
    dt = out.dtype
    y = ctx.node("Where", [operand(ctx, mask, dtypes.bool_), operand(ctx, value, dt),
                           ctx.name(x)])
    _like(ctx, out, y, x, mask)


@converts(N.group_norm)
def _group_norm(ctx, out, x, num_groups, weight=None, bias=None, eps=1e-5):
    # no GroupNormalization before opset 18 (and its scale changed meaning in 21): normalize
    # (N, G, -1) over its last axis, then the per-channel affine
    dt, n = x.dtype, x.dim()
    g = ctx.node("Reshape", [ctx.name(x), ctx.b.const([0, int(num_groups), -1])])
    centered = ctx.node("Sub", [g, reduce_node(ctx, "ReduceMean", g, [2], True)])
    var = reduce_node(ctx, "ReduceMean", ctx.node("Mul", [centered, centered]), [2], True)
    normed = ctx.node("Div", [centered, ctx.node("Sqrt", [ctx.node(
        "Add", [var, ctx.b.scalar(float(eps), dt)])])])
    y = ctx.node("Reshape", [normed, ctx.node("Shape", [ctx.name(x)])])
    per_channel = ctx.b.const([-1] + [1] * (n - 2))
    if weight is not None:
        y = ctx.node("Mul", [y, ctx.node("Reshape", [ctx.name(weight), per_channel])])
    if bias is not None:
        y = ctx.node("Add", [y, ctx.node("Reshape", [ctx.name(bias), per_channel])])
    _like(ctx, out, y, x)


@converts(PL.interpolate)
def _interpolate(ctx, out, x, size=None, scale_factor=None, mode="nearest", *rest):
    # clnet's interpolate is mode='nearest' only (it refuses the others before this runs):
    # PyTorch's source index is floor(dst * in / out), or floor(dst / scale_factor) when the
    # factor is given and not recomputed: ONNX's asymmetric transform with floor rounding
    recompute = rest[1] if len(rest) > 1 else None
    attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")
    if scale_factor is not None and not recompute:
        nsp = x.dim() - 2
        sf = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * nsp
        scales = ctx.b.initializer(np.asarray([1.0, 1.0] + [float(s) for s in sf], np.float32))
        y = ctx.node("Resize", [ctx.name(x), "", scales], **attrs)
    else:
        lead = ctx.node("Slice", [ctx.node("Shape", [ctx.name(x)]), ctx.b.const([0]),
                                  ctx.b.const([2])])
        sizes = ctx.node("Concat", [lead, ctx.b.const(list(out._shape[2:]))], axis=0)
        y = ctx.node("Resize", [ctx.name(x), "", "", sizes], **attrs)
    ctx.out(out, y, dyn=ctx.dyn(x) & {0, 1})
