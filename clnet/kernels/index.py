"""index.cl's launches: the program (with int64 atomics where the device has them), gathers,
scatters (claimed or atomic or deterministic), masked fills, one-hot rows, and the stream
compaction behind ``nonzero`` (and hence boolean masks and ``where(cond)``). clnet/ops/index.py
(indexing along a dim) and clnet/ops/subscripts.py (t[idx], t[idx] = v) hold the ops and their
backward;
the subscripts' take/put launches stay there with their index planning.

Index bounds: a device index out of range is never read back here; the kernels skip it (a gather
gives 0, a scatter writes nothing) and record it in the device's error flag."""
import numpy as np
import pyopencl as cl

from .. import dtypes
from ..backend.device_errors import error_flag
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue, refuse_in_capture
from ..tensor import Tensor
from .copy import contiguous_copy, fill_into, strided_launch
from .layout import (LOCAL_1D, MAXD, MAXOPS, broadcast_strides, buf, check_index_range,
                     launch_1d, numel, strided_meta)

_I32 = np.int32
_NZ_PER = 16          # elements per work-item in the compaction kernels (NZ_PER in index.cl)


def _defines(dev):
    # int64 atomics are compiled in where the device reports them
    return (("HAS_INT64_ATOMICS", 1),) if "cl_khr_int64_base_atomics" in dev.extensions else ()


index_program = ProgramCache("index", _defines)    # index_program(dev)


def _group_size(dev):
    return LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size


def shape_meta(shape):
    """A `Strided` struct carrying only a shape (for kernels that unravel linear indices)."""
    if len(shape) > MAXD:
        raise ValueError(f"tensors with more than {MAXD} dimensions are not supported here "
                         f"(shape {list(shape)})")
    m = np.zeros(1 + MAXD + MAXOPS + MAXOPS * MAXD, dtype=np.int32)
    m[0] = len(shape)
    m[1:1 + len(shape)] = shape
    return m


