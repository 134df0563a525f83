"""Layout arithmetic shared by every kernel family: broadcasting, dimension collapsing, the
`Strided` struct that strided kernels take (see cl_kernels/common.h), and 1-D launches."""
import numpy as np

from ..backend import tuning, tuning_defaults
from ..backend.launch import enqueue
from ..errors import DeviceError

MAXD = 8
MAXOPS = 4
_INT32_LIMIT = 2 ** 31 - 1
LOCAL_1D = 64   # one fixed work-group size: PoCL compiles each (kernel, local size) once


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def broadcast_shapes(op, *shapes):
    """numpy broadcasting; the error names the op and every shape."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            if d == out[j] or d == 1:
                continue
            if out[j] == 1:
                out[j] = d
            else:
                raise ValueError(
                    f"{op}: shapes {' and '.join(str(list(x)) for x in shapes)} cannot be "
                    f"broadcast together (dimension {j - ndim} is {out[j]} vs {d})")
    return tuple(out)


def broadcast_strides(shape, t_shape, t_stride):
    """Strides of a tensor seen at broadcast ``shape`` (0 where it is broadcast)."""
    lead = len(shape) - len(t_shape)
    out = [0] * lead
    for d, (s, st) in enumerate(zip(t_shape, t_stride)):
        out.append(0 if (s == 1 and shape[lead + d] != 1) else st)
    return out


def collapse(shape, strides_list):
    """Drop size-1 dims and merge neighbours contiguous in every operand. Returns (shape, strides)."""
    dims = [d for d, s in enumerate(shape) if s != 1]
    if not dims:
        return [1], [[0] for _ in strides_list]
    new_shape = [shape[dims[0]]]
    new_strides = [[st[dims[0]]] for st in strides_list]
    for d in dims[1:]:
        size = shape[d]
        if all(ns[-1] == st[d] * size for ns, st in zip(new_strides, strides_list)):
            new_shape[-1] *= size
            for ns, st in zip(new_strides, strides_list):
                ns[-1] = st[d]
        else:
            new_shape.append(size)
            for ns, st in zip(new_strides, strides_list):
                ns.append(st[d])
    return new_shape, new_strides


def strided_meta(op, shape, operands):
    """Pack the `Strided` struct for ``operands`` = [(offset, strides_at_shape), ...], output first.

    Returns an int32 array passed by value to ``*_n`` kernels."""
    cshape, cstrides = collapse(list(shape), [list(st) for _, st in operands])
    if len(cshape) > MAXD:
        raise ValueError(f"{op}: strided kernels handle up to {MAXD} non-mergeable dimensions, "
                         f"got shape {list(shape)}; call .contiguous() first")
    m = np.zeros(1 + MAXD + MAXOPS + MAXOPS * MAXD, dtype=np.int32)
    m[0] = len(cshape)
    m[1:1 + len(cshape)] = cshape
    for k, (off, _) in enumerate(operands):
        m[1 + MAXD + k] = off
    base = 1 + MAXD + MAXOPS
    for k, st in enumerate(cstrides):
        m[base + k * MAXD: base + k * MAXD + len(st)] = st
    return m


_INT32_BYTES = {1: _INT32_LIMIT, 2: 2 * _INT32_LIMIT, 4: 4 * _INT32_LIMIT, 8: 8 * _INT32_LIMIT}


def check_index_range(op, *tensors):
    """Kernels index with 32-bit ints: every element of a storage must be addressable. (Bounding
    the storage bounds every view of it; outputs are real storages, so this bounds `n` too.)"""
    for t in tensors:
        if t._storage.nbytes > _INT32_BYTES[t.dtype.itemsize]:
            raise ValueError(f"{op}: tensors with 2**31 or more elements are not supported "
                             f"(shape {list(t._shape)})")


def _dense_range(t):
    """[start, end) element range of ``t`` when it is non-overlapping and dense (its elements
    are a permutation of one contiguous block), else None."""
    dims = sorted((st, s) for s, st in zip(t._shape, t._stride) if s != 1)
    expected = 1
    for st, s in dims:
        if st != expected:
            return None
        expected *= s
    return t._offset, t._offset + expected


def check_no_partial_overlap(op, out, *inputs):
    """PyTorch's check before an op writes ``out``: an input that shares ``out``'s memory must
    be ``out`` itself (the same view). A partial overlap (``x[1:].add_(x[:-1])``) would have
    work-items read what others write, in no defined order, so it is refused as torch refuses
    it; overlaps torch cannot judge (a non-dense view) are let through, as torch does."""
    for t in inputs:
        if t is out or getattr(t, "_storage", None) is not out._storage:
            continue
        if t._offset == out._offset and t._shape == out._shape and t._stride == out._stride:
            continue
        a, b = _dense_range(out), _dense_range(t)
        if a is None or b is None or not out.numel() or not t.numel():
            continue
        if a[0] < b[1] and b[0] < a[1]:
            raise RuntimeError(
                f"{op}: unsupported operation: some elements of the input tensor and the "
                "written-to tensor refer to a single memory location. Please clone() the "
                "tensor before performing the operation.")


def same_device(op, *tensors):
    dev = tensors[0]._storage.device
    for t in tensors[1:]:
        if t._storage.device is not dev:
            raise DeviceError(
                f"{op}: expected all tensors to be on the same device, but found at least two "
                f"devices, {dev} and {t._storage.device}; move one with .to(device)")
    return dev


def row_local(dev, key, gpu_local=64):
    """Work-items per row of a row-kernel family (softmax.cl, norm.cl) on ``dev``: a work-group
    of ``gpu_local`` with a tree in local memory on GPUs, ONE work-item walking the row in
    vectors on CPU drivers; ``clnet tune``'s measured value where it has one (backend/tuning.py),
    else the vendor table's. Kept in ``dev.tuning[key]``, where tests set the other layout."""
    ls = dev.tuning.get(key)
    if ls is None:
        ls = tuning.tuned(dev, key) or tuning_defaults.default(dev, key) or \
            (1 if dev.kind == "CPU" else gpu_local)
        # a table or tuning made for bigger work-groups than this device allows: the largest
        # power of two that fits (the kernels' trees need one)
        while ls > max(1, dev.max_work_group_size):
            ls //= 2
        dev.tuning[key] = ls
    return ls


def row_groups(dev, items, local):
    """Work-groups for ``items`` rows: one each with a work-group per row; with a work-item per
    row, a few per core (the kernels loop over rows), since a CPU driver pays about a
    microsecond per work-group."""
    if local == 1:
        return max(1, min(items, 16 * dev.cl_device.max_compute_units))
    return items


def launch_1d(dev, kernel, n, *args):
    """Launch ``kernel`` over ``n`` work-items in work-groups of LOCAL_1D (the kernel bounds-checks)."""
    local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size
    enqueue(dev, kernel, (((n + local - 1) // local) * local,), (local,), *args)


def buf(t):
    """The buffer to pass for tensor ``t`` (never None: empty tensors are not launched on)."""
    return t._storage.buffer


def int_tuple(op, name, v, n):
    """An int or a sequence of n ints (or of one, repeated) as an n-tuple: the kernel_size /
    stride / padding arguments of convolution and pooling."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            raise ValueError(f"{op}: expected {name} to be a single integer or a tuple of {n} "
                             f"integers, got {tuple(v)}")
        return tuple(int(e) for e in v)
    return (int(v),) * n
