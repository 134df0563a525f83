"""Oracle helpers: compare clnet tensors with numpy (and torch) results, build awkward layouts."""
import numpy as np
from hypothesis import strategies as st

import clnet

# float32 tolerances used across the suite unless a test states its own
RTOL32, ATOL32 = 1e-5, 1e-6
EDGE_SIZES = [0, 1, 2, 3, 7, 13, 63, 64, 65, 127, 257]   # 0, 1, primes, around work-group sizes


def assert_close(actual, expected, rtol=RTOL32, atol=ATOL32, check_dtype=True):
    """``actual`` a clnet tensor; ``expected`` a numpy array (or torch tensor)."""
    if hasattr(expected, "detach"):
        expected = expected.detach().cpu().numpy()
    expected = np.asarray(expected)
    assert isinstance(actual, clnet.Tensor), f"expected a clnet.Tensor, got {type(actual)}"
    got = actual.numpy()
    assert tuple(got.shape) == tuple(expected.shape), f"shape {got.shape} != {expected.shape}"
    if check_dtype:
        assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    if got.dtype.kind in "fc" or expected.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def random_array(rng, shape, dtype=np.float32, low=-3.0, high=3.0):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(low, high, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(size=shape) < 0.5
    return rng.integers(int(low) * 3, int(high) * 3 + 1, size=shape).astype(dtype)


def as_noncontiguous(a, kind="step"):
    """A clnet tensor equal to numpy ``a`` but laid out without contiguity.

    kind='step': a strided slice of a larger tensor; kind='transpose': a transposed copy viewed back;
    kind='offset': a view starting at a nonzero storage offset."""
    if kind == "step":
        big = np.zeros(tuple(s * 2 for s in a.shape) or (2,), dtype=a.dtype)
        sl = tuple(slice(None, None, 2) for _ in a.shape)
        big[sl] = a
        t = clnet.tensor(big)
        out = t[sl] if a.shape else t[0]
    elif kind == "transpose":
        if a.ndim < 2:
            return as_noncontiguous(a, "step")
        t = clnet.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)))
        out = t.transpose(-1, -2)
    elif kind == "offset":
        flat = np.concatenate([np.zeros(5, dtype=a.dtype), a.ravel()])
        out = clnet.tensor(flat)[5:].view(a.shape)
    else:
        raise ValueError(kind)
    assert out.shape == a.shape
    np.testing.assert_array_equal(out.numpy(), a)
    return out


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=9):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)
