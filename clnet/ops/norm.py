"""Normalisation: batch_norm, layer_norm, group_norm, rms_norm (torch.nn.functional's signatures).
Kernels: cl_kernels/norm.cl, launched by clnet/kernels/norm.py.

Two kernel layouts per device (``dev.tuning["norm.ls"]``, see norm.cl): GPUs give each row /
channel a work-group of 64 work-items; CPU drivers give each one work-item walking it in vectors,
a few work-groups per core looping over rows / channels.

batch_norm: one kernel computes per-channel batch statistics and, in training, updates the
running statistics in place on the device; a second kernel applies the normalisation as a
per-channel affine map. Its backward is two kernels: per-channel sums of g and g * xhat (which
are also grad_bias and grad_weight), then grad_input as another per-channel affine map of g and
x. layer_norm, rms_norm and group_norm share the row kernels: one forward (statistics and the
affine), one backward for grad_input which in the CPU layout also adds per-work-item partial
weight/bias gradients (the GPU layout has a separate kernel for those), then a sum over the
partials. group_norm is rows (N * G, C / G * spatial) with a per-channel affine.

When a backward is itself recorded (``create_graph=True``) the gradients are computed with
differentiable ops instead of the fused kernels, recomputing the statistics from the input so
that second derivatives are exact.
"""
import numbers

import numpy as np

from .. import graph
from ..kernels.norm import (RMS, batch_norm_bwd_reduce, batch_norm_eval_coefs, batch_norm_stats,
                            channel_affine, layer_norm_bwd, layer_norm_fwd)
from ..tensor import Tensor
from ..kernels.layout import numel, same_device
from .copy import cast, contiguous, fill_into
from .creation import zeros
from .pointwise import rsqrt  # type: ignore[attr-defined]  # made by a loop in ops
from .reduce import mean as _mean, sum as _sum
from .views import reshape

# torch-level names whose signatures match the functional ones; torch.batch_norm takes its
# arguments in another order: it is ``torch_batch_norm`` here, exported as clnet.batch_norm.
__all__ = ["layer_norm", "group_norm", "rms_norm"]



class CumulativeMomentum:
    """The ``momentum`` of a BatchNorm built with ``momentum=None``: the running statistics take
    a cumulative average, weight 1 / num_batches_tracked, read by the kernel on the device (no
    host round trip). ``num_batches_tracked`` is the module's int64 counter, already incremented
    for the current batch."""

    __slots__ = ("num_batches_tracked",)

    def __init__(self, num_batches_tracked):
        self.num_batches_tracked = num_batches_tracked


def effective_momentum(momentum, num_batches_tracked):
    """What a BatchNorm module passes to ``batch_norm`` as ``momentum`` (PyTorch's
    ``exponential_average_factor``): ``momentum`` itself, or for ``momentum=None`` the
    cumulative average over ``num_batches_tracked`` (an int, or the module's counter tensor,
    which is then read on the device), or 0.0 when there is no counter."""
    if momentum is not None:
        return momentum
    if num_batches_tracked is None:
        return 0.0
    if isinstance(num_batches_tracked, Tensor):
        return CumulativeMomentum(num_batches_tracked)
    return 1.0 / float(num_batches_tracked)


def _data(t):
    """t's values, contiguous, outside the graph (the op records its own node)."""
    return contiguous(t.detach())


def _check_input(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}(): expected a floating-point input, got {x.dtype} "
                        f"(shape {list(x._shape)})")


def _check_param(op, name, p, x, shape):
    """weight / bias / running stats: None or a tensor of ``shape`` with the input's dtype."""
    if p is None:
        return None
    if not isinstance(p, Tensor):
        raise TypeError(f"{op}(): {name} must be a Tensor or None, not {type(p).__name__}")
    same_device(op, x, p)
    if tuple(p._shape) != tuple(shape):
        raise ValueError(f"{op}(): expected {name} of shape {list(shape)} for input of shape "
                         f"{list(x._shape)}, but got {name} of shape {list(p._shape)}")
    if p.dtype is not x.dtype:
        raise TypeError(f"{op}(): expected {name} to have the input's dtype {x.dtype}, "
                        f"got {p.dtype}")
    return p


def _as_dtype(g, dt):
    return g if g.dtype is dt else cast(g, dt)


