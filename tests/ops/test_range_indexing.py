"""Python ranges, lists and tuples as subscripts, reading and writing, against torch (values and
gradients), including torch's rule that a list holding a slice, None, a tensor or a sequence is a
tuple of indices."""
import warnings

import numpy as np
import pytest
import torch

import clnet
from helpers import as_noncontiguous, assert_close

# Subscripts written once for both libraries: T stands for the library's tensor constructor.
READS = [
    "range(5), y",                      # the cross-entropy idiom: x[range(n), y]
    "range(5)",
    "range(1, 5, 2)",
    "range(0)",
    "range(-2, 0)",
    "[0, 2]",
    "[4, 0, 4]",                        # repeats: the gradient adds up
    "[True, False, True, True, False]",
    ":, range(1, 6, 2)",
    "range(2), 1:6:2",
    "[0, 2], range(2)",
    "range(3), T([0, 6, 2]), 1",
    "(0, 1),",
    "(0, 3), 2",
    "..., range(2)",
    "None, range(3), 0",
]
# list subscripts that torch reads as a tuple of indices (with its deprecation warning)
LIST_AS_TUPLE = [
    "[[0, 1], [2, 3]]",
    "[0, slice(None)]",
    "[range(3), [1, 2, 3]]",
    "[0, None]",
    "[T([1, 2]), T([0, 6])]",
]


class _Subscript:
    def __getitem__(self, idx):
        return idx


def _index(expr, T, y):
    """The subscript exactly as ``x[expr]`` passes it to ``__getitem__``."""
    return eval(f"S[{expr}]", {"S": _Subscript(), "T": T, "y": y})


def _pair(rng, layout):
    a = rng.standard_normal((5, 7, 3)).astype(np.float32)
    x = clnet.tensor(a) if layout == "contiguous" else as_noncontiguous(a, layout)
    return a, x


@pytest.mark.parametrize("layout", ["contiguous", "step", "transpose"])
@pytest.mark.parametrize("expr", READS + LIST_AS_TUPLE)
def test_read_matches_torch_with_gradient(rng, expr, layout):
    a, x = _pair(rng, layout)
    y = [1, 0, 6, 2, 3]
    ct = (_index(expr, lambda v: clnet.tensor(v), clnet.tensor(y)))
    tt = (_index(expr, lambda v: torch.tensor(v), torch.tensor(y)))
    xr = x.detach().requires_grad_(True)
    xt = torch.tensor(a, requires_grad=True)
    with warnings.catch_warnings(record=True) as cw:
        warnings.simplefilter("always")
        out = xr[ct]
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        ref = xt[tt]
    assert_close(out, ref.detach().numpy())
    # the same deprecation warning (or none) as torch
    assert [w.category for w in cw] == [w.category for w in tw]
    assert [str(w.message)[:60] for w in cw] == [str(w.message)[:60] for w in tw]
    g = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    out.backward(clnet.tensor(g))
    ref.backward(torch.tensor(g))
    assert_close(xr.grad, xt.grad.numpy())


# (repeated positions are left out: torch leaves which write wins unspecified)
@pytest.mark.parametrize("expr", [e for e in READS + LIST_AS_TUPLE if e != "[4, 0, 4]"])
def test_write_matches_torch_with_gradients(rng, expr):
    a = rng.standard_normal((5, 7, 3)).astype(np.float32)
    y = [1, 0, 6, 2, 3]
    ct = (_index(expr, lambda v: clnet.tensor(v), clnet.tensor(y)))
    tt = (_index(expr, lambda v: torch.tensor(v), torch.tensor(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape = tuple(torch.tensor(a)[tt].shape)
    v = rng.standard_normal(shape).astype(np.float32)
    base_c = clnet.tensor(a, requires_grad=True)
    base_t = torch.tensor(a, requires_grad=True)
    val_c = clnet.tensor(v, requires_grad=True)
    val_t = torch.tensor(v, requires_grad=True)
    xc, xt = base_c * 1, base_t * 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xc[ct] = val_c
        xt[tt] = val_t
    assert_close(xc, xt.detach().numpy())
    g = rng.standard_normal(a.shape).astype(np.float32)
    xc.backward(clnet.tensor(g))
    xt.backward(torch.tensor(g))
    assert_close(base_c.grad, base_t.grad.numpy())
    assert_close(val_c.grad, val_t.grad.numpy())


def test_scalar_writes_and_int_tensors():
    x = clnet.zeros(4, 5, dtype=clnet.int64)
    t = torch.zeros(4, 5, dtype=torch.int64)
    x[range(4), [4, 3, 2, 1]] = 7
    t[range(4), [4, 3, 2, 1]] = 7
    x[[0, 3], 1:4] = -2
    t[[0, 3], 1:4] = -2
    x[range(1, 3)] += 1
    t[range(1, 3)] += 1
    assert_close(x, t.numpy())


def test_out_of_range_python_indices_raise_like_torch():
    x = clnet.zeros(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[range(4)]
    with pytest.raises(IndexError, match="out of bounds"):
        x[range(3), [0, 1, 4]] = 1.0
    with pytest.raises(IndexError, match="out of bounds"):
        torch.zeros(3, 4)[range(4)]


def test_long_lists_stay_one_index_array():
    # torch's tuple rule stops at 32 items: a long list of lists is a 2-D index array
    a = np.arange(40 * 2, dtype=np.float32).reshape(40, 2)
    idx = [[i % 40, (i + 1) % 40] for i in range(33)]
    assert_close(clnet.tensor(a)[idx], torch.tensor(a)[idx].numpy())
