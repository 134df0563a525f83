"""Joining and rearranging: cat/concat/concatenate, stack, hstack, vstack, dstack, repeat, tile,
flip/fliplr/flipud, roll, repeat_interleave. All are copies between layouts, so they are built
from views plus ``copy_into`` (cl_kernels/copy.cl) and need no kernels of their own.

Autograd: each op records the adjoint rearrangement, written with differentiable ops (narrow
views for cat, a reshape-and-sum for repeat / repeat_interleave, the opposite flip or roll), so
gradients of gradients work; stack/hstack/vstack/dstack/tile are views plus cat/repeat.
"""
import numbers

import numpy as np

from .. import dtypes, graph
from ..tensor import Tensor
from ..kernels.layout import numel, same_device
from .copy import cast, clone, contiguous, copy_into, from_numpy_to
from .index import index_select
from .views import _view, reduce_sum_to_shape

__all__ = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "tile",
           "flip", "fliplr", "flipud", "roll", "repeat_interleave"]


def _tensor_list(op, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): expected a list or tuple of Tensors, got "
                        f"{type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    same_device(op, *tensors)
    return tensors


def cat(tensors, dim=0, *, out=None):
    """Join tensors along an existing dim. dtypes promote as in PyTorch; 1-D tensors of shape
    (0,) are skipped (PyTorch's legacy rule)."""
    if out is not None:
        raise TypeError("cat(): out= is not supported; use the returned tensor")
    tensors = _tensor_list("cat", tensors)
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = dtypes.promote_types(dt, t.dtype)
    parts = [(i, t) for i, t in enumerate(tensors) if t._shape != (0,)]
    if not parts:
        return Tensor._empty((0,), dt, tensors[0]._storage.device)
    i0, ref = parts[0]
    if ref.dim() == 0:
        raise ValueError(f"cat(): zero-dimensional tensor (at position {i0}) cannot be "
                         "concatenated")
    d = ref._wrap_dim(dim)
    size = 0
    for i, t in parts:
        if t.dim() != ref.dim():
            raise ValueError(f"cat(): tensors must have same number of dimensions: got "
                             f"{ref.dim()} and {t.dim()} (shapes {list(ref._shape)} at position "
                             f"{i0} and {list(t._shape)} at position {i})")
        for k in range(ref.dim()):
            if k != d and t._shape[k] != ref._shape[k]:
                raise ValueError(f"cat(): sizes of tensors must match except in dimension {d}. "
                                 f"Expected size {ref._shape[k]} but got size {t._shape[k]} for "
                                 f"tensor number {i} in the list (shapes {list(ref._shape)} and "
                                 f"{list(t._shape)})")
        size += t._shape[d]
    shape = ref._shape[:d] + (size,) + ref._shape[d + 1:]
    out = Tensor._empty(shape, dt, ref._storage.device)
    start = 0
    for _, t in parts:
        n = t._shape[d]
        if n:
            copy_into(out.narrow(d, start, n), t, "cat")
        start += n
    if graph.recording(*tensors) and dt.is_floating_point:
        _record_cat(out, tensors, d)
    return out


