"""How a reduction runs on the device: the (outer, R, inner) plan, kernel choice, chunking and
the launches. ``clnet/ops/reduce.py`` holds the PyTorch-facing functions. Kernels:
cl_kernels/reduce.cl (and reduce_template.h, which scan.cl shares).

Every reduction is seen as ``in[off + oo*so + oi*si + r*sr]`` for outputs o = oo*inner + oi
(contiguous output in the kept dims' order) and reduced index r in [0, R). Three kernel layouts:
  cols  : one work-item per output (and chunk of r), walking r; vector loads when sr == 1.
  colsv : one work-item per VW adjacent outputs (si == 1, aligned), vector loads across outputs.
  rows  : one work-group per output (and chunk) with a local-memory tree (sr == 1; GPU default).
When the outputs alone give too little parallelism, r is split into chunks; the kernels then
write raw partial accumulators [output][chunk] and a second launch reduces those.
"""
import numpy as np
import pyopencl as cl

from .. import dtypes
from ..backend import tuning as tuning_store, tuning_defaults
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .copy import contiguous_copy, fill_into
from .layout import LOCAL_1D, check_index_range, numel

_I32 = np.int32

# op -> (accumulator rule, loads vectorised?, op that reduces its partials)
#   accumulator rule: "sum" = long for integer/bool inputs, else the input type; "same" = the
#   input type; "long" / "bool" fixed.
_OPS = {
    "sum": ("sum", True, "sum"), "prod": ("sum", True, "prod"),
    "max": ("same", True, "max"), "min": ("same", True, "min"),
    "count": ("long", False, "sum"), "all": ("bool", False, "all"), "any": ("bool", False, "any"),
    "sumabs": ("same", True, "sum"), "sumsq": ("same", True, "sum"),
    "sumpow": ("same", True, "sum"), "sumsqdev": ("same", True, "sum"),
    "sumexp": ("same", True, "sum"), "maxabs": ("same", True, "max"),
    "minabs": ("same", True, "min"),
}
FLOAT_ONLY = {"sumabs", "sumsq", "sumpow", "sumsqdev", "sumexp", "maxabs", "minabs"}

# post transforms applied to a finished accumulator (see NAME_post in reduce_template.h)
POST_NONE, POST_SCALE, POST_SCALE_SQRT, POST_SQRT, POST_POW, POST_LOG_ADD, POST_INF_TO_ZERO = range(7)

_VW = {"float": 16, "double": 8, "int": 16, "long": 8, "uchar": 16}


def acc_dtype(op, dt):
    rule = _OPS[op][0]
    if rule == "sum":
        return dt if dt.is_floating_point else dtypes.int64
    if rule == "long":
        return dtypes.int64
    if rule == "bool":
        return dtypes.bool_
    return dt


_program = ProgramCache("reduce", lambda dev, dt: (("DT_" + dt.cl, None),))  # (dev, dtype)


def _pa(dev):
    """numpy type of the kernels' PA (post/map scalar) arguments."""
    return np.float64 if dev.has_fp64 else np.float32


def default_tuning(dev):
    """The ``reduce.*`` launch parameters of ``dev`` before any tuning.

    CPU (PoCL): work-groups are loops over work-items on a few threads, so the best layout is one
    work-item streaming a long contiguous stretch with vector loads (cols + chunks); local-memory
    trees only add barriers. GPU: a work-group per row with coalesced interleaved loads."""
    gpu = dev.kind == "GPU"
    local = tuning_defaults.default(dev, "reduce.local", 256 if gpu else 64)
    while local > dev.max_work_group_size:
        local //= 2
    cus = max(1, dev.cl_device.max_compute_units)
    return {
        "reduce.local": local,                       # rows kernel work-group size
        "reduce.interleave": 1 if gpu else 0,        # rows kernel: interleaved vector loads
        "reduce.rows_min": 1024 if gpu else 1 << 30,  # rows kernel when R >= this (sr == 1)
        "reduce.items": cus * (2048 if gpu else 128),  # work-items wanted for cols kernels
        "reduce.groups": cus * 4,                    # work-groups wanted for the rows kernel
        "reduce.min_chunk": 4096 if gpu else 16384,  # fewest elements of r per chunk
    }


def tuning(dev):
    """Per-device launch parameters (``dev.tuning`` keys ``reduce.*``; tests override them):
    the defaults, overlaid with what ``clnet tune`` measured (backend/tuning.py)."""
    t = dev.tuning
    if "reduce.local" not in t:
        t.update(default_tuning(dev))
        t.update({k: v for k, v in tuning_store.load(dev).items() if k.startswith("reduce.")})
        while t["reduce.local"] > dev.max_work_group_size:
            t["reduce.local"] //= 2
    return t


