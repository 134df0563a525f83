"""Backward (and double backward) of the indexing, joining and sorting ops, against torch.

Linear ops have constant gradients, so second derivatives are checked on ``op(x) ** 2``: its
gradient runs the op's adjoint on a graph that depends on x, and differentiating that again
runs the adjoint's own backward (gather <-> scatter_add, index_select <-> index_add, advanced
indexing <-> accumulate into zeros).

Tolerances: see tests/grad_helpers.py (float32: grads rtol 1e-4 / atol 1e-5, second order
rtol 1e-3 / atol 1e-4).
"""
import time

import numpy as np
import pytest
import torch

import clnet
from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

RNG = np.random.default_rng(1234)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def distinct(*shape):
    """Values with no ties (sorting gradients are then unambiguous)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n).astype(np.float32) / 7 - 3).reshape(shape)


def ints(high, *shape):
    return RNG.integers(0, high, size=shape).astype(np.int64)


def step(a):
    return as_noncontiguous(a, "step")


def transposed(a):
    return as_noncontiguous(a, "transpose")


def sq(y):
    return y * y


# ------------------------------------------------------------------------------ gather / scatter

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_repeated_indices_accumulate(dim):
    x = rand(4, 5)
    idx = np.array([[0, 1, 1, 3, 3], [2, 2, 2, 0, 1], [3, 3, 3, 3, 3]])
    if dim != 0:
        idx = np.array([[0, 0, 4], [1, 1, 1], [2, 3, 2], [4, 4, 0]])
    check_grad_parity(lambda m, x, i: sq(m.gather(x, dim, i)), x, idx, second=True)


def test_gather_noncontiguous_and_3d():
    x = rand(3, 4, 5)
    idx = ints(4, 2, 3, 4)
    check_grad_parity(lambda m, x, i: sq(x.gather(1, i)), x, idx, second=True,
                      layouts=[step, None])
    check_grad_parity(lambda m, x, i: m.gather(x, -2, i), x, idx, layouts=[transposed, step])


def test_take_along_dim_broadcast_and_flat():
    x = rand(3, 1, 6)
    idx = ints(6, 1, 4, 2)
    check_grad_parity(lambda m, x, i: sq(m.take_along_dim(x, i, dim=2)), x, idx, second=True)
    flat = ints(18, 7)
    check_grad_parity(lambda m, x, i: sq(m.take_along_dim(x, i)), x, flat, second=True)


def for_torch(m, s, shape):
    """torch refuses a src gradient for a src larger than the index (its backward returns the
    index's shape); clnet embeds it in zeros. torch gets the src corner that is read, so its
    gradient w.r.t. the full src is the same embedding."""
    return s if m is clnet else s[tuple(slice(0, n) for n in shape)]


def test_scatter_src_and_input_grads():
    x = rand(4, 5)
    idx = np.array([[0, 1, 2, 3, 0], [1, 2, 3, 0, 1]])   # distinct per column
    check_grad_parity(lambda m, x, i, s: sq(m.scatter(x, 0, i, s)), x, idx, rand(2, 5),
                      second=True)
    check_grad_parity(lambda m, x, i, s: x.scatter(-2, i, for_torch(m, s, (2, 5))) * 3, x, idx,
                      rand(3, 6), layouts=[transposed, None, step])
    check_grad_parity(lambda m, x, i, s: sq(x.scatter(0, i, for_torch(m, s, (2, 5)))), x, idx,
                      rand(3, 6), second=True)


def test_scatter_value_form():
    x = rand(4, 5)
    idx = np.array([[0, 1, 2, 3, 0]])
    check_grad_parity(lambda m, x, i: sq(m.scatter(x, 0, i, value=2.5)), x, idx, second=True)


@pytest.mark.parametrize("dim", [0, -1])
def test_scatter_add_repeated_indices(dim):
    x = rand(4, 5)
    src = rand(6, 5) if dim == 0 else rand(4, 7)
    idx = ints(4, 6, 5) if dim == 0 else ints(5, 4, 7)
    check_grad_parity(lambda m, x, i, s: sq(m.scatter_add(x, dim, i, s)), x, idx, src,
                      second=True)


def test_scatter_add_src_bigger_than_index():
    x, src, idx = rand(3, 4), rand(5, 6), ints(3, 2, 4)
    check_grad_parity(lambda m, x, i, s: sq(x.scatter_add(0, i, for_torch(m, s, (2, 4)))), x,
                      idx, src, second=True, layouts=[None, None, step])


# ------------------------------------------------------------------------------ index_* family

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_repeated(dim):
    x = rand(5, 6)
    idx = np.array([4, 0, 0, 2, 4, 4])
    check_grad_parity(lambda m, x, i: sq(m.index_select(x, dim, i)), x, idx, second=True)


def test_index_select_noncontiguous():
    x = rand(4, 7)
    idx = np.array([6, 1, 1])
    check_grad_parity(lambda m, x, i: x.index_select(1, i), x, idx, layouts=[transposed, step])


def test_index_add_grads():
    x, src = rand(5, 3), rand(7, 3)
    idx = ints(5, 7)
    check_grad_parity(lambda m, x, i, s: sq(m.index_add(x, 0, i, s)), x, idx, src, second=True)
    x, src = rand(3, 5), rand(3, 4)
    check_grad_parity(lambda m, x, i, s: sq(x.index_add(-1, i, s)), x, ints(5, 4), src,
                      second=True, layouts=[transposed, None, step])


def test_index_copy_grads():
    x, src = rand(6, 3), rand(3, 3)
    idx = np.array([5, 0, 2])
    check_grad_parity(lambda m, x, i, s: sq(m.index_copy(x, 0, i, s)), x, idx, src, second=True)


def test_index_fill_scalar_and_tensor_value():
    x = rand(4, 6)
    idx = np.array([1, 3, 3])    # a repeated index fills once; the value's grad counts it once
    check_grad_parity(lambda m, x, i: sq(m.index_fill(x, 1, i, -1.5)), x, idx, second=True)
    v = np.array(0.7, dtype=np.float32)
    check_grad_parity(lambda m, x, i, v: sq(x.index_fill(1, i, v)), x, idx, v, second=True)


# ------------------------------------------------------------------------------ masks

def test_masked_fill_broadcast_mask_and_input():
    x = rand(3, 1, 5)
    mask = RNG.random((4, 5)) > 0.5
    check_grad_parity(lambda m, x, k: sq(m.masked_fill(x, k, 0.25)), x, mask, second=True)
    x2 = rand(4, 5)
    check_grad_parity(lambda m, x, k: x.masked_fill(k, 3.0), x2, mask, layouts=[transposed, None])


def test_masked_fill_tensor_value():
    x, v = rand(4, 5), np.array(1.25, dtype=np.float32)
    mask = RNG.random((4, 5)) > 0.4
    check_grad_parity(lambda m, x, k, v: sq(m.masked_fill(x, k, v)), x, mask, v, second=True)


def test_masked_select_broadcast():
    x = rand(3, 4)
    mask = RNG.random((2, 3, 4)) > 0.5
    check_grad_parity(lambda m, x, k: sq(m.masked_select(x, k)), x, mask, second=True)
    check_grad_parity(lambda m, x, k: x.masked_select(k), x, mask[0], layouts=[step, None])


# ------------------------------------------------------------------------------ in-place forms

INPLACE = {
    "scatter_": lambda m, x, s: x.scatter_(1, m.tensor([[0, 2], [1, 1], [3, 0]]), s[:, :2]),
    "scatter_value": lambda m, x, s: x.scatter_(0, m.tensor([[2, 0, 1, 2]]), value=4.0),
    "scatter_add_": lambda m, x, s: x.scatter_add_(1, m.tensor([[0, 0, 0], [1, 3, 1],
                                                              [3, 3, 2]]), s),
    "index_add_": lambda m, x, s: x.index_add_(1, m.tensor([3, 3, 0]), s),
    "index_copy_": lambda m, x, s: x.index_copy_(1, m.tensor([3, 1, 0]), s),
    "index_fill_": lambda m, x, s: x.index_fill_(1, m.tensor([2, 2]), -2.0),
    "masked_fill_": lambda m, x, s: x.masked_fill_(x > 0, 0.5),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_nonleaf(name):
    fn = INPLACE[name]

    def f(m, x, s):
        y = x * 1.5            # a non-leaf that requires grad
        fn(m, y, s * 2)
        return y * y
    check_grad_parity(f, rand(3, 4), rand(3, 3), second=True)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_leaf_requiring_grad_raises(name):
    x = clnet.tensor(rand(3, 4), requires_grad=True)
    s = clnet.tensor(rand(3, 3))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        INPLACE[name](clnet, x, s)


def test_inplace_without_grad_records_nothing():
    x = clnet.tensor(rand(3, 4))
    x.index_add_(1, clnet.tensor([0, 1, 1]), clnet.tensor(rand(3, 3)))
    assert x.grad_fn is None and not x.requires_grad
    with clnet.no_grad():
        y = clnet.tensor(rand(3, 4), requires_grad=True)
        z = y.gather(0, clnet.tensor([[0, 1, 2, 0]]))
        w = y[clnet.tensor([0, 0])]
    assert z.grad_fn is None and w.grad_fn is None


# ------------------------------------------------------------------------------ advanced indexing

GETITEM = {
    "repeated_rows": lambda m, x: x[m.tensor([1, 1, 0, 3, 1])],
    "negative": lambda m, x: x[m.tensor([-1, 0, -1])],
    "two_arrays": lambda m, x: x[m.tensor([0, 2, 2]), m.tensor([1, 1, 4])],
    "broadcast_arrays": lambda m, x: x[m.tensor([[0], [2], [2]]), m.tensor([1, 1, 4])],
    "slice_and_array": lambda m, x: x[1:, m.tensor([4, 0, 4])],
    "int_and_array": lambda m, x: x[2, m.tensor([3, 3])],
    "list_index": lambda m, x: x[[0, 0, 3]],
    "ellipsis_array": lambda m, x: x[..., m.tensor([0, 0, 2])],
    "none_and_array": lambda m, x: x[None, m.tensor([3, 1])],
    "bool_mask": lambda m, x: x[x > 0.2],
    "row_mask": lambda m, x: x[m.tensor([True, False, True, True])],
    "mask_then_slice": lambda m, x: x[m.tensor([False, True, True, False]), 1:4],
    "step_slice_array": lambda m, x: x[::2, m.tensor([[1, 1], [0, 4]])],
}


@pytest.mark.parametrize("name", sorted(GETITEM))
def test_advanced_getitem(name):
    fn = GETITEM[name]
    check_grad_parity(lambda m, x: sq(fn(m, x)), rand(4, 5), second=True)


def test_advanced_getitem_3d_non_adjacent_and_noncontiguous():
    x = rand(3, 4, 5)
    fn = lambda m, x: sq(x[m.tensor([0, 2, 2]), :, m.tensor([4, 4, 1])])   # noqa: E731
    check_grad_parity(fn, x, second=True)
    check_grad_parity(fn, x, layouts=[step])
    check_grad_parity(lambda m, x: x[:, m.tensor([[3, 3], [0, 1]])], x, layouts=[transposed])


EDGE = {
    "0d_mask_true": lambda m, x: x[m.tensor(True)] * x[m.tensor(True)],
    "0d_mask_false": lambda m, x: x[m.tensor(False)],
    "empty_index": lambda m, x: x[m.tensor([], dtype=m.int64)],
    "all_false_mask": lambda m, x: m.masked_select(x, x > 100),
    "index_select_0d_index": lambda m, x: m.index_select(x, 1, m.tensor(3)) ** 2,
    "index_select_0d_input": lambda m, x: m.index_select(x[1, 1], 0, m.tensor([0])) ** 2,
    "gather_0d": lambda m, x: m.gather(x[1, 2], 0, m.tensor(0)) * 3,
    "scatter_add_0d": lambda m, x: m.scatter_add(x[1, 2], 0, m.tensor(0), x[0, 0]) ** 2,
    "topk_0": lambda m, x: m.topk(x, 0).values,
    "sort_rows_of_1": lambda m, x: m.sort(x[:, :1], 1).values * 2,
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_edge_cases(name):
    check_grad_parity(EDGE[name], rand(4, 5), second=True)


def test_empty_indexed_tensors():
    check_grad_parity(lambda m, x: x[m.tensor([1, 1])], np.zeros((3, 0), np.float32))
    check_grad_parity(lambda m, x: x[m.tensor([1, 1]), :0], rand(3, 2))


@pytest.mark.parametrize("fn", [lambda m, x: sq(x[m.tensor([[1, 1], [0, 3]])]),
                                lambda m, x: sq(x[:, m.tensor([2, 2, -1])]),
                                lambda m, x: sq(m.gather(x, 0, m.tensor([[1, 1, 1, 1, 1]]))),
                                lambda m, x: sq(x.index_select(1, m.tensor([0, 0, 4])))])
def test_accumulating_backwards_deterministic_kernel(fn, monkeypatch):
    """The atomic-free scatter-add kernel (DETERMINISTIC_SCATTER_ADD, and the path for dtypes
    without atomics) gives the same gradients."""
    import clnet.ops.index as index_ops
    monkeypatch.setattr(index_ops, "DETERMINISTIC_SCATTER_ADD", True)
    check_grad_parity(fn, rand(4, 5), second=True)
    check_grad_parity(fn, rand(4, 5).astype(np.float64), second=True)


def test_advanced_index_double_backward_wrt_upstream():
    """d/dg of the accumulated gradient is the same advanced index of the incoming gradient."""
    x = clnet.tensor(rand(5, 3), requires_grad=True)
    idx = clnet.tensor([4, 4, 0])
    g = clnet.tensor(rand(3, 3), requires_grad=True)
    gx, = clnet.autograd.grad(x[idx], x, g, create_graph=True)
    v = rand(5, 3)
    gg, = clnet.autograd.grad(gx, g, clnet.tensor(v))
    np.testing.assert_allclose(gg.numpy(), v[[4, 4, 0]], rtol=1e-6)


# ------------------------------------------------------------------------------ setitem

def _assign(index, value_kind):
    def f(m, x, v):
        y = x * 2.0                      # non-leaf target that requires grad
        idx = index(m, y)
        if value_kind == "scalar":
            y[idx] = 0.5
        else:
            y[idx] = v * 3.0
        return y * y
    return f


SETITEM = {   # name: (index(m, y), value shape)
    "slice": (lambda m, y: (slice(1, 3),), (2, 5)),
    "slice_broadcast": (lambda m, y: (slice(None), slice(0, 5, 2)), (3,)),
    "int_row": (lambda m, y: 2, (5,)),
    "leading_one": (lambda m, y: (slice(0, 2),), (1, 2, 5)),
    "array_rows": (lambda m, y: m.tensor([3, 0]), (2, 5)),
    "array_pairs": (lambda m, y: (m.tensor([0, 1, 3]), m.tensor([4, 4, 0])), (3,)),
    "array_broadcast_value": (lambda m, y: (slice(None), m.tensor([1, 3])), (1,)),
    "mask": (lambda m, y: y.detach() > 0, ()),
    "row_mask": (lambda m, y: m.tensor([True, False, False, True]), (5,)),
}


@pytest.mark.parametrize("kind", ["scalar", "tensor"])
@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_target_and_value_grads(name, kind):
    index, vshape = SETITEM[name]
    check_grad_parity(_assign(index, kind), rand(4, 5), rand(*vshape), second=True)


def test_setitem_chain_with_self_reads():
    """Several assignments in a row, a value read from the target itself, then indexing."""
    def f(m, x, v):
        y = x * 1
        y[0] = v[0]
        y[1:] = y[:-1] + 1.0
        y[:, 1] = y[:, 2] + 2
        z = y[m.tensor([0, 0, 3])]
        z[z > 0] = 1.0
        return z * y[1:, None].sum()
    check_grad_parity(f, rand(4, 5), rand(4, 5), second=True)


def test_setitem_value_only_requires_grad():
    def f(m, v):
        y = m.zeros(4, 5)
        y[1:3, m.tensor([0, 4])] = v
        y[0] = v[0, 1] * 2
        return y * y
    check_grad_parity(f, rand(2, 2), second=True)


def test_setitem_mask_zero_relu_pattern():
    """The tutorial custom ReLU: grad_input = grad_output.clone(); grad_input[input < 0] = 0."""
    def f(m, x, g):
        gi = (g * 1.0).clone()
        gi[x.detach() < 0] = 0
        return gi * x
    check_grad_parity(f, rand(6, 7), rand(6, 7), second=True)


def test_setitem_repeated_indices_value_grad_counts_each():
    # the last write wins in the output, but (as in PyTorch) every index element's value gets g
    def f(m, x, v):
        y = x + 0.0
        y[m.tensor([1, 1, 2])] = v
        return y
    x, v = rand(4, 3), rand(3, 3)
    v[0] = v[1]   # equal values make the surviving write irrelevant to the forward
    check_grad_parity(f, x, v)


def test_setitem_on_leaf_and_on_view_raise():
    x = clnet.tensor(rand(3, 4), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x[0] = 1.0
    with pytest.raises(RuntimeError, match="view"):
        x[0][1] = 2.0
    with pytest.raises(RuntimeError, match="view"):
        x[1:][x[1:] > 0] = 0.0


def test_setitem_without_grad_costs_no_node():
    x = clnet.tensor(rand(3, 4))
    x[x > 0] = 0.0
    x[0, 1:3] = clnet.tensor([1.0, 2.0])
    assert x.grad_fn is None and not x.requires_grad


def test_setitem_saved_index_modified_raises():
    x = clnet.tensor(rand(5, 2), requires_grad=True)
    y = x * 1.0
    idx = clnet.tensor([0, 3])
    y[idx] = 0.0
    idx.index_fill_(0, clnet.tensor([0]), 1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ------------------------------------------------------------------------------ joining

def test_cat_family():
    a, b, c = rand(2, 3), rand(4, 3), rand(1, 3)
    check_grad_parity(lambda m, a, b, c: sq(m.cat([a, b, c])), a, b, c, second=True,
                      layouts=[None, transposed, step])
    check_grad_parity(lambda m, a, b: sq(m.cat([a, b], dim=-1)), rand(3, 2), rand(3, 4),
                      second=True)
    check_grad_parity(lambda m, a, b: m.concat((a, b), 1) * 2, rand(3, 2), rand(3, 4))
    check_grad_parity(lambda m, a, b: m.concatenate([a, b]), rand(1, 2), rand(3, 2))
    # a (0,) tensor is skipped by cat, yet still an input
    check_grad_parity(lambda m, a, e: m.cat([a, e]), rand(3), np.zeros(0, np.float32))


def test_cat_mixed_dtypes_casts_grads_back():
    check_grad_parity(lambda m, a, b: sq(m.cat([a, b])), rand(2, 3), rand(1, 3).astype(np.float64),
                      second=True)


def test_stack_family():
    a, b = rand(2, 3), rand(2, 3)
    for fn in (lambda m, a, b: m.stack([a, b]), lambda m, a, b: m.stack([a, b], dim=-1),
               lambda m, a, b: m.hstack([a, b]), lambda m, a, b: m.vstack([a, b]),
               lambda m, a, b: m.dstack([a, b])):
        check_grad_parity(lambda m, a, b: sq(fn(m, a, b)), a, b, second=True)
    check_grad_parity(lambda m, a, b: m.hstack([a, b]), rand(3), rand(2))
    check_grad_parity(lambda m, a, b: m.vstack([a, b]), rand(3), rand(3))


def test_repeat_and_tile():
    x = rand(2, 3)
    check_grad_parity(lambda m, x: sq(x.repeat(2, 1, 3)), x, second=True, layouts=[transposed])
    check_grad_parity(lambda m, x: x.repeat(1, 1), x)
    check_grad_parity(lambda m, x: x.repeat(0, 2), x)
    check_grad_parity(lambda m, x: sq(m.tile(x, (3,))), x, second=True)
    check_grad_parity(lambda m, x: m.tile(x, (2, 1, 2)), x, layouts=[step])


def test_flip_family():
    x = rand(3, 4, 2)
    check_grad_parity(lambda m, x: sq(m.flip(x, (0, -1))), x, second=True, layouts=[step])
    check_grad_parity(lambda m, x: sq(m.fliplr(x)), x, second=True)
    check_grad_parity(lambda m, x: m.flipud(x), x, layouts=[transposed])


def test_roll():
    x = rand(3, 5)
    check_grad_parity(lambda m, x: sq(m.roll(x, 2, 1)), x, second=True)
    check_grad_parity(lambda m, x: sq(m.roll(x, (-1, 7), (0, -1))), x, second=True,
                      layouts=[transposed])
    check_grad_parity(lambda m, x: sq(x.roll(4)), x, second=True)


def test_repeat_interleave():
    x = rand(3, 4)
    check_grad_parity(lambda m, x: sq(x.repeat_interleave(3, dim=1)), x, second=True)
    check_grad_parity(lambda m, x: sq(m.repeat_interleave(x, 2)), x, second=True,
                      layouts=[transposed])
    check_grad_parity(lambda m, x: sq(x.repeat_interleave(m.tensor([2, 0, 3]), dim=0)), x,
                      second=True)
    check_grad_parity(lambda m, x: x.repeat_interleave(0, dim=-1), x)


# ------------------------------------------------------------------------------ sorting

@pytest.mark.parametrize("dim,descending", [(-1, False), (0, True), (1, False)])
def test_sort_values_grad(dim, descending):
    x = distinct(4, 6)
    check_grad_parity(lambda m, x: sq(m.sort(x, dim=dim, descending=descending).values), x,
                      second=True)
    check_grad_parity(lambda m, x: x.sort(dim, descending), x, layouts=[transposed])


def test_sort_ties_stable():
    x = np.array([[1, 3, 1, 2, 3, 1], [0, 0, 0, 5, 5, 0]], dtype=np.float32)
    w = rand(2, 6)
    check_grad_parity(lambda m, x: m.sort(x, stable=True).values * m.tensor(w), x)
    check_grad_parity(lambda m, x: m.sort(x, dim=1, descending=True, stable=True).values
                      * m.tensor(w), x)


def test_msort_and_argsort():
    x = distinct(5, 3)
    check_grad_parity(lambda m, x: sq(m.msort(x)), x, second=True)
    a = clnet.tensor(x, requires_grad=True)
    assert clnet.argsort(a).grad_fn is None and not clnet.argsort(a).requires_grad


@pytest.mark.parametrize("k,dim,largest", [(3, -1, True), (1, 0, False), (4, 0, True)])
def test_topk_values_grad(k, dim, largest):
    x = distinct(4, 7)
    check_grad_parity(lambda m, x: sq(m.topk(x, k, dim=dim, largest=largest).values), x,
                      second=True, layouts=[step])


def test_sort_0d_and_unique_not_differentiable():
    check_grad_parity(lambda m, x: m.sort(x).values * 2, np.array(1.5, dtype=np.float32))
    u = clnet.unique(clnet.tensor([3.0, 1.0, 3.0], requires_grad=True))
    assert u.grad_fn is None and not u.requires_grad


# ------------------------------------------------------------------------------ embedding speed

def test_embedding_backward_speed_vs_torch():
    """weight[idx] with idx (32, 64) into a (100, 64) weight: the backward (accumulating 2048
    rows) must stay within a small factor of torch's CPU time (after a warm-up)."""
    w_np, idx_np = rand(100, 64), ints(100, 32, 64)
    w = clnet.tensor(w_np, requires_grad=True)
    idx = clnet.tensor(idx_np)
    up = clnet.tensor(rand(32, 64, 64))
    tw = torch.tensor(w_np, requires_grad=True)
    tidx, tup = torch.tensor(idx_np), torch.tensor(up.numpy())

    def run_clnet():
        g, = clnet.autograd.grad(w[idx], w, up)
        return g.numpy()

    def run_torch():
        g, = torch.autograd.grad(tw[tidx], tw, tup)
        return g.numpy()

    np.testing.assert_allclose(run_clnet(), run_torch(), rtol=1e-4, atol=1e-4)
    times = {}
    for name, fn in (("clnet", run_clnet), ("torch", run_torch)):
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        times[name] = sorted(ts)[2]
    print(f"embedding backward: clnet {times['clnet'] * 1e3:.2f} ms, "
          f"torch {times['torch'] * 1e3:.2f} ms")
    assert times["clnet"] < 0.25, times
