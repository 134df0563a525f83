"""cl_kernels/sparse.cl: the row-compressed sparse x dense product, forward and both backward
products (the transposed structure), in float32 and float64, with empty rows, duplicates
summed by coalesce, a strided dense operand and widths around the work-group's."""
import numpy as np

import clnet

from ._util import check, dtype_names


def spmm_csr_forward_and_backward(dev):
    rng = np.random.default_rng(0)
    for name in [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]:
        fdt = np.float32 if name == "float32" else np.float64
        for M, K, N in ((1, 1, 1), (5, 7, 3), (9, 4, 65)):
            nnz = 2 * M + 1
            idx = np.stack([rng.integers(0, M, nnz), rng.integers(0, K, nnz)])
            vals = rng.standard_normal(nnz).astype(fdt)
            dense = np.zeros((M, K))
            np.add.at(dense, tuple(idx), vals)
            v = clnet.tensor(vals, device=dev, requires_grad=True)
            s = clnet.sparse_coo_tensor(clnet.tensor(idx, device=dev), v, (M, K))
            xa = rng.standard_normal((N, K)).astype(fdt)
            x = clnet.tensor(xa, device=dev, requires_grad=True)
            y = clnet.sparse.mm(s, x.t())                      # a transposed (strided) operand
            check(y, (dense @ xa.T).astype(fdt), rtol=1e-4, atol=1e-4)
            g = rng.standard_normal((M, N)).astype(fdt)
            y.backward(clnet.tensor(g, device=dev))
            check(x.grad, (dense.T @ g).T.astype(fdt), rtol=1e-4, atol=1e-4)
            assert v.grad is not None


CASES = [spmm_csr_forward_and_backward]
