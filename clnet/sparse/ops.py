"""Sparse x dense products and sums: ``clnet.sparse.mm`` / ``sum``, and the sparse-aware
``clnet.mm`` / ``matmul`` / ``spmm`` (dense arguments go straight to clnet.ops.linalg).

The product runs cl_kernels/sparse.cl's row-compressed kernel on the coalesced entries. Its
backward is written with differentiable ops, so gradients of gradients work:
  d out / d dense  = sparse^T @ grad   (the same kernel on the transposed structure, whose entry
                                        order is a fixed permutation of the values)
  d out / d values = for each entry (r, c): dot(grad[r, :], dense[c, :])
"""
import numpy as np

from .. import dtypes, graph
from ..kernels.sparse import spmm_csr
from ..ops import linalg as _linalg
from ..kernels.layout import same_device
from ..ops.copy import contiguous, from_numpy_to, write_out
from ..ops.creation import zeros
from ..ops.index import index_select
from ..tensor import Tensor
from .coo import SparseCOOTensor, sparse_coo_tensor, unsupported

_I32 = np.int32


class _Plan:
    """The row-compressed structure of a coalesced 2-D COO matrix (M x K): row pointers and
    column indices (int32, for the kernel), the entries' rows and columns (int64, for the value
    gradient), and its transpose's plan ``t`` with ``perm_t``: ``values[perm_t]`` are this
    matrix's values in the transpose's entry order."""

    __slots__ = ("M", "K", "nnz", "row_ptr", "col", "rows", "cols", "t", "perm_t")

    @staticmethod
    def pair(rows, cols, M, K, dev):
        """The plans of A (entries sorted by row, then column) and of A^T."""
        a, b = _Plan(rows, cols, M, K, dev), None
        perm = np.lexsort((rows, cols))                  # by column, then row
        b = _Plan(cols[perm], rows[perm], K, M, dev)
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        a.t, a.perm_t = b, from_numpy_to(perm.astype(np.int64), dev, dtypes.int64)
        b.t, b.perm_t = a, from_numpy_to(inv.astype(np.int64), dev, dtypes.int64)
        return a

    def __init__(self, rows, cols, M, K, dev):
        self.M, self.K, self.nnz = M, K, len(rows)
        ptr = np.searchsorted(rows, np.arange(M + 1)).astype(_I32)
        self.row_ptr = from_numpy_to(ptr, dev, dtypes.int32)
        if self.nnz:
            self.col = from_numpy_to(cols.astype(_I32), dev, dtypes.int32)
            self.rows = from_numpy_to(rows.astype(np.int64), dev, dtypes.int64)
            self.cols = from_numpy_to(cols.astype(np.int64), dev, dtypes.int64)


def _plan(s):
    """(coalesced tensor, its plan); the plan is built once and kept on the tensor (and on the
    uncoalesced tensor it came from, which shares its structure)."""
    c = s.coalesce()
    if c._csr is None:
        rows, cols = c._idx.numpy()          # one read of the structure, then cached
        c._csr = _Plan.pair(rows, cols, c._size[0], c._size[1], c._val._storage.device)
    s._csr = c._csr
    return c, c._csr


def _spmm(plan, values, x):
    """plan's matrix (with ``values`` in its entry order) @ x (K x N, any strides)."""
    M, K, N = plan.M, plan.K, x._shape[1]
    dev, dt = x._storage.device, x.dtype
    out = zeros((M, N), dtype=dt, device=dev)
    if plan.nnz and M and N:
        spmm_csr(M, K, plan.row_ptr, plan.col, contiguous(values.detach()), x.detach(), out)
    if graph.recording(values, x):
        vg, xg = values.requires_grad, x.requires_grad

        def backward(g):
            gv = gx = None
            if xg:
                gx = _spmm(plan.t, index_select(values, 0, plan.perm_t) if plan.nnz
                           else values, g)
            if vg:
                gv = ((index_select(g, 0, plan.rows) * index_select(x, 0, plan.cols)).sum(1)
                      if plan.nnz else zeros(0, dtype=dt, device=dev))
            return (gv, gx)
        graph.record("SparseAddmmBackward0", out, (values, x), backward, saved=(values, x))
    return out


