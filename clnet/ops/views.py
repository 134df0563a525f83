"""Views: new shapes/strides/offsets over the same storage, never a copy (except ``reshape`` of a
layout no view can express, which copies like PyTorch's). Also ``reduce_sum_to_shape``, the
adjoint of ``expand`` (the gradient of every broadcast), so that the families above can sum a
broadcast gradient back without depending on the reductions. Subscripts (``t[idx]``) are in
subscripts.py, which combines the basic ones here with the advanced ones."""
import builtins

import numpy as np

from .. import graph
from ..kernels.copy import copy_into
from ..kernels.layout import numel
from ..kernels.reduce import reduce as reduce_launch
from ..tensor import Size, Tensor, contiguous_strides
from .copy import contiguous
from .creation import zeros

__all__ = ["reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "t", "transpose", "swapaxes",
           "swapdims", "permute", "movedim", "narrow", "chunk", "split", "unbind", "select",
           "broadcast_to", "as_strided"]


def _view(t, shape, stride, offset):
    v = Tensor._make(t._storage, tuple(shape), tuple(stride), offset, t.dtype)
    v._base = t._base if t._base is not None else t     # see clnet/ops/inplace_views.py
    # a view taken in no_grad mode never joins the graph, even after its base changes
    v._view_version = t._storage.version if graph.mode.grad_enabled else graph.NO_GRAD_VIEW
    return v


# ------------------------------------------------------------------ autograd of views
def _record(out, t, name, backward):
    if graph.recording(t):
        graph.record(name, out, (t,), backward)
    return out


def _reshape_back(out, t, name):
    shape = t._shape
    return _record(out, t, name, lambda g: (reshape(g, shape),))


def _embed(g, shape, apply_view):
    """The gradient of a view: zeros of the base's shape with ``g`` written where the view was
    (recorded so that its own gradient, the same view of the incoming gradient, flows)."""
    with_graph = graph.recording(g)
    prev = graph.set_grad_enabled_flag(False)
    try:
        z = zeros(shape, dtype=g.dtype, device=g.device)
        copy_into(apply_view(z), g, "view backward")
    finally:
        graph.set_grad_enabled_flag(prev)
    if with_graph:
        graph.record("ViewScatterBackward0", z, (g,), lambda gg: (apply_view(gg),))
    return z


def _slice_back(out, t, name, apply_view):
    shape = t._shape
    return _record(out, t, name, lambda g: (_embed(g, shape, apply_view),))


