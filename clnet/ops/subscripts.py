"""Subscripts beyond views: advanced (integer-array and boolean-mask) ``__getitem__``, every form
of ``__setitem__``, and ``nonzero`` (the stream compaction that boolean masks reduce to).
Launches: clnet/kernels/index.py (the take/put/offset launches stay here, beside the index
planning they serve); kernels: cl_kernels/index.cl.

PyTorch's rules, which differ from numpy's in one place: integer indices are applied first as
plain selections, so ``x[0, :, [0, 1]]`` has shape (3, 2, ...) in PyTorch (numpy puts the array
dimension first). The remaining index arrays broadcast together; their result dimensions replace
the indexed dimensions when those are adjacent in the view, and go first otherwise.

Autograd: ``t[idx]`` records IndexBackward0, whose backward accumulates the incoming gradient
into zeros of t's shape (repeated indices add, like index_put_ with accumulate=True) through
``index_add_``, itself differentiable, so double backward works. ``t[idx] = v`` on a tensor that
requires grad (or with a value that does) records CopySlices on ``t`` itself, like PyTorch: the
old value of ``t`` gets the gradient with the assigned region zeroed, the value gets the
gradient at the assigned positions summed down to its shape. Boolean masks on the device are
turned into coordinates once in the forward (the only read-back), and the backward reuses them.

Index bounds: indices that come from host data (lists, numpy arrays, Python bools) are checked on
the host and raise ``IndexError`` like PyTorch. Indices that live on the device are not read back
(that would stall the queue): the kernels turn an out-of-range device index into offset -1, so a
read gives 0 and a write is skipped, and nothing outside the tensor is ever touched.
"""
import numbers
import warnings

import numpy as np

from .. import dtypes, graph
from ..backend.device_errors import error_flag
from ..graph import no_grad_recording
from ..kernels.index import index_program
from ..kernels.index import nonzero as nonzero_launch
from ..kernels.layout import (broadcast_shapes, broadcast_strides, buf, check_index_range,
                              launch_1d, numel, same_device, strided_meta)
from ..tensor import Tensor, contiguous_strides
from . import views
from .copy import cast, clone, copy_into, fill_into, from_numpy_to
from .creation import arange, ones, zeros
from .index import index_add_
from .pointwise import where
from .views import basic_index, getitem, reduce_sum_to_shape

__all__ = ["nonzero", "argwhere"]

_I32 = np.int32
_NZ_PER = 16          # elements per work-item in the compaction kernels (NZ_PER in index.cl)
_INDEX_DTYPES = (dtypes.int32, dtypes.int64)


