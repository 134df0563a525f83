"""Inputs for the kernel sweep: every dtype, edge sizes, contiguous and strided layouts."""
import numpy as np

import clnet

# clnet dtype name -> numpy dtype; float64 only where the device has fp64
DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
          "bool": np.bool_}
# 1, a prime, around the 64-wide work-group and the 4-wide vectors, plus a 2-D shape
EDGE_SHAPES = [(1,), (7,), (65,), (5, 13)]


def dtype_names(dev, include_bool=True):
    names = [n for n in DTYPES if n != "float64" or dev.has_fp64]
    return names if include_bool else [n for n in names if n != "bool"]


def host(name, shape, seed=0, low=-3, high=3, nonzero=False):
    """A numpy array of clnet dtype ``name``; ``nonzero`` avoids zeros (divisors)."""
    rng = np.random.default_rng(seed)
    dt = DTYPES[name]
    if name == "bool":
        a = rng.random(shape) < 0.5
        return np.ones(shape, dt) if nonzero else a
    if np.dtype(dt).kind == "f":
        a = rng.uniform(low, high, shape).astype(dt)
    else:
        a = rng.integers(low, high + 1, shape).astype(dt)
    if nonzero:
        a[a == 0] = 1
    return a


def strided(a, dev):
    """A non-contiguous clnet tensor equal to ``a``: every other element of a larger tensor."""
    big = np.zeros((a.size * 2,) if a.ndim <= 1 else a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
    if a.ndim == 0:
        return clnet.tensor(a, device=dev)
    big[..., ::2] = a
    return clnet.tensor(big, device=dev)[..., ::2]


def layouts(a, dev):
    """``a`` as a contiguous and as a strided clnet tensor (the ``_c`` and ``_n`` kernel paths)."""
    return [clnet.tensor(a, device=dev), strided(a, dev)]


def check(t, expected, rtol=1e-4, atol=1e-5):
    got = t.numpy()
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if got.dtype.kind == "f" or expected.dtype.kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def each_tuning(dev, key, values):
    """Iterate with ``dev.tuning[key]`` forced to each of ``values`` in turn (a family's CPU and
    GPU layouts: Oclgrind reports a GPU, PoCL a CPU); the device's own is restored afterwards."""
    saved = dev.tuning.get(key)
    try:
        for v in values:
            dev.tuning[key] = v
            yield v
    finally:
        dev.tuning.pop(key, None)
        if saved is not None:
            dev.tuning[key] = saved
