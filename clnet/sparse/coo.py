"""``SparseCOOTensor``: torch's sparse COO layout: an int64 ``indices`` tensor (sparse_dim, nnz)
and a ``values`` tensor (nnz, *dense_shape) on the device, with the full ``size``.

The values carry autograd: everything made from them (coalesce, to_dense, sparse @ dense) is
built from differentiable ops or records its own node, so gradients reach the ``values`` tensor a
user passed in (and, through ``to_sparse``, the dense tensor it came from).

The index structure is worked out on the host: coalescing (sort, merge duplicates) and the
row compression that the product kernel walks read the indices once with numpy. Like torch on a
CPU, this is a read of the indices; it happens once per sparse tensor (the result is cached on
it), not once per product, so a GCN's fixed adjacency costs it once.

Arithmetic (dense + sparse, sparse + sparse, scaling) is in arith.py; ``to`` / ``cpu`` / ``cuda``
convert the values as a dense tensor's would and move the indices along.

Dense ops that meet a sparse tensor and have no sparse form raise a RuntimeError naming the op
and the layout (``SparseCOOTensor.__getattr__`` and the conversion hooks), never a wrong answer.
"""
import sys

import numpy as np

from .. import dtypes
from ..backend.devices import device as _resolve_device
from ..ops.copy import clone, from_numpy_to, to_device
from ..ops.creation import tensor as _tensor, zeros
from ..ops.index import index_select
from ..ops.subscripts import nonzero
from ..ops.join import stack
from ..tensor import Size, Tensor
from .layout import sparse_coo


def _calling_op(default):
    """The clnet function the user called (the outermost clnet frame that is not this package),
    so an error raised deep inside a dense op names the op the user wrote."""
    name = None
    f = sys._getframe(2)
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if mod.startswith("clnet.") and not mod.startswith("clnet.sparse"):
            name = f.f_code.co_name
        f = f.f_back
    return name or default


def unsupported(op, what="a tensor with layout clnet.sparse_coo"):
    return RuntimeError(
        f"{op}: clnet has no kernel for {what} (it covers sparse.mm / mm / matmul / spmm / @ "
        "with a dense matrix, dense + sparse, sparse + sparse, sparse * / number, -sparse, "
        "sparse.sum, coalesce, to_dense, to, t, indices and values); convert it with "
        ".to_dense() first")