def reduce(opname, t, rdims, keepdim, kop, empty_value, **kw):
    """A new tensor holding kernel op ``kop`` of ``t`` over the dims ``rdims`` (kept as size 1
    when ``keepdim``), in the op's accumulator dtype; ``empty_value`` fills the outputs of an
    empty reduction (R == 0) without launching anything. ``kw`` goes to ``run``."""
    dev = t._storage.device
    shape = tuple((1 if d in rdims else s) for d, s in enumerate(t._shape) if keepdim or
                  d not in rdims)
    out = Tensor._empty(shape, acc_dtype(kop, t.dtype), dev)
    if out.numel() == 0:
        return out
    if numel([t._shape[d] for d in rdims]) == 0:
        return fill_into(out, empty_value)
    check_index_range(opname, t)
    return run(kop, plan(t, rdims), out, **kw)


class Plan:
    """The input seen as (outer, R, inner) with strides; ``tensor`` may be a permuted copy."""

    __slots__ = ("tensor", "off", "outer", "so", "R", "sr", "inner", "si")

    def __init__(self, tensor, off, outer, so, R, sr, inner, si):
        self.tensor, self.off = tensor, off
        self.outer, self.so, self.R, self.sr, self.inner, self.si = outer, so, R, sr, inner, si

    @property
    def n_out(self):
        return self.outer * self.inner


def plan(t, rdims):
    """Merge dims into at most (kept, reduced, kept) groups that one stride each can address.

    Size-1 dims never matter; neighbours merge when the memory order matches the logical order
    (so r and the output index stay row-major logical indices: argmax's flat index). Layouts that
    need more groups (reduced dims not adjacent, kept dims not mergeable) are copied once into
    [kept..., reduced...] order, which makes them plain contiguous rows."""
    groups = []
    for d, (s, st) in enumerate(zip(t._shape, t._stride)):
        if s == 1:
            continue
        red = d in rdims
        if groups and groups[-1][0] == red and groups[-1][2] == st * s:
            groups[-1][1] *= s
            groups[-1][2] = st
        else:
            groups.append([red, s, st])
    reds = [i for i, g in enumerate(groups) if g[0]]
    one = (1, 0)
    if not reds and len(groups) <= 2:
        outer = tuple(groups[0][1:]) if groups else one
        inner = tuple(groups[1][1:]) if len(groups) > 1 else one
        return Plan(t, t._offset, outer[0], outer[1], 1, 0, inner[0], inner[1])
    if len(reds) == 1:
        ri = reds[0]
        before, after = groups[:ri], groups[ri + 1:]
        if len(before) <= 1 and len(after) <= 1:
            outer = tuple(before[0][1:]) if before else one
            inner = tuple(after[0][1:]) if after else one
            return Plan(t, t._offset, outer[0], outer[1], groups[ri][1], groups[ri][2],
                        inner[0], inner[1])
    kept = [d for d in range(t.dim()) if d not in rdims]
    red = [d for d in range(t.dim()) if d in rdims]
    order = kept + red
    permuted = Tensor._make(t._storage, tuple(t._shape[d] for d in order),
                            tuple(t._stride[d] for d in order), t._offset, t.dtype)
    c = contiguous_copy(permuted)
    n_red = numel([t._shape[d] for d in red])
    n_kept = numel([t._shape[d] for d in kept])
    return Plan(c, c._offset, n_kept, n_red, n_red, 1, 1, 0)


