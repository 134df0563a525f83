"""Indexing along a dimension: gather / scatter / scatter_add / index_select / index_add_ /
index_copy_ / index_fill_ / take_along_dim, masked_fill / masked_select, and one_hot.
Kernels: cl_kernels/index.cl. Advanced subscripts (``t[idx]``, ``t[idx] = v``) and ``nonzero``
live in ``subscripts.py``, above this file.

Index bounds. PyTorch raises for an out-of-range index. Checking a device index tensor on the host
would need a read-back, which would stall the queue on every gather, so clnet splits the check:
index data that came from the host (lists, numpy arrays) is validated on the host and raises
``IndexError``; index tensors on the device are used as they are, and the kernels guard every
access: an out-of-range index makes a gather produce 0 and a scatter skip the element, and records
the bad index in the device's error flag, which raises an IndexError at the next host read
(``.item()``, ``.numpy()``, ``synchronize()``; see backend/device_errors.py). Nothing is ever read
or written outside a tensor. (Shapes and dtypes are always checked, before launching.)

scatter_ / index_copy_ / index_fill_ write without races: each target is first claimed by the
last index element aiming at it (an int atomic_max), so repeated indices give PyTorch's CPU result.

scatter_add_ / index_add_: int32 and float32 use atomics (a compare-and-swap loop for float32, as
float atomics are not core OpenCL 1.2), int64 and float64 where the device reports
cl_khr_int64_base_atomics; bool, devices without that extension, and ``DETERMINISTIC_SCATTER_ADD``
use a deterministic kernel in which each output element sums its contributions in index order.

Autograd: every op here records a backward written with the ops of this file (gather <->
scatter_add, index_select <-> index_add, scatter -> gather), each of which records its own
backward in turn, so gradients of gradients work. The in-place forms record on the tensor they
change (rebase_history); the out-of-place forms are the in-place ones applied to a clone.
Index tensors and masks get no gradient.

The launches (program, gathers, scatters, masked fills, one-hot) are clnet/kernels/index.py.
"""
import numbers

import numpy as np

from .. import dtypes, graph
from ..errors import DeviceError
from ..graph import no_grad_recording
from ..kernels.index import gather_into, masked_fill_into, one_hot_into, scatter_into
from ..kernels.layout import broadcast_shapes, check_index_range, same_device
from ..tensor import Tensor
from .copy import cast, clone, from_numpy_to
from .creation import zeros
from .pointwise import sub, where
from .views import _embed, basic_index, getitem, reduce_sum_to_shape

__all__ = ["gather", "scatter", "scatter_add", "index_select", "index_add", "index_copy",
           "index_fill", "take_along_dim", "masked_fill", "masked_select"]

# Set to True to make scatter_add_ / index_add_ use the deterministic (atomic-free) kernel for
# every dtype: same result bits on every run, slower when many indices hit one row.
DETERMINISTIC_SCATTER_ADD = False

_I32 = np.int32
_INDEX_DTYPES = (dtypes.int32, dtypes.int64)


def _check_index_dtype(op, index):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): index must be a Tensor, got {type(index).__name__}")
    if index.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{op}(): expected an int64 or int32 index tensor, got {index.dtype}")


def _at_least_1d(t):
    return t.reshape(1) if t.dim() == 0 else t


def _scalar_value(op, value, dt, dev):
    """A Python number (or 0-d tensor) as a 1-element device tensor of dtype ``dt``."""
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise ValueError(f"{op} only supports a 0-dimensional value tensor, but got tensor "
                             f"with {value.dim()} dimension(s)")
        if value._storage.device is not dev:
            raise DeviceError(f"{op}: the value tensor is on {value._storage.device}, the "
                              f"tensor on {dev}")
        return cast(value, dt)
    if not isinstance(value, (numbers.Number, np.number, np.bool_)):
        raise TypeError(f"{op}: value must be a number or a 0-d tensor, got "
                        f"{type(value).__name__}")
    # A number is uploaded once per (value, dtype, device) and kept: the kernels only read it,
    # and an upload per call costs a host-to-device copy on every step (attention's
    # masked_fill(mask, -inf)), which a captured step could not repeat either.
    key = (type(value), value, dt, dev)
    held = _SCALARS.get(key)
    if held is None:
        held = from_numpy_to(np.asarray(value), dev, dt)
        if dev.capture is not None:
            # made inside a capture, it comes from the graph's private pool: the graph's alone
            return held
        if len(_SCALARS) >= 256:
            _SCALARS.clear()
        _SCALARS[key] = held
    return held


