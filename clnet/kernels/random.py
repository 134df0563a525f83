"""random.cl's launches: Philox-4x32-10 draws into tensors of any layout (uniform, normal,
exponential, integer ranges, Bernoulli with a scalar or a broadcast tensor of probabilities,
normal with tensor mean/std) and multinomial sampling. Each launch reserves its ``counters``
Philox counters from the caller's generator (clnet/ops/generator.py) as it is enqueued: the
key and first counter are computed by ``make_args`` (backend/launch.py's ``enqueue_dynamic``),
so a captured step (clnet.graphs) reserves new counters at every replay and draws new numbers
exactly as the same eager steps would. Each work-item turns one counter into up to four values.
clnet/ops/random.py holds the ops.
"""
import numpy as np

from ..backend.launch import enqueue_dynamic
from ..backend.programs import ProgramCache
from .layout import LOCAL_1D, broadcast_strides, check_index_range, strided_meta

_I32, _U64 = np.int32, np.uint64

_programs = ProgramCache("random")


def _launch(dev, kernel, items, gen, counters, head, tail=()):
    """Launch ``kernel`` over ``items`` work-items with arguments ``head + (key, counter) +
    tail``, the key and first counter reserved from ``gen`` when the launch is enqueued."""
    local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size

    def make_args():
        return (*head, *gen._take(counters), *tail)
    enqueue_dynamic(dev, kernel, (-(-items // local) * local,), (local,), make_args)


def fill(op, t, dist, counters, gen, a, b, arg_types):
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
        _launch(dev, k, counters, gen, counters, (n, t._storage.buffer, t._offset),
                (ta(a), tb(b)))
    else:
        m = strided_meta(op, t._shape, [(t._offset, t._stride)])
        k = prg.kernel(name + "_n", [_I32, None, _U64, _U64, ta, tb, None])
        _launch(dev, k, counters, gen, counters, (n, t._storage.buffer), (ta(a), tb(b), m))


def bernoulli_p(op, out, p, counters, gen):
    """out[i] = (u_i < p[i]), ``p`` (float32) broadcast to ``out`` (non-empty, any layout)."""
    check_index_range(op, out, p)
    dev = out._storage.device
    m = strided_meta(op, out._shape, [(out._offset, out._stride),
                                      (p._offset, broadcast_strides(out._shape, p._shape,
                                                                    p._stride))])
    k = _programs(dev).kernel(f"bernoulli_p_{out.dtype.cl}", [_I32, None, None, _U64, _U64, None])
    _launch(dev, k, counters, gen, counters, (out.numel(), out._storage.buffer, p._storage.buffer),
            (m,))


def normal_tensor(t, mean, std, counters, gen):
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
    _launch(dev, k, counters, gen, counters,
            (n, t._storage.buffer, mean._storage.buffer, std._storage.buffer), (m,))


def multinomial(probs, res, rows, k, s, gen, replacement):
    """``s`` draws per row of the (rows, k) probabilities ``probs`` (contiguous rows at its
    offset) into the int64 ``res``. Without replacement the kernel marks drawn categories in
    ``probs``, which must be a scratch copy."""
    dev = probs._storage.device
    arg_types = [_I32, _I32, _I32, None, _I32, None, _U64, _U64]
    if replacement:
        kern = _programs(dev).kernel(f"multinomial_repl_{probs.dtype.cl}", arg_types)
        _launch(dev, kern, rows * s, gen, rows * s,
                (rows, k, s, probs._storage.buffer, probs._offset, res._storage.buffer))
    else:
        kern = _programs(dev).kernel(f"multinomial_norepl_{probs.dtype.cl}", arg_types)
        _launch(dev, kern, rows, gen, rows * s,
                (rows, k, s, probs._storage.buffer, probs._offset, res._storage.buffer))
