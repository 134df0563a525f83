"""cumsum / cumprod against numpy. float32 tolerance for cumsum: atol = 1e-5 * cumsum(|x|) along
the dim (bounds any summation order); cumprod: rtol 1e-5; integers exactly."""
import numpy as np
import pytest
import torch

import clnet
from tests.helpers import as_noncontiguous, assert_close, random_array

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _check_cumsum(got, x, dim):
    expected = np.cumsum(x, axis=dim, dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    if x.dtype.kind == "f":
        tol = 1e-5 * np.max(np.cumsum(np.abs(x.astype(np.float64)), axis=dim), initial=0) + 1e-6
        assert_close(got, expected.astype(x.dtype), rtol=0, atol=tol)
    else:
        assert_close(got, expected)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("kind", [None, "step", "transpose"])
def test_cumsum_cumprod_every_dim(rng, dt, kind):
    x = random_array(rng, (4, 7, 5), dt, low=-1.2, high=1.2)
    t = clnet.tensor(x) if kind is None else as_noncontiguous(x, kind)
    for dim in range(-3, 3):
        _check_cumsum(t.cumsum(dim), x, dim)
        ref = torch.cumprod(torch.from_numpy(x), dim).numpy()
        assert_close(clnet.cumprod(t, dim), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 257, 40000, 1 << 20])
def test_cumsum_long_lines_use_chunks(rng, n):
    x = random_array(rng, (n,), np.float32)
    _check_cumsum(clnet.cumsum(clnet.tensor(x), 0), x, 0)
    xi = random_array(rng, (2, n), np.int32)
    _check_cumsum(clnet.cumsum(clnet.tensor(xi), 1), xi, 1)
    p = (1 + random_array(rng, (n,), np.float64, low=-1e-3, high=1e-3))
    assert_close(clnet.cumprod(clnet.tensor(p), 0), np.cumprod(p), rtol=1e-10)


def test_dtype_rules_and_argument():
    b = clnet.tensor([True, True, False])
    assert_close(b.cumsum(0), np.array([1, 2, 2], np.int64))
    i = clnet.tensor([1, 2, 3], dtype=clnet.int32)
    assert i.cumprod(0).dtype is clnet.int64
    assert clnet.cumsum(i, 0, dtype=clnet.int32).dtype is clnet.int32
    assert_close(clnet.cumsum(i, 0, dtype=clnet.float64), np.array([1.0, 3.0, 6.0]))
    s = clnet.tensor(2.5)
    assert s.cumsum(0).shape == () and s.cumsum(0).item() == 2.5
    assert clnet.cumsum(clnet.zeros(2, 0), 1).shape == (2, 0)


def test_errors():
    with pytest.raises(IndexError, match="Dimension out of range"):
        clnet.zeros(2, 3).cumsum(2)
    with pytest.raises(TypeError, match="must be a Tensor"):
        clnet.cumsum([1, 2], 0)