class SparseCOOTensor:
    """A COO sparse tensor; build it with ``clnet.sparse_coo_tensor`` or ``Tensor.to_sparse``."""

    __slots__ = ("_idx", "_val", "_size", "_coalesced", "_csr", "_merge", "__weakref__")

    def __init__(self, indices, values, size, coalesced):
        self._idx, self._val, self._size = indices, values, Size(size)
        self._coalesced = bool(coalesced)
        # structure worked out once from the indices and kept (they never change): the
        # coalesced order / merge (see coalesce) and the row-compressed plan (sparse.ops)
        self._csr = self._merge = None

    # ------------------------------------------------------------------ metadata
    layout = sparse_coo
    is_sparse = True

    @property
    def shape(self):
        return self._size

    def size(self, dim=None):
        if dim is None:
            return self._size
        return self._size[dim]

    def dim(self):
        return len(self._size)

    ndimension = dim

    @property
    def ndim(self):
        return len(self._size)

    def numel(self):
        return self._size.numel()

    @property
    def dtype(self):
        return self._val.dtype

    @property
    def device(self):
        return self._val.device

    def sparse_dim(self):
        return self._idx._shape[0]

    def dense_dim(self):
        return self._val.dim() - 1

    def _nnz(self):
        return self._idx._shape[1]

    def is_coalesced(self):
        return self._coalesced

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self):
        return self._val.requires_grad

    @property
    def grad_fn(self):
        return self._val.grad_fn

    @property
    def is_leaf(self):
        return self._val.is_leaf

    @property
    def grad(self):
        """A leaf sparse tensor's gradient: sparse, with its indices (torch's form)."""
        g = self._val.grad
        return None if g is None else SparseCOOTensor(self._idx, g, self._size, self._coalesced)

    def requires_grad_(self, requires_grad=True):
        self._val.requires_grad_(requires_grad)
        return self

    def detach(self):
        return SparseCOOTensor(self._idx, self._val.detach(), self._size, self._coalesced)

    # ------------------------------------------------------------------ parts
    def _indices(self):
        return self._idx

    def _values(self):
        return self._val

    def indices(self):
        if not self._coalesced:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call "
                               ".coalesce() first")
        return self._idx

    def values(self):
        if not self._coalesced:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call "
                               ".coalesce() first")
        return self._val

    # ------------------------------------------------------------------ conversions
    def coalesce(self):
        """Entries sorted by index with duplicates summed (torch's order: row-major)."""
        if self._coalesced:
            return self
        nd, nnz = self.sparse_dim(), self._nnz()
        dev = self._val._storage.device
        if self._merge is None:     # one read of the indices per tensor
            keys = _linear_keys(self._idx.numpy(), self._size[:nd], "coalesce")
            uniq, inverse = np.unique(keys, return_inverse=True)
            if len(uniq) == nnz:    # a permutation: gather the values (exact)
                where = np.argsort(keys, kind="stable")
            else:                   # duplicates: add each entry into its unique slot
                where = inverse.reshape(-1)
            idx = np.stack(np.unravel_index(uniq, self._size[:nd])) if nd else \
                np.zeros((0, len(uniq)), np.int64)
            self._merge = (len(uniq) == nnz, len(uniq),
                           from_numpy_to(where.astype(np.int64), dev, dtypes.int64),
                           from_numpy_to(idx.astype(np.int64).reshape(nd, len(uniq)), dev,
                                         dtypes.int64))
        is_perm, n_unique, where, indices = self._merge
        if is_perm:
            values = index_select(self._val, 0, where)
        else:                       # index_add is differentiable in the values
            values = zeros((n_unique,) + tuple(self._val._shape[1:]), dtype=self._val.dtype,
                           device=dev).index_add(0, where, self._val)
        out = SparseCOOTensor(indices, values, self._size, True)
        out._csr = self._csr
        return out

    def to_dense(self, dtype=None, *, masked_grad=None):
        """The dense tensor (duplicates summed); differentiable in the values."""
        nd = self.sparse_dim()
        dense_shape = tuple(self._val._shape[1:])
        n_sparse = int(np.prod(self._size[:nd], dtype=np.int64))
        out = zeros((n_sparse,) + dense_shape, dtype=self._val.dtype,
                    device=self._val._storage.device)
        # index_add even with no entries: the result stays connected to the values
        lin = _device_linear_index(self._idx, self._size[:nd]) if nd else \
            zeros(self._nnz(), dtype=dtypes.int64, device=out._storage.device)
        out = out.index_add(0, lin, self._val)
        out = out.reshape(tuple(self._size))
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, sparse_dim=None, *, layout=None):
        if layout not in (None, sparse_coo):
            raise RuntimeError(f"to_sparse: clnet converts only to clnet.sparse_coo, got "
                               f"layout={layout!r}")
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise RuntimeError(f"to_sparse: a sparse tensor with sparse_dim "
                               f"{self.sparse_dim()} cannot change it to {sparse_dim}")
        return self

    def t(self):
        """The transpose of a 2-D sparse matrix (indices' rows swapped; not coalesced)."""
        if self.sparse_dim() != 2 or self.dense_dim() != 0:
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, "
                               f"but got {self.sparse_dim()} sparse and {self.dense_dim()} "
                               "dense dimensions")
        idx = self._idx.flip(0)
        return SparseCOOTensor(idx, self._val, (self._size[1], self._size[0]), False)

    def transpose(self, dim0, dim1):
        d0, d1 = sorted(d % 2 if self.dim() == 2 else d for d in (dim0, dim1))
        if self.dim() != 2 or (d0, d1) not in ((0, 1), (0, 0), (1, 1)):
            raise unsupported("transpose", "a sparse tensor other than a 2-D matrix")
        return self if d0 == d1 else self.t()

    # products, sums and arithmetic: methods.py puts them on (they live in ops.py and
    # arith.py, which import this class)

    def _moved(self, values):
        """This tensor with ``values`` (a copy of its own on another device or in another
        dtype); the indices follow the values' device."""
        if values is self._val:
            return self
        dev = values._storage.device
        if dev is self._val._storage.device:    # same structure, same device: keep its cache
            out = SparseCOOTensor(self._idx, values, self._size, self._coalesced)
            out._merge, out._csr = self._merge, self._csr
            return out
        return SparseCOOTensor(to_device(self._idx, dev), values, self._size, self._coalesced)

    def to(self, *args, **kwargs):
        """``s.to(device)``, ``s.to(dtype)``, ``s.to(device, dtype)``, ``s.to(other)``: the
        values are converted as a dense tensor's ``to`` would (differentiably), the indices
        follow them to their device."""
        return self._moved(self._val.to(*args, **kwargs))

    def cpu(self):
        return self._moved(self._val.cpu())

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        """On an OpenCL GPU, as ``Tensor.cuda`` (which raises where there is none)."""
        return self._moved(self._val.cuda(device, non_blocking, memory_format))

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    @property
    def is_cuda(self):
        return self._val.is_cuda

    @property
    def is_cpu(self):
        return self._val.is_cpu

    def clone(self, *, memory_format=None):
        return SparseCOOTensor(clone(self._idx), clone(self._val), self._size, self._coalesced)

    def __repr__(self):
        pad = " " * len("tensor(indices=")
        idx = repr(self._idx).replace("\n", "\n" + pad)
        vpad = " " * len("       values=")
        val = repr(self._val).replace("\n", "\n" + vpad)
        extra = "" if self._val.dtype is dtypes.get_default_dtype() else \
            f", dtype={self._val.dtype}"
        grad = ", requires_grad=True" if self.requires_grad and self.grad_fn is None else ""
        return (f"tensor(indices={idx},\n       values={val},\n       "
                f"size={tuple(self._size)}, nnz={self._nnz()}{extra}, "
                f"layout=clnet.sparse_coo{grad})")

    # ------------------------------------------------------------------ dense ops: refused
    def __getattr__(self, name):
        # only reached for names the class does not define
        if hasattr(Tensor, name):
            op = _calling_op(name) if name.startswith("_") else name
            raise unsupported(op)
        raise AttributeError(f"'SparseCOOTensor' object has no attribute '{name}'")

    def _refuse(self, *args, **kwargs):
        raise unsupported(_calling_op("this op"))

    __float__ = __int__ = __index__ = __bool__ = __len__ = __iter__ = __array__ = _refuse

    def __eq__(self, other):
        raise unsupported("eq")

    def __ne__(self, other):
        raise unsupported("ne")

    __hash__ = object.__hash__