_SCALARS = {}   # (type, number, dtype, device) -> its read-only 1-element device tensor


# ---------------------------------------------------------------------------------------- autograd

def _needs_grad(t):
    return isinstance(t, Tensor) and t.requires_grad and t.dtype.is_floating_point


def _inplace(self, name, sources, write, backward, saved=()):
    """Run ``write()`` (an in-place change of ``self`` that reads ``sources``) and, when grad
    mode is on and self or a source requires grad, record it on ``self``. ``backward(g)``
    returns one gradient per edge: (self as it was, *sources)."""
    if not (graph.mode.grad_enabled and self.dtype.is_floating_point and
            (graph.tracks(self) or any(_needs_grad(x) for x in sources))):
        write()
        return self
    graph.check_inplace(self)
    edges = (graph.edge(self),) + tuple(graph.edge(x) if _needs_grad(x) else (None, 0)
                                        for x in sources)
    with no_grad_recording():
        write()
    graph.rebase_history(self, name, edges, backward, saved)
    return self


def _zeros(shape, like):
    return zeros(shape, dtype=like.dtype, device=like._storage.device)


def _pad_to(t, shape):
    """``t`` (a corner of ``shape``) embedded in zeros of ``shape``: gathered gradients have
    the index's shape, which may be smaller than the src they belong to."""
    if tuple(t._shape) == tuple(shape):
        return t
    corner = tuple(slice(0, n) for n in t._shape)
    return _embed(t, shape, lambda z: basic_index(z, corner))


def _sum_all(t):
    return reduce_sum_to_shape(t, ())


# ---------------------------------------------------------------------------------------- gather