def _infer_shape(t, shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    shape = [int(s) for s in shape]
    n = t.numel()
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise ValueError(f"{op}: only one dimension can be inferred (-1), got shape {shape}")
    if neg:
        known = numel([s for s in shape if s != -1])
        if known == 0 or n % known:
            raise ValueError(f"{op}: shape {shape} is invalid for input of size {n}")
        shape[neg[0]] = n // known
    if any(s < 0 for s in shape) or numel(shape) != n:
        raise ValueError(f"{op}: shape {shape} is invalid for input of size {n} "
                         f"(input shape {list(t._shape)})")
    return tuple(shape)


def _view_strides(old_shape, old_stride, new_shape):
    """Strides for viewing (old_shape, old_stride) as new_shape, or None (PyTorch's computeStride)."""
    if numel(old_shape) == 0:
        return contiguous_strides(new_shape)
    new_stride = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_stride[-1] if old_stride else 1
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                             old_stride[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_stride[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = old_stride[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_stride)


def view(t, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, Size, int, np.integer)):
        raise TypeError(f"view(): expected a shape, got {shape[0]!r}")
    shape = _infer_shape(t, shape, "view")
    if not t._shape:
        strides = contiguous_strides(shape)
    else:
        strides = _view_strides(t._shape, t._stride, shape)
    if strides is None:
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (shape "
            f"{list(t._shape)}, stride {list(t._stride)} -> {list(shape)}): at least one dimension "
            "spans across two contiguous subspaces. Use .reshape(...) instead.")
    return _reshape_back(_view(t, shape, strides, t._offset), t, "ViewBackward0")


def reshape(t, *shape):
    shape = _infer_shape(t, shape, "reshape")
    if shape == t._shape:
        return _reshape_back(_view(t, shape, t._stride, t._offset), t, "ViewBackward0")
    strides = contiguous_strides(shape) if not t._shape else _view_strides(t._shape, t._stride, shape)
    if strides is not None:
        return _reshape_back(_view(t, shape, strides, t._offset), t, "ViewBackward0")
    c = contiguous(t)   # records its own (identity) backward
    return _reshape_back(_view(c, shape, contiguous_strides(shape), c._offset), c,
                         "UnsafeViewBackward0")


def view_as(t, other):
    return view(t, other._shape)


def reshape_as(t, other):
    return reshape(t, other._shape)


def flatten(t, start_dim=0, end_dim=-1):
    if not t._shape:
        return reshape(t, 1)
    s, e = t._wrap_dim(start_dim), t._wrap_dim(end_dim)
    if s > e:
        raise ValueError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim}")
    shape = t._shape[:s] + (numel(t._shape[s:e + 1]),) + t._shape[e + 1:]
    return reshape(t, shape)


def unflatten(t, dim, sizes):
    d = t._wrap_dim(dim)
    sizes = list(sizes)
    if -1 in sizes:
        known = numel([s for s in sizes if s != -1])
        sizes[sizes.index(-1)] = t._shape[d] // known if known else 0
    if numel(sizes) != t._shape[d]:
        raise ValueError(f"unflatten(): sizes {list(sizes)} don't multiply up to the size of "
                         f"dim {dim} ({t._shape[d]}) of input shape {list(t._shape)}")
    return view(t, t._shape[:d] + tuple(sizes) + t._shape[d + 1:])


def squeeze(t, dim=None):
    if dim is None:
        keep = [i for i, s in enumerate(t._shape) if s != 1]
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        drop = {t._wrap_dim(d) for d in dims} if t._shape else set()
        keep = [i for i, s in enumerate(t._shape) if not (i in drop and s == 1)]
    return _reshape_back(_view(t, [t._shape[i] for i in keep], [t._stride[i] for i in keep],
                               t._offset), t, "SqueezeBackward0")


def unsqueeze(t, dim):
    d = t._wrap_dim(dim, len(t._shape) + 1)
    shape = list(t._shape)
    stride = list(t._stride)
    new_stride = shape[d] * stride[d] if d < len(shape) else 1
    shape.insert(d, 1)
    stride.insert(d, new_stride)
    return _reshape_back(_view(t, shape, stride, t._offset), t, "UnsqueezeBackward0")


def transpose(t, dim0, dim1):
    if not t._shape:
        return t
    a, b = t._wrap_dim(dim0), t._wrap_dim(dim1)
    shape, stride = list(t._shape), list(t._stride)
    shape[a], shape[b] = shape[b], shape[a]
    stride[a], stride[b] = stride[b], stride[a]
    return _record(_view(t, shape, stride, t._offset), t, "TransposeBackward0",
                   lambda g: (transpose(g, a, b),))


swapaxes = swapdims = transpose


def t(x):
    if x.dim() > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, but got {x.dim()}D "
                         f"(shape {list(x._shape)}); use transpose(dim0, dim1) or mT")
    return transpose(x, 0, 1) if x.dim() == 2 else x


def permute(t, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != t.dim():
        raise ValueError(f"permute(): number of dims {len(dims)} doesn't match the input's "
                         f"{t.dim()} (shape {list(t._shape)})")
    d = [t._wrap_dim(x) for x in dims]
    if sorted(d) != list(range(t.dim())):
        raise ValueError(f"permute(): dims {list(dims)} are not a permutation of 0..{t.dim() - 1}")
    inverse = [0] * len(d)
    for i, x in enumerate(d):
        inverse[x] = i
    return _record(_view(t, [t._shape[i] for i in d], [t._stride[i] for i in d], t._offset), t,
                   "PermuteBackward0", lambda g: (permute(g, inverse),))


def movedim(t, source, destination):
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [t._wrap_dim(s) for s in src]
    dst = [t._wrap_dim(s) for s in dst]
    order = [None] * t.dim()
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(t.dim()) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return permute(t, order)


def expand(t, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, Size)):
        sizes = tuple(sizes[0])
    if len(sizes) < t.dim():
        raise ValueError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or "
                         f"equal to the number of dimensions in the tensor ({t.dim()})")
    lead = len(sizes) - t.dim()
    shape, stride = [], []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise ValueError("expand: -1 is not allowed in a leading, non-existing dimension")
            shape.append(s)
            stride.append(0)
            continue
        cur, st = t._shape[i - lead], t._stride[i - lead]
        if s == -1 or s == cur:
            shape.append(cur)
            stride.append(st)
        elif cur == 1:
            shape.append(s)
            stride.append(0)
        else:
            raise ValueError(f"expand: the expanded size of the tensor ({s}) must match the "
                             f"existing size ({cur}) at non-singleton dimension {i}. Target sizes: "
                             f"{list(sizes)}. Tensor sizes: {list(t._shape)}")
    in_shape = t._shape

    def backward(g):
        return (reduce_sum_to_shape(g, in_shape),)
    return _record(_view(t, shape, stride, t._offset), t, "ExpandBackward0", backward)