def _refuser(op):
    def refuse(self, *args):
        raise unsupported(op)
    refuse.__name__ = op
    return refuse


# the other arithmetic, comparisons and indexing have no sparse forms here
for _n in ("floordiv", "mod", "pow", "and", "or", "xor", "lt", "le", "gt", "ge", "iadd",
           "isub", "imul", "itruediv", "abs", "pos", "invert", "getitem", "setitem"):
    setattr(SparseCOOTensor, f"__{_n}__", _refuser(_n))
for _n in ("rtruediv", "rfloordiv", "rmod", "rpow", "rand", "ror", "rxor"):
    setattr(SparseCOOTensor, f"__{_n}__", _refuser(_n[1:]))
del _n


# ---------------------------------------------------------------------------- helpers
def _linear_keys(idx, sizes, op):
    """Row-major linear positions of host indices (sparse_dim, nnz); out-of-range raises."""
    if idx.shape[1] == 0 or not sizes:
        return np.zeros(idx.shape[1], np.int64)
    for d, n in enumerate(sizes):
        bad = (idx[d] < 0) | (idx[d] >= n)
        if bad.any():
            raise IndexError(f"{op}: index {int(idx[d][bad][0])} is out of bounds for sparse "
                             f"dimension {d} of size {n} (size {list(sizes)})")
    return np.ravel_multi_index(tuple(idx), tuple(sizes)).astype(np.int64)