def index_tensors(idx):
    """The tensors inside a (normalised) index, for version checks of a recorded node."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return tuple(x for x in items if isinstance(x, Tensor))


def nonzero(input, *, as_tuple=False):
    """Coordinates of the nonzero elements: (count, ndim) int64, or a tuple of ndim 1-D tensors.

    Waits for the device (the number of nonzeros sets the output size)."""
    return nonzero_launch(input, as_tuple)


def argwhere(input):
    return nonzero(input)


# ---------------------------------------------------------------------------------------- parsing

def _index_error_type(x):
    return IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                      f"Variables are valid indices (got {type(x).__name__})")


def _host_array(x):
    """A list / numpy index as a numpy int64 or bool array (an empty list is an int index)."""
    a = np.asarray(x)
    if a.size == 0 and a.dtype.kind not in "b":
        a = a.astype(np.int64)
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype == object:
        raise IndexError(f"index lists must be rectangular and hold ints or bools, got {x!r}")
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors "
                     f"(got an array of {a.dtype})")


def sequence_index(idx):
    """A list subscript as PyTorch reads it: ``x[[0, 2]]`` is one index array, but a list (of
    fewer than 32 items) holding a slice, None, Ellipsis, a tensor or a sequence is a tuple of
    indices, with PyTorch's deprecation warning (``x[[[0, 1], [2, 3]]]`` is ``x[[0, 1], [2, 3]]``;
    numpy's old rule, still PyTorch 2.13's)."""
    if len(idx) >= 32:
        return idx
    for x in idx:
        if x is None or x is Ellipsis or isinstance(x, (slice, Tensor, list, tuple, range,
                                                        np.ndarray)):
            warnings.warn(
                "Using a non-tuple sequence for multidimensional indexing is deprecated and will "
                "be changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 "
                "this will be interpreted as tensor index, x[torch.tensor(seq)], which will "
                "result either in an error or a different result", UserWarning, stacklevel=3)
            return tuple(idx)
    return idx


def _classify(x):
    """(kind, value) with kind one of none/ellipsis/slice/int/bool/index/mask."""
    if x is None:
        return "none", None
    if x is Ellipsis:
        return "ellipsis", None
    if isinstance(x, slice):
        return "slice", x
    if isinstance(x, (bool, np.bool_)):
        return "bool", bool(x)
    if isinstance(x, (numbers.Integral, np.integer)):
        return "int", int(x)
    if isinstance(x, Tensor):
        if x.dtype is dtypes.bool_:
            return "mask", x
        if x.dtype in _INDEX_DTYPES:
            return "index", x
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors "
                         f"(got {x.dtype})")
    if isinstance(x, (list, tuple, range, np.ndarray)):
        a = _host_array(x)
        return ("mask" if a.dtype.kind == "b" else "index"), a
    raise _index_error_type(x)


class _Plan:
    """A view of the indexed tensor plus the index arrays applied to some of its dimensions."""

    def __init__(self):
        self.shape, self.stride, self.offset = [], [], 0
        self.adv = []          # (view dim, index array (np.ndarray or Tensor), dim size, stride)
        self.norm = []         # the index with ellipsis expanded and device masks as coordinates


def _plan(t, idx, op):
    items = [_classify(x) for x in (idx if isinstance(idx, tuple) else (idx,))]
    if sum(1 for k, _ in items if k == "ellipsis") > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 if k in ("int", "slice", "index") else
                   (v.ndim if k == "mask" else 0) for k, v in items)
    if consumed > t.dim():
        raise IndexError(f"too many indices for tensor of dimension {t.dim()} "
                         f"(shape {list(t._shape)}, {consumed} indices)")
    expanded = []
    for k, v in items:
        if k == "ellipsis":
            expanded.extend([("slice", slice(None))] * (t.dim() - consumed))
        else:
            expanded.append((k, v))
    p = _Plan()
    p.offset = t._offset
    d = 0
    for k, v in expanded:
        if k == "mask" and isinstance(v, Tensor) and v.dim():
            p.norm.extend(_plan_mask(t, p, v, d, op))
            d += v.ndim
            continue
        p.norm.append(v if k not in ("none", "ellipsis") else None)
        if k == "none":
            p.shape.append(1)
            p.stride.append(0)
        elif k == "bool":
            p.adv.append((len(p.shape), np.zeros(1 if v else 0, dtype=np.int64), 1, 0))
            p.shape.append(1)
            p.stride.append(0)
        elif k == "int":
            size = t._shape[d]
            if v < -size or v >= size:
                raise IndexError(f"index {v} is out of bounds for dimension {d} with size {size}")
            p.offset += (v % size) * t._stride[d]
            d += 1
        elif k == "slice":
            step = 1 if v.step is None else int(v.step)
            if step <= 0:
                raise ValueError("step must be greater than zero (negative steps are not "
                                 "supported, as in PyTorch; use flip)")
            start, stop, step = slice(v.start, v.stop, step).indices(t._shape[d])
            n = max(0, -(-(stop - start) // step))
            p.shape.append(n)
            p.stride.append(t._stride[d] * step)
            p.offset += start * t._stride[d] if n else 0
            d += 1
        elif k == "index":
            if isinstance(v, Tensor):
                same_device(op, t, v)
            else:
                size = t._shape[d]
                bad = v[(v < -size) | (v >= size)]
                if bad.size:
                    raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension "
                                     f"{d} with size {size}")
            p.adv.append((len(p.shape), v, t._shape[d], t._stride[d]))
            p.shape.append(t._shape[d])
            p.stride.append(t._stride[d])
            d += 1
        else:
            _plan_mask(t, p, v, d, op)
            d += v.ndim
    p.shape.extend(t._shape[d:])
    p.stride.extend(t._stride[d:])
    return p


def _plan_mask(t, p, mask, d, op):
    """A boolean mask over dims d..d+mask.ndim becomes one index array per dim (its nonzeros);
    returns those arrays."""
    k = mask.ndim
    for j in range(k):
        if mask.shape[j] != t._shape[d + j]:
            raise IndexError(f"The shape of the mask {list(mask.shape)} at index {j} does not match "
                             f"the shape of the indexed tensor {list(t._shape)} at index {d + j}")
    if isinstance(mask, Tensor):
        same_device(op, t, mask)
        if k == 0:   # a 0-d mask adds a dimension of size 1 (True) or 0 (False)
            coords = nonzero(mask.reshape(1), as_tuple=True)
            p.adv.append((len(p.shape), coords[0], 1, 0))
            p.shape.append(1)
            p.stride.append(0)
            return
        coords = nonzero(mask, as_tuple=True)
    else:
        if k == 0:
            p.adv.append((len(p.shape), np.zeros(1 if mask else 0, dtype=np.int64), 1, 0))
            p.shape.append(1)
            p.stride.append(0)
            return
        coords = np.nonzero(mask)
    for j in range(k):
        p.adv.append((len(p.shape), coords[j], t._shape[d + j], t._stride[d + j]))
        p.shape.append(t._shape[d + j])
        p.stride.append(t._stride[d + j])
    return coords


def _index_shape(p):
    shapes = [tuple(a.shape) for _, a, _, _ in p.adv]
    try:
        return broadcast_shapes("index", *shapes)
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with "
                         f"shapes {', '.join(str(list(s)) for s in shapes)}") from None


def _layout(p, bshape):
    """Result shape, and per result dim: (offsets stride, source stride)."""
    dims = [pos for pos, _, _, _ in p.adv]
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    rest = [i for i in range(len(p.shape)) if i not in dims]
    b_strides = contiguous_strides(bshape)
    before = [i for i in rest if i < dims[0]] if adjacent else []
    after = [i for i in rest if i not in before]
    shape = [p.shape[i] for i in before] + list(bshape) + [p.shape[i] for i in after]
    off_st = [0] * len(before) + list(b_strides) + [0] * len(after)
    src_st = ([p.stride[i] for i in before] + [0] * len(bshape) + [p.stride[i] for i in after])
    return tuple(shape), off_st, src_st


def _offsets(t, p, bshape):
    """int32 tensor of shape bshape: the element offset (from p.offset) each index tuple selects,
    -1 where a device index is out of range. Host arrays are combined on the host, one upload."""
    dev = t._storage.device
    host_part = None
    for _, a, size, stride in p.adv:
        if isinstance(a, np.ndarray):
            term = np.where(a < 0, a + size, a) * stride
            host_part = term if host_part is None else host_part + term
    offs = None
    if host_part is not None:
        offs = from_numpy_to(np.broadcast_to(host_part, bshape).astype(np.int32), dev,
                             dtypes.int32)
    n = numel(bshape)
    if n == 0:
        return offs if offs is not None else Tensor._empty(bshape, dtypes.int32, dev)
    if offs is None:
        offs = Tensor._empty(bshape, dtypes.int32, dev)
        init = 1
    else:
        init = 0
    prg = index_program(dev)
    b_strides = contiguous_strides(bshape)
    for _, a, size, stride in p.adv:
        if isinstance(a, np.ndarray):
            continue
        m = strided_meta("index", bshape, [(0, b_strides),
                                           (a._offset, broadcast_strides(bshape, a._shape,
                                                                         a._stride))])
        k = prg.kernel(f"adv_offset_{a.dtype.cl}", [_I32, None, None, _I32, _I32, _I32, None,
                                                     None])
        launch_1d(dev, k, n, n, buf(offs), buf(a), size, stride, init,
                  error_flag(dev, "index"), m)
        init = 0
    return offs


# ---------------------------------------------------------------------------------------- getitem

def advanced_getitem(t, idx):
    """``t[idx]`` where idx holds a tensor, list, numpy array or bool: always a new tensor."""
    if not (graph.recording(t) and t.dtype.is_floating_point):
        return _take(t, _plan(t, idx, "index"))
    with no_grad_recording():
        p = _plan(t, idx, "index")
        out = _take(t, p)
    norm = tuple(p.norm)
    shape = t._shape
    graph.record("IndexBackward0", out, (t,),
                 lambda g: (index_put_accumulate_zeros(shape, norm, g),),
                 saved=index_tensors(norm))
    return out


def _take(t, p):
    check_index_range("index", t)
    bshape = _index_shape(p)
    shape, off_st, src_st = _layout(p, bshape)
    dev = t._storage.device
    out = Tensor._empty(shape, t.dtype, dev)
    n = out.numel()
    offs = _offsets(t, p, bshape)
    if n == 0:
        return out
    m = strided_meta("index", shape, [(0, contiguous_strides(shape)), (0, off_st),
                                      (p.offset, src_st)])
    k = index_program(dev).kernel(f"take_{t.dtype.cl}", [_I32, None, None, None, None])
    launch_1d(dev, k, n, n, buf(out), buf(offs), buf(t), m)
    return out


def index_put_accumulate_zeros(shape, idx, g):
    """Zeros of ``shape`` with ``g`` added at the positions ``zeros[idx]`` selects (repeated
    positions add up): the backward of advanced indexing, differentiable in ``g``.

    The flat position of every selected element is found by indexing an arange the same way
    (one take kernel), then ``index_add_`` accumulates ``g`` there (atomics, or the deterministic
    kernel). Positions are shifted by one so that an out-of-range device index, which a take
    turns into 0, lands in a discarded slot instead of on element 0."""
    n = numel(shape)
    dev = g._storage.device
    if n == 0:
        return zeros(shape, dtype=g.dtype, device=dev)
    if _rows_only(idx, len(shape)):
        # t[rows] (an embedding lookup): accumulate whole rows, so that the deterministic
        # scatter-add kernel also stays cheap (one pass per output row, not per element)
        rest = tuple(shape[1:])
        with no_grad_recording():
            positions = arange(1, shape[0] + 1, dtype=dtypes.int32, device=dev)
            rows = _take(positions, _plan(positions, idx[:1], "index")).reshape(-1)
        z = zeros((shape[0] + 1,) + rest, dtype=g.dtype, device=dev)
        index_add_(z, 0, rows, g.reshape((-1,) + rest))
        return z.narrow(0, 1, shape[0])
    with no_grad_recording():
        positions = arange(1, n + 1, dtype=dtypes.int32, device=dev).reshape(shape)
        flat_pos = _take(positions, _plan(positions, idx, "index")).reshape(-1)
    flat = zeros((n + 1,), dtype=g.dtype, device=dev)
    index_add_(flat, 0, flat_pos, g.reshape(-1))
    return flat.narrow(0, 1, n).reshape(shape)


def _rows_only(idx, ndim):
    """True for a normalised index that is one integer array on dim 0 and full slices after."""
    if not idx or not ndim or len(idx) > ndim:
        return False
    first = idx[0]
    if isinstance(first, np.ndarray):
        ok = first.dtype.kind in "iu"
    else:
        ok = isinstance(first, Tensor) and first.dtype in _INDEX_DTYPES
    return ok and all(isinstance(x, slice) and x == slice(None) for x in idx[1:])


# ---------------------------------------------------------------------------------------- setitem

def _value_tensor(value, t, op):
    """``value`` as a tensor of t's dtype on t's device that may be read while t is written."""
    if isinstance(value, Tensor):
        same_device(op, t, value)
        if value._storage is t._storage:
            value = clone(value)   # reading and writing the same storage in one kernel would race
        return cast(value, t.dtype)
    if isinstance(value, (list, tuple, np.ndarray)):
        return from_numpy_to(np.asarray(value), t._storage.device, t.dtype)
    raise TypeError(f"{op}: can't assign a {type(value).__name__} to a {t.dtype} tensor")


def _fit_value(value, shape, op):
    """Drop leading size-1 dims the target lacks (PyTorch allows them), then check broadcasting."""
    v = value
    while v.dim() > len(shape) and v._shape[0] == 1:
        v = v.select(0, 0)
    try:
        fits = v.dim() <= len(shape) and broadcast_shapes(op, shape, v._shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: shape mismatch: value tensor of shape {list(value._shape)} "
                         f"cannot be broadcast to indexing result of shape {list(shape)}")
    return v


def _is_scalar(value):
    return isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(
        value, np.ndarray)


def setitem(t, idx, value):
    """``t[idx] = value``: basic indices write through a view, advanced ones scatter."""
    if isinstance(idx, list):
        idx = sequence_index(idx)
    value_grad = isinstance(value, Tensor) and value.requires_grad and \
        value.dtype.is_floating_point
    if not (graph.mode.grad_enabled and t.dtype.is_floating_point and
            (graph.tracks(t) or value_grad)):
        _setitem(t, idx, value)
        return
    # CopySlices: t's new node takes (t as it was, value)
    graph.check_inplace(t)
    edges = (graph.edge(t), graph.edge(value) if value_grad else (None, 0))
    target_grad = t.requires_grad       # after edge(): a stale view's history is rebuilt there
    with no_grad_recording():
        norm, fitted_shape = _setitem(t, idx, value)
    shape = t._shape
    value_shape, value_dtype = (value._shape, value.dtype) if value_grad else (None, None)

    def backward(g):
        g_target = g_value = None
        if target_grad:
            with no_grad_recording():
                keep = ones(shape, dtype=dtypes.bool_, device=g._storage.device)
                _setitem(keep, norm, False)
            g_target = where(keep, g, 0.0)
        if value_grad:
            g_value = reduce_sum_to_shape(getitem(g, norm), fitted_shape).reshape(value_shape)
            g_value = cast(g_value, value_dtype)
        return g_target, g_value
    graph.rebase_history(t, "CopySlices", edges, backward, saved=index_tensors(norm))


def _setitem(t, idx, value):
    """The write of ``t[idx] = value``; returns (the index normalised for re-use, the shape the
    value was broadcast from)."""
    target = basic_index(t, idx)
    if target is not None:
        op = "setitem"
        fitted = ()
        if _is_scalar(value):
            fill_into(target, value)
        else:
            v = _fit_value(_value_tensor(value, t, op), target._shape, op)
            fitted = v._shape
            copy_into(target, v, op)
        t._bump_version()
        return idx, fitted
    op = "index_put_"
    check_index_range(op, t)
    p = _plan(t, idx, op)
    bshape = _index_shape(p)
    shape, off_st, dst_st = _layout(p, bshape)
    dev = t._storage.device
    if _is_scalar(value):
        v = from_numpy_to(np.asarray(value), dev, t.dtype)
    else:
        v = _value_tensor(value, t, op)
    v = _fit_value(v, shape, op)
    n = numel(shape)
    offs = _offsets(t, p, bshape)
    if n:
        m = strided_meta(op, shape, [(p.offset, dst_st), (0, off_st),
                                     (v._offset, broadcast_strides(shape, v._shape, v._stride))])
        k = index_program(dev).kernel(f"put_{t.dtype.cl}", [_I32, None, None, None, None])
        launch_1d(dev, k, n, n, buf(t), buf(offs), buf(v), m)
    t._bump_version()
    return tuple(p.norm), v._shape


def _getitem_beyond_views(t, idx):
    """``t[idx]`` for what views.getitem leaves: a list (which may read as a tuple of basic
    indices, torch's rule) or an advanced index."""
    if isinstance(idx, list):
        idx = sequence_index(idx)
        v = basic_index(t, idx)
        if v is not None:
            return v
    return advanced_getitem(t, idx)


views.beyond_views = _getitem_beyond_views
