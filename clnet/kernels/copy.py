"""copy.cl's launches: the vector (``*_c``) and strided (``*_n``) launch helpers that every
family's kernels share, copies between layouts and dtypes, fills, and host uploads. Nothing here
records autograd; ``clnet/ops/copy.py`` holds the differentiable ``clone``/``cast``/``to``."""
import math

import numpy as np
import pyopencl as cl

from .. import dtypes
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue, host_step
from ..tensor import Tensor
from .layout import (LOCAL_1D, MAXD, MAXOPS, broadcast_shapes, broadcast_strides,
                     check_index_range, check_no_partial_overlap, collapse, launch_1d)

_I32 = np.int32
_VW = 4            # elements per work-item of the *_c kernels (VW in copy.cl and elementwise.cl)
_MAX_GRID_YZ = 65535   # NDRange dims 1 and 2 stay within every GPU's grid limits


def _local(dev):
    return LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size


def launch_vec(dev, kernel, n, *args):
    """Launch a *_c kernel: one work-item per _VW elements, rounded up to whole work-groups."""
    local = _local(dev)
    items = (n + _VW - 1) // _VW
    enqueue(dev, kernel, ((items + local - 1) // local * local,), (local,), *args)


_MAX_SPLIT_LAUNCHES = 64   # 4+ unmergeable dims: at most this many 3-D launches, else 1-D


def strided_launch(op, dev, kernel, n, shape, operands, *args):
    """Launch a ``*_n`` kernel (its `Strided` struct is the last argument, after ``args``) over
    ``shape`` for ``operands`` = [(offset, strides_at_shape), ...], output first.

    Dimensions contiguous in every operand are merged first. Up to 3 remaining dimensions go to a
    3-D NDRange (STRIDED_ITEM in common.h): NDRange dimension 0 is the innermost one, or the
    largest one when the innermost is too short to fill a work-group (a (N, 2) transpose would
    otherwise leave most work-items idle). With more dimensions, the 3 innermost still go to the
    3-D form, one launch per index of the outer ones (attention's (batch, heads, L, d) views:
    a few launches instead of a per-element index decode, ~10x slower on PoCL), up to
    _MAX_SPLIT_LAUNCHES; beyond that, or past the grid limits of NDRange dimensions 1 and 2, the
    1-D form decodes every element's index."""
    cshape, cstrides = collapse(list(shape), [list(st) for _, st in operands])
    nd = len(cshape)
    if nd > MAXD:
        raise ValueError(f"{op}: strided kernels handle up to {MAXD} non-mergeable dimensions, "
                         f"got shape {list(shape)}; call .contiguous() first")
    local = _local(dev)
    offsets = [off for off, _ in operands]
    outer = cshape[:-3]
    inner, inner_strides = cshape[-3:], [st[-3:] for st in cstrides]
    layout = _layout_3d(local, inner)
    if layout is not None and math.prod(outer) <= _MAX_SPLIT_LAUNCHES:
        for idx in np.ndindex(*outer):
            offs = [o + sum(i * s for i, s in zip(idx, st[:-3]))
                    for o, st in zip(offsets, cstrides)]
            _launch_3d(dev, kernel, local, layout, inner_strides, offs, args)
        return
    # 1-D form: row-major dims, at least 4 of them (leading 1s) so that the kernel takes it
    m = np.zeros(1 + MAXD + MAXOPS + MAXOPS * MAXD, dtype=np.int32)
    base = 1 + MAXD + MAXOPS
    m[1 + MAXD:1 + MAXD + len(offsets)] = offsets
    pad = max(0, 4 - nd)
    m[0] = nd + pad
    m[1 + pad:1 + pad + nd] = cshape
    m[1:1 + pad] = 1
    for k, st in enumerate(cstrides):
        m[base + k * MAXD + pad: base + k * MAXD + pad + nd] = st
    enqueue(dev, kernel, ((n + local - 1) // local * local,), (local,), *args, m)


def _layout_3d(local, cshape):
    """(dims in NDRange order, sizes) of the 3-D form over (at most 3) collapsed dims, or None
    past the grid limits of NDRange dimensions 1 and 2."""
    nd = len(cshape)
    dims = list(range(nd - 1, -1, -1))           # innermost first
    if cshape[dims[0]] < local // 2:
        big = max(dims, key=lambda d: cshape[d])
        if cshape[big] > cshape[dims[0]]:
            dims.remove(big)
            dims.insert(0, big)
    sizes = [cshape[d] for d in dims] + [1] * (3 - nd)
    if sizes[1] > _MAX_GRID_YZ or sizes[2] > _MAX_GRID_YZ:
        return None
    return dims, sizes


def _launch_3d(dev, kernel, local, layout, cstrides, offsets, args):
    dims, sizes = layout
    m = np.zeros(1 + MAXD + MAXOPS + MAXOPS * MAXD, dtype=np.int32)
    base = 1 + MAXD + MAXOPS
    m[0] = 3
    m[1:4] = sizes
    m[1 + MAXD:1 + MAXD + len(offsets)] = offsets
    for k, st in enumerate(cstrides):
        m[base + k * MAXD: base + k * MAXD + len(dims)] = [st[d] for d in dims]
    enqueue(dev, kernel, ((sizes[0] + local - 1) // local * local, sizes[1], sizes[2]),
            (local, 1, 1), *args, m)


_program = ProgramCache("copy")    # _program(dev): one program holds every dtype pair


def copy_into(dst, src, op="copy_"):
    """Write ``src`` (broadcast to dst's shape, cast to dst's dtype) into ``dst`` on the device
    (through the host when ``src`` is on another device)."""
    if src._storage.device is not dst._storage.device:
        src = upload_stored(src._host_array(), dst._storage.device, src.dtype)
    shape = dst._shape
    if tuple(broadcast_shapes(op, shape, src._shape)) != tuple(shape):
        raise ValueError(f"{op}: source shape {list(src._shape)} cannot be broadcast to "
                         f"destination shape {list(shape)}")
    n = dst.numel()
    if n == 0:
        return dst
    if src._storage is dst._storage:
        check_no_partial_overlap(op, dst, src)
    check_index_range(op, dst, src)
    dev = dst._storage.device
    prg = _program(dev)
    s, d = src.dtype.cl, dst.dtype.cl
    src_st = broadcast_strides(shape, src._shape, src._stride)
    if dst.is_contiguous() and src._shape == shape and src.is_contiguous():
        k = prg.kernel(f"copy_{s}_{d}_c", [_I32, None, _I32, None, _I32])
        launch = launch_1d if _one_per_item(src.dtype, dst.dtype) else launch_vec
        launch(dev, k, n, n, src._storage.buffer, src._offset, dst._storage.buffer, dst._offset)
    else:
        k = prg.kernel(f"copy_{s}_{d}_n", [_I32, None, None, None])
        strided_launch(op, dev, k, n, shape, [(dst._offset, dst._stride), (src._offset, src_st)],
                       n, src._storage.buffer, dst._storage.buffer)
    return dst


def _one_per_item(a, b):
    """copy.cl's COPY16_1_KERNELS: a cast between bfloat16 and a type that is neither 16-bit
    float takes one element per work-item (launch_1d) instead of launch_vec's four."""
    return a is not b and dtypes.bfloat16 in (a, b) and dtypes.float16 not in (a, b)


def fill_into(dst, value):
    n = dst.numel()
    if n == 0:
        return dst
    check_index_range("fill_", dst)
    dev = dst._storage.device
    t = dst.dtype.cl
    vtype = np.uint8 if dst.dtype is dtypes.bool_ else dst.dtype.np.type
    if dst.dtype in dtypes.HALF_TYPES:
        # the value's 16 bits, rounded on the host as the copy kernels round (fill_ushort_*)
        t, vtype = "ushort", np.uint16
        value = np.uint16(dtypes.from_host_values([value], dst.dtype).view(np.uint16)[0])
    else:
        value = vtype(bool(value)) if dst.dtype is dtypes.bool_ else vtype(value)
    prg = _program(dev)
    if dst.is_contiguous():
        k = prg.kernel(f"fill_{t}_c", [_I32, None, _I32, vtype])
        launch_vec(dev, k, n, n, dst._storage.buffer, dst._offset, value)
    else:
        k = prg.kernel(f"fill_{t}_n", [_I32, None, vtype, None])
        strided_launch("fill_", dev, k, n, dst._shape, [(dst._offset, dst._stride)],
                       n, dst._storage.buffer, value)
    return dst


def from_numpy_to(a, dev, dt=None):
    """Upload a numpy array (any layout) as a new contiguous tensor."""
    dt = dtypes.to_dtype(a.dtype) if dt is None else dt
    if dt is dtypes.bfloat16:
        # values rounded to bfloat16's bits on the host (as the copy kernels round)
        return upload_stored(dtypes.from_host_values(np.asarray(a), dt), dev, dt)
    with np.errstate(over="ignore"):    # out of float16's range: inf, as PyTorch
        return upload_stored(np.asarray(a, dtype=dt.np), dev, dt)


def upload_stored(host, dev, dt):
    """Upload a host array of ``dt``'s stored type (``Tensor._host_array``'s: uint16 bits for
    bfloat16) as a new contiguous tensor."""
    if not host.flags.c_contiguous:
        host = np.array(host, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
    out = Tensor._empty(host.shape, dt, dev)
    if host.size:
        # the buffer is new, so the in-order queue has nothing pending on it: a non-blocking
        # write keeps the host array alive through pyopencl's event until the copy is done.
        # Inside a capture (clnet.graphs) the copy is recorded with a snapshot of the values and
        # runs at every replay, in order with the kernels around it; it also runs now, so a
        # tensor kept past the capture (a cached constant, say) holds its values even if the
        # graph is never replayed (an aborted capture).
        buffer = out._storage.buffer
        if dev.capture is not None:
            host = host.copy()
            _write(dev, buffer, host)
        host_step(dev, lambda: _write(dev, buffer, host))
    return out


_STAGE_MAX = 16 << 20   # bytes: larger uploads write directly (one wait, amortised by the copy,
                        # and no second copy of a large array in memory)


def _write(dev, buffer, host):
    """Copy ``host`` into the new ``buffer`` without waiting for the device: a write from host
    memory (clEnqueueWriteBuffer), even a non-blocking one, returns on PoCL only once the queue
    has drained (measured: the length of the queued work), which made every upload a sync point
    (a batch per step, a scalar per op). A buffer created from the host array (COPY_HOST_PTR:
    a copy at creation, no queue) and a device-side copy from it keep the host running ahead;
    the staging buffer is released once the copy has run (OpenCL keeps it alive till then)."""
    if host.nbytes > _STAGE_MAX:
        # blocking: the caller may change its array as soon as we return (torch.tensor copies)
        cl.enqueue_copy(dev.queue, buffer, host, is_blocking=True)
        return
    stage = cl.Buffer(dev.context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR,
                      hostbuf=host)
    cl.enqueue_copy(dev.queue, buffer, stage, byte_count=host.nbytes)


def contiguous_copy(t):
    """``t`` itself when contiguous, else a contiguous copy (recording nothing)."""
    if t.is_contiguous():
        return t
    return copy_into(Tensor._empty(t._shape, t.dtype, t._storage.device), t, "contiguous")
