"""cl_kernels/gemm.cl: the linear-algebra ops on float dtypes, with sizes that are not multiples
of the tiles, transposed operands, batches and the 1-D forms, with the device's own tile set and
with the CPU one (gemm_cpu and the split-K dot-product kernels; Oclgrind reports a GPU)."""
import numpy as np

import clnet
from clnet.kernels import gemm

from ._util import check, dtype_names, host, strided

SIZES = [(1, 1, 1), (7, 5, 3), (33, 17, 65)]


def matrix_products(dev):
    for name in ("float32", "float64"):
        if name not in dtype_names(dev):
            continue
        tol = dict(rtol=1e-4, atol=1e-4)
        for m, k, n in SIZES:
            a, b = host(name, (m, k), seed=1), host(name, (k, n), seed=2)
            ta, tb = clnet.tensor(a, device=dev), clnet.tensor(b, device=dev)
            check(clnet.mm(ta, tb), a @ b, **tol)
            check(clnet.mm(clnet.tensor(a.T.copy(), device=dev).t(), strided(b, dev)), a @ b, **tol)
            c = host(name, (m, n), seed=3)
            check(clnet.addmm(clnet.tensor(c, device=dev), ta, tb, beta=0.5, alpha=2.0),
                  0.5 * c + 2.0 * (a @ b), **tol)
            v = host(name, (k,), seed=4)
            check(clnet.mv(ta, clnet.tensor(v, device=dev)), a @ v, **tol)
        x, y = host(name, (3, 5, 4), seed=5), host(name, (3, 4, 6), seed=6)
        check(clnet.bmm(clnet.tensor(x, device=dev), clnet.tensor(y, device=dev)), x @ y, **tol)
        check(clnet.matmul(clnet.tensor(x, device=dev), clnet.tensor(y[0], device=dev)),
              x @ y[0], **tol)
        # two batch dimensions that cannot merge (permuted 4-D views): one launch
        q = host(name, (3, 2, 2, 5), seed=12)
        check(clnet.matmul(clnet.tensor(q, device=dev).permute(1, 2, 0, 3),
                           clnet.tensor(q, device=dev).permute(1, 2, 3, 0)),
              q.transpose(1, 2, 0, 3) @ q.transpose(1, 2, 3, 0), **tol)
        u, w = host(name, (9,), seed=7), host(name, (9,), seed=8)
        check(clnet.dot(clnet.tensor(u, device=dev), clnet.tensor(w, device=dev)),
              np.dot(u, w), **tol)
        check(clnet.outer(clnet.tensor(u, device=dev), clnet.tensor(w, device=dev)),
              np.outer(u, w), **tol)


def _act_ref(name, z):
    from math import erf
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "gelu":
        return 0.5 * z * (1 + np.vectorize(erf)(z / np.sqrt(2)))
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))


def activation_epilogues(dev):
    """The GEMM epilogue's activations (linear_act: bias + act in the store, the GELUs' saved
    pre-activation) on edge sizes, a transposed input, and a long K (split-K reduce on CPUs)."""
    from clnet.ops.linalg import LINEAR_ACTS, linear_act
    for name in ("float32", "float64"):
        if name not in dtype_names(dev):
            continue
        for m, k, n in SIZES + [(3, 1031, 5)]:
            a, w = host(name, (m, k), seed=1, low=-1, high=1), host(name, (n, k), seed=2)
            w = (w / np.sqrt(k)).astype(w.dtype)
            bias = host(name, (n,), seed=3)
            z = a.astype(np.float64) @ w.T.astype(np.float64) + bias
            for act in LINEAR_ACTS:
                x = clnet.tensor(a.T.copy(), device=dev).t() if m == 7 else \
                    clnet.tensor(a, device=dev)
                x.requires_grad_(True)
                out = linear_act(x, clnet.tensor(w, device=dev), clnet.tensor(bias, device=dev),
                                 act)
                check(out, _act_ref(act, z), rtol=1e-4, atol=1e-4)
                out.sum().backward()
                assert np.all(np.isfinite(x.grad.numpy()))


def integer_products(dev):
    """gemm_naive_T for the integer dtypes, with two batch dimensions."""
    for name in ("int32", "int64"):
        q = host(name, (3, 2, 2, 5), seed=13)
        check(clnet.matmul(clnet.tensor(q, device=dev).permute(1, 2, 0, 3),
                           clnet.tensor(q, device=dev).permute(1, 2, 3, 0)),
              q.transpose(1, 2, 0, 3) @ q.transpose(1, 2, 3, 0))


def cpu_tile_set(dev):
    """The CPU tile set forced on this device: gemm_cpu (edges, transposes, batches, addend) and
    the split-K dot path (A @ W^T with a long K)."""
    class FakeCpu:
        kind, max_work_group_size, local_mem_size = "CPU", dev.max_work_group_size, \
            dev.local_mem_size
    saved = dev.tuning.get("gemm")
    dev.tuning["gemm"] = gemm.default_tuning(FakeCpu)
    try:
        matrix_products(dev)
        activation_epilogues(dev)
        for name in ("float32", "float64"):
            if name not in dtype_names(dev):
                continue
            a, w = host(name, (3, 1031), seed=9), host(name, (5, 1031), seed=10)
            bias = host(name, (5,), seed=11)
            check(clnet.addmm(clnet.tensor(bias, device=dev), clnet.tensor(a, device=dev),
                              clnet.tensor(w, device=dev).t(), beta=0.5, alpha=2.0),
                  0.5 * bias + 2.0 * (a @ w.T), rtol=1e-4, atol=1e-3)
    finally:
        if saved is None:
            dev.tuning.pop("gemm", None)
        else:
            dev.tuning["gemm"] = saved


CASES = [matrix_products, activation_epilogues, integer_products, cpu_tile_set]