def _chunking(R, items, wanted, min_chunk, vw):
    """(chunks, chunk_len): split r when ``items`` work units alone are fewer than ``wanted``."""
    chunks = 1
    if items < wanted and R > min_chunk:
        chunks = min(-(-wanted // items), -(-R // min_chunk))
    if chunks <= 1:
        return 1, max(R, 1)
    chunk_len = -(-R // chunks)
    chunk_len = -(-chunk_len // vw) * vw      # chunk starts stay vector-aligned within a row
    return -(-R // chunk_len), chunk_len


def _buf(t):
    return None if t is None else t._storage.buffer


def run(op, p, out, *, param=None, map_a=0.0, post=POST_NONE, post_a=0.0):
    """Reduce plan ``p`` with ``op`` into the contiguous tensor ``out`` (n_out elements, acc dtype).

    ``param``: a contiguous acc-dtype tensor with one value per output (var's mean, logsumexp's
    max), read by the op's map and by POST_LOG_ADD."""
    t = p.tensor
    dev = t._storage.device
    cfg = tuning(dev)
    dt = t.dtype
    vw = _VW[dt.cl] if _OPS[op][1] else 1
    n_out, R = p.n_out, p.R
    prg = _program(dev, dt)
    pa = _pa(dev)
    scalars = [_I32] * 5 + [None, _I32, _I32, _I32, _I32, None, None, None, pa, _I32, pa]
    use_rows = p.sr == 1 and R >= cfg["reduce.rows_min"]
    so = p.so if p.outer > 1 else 0
    sr = p.sr if R > 1 else 0
    use_colsv = not use_rows and vw > 1 and p.si == 1 and p.inner >= vw and sr != 1
    aligned = p.off % vw == 0 and so % vw == 0 and sr % vw == 0
    if use_rows:
        local = cfg["reduce.local"]
        chunks, chunk_len = _chunking(R, n_out, cfg["reduce.groups"],
                                      max(cfg["reduce.min_chunk"], local * vw), vw)
    else:
        units = p.outer * -(-p.inner // vw) if use_colsv else n_out
        # a colsv work-item takes vw elements per step of r
        min_r = max(1, cfg["reduce.min_chunk"] // vw) if use_colsv else cfg["reduce.min_chunk"]
        chunks, chunk_len = _chunking(R, units, cfg["reduce.items"], min_r, vw)
    part = None
    if chunks > 1:
        part = Tensor._empty((n_out * chunks,), out.dtype, dev)
    args = [n_out, R, p.inner, chunks, chunk_len, t._storage.buffer, p.off, so, p.si, sr,
            None if chunks > 1 else out._storage.buffer, _buf(part), _buf(param),
            pa(map_a), post, pa(post_a)]
    if use_rows:
        k = prg.kernel(f"r_{op}_rows", scalars + [_I32, None])
        scratch = cl.LocalMemory(local * out.dtype.itemsize)
        enqueue(dev, k, (n_out * chunks * local,), (local,), *args,
                cfg["reduce.interleave"], scratch)
    else:
        if use_colsv:
            k = prg.kernel(f"r_{op}_colsv", scalars + [_I32])
            _launch(dev, k, units * chunks, args + [int(aligned)])
        else:
            k = prg.kernel(f"r_{op}_cols", scalars)
            _launch(dev, k, units * chunks, args)
    if chunks > 1:
        p2 = Plan(part, 0, n_out, chunks, chunks, 1, 1, 0)
        run(_OPS[op][2], p2, out, param=param, post=post, post_a=post_a)
    return out


def run_arg(op, p, out_v, out_i, in_idx=None):
    """argmax/argmin of plan ``p``: values into ``out_v`` (input dtype), indices into ``out_i``
    (int64). ``in_idx`` (int32, same layout as the input) supplies indices in the second pass."""
    t = p.tensor
    dev = t._storage.device
    cfg = tuning(dev)
    n_out, R = p.n_out, p.R
    prg = _program(dev, t.dtype)
    scalars = [_I32] * 5 + [None, None, _I32, _I32, _I32, _I32, None, None, None, None]
    use_rows = p.sr == 1 and R >= cfg["reduce.rows_min"]
    if use_rows:
        local = cfg["reduce.local"]
        chunks, chunk_len = _chunking(R, n_out, cfg["reduce.groups"],
                                      max(cfg["reduce.min_chunk"], local), 1)
    else:
        chunks, chunk_len = _chunking(R, n_out, cfg["reduce.items"], cfg["reduce.min_chunk"], 1)
    part_v = part_i = None
    if chunks > 1:
        part_v = Tensor._empty((n_out * chunks,), t.dtype, dev)
        part_i = Tensor._empty((n_out * chunks,), dtypes.int32, dev)
    args = [n_out, R, p.inner, chunks, chunk_len, t._storage.buffer, _buf(in_idx), p.off,
            p.so if p.outer > 1 else 0, p.si, p.sr if R > 1 else 0,
            None if chunks > 1 else out_v._storage.buffer,
            None if chunks > 1 else out_i._storage.buffer, _buf(part_v), _buf(part_i)]
    if use_rows:
        k = prg.kernel(f"r_{op}_rows", scalars + [_I32, None, None])
        enqueue(dev, k, (n_out * chunks * local,), (local,), *args, cfg["reduce.interleave"],
                cl.LocalMemory(local * t.dtype.itemsize), cl.LocalMemory(local * 4))
    else:
        k = prg.kernel(f"r_{op}_cols", scalars)
        _launch(dev, k, n_out * chunks, args)
    if chunks > 1:
        run_arg(op, Plan(part_v, 0, n_out, chunks, chunks, 1, 1, 0), out_v, out_i, part_i)
    return out_v, out_i


def _launch(dev, kernel, n, args):
    local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size
    enqueue(dev, kernel, (((n + local - 1) // local) * local,), (local,), *args)
