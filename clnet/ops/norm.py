"""Normalisation: batch_norm, layer_norm, group_norm, rms_norm (torch.nn.functional's signatures).
Kernels: cl_kernels/norm.cl.

batch_norm: one kernel computes per-channel batch statistics (a work-group per channel) and, in
training, updates the running statistics in place on the device; a second kernel applies the
normalisation as a per-channel affine map. Its backward is two kernels: per-channel sums of g
and g * xhat (which are also grad_bias and grad_weight), then grad_input as another per-channel
affine map of g and x. layer_norm: one kernel per direction over rows (a work-group per row),
plus one for the weight/bias gradients. group_norm is layer_norm over (N * G, C / G * spatial)
rows followed by a per-channel affine written with ordinary (differentiable) ops.

When a backward is itself recorded (``create_graph=True``) the gradients are computed with
differentiable ops instead of the fused kernels, recomputing the statistics from the input so
that second derivatives are exact.
"""
import numbers

import numpy as np

from .. import graph
from ..backend.programs import get_program
from ..tensor import Tensor
from ._layout import check_index_range, numel, same_device
from .copy import cast, contiguous
from .views import reshape

# torch-level names whose signatures match the functional ones; torch.batch_norm takes its
# arguments in another order: it is ``torch_batch_norm`` here, exported as clnet.batch_norm.
__all__ = ["layer_norm", "group_norm", "rms_norm"]

LS = 64                  # work-items per row / channel work-group (LS in norm.cl)
_PARAM_ITEMS = 8192      # work-items wanted by layer_norm_bwd_params (columns x row chunks)
_I32 = np.int32


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


def _program(dev, dt):
    key = ("norm", dt.cl)
    prg = dev.programs.get(key)
    if prg is None:
        prg = dev.programs[key] = get_program(dev, "norm", (("T", dt.cl), ("LS", LS)))
    return prg


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


def _buf_or(t, fallback):
    """(buffer, offset) of t, or of ``fallback`` for an absent optional argument (not read)."""
    return (t._storage.buffer, t._offset) if t is not None else (fallback._storage.buffer, 0)


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
    dev, dt = x.device, x.dtype
    y = Tensor._empty(input._shape, dt, dev)
    mean = Tensor._empty((rows,), dt, dev)
    rstd = Tensor._empty((rows,), dt, dev)
    if rows and n:
        check_index_range(op, x)
        k = _program(dev, dt).kernel("layer_norm_fwd", [
            _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, dt.np.type, None, None, None])
        wb, wo = _buf_or(w, x)
        bb, bo = _buf_or(b, x)
        flags = (1 if w is not None else 0) | (2 if b is not None else 0)
        k(dev.queue, (rows * LS,), (LS,), rows, n, x._storage.buffer, x._offset, wb, wo, bb, bo,
          flags, dt.np.type(eps), y._storage.buffer, mean._storage.buffer, rstd._storage.buffer)
    if graph.recording(input, weight, bias):
        def backward(g):
            if graph.mode.grad_enabled:
                return _layer_norm_composite_grads(g, input, weight, len(ns), eps)
            return _layer_norm_fused_grads(g, x, w, weight, bias, mean, rstd, rows, n)
        graph.record("NativeLayerNormBackward0", y, (input, weight, bias), backward,
                     saved=(input, weight, bias))
    return y


