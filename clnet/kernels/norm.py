"""norm.cl's launches: the row kernels of layer / RMS / group norm (forward, input gradient,
parameter gradients) and batch norm's per-channel kernels (statistics with the in-place running
update, evaluation coefficients, the per-channel affine map, the backward sums).

Two layouts per device (``dev.tuning["norm.ls"]``, see norm.cl): GPUs give each row / channel a
work-group of 64 work-items; CPU drivers give each one work-item walking it in vectors, a few
work-groups per core looping over rows / channels. Optional operands (weight, bias, a running
statistic, the momentum counter) are passed as another buffer with a flag saying they are
absent. clnet/ops/norm.py holds the ops and their backward rules.
"""
import numpy as np

from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .layout import check_index_range, row_groups, row_local

HAS_W, HAS_B, RMS = 1, 2, 4   # flags of the row kernels (norm.cl)
LS_GPU = 64                   # work-items per row / channel work-group in the GPU layout
_PARAM_ITEMS = 8192           # work-items wanted by layer_norm_bwd_params (columns x row chunks)
_I32 = np.int32

_programs = ProgramCache("norm", lambda dev, dt, ls: (("T", dt.cl), ("LS", ls),
                                                       ("VW", 32 // dt.itemsize)))


def local_size(dev):
    """LS of cl_kernels/norm.cl on ``dev`` (row_local: "norm.ls"); 1 is the CPU layout."""
    return row_local(dev, "norm.ls", LS_GPU)


def _program(dev, dt):
    return _programs(dev, dt, local_size(dev))


def groups(dev, items):
    """Work-groups for ``items`` rows / channels in the device's layout."""
    return row_groups(dev, items, local_size(dev))


def _launch_items(dev, kernel, items, *args):
    ls = local_size(dev)
    enqueue(dev, kernel, (groups(dev, items) * ls,), (ls,), *args)


def _buf_or(t, fallback):
    """(buffer, offset) of t, or of ``fallback`` for an absent optional argument (not read)."""
    return (t._storage.buffer, t._offset) if t is not None else (fallback._storage.buffer, 0)


# ------------------------------------------------------------------ row kernels
def layer_norm_fwd(op, x, rows, n, G, S, w, b, flags, eps, y, mean, rstd):
    """y, mean, rstd of ``x`` (contiguous, non-empty) over ``rows`` rows of ``n`` (geometry G,
    S as in norm.cl: G groups of channels with S positions each share the affine); ``flags``
    may hold RMS; HAS_W / HAS_B follow from ``w`` / ``b``."""
    dev, dt = x.device, x.dtype
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


def layer_norm_bwd(g, x, w, mean, rstd, rows, n, G, S, flags, gx, want):
    """``gx`` = the row kernels' input gradient from ``g`` (contiguous, x's dtype). With
    ``want`` (weight or bias gradients wanted) returns (gw_part, gb_part), (parts, G * n / S)
    partial sums to add over their first dim: the CPU layout adds them in passing, the GPU
    layout runs layer_norm_bwd_params over chunks of rows. Without ``want``: (None, None)."""
    dev, dt = x.device, x.dtype
    prg = _program(dev, dt)
    P = G * (n // S)                    # parameters (weight / bias elements)
    fused = local_size(dev) == 1        # the CPU layout adds the parameter partials in passing
    if fused and want:
        parts = groups(dev, rows)
        gw_part = Tensor._empty((parts, P), dt, dev)
        gb_part = Tensor._empty((parts, P), dt, dev)
    else:
        gw_part = gb_part = gx
    k = prg.kernel("layer_norm_bwd_input", [_I32, _I32, _I32, _I32, None, _I32, None, _I32, None,
                                            _I32, _I32, None, None, None, None, None, _I32])
    wb, wo = _buf_or(w, x)
    flags |= HAS_W if w is not None else 0
    _launch_items(dev, k, rows, rows, n, G, S, g._storage.buffer, g._offset,
                  x._storage.buffer, x._offset, wb, wo, flags, mean._storage.buffer,
                  rstd._storage.buffer, gx._storage.buffer, gw_part._storage.buffer,
                  gb_part._storage.buffer, int(fused and want))
    if not want:
        return None, None
    if not fused:
        batch = rows // G
        cols = -(-P // LS_GPU) * LS_GPU
        parts = max(1, min(batch, _PARAM_ITEMS // cols))
        chunk = -(-batch // parts)
        parts = -(-batch // chunk)
        gw_part = Tensor._empty((parts, P), dt, dev)
        gb_part = Tensor._empty((parts, P), dt, dev)
        kp = prg.kernel("layer_norm_bwd_params", [_I32, _I32, _I32, _I32, _I32, None, _I32, None,
                                                  _I32, None, None, None, None])
        enqueue(dev, kp, (cols, parts), (LS_GPU, 1), rows, n, G, S, chunk, g._storage.buffer,
                g._offset, x._storage.buffer, x._offset, mean._storage.buffer, rstd._storage.buffer,
                gw_part._storage.buffer, gb_part._storage.buffer)
    return gw_part, gb_part


# ------------------------------------------------------------------ batch norm
def batch_norm_stats(op, x, N, C, S, eps, w, b, mean, rstd, scale, shift, running_mean,
                     running_var, momentum, count):
    """Per-channel batch statistics of ``x`` (N, C, S contiguous, non-empty) into ``mean`` and
    ``rstd``, and the affine ``scale``/``shift`` that normalises; with running statistics,
    updates them in place: r = (1 - momentum) * r + momentum * stat (unbiased variance), or
    with ``count`` (the int64 batch counter) the cumulative average, read on the device."""
    dev, dt = x.device, x.dtype
    st = dt.np.type
    check_index_range(op, x)
    update = running_mean is not None
    rm = running_mean if update else mean
    rv = running_var if update else mean
    cb = count._storage.buffer if count is not None else mean._storage.buffer
    wb, wo = _buf_or(w, x)
    bb, bo = _buf_or(b, x)
    flags = (1 if w is not None else 0) | (2 if b is not None else 0)
    k = _program(dev, dt).kernel("batch_norm_stats", [
        _I32, _I32, _I32, None, _I32, st, None, _I32, None, _I32, _I32, None, None, None,
        None, _I32, None, _I32, _I32, None, _I32, _I32, st, None, _I32, _I32])
    _launch_items(dev, k, C, N, C, S, x._storage.buffer, x._offset, st(eps), wb, wo,
                  bb, bo, flags, mean._storage.buffer, rstd._storage.buffer,
                  scale._storage.buffer, shift._storage.buffer, int(update), rm._storage.buffer,
                  rm._offset, rm._stride[0], rv._storage.buffer, rv._offset, rv._stride[0],
                  st(momentum), cb, count._offset if count is not None else 0,
                  int(count is not None))


def batch_norm_eval_coefs(x, C, running_mean, running_var, eps, w, b, mean, rstd, scale,
                          shift):
    """mean, rstd and the affine scale/shift of evaluation from the running statistics."""
    dev, dt = x.device, x.dtype
    st = dt.np.type
    wb, wo = _buf_or(w, x)
    bb, bo = _buf_or(b, x)
    flags = (1 if w is not None else 0) | (2 if b is not None else 0)
    k = _program(dev, dt).kernel("batch_norm_eval_coefs", [
        _I32, None, _I32, _I32, None, _I32, _I32, st, None, _I32, None, _I32, _I32, None,
        None, None, None])
    ls = local_size(dev)
    enqueue(dev, k, (-(-C // ls) * ls,), (ls,), C, running_mean._storage.buffer,
            running_mean._offset, running_mean._stride[0], running_var._storage.buffer,
            running_var._offset, running_var._stride[0], st(eps), wb, wo, bb, bo, flags,
            mean._storage.buffer, rstd._storage.buffer, scale._storage.buffer,
            shift._storage.buffer)


def channel_affine(x, g, a, k, d, S, C, out):
    """out = a[c] * x + k[c] * g + d[c] over (N, C, S) (g, k optional; all contiguous)."""
    dev, dt = x.device, x.dtype
    total = out.numel()
    kern = _program(dev, dt).kernel("channel_affine", [_I32, _I32, _I32, None, _I32, None, _I32,
                                                       _I32, None, None, None, None])
    gsrc = g if g is not None else x
    kk = k if k is not None else a
    ls = local_size(dev)
    if ls == 1:       # the CPU layout: a work-item per run of S elements, looping over runs
        gsize, lsize = (groups(dev, total // S),), (1,)
    else:
        gsize, lsize = (-(-total // ls) * ls,), (ls,)
    enqueue(dev, kern, gsize, lsize, total, S, C, x._storage.buffer, x._offset,
            gsrc._storage.buffer, gsrc._offset, int(g is not None), a._storage.buffer,
            kk._storage.buffer, d._storage.buffer, out._storage.buffer)
    return out


def batch_norm_bwd_reduce(g, x, N, C, S, mean, rstd, w, training, grad_w, grad_b, kg, kx, k0):
    """Per-channel sums of g and g * xhat (grad_b, grad_w) and the coefficients of the input
    gradient's affine map gx = kx * x + kg * g + k0 (training) or kg * g + k0 (evaluation)."""
    dev, dt = x.device, x.dtype
    k = _program(dev, dt).kernel("batch_norm_bwd_reduce", [
        _I32, _I32, _I32, None, _I32, None, _I32, None, None, None, _I32, _I32, _I32, None,
        None, None, None, None])
    wb, wo = _buf_or(w, x)
    _launch_items(dev, k, C, N, C, S, g._storage.buffer, g._offset, x._storage.buffer,
                  x._offset, mean._storage.buffer, rstd._storage.buffer, wb, wo,
                  int(w is not None), int(bool(training)), grad_w._storage.buffer,
                  grad_b._storage.buffer, kg._storage.buffer, kx._storage.buffer,
                  k0._storage.buffer)