def nonzero_positions(x):
    """(int32 tensor of the linear positions of x's nonzero elements in row-major order, count).

    The count decides the result's size, so this waits for the device once to read it back."""
    dev = x._storage.device
    x = contiguous_copy(x)
    n = x.numel()
    if n == 0:
        return Tensor._empty((0,), dtypes.int32, dev), 0
    check_index_range("nonzero", x)
    prg = index_program(dev)
    t = x.dtype.cl
    local = _group_size(dev)
    groups = -(-n // (local * _NZ_PER))
    counts = Tensor._empty((groups,), dtypes.int32, dev)
    total = Tensor._empty((1,), dtypes.int32, dev)
    # data-dependent output size: the only host round trip of the indexing ops
    refuse_in_capture(dev, "nonzero (and masked selection), whose output size is read back")
    enqueue(dev, prg.kernel(f"nz_count_{t}", [_I32, None, _I32, None]),
            (groups * local,), (local,), n, buf(x), x._offset, buf(counts))
    enqueue(dev, prg.kernel("nz_scan", [_I32, None, None]), (local,), (local,), groups,
            buf(counts), buf(total))
    host = np.empty(1, dtype=np.int32)
    cl.enqueue_copy(dev.queue, host, buf(total), is_blocking=True)
    count = int(host[0])
    positions = Tensor._empty((count,), dtypes.int32, dev)
    if count:
        enqueue(dev, prg.kernel(f"nz_compact_{t}", [_I32, None, _I32, None, None]),
                (groups * local,), (local,), n, buf(x), x._offset, buf(counts), buf(positions))
    return positions, count


def nonzero(input, as_tuple):
    """Coordinates of the nonzero elements: (count, ndim) int64, or a tuple of ndim 1-D tensors
    (rows of one (ndim, count) tensor). Waits for the device (the count sets the output size)."""
    x = input
    if x.dim() == 0 and as_tuple:
        x = Tensor._make(x._storage, (1,), (1,), x._offset, x.dtype)
    dev = x._storage.device
    positions, count = nonzero_positions(x)
    ndim = x.dim()
    if as_tuple:
        coords = Tensor._empty((ndim, count), dtypes.int64, dev)
        row_stride, col_stride = 1, count
    else:
        coords = Tensor._empty((count, ndim), dtypes.int64, dev)
        row_stride, col_stride = ndim, 1
    if count and ndim:
        k = index_program(dev).kernel("unravel", [_I32, None, None, _I32, _I32, None])
        launch_1d(dev, k, count, count, buf(positions), buf(coords), row_stride, col_stride,
                  shape_meta(x._shape))
    if as_tuple:
        return tuple(Tensor._make(coords._storage, (count,), (1,), d * count, dtypes.int64)
                     for d in range(ndim))
    return coords


def _zeroed(strides, d):
    s = list(strides)
    s[d] = 0
    return s


def gather_into(x, d, idx, out, idx_strides, op):
    """out[... i ...] = x[... idx[...] ...] over out's shape; idx read with ``idx_strides``."""
    n = out.numel()
    if n == 0:
        return out
    if x._shape[d] == 0:
        raise IndexError(f"{op}(): cannot select from dimension {d} of size 0 "
                         f"(input shape {list(x._shape)})")
    check_index_range(op, x, idx, out)
    dev = x._storage.device
    k = index_program(dev).kernel(f"gather_{x.dtype.cl}_{idx.dtype.cl}",
                                  [_I32, None, None, None, _I32, _I32, None, None])
    strided_launch(op, dev, k, n, out._shape, [(out._offset, out._stride),
                                              (idx._offset, idx_strides),
                                              (x._offset, _zeroed(x._stride, d))],
                   n, buf(out), buf(idx), buf(x), x._shape[d], x._stride[d],
                   error_flag(dev, op))
    return out


def scatter_into(kind, s, d, idx, source, src_strides, shape, idx_strides=None,
                 deterministic=False):
    """One work-item per element of ``shape`` (the index's shape): s[... idx ...] = source
    (``kind`` "scatter": each target claimed by the last index element aiming at it, so repeated
    indices give PyTorch's CPU result) or += source (``kind`` "add": atomics where the dtype has
    them, else, or when ``deterministic``, each output row sums its contributions in index
    order)."""
    n = numel(shape)
    if n == 0:
        return
    op = "scatter_add_" if kind == "add" else "scatter_"
    check_index_range(op, s, idx, source)
    dev = s._storage.device
    idx_strides = list(idx._stride) if idx_strides is None else idx_strides
    prg = index_program(dev)
    T, I = s.dtype.cl, idx.dtype.cl
    if kind == "scatter":   # claim targets (last index element wins), then write each once
        winner = fill_into(Tensor._empty(s._shape, dtypes.int32, dev), -1)
        w_strides = _zeroed(winner._stride, d)
        m = strided_meta(op, shape, [(0, w_strides), (idx._offset, idx_strides)])
        k = prg.kernel(f"scatter_claim_{I}", [_I32, None, None, _I32, _I32, None, None])
        launch_1d(dev, k, n, n, buf(winner), buf(idx), s._shape[d], winner._stride[d],
                  error_flag(dev, op), m)
        m = strided_meta(op, shape, [(0, w_strides), (idx._offset, idx_strides),
                                     (s._offset, _zeroed(s._stride, d)),
                                     (source._offset, src_strides)])
        k = prg.kernel(f"scatter_{T}_{I}", [_I32, None, None, None, None, _I32, _I32, _I32, None])
        launch_1d(dev, k, n, n, buf(winner), buf(idx), buf(s), buf(source), s._shape[d],
                  winner._stride[d], s._stride[d], m)
        return
    if not deterministic and _atomic_ok(s):
        m = strided_meta(op, shape, [(s._offset, _zeroed(s._stride, d)), (idx._offset, idx_strides),
                                     (source._offset, src_strides)])
        k = prg.kernel(f"scatter_add_atomic_{T}_{I}", [_I32, None, None, None, _I32, _I32, None,
                                                      None])
        launch_1d(dev, k, n, n, buf(s), buf(idx), buf(source), s._shape[d], s._stride[d],
                  error_flag(dev, op), m)
        return
    # deterministic: iterate over the output rows (index shape, dim moved last, sized like s)
    K = shape[d]
    order = [k for k in range(len(shape)) if k != d] + [d]
    it_shape = [shape[k] for k in order[:-1]] + [s._shape[d]]
    mv = lambda st: [st[k] for k in order]  # noqa: E731
    m = strided_meta(op, it_shape, [(s._offset, mv(s._stride)),
                                    (idx._offset, mv(_zeroed(idx_strides, d))),
                                    (source._offset, mv(_zeroed(src_strides, d)))])
    k = prg.kernel(f"scatter_add_owner_{T}_{I}", [_I32, None, None, None, _I32, _I32, _I32, _I32,
                                                 None, None])
    nn = numel(it_shape)
    launch_1d(dev, k, nn, nn, buf(s), buf(idx), buf(source), s._shape[d], K, idx_strides[d],
              src_strides[d], error_flag(dev, op), m)


def _atomic_ok(s):
    if s.dtype in (dtypes.int32, dtypes.float32):
        return True
    if s.dtype in (dtypes.int64, dtypes.float64):
        return "cl_khr_int64_base_atomics" in s._storage.device.extensions
    return False

def masked_fill_into(out, input, mask, v, op):
    """out = input where not mask, else the one-element tensor ``v`` (input and mask broadcast
    to out's shape)."""
    shape = out._shape
    n = out.numel()
    dev = out._storage.device
    mshape = tuple(mask._shape)
    while mshape and mshape[0] == 1:
        mshape = mshape[1:]
    if (out.is_contiguous() and input._shape == shape and input.is_contiguous()
            and mask.is_contiguous() and mshape == tuple(shape[len(shape) - len(mshape):])):
        # the common case (attention's causal mask): one index per element, no strided offsets
        k = index_program(dev).kernel(f"masked_fill_tail_{out.dtype.cl}", [
            _I32, None, _I32, None, _I32, None, _I32, _I32, None, _I32])
        launch_1d(dev, k, n, n, buf(out), out._offset, buf(input), input._offset, buf(mask),
                  mask._offset, max(mask.numel(), 1), buf(v), v._offset)
        return out
    m = strided_meta(op, shape, [
        (out._offset, out._stride),
        (input._offset, broadcast_strides(shape, input._shape, input._stride)),
        (mask._offset, broadcast_strides(shape, mask._shape, mask._stride)),
        (v._offset, [0] * len(shape))])
    k = index_program(dev).kernel(f"masked_fill_{out.dtype.cl}", [_I32, None, None, None, None,
                                                                  None])
    launch_1d(dev, k, n, n, buf(out), buf(input), buf(mask), buf(v), m)
    return out


def one_hot_into(out, tensor, num_classes):
    """out (int64, tensor's shape + (num_classes,)) = 1 at each index, else 0; an index outside
    [0, num_classes) gives an all-zero row."""
    n = out.numel()
    dev = out._storage.device
    m = strided_meta("one_hot", tensor._shape or (1,),
                     [(tensor._offset, tensor._stride or (0,))])
    k = index_program(dev).kernel(f"one_hot_{tensor.dtype.cl}", [_I32, None, None, _I32, None])
    launch_1d(dev, k, n, n, buf(out), buf(tensor), num_classes, m)
    return out
