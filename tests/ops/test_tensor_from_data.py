"""clnet.tensor(data) from Python numbers and nested lists, against torch.tensor: the inferred
dtype, and the values kept at the requested precision (a float64 request from Python floats
holds the exact doubles, not float32's rounding of them). Compared exactly."""
from collections import deque

import numpy as np
import pytest
import torch

import clnet

DATA = [0.7, [0.7, 1e-30, 3.141592653589793], [[1, 2.5], [3, 4]], [1, 2, 3], [True, False], 2.5,
        7, [[0.1] * 3] * 2, deque([0.5, 1.5, 2.0]), range(4), [deque([1, 2]), deque([3, 4])]]


@pytest.mark.parametrize("data", DATA, ids=str)
@pytest.mark.parametrize("dtype", [None, "float64", "float32", "int64"])
def test_tensor_from_python_data_matches_torch(data, dtype):
    c = clnet.tensor(data, dtype=getattr(clnet, dtype) if dtype else None)
    t = torch.tensor(data, dtype=getattr(torch, dtype) if dtype else None)
    assert c.dtype.name == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(c.numpy(), t.numpy())


def test_float64_request_keeps_the_python_doubles():
    assert clnet.tensor([0.7], dtype=clnet.float64).numpy()[0] == 0.7
    assert clnet.tensor(0.1, dtype=clnet.float64).numpy() == 0.1
    assert clnet.tensor([[0.1, 0.2]], dtype=clnet.float64).numpy()[0, 1] == 0.2
