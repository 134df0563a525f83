"""gemm.cl: the strided, batched GEMM every matrix product goes through.

``C = act(alpha * A @ B + beta * X)`` (``act``: an activation applied in the epilogue, for
Linear + activation pairs; none by default). Each operand is described by its storage offset, one stride per
batch dimension (0 where broadcast) and a row and a column stride, so transposed views, step
slices, expanded batches and 1-D vectors (a stride of 0 along the missing dimension) all go to the
kernel without a copy. float32/float64 use the tiled kernels with per-device tile sizes
(``gemm_tuning``); integers use a simple one-output-per-work-item kernel; on CPU drivers, long-K
products of contiguous rows and columns (conv weight gradients) take the split-K dot kernels.

The op families above (ops/linalg.py, ops/conv.py, nn/rnn_sequence.py) call ``gemm``; nothing
here records a graph node.
"""
import math
import warnings

import numpy as np
import pyopencl as cl

from ..backend import tuning, tuning_defaults
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .layout import buf, check_index_range, collapse, launch_1d

_I32 = np.int32
_TILE_KEYS = ("TM", "TN", "TK", "WM", "WN", "VW")


# ---------------------------------------------------------------------------------------- tuning
def default_tuning(dev):
    """Tile parameters per dtype for ``dev`` (see the header of cl_kernels/gemm.cl), from the
    vendor tables of backend/tuning_defaults.py (which say which are measured, which guessed).

    CPU drivers (PoCL): one work-item per 192x256 tile with a 6x16 register block: 12 vector
    accumulators fill AVX2's 16 registers, and the big tile keeps repacking of A and B (the cost
    that grows with the number of tiles) small against the arithmetic. GPUs: a cooperative tile
    per work-group; where the device's work-groups are smaller than the table's, each work-item
    takes a bigger block."""
    cfg = tuning_defaults.default(dev, "gemm")
    for dt, c in cfg.items():
        if c["style"] == "cpu":
            size = 8 if dt == "double" else 4
            # the kernel holds A, B and C tiles in local memory: shrink TK, then the tile, to fit
            while (c["TM"] * c["TK"] + c["TK"] * c["TN"] + c["TM"] * c["TN"]) * size > \
                    dev.local_mem_size and c["TK"] > 16:
                c["TK"] //= 2
            while (c["TM"] * c["TK"] + c["TK"] * c["TN"] + c["TM"] * c["TN"]) * size > \
                    dev.local_mem_size and c["TM"] // 2 >= c["WM"] and c["TN"] // 2 >= c["WN"]:
                c["TM"] //= 2
                c["TN"] //= 2
            continue
        if (c["TM"] // c["WM"]) * (c["TN"] // c["WN"]) <= dev.max_work_group_size:
            continue
        if dev.max_work_group_size >= 64:
            c.update(TM=64, TN=64, TK=16, WM=8, WN=8, VW=4)
        else:
            c.update(TM=32, TN=32, TK=16, WM=8, WN=8, VW=4)
    return cfg


def fits(dev, cfg, itemsize=4):
    """Whether a tile set can run on ``dev``: the divisibility gemm.cl assumes, its local-memory
    tiles within the device's local memory (a driver may crash rather than fail the launch when
    they are not: PoCL does) and, on GPUs, its work-group within the device's."""
    if cfg["TM"] % cfg["WM"] or cfg["TN"] % cfg["WN"] or cfg["WN"] % cfg["VW"]:
        return False
    tiles = cfg["TM"] * cfg["TK"] + cfg["TK"] * cfg["TN"]
    if cfg["style"] == "cpu":
        return (tiles + cfg["TM"] * cfg["TN"]) * itemsize <= dev.local_mem_size
    nwi = (cfg["TM"] // cfg["WM"]) * (cfg["TN"] // cfg["WN"])
    return nwi <= dev.max_work_group_size and tiles * itemsize <= dev.local_mem_size


def gemm_tuning(dev, table="gemm"):
    """The device's GEMM tile parameters, ``dev.tuning[table][cl_type]`` (set once, then kept):
    ``clnet tune``'s measured tables (backend/tuning.py) over the defaults. ``table`` is "gemm",
    or "conv.gemm" for the convolutions' products, which use "gemm"'s tables unless tuned."""
    t = dev.tuning.get(table)
    if t is not None:
        return t
    measured = tuning.tuned(dev, table)
    if table != "gemm" and not measured:
        return gemm_tuning(dev)
    t = gemm_tuning(dev) if table != "gemm" else default_tuning(dev)
    t = dict(t)     # a table of its own (the dtypes it lacks are the base table's)
    for dt, cfg in (measured or {}).items():
        if fits(dev, cfg, 8 if dt == "double" else 4):
            t[dt] = dict(cfg)
        else:
            warnings.warn(f"clnet: the tuned {table} tiles for {dt} {cfg} do not fit {dev} "
                          f"({dev.name}); using the defaults (run `clnet tune` again)",
                          RuntimeWarning, stacklevel=2)
    dev.tuning[table] = t
    return t


_kernels = {}   # (device, cl type, table) -> (tuning dict it was built for, kernel)


def _tile_key(cfg):
    """The tile parameters as a hashable program variant."""
    return (cfg["style"],) + tuple(int(cfg[k]) for k in _TILE_KEYS)


def _tile_defines(dev, dt, key):
    defines = (("REAL", dt.cl),)
    if key[0] == "cpu":
        defines += (("CPU_STYLE", None),)
    return defines + tuple(zip(_TILE_KEYS, key[1:]))


_programs = ProgramCache("gemm")                    # the integer kernels: no tile defines
_tiled_programs = ProgramCache("gemm", _tile_defines)


def _tiled_kernel(dev, dt, table="gemm"):
    cfg = gemm_tuning(dev, table)[dt.cl]
    hit = _kernels.get((dev, dt.cl, table))
    if hit is not None and hit[0] is cfg:
        return hit
    prg = _tiled_programs(dev, dt, _tile_key(cfg))
    t = dt.np.type
    args = [_I32] * 4 + [None, _I32, _I32, _I32, _I32, _I32] * 4 + [t, t, _I32, _I32, None, _I32]
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
            return _tiled_kernel(dev, dt, table)
        hit = (cfg, k)
    _kernels[(dev, dt.cl, table)] = hit
    return hit


def cpu_tiles(cfg, M, N, nbatch, cores):
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


def dot_form(M, N, K, A, B):
    """Whether the split-K dot-product kernels suit the product (see gemm.cl): A's rows and B's
    columns contiguous along K, and K long against the M x N outputs (conv weight gradients)."""
    return A[4] == 1 and B[3] == 1 and K >= 1024 and K >= 8 * max(M, N)


_dot_cache = {}  # (device, cl type, table) -> (tuning dict, partial kernel, reduce kernel)


def _dot_kernels(dev, dt, table):
    cfg = gemm_tuning(dev, table)[dt.cl]
    hit = _dot_cache.get((dev, dt.cl, table))
    if hit is None or hit[0] is not cfg:
        prg = _tiled_programs(dev, dt, _tile_key(cfg))
        t = dt.np.type
        hit = _dot_cache[(dev, dt.cl, table)] = (
            cfg, prg.kernel("gemm_dot_partial", [_I32] * 4 + [None, _I32, _I32] * 2 + [None]),
            prg.kernel("gemm_dot_reduce", [_I32] * 3 + [None] + [None, _I32, _I32, _I32] * 2
                       + [t, t, _I32, _I32, None, _I32]))
    return hit


def _launch_dot(dev, dt, M, N, K, A, B, C, X, alpha, beta, table, act, Z):
    """C = alpha * A @ B + beta * X by gemm_dot_partial over chunks of K, then gemm_dot_reduce."""
    cfg, kp, kr = _dot_kernels(dev, dt, table)
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
    enqueue(dev, kp, (nchunks, nblocks), (1, 1), M, N, K, kc, buf(A[0]), int(A[1]), int(A[3]),
            buf(B[0]), int(B[1]), int(B[4]), part._storage.buffer)
    use_x = X is not None
    if not use_x:
        X = (None, 0, (), 0, 0)
    launch_1d(dev, kr, M * N, M, N, nchunks, part._storage.buffer,
              buf(C[0]), int(C[1]), int(C[3]), int(C[4]),
              buf(X[0]) if use_x else None, int(X[1]), int(X[3]), int(X[4]),
              t(alpha), t(beta if use_x else 0), int(use_x), act,
              buf(Z[0]) if Z[0] is not None else None, int(Z[1]))


def launch(dev, dt, M, N, K, nb, A, B, C, X, alpha, beta, table="gemm", act=0, Z=None):
    """One kernel launch over nb = (nb1, nb2) batch entries. A, B, C, X = (tensor, offset,
    (outer batch stride, inner batch stride), row_stride, col_stride); ``table``: which tile
    table (``gemm_tuning``); ``act``: the epilogue's activation (ACT_* in gemm.cl, float only);
    ``Z``: a tensor laid out like C's, where the GELUs' pre-activation goes (C's offsets)."""
    use_x = X is not None
    # buffers the kernel does not touch go as NULL: PoCL's launch cost grows with every buffer
    # argument it resolves (X without an addend, Z without a GELU)
    Z = (Z, C[1]) if Z is not None else (None, 0)
    args = []
    for t, off, (sb1, sb2), sr, sc in (A, B, C, X or (None, 0, (0, 0), 0, 0)):
        args += [buf(t) if t is not None else None, int(off), int(sb1), int(sb2), int(sr),
                 int(sc)]
    t = dt.np.type
    tail = [t(alpha), t(beta if use_x else 0), int(use_x)]
    nbatch = nb[0] * nb[1]
    if act and not dt.is_floating_point:
        raise TypeError(f"gemm: an activation epilogue needs a floating-point dtype, got {dt}")
    if not dt.is_floating_point:
        k = _programs(dev).kernel(
            f"gemm_naive_{dt.cl}", [_I32] * 5 + [None] + [_I32] * 5 + [None] + [_I32] * 5
            + [None] + [_I32] * 5 + [None] + [_I32] * 5 + [t, t, _I32])
        launch_1d(dev, k, nbatch * M * N, M, N, K, nb[1], nbatch, *args, *tail)
        return
    cfg, k = _tiled_kernel(dev, dt, table)
    if cfg["style"] == "cpu" and nbatch == 1 and dot_form(M, N, K, A, B):
        _launch_dot(dev, dt, M, N, K, A, B, C, X if use_x else None, alpha, beta, table, act, Z)
        return
    tail += [int(act), buf(Z[0]) if Z[0] is not None else None, int(Z[1])]
    if cfg["style"] == "cpu":
        tm, tn = cpu_tiles(cfg, M, N, nbatch, dev.cl_device.max_compute_units)
        enqueue(dev, k, (-(-N // tn), -(-M // tm), nbatch), (1, 1, 1), M, N, K, nb[1], *args, *tail,
                tm, tn)
    else:
        nwi = (cfg["TM"] // cfg["WM"]) * (cfg["TN"] // cfg["WN"])
        enqueue(dev, k, (-(-N // cfg["TN"]) * nwi, -(-M // cfg["TM"]), nbatch), (nwi, 1, 1),
                M, N, K, nb[1], *args, *tail)


def gemm(op, batch, M, N, K, A, B, C, X=None, alpha=1, beta=0, table="gemm", act=0, Z=None):
    """C[batch] = act(alpha * A[batch] @ B[batch] + beta * X[batch]) for operands
    (tensor, offset, batch_strides, row_stride, col_stride); batch strides may be 0 (broadcast).
    ``table`` names the tile table: "gemm", or "conv.gemm" for the convolutions. ``act``: an
    ACT_* code of gemm.cl (0: none); for ACT_GELU / ACT_GELU_TANH ``Z`` (a tensor laid out
    like C's tensor, same offset) receives the pre-activation."""
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
            launch(dev, dt, shape[0], N, K, (1, 1), rows[0], (B[0], B[1], (0, 0), B[3], B[4]),
                    rows[1], Xr, alpha, beta, table, act, Z)
            return
    if not batch:
        flat = [(o[0], o[1], (0, 0), o[3], o[4]) for o in ops]
        launch(dev, dt, M, N, K, (1, 1), flat[0], flat[1], flat[2],
                flat[3] if X is not None else None, alpha, beta, table, act, Z)
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
        launch(dev, dt, M, N, K, last, launch_ops[0], launch_ops[1], launch_ops[2],
                launch_ops[3] if X is not None else None, alpha, beta, table, act, Z)
