"""Normalisation: batch_norm, layer_norm, group_norm, rms_norm (torch.nn.functional's signatures).
Kernels: cl_kernels/norm.cl.

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
from ..backend.programs import ProgramCache
from ..tensor import Tensor
from ._layout import check_index_range, numel, row_groups, row_local, same_device
from .copy import cast, contiguous, fill_into
from .creation import zeros
from .pointwise import rsqrt  # type: ignore[attr-defined]  # made by a loop in ops
from .reduce import mean as _mean, sum as _sum
from .views import reshape

# torch-level names whose signatures match the functional ones; torch.batch_norm takes its
# arguments in another order: it is ``torch_batch_norm`` here, exported as clnet.batch_norm.
__all__ = ["layer_norm", "group_norm", "rms_norm"]

_LS_GPU = 64             # work-items per row / channel work-group in the GPU layout
_PARAM_ITEMS = 8192      # work-items wanted by layer_norm_bwd_params (columns x row chunks)
HAS_W, HAS_B, RMS = 1, 2, 4   # flags of the row kernels (norm.cl)
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


def _local(dev):
    """LS of cl_kernels/norm.cl on ``dev`` (row_local: "norm.ls")."""
    return row_local(dev, "norm.ls", _LS_GPU)


_programs = ProgramCache("norm", lambda dev, dt, ls: (("T", dt.cl), ("LS", ls),
                                                       ("VW", 32 // dt.itemsize)))


def _program(dev, dt):
    return _programs(dev, dt, _local(dev))


def _groups(dev, items):
    return row_groups(dev, items, _local(dev))


def _launch_items(dev, kernel, items, *args):
    ls = _local(dev)
    kernel(dev.queue, (_groups(dev, items) * ls,), (ls,), *args)


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


def _rows_forward(op, x, rows, n, G, S, w, b, flags, eps):
    """The row kernel: y, mean, rstd of ``x`` (contiguous) over ``rows`` rows of ``n``
    (geometry G, S as in norm.cl)."""
    dev, dt = x.device, x.dtype
    y = Tensor._empty(x._shape, dt, dev)
    mean = Tensor._empty((rows,), dt, dev)
    rstd = Tensor._empty((rows,), dt, dev)
    if rows and n:
        check_index_range(op, x)
        k = _program(dev, dt).kernel("layer_norm_fwd", [
            _I32, _I32, _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, dt.np.type, None,
            None, None])
        wb, wo = _buf_or(w, x)
        bb, bo = _buf_or(b, x)
        flags |= (HAS_W if w is not None else 0) | (HAS_B if b is not None else 0)
        _launch_items(dev, k, rows, rows, n, G, S, x._storage.buffer, x._offset, wb, wo, bb, bo,
                      flags, dt.np.type(eps), y._storage.buffer, mean._storage.buffer,
                      rstd._storage.buffer)
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
    prg = _program(dev, dt)
    P = G * (n // S)                   # parameters (weight / bias elements)
    fused = _local(dev) == 1           # the CPU layout adds the parameter partials in passing
    want = want_w or want_b
    parts = _groups(dev, rows) if fused and want else 0
    if fused and want:
        gw_part = Tensor._empty((parts, P), dt, dev)
        gb_part = Tensor._empty((parts, P), dt, dev)
    else:
        gw_part = gb_part = gx
    k = prg.kernel("layer_norm_bwd_input", [_I32, _I32, _I32, _I32, None, _I32, None, _I32, None,
                                            _I32, _I32, None, None, None, None, None, _I32])
    wb, wo = _buf_or(w, x)
    flags |= HAS_W if w is not None else 0
    _launch_items(dev, k, rows, rows, n, G, S, gc._storage.buffer, gc._offset,
                  x._storage.buffer, x._offset, wb, wo, flags, mean._storage.buffer,
                  rstd._storage.buffer, gx._storage.buffer, gw_part._storage.buffer,
                  gb_part._storage.buffer, int(fused and want))
    if want and not fused:
        batch = rows // G
        cols = -(-P // _LS_GPU) * _LS_GPU
        parts = max(1, min(batch, _PARAM_ITEMS // cols))
        chunk = -(-batch // parts)
        parts = -(-batch // chunk)
        gw_part = Tensor._empty((parts, P), dt, dev)
        gb_part = Tensor._empty((parts, P), dt, dev)
        kp = prg.kernel("layer_norm_bwd_params", [_I32, _I32, _I32, _I32, _I32, None, _I32, None,
                                                  _I32, None, None, None, None])
        kp(dev.queue, (cols, parts), (_LS_GPU, 1), rows, n, G, S, chunk, gc._storage.buffer,
           gc._offset, x._storage.buffer, x._offset, mean._storage.buffer, rstd._storage.buffer,
           gw_part._storage.buffer, gb_part._storage.buffer)
    if want:
        if parts > 1:
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
        _launch_items(dev, k, C, N, C, S, x._storage.buffer, x._offset, st(eps), wb, wo,
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
        ls = _local(dev)
        k(dev.queue, (-(-C // ls) * ls,), (ls,), C, running_mean._storage.buffer,
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
    ls = _local(dev)
    if ls == 1:       # the CPU layout: a work-item per run of S elements, looping over runs
        gsize, lsize = (_groups(dev, total // S),), (1,)
    else:
        gsize, lsize = (-(-total // ls) * ls,), (ls,)
    kern(dev.queue, gsize, lsize, total, S, C, x._storage.buffer, x._offset,
         gsrc._storage.buffer, gsrc._offset, int(g is not None), a._storage.buffer,
         kk._storage.buffer, d._storage.buffer, out._storage.buffer)
    return out


def _batch_norm_fused_grads(g, x, w, weight, bias, mean, rstd, training, N, C, S):
    dev, dt = x.device, x.dtype
    gc = contiguous(_as_dtype(g, dt))
    gx = Tensor._empty(x._shape, dt, dev)
    grad_w, grad_b, kg, kx, k0 = (Tensor._empty((C,), dt, dev) for _ in range(5))
    if not (C and N * S):
        for t in (grad_w, grad_b):
            fill_into(t, 0)
    else:
        k = _program(dev, dt).kernel("batch_norm_bwd_reduce", [
            _I32, _I32, _I32, None, _I32, None, _I32, None, None, None, _I32, _I32, _I32, None,
            None, None, None, None])
        wb, wo = _buf_or(w, x)
        _launch_items(dev, k, C, N, C, S, gc._storage.buffer, gc._offset,
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
