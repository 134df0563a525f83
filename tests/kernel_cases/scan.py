"""cl_kernels/scan.cl: cumsum and cumprod of every dtype, one work-item per line (inner and outer
dims, strided and 0-d inputs) and the three-pass chunked path for few long lines, which the
device's tuning (``reduce.items``, ``reduce.min_chunk``) normally keeps for long rows: it is
forced here on rows of 50."""
import numpy as np

import clnet

from ._util import check, dtype_names, host, strided
from .reduce import forced_layout


def _ref(op, a, dim):
    acc = a.dtype if a.dtype.kind == "f" else np.int64
    return getattr(np, op)(a, dim, dtype=acc).reshape(a.shape)   # 0-d stays 0-d (PyTorch)


def _check_scan(op, a, t, dim, name):
    rtol = 1e-4 if name == "float32" else 1e-9
    check(getattr(clnet, op)(t, dim), _ref(op, a, dim), rtol=rtol, atol=1e-5)


def _inputs(name, shape, seed):
    """Values whose products stay small: cumprod of floats in [0.5, 1.5], integers in [-2, 2]."""
    if name in ("float32", "float64"):
        return host(name, shape, seed=seed, low=0.5, high=1.5)
    return host(name, shape, seed=seed, low=-2, high=2)


def lines(dev):
    for name in dtype_names(dev):
        a = _inputs(name, (5, 13), seed=21)
        for op in ("cumsum", "cumprod"):
            for t in (clnet.tensor(a, device=dev), strided(a, dev)):
                _check_scan(op, a, t, 0, name)
                _check_scan(op, a, t, 1, name)
            v = _inputs(name, (65,), seed=22)
            _check_scan(op, v, clnet.tensor(v, device=dev), 0, name)
            s = _inputs(name, (), seed=23)
            _check_scan(op, s, clnet.tensor(s, device=dev), 0, name)


def chunked(dev):
    with forced_layout(dev, items=1 << 20, min_chunk=4):
        for name in dtype_names(dev):
            a = _inputs(name, (3, 50), seed=24)
            for op in ("cumsum", "cumprod"):
                _check_scan(op, a, clnet.tensor(a, device=dev), 1, name)
                _check_scan(op, a, strided(a, dev), 1, name)
    # an int32 result through dtype= (a cast after the long scan)
    a = host("int32", (7,), seed=25)
    check(clnet.cumsum(clnet.tensor(a, device=dev), 0, dtype=clnet.int32),
          np.cumsum(a, dtype=np.int32))


CASES = [lines, chunked]
