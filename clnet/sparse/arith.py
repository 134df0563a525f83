"""Arithmetic with sparse COO tensors, with torch's layouts and rules:
  dense + sparse      -> dense   (same size, no broadcasting; the sparse entries added in)
  sparse + sparse     -> sparse  (indices and values concatenated; coalesced when both were)
  sparse * / number   -> sparse  (values scaled; a 0-d tensor counts as a number)
  -sparse             -> sparse
``sparse + dense`` raises torch's 'add(sparse, dense) is not supported' error (so does a number
on either side of ``+``, which torch treats as a dense operand).

Everything is written with differentiable ops on the values (to_dense, cat, coalesce, *), so
gradients reach the values and the dense operand. The scaled and negated tensors keep their
input's indices and the structure worked out from them (coalesce's merge, the product plan),
so scaling an adjacency costs no second read of its indices.
"""
from .. import dtypes
from ..kernels.layout import same_device
from ..ops.copy import cast
from ..ops.elementwise import _is_num
from ..ops.join import cat
from ..tensor import Tensor
from .coo import SparseCOOTensor, unsupported

_SPARSE_DENSE = "add(sparse, dense) is not supported. Use add(dense, sparse) instead."


def with_values(s, values):
    """``s``'s structure (indices, size, coalesced flag and the structure cached from them)
    with new ``values`` on the same device."""
    out = SparseCOOTensor(s._idx, values, s._size, s._coalesced)
    out._merge, out._csr = s._merge, s._csr
    return out


def add(input, other, alpha=1):
    """``input + alpha * other`` where at least one operand is sparse."""
    if isinstance(input, SparseCOOTensor):
        if not isinstance(other, SparseCOOTensor):
            raise RuntimeError(_SPARSE_DENSE)
        return _add_sparse(input, other, alpha)
    if not isinstance(input, Tensor):
        if _is_num(input):      # torch wraps the number as a 0-d dense tensor
            raise RuntimeError(_dense_size_error(input, other, ()))
        raise TypeError(f"add: unsupported operand type {type(input).__name__}")
    return _add_dense_sparse(input, other, alpha)


def _dense_size_error(dense, s, dsize):
    return (f"add: expected 'self' and 'other' to have same size, but self has size "
            f"{list(dsize)} while other has size {list(s._size)} (FYI: dense-sparse addition "
            "does not currently support broadcasting)")


def _add_dense_sparse(dense, s, alpha):
    if tuple(dense._shape) != tuple(s._size):
        raise RuntimeError(_dense_size_error(dense, s, dense._shape))
    same_device("add", dense, s._val)
    vals = s._val if alpha == 1 else s._val * alpha
    # the dense form of the sparse side (duplicates summed), then a dense add: the result's
    # dtype is torch's promotion of the two (eye(V) float32 + an int64 adjacency -> float32)
    return dense + with_values(s, vals).to_dense()


def _add_sparse(a, b, alpha):
    if a.sparse_dim() != b.sparse_dim():
        raise RuntimeError(f"add: expected 'self' and 'other' to have same density, but 'self' "
                           f"has {a.sparse_dim()} sparse dimensions while 'other' has "
                           f"{b.sparse_dim()} sparse dimensions")
    if tuple(a._size) != tuple(b._size):
        raise RuntimeError(f"add: expected sizes of 'self' and 'other' to match, but "
                           f"{list(a._size)} != {list(b._size)}")
    same_device("add", a._val, b._val)
    ct = dtypes.promote_types(a.dtype, b.dtype)
    va = a._val if a.dtype is ct else cast(a._val, ct)
    vb = b._val if b.dtype is ct else cast(b._val, ct)
    if alpha != 1:
        vb = vb * alpha
    out = SparseCOOTensor(cat([a._idx, b._idx], 1), cat([va, vb], 0), a._size, False)
    # torch merges two coalesced operands into a coalesced result; otherwise the entries stay
    # side by side (uncoalesced), which every consumer here sums as duplicates
    return out.coalesce() if a._coalesced and b._coalesced else out


def _scalar(op, other):
    """A number or a 0-d tensor to scale the values by; None for anything else."""
    if _is_num(other):
        return other
    if isinstance(other, Tensor):
        if other.dim() == 0:
            return other
        raise unsupported(op, "a sparse tensor with a dense tensor that is not 0-d (only "
                          "numbers and 0-d tensors scale a sparse tensor)")
    if isinstance(other, SparseCOOTensor):
        raise unsupported(op, "two sparse tensors")
    return None


def mul(s, other):
    k = _scalar("mul", other)
    if k is None:
        return NotImplemented
    if isinstance(k, Tensor):
        same_device("mul", s._val, k)
    return with_values(s, s._val * k)


def div(s, other):
    k = _scalar("div", other)
    if k is None:
        return NotImplemented
    if isinstance(k, Tensor):
        same_device("div", s._val, k)
    return with_values(s, s._val / k)


def neg(s):
    if s.dtype is dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return with_values(s, -s._val)
