"""``clnet.sparse``: torch's sparse COO tensors as one PyTorch program uses them (a GCN):
``clnet.sparse_coo_tensor``, ``Tensor.to_sparse``, ``sparse.mm`` / ``mm`` / ``spmm`` / ``@``
with a dense matrix (gradients to the dense side and to the values), ``sparse.sum``,
``coalesce``, ``to_dense``, ``t``. Built on clnet.ops (and one kernel family,
cl_kernels/sparse.cl); it also gives every dense Tensor ``is_sparse``, ``layout`` and
``to_sparse``."""
from ..tensor import Tensor
from .coo import SparseCOOTensor, sparse_coo_tensor, to_sparse
from .layout import layout, sparse_coo, strided
from .ops import matmul, mm, spmm, sum

Tensor.is_sparse = False
Tensor.layout = strided
Tensor.to_sparse = to_sparse
Tensor.to_sparse_coo = to_sparse

__all__ = ["SparseCOOTensor", "sparse_coo_tensor", "layout", "sparse_coo", "strided", "mm",
           "spmm", "matmul", "sum"]
