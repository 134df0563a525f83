"""cl_kernels/index.cl: gather/scatter/index_* ops of every dtype and index dtype, advanced
indexing, masked ops, nonzero compaction and one_hot."""
import numpy as np

import clnet

from ._util import check, dtype_names, host, strided


def _try(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError):     # a dtype the op refuses, before any launch
        return None


def gather_scatter_family(dev):
    for name in dtype_names(dev):
        a = host(name, (5, 13), seed=1)
        for src in (clnet.tensor(a, device=dev), strided(a, dev)):
            for idt in (np.int32, np.int64):
                idx_np = np.random.default_rng(2).integers(0, 5, (3, 13)).astype(idt)
                idx = clnet.tensor(idx_np, device=dev)
                check(clnet.gather(src, 0, idx), np.take_along_axis(a, idx_np, 0))
                base = clnet.tensor(np.zeros((5, 13), a.dtype), device=dev)
                # scatter with repeated targets is a race by definition (PyTorch: undefined);
                # distinct rows per column keep Oclgrind's race reports meaningful
                perm = np.stack([np.random.default_rng(c).permutation(5)[:3] for c in range(13)], 1)
                _try(clnet.scatter, base, 0, clnet.tensor(perm.astype(idt), device=dev), src[:3])
                _try(clnet.scatter_add, base, 0, idx, src[:3])
                rows = clnet.tensor(np.array([4, 0, 2], idt), device=dev)
                check(clnet.index_select(src, 0, rows), a[[4, 0, 2]])
                _try(clnet.index_add, base, 0, rows, src[:3])
                _try(clnet.index_copy, base, 0, rows, src[:3])
                _try(clnet.index_fill, base, 1, rows, 1)
                check(src[rows], a[[4, 0, 2]])
                check(src[rows, rows], a[[4, 0, 2], [4, 0, 2]])
                c = src.clone()
                c[rows] = src[:3]
            mask_np = host("bool", (5, 13), seed=3)
            mask = clnet.tensor(mask_np, device=dev)
            check(clnet.masked_select(src, mask), a[mask_np])
            _try(clnet.masked_fill, src, mask, 1)
            # contiguous with a mask repeating along the leading dims (masked_fill_tail)
            want = np.where(mask_np[1], np.ones((), a.dtype), a)
            check(clnet.masked_fill(src.contiguous(), mask[1], 1), want)
            check(clnet.masked_fill(src.contiguous(), mask[1:2], 1), want)
            check(clnet.nonzero(src), np.argwhere(a))
            check(src[mask], a[mask_np])
    from clnet.ops.index import one_hot          # exported later as nn.functional.one_hot
    for idt in (clnet.int32, clnet.int64):
        labels = clnet.tensor([0, 2, 1, 2, 0, 1, 1], dtype=idt, device=dev)
        check(one_hot(labels, 3), np.eye(3, dtype=np.int64)[[0, 2, 1, 2, 0, 1, 1]])
        check(one_hot(labels[::2], 3), np.eye(3, dtype=np.int64)[[0, 1, 0, 1]])


def deterministic_scatter_add(dev):
    from clnet.ops import index as index_ops
    old = index_ops.DETERMINISTIC_SCATTER_ADD
    index_ops.DETERMINISTIC_SCATTER_ADD = True
    try:
        for name in dtype_names(dev, include_bool=False):
            a = host(name, (4, 7), seed=4)
            for idt in (np.int32, np.int64):
                idx_np = np.array([[0, 1, 0, 3, 2, 1, 0]] * 4, idt)
                out = clnet.scatter_add(clnet.zeros(4, 7, dtype=getattr(clnet, name), device=dev),
                                        1, clnet.tensor(idx_np, device=dev),
                                        clnet.tensor(a, device=dev))
                want = np.zeros((4, 7), a.dtype)
                np.add.at(want, (np.arange(4)[:, None], idx_np), a)
                check(out, want)
    finally:
        index_ops.DETERMINISTIC_SCATTER_ADD = old


CASES = [gather_scatter_family, deterministic_scatter_add]
