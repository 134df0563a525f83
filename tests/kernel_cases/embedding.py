"""cl_kernels/embedding.cl: the weight gradient and max_norm renormalisation, for int32 and
int64 indices, in float32 and float64, with repeated, padding and out-of-range indices (the
kernels skip those; the lookup reports them at the next read: device_errors.py)."""
import numpy as np
import pytest

import clnet
from clnet.ops.embedding import embedding

from ._util import check, dtype_names


def _floats(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def embedding_gradients_and_renorm(dev):
    rng = np.random.default_rng(0)
    V = 7
    for name in _floats(dev):
        fdt = np.float32 if name == "float32" else np.float64
        for D in (1, 5, 65):
            for idt in (np.int32, np.int64):
                idx = np.array([[3, 0, 3], [6, 3, 9]], idt)          # 9 is out of range
                W = rng.standard_normal((V, D)).astype(fdt)
                g = rng.standard_normal((2, 3, D)).astype(fdt)
                cw = clnet.tensor(W, device=dev, requires_grad=True)
                y = embedding(clnet.tensor(idx, device=dev), cw, padding_idx=6,
                              scale_grad_by_freq=True)
                (gw,) = clnet.autograd.grad([y], [cw], [clnet.tensor(g, device=dev)])
                with pytest.raises(IndexError, match="index 9 is out of bounds"):
                    clnet.synchronize(dev)
                want = np.zeros((V, D))
                want[3] = (g[0, 0] + g[0, 2] + g[1, 1]) / 3
                want[0] = g[0, 1]
                check(gw, want.astype(fdt))
                W2 = (W * 4).astype(fdt)
                cw2 = clnet.tensor(W2, device=dev)
                embedding(clnet.tensor(idx, device=dev), cw2, max_norm=1.0)
                with pytest.raises(IndexError, match="index 9 is out of bounds"):
                    clnet.synchronize(dev)
                norms = np.linalg.norm(cw2.numpy(), axis=1)
                looked = [0, 3, 6]
                assert np.all(norms[looked] <= 1.0 + 1e-4)
                np.testing.assert_array_equal(cw2.numpy()[[1, 2, 4, 5]], W2[[1, 2, 4, 5]])


CASES = [embedding_gradients_and_renorm]