# ------------------------------------------------------------------ layer norm
def _normalized_shape(op, x, normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    k = len(ns)
    if k == 0 or k > x.dim() or tuple(x._shape[x.dim() - k:]) != ns:
        raise ValueError(f"{op}(): Given normalized_shape={list(ns)}, expected input with shape "
                         f"[*, {', '.join(str(s) for s in ns)}], but got input of size "
                         f"{list(x._shape)}")
    return ns


def _rows_forward(op, x, rows, n, G, S, w, b, flags, eps):
    """The row kernel: y, mean, rstd of ``x`` (contiguous) over ``rows`` rows of ``n``
    (geometry G, S as in norm.cl)."""
    dev, dt = x.device, x.dtype
    y = Tensor._empty(x._shape, dt, dev)
    mean = Tensor._empty((rows,), dt, dev)
    rstd = Tensor._empty((rows,), dt, dev)
    if rows and n:
        layer_norm_fwd(op, x, rows, n, G, S, w, b, flags, eps, y, mean, rstd)
    return y, mean, rstd


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """F.layer_norm: normalise over the trailing ``normalized_shape`` dims, then the optional
    elementwise affine (weight and bias have ``normalized_shape``)."""
    op = "layer_norm"
    _check_input(op, input)
    ns = _normalized_shape(op, input, normalized_shape)
    weight = _check_param(op, "weight", weight, input, ns)
    bias = _check_param(op, "bias", bias, input, ns)
    n = numel(ns)
    rows = input.numel() // n if n else 0
    x = _data(input)
    w = _data(weight) if weight is not None else None
    b = _data(bias) if bias is not None else None
    y, mean, rstd = _rows_forward(op, x, rows, n, 1, 1, w, b, 0, eps)
    if graph.recording(input, weight, bias):
        def backward(g):
            if graph.mode.grad_enabled:
                return _layer_norm_composite_grads(g, input, weight, len(ns), eps)
            return _rows_fused_grads(g, x, w, weight, bias, mean, rstd, rows, n, 1, 1, 0)
        graph.record("NativeLayerNormBackward0", y, (input, weight, bias), backward,
                     saved=(input, weight, bias))
    return y


def _rows_fused_grads(g, x, w, weight, bias, mean, rstd, rows, n, G, S, flags):
    """grad_input, grad_weight, grad_bias of a row kernel's forward (None where not wanted)."""
    dev, dt = x.device, x.dtype
    gc = contiguous(_as_dtype(g, dt))
    gx = Tensor._empty(x._shape, dt, dev)
    want_w = weight is not None and weight.requires_grad
    want_b = bias is not None and bias.requires_grad
    gw = gb = None
    if not (rows and n):
        if want_w:
            gw = zeros(weight._shape, dtype=dt, device=dev)
        if want_b:
            gb = zeros(bias._shape, dtype=dt, device=dev)
        return gx, gw, gb
    want = want_w or want_b
    gw_part, gb_part = layer_norm_bwd(gc, x, w, mean, rstd, rows, n, G, S, flags, gx, want)
    if want:
        if gw_part._shape[0] > 1:
            gw_part = _sum(gw_part, 0) if want_w else None
            gb_part = _sum(gb_part, 0) if want_b else None
        if want_w:
            gw = reshape(gw_part, weight._shape)
        if want_b:
            gb = reshape(gb_part, bias._shape)
    return gx, gw, gb


def _layer_norm_composite_grads(g, x, weight, k, eps, rms=False):
    """The layer-norm (or RMS-norm) backward with differentiable ops (create_graph): the
    statistics are recomputed from x so that gradients of these gradients reach x."""
    dims = tuple(range(x.dim() - k, x.dim()))
    lead = tuple(range(x.dim() - k))
    xc = x if rms else x - _mean(x, dims, keepdim=True)
    rstd = rsqrt(_mean(xc * xc, dims, keepdim=True) + eps)
    xhat = xc * rstd
    gw_ = g * weight if weight is not None else g
    inner = gw_ - xhat * _mean(gw_ * xhat, dims, keepdim=True)
    gx = rstd * (inner if rms else inner - _mean(gw_, dims, keepdim=True))
    gw = _sum(g * xhat, lead) if lead else g * xhat
    gb = _sum(g, lead) if lead else g
    return gx, gw, gb


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """F.group_norm: input (N, C, *) normalised over each group of C / num_groups channels
    (and all spatial positions), then a per-channel affine (fused into the row kernel)."""
    op = "group_norm"
    _check_input(op, input)
    if input.dim() < 2:
        raise ValueError(f"{op}(): expected an input with at least 2 dimensions (N, C, *), got "
                         f"shape {list(input._shape)}")
    N, C = input._shape[0], input._shape[1]
    G = int(num_groups)
    if G <= 0 or C % G:
        raise ValueError(f"{op}(): Expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {list(input._shape)} and "
                         f"num_groups={num_groups}")
    weight = _check_param(op, "weight", weight, input, (C,))
    bias = _check_param(op, "bias", bias, input, (C,))
    S = numel(input._shape[2:])
    n = C // G * S
    rows = N * G if n else 0
    x = _data(input)
    w = _data(weight) if weight is not None else None
    b = _data(bias) if bias is not None else None
    y, mean, rstd = _rows_forward(op, x, rows, n, G, S, w, b, 0, eps)
    if graph.recording(input, weight, bias):
        def backward(g):
            if graph.mode.grad_enabled:
                return _group_norm_composite_grads(g, input, weight, G, eps)
            return _rows_fused_grads(g, x, w, weight, bias, mean, rstd, rows, n, G, S, 0)
        graph.record("NativeGroupNormBackward0", y, (input, weight, bias), backward,
                     saved=(input, weight, bias))
    return y


def _group_norm_composite_grads(g, x, weight, G, eps):
    """group_norm's backward with differentiable ops (create_graph)."""
    N, C = x._shape[0], x._shape[1]
    rest = tuple(x._shape[2:])
    chan = (1, C) + (1,) * len(rest)
    gw_ = g * reshape(weight, chan) if weight is not None else g
    x3, g3 = reshape(x, (N, G, -1)), reshape(gw_, (N, G, -1))
    gx, _, _ = _layer_norm_composite_grads(g3, x3, None, 1, eps)
    xc = x3 - _mean(x3, (2,), keepdim=True)
    xhat = reshape(xc * rsqrt(_mean(xc * xc, (2,), keepdim=True) + eps), x._shape)
    dims = (0,) + tuple(range(2, x.dim()))
    return reshape(gx, x._shape), _sum(g * xhat, dims), _sum(g, dims)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """F.rms_norm: x / sqrt(mean(x^2) + eps) over the trailing dims, times weight; eps=None is
    the dtype's machine epsilon. The row kernel with the mean left out."""
    op = "rms_norm"
    _check_input(op, input)
    ns = _normalized_shape(op, input, normalized_shape)
    weight = _check_param(op, "weight", weight, input, ns)
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    n = numel(ns)
    rows = input.numel() // n if n else 0
    x = _data(input)
    w = _data(weight) if weight is not None else None
    y, mean, rstd = _rows_forward(op, x, rows, n, 1, 1, w, None, RMS, eps)
    if graph.recording(input, weight):
        def backward(g):
            if graph.mode.grad_enabled:
                gx, gw, _ = _layer_norm_composite_grads(g, input, weight, len(ns), eps, rms=True)
                return gx, gw
            gx, gw, _ = _rows_fused_grads(g, x, w, weight, None, mean, rstd, rows, n, 1, 1, RMS)
            return gx, gw
        graph.record("RmsNormBackward0", y, (input, weight), backward, saved=(input, weight))
    return y


# ------------------------------------------------------------------ batch norm
def _momentum_args(op, momentum, x):
    """(momentum value, count tensor or None) for batch_norm_stats."""
    if isinstance(momentum, CumulativeMomentum):
        c = momentum.num_batches_tracked
        if not isinstance(c, Tensor) or c.numel() != 1 or c.dtype.name != "int64":
            raise TypeError(f"{op}(): CumulativeMomentum needs a 1-element int64 "
                            "num_batches_tracked tensor")
        same_device(op, x, c)
        return 0.0, c
    if momentum is None:
        raise TypeError(f"{op}(): argument 'momentum' must be float, not NoneType (a module "
                        "with momentum=None passes effective_momentum(None, num_batches_tracked))")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}(): argument 'momentum' must be float, not "
                        f"{type(momentum).__name__}")
    return float(momentum), None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """F.batch_norm for (N, C), (N, C, L), (N, C, H, W)... In training, normalise with the batch
    statistics over every dim but C (biased variance) and, when running stats are given,
    update them in place on the device: r = (1 - momentum) * r + momentum * stat, with the
    unbiased variance (``momentum`` may be ``CumulativeMomentum``, see
    ``effective_momentum``). In evaluation, normalise with the running statistics."""
    op = "batch_norm"
    _check_input(op, input)
    if input.dim() < 2:
        raise ValueError(f"{op}(): expected an input with at least 2 dimensions (N, C, *), got "
                         f"shape {list(input._shape)}")
    N, C = input._shape[0], input._shape[1]
    S = numel(input._shape[2:])
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is None:
            if not training:
                raise ValueError(f"{op}(): {name} must be defined in evaluation mode")
            continue
        if not isinstance(r, Tensor):
            raise TypeError(f"{op}(): {name} must be a Tensor or None, not {type(r).__name__}")
        if r.numel() != C or r.dim() != 1:
            raise ValueError(f"{op}(): {name} should contain {C} elements not {r.numel()} "
                             f"(input shape {list(input._shape)}, {name} shape {list(r._shape)})")
        _check_param(op, name, r, input, (C,))
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}(): pass both running_mean and running_var, or neither")
    weight = _check_param(op, "weight", weight, input, (C,))
    bias = _check_param(op, "bias", bias, input, (C,))
    mom, count = _momentum_args(op, momentum, input)
    if training and N * S <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{list(input._shape)}")
    x = _data(input)
    w = _data(weight) if weight is not None else None
    b = _data(bias) if bias is not None else None
    dev, dt = x.device, x.dtype
    mean, rstd, scale, shift = (Tensor._empty((C,), dt, dev) for _ in range(4))
    y = Tensor._empty(input._shape, dt, dev)
    if C and training and N * S:
        batch_norm_stats(op, x, N, C, S, eps, w, b, mean, rstd, scale, shift, running_mean,
                         running_var, mom, count)
        if running_mean is not None:
            running_mean._bump_version()
            running_var._bump_version()
    elif C and not training:
        batch_norm_eval_coefs(x, C, running_mean, running_var, eps, w, b, mean, rstd, scale,
                              shift)
    if y.numel():
        channel_affine(x, None, scale, None, shift, S, C, y)
    if graph.recording(input, weight, bias):
        def backward(g):
            if graph.mode.grad_enabled:
                return _batch_norm_composite_grads(g, input, weight, mean, rstd, training, eps)
            return _batch_norm_fused_grads(g, x, w, weight, bias, mean, rstd, training, N, C, S)
        graph.record("NativeBatchNormBackward0", y, (input, weight, bias), backward,
                     saved=(input, weight, bias))
    return y


