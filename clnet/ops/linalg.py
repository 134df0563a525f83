"""Matrix products: mm, matmul, bmm, addmm, baddbmm, mv, addmv, outer, dot, inner, linear.

Every product is one call of a strided, batched GEMM (cl_kernels/gemm.cl):
``C = alpha * A @ B + beta * X``. Each operand is described by its storage offset, one stride per
batch dimension (0 where broadcast) and a row and a column stride, so transposed views, step
slices, expanded batches and 1-D vectors (a stride of 0 along the missing dimension) all go to the
kernel without a copy. float32/float64 use the tiled kernels with per-device tile sizes
(``gemm_tuning``); integers use a simple one-output-per-work-item kernel.
"""
import math

import numpy as np
import pyopencl as cl

from .. import dtypes
from ..tensor import Tensor
from . import linalg_grads as G
from .copy import cast, contiguous
from ._layout import broadcast_strides, buf, check_index_range, collapse, launch_1d, same_device
from ..backend.programs import get_program

__all__ = ["mm", "matmul", "bmm", "addmm", "baddbmm", "mv", "addmv", "outer", "ger", "dot",
           "inner"]

_I32 = np.int32
_TILE_KEYS = ("TM", "TN", "TK", "WM", "WN", "VW")


# ---------------------------------------------------------------------------------------- tuning
def _default_tuning(dev):
    """Tile parameters per dtype for ``dev`` (see the header of cl_kernels/gemm.cl).

    CPU drivers (PoCL): one work-item per 192x256 tile with a 6x16 register block: 12 vector
    accumulators fill AVX2's 16 registers, and the big tile keeps repacking of A and B (the cost
    that grows with the number of tiles) small against the arithmetic. GPUs: the classic 64x64
    cooperative tile, 4x4 per work-item with float4 (8x8 where work-groups must be smaller)."""
    if dev.kind == "CPU":
        cfg = {"float": dict(style="cpu", TM=192, TN=256, TK=256, WM=6, WN=16, VW=16),
               "double": dict(style="cpu", TM=192, TN=256, TK=128, WM=6, WN=8, VW=8)}
        for c in cfg.values():
            size = 8 if c is cfg["double"] else 4
            # the kernel holds A, B and C tiles in local memory: shrink TK, then the tile, to fit
            while (c["TM"] * c["TK"] + c["TK"] * c["TN"] + c["TM"] * c["TN"]) * size > \
                    dev.local_mem_size and c["TK"] > 16:
                c["TK"] //= 2
            while (c["TM"] * c["TK"] + c["TK"] * c["TN"] + c["TM"] * c["TN"]) * size > \
                    dev.local_mem_size and c["TM"] // 2 >= c["WM"] and c["TN"] // 2 >= c["WN"]:
                c["TM"] //= 2
                c["TN"] //= 2
        return cfg
    if dev.max_work_group_size >= 256:
        base = dict(style="gpu", TM=64, TN=64, TK=16, WM=4, WN=4, VW=4)
    elif dev.max_work_group_size >= 64:
        base = dict(style="gpu", TM=64, TN=64, TK=16, WM=8, WN=8, VW=4)
    else:
        base = dict(style="gpu", TM=32, TN=32, TK=16, WM=8, WN=8, VW=4)
    return {"float": dict(base), "double": dict(base)}


def gemm_tuning(dev):
    """The device's GEMM tile parameters, ``dev.tuning['gemm'][cl_type]`` (set once, then kept)."""
    t = dev.tuning.get("gemm")
    if t is None:
        t = dev.tuning["gemm"] = _default_tuning(dev)
    return t


_kernels = {}   # (device, cl type) -> (tuning dict it was built for, kernel): skips the defines


def _tile_defines(cfg, dt):
    defines = (("REAL", dt.cl),)
    if cfg["style"] == "cpu":
        defines += (("CPU_STYLE", None),)
    return defines + tuple((k, int(cfg[k])) for k in _TILE_KEYS)


