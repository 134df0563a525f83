"""``clnet.sparse``: torch's sparse COO tensors as one PyTorch program uses them (a GCN):
``clnet.sparse_coo_tensor``, ``Tensor.to_sparse``, ``sparse.mm`` / ``mm`` / ``spmm`` / ``@``
with a dense matrix (gradients to the dense side and to the values), dense + sparse,
sparse + sparse, scaling by a number, ``sparse.sum``, ``coalesce``, ``to_dense``, ``to``, ``t``.
Built on clnet.ops (and one kernel family, cl_kernels/sparse.cl); it also gives every dense
Tensor ``is_sparse``, ``layout``, ``to_sparse``, and ``mm`` / ``matmul`` methods that take a
sparse operand (``x @ sparse`` reaches SparseCOOTensor.__rmatmul__ by itself)."""
from ..tensor import Tensor
from .coo import SparseCOOTensor, sparse_coo_tensor, to_sparse
from .layout import layout, sparse_coo, strided
from . import methods  # noqa: F401  (puts SparseCOOTensor's arithmetic and product methods on)
from .ops import matmul, mm, spmm, sum

Tensor.is_sparse = False
Tensor.layout = strided
Tensor.to_sparse = to_sparse
Tensor.to_sparse_coo = to_sparse


# ops never import this package (it sits above them), so the sparse-aware methods go on here
def _mm_method(self, mat2):
    return mm(self, mat2)


def _matmul_method(self, other):
    return matmul(self, other)


_mm_method.__name__, _matmul_method.__name__ = "mm", "matmul"
Tensor.mm, Tensor.matmul = _mm_method, _matmul_method

__all__ = ["SparseCOOTensor", "sparse_coo_tensor", "layout", "sparse_coo", "strided", "mm",
           "spmm", "matmul", "sum"]