def _batch_norm_fused_grads(g, x, w, weight, bias, mean, rstd, training, N, C, S):
    dev, dt = x.device, x.dtype
    gc = contiguous(_as_dtype(g, dt))
    gx = Tensor._empty(x._shape, dt, dev)
    grad_w, grad_b, kg, kx, k0 = (Tensor._empty((C,), dt, dev) for _ in range(5))
    if not (C and N * S):
        for t in (grad_w, grad_b):
            fill_into(t, 0)
    else:
        batch_norm_bwd_reduce(gc, x, N, C, S, mean, rstd, w, training, grad_w, grad_b, kg, kx,
                              k0)
        if training:
            channel_affine(x, gc, kx, kg, k0, S, C, gx)
        else:
            channel_affine(gc, None, kg, None, k0, S, C, gx)
    gw = grad_w if weight is not None and weight.requires_grad else None
    gb = grad_b if bias is not None and bias.requires_grad else None
    return gx, gw, gb


def _batch_norm_composite_grads(g, x, weight, mean, rstd, training, eps):
    """The batch-norm backward with differentiable ops (create_graph). Training recomputes the
    batch statistics from x (they depend on it); evaluation uses the constant running ones."""
    dims = (0,) + tuple(range(2, x.dim()))
    chan = (1, x._shape[1]) + (1,) * (x.dim() - 2)
    wv = reshape(weight, chan) if weight is not None else None
    if training:
        mu = _mean(x, dims, keepdim=True)
        xc = x - mu
        r = rsqrt(_mean(xc * xc, dims, keepdim=True) + eps)
        xhat = xc * r
        gx = r * (g - _mean(g, dims, keepdim=True) - xhat * _mean(g * xhat, dims, keepdim=True))
    else:
        r = reshape(rstd, chan)
        xhat = (x - reshape(mean, chan)) * r
        gx = g * r
    if wv is not None:
        gx = gx * wv
    return gx, _sum(g * xhat, dims), _sum(g, dims)


def torch_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
                     cudnn_enabled=True):
    """torch.batch_norm (the ATen order of arguments); same as F.batch_norm."""
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