def reduce_sum_to_shape(t, shape):
    """Sum ``t`` down to ``shape`` (which broadcasts to t's shape): the gradient of a broadcast,
    and ``expand``'s backward (``expand`` is this one's).

    Leading extra dims are summed away and dims where ``shape`` has 1 are summed with keepdim.
    Returns ``t`` itself when the shapes already match."""
    shape = tuple(int(s) for s in shape)
    if tuple(t._shape) == shape:
        return t
    lead = t.dim() - len(shape)
    if lead < 0 or not builtins.all(s == 1 or s == ts for s, ts in zip(shape, t._shape[lead:])):
        raise ValueError(f"reduce_sum_to_shape: shape {list(shape)} does not broadcast to the "
                         f"tensor's shape {list(t._shape)}")
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and t._shape[lead + i] != 1)
    if not dims:                       # only size-1 leading dims differ
        return reshape(t, shape)
    summed = reduce_launch("sum", t, dims, True, "sum", 0)
    out = Tensor._make(summed._storage, shape, contiguous_strides(shape), 0, summed.dtype)
    if graph.recording(t) and out.dtype.is_floating_point:
        in_shape = t._shape
        graph.record("SumBackward1", out, (t,), lambda g: (expand(g, in_shape),))
    return out


def expand_as(t, other):
    return expand(t, other._shape)


def broadcast_to(t, shape):
    return expand(t, tuple(shape))


def narrow(t, dim, start, length):
    d = t._wrap_dim(dim)
    size = t._shape[d]
    start = int(start)
    if start < 0:
        start += size
    if start < 0 or length < 0 or start + length > size:
        raise IndexError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
                         f"({size}) of dim {dim}")
    shape = list(t._shape)
    shape[d] = length
    return _slice_back(_view(t, shape, t._stride, t._offset + start * t._stride[d]), t,
                       "SliceBackward0", lambda z: narrow(z, d, start, length))


def select(t, dim, index):
    d = t._wrap_dim(dim)
    size = t._shape[d]
    i = int(index)
    if i < -size or i >= size:
        raise IndexError(f"index {index} is out of bounds for dimension {dim} with size {size}")
    i %= size
    return _slice_back(_view(t, t._shape[:d] + t._shape[d + 1:], t._stride[:d] + t._stride[d + 1:],
                             t._offset + i * t._stride[d]), t, "SelectBackward0",
                       lambda z: select(z, d, i))