def _check_operands(op, s, dense, transposed):
    if not isinstance(dense, Tensor):
        if isinstance(dense, SparseCOOTensor):
            raise unsupported(op, "a product of two sparse tensors")
        raise TypeError(f"{op}: expected a Tensor, got {type(dense).__name__}")
    if s.sparse_dim() != 2 or s.dense_dim() != 0:
        raise RuntimeError(f"{op}: the sparse operand must be a 2-D matrix with no dense "
                           f"dimensions, got sparse_dim {s.sparse_dim()}, dense_dim "
                           f"{s.dense_dim()}")
    if dense.dim() != 2:
        raise RuntimeError(f"{op}: the dense operand must be a matrix, got shape "
                           f"{list(dense._shape)}")
    same_device(op, s._val, dense)
    if dense.dtype is not s.dtype:
        raise TypeError(f"{op}: expected the dense operand's dtype {dense.dtype} to match the "
                        f"sparse values' {s.dtype}")
    if not s.dtype.is_floating_point:
        raise TypeError(f"{op}: clnet's sparse product needs floating values, got {s.dtype}")
    a, b = (dense._shape, s._size) if transposed else (s._size, dense._shape)
    if a[1] != b[0]:
        raise RuntimeError(f"{op}: shapes {list(a)} and {list(b)} cannot be multiplied "
                           f"({a[1]} != {b[0]})")


def _sparse_dense(op, s, dense):
    _check_operands(op, s, dense, False)
    c, plan = _plan(s)
    return _spmm(plan, c._val, dense)


def _dense_sparse(op, dense, s):
    # dense @ S = (S^T @ dense^T)^T, with S^T's plan (no new coalesce)
    _check_operands(op, s, dense, True)
    c, plan = _plan(s)
    vals = index_select(c._val, 0, plan.perm_t) if plan.nnz else c._val
    return _spmm(plan.t, vals, dense.t()).t()


def mm(mat1, mat2, *, out=None):
    """``torch.sparse.mm`` / ``torch.mm``: sparse @ dense and dense @ sparse give dense
    matrices; two dense matrices go to clnet.ops.linalg.mm."""
    if isinstance(mat1, SparseCOOTensor):
        res = _sparse_dense("mm", mat1, mat2)
    elif isinstance(mat2, SparseCOOTensor):
        res = _dense_sparse("mm", mat1, mat2)
    else:
        res = _linalg.mm(mat1, mat2)
    return write_out("mm", res, out)


def spmm(input, mat2):
    """``torch.spmm``: sparse (or dense) @ dense."""
    if isinstance(input, SparseCOOTensor):
        return _sparse_dense("spmm", input, mat2)
    return _linalg.mm(input, mat2)


def matmul(input, other, *, out=None):
    """``torch.matmul`` with a sparse matrix on either side (a 1-D dense side is a vector)."""
    if isinstance(input, SparseCOOTensor):
        if isinstance(other, Tensor) and other.dim() == 1:
            res = _sparse_dense("matmul", input, other.reshape(-1, 1)).reshape(-1)
        else:
            res = _sparse_dense("matmul", input, other)
    elif isinstance(other, SparseCOOTensor):
        if isinstance(input, Tensor) and input.dim() == 1:
            res = _dense_sparse("matmul", input.reshape(1, -1), other).reshape(-1)
        else:
            res = _dense_sparse("matmul", input, other)
    else:
        res = _linalg.matmul(input, other)
    return write_out("matmul", res, out)


def sum(input, dim=None, dtype=None):
    """``torch.sparse.sum``: over all dims a dense 0-d tensor; over some dims a coalesced sparse
    tensor, or a dense one when every sparse dim is summed."""
    if not isinstance(input, SparseCOOTensor):
        raise TypeError(f"sparse.sum: expected a sparse tensor, got {type(input).__name__}")
    vals = input._val if dtype is None else input._val.to(dtype)
    if dim is None:
        return vals.sum()
    nd, n = input.sparse_dim(), input.dim()
    dims = [dim] if isinstance(dim, (int, np.integer)) else list(dim)
    wrapped = set()
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"sparse.sum: dimension {d} is out of range for a {n}-D tensor")
        wrapped.add(d % n)
    dense_sum = sorted(d - nd + 1 for d in wrapped if d >= nd)
    if dense_sum:
        vals = vals.sum(dense_sum)
    keep = [d for d in range(nd) if d not in wrapped]
    if not keep:
        return vals.sum(0)
    dense_size = [input._size[d] for d in range(nd, n) if d not in wrapped]
    idx = index_select(input._idx, 0, from_numpy_to(np.array(keep, np.int64),
                                                    input._idx._storage.device, dtypes.int64))
    size = [input._size[d] for d in keep] + dense_size
    return sparse_coo_tensor(idx, vals, size).coalesce()
