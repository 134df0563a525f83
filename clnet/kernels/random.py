"""random.cl's launches: Philox-4x32-10 draws into tensors of any layout (uniform, normal,
exponential, integer ranges, Bernoulli with a scalar or a broadcast tensor of probabilities,
normal with tensor mean/std) and multinomial sampling. Each launch takes the Philox ``key`` and
first ``counter`` that the caller reserved from its generator (clnet/ops/generator.py); each
work-item turns one counter into up to four values. clnet/ops/random.py holds the ops.
"""
import numpy as np

from ..backend.programs import ProgramCache
from .layout import broadcast_strides, check_index_range, launch_1d, strided_meta

_I32, _U64 = np.int32, np.uint64

_programs = ProgramCache("random")


def fill(op, t, dist, counters, key, ctr, a, b, arg_types):
    """Fill ``t`` (non-empty, any layout) with kernel ``<dist>_<type>`` and its two parameters
    ``a``, ``b`` (of numpy ``arg_types``) from ``counters`` Philox counters."""
    n = t.numel()
    check_index_range(op, t)
    dev = t._storage.device
    prg = _programs(dev)
    name = f"{dist}_{t.dtype.cl}"
    ta, tb = arg_types
    if t.is_contiguous():
        k = prg.kernel(name + "_c", [_I32, None, _I32, _U64, _U64, ta, tb])
        launch_1d(dev, k, counters, n, t._storage.buffer, t._offset, key, ctr, ta(a), tb(b))
    else:
        m = strided_meta(op, t._shape, [(t._offset, t._stride)])
        k = prg.kernel(name + "_n", [_I32, None, _U64, _U64, ta, tb, None])
        launch_1d(dev, k, counters, n, t._storage.buffer, key, ctr, ta(a), tb(b), m)


def bernoulli_p(op, out, p, counters, key, ctr):
    """out[i] = (u_i < p[i]), ``p`` (float32) broadcast to ``out`` (non-empty, any layout)."""
    check_index_range(op, out, p)
    dev = out._storage.device
    m = strided_meta(op, out._shape, [(out._offset, out._stride),
                                      (p._offset, broadcast_strides(out._shape, p._shape,
                                                                    p._stride))])
    k = _programs(dev).kernel(f"bernoulli_p_{out.dtype.cl}", [_I32, None, None, _U64, _U64, None])
    launch_1d(dev, k, counters, out.numel(), out._storage.buffer, p._storage.buffer, key, ctr, m)


def normal_tensor(t, mean, std, counters, key, ctr):
    """t = mean + std * N(0, 1), ``mean`` and ``std`` (t's dtype) broadcast to ``t``."""
    shape, n = t._shape, t.numel()
    check_index_range("normal", t, mean, std)
    dev = t._storage.device
    m = strided_meta("normal", shape, [
        (t._offset, t._stride),
        (mean._offset, broadcast_strides(shape, mean._shape, mean._stride)),
        (std._offset, broadcast_strides(shape, std._shape, std._stride))])
    k = _programs(dev).kernel(f"normal_tensor_{t.dtype.cl}",
                              [_I32, None, None, None, _U64, _U64, None])
    launch_1d(dev, k, counters, n, t._storage.buffer, mean._storage.buffer, std._storage.buffer,
              key, ctr, m)


def multinomial(probs, res, rows, k, s, key, ctr, replacement):
    """``s`` draws per row of the (rows, k) probabilities ``probs`` (contiguous rows at its
    offset) into the int64 ``res``. Without replacement the kernel marks drawn categories in
    ``probs``, which must be a scratch copy."""
    dev = probs._storage.device
    arg_types = [_I32, _I32, _I32, None, _I32, None, _U64, _U64]
    if replacement:
        kern = _programs(dev).kernel(f"multinomial_repl_{probs.dtype.cl}", arg_types)
        launch_1d(dev, kern, rows * s, rows, k, s, probs._storage.buffer, probs._offset,
                  res._storage.buffer, key, ctr)
    else:
        kern = _programs(dev).kernel(f"multinomial_norepl_{probs.dtype.cl}", arg_types)
        launch_1d(dev, kern, rows, rows, k, s, probs._storage.buffer, probs._offset,
                  res._storage.buffer, key, ctr)