def split(t, split_size_or_sections, dim=0):
    d = t._wrap_dim(dim)
    size = t._shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and size:
            raise ValueError(f"split(): split_size must be positive, got {step}")
        sizes = [min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size:
            raise ValueError(f"split(): sections {sizes} don't sum to the size of dim {dim} "
                             f"({size}) of shape {list(t._shape)}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(t, d, start, s))
        start += s
    return tuple(out)


def chunk(t, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
    size = t._shape[t._wrap_dim(dim)]
    step = -(-size // chunks) if size else 1
    return split(t, step, dim)


def unbind(t, dim=0):
    d = t._wrap_dim(dim)
    return tuple(select(t, d, i) for i in range(t._shape[d]))


def as_strided(t, size, stride, storage_offset=None):
    """A raw view of the storage. Not differentiable in clnet: raises while recording."""
    if graph.recording(t):
        raise RuntimeError("as_strided is not differentiable in clnet; call it on a .detach()ed "
                           "tensor or inside no_grad()")
    off = t._offset if storage_offset is None else int(storage_offset)
    return _view(t, tuple(size), tuple(stride), off)


def _is_advanced(x):
    return isinstance(x, (Tensor, list, tuple, range, np.ndarray)) or (
        isinstance(x, (bool, np.bool_)))


def basic_index(t, idx):
    """Integer, slice, None and Ellipsis indexing as a view; None if the index is advanced."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    if any(_is_advanced(x) for x in idx):
        return None
    n_ell = sum(1 for x in idx if x is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for x in idx if x is not None and x is not Ellipsis)
    if consumed > t.dim():
        raise IndexError(f"too many indices for tensor of dimension {t.dim()} "
                         f"(shape {list(t._shape)}, {consumed} indices)")
    if n_ell:
        i = idx.index(Ellipsis)
        idx = idx[:i] + (slice(None),) * (t.dim() - consumed) + idx[i + 1:]
    shape, stride, offset = [], [], t._offset
    d = 0
    for x in idx:
        if x is None:
            shape.append(1)
            stride.append(0)
            continue
        size, st = t._shape[d], t._stride[d]
        if isinstance(x, slice):
            step = 1 if x.step is None else int(x.step)
            if step <= 0:
                raise ValueError("step must be greater than zero (negative steps are not "
                                 "supported, as in PyTorch; use flip)")
            start, stop, step = slice(x.start, x.stop, step).indices(size)
            n = max(0, -(-(stop - start) // step))
            shape.append(n)
            stride.append(st * step)
            offset += start * st if n else 0
        else:
            i = int(x)
            if i < -size or i >= size:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {size}")
            offset += (i % size) * st
        d += 1
    shape.extend(t._shape[d:])
    stride.extend(t._stride[d:])
    return _slice_back(_view(t, shape, stride, offset), t, "SliceBackward0",
                       lambda z: basic_index(z, idx))


# t[idx] beyond views (tensor, list, numpy or bool indices): installed by subscripts.py, the
# family above that owns advanced indexing, so that this one needs nothing above it (registered
# from above, as graph.view_hooks is)
beyond_views = None


def getitem(t, idx):
    """``t[idx]``: a view for ints, slices, None and ``...``; otherwise subscripts.py's copy."""
    if not isinstance(idx, list):
        v = basic_index(t, idx)
        if v is not None:
            return v
    return beyond_views(t, idx)


# ------------------------------------------------------------------ in-place view ops
def _restride_(self, name, node, make_view, undo):
    """An in-place view op (``unsqueeze_``, ``t_``, ...): ``self`` takes the shape, strides and
    offset of ``make_view(self)`` over the same storage, as PyTorch's do; ``undo(g)`` maps a
    gradient of the new shape back to the old one."""
    record = graph.mode.grad_enabled and self.requires_grad
    if record:
        if self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        if self._base is not None:
            # torch rebases such a view's history onto its base; clnet refuses instead of
            # guessing (the out-of-place op does the same work)
            raise RuntimeError(f"{name}(): cannot change the shape of a view that requires grad "
                               f"in place in clnet; use x = x.{name[:-1]}(...) instead")
        edges = (graph.edge(self),)
    prev = graph.set_grad_enabled_flag(False)
    try:
        v = make_view(self)
    finally:
        graph.set_grad_enabled_flag(prev)
    self._shape, self._stride, self._offset = v._shape, v._stride, v._offset
    self._bump_version()
    if record:
        graph.rebase_history(self, node, edges, lambda g: (undo(g),))
    return self


def unsqueeze_(self, dim):
    old = self._shape
    return _restride_(self, "unsqueeze_", "UnsqueezeBackward1", lambda x: unsqueeze(x, dim),
                      lambda g: reshape(g, old))


def squeeze_(self, dim=None):
    old = self._shape
    return _restride_(self, "squeeze_", "SqueezeBackward1", lambda x: squeeze(x, dim),
                      lambda g: reshape(g, old))


def transpose_(self, dim0, dim1):
    return _restride_(self, "transpose_", "TransposeBackward1",
                      lambda x: transpose(x, dim0, dim1), lambda g: transpose(g, dim0, dim1))


def t_(self):
    return _restride_(self, "t_", "TBackward1", t, t)
