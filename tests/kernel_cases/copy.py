"""cl_kernels/copy.cl: casts between every dtype pair (contiguous and strided), fills, creation
ops and view materialisation."""
import numpy as np

import clnet
from clnet.ops.copy import fill_into

from ._util import EDGE_SHAPES, check, dtype_names, host, layouts, strided


def casts_between_every_dtype_pair(dev):
    for src in dtype_names(dev):
        for shape in ((65,), (5, 13)):
            a = host(src, shape, seed=1)
            for t in layouts(a, dev):
                for dst in dtype_names(dev):
                    want = a.astype(np.bool_) if dst == "bool" else a.astype(
                        {"float32": np.float32, "float64": np.float64, "int32": np.int32,
                         "int64": np.int64}[dst])
                    check(t.to(getattr(clnet, dst)), want)


def fills_of_every_dtype(dev):
    for name in dtype_names(dev):
        dt = getattr(clnet, name)
        value = True if name == "bool" else 3
        for shape in EDGE_SHAPES:
            check(clnet.full(shape, value, dtype=dt, device=dev),
                  np.full(shape, value, dtype=clnet.zeros(1, dtype=dt).numpy().dtype))
        t = clnet.zeros(5, 13, dtype=dt, device=dev)
        fill_into(t[:, ::2], value)          # a strided fill
        want = np.zeros((5, 13), t.numpy().dtype)
        want[:, ::2] = value
        check(t, want)


def creation_ops(dev):
    check(clnet.zeros(65, device=dev), np.zeros(65, np.float32))
    check(clnet.ones(2, 3, device=dev), np.ones((2, 3), np.float32))
    check(clnet.arange(7, device=dev), np.arange(7))
    check(clnet.linspace(0, 1, 5, device=dev), np.linspace(0, 1, 5, dtype=np.float32))
    check(clnet.eye(3, 4, device=dev), np.eye(3, 4, dtype=np.float32))
    check(clnet.zeros_like(clnet.ones(3, device=dev)), np.zeros(3, np.float32))
    assert clnet.zeros(0, 3, device=dev).numel() == 0


def views_made_contiguous(dev):
    a = host("float32", (4, 6, 5), seed=2)
    t = clnet.tensor(a, device=dev)
    check(t.permute(2, 0, 1).contiguous(), a.transpose(2, 0, 1))
    check(t[1:, ::2].clone(), a[1:, ::2])
    check(t[:, 0].reshape(-1), a[:, 0].reshape(-1))
    check(clnet.tensor(a[0, :, :1], device=dev).expand(6, 4).contiguous(),
          np.broadcast_to(a[0, :, :1], (6, 4)))
    check(strided(a[0], dev).t().clone(), a[0].T)
    # 4 dims that cannot merge: one 3-D launch per outer index, and past the launch cap
    # (strided_launch's _MAX_SPLIT_LAUNCHES) the 1-D form
    for shape in ((3, 2, 3, 5), (70, 3, 2, 5)):
        b = host("float32", shape, seed=3)
        check(clnet.tensor(b, device=dev).permute(0, 2, 1, 3).contiguous(),
              b.transpose(0, 2, 1, 3))


def _rounded(a, half):
    """float32 values of ``a`` rounded to 16-bit ``half`` through float32, as copy.cl does."""
    f = np.asarray(a, np.float32)
    if half == "float16":
        return f.astype(np.float16).astype(np.float32)
    return clnet.dtypes.bfloat16_values(clnet.dtypes.bfloat16_bits(f))


_NP = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
       "bool": np.bool_}


def casts_with_16_bit_floats(dev):
    """copy.cl's COPY16 kernels: every dtype to and from float16/bfloat16 (contiguous and
    strided, both sides), 16-bit to 16-bit (bits, and across the two formats), 16-bit fills."""
    names = dtype_names(dev)
    for half in ("float16", "bfloat16"):
        hd = getattr(clnet, half)
        other = getattr(clnet, "bfloat16" if half == "float16" else "float16")
        for src in names:                     # every dtype -> 16-bit, both layouts
            a = host(src, (5, 13), seed=4)
            for t in layouts(a, dev):
                check(t.to(hd).float(), _rounded(a.astype(np.float32), half), rtol=0, atol=0)
        a = host("float32", (5, 13), seed=5)
        want = _rounded(a, half)
        h = clnet.tensor(a, device=dev).to(hd)
        for src, w in ((h, want), (h.t(), want.T), (h[:, ::2], want[:, ::2])):
            for dst in names:                 # 16-bit -> every dtype, both layouts
                check(src.to(getattr(clnet, dst)), w.astype(_NP[dst]) if dst != "bool"
                      else w != 0, rtol=0, atol=0)
            check(src.clone().float(), w, rtol=0, atol=0)            # 16-bit -> 16-bit: bits
            check(src.to(other).float(), _rounded(w, other.name), rtol=0, atol=0)
        for shape in EDGE_SHAPES:             # fill_ushort_c (the value's bits)
            check(clnet.full(shape, 0.1, dtype=hd, device=dev).float(),
                  np.full(shape, _rounded(0.1, half)), rtol=0, atol=0)
        t = clnet.zeros(5, 13, dtype=hd, device=dev)
        fill_into(t[:, ::2], -2.5)            # fill_ushort_n
        w = np.zeros((5, 13), np.float32)
        w[:, ::2] = -2.5
        check(t.float(), w, rtol=0, atol=0)


CASES = [casts_between_every_dtype_pair, fills_of_every_dtype, creation_ops,
         views_made_contiguous, casts_with_16_bit_floats]