def _tiled_kernel(dev, dt):
    cfg = gemm_tuning(dev)[dt.cl]
    hit = _kernels.get((dev, dt.cl))
    if hit is not None and hit[0] is cfg:
        return hit
    prg = get_program(dev, "gemm", _tile_defines(cfg, dt))
    t = dt.np.type
    args = [_I32] * 4 + [None, _I32, _I32, _I32, _I32, _I32] * 4 + [t, t, _I32]
    if cfg["style"] == "cpu":
        hit = (cfg, prg.kernel("gemm_cpu", args + [_I32, _I32]))
    else:
        k = prg.kernel("gemm_tiled", args)
        nwi = (cfg["TM"] // cfg["WM"]) * (cfg["TN"] // cfg["WN"])
        limit = k.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, dev.cl_device)
        if limit < nwi and cfg["WM"] * cfg["WN"] < 64:
            # the compiled kernel needs more registers than nwi work-items can have on this
            # device: give each work-item a bigger block (fewer work-items) and build again
            cfg.update(WM=cfg["WM"] * 2, WN=cfg["WN"] * 2)
            return _tiled_kernel(dev, dt)
        hit = (cfg, k)
    _kernels[(dev, dt.cl)] = hit
    return hit


def _cpu_tiles(cfg, M, N, nbatch, cores):
    """Tile extents for gemm_cpu: at most TM x TN, balanced over the matrix, and split further
    (larger side first) until every core has a tile to work on."""
    wm, wn = cfg["WM"], cfg["WN"]

    def balanced(size, cap, unit):
        count = -(-size // cap)
        return min(cap, -(-(-(-size // count)) // unit) * unit)

    tm, tn = balanced(M, cfg["TM"], wm), balanced(N, cfg["TN"], wn)
    while nbatch * -(-M // tm) * -(-N // tn) < 2 * cores:
        if tn >= tm and tn > wn:
            tn = max(wn, -(-(tn // 2) // wn) * wn)
        elif tm > wm:
            tm = max(wm, -(-(tm // 2) // wm) * wm)
        else:
            break
    return tm, tn


# ---------------------------------------------------------------------------------------- launch
_DOT_NBLK = 64            # NBLK in gemm.cl
_DOT_CACHE_BYTES = 1 << 17  # a chunk of A's rows plus two B columns: a core's L2 share


def _dot_form(M, N, K, A, B):
    """Whether the split-K dot-product kernels suit the product (see gemm.cl): A's rows and B's
    columns contiguous along K, and K long against the M x N outputs (conv weight gradients)."""
    return A[4] == 1 and B[3] == 1 and K >= 1024 and K >= 8 * max(M, N)


_dot_cache = {}  # (device, cl type) -> (tuning dict, partial kernel, reduce kernel)


def _dot_kernels(dev, dt):
    cfg = gemm_tuning(dev)[dt.cl]
    hit = _dot_cache.get((dev, dt.cl))
    if hit is None or hit[0] is not cfg:
        prg = get_program(dev, "gemm", _tile_defines(cfg, dt))
        t = dt.np.type
        hit = _dot_cache[(dev, dt.cl)] = (
            cfg, prg.kernel("gemm_dot_partial", [_I32] * 4 + [None, _I32, _I32] * 2 + [None]),
            prg.kernel("gemm_dot_reduce", [_I32] * 3 + [None] + [None, _I32, _I32, _I32] * 2
                       + [t, t, _I32]))
    return hit


def _launch_dot(dev, dt, M, N, K, A, B, C, X, alpha, beta):
    """C = alpha * A @ B + beta * X by gemm_dot_partial over chunks of K, then gemm_dot_reduce."""
    cfg, kp, kr = _dot_kernels(dev, dt)
    t = dt.np.type
    nblocks = -(-N // _DOT_NBLK)
    vw = cfg["VW"]
    # chunks short enough that A's rows of a chunk stay cached while every column pair of the
    # block passes by, and enough of them (with the column blocks) to give each core work
    kc = max(vw, _DOT_CACHE_BYTES // ((M + 2) * dt.itemsize) // vw * vw)
    cores = dev.cl_device.max_compute_units
    while -(-K // kc) * nblocks < 4 * cores and kc > 256:
        kc = max(256, kc // 2 // vw * vw)
    kc = min(kc, -(-K // vw) * vw)
    nchunks = -(-K // kc)
    part = Tensor._empty((nchunks, M, N), dt, dev)
    kp(dev.queue, (nchunks, nblocks), (1, 1), M, N, K, kc, buf(A[0]), int(A[1]), int(A[3]),
       buf(B[0]), int(B[1]), int(B[4]), part._storage.buffer)
    use_x = X is not None
    if not use_x:
        X = C
    launch_1d(dev, kr, M * N, M, N, nchunks, part._storage.buffer,
              buf(C[0]), int(C[1]), int(C[3]), int(C[4]),
              buf(X[0]), int(X[1]), int(X[3]), int(X[4]),
              t(alpha), t(beta if use_x else 0), int(use_x))


def _launch(dev, dt, M, N, K, nb, A, B, C, X, alpha, beta):
    """One kernel launch over nb = (nb1, nb2) batch entries. A, B, C, X = (tensor, offset,
    (outer batch stride, inner batch stride), row_stride, col_stride)."""
    use_x = X is not None
    if not use_x:
        X = C  # never read by the kernel; any valid buffer will do
    args = []
    for t, off, (sb1, sb2), sr, sc in (A, B, C, X):
        args += [buf(t), int(off), int(sb1), int(sb2), int(sr), int(sc)]
    t = dt.np.type
    tail = [t(alpha), t(beta if use_x else 0), int(use_x)]
    nbatch = nb[0] * nb[1]
    if not dt.is_floating_point:
        k = get_program(dev, "gemm").kernel(
            f"gemm_naive_{dt.cl}", [_I32] * 5 + [None] + [_I32] * 5 + [None] + [_I32] * 5
            + [None] + [_I32] * 5 + [None] + [_I32] * 5 + [t, t, _I32])
        launch_1d(dev, k, nbatch * M * N, M, N, K, nb[1], nbatch, *args, *tail)
        return
    cfg, k = _tiled_kernel(dev, dt)
    if cfg["style"] == "cpu" and nbatch == 1 and _dot_form(M, N, K, A, B):
        _launch_dot(dev, dt, M, N, K, A, B, C, X if use_x else None, alpha, beta)
        return
    if cfg["style"] == "cpu":
        tm, tn = _cpu_tiles(cfg, M, N, nbatch, dev.cl_device.max_compute_units)
        k(dev.queue, (-(-N // tn), -(-M // tm), nbatch), (1, 1, 1), M, N, K, nb[1], *args, *tail,
          tm, tn)
    else:
        nwi = (cfg["TM"] // cfg["WM"]) * (cfg["TN"] // cfg["WN"])
        k(dev.queue, (-(-N // cfg["TN"]) * nwi, -(-M // cfg["TM"]), nbatch), (nwi, 1, 1),
          M, N, K, nb[1], *args, *tail)


def _gemm(op, batch, M, N, K, A, B, C, X=None, alpha=1, beta=0):
    """C[batch] = alpha * A[batch] @ B[batch] + beta * X[batch] for operands
    (tensor, offset, batch_strides, row_stride, col_stride); batch strides may be 0 (broadcast)."""
    out = C[0]
    dt = out.dtype
    dev = out._storage.device
    nb = math.prod(batch)
    if M == 0 or N == 0 or nb == 0:
        return
    ops = [A, B, C] + ([X] if X is not None else [])
    check_index_range(op, *[o[0] for o in ops])
    if nb * M * N > 2 ** 31 - 1:
        raise ValueError(f"{op}: results with 2**31 or more elements are not supported")

    # Fold the batch into M when B and X are the same for every batch entry and the batch and row
    # dimensions of A and C merge into one stride (e.g. (batch, T, in) @ W^T): one bigger GEMM.
    if batch and all(s == 0 for s in B[2]) and (X is None or all(s == 0 for s in X[2])):
        fold_ops = [A, C] + ([X] if X is not None else [])
        shape, strides = collapse(list(batch) + [M], [list(o[2]) + [o[3]] for o in fold_ops])
        if len(shape) == 1:
            rows = [(o[0], o[1], (0, 0), s[0], o[4]) for o, s in zip(fold_ops, strides)]
            Xr = rows[2] if X is not None else None
            _launch(dev, dt, shape[0], N, K, (1, 1), rows[0], (B[0], B[1], (0, 0), B[3], B[4]),
                    rows[1], Xr, alpha, beta)
            return
    if not batch:
        flat = [(o[0], o[1], (0, 0), o[3], o[4]) for o in ops]
        _launch(dev, dt, M, N, K, (1, 1), flat[0], flat[1], flat[2],
                flat[3] if X is not None else None, alpha, beta)
        return
    # Merge batch dimensions that are contiguous in every operand; the kernels take two batch
    # dimensions, so any more (rare: 3+ batch dims that cannot merge) are looped over here.
    shape, strides = collapse(list(batch), [list(o[2]) for o in ops])
    if len(shape) == 1:
        shape, strides = [1] + shape, [[0] + st for st in strides]
    outer_shape, last = shape[:-2], (shape[-2], shape[-1])
    for idx in np.ndindex(*outer_shape):
        launch_ops = []
        for o, st in zip(ops, strides):
            off = o[1] + sum(i * s for i, s in zip(idx, st[:-2]))
            launch_ops.append((o[0], off, (st[-2], st[-1]), o[3], o[4]))
        _launch(dev, dt, M, N, K, last, launch_ops[0], launch_ops[1], launch_ops[2],
                launch_ops[3] if X is not None else None, alpha, beta)


# ---------------------------------------------------------------------------------------- checks
def _check(op, *tensors):
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensor arguments, got {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype is not dt:
            raise TypeError(f"{op}: expected all operands to have the same dtype, got "
                            f"{', '.join(str(x.dtype.name) for x in tensors)}")
    if dt is dtypes.bool_:
        raise TypeError(f"{op}: not supported for bool tensors; convert with .int() or .float()")
    return same_device(op, *tensors), dt


def _check_dims(op, name, t, dims):
    if t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{op}: expected {name} to be {want}, got shape {list(t._shape)}")


def _scalars(op, dt, alpha, beta):
    if not dt.is_floating_point:
        for name, v in (("alpha", alpha), ("beta", beta)):
            if isinstance(v, float) and not float(v).is_integer():
                raise TypeError(f"{op}: for integer tensors, {name} must be an integer, got {v}")
    return alpha, beta


def _mismatch(op, a, b, ka, kb):
    raise ValueError(f"{op}: shapes {list(a._shape)} and {list(b._shape)} cannot be multiplied "
                     f"({ka} != {kb})")


def _addend(op, x, out_shape):
    """Element strides of ``x`` broadcast to ``out_shape`` (0 where broadcast); the error names
    the op and both shapes."""
    nd = len(out_shape)
    if x.dim() > nd or any(s != 1 and s != o for s, o in zip(reversed(x._shape),
                                                               reversed(out_shape))):
        raise ValueError(f"{op}: input of shape {list(x._shape)} cannot be broadcast to the "
                         f"result shape {list(out_shape)}")
    return broadcast_strides(out_shape, x._shape, x._stride)


# ---------------------------------------------------------------------------------------- ops
def mm(input, mat2):
    dev, dt = _check("mm", input, mat2)
    _check_dims("mm", "self", input, (2,))
    _check_dims("mm", "mat2", mat2, (2,))
    (M, K), (K2, N) = input._shape, mat2._shape
    if K != K2:
        _mismatch("mm", input, mat2, K, K2)
    out = Tensor._empty((M, N), dt, dev)
    _gemm("mm", (), M, N, K, (input, input._offset, (), *input._stride),
          (mat2, mat2._offset, (), *mat2._stride), (out, 0, (), N, 1))
    return G.record_mm("MmBackward0", input, mat2, out)


def bmm(input, mat2):
    dev, dt = _check("bmm", input, mat2)
    _check_dims("bmm", "batch1", input, (3,))
    _check_dims("bmm", "batch2", mat2, (3,))
    (nb, M, K), (nb2, K2, N) = input._shape, mat2._shape
    if nb != nb2:
        raise ValueError(f"bmm: batch sizes differ in shapes {list(input._shape)} and "
                         f"{list(mat2._shape)} ({nb} != {nb2})")
    if K != K2:
        _mismatch("bmm", input, mat2, K, K2)
    out = Tensor._empty((nb, M, N), dt, dev)
    _gemm("bmm", (nb,), M, N, K, _op3(input), _op3(mat2), (out, 0, (M * N,), N, 1))
    return G.record_mm("BmmBackward0", input, mat2, out, batched=True)


def _op3(t):
    """Operand tuple of a tensor with batch dims: (t, offset, batch_strides, row, col)."""
    return (t, t._offset, tuple(t._stride[:-2]), t._stride[-2], t._stride[-1])


def matmul(input, other):
    """torch.matmul: 1-D operands are promoted to matrices (a row for the first, a column for the
    second) and the added dimension removed; batch dimensions broadcast."""
    dev, dt = _check("matmul", input, other)
    da, db = input.dim(), other.dim()
    if da == 0 or db == 0:
        raise ValueError(f"matmul: both arguments need to be at least 1-D, but they are {da}-D "
                         f"and {db}-D (shapes {list(input._shape)} and {list(other._shape)})")
    if da == 1 and db == 1:
        return G.record_dot(input, other, _dot("matmul", input, other, dev, dt))
    # a 1-D first operand is a row (M=1), a 1-D second one a column (N=1): stride 0 on the new dim
    if da == 1:
        a_batch, M, K, sam, sak = (), 1, input._shape[0], 0, input._stride[0]
    else:
        a_batch, (M, K), (sam, sak) = input._shape[:-2], input._shape[-2:], input._stride[-2:]
    if db == 1:
        b_batch, K2, N, sbk, sbn = (), other._shape[0], 1, other._stride[0], 0
    else:
        b_batch, (K2, N), (sbk, sbn) = other._shape[:-2], other._shape[-2:], other._stride[-2:]
    if K != K2:
        _mismatch("matmul", input, other, K, K2)
    batch = _broadcast_batch("matmul", input, other, a_batch, b_batch)
    out_shape = batch + ((M,) if da > 1 else ()) + ((N,) if db > 1 else ())
    out = Tensor._empty(out_shape, dt, dev)
    a_bst = broadcast_strides(batch, a_batch, input._stride[:len(a_batch)])
    b_bst = broadcast_strides(batch, b_batch, other._stride[:len(b_batch)])
    c_bst = out._stride[:len(batch)]
    _gemm("matmul", batch, M, N, K, (input, input._offset, tuple(a_bst), sam, sak),
          (other, other._offset, tuple(b_bst), sbk, sbn), (out, 0, tuple(c_bst), N, 1))
    return G.record_matmul(input, other, out)


def _broadcast_batch(op, a, b, a_batch, b_batch):
    n = max(len(a_batch), len(b_batch))
    pa = (1,) * (n - len(a_batch)) + tuple(a_batch)
    pb = (1,) * (n - len(b_batch)) + tuple(b_batch)
    out = []
    for d, (x, y) in enumerate(zip(pa, pb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: batch dimensions of shapes {list(a._shape)} and "
                             f"{list(b._shape)} cannot be broadcast ({x} != {y} at batch "
                             f"dimension {d})")
        out.append(y if x == 1 else x)
    return tuple(out)


def _dot(op, a, b, dev, dt):
    if a._shape[0] != b._shape[0]:
        raise ValueError(f"{op}: 1-D tensors of shapes {list(a._shape)} and {list(b._shape)} "
                         f"must have the same number of elements")
    out = Tensor._empty((), dt, dev)
    _gemm(op, (), 1, 1, a._shape[0], (a, a._offset, (), 0, a._stride[0]),
          (b, b._offset, (), b._stride[0], 0), (out, 0, (), 0, 0))
    return out


def dot(input, other):
    dev, dt = _check("dot", input, other)
    if input.dim() != 1 or other.dim() != 1:
        raise ValueError(f"dot: expected 1-D tensors, got shapes {list(input._shape)} and "
                         f"{list(other._shape)}")
    return G.record_dot(input, other, _dot("dot", input, other, dev, dt))


def mv(input, vec):
    dev, dt = _check("mv", input, vec)
    _check_dims("mv", "the matrix", input, (2,))
    _check_dims("mv", "the vector", vec, (1,))
    M, K = input._shape
    if K != vec._shape[0]:
        _mismatch("mv", input, vec, K, vec._shape[0])
    out = Tensor._empty((M,), dt, dev)
    _gemm("mv", (), M, 1, K, (input, input._offset, (), *input._stride),
          (vec, vec._offset, (), vec._stride[0], 0), (out, 0, (), 1, 0))
    return G.record_mv("MvBackward0", None, input, vec, out)


def outer(input, vec2):
    for t in (input, vec2):
        if not isinstance(t, Tensor):
            raise TypeError(f"outer: expected Tensor arguments, got {type(t).__name__}")
    if input.dim() != 1 or vec2.dim() != 1:
        raise ValueError(f"outer: expected 1-D tensors, got shapes {list(input._shape)} and "
                         f"{list(vec2._shape)}")
    # outer is an elementwise product in PyTorch, so its operands promote like one
    dt = dtypes.promote_types(input.dtype, vec2.dtype)
    if dt is dtypes.bool_:
        raise TypeError("outer: not supported for bool tensors; convert with .int() or .float()")
    if input.dtype is not dt or vec2.dtype is not dt:
        input, vec2 = cast(input, dt), cast(vec2, dt)
    dev = same_device("outer", input, vec2)
    M, N = input._shape[0], vec2._shape[0]
    out = Tensor._empty((M, N), dt, dev)
    _gemm("outer", (), M, N, 1, (input, input._offset, (), input._stride[0], 0),
          (vec2, vec2._offset, (), 0, vec2._stride[0]), (out, 0, (), N, 1))
    return G.record_outer(input, vec2, out)


ger = outer


def inner(input, other):
    """Sum over the last dimension of both: result shape input.shape[:-1] + other.shape[:-1]."""
    dev, dt = _check("inner", input, other)
    if input.dim() == 0 or other.dim() == 0:
        # a scalar operand scales the other: a K=1 product of the scalar and the flattened tensor
        s, t = (input, other) if input.dim() == 0 else (other, input)
        t = contiguous(t)
        out = Tensor._empty(t._shape, dt, dev)
        _gemm("inner", (), 1, t.numel(), 1, (s, s._offset, (), 0, 0), (t, t._offset, (), 0, 1),
              (out, 0, (), 0, 1))
        return G.record_inner(input, other, out)
    K, K2 = input._shape[-1], other._shape[-1]
    if K != K2:
        _mismatch("inner", input, other, K, K2)
    a, b = _as_rows(input), _as_rows(other)
    M, N = a._shape[0], b._shape[0]
    out = Tensor._empty(input._shape[:-1] + other._shape[:-1], dt, dev)
    _gemm("inner", (), M, N, K, (a, a._offset, (), *a._stride),
          (b, b._offset, (), b._stride[1], b._stride[0]), (out, 0, (), N, 1))
    return G.record_inner(input, other, out)


def _as_rows(t):
    """``t`` viewed as a (rows, last_dim) matrix, copied only when its leading dims cannot merge."""
    lead = t._shape[:-1]
    shape, strides = collapse(list(lead) if lead else [1], [list(t._stride[:-1]) or [0]])
    if len(shape) != 1:
        t = contiguous(t)
        return Tensor._make(t._storage, (math.prod(lead), t._shape[-1]),
                            (t._shape[-1], 1), t._offset, t.dtype)
    return Tensor._make(t._storage, (math.prod(lead), t._shape[-1]),
                        (strides[0][0], t._stride[-1]), t._offset, t.dtype)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to the result; with beta == 0 the
    input is ignored (NaNs in it do not propagate), like PyTorch."""
    dev, dt = _check("addmm", input, mat1, mat2)
    _check_dims("addmm", "mat1", mat1, (2,))
    _check_dims("addmm", "mat2", mat2, (2,))
    (M, K), (K2, N) = mat1._shape, mat2._shape
    if K != K2:
        _mismatch("addmm", mat1, mat2, K, K2)
    alpha, beta = _scalars("addmm", dt, alpha, beta)
    st = _addend("addmm", input, (M, N))
    out = Tensor._empty((M, N), dt, dev)
    X = (input, input._offset, (), st[0], st[1]) if beta != 0 else None
    _gemm("addmm", (), M, N, K, (mat1, mat1._offset, (), *mat1._stride),
          (mat2, mat2._offset, (), *mat2._stride), (out, 0, (), N, 1), X, alpha, beta)
    return G.record_addmm("AddmmBackward0", input, mat1, mat2, out, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    dev, dt = _check("baddbmm", input, batch1, batch2)
    _check_dims("baddbmm", "batch1", batch1, (3,))
    _check_dims("baddbmm", "batch2", batch2, (3,))
    (nb, M, K), (nb2, K2, N) = batch1._shape, batch2._shape
    if nb != nb2:
        raise ValueError(f"baddbmm: batch sizes differ in shapes {list(batch1._shape)} and "
                         f"{list(batch2._shape)} ({nb} != {nb2})")
    if K != K2:
        _mismatch("baddbmm", batch1, batch2, K, K2)
    alpha, beta = _scalars("baddbmm", dt, alpha, beta)
    st = _addend("baddbmm", input, (nb, M, N))
    out = Tensor._empty((nb, M, N), dt, dev)
    X = (input, input._offset, (st[0],), st[1], st[2]) if beta != 0 else None
    _gemm("baddbmm", (nb,), M, N, K, _op3(batch1), _op3(batch2), (out, 0, (M * N,), N, 1),
          X, alpha, beta)
    return G.record_addmm("BaddbmmBackward0", input, batch1, batch2, out, beta, alpha,
                          batched=True)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    dev, dt = _check("addmv", input, mat, vec)
    _check_dims("addmv", "the matrix", mat, (2,))
    _check_dims("addmv", "the vector", vec, (1,))
    M, K = mat._shape
    if K != vec._shape[0]:
        _mismatch("addmv", mat, vec, K, vec._shape[0])
    alpha, beta = _scalars("addmv", dt, alpha, beta)
    st = _addend("addmv", input, (M,))
    out = Tensor._empty((M,), dt, dev)
    X = (input, input._offset, (), st[0], 0) if beta != 0 else None
    _gemm("addmv", (), M, 1, K, (mat, mat._offset, (), *mat._stride),
          (vec, vec._offset, (), vec._stride[0], 0), (out, 0, (), 1, 0), X, alpha, beta)
    return G.record_mv("AddmvBackward0", input, mat, vec, out, beta, alpha)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (torch.nn.functional.linear): the weight is read transposed in
    place and the bias is added in the GEMM's epilogue; leading dims of input fold into M."""
    tensors = (input, weight) if bias is None else (input, weight, bias)
    dev, dt = _check("linear", *tensors)
    _check_dims("linear", "weight", weight, (2,))
    if input.dim() == 0:
        raise ValueError("linear: input must be at least 1-D, got a 0-D tensor")
    out_f, in_f = weight._shape
    K = input._shape[-1]
    if K != in_f:
        raise ValueError(f"linear: input shape {list(input._shape)} and weight shape "
                         f"{list(weight._shape)} cannot be multiplied ({K} != {in_f})")
    if bias is not None and (bias.dim() > 1 or (bias.dim() == 1 and bias._shape[0] not in
                                                  (1, out_f))):
        raise ValueError(f"linear: bias of shape {list(bias._shape)} does not match "
                         f"{out_f} output features")
    if input.dim() == 1:
        batch, M, sam = (), 1, 0
    else:
        batch, M, sam = input._shape[:-2], input._shape[-2], input._stride[-2]
    out = Tensor._empty(input._shape[:-1] + (out_f,), dt, dev)
    nbd = len(batch)
    A = (input, input._offset, tuple(input._stride[:nbd]), sam, input._stride[-1])
    B = (weight, weight._offset, (0,) * nbd, weight._stride[1], weight._stride[0])
    C = (out, 0, tuple(out._stride[:nbd]), out_f if input.dim() > 1 else 0, 1)
    X = None
    if bias is not None:
        sb = bias._stride[0] if bias.dim() == 1 and bias._shape[0] == out_f else 0
        X = (bias, bias._offset, (0,) * nbd, 0, sb)
    _gemm("linear", batch, M, out_f, K, A, B, C, X, 1, 1)
    return G.record_linear(input, weight, bias, out)


def _matmul_method(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return matmul(self, other)


def _rmatmul_method(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return matmul(other, self)


TENSOR_METHODS = {
    "mm": mm,
    "matmul": matmul,
    "__matmul__": _matmul_method,
    "__rmatmul__": _rmatmul_method,
    "bmm": bmm,
    "addmm": addmm,
    "baddbmm": baddbmm,
    "mv": mv,
    "addmv": addmv,
    "outer": outer,
    "ger": outer,
    "dot": dot,
    "inner": inner,
}