def _record_cat(out, tensors, d):
    """Each input's gradient is its slice of g (cast back to its dtype); skipped (0,) inputs
    get an empty one."""
    spans = []
    start = 0
    for t in tensors:
        if t._shape == (0,):
            spans.append((None, 0, t.dtype))
            continue
        spans.append((start, t._shape[d], t.dtype))
        start += t._shape[d]

    def backward(g):
        return tuple(Tensor._empty((0,), dt, g._storage.device) if begin is None
                     else cast(g.narrow(d, begin, n), dt) for begin, n, dt in spans)
    graph.record("CatBackward0", out, tuple(tensors), backward)


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    """Join equally shaped tensors along a new dim."""
    if out is not None:
        raise TypeError("stack(): out= is not supported; use the returned tensor")
    tensors = _tensor_list("stack", tensors)
    ref = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t._shape != ref._shape:
            raise ValueError(f"stack expects each tensor to be equal size, but got "
                             f"{list(ref._shape)} at entry 0 and {list(t._shape)} at entry {i}")
    d = ref._wrap_dim(dim, ref.dim() + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def _atleast(t, n):
    """numpy's atleast_{n}d: 0-d -> all ones, 1-d (k,) -> (1, k[, 1]), 2-d -> (a, b, 1)."""
    if t.dim() >= n:
        return t
    if t.dim() == 0:
        return t.reshape((1,) * n)
    if t.dim() == 1:
        return t.reshape((1, t._shape[0]) + (1,) * (n - 2))
    return t.unsqueeze(-1)


def hstack(tensors):
    tensors = [_atleast(t, 1) for t in _tensor_list("hstack", tensors)]
    return cat(tensors, 0 if tensors[0].dim() == 1 else 1)


def vstack(tensors):
    return cat([_atleast(t, 2) for t in _tensor_list("vstack", tensors)], 0)


def dstack(tensors):
    return cat([_atleast(t, 3) for t in _tensor_list("dstack", tensors)], 2)


def _sizes_arg(op, sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    out = []
    for s in sizes:
        if not isinstance(s, (numbers.Integral, np.integer)) or isinstance(s, bool) or s < 0:
            raise ValueError(f"{op}(): repeats must be non-negative ints, got {list(sizes)}")
        out.append(int(s))
    return tuple(out)


def repeat(self, *sizes):
    """Tile self ``sizes`` times along each dim (sizes may add leading dims)."""
    sizes = _sizes_arg("repeat", sizes)
    if len(sizes) < self.dim():
        raise ValueError(f"repeat(): number of repeat dims ({len(sizes)}) can not be smaller than "
                         f"number of dimensions of tensor ({self.dim()}, shape "
                         f"{list(self._shape)})")
    src_shape = (1,) * (len(sizes) - self.dim()) + tuple(self._shape)
    x = self.detach().reshape(src_shape)   # the op records its own node below
    # a view with a stride-0 "repeat" dim before each dim, expanded and then copied out
    view_shape, view_stride = [], []
    for r, s, st in zip(sizes, x._shape, x._stride):
        view_shape += [r, s]
        view_stride += [0, st]
    out_shape = tuple(r * s for r, s in zip(sizes, src_shape))
    out = Tensor._empty(out_shape, self.dtype, self._storage.device)
    if numel(out_shape):
        copy_into(out.view(tuple(view_shape)), _view(x, view_shape, view_stride, x._offset),
                  "repeat")
    if graph.recording(self) and self.dtype.is_floating_point:
        in_shape = self._shape

        def backward(g):   # (r0, s0, r1, s1, ...): sum over the repeats
            kept = tuple(1 if i % 2 == 0 else n for i, n in enumerate(view_shape))
            summed = reduce_sum_to_shape(g.reshape(tuple(view_shape)), kept)
            return (summed.reshape(in_shape),)
        graph.record("RepeatBackward0", out, (self,), backward)
    return out


def tile(input, dims):
    dims = _sizes_arg("tile", (dims,) if isinstance(dims, int) else tuple(dims))
    dims = (1,) * (input.dim() - len(dims)) + dims
    return repeat(input, dims)


def flip(input, dims):
    """A copy with the order of elements reversed along ``dims``."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    ds = [input._wrap_dim(d) for d in dims]
    if len(set(ds)) != len(ds):
        raise ValueError(f"flip(): dims {list(dims)} has a repeated dim")
    stride = list(input._stride)
    offset = input._offset
    for d in ds:
        if input._shape[d] > 1:
            offset += (input._shape[d] - 1) * stride[d]
            stride[d] = -stride[d]
    out = Tensor._empty(input._shape, input.dtype, input._storage.device)
    # a negative-stride view is private to this copy (PyTorch has no negative strides); it is
    # made from a detached input so that it never records a node with negative strides
    copy_into(out, _view(input.detach(), input._shape, stride, offset), "flip")
    if graph.recording(input) and input.dtype.is_floating_point:
        graph.record("FlipBackward0", out, (input,), lambda g: (flip(g, ds),))
    return out


def fliplr(input):
    if input.dim() < 2:
        raise ValueError(f"fliplr(): input must be >= 2-d, got shape {list(input._shape)}")
    return flip(input, 1)


def flipud(input):
    if input.dim() < 1:
        raise ValueError("flipud(): input must be >= 1-d, got a 0-d tensor")
    return flip(input, 0)


def roll(input, shifts, dims=None):
    """Rotate elements along dims (the flattened tensor when dims is None)."""
    if dims is None:
        if not isinstance(shifts, int) and len(shifts) != 1:
            raise ValueError(f"roll(): with dims=None shifts must be one int, got {shifts}")
        s = shifts if isinstance(shifts, int) else shifts[0]
        return roll(contiguous(input).reshape(-1), s, 0).reshape(input._shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll(): shifts and dims must align, got shifts {list(shifts)} and dims "
                         f"{list(dims)}")
    if not dims:
        return clone(input)
    out = input.detach()
    wrapped = []
    for s, d in zip(shifts, dims):
        d = input._wrap_dim(d)
        wrapped.append(d)
        n = input._shape[d]
        src = out
        out = Tensor._empty(input._shape, input.dtype, input._storage.device)
        s = s % n if n else 0
        if out.numel() == 0:
            continue
        if s:
            copy_into(out.narrow(d, 0, s), src.narrow(d, n - s, s), "roll")
        copy_into(out.narrow(d, s, n - s), src.narrow(d, 0, n - s), "roll")
    if graph.recording(input) and input.dtype.is_floating_point:
        back = tuple(-s for s in shifts)
        graph.record("RollBackward0", out, (input,), lambda g: (roll(g, back, tuple(wrapped)),))
    return out


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times along dim (flattened when dim is None). A tensor of
    repeats is read back to the host: it sets the output size."""
    if repeats is None:   # repeat_interleave(repeats_tensor): arange(len) repeated
        reps = input.numpy().astype(np.int64)
        values = np.repeat(np.arange(reps.size), reps)
        return from_numpy_to(values, input._storage.device, dtypes.int64)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else x._wrap_dim(dim)
    if isinstance(repeats, Tensor) and repeats.numel() == 1:
        repeats = int(repeats.item())
    if isinstance(repeats, (numbers.Integral, np.integer)):
        r = int(repeats)
        if r < 0:
            raise ValueError(f"repeat_interleave(): repeats must be non-negative, got {r}")
        # dim -> (dim, r) with a stride-0 repeat dim, copied out and merged
        shape = list(x._shape[:d + 1]) + [r] + list(x._shape[d + 1:])
        stride = list(x._stride[:d + 1]) + [0] + list(x._stride[d + 1:])
        out_shape = x._shape[:d] + (x._shape[d] * r,) + x._shape[d + 1:]
        out = Tensor._empty(out_shape, x.dtype, x._storage.device)
        if out.numel():
            copy_into(out.view(tuple(shape)), _view(x.detach(), shape, stride, x._offset),
                      "repeat_interleave")
        if graph.recording(x) and x.dtype.is_floating_point:
            kept, x_shape = tuple(1 if i == d + 1 else n for i, n in enumerate(shape)), x._shape
            graph.record("RepeatInterleaveBackward0", out, (x,),
                         lambda g: (reduce_sum_to_shape(g.reshape(tuple(shape)),
                                                        kept).reshape(x_shape),))
        return out
    reps = np.asarray(repeats.numpy() if isinstance(repeats, Tensor) else repeats).astype(np.int64)
    if reps.ndim != 1 or reps.size != x._shape[d] or (reps < 0).any():
        raise ValueError(f"repeat_interleave(): repeats must be non-negative and have the size "
                         f"of dimension {d} ({x._shape[d]}), got {reps.tolist()}")
    idx = from_numpy_to(np.repeat(np.arange(reps.size), reps), x._storage.device, dtypes.int64)
    return index_select(x, d, idx)
