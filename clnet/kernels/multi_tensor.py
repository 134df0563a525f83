"""multi_tensor.cl's launches: one kernel over a chunk of up to K tensors (PyTorch's foreach).

Callers pass parallel lists of tensors (``[params, grads, exp_avgs, ...]``), all on one device, of
one dtype and each a contiguous run (any storage offset); a list a configuration does not use is
None. The lists are cut into chunks of at most Kmax tensors, Kmax being the largest of 32, 16,
... 1 whose kernel arguments (K buffers per list, the chunk's MTMeta struct, the scalars) fit the
device's CL_DEVICE_MAX_PARAMETER_SIZE (1024 bytes on PoCL: 8 for the five lists of Adam, 32 for
one list). Each chunk is one launch, of the kernel built for the smallest of 4, 8, 16, 32 slots
that holds it (``_fit``).

Optimizer updates take their scalars as a callable read at every run (``enqueue_dynamic``): a
captured step (``clnet.graphs``) recomputes the learning rate and the bias corrections at each
replay. The state and scalar names and their order are optim.cl's single-tensor kernels'
(``kernels.optim.update_kernel``), which take the same ones.
"""
import numpy as np

from ..backend.launch import enqueue, enqueue_dynamic
from ..backend.programs import CL_SCALAR, ProgramCache
from .layout import buf, check_index_range, row_local, same_device
from .optim import update_kernel

# norm kinds, as multi_tensor.cl's NK_* (the general p-norm is 0)
NORM_P, NORM_L1, NORM_L2, NORM_INF, NORM_NEG_INF, NORM_ZERO = range(6)

_KS = (32, 16, 8, 4, 2, 1)      # the chunk sizes multi_tensor.cl's MT_REP<K> spells out
# the update kernels share one program, so one K: the one that fits the kernels with the most
# lists (Adam's and RMSprop's five); an update with fewer lists takes the same K
_UPDATE_LISTS = 5
_MAX_SCALAR_BYTES = 8 * 9 + 4 + 32     # 9 double scalars, flags, and room for struct padding


TILE = 1024     # elements per work-group (see multi_tensor.cl), a multiple of any LS


def _common(dev, dt, k, group):
    return ((group, None), ("S", dt.cl), ("C", dt.compute.cl), ("K", k))


def _tiled(dev, dt, k, ls, group):
    return _common(dev, dt, k, group) + (("TILE", TILE), ("LS", ls))


_updates = ProgramCache("multi_tensor", lambda dev, dt, k, ls: _tiled(dev, dt, k, ls,
                                                                      "MT_UPDATES"))
_elementwise = ProgramCache("multi_tensor", lambda dev, dt, k, ls: _tiled(dev, dt, k, ls,
                                                                          "MT_ELEMENTWISE"))
_norm = ProgramCache("multi_tensor", lambda dev, dt, k, acc, ls, kind: _common(
    dev, dt, k, "MT_NORM") + (("A", acc.cl), ("LS", ls), ("NK", kind)))
_finish = ProgramCache("multi_tensor", lambda dev, acc, res: (
    ("MT_NORM_FINISH", None), ("A", acc.cl), ("R", res.cl), ("K", 1)))


