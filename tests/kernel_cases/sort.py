"""cl_kernels/sort.cl: sort (local and global merges), argsort, topk and unique of every dtype,
sizes below, at and above one sort chunk, strided inputs."""
import numpy as np

import clnet

from ._util import check, dtype_names, host, strided


def sorting_ops(dev):
    for name in dtype_names(dev):
        for shape in [(1,), (7,), (65,), (3, 300), (2100,)]:
            a = host(name, shape, seed=1)
            for t in (clnet.tensor(a, device=dev), strided(a, dev)):
                values, _ = clnet.sort(t, dim=-1, stable=True)
                check(values, np.sort(a, axis=-1, kind="stable"))
                clnet.sort(t, dim=-1, descending=True)
                clnet.argsort(t, dim=-1)
                if name != "bool":
                    clnet.topk(t, min(3, shape[-1]), dim=-1)
                u = clnet.unique(t)
                check(u, np.unique(a))
                clnet.unique(t, return_inverse=True, return_counts=True)


CASES = [sorting_ops]