def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` (for dim=0): the shape of ``index``."""
    _check_index_dtype("gather", index)
    same_device("gather", input, index)
    x, idx = _at_least_1d(input), _at_least_1d(index)
    d = x._wrap_dim(dim)
    if idx.dim() != x.dim():
        raise ValueError(f"gather(): index tensor must have the same number of dimensions as "
                         f"input tensor (index shape {list(index._shape)}, input shape "
                         f"{list(input._shape)})")
    for k in range(x.dim()):
        if k != d and idx._shape[k] > x._shape[k]:
            raise ValueError(f"gather(): size does not match at dimension {k}: expected index "
                             f"{list(index._shape)} to be no larger than input "
                             f"{list(input._shape)} apart from dimension {d}")
    out = Tensor._empty(index._shape, input.dtype, input._storage.device)
    with no_grad_recording():
        gather_into(x, d, idx, out.reshape(idx._shape), idx._stride, "gather")
    if graph.recording(input) and input.dtype.is_floating_point:
        shape = input._shape
        graph.record("GatherBackward0", out, (input,),
                     lambda g: (scatter_add_(_zeros(shape, g), d, index, g),), saved=(index,))
    return out


def take_along_dim(input, indices, dim=None):
    """gather with the non-indexed dimensions of input and indices broadcast together;
    dim=None indexes the flattened input."""
    _check_index_dtype("take_along_dim", indices)
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.dim() != indices.dim():
        raise ValueError(f"take_along_dim(): input and indices should have the same number of "
                         f"dimensions, but got {input.dim()} and {indices.dim()} (shapes "
                         f"{list(input._shape)} and {list(indices._shape)})")
    d = input._wrap_dim(dim)
    a = list(input._shape)
    b = list(indices._shape)
    a[d] = b[d] = 1
    common = list(broadcast_shapes("take_along_dim", tuple(a), tuple(b)))
    x_shape, i_shape = list(common), list(common)
    x_shape[d], i_shape[d] = input._shape[d], indices._shape[d]
    return gather(input.expand(x_shape), d, indices.expand(i_shape))


def index_select(input, dim, index):
    """input with dimension ``dim`` replaced by the entries ``index`` picks (1-D index)."""
    _check_index_dtype("index_select", index)
    same_device("index_select", input, index)
    if index.dim() > 1:
        raise ValueError(f"index_select(): index is supposed to be a vector, got shape "
                         f"{list(index._shape)}")
    if input.dim() == 0 and index.numel() != 1:
        raise ValueError(f"index_select(): index to a 0-d tensor can have only 1 value, got "
                         f"{index.numel()}")
    x = _at_least_1d(input)
    d = x._wrap_dim(dim)
    idx = _at_least_1d(index)
    shape = list(x._shape)
    shape[d] = idx._shape[0]
    out = Tensor._empty(shape if input.dim() else (), input.dtype, input._storage.device)
    idx_strides = [0] * len(shape)
    idx_strides[d] = idx._stride[0]
    with no_grad_recording():
        gather_into(x, d, idx, out.reshape(shape), idx_strides, "index_select")
    if graph.recording(input) and input.dtype.is_floating_point:
        in_shape = input._shape
        graph.record("IndexSelectBackward0", out, (input,),
                     lambda g: (index_add_(_zeros(in_shape, g), d, index, g),), saved=(index,))
    return out


# ---------------------------------------------------------------------------------------- scatter

def _check_scatter(op, self, d, index, src):
    if index.dim() != self.dim() or (src is not None and src.dim() != self.dim()):
        raise ValueError(f"{op}(): index tensor must have the same number of dimensions as self"
                         f"{' and src' if src is not None else ''} (self shape "
                         f"{list(self._shape)}, index shape {list(index._shape)}"
                         f"{', src shape ' + str(list(src._shape)) if src is not None else ''})")
    for k in range(self.dim()):
        too_big = (k != d and index._shape[k] > self._shape[k]) or (
            src is not None and index._shape[k] > src._shape[k])
        if too_big:
            raise ValueError(f"{op}(): expected index {list(index._shape)} to be no larger than "
                             f"self {list(self._shape)} apart from dimension {d}"
                             + (f" and to be no larger than src {list(src._shape)}"
                                if src is not None else ""))
    if src is not None and src.dtype is not self.dtype:
        raise TypeError(f"{op}(): expected self.dtype to be equal to src.dtype (got {self.dtype} "
                        f"and {src.dtype})")


def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
    """self[... index[i] ...] = src[i] (or value), in place. Where indices repeat, the last one
    in row-major order of index wins (as on PyTorch's CPU), every run."""
    if src is not None and value is not None:
        raise TypeError("scatter_(): pass either src (a tensor) or value (a number), not both")
    source = src if src is not None else value
    if source is None:
        raise TypeError("scatter_(): missing src (a tensor) or value (a number)")
    if reduce is not None:
        if reduce != "add":
            raise ValueError(f"scatter_(): reduce={reduce!r} is not supported; use 'add' or "
                             "scatter_add_")
        return scatter_add_(self, dim, index, source)
    op = "scatter_"
    _check_index_dtype(op, index)
    same_device(op, self, index)
    d = _at_least_1d(self)._wrap_dim(dim)
    src = source if isinstance(source, Tensor) else None
    self_grad = self.requires_grad

    def write():
        s, idx, value = _at_least_1d(self), _at_least_1d(index), source
        if src is not None:
            same_device(op, self, src)
            value = _at_least_1d(src)
            _check_scatter(op, s, d, idx, value)
            if value._storage is self._storage:
                value = clone(value)   # the kernel reads src while it writes self
            src_strides = list(value._stride)
        else:
            _check_scatter(op, s, d, idx, None)
            value = _scalar_value(op, value, self.dtype, self._storage.device)
            src_strides = [0] * s.dim()
        scatter_into("scatter", s, d, idx, value, src_strides, idx._shape)
        self._bump_version()

    def backward(g):
        return (scatter(g, d, index, value=0) if self_grad else None,
                _pad_to(gather(g, d, index), src._shape) if _needs_grad(src) else None)
    return _inplace(self, "ScatterBackward0", (src,), write, backward, (index,))


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    return scatter_(clone(input), dim, index, src, value, reduce=reduce)


def scatter_add_(self, dim, index, src):
    """self[... index[i] ...] += src[i], in place (every contribution is added)."""
    op = "scatter_add_"
    _check_index_dtype(op, index)
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): src must be a Tensor, got {type(src).__name__}")
    same_device(op, self, index, src)
    d = _at_least_1d(self)._wrap_dim(dim)
    self_grad = self.requires_grad

    def write():
        s, idx, source = _at_least_1d(self), _at_least_1d(index), _at_least_1d(src)
        _check_scatter(op, s, d, idx, source)
        if source._storage is self._storage:
            source = clone(source)
        scatter_into("add", s, d, idx, source, list(source._stride), idx._shape,
                     deterministic=DETERMINISTIC_SCATTER_ADD)
        self._bump_version()

    def backward(g):
        return (g if self_grad else None,
                _pad_to(gather(g, d, index), src._shape) if _needs_grad(src) else None)
    return _inplace(self, "ScatterAddBackward0", (src,), write, backward, (index,))


def scatter_add(input, dim, index, src):
    return scatter_add_(clone(input), dim, index, src)


# ---------------------------------------------------------------------------------------- index_*

def _index_along(op, self, dim, index, source):
    """Checks for index_add_/index_copy_/index_fill_; returns (self as >= 1-d, dim, index as 1-d,
    iteration shape, index strides over it, source viewed at that shape or None)."""
    _check_index_dtype(op, index)
    same_device(op, self, index)
    if index.dim() > 1:
        raise ValueError(f"{op}(): index should have dimension 1 or 0, got shape "
                         f"{list(index._shape)}")
    s = _at_least_1d(self)
    d = s._wrap_dim(dim)
    idx = _at_least_1d(index)
    shape = list(s._shape)
    shape[d] = idx._shape[0]
    idx_strides = [0] * len(shape)
    idx_strides[d] = idx._stride[0]
    if source is None:
        return s, d, idx, shape, idx_strides, None
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}(): source must be a Tensor, got {type(source).__name__}")
    same_device(op, self, source)
    if list(_at_least_1d(source)._shape) != shape:
        raise ValueError(f"{op}(): source shape {list(source._shape)} does not match self "
                         f"shape {list(self._shape)} with dimension {d} of size "
                         f"{idx._shape[0]} (the index length)")
    if source.dtype is not self.dtype:
        raise TypeError(f"{op}(): self ({self.dtype}) and source ({source.dtype}) must have the "
                        "same dtype")
    src = _at_least_1d(source)
    if src._storage is self._storage:
        src = clone(src)   # the kernel reads source while it writes self
    return s, d, idx, shape, idx_strides, src


def index_add_(self, dim, index, source, *, alpha=1):
    """self[..., index[i], ...] += source[..., i, ...] along ``dim`` (in place)."""
    op = "index_add_"
    if alpha != 1:
        raise ValueError(f"{op}(): only alpha=1 is supported (got {alpha}); scale source first")
    d = _at_least_1d(self)._wrap_dim(dim)
    self_grad = self.requires_grad

    def write():
        s, d, idx, shape, idx_strides, src = _index_along(op, self, dim, index, source)
        scatter_into("add", s, d, idx, src, list(src._stride), shape, idx_strides,
                     deterministic=DETERMINISTIC_SCATTER_ADD)
        self._bump_version()

    def backward(g):
        return (g if self_grad else None,
                index_select(g, d, index).reshape(source._shape) if _needs_grad(source)
                else None)
    return _inplace(self, "IndexAddBackward0", (source,), write, backward, (index,))


def index_add(input, dim, index, source, *, alpha=1):
    return index_add_(clone(input), dim, index, source, alpha=alpha)


def index_copy_(self, dim, index, source):
    """self[..., index[i], ...] = source[..., i, ...] along ``dim`` (in place)."""
    op = "index_copy_"
    d = _at_least_1d(self)._wrap_dim(dim)
    self_grad = self.requires_grad

    def write():
        s, d, idx, shape, idx_strides, src = _index_along(op, self, dim, index, source)
        scatter_into("scatter", s, d, idx, src, list(src._stride), shape, idx_strides)
        self._bump_version()

    def backward(g):
        return (index_fill(g, d, index, 0) if self_grad else None,
                index_select(g, d, index).reshape(source._shape) if _needs_grad(source)
                else None)
    return _inplace(self, "IndexCopyBackward0", (source,), write, backward, (index,))


def index_copy(input, dim, index, source):
    return index_copy_(clone(input), dim, index, source)


def index_fill_(self, dim, index, value):
    """self[..., index[i], ...] = value along ``dim`` (in place)."""
    op = "index_fill_"
    d = _at_least_1d(self)._wrap_dim(dim)
    self_grad = self.requires_grad
    value_t = value if isinstance(value, Tensor) else None

    def write():
        s, d, idx, shape, idx_strides, _ = _index_along(op, self, dim, index, None)
        v = _scalar_value(op, value, self.dtype, self._storage.device)
        scatter_into("scatter", s, d, idx, v, [0] * len(shape), shape, idx_strides)
        self._bump_version()

    def backward(g):
        kept = index_fill(g, d, index, 0)
        # the value's gradient: g summed over the filled positions (each counted once)
        return (kept if self_grad else None,
                cast(sub(_sum_all(g), _sum_all(kept)), value_t.dtype) if _needs_grad(value_t)
                else None)
    return _inplace(self, "IndexFillBackward0", (value_t,), write, backward, (index,))


def index_fill(input, dim, index, value):
    return index_fill_(clone(input), dim, index, value)


# ---------------------------------------------------------------------------------------- masks

def _check_mask(op, mask):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: mask must be a Tensor, got {type(mask).__name__}")
    if mask.dtype is not dtypes.bool_:
        raise TypeError(f"{op} only supports boolean masks, but got mask with dtype "
                        f"{mask.dtype}")


def _masked_fill_into(out, input, mask, value, op):
    _check_mask(op, mask)
    same_device(op, out, input, mask)
    v = _scalar_value(op, value, out.dtype, out._storage.device)
    n = out.numel()
    if n == 0:
        return out
    check_index_range(op, out, input, mask)
    masked_fill_into(out, input, mask, v, op)
    return out


def _masked_fill_backward(g, mask, input_shape, value_t):
    g_input = reduce_sum_to_shape(masked_fill(g, mask, 0), input_shape) \
        if input_shape is not None else None
    g_value = cast(_sum_all(where(mask, g, 0.0)), value_t.dtype) if _needs_grad(value_t) \
        else None
    return g_input, g_value


def masked_fill(input, mask, value):
    """input where mask is False, value where it is True (input and mask broadcast)."""
    _check_mask("masked_fill", mask)
    shape = broadcast_shapes("masked_fill", input._shape, mask._shape)
    out = Tensor._empty(shape, input.dtype, input._storage.device)
    value_t = value if isinstance(value, Tensor) else None
    if not (graph.recording(input, value_t) and input.dtype.is_floating_point):
        return _masked_fill_into(out, input, mask, value, "masked_fill")
    with no_grad_recording():
        _masked_fill_into(out, input, mask, value, "masked_fill")
    in_shape = input._shape if input.requires_grad else None

    def backward(g):
        g_input, g_value = _masked_fill_backward(g, mask, in_shape, value_t)
        return g_input, None, g_value
    graph.record("MaskedFillBackward0", out, (input, mask, value_t), backward, saved=(mask,))
    return out


def masked_fill_(self, mask, value):
    _check_mask("masked_fill_", mask)
    if broadcast_shapes("masked_fill_", self._shape, mask._shape) != tuple(self._shape):
        raise ValueError(f"masked_fill_: mask of shape {list(mask._shape)} cannot be broadcast "
                         f"to the shape {list(self._shape)} of the tensor filled in place")
    value_t = value if isinstance(value, Tensor) else None
    shape = self._shape if self.requires_grad else None

    def write():
        _masked_fill_into(self, self, mask, value, "masked_fill_")
        self._bump_version()
    return _inplace(self, "MaskedFillBackward0", (value_t,), write,
                    lambda g: _masked_fill_backward(g, mask, shape, value_t), (mask,))


def masked_select(input, mask):
    """The elements of input where mask is True, as a 1-D tensor (input and mask broadcast).
    Waits for the device: the number of True elements sets the output size."""
    _check_mask("masked_select", mask)
    same_device("masked_select", input, mask)
    shape = broadcast_shapes("masked_select", input._shape, mask._shape)
    x, m = input.expand(shape), mask.expand(shape)
    if not shape:
        x, m = x.reshape(1), m.reshape(1)
    return getitem(x, m).reshape(-1)


# ---------------------------------------------------------------------------------------- one_hot

def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index.

    num_classes=-1 infers it as max + 1, which reads the indices back (the result's shape depends
    on the data). With num_classes given nothing waits; an index outside [0, num_classes) on the
    device gives an all-zero row (see the module docstring on index bounds)."""
    _check_index_dtype("one_hot", tensor)
    dev = tensor._storage.device
    if num_classes == -1:
        if tensor.numel() == 0:
            raise ValueError("one_hot: can not infer the total number of classes from an empty "
                             "tensor; pass num_classes")
        host = tensor.numpy()
        if host.min() < 0:
            raise ValueError("one_hot: class values must be non-negative")
        num_classes = int(host.max()) + 1
    elif num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    out = Tensor._empty(tuple(tensor._shape) + (num_classes,), dtypes.int64, dev)
    n = out.numel()
    if n == 0:
        return out
    check_index_range("one_hot", out, tensor)
    one_hot_into(out, tensor, num_classes)
    return out