def _device_linear_index(indices, sizes):
    """Row-major linear positions of device indices (sparse_dim, nnz), computed on the device."""
    lin = None
    stride = 1
    for d in range(len(sizes) - 1, -1, -1):
        term = indices[d] * stride if stride != 1 else indices[d]
        lin = term if lin is None else lin + term
        stride *= sizes[d]
    return lin


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """``torch.sparse_coo_tensor``: ``indices`` (sparse_dim, nnz) integers, ``values`` (nnz,
    *dense_shape); ``size`` defaults to the smallest that holds the indices. Host indices (lists,
    numpy) are range-checked here; device ones when the tensor is first coalesced."""
    if isinstance(values, Tensor):
        dev = _resolve_device(device) if device is not None else values._storage.device
        val = values if dtype is None else values.to(dtype)
        if val._storage.device is not dev:
            val = val.to(dev)
    else:
        dev = _resolve_device(device)
        val = _tensor(values, dtype=dtype, device=dev)
    if isinstance(indices, Tensor):
        if indices.dtype.is_floating_point or indices.dtype is dtypes.bool_:
            raise TypeError(f"sparse_coo_tensor: indices must be an int64 tensor, got "
                            f"{indices.dtype}")
        idx = indices if indices.dtype is dtypes.int64 else indices.to(dtypes.int64)
        if idx._storage.device is not dev:
            raise RuntimeError(f"sparse_coo_tensor: indices are on {idx.device} but values are "
                               f"on {dev} (they must be on one device)")
        host_idx = None
    else:
        host_idx = np.asarray(indices)
        if host_idx.size == 0:
            host_idx = host_idx.reshape(host_idx.shape[0] if host_idx.ndim == 2 else 1, 0)
        if host_idx.dtype.kind not in "iu":
            raise TypeError(f"sparse_coo_tensor: indices must be integers, got {host_idx.dtype}")
        idx = None
    ishape = tuple(idx._shape) if idx is not None else host_idx.shape
    if len(ishape) != 2:
        raise ValueError(f"sparse_coo_tensor: indices must be sparse_dim x nnz, but got: "
                         f"{list(ishape)}")
    nd, nnz = ishape
    if val.dim() == 0 or val._shape[0] != nnz:
        raise ValueError(f"sparse_coo_tensor: indices and values must have the same number of "
                         f"entries (nnz), but got {nnz} indices and values of shape "
                         f"{list(val._shape)}")
    dense_shape = tuple(val._shape[1:])
    if size is None:
        if nnz == 0 and nd:
            sizes = (0,) * nd
        elif host_idx is not None:
            sizes = tuple(int(m) + 1 for m in host_idx.max(1)) if nd else ()
        else:
            sizes = tuple(int(m) + 1 for m in idx.amax(1).tolist()) if nd else ()
        size = sizes + dense_shape
    size = tuple(int(s) for s in size)
    if len(size) != nd + len(dense_shape) or tuple(size[nd:]) != dense_shape:
        raise ValueError(f"sparse_coo_tensor: number of dimensions must be sparse_dim "
                         f"({nd}) + dense_dim ({len(dense_shape)}), and the dense sizes must be "
                         f"the values' trailing shape {list(dense_shape)}, but got size "
                         f"{list(size)}")
    if host_idx is not None:
        _linear_keys(host_idx, size[:nd], "sparse_coo_tensor")
        idx = from_numpy_to(np.ascontiguousarray(host_idx.astype(np.int64)), dev, dtypes.int64)
    if requires_grad:
        val = val.detach().requires_grad_(True)
    return SparseCOOTensor(idx, val, size, bool(is_coalesced) or nnz <= 1)


def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """``Tensor.to_sparse``: the non-zero entries (over the first ``sparse_dim`` dims, default
    all) as a coalesced COO tensor; differentiable in the dense input."""
    if layout not in (None, sparse_coo) or blocksize is not None:
        raise RuntimeError(f"to_sparse: clnet converts only to clnet.sparse_coo, got "
                           f"layout={layout!r}")
    nd = self.dim() if sparse_dim is None else int(sparse_dim)
    if dense_dim is not None:
        nd = self.dim() - int(dense_dim)
    if not 0 <= nd <= self.dim():
        raise RuntimeError(f"to_sparse: sparse_dim {nd} is out of range for a "
                           f"{self.dim()}-D tensor")
    lead = tuple(self._shape[:nd])
    rows = self.reshape((int(np.prod(lead, dtype=np.int64)),) + tuple(self._shape[nd:]))
    mask = rows != 0
    if rows.dim() > 1:
        mask = mask.reshape(rows._shape[0], -1).any(1)
    pos = nonzero(mask).reshape(-1)                 # row-major order: already coalesced
    values = index_select(rows, 0, pos)
    # each sparse coordinate of the linear positions, on the device
    coords, stride = [], 1
    for d in range(nd - 1, -1, -1):
        coords.append((pos // stride) % lead[d] if stride != 1 else pos % lead[d])
        stride *= lead[d]
    indices = stack(coords[::-1]) if coords else zeros((0, pos.numel()), dtype=dtypes.int64,
                                                        device=self._storage.device)
    return SparseCOOTensor(indices, values, self._shape, True)