def _layer_norm_fused_grads(g, x, w, weight, bias, mean, rstd, rows, n):
    dev, dt = x.device, x.dtype
    gc = contiguous(_as_dtype(g, dt))
    gx = Tensor._empty(x._shape, dt, dev)
    want_w = weight is not None and weight.requires_grad
    want_b = bias is not None and bias.requires_grad
    gw = gb = None
    if not (rows and n):
        from .creation import zeros
        if want_w:
            gw = zeros(weight._shape, dtype=dt, device=dev)
        if want_b:
            gb = zeros(bias._shape, dtype=dt, device=dev)
        return gx, gw, gb
    prg = _program(dev, dt)
    k = prg.kernel("layer_norm_bwd_input", [_I32, _I32, None, _I32, None, _I32, None, _I32, _I32,
                                            None, None, None])
    wb, wo = _buf_or(w, x)
    k(dev.queue, (rows * LS,), (LS,), rows, n, gc._storage.buffer, gc._offset,
      x._storage.buffer, x._offset, wb, wo, int(w is not None), mean._storage.buffer,
      rstd._storage.buffer, gx._storage.buffer)
    if want_w or want_b:
        cols = -(-n // LS) * LS
        parts = max(1, min(rows, _PARAM_ITEMS // cols))
        chunk = -(-rows // parts)
        parts = -(-rows // chunk)
        gw_part = Tensor._empty((parts, n), dt, dev)
        gb_part = Tensor._empty((parts, n), dt, dev)
        kp = prg.kernel("layer_norm_bwd_params", [_I32, _I32, _I32, None, _I32, None, _I32, None,
                                                  None, None, None])
        kp(dev.queue, (cols, parts), (LS, 1), rows, n, chunk, gc._storage.buffer, gc._offset,
           x._storage.buffer, x._offset, mean._storage.buffer, rstd._storage.buffer,
           gw_part._storage.buffer, gb_part._storage.buffer)
        if parts > 1:
            from .reduce import sum as _sum
            gw_part = _sum(gw_part, 0) if want_w else None
            gb_part = _sum(gb_part, 0) if want_b else None
        if want_w:
            gw = reshape(gw_part, weight._shape)
        if want_b:
            gb = reshape(gb_part, bias._shape)
    return gx, gw, gb


def _layer_norm_composite_grads(g, x, weight, k, eps):
    """The layer-norm backward with differentiable ops (create_graph): the statistics are
    recomputed from x so that gradients of these gradients reach x."""
    from .pointwise import rsqrt
    from .reduce import mean as _mean, sum as _sum
    dims = tuple(range(x.dim() - k, x.dim()))
    lead = tuple(range(x.dim() - k))
    mu = _mean(x, dims, keepdim=True)
    xc = x - mu
    rstd = rsqrt(_mean(xc * xc, dims, keepdim=True) + eps)
    xhat = xc * rstd
    gw_ = g * weight if weight is not None else g
    gx = rstd * (gw_ - _mean(gw_, dims, keepdim=True)
                 - xhat * _mean(gw_ * xhat, dims, keepdim=True))
    gw = _sum(g * xhat, lead) if lead else g * xhat
    gb = _sum(g, lead) if lead else g
    return gx, gw, gb


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """F.group_norm: input (N, C, *) normalised over each group of C / num_groups channels
    (and all spatial positions), then a per-channel affine."""
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
    per_group = C // G * numel(input._shape[2:])
    y = reshape(layer_norm(reshape(input, (N * G, per_group)), (per_group,), None, None, eps),
                input._shape)
    chan = (1, C) + (1,) * (input.dim() - 2)
    if weight is not None:
        y = y * reshape(weight, chan)
    if bias is not None:
        y = y + reshape(bias, chan)
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """F.rms_norm: x / sqrt(mean(x^2) + eps) over the trailing dims, times weight; eps=None is
    the dtype's machine epsilon. Written with differentiable ops (a reduction and elementwise
    kernels), so every derivative order works."""
    op = "rms_norm"
    _check_input(op, input)
    ns = _normalized_shape(op, input, normalized_shape)
    weight = _check_param(op, "weight", weight, input, ns)
    from .pointwise import rsqrt
    from .reduce import mean as _mean
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    dims = tuple(range(input.dim() - len(ns), input.dim()))
    y = input * rsqrt(_mean(input * input, dims, keepdim=True) + eps)
    return y * weight if weight is not None else y


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
    st = dt.np.type
    mean, rstd, scale, shift = (Tensor._empty((C,), dt, dev) for _ in range(4))
    y = Tensor._empty(input._shape, dt, dev)
    flags = (1 if w is not None else 0) | (2 if b is not None else 0)
    wb, wo = _buf_or(w, x)
    bb, bo = _buf_or(b, x)
    prg = _program(dev, dt) if C else None
    if C and training and N * S:
        check_index_range(op, x)
        update = running_mean is not None
        rm = running_mean if update else mean
        rv = running_var if update else mean
        cb = count._storage.buffer if count is not None else mean._storage.buffer
        k = prg.kernel("batch_norm_stats", [
            _I32, _I32, _I32, None, _I32, st, None, _I32, None, _I32, _I32, None, None, None,
            None, _I32, None, _I32, _I32, None, _I32, _I32, st, None, _I32, _I32])
        k(dev.queue, (C * LS,), (LS,), N, C, S, x._storage.buffer, x._offset, st(eps), wb, wo,
          bb, bo, flags, mean._storage.buffer, rstd._storage.buffer, scale._storage.buffer,
          shift._storage.buffer, int(update), rm._storage.buffer, rm._offset, rm._stride[0],
          rv._storage.buffer, rv._offset, rv._stride[0], st(mom), cb,
          count._offset if count is not None else 0, int(count is not None))
        if update:
            running_mean._bump_version()
            running_var._bump_version()
    elif C and not training:
        k = prg.kernel("batch_norm_eval_coefs", [
            _I32, None, _I32, _I32, None, _I32, _I32, st, None, _I32, None, _I32, _I32, None,
            None, None, None])
        k(dev.queue, (-(-C // LS) * LS,), (LS,), C, running_mean._storage.buffer,
          running_mean._offset, running_mean._stride[0], running_var._storage.buffer,
          running_var._offset, running_var._stride[0], st(eps), wb, wo, bb, bo, flags,
          mean._storage.buffer, rstd._storage.buffer, scale._storage.buffer,
          shift._storage.buffer)
    if y.numel():
        _channel_affine(x, None, scale, None, shift, S, C, y)
    if graph.recording(input, weight, bias):
        def backward(g):
            if graph.mode.grad_enabled:
                return _batch_norm_composite_grads(g, input, weight, mean, rstd, training, eps)
            return _batch_norm_fused_grads(g, x, w, weight, bias, mean, rstd, training, N, C, S)
        graph.record("NativeBatchNormBackward0", y, (input, weight, bias), backward,
                     saved=(input, weight, bias))
    return y


def _channel_affine(x, g, a, k, d, S, C, out):
    """out = a[c] * x + k[c] * g + d[c] over (N, C, S) (g, k optional)."""
    dev, dt = x.device, x.dtype
    total = out.numel()
    kern = _program(dev, dt).kernel("channel_affine", [_I32, _I32, _I32, None, _I32, None, _I32,
                                                       _I32, None, None, None, None])
    gsrc = g if g is not None else x
    kk = k if k is not None else a
    kern(dev.queue, (-(-total // LS) * LS,), (LS,), total, S, C, x._storage.buffer, x._offset,
         gsrc._storage.buffer, gsrc._offset, int(g is not None), a._storage.buffer,
         kk._storage.buffer, d._storage.buffer, out._storage.buffer)
    return out


def _batch_norm_fused_grads(g, x, w, weight, bias, mean, rstd, training, N, C, S):
    dev, dt = x.device, x.dtype
    gc = contiguous(_as_dtype(g, dt))
    gx = Tensor._empty(x._shape, dt, dev)
    grad_w, grad_b, kg, kx, k0 = (Tensor._empty((C,), dt, dev) for _ in range(5))
    if not (C and N * S):
        from .copy import fill_into
        for t in (grad_w, grad_b):
            fill_into(t, 0)
    else:
        k = _program(dev, dt).kernel("batch_norm_bwd_reduce", [
            _I32, _I32, _I32, None, _I32, None, _I32, None, None, None, _I32, _I32, _I32, None,
            None, None, None, None])
        wb, wo = _buf_or(w, x)
        k(dev.queue, (C * LS,), (LS,), N, C, S, gc._storage.buffer, gc._offset,
          x._storage.buffer, x._offset, mean._storage.buffer, rstd._storage.buffer, wb, wo,
          int(w is not None), int(bool(training)), grad_w._storage.buffer,
          grad_b._storage.buffer, kg._storage.buffer, kx._storage.buffer, k0._storage.buffer)
        if training:
            _channel_affine(x, gc, kx, kg, k0, S, C, gx)
        else:
            _channel_affine(gc, None, kg, None, k0, S, C, gx)
    gw = grad_w if weight is not None and weight.requires_grad else None
    gb = grad_b if bias is not None and bias.requires_grad else None
    return gx, gw, gb


def _batch_norm_composite_grads(g, x, weight, mean, rstd, training, eps):
    """The batch-norm backward with differentiable ops (create_graph). Training recomputes the
    batch statistics from x (they depend on it); evaluation uses the constant running ones."""
    from .pointwise import rsqrt
    from .reduce import mean as _mean, sum as _sum
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


TENSOR_METHODS = {}