def chunk_size(dev, lists):
    """K for kernels taking ``lists`` tensor lists on ``dev`` (kept per device)."""
    key = ("multi_tensor_k", lists)
    k = dev.tuning.get(key)
    if k is None:
        limit = dev.cl_device.max_parameter_size
        ptr = max(4, dev.cl_device.address_bits // 8)
        k = next((k for k in _KS
                  if 4 * (2 * k + 1 + lists * k) + lists * k * ptr + _MAX_SCALAR_BYTES <= limit),
                 1)
        dev.tuning[key] = k
    return k


def _check(op, lists, contiguous_checked=False):
    """All tensors of ``lists`` (None lists skipped) on one device, of one dtype, contiguous
    (unless the caller has just checked that: ``contiguous_checked``)."""
    tensors = [t for lst in lists if lst is not None for t in lst]
    dev = same_device(op, *tensors)
    dt = tensors[0].dtype
    for t in tensors:
        if t.dtype is not dt:
            raise TypeError(f"{op}: a multi-tensor launch takes tensors of one dtype, got "
                            f"{dt.name} and {t.dtype.name}")
        if not contiguous_checked and not t.is_contiguous():
            raise ValueError(f"{op}: a multi-tensor launch takes contiguous tensors, got one of "
                             f"shape {list(t._shape)} with strides {t.stride()}")
    check_index_range(op, *tensors)
    return dev, dt


def _local(dev):
    """Work-items per tile: one walking it on CPU drivers, a work-group sharing it on GPUs
    (``dev.tuning["multi_tensor"]``, where tests set the other layout)."""
    return row_local(dev, "multi_tensor")


def _fit(count, kmax):
    """The K of a chunk of ``count`` tensors: the smallest of 4, 8, 16, 32 that holds them (at
    most ``kmax``). Every buffer argument costs its clSetKernelArg at each launch, used or not, so
    a 6-tensor chunk takes the 8-slot kernel, not the 32-slot one (measured: ~1 us per argument on
    PoCL); four sizes bound the programs built."""
    for k in (4, 8, 16, 32):
        if count <= k:
            return min(k, kmax)
    return kmax


def _chunks(lists, kmax, align):
    """(k, meta, buffers, launch size) per chunk of at most kmax tensors of the parallel
    ``lists`` (None: a list the kernel does not touch, its slots filled with the first list's
    buffers), k the chunk's kernel size (``_fit``), each tensor's elements starting on a
    multiple of ``align`` (whole tiles). Empty tensors are left out (there is nothing to launch
    on, and they may have no buffer)."""
    keep = [i for i, t in enumerate(lists[0]) if t.numel()]
    if len(keep) != len(lists[0]):
        lists = [None if lst is None else [lst[i] for i in keep] for lst in lists]
    out = []
    for lo in range(0, len(keep), kmax):
        first = lists[0][lo:lo + kmax]
        count = len(first)
        k = _fit(count, kmax)
        meta = np.zeros(2 * k + 1 + len(lists) * k, dtype=np.int32)
        total = 0
        for i, t in enumerate(first):
            meta[i] = total
            meta[k + 1 + i] = t.numel()
            total += (t.numel() + align - 1) // align * align
        meta[count:k + 1] = total
        bufs = []
        for li, lst in enumerate(lists):
            chunk = first if lst is None else lst[lo:lo + kmax]
            base = 2 * k + 1 + li * k
            if lst is not None:
                meta[base:base + count] = [t._offset for t in chunk]
            slot = [buf(t) for t in chunk]
            bufs.extend(slot + [slot[0]] * (k - count))
        out.append((k, meta, bufs, total))
    return out


def update(op, name, lists, scalars, flags, contiguous_checked=False):
    """Run multi_tensor.cl's ``mt_<name>`` (``sgd``, ``adam``...) over ``lists`` = [params,
    grads, *states] (a state list None where the flags leave it unused), chunk by chunk.
    ``scalars()`` returns {name: host float} with the kernel's scalar names; it is called at each
    run (once now when eager, at every replay when captured), after the host steps before it.
    ``contiguous_checked``: the caller has just checked every tensor's layout (the optimizer
    step, which must choose each parameter's path anyway)."""
    kernel_names = update_kernel(name)
    if len(lists) != 2 + len(kernel_names.states):
        raise TypeError(f"{op}: mt_{name} takes lists [param, grad, "
                        f"{', '.join(kernel_names.states)}], got {len(lists)} lists")
    present = [i for i, lst in enumerate(lists) if lst is not None]
    if not lists[0]:
        return
    dev, dt = _check(op, [lists[i] for i in present], contiguous_checked)
    order = kernel_names.scalars
    scalar = CL_SCALAR[dt.compute.cl]
    kmax = chunk_size(dev, _UPDATE_LISTS)
    local = _local(dev)
    arg_types = [scalar] * len(order) + [np.int32]
    flags = np.int32(flags)

    def scalar_args():
        given = scalars()
        if len(given) != len(order) or any(s not in given for s in order):
            raise TypeError(f"{op}: mt_{name} takes the scalars {list(order)}; got "
                            f"{sorted(given)}")
        return [scalar(given[s]) for s in order]

    for k, meta, bufs, total in _chunks(lists, kmax, TILE):
        kernel = _updates(dev, dt, k, local).kernel(
            f"mt_{name}", [None] * (1 + len(lists) * k) + arg_types)
        enqueue_dynamic(dev, kernel, (total // TILE * local,), (local,),
                        lambda meta=meta, bufs=bufs: (meta, *bufs, *scalar_args(), flags))


def _elementwise_launch(op, kname, tensors, extra_types, extra):
    dev, dt = _check(op, [tensors])
    local = _local(dev)
    for k, meta, bufs, total in _chunks([tensors], chunk_size(dev, 1), TILE):
        kernel = _elementwise(dev, dt, k, local).kernel(kname, [None] * (1 + k) + extra_types)
        enqueue(dev, kernel, (total // TILE * local,), (local,), meta, *bufs, *extra)


def fill(op, tensors, value):
    """Every tensor of ``tensors`` (one device and dtype, contiguous) set to ``value``."""
    if tensors:
        scalar = CL_SCALAR[tensors[0].dtype.compute.cl]
        _elementwise_launch(op, "mt_fill", tensors, [scalar], [scalar(value)])


def clamp(op, tensors, lo, hi):
    """``t.clamp_(lo, hi)`` for every tensor of ``tensors`` (NaN kept)."""
    if tensors:
        scalar = CL_SCALAR[tensors[0].dtype.compute.cl]
        _elementwise_launch(op, "mt_clamp", tensors, [scalar, scalar], [scalar(lo), scalar(hi)])


def scale(op, tensors, coef):
    """``t *= coef`` for every tensor of ``tensors``; ``coef`` a one-element tensor of their
    compute dtype on their device, read by the kernel (no host round trip)."""
    if not tensors:
        return
    if coef.numel() != 1 or coef.dtype is not tensors[0].dtype.compute:
        raise ValueError(f"{op}: the scale must be a one-element {tensors[0].dtype.compute.name} "
                         f"tensor, got {coef.dtype.name} of shape {list(coef._shape)}")
    same_device(op, tensors[0], coef)
    _elementwise_launch(op, "mt_scale", tensors, [None, np.int32],
                        [buf(coef), np.int32(coef._offset)])


def norm_groups(dev, largest):
    """Work-groups per tensor for norm partials of tensors of at most ``largest`` elements: one
    per 8192 elements, at most 16 per compute unit (a CPU driver pays about a microsecond per
    work-group; the finish kernel reads them all)."""
    cap = 16 * dev.cl_device.max_compute_units
    return max(1, min(cap, (largest + 8191) // 8192))


def norm_partials(op, tensors, partials, first, groups, kind, p):
    """Fold each tensor of ``tensors`` (one device and dtype, contiguous) into ``groups``
    partials: tensor i's go to ``partials[(first + i) * groups:][:groups]`` (a contiguous float32
    or float64 tensor: the accumulation dtype)."""
    if not tensors:
        return
    dev, dt = _check(op, [tensors])
    same_device(op, tensors[0], partials)
    acc = partials.dtype
    ls = row_local(dev, "multi_tensor_norm")
    if any(t.numel() == 0 for t in tensors):
        raise ValueError(f"{op}: norm partials take non-empty tensors (their slots are numbered)")
    kmax = chunk_size(dev, 1)
    for lo, (k, meta, bufs, _) in zip(range(0, len(tensors), kmax),
                                      _chunks([tensors], kmax, 1)):
        kernel = _norm(dev, dt, k, acc, ls, kind).kernel(
            "mt_norm_partial", [None] * (1 + k) + [None] + [np.int32] * 3 + [CL_SCALAR[acc.cl]])
        count = min(kmax, len(tensors) - lo)
        enqueue(dev, kernel, (groups * ls, count), (ls, 1), meta, *bufs, buf(partials),
                np.int32(partials._offset), np.int32(first + lo), np.int32(groups),
                CL_SCALAR[acc.cl](p))


def norm_finish(partials, ntensors, groups, kind, p, max_norm, total, coef):
    """From ``ntensors * groups`` partials: the total norm (PyTorch's norm of the per-tensor
    norms) into the one-element ``total`` (the result dtype) and ``min(max_norm / (total +
    1e-6), 1)`` into the one-element ``coef`` (the partials' dtype)."""
    dev = same_device("clip_grad_norm_", partials, total, coef)
    acc = partials.dtype
    scalar = CL_SCALAR[acc.cl]
    kernel = _finish(dev, acc, total.dtype).kernel(
        "mt_norm_finish", [None, np.int32, np.int32, np.int32, np.int32, scalar, scalar,
                           None, np.int32, None, np.int32])
    enqueue(dev, kernel, (1,), (1,), buf(partials), np.int32(partials._offset),
            np.int32(ntensors), np.int32(groups), np.int32(kind), scalar(p), scalar(max_norm),
            buf(total), np.int32(total._offset), buf(coef), np.int32(coef._offset))
