"""In-place ops on views under autograd, against PyTorch: the op's node, the base's CopySlices,
the view's AsStridedBackward0, and views whose base changed after they were taken (their history
is rebuilt from the base's). Values and first derivatives compared with torch; second
derivatives through an in-place view op; PyTorch's errors where PyTorch refuses.

float32 tolerances: rtol 1e-5, atol 1e-6 (a few elementwise ops per element)."""
import numpy as np
import pytest
import torch

import clnet

TOL = dict(rtol=1e-5, atol=1e-6)


def both(fn, *arrays):
    """Run ``fn(m, *leaves)`` for m = clnet and torch with the same float32 leaves; returns the
    outputs and the leaves' gradients of ``(out * out).sum()`` (a non-uniform upstream
    gradient), compared with torch's."""
    results = []
    for m in (clnet, torch):
        leaves = [m.tensor(a, requires_grad=True) for a in arrays]
        out = fn(m, *leaves)
        (out * out).sum().backward()
        results.append((out.detach().numpy(),
                        [None if x.grad is None else x.grad.numpy() for x in leaves]))
    (c_out, c_grads), (t_out, t_grads) = results
    np.testing.assert_allclose(c_out, t_out, **TOL)
    for cg, tg in zip(c_grads, t_grads):
        assert (cg is None) == (tg is None)
        if cg is not None:
            np.testing.assert_allclose(cg, tg, **TOL)


def data(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------ in-place on a view
CASES = {
    "augmented assignment on a column": lambda m, x: _aug_column(m, x),
    "mul_ of a row by another view": lambda m, x: _mul_rows(m, x),
    "view of a view": lambda m, x: _view_of_view(m, x),
    "transposed view": lambda m, x: _transposed(m, x),
    "step slice": lambda m, x: _step(m, x),
    "flat view add_": lambda m, x: _flat(m, x),
    "unary in-place ops": lambda m, x: _unary(m, x),
    "setitem through a view": lambda m, x: _setitem_view(m, x),
    "copy_ from another tensor": lambda m, x: _copy_in(m, x),
    "clamp_ and zero_": lambda m, x: _clamp_zero(m, x),
    "overlapping views": lambda m, x: _overlap(m, x),
}


def _aug_column(m, x):
    y = x * 1.5
    y[:, 1] += 1
    y[:, 2] *= y[:, 0].clone()
    return y


def _mul_rows(m, x):
    y = x.exp()
    y = y + 0
    y[0].mul_(x[1])
    return y


def _view_of_view(m, x):
    y = x * 2
    y[1:][0].add_(x[0] * x[0])
    return y


def _transposed(m, x):
    y = x.tanh() * 1
    y.t()[1].mul_(3)
    return y


def _step(m, x):
    y = x + 1
    y[::2, ::3].mul_(-2)
    return y


def _flat(m, x):
    y = x * x
    y.view(-1)[2:7].add_(x.reshape(-1)[:5])
    return y


def _unary(m, x):
    y = x * 1
    y[:, 0].neg_()
    y[1, 1:].abs_()
    y[0].sigmoid_()       # last: sigmoid saves its output, which a later in-place op would change
    return y


def _setitem_view(m, x):
    y = x * 1
    v = y[1:]
    v[0, :2] = x[0, 1:3] * 4
    return y


def _copy_in(m, x):
    buf = m.zeros(x.shape[0] + 1, x.shape[1])
    buf[1:].copy_(x * 3)
    buf[0].copy_(x[0] ** 2)
    return buf


def _clamp_zero(m, x):
    y = x * 2
    y[0].clamp_(-0.5, 0.5)
    y[1:, 3].zero_()
    return y


def _overlap(m, x):
    y = x * 1
    a, b = y[0:2], y[1:3]
    a.mul_(2)
    b.add_(a.sum(0))          # b overlaps a's second row, changed above
    return y


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("shape", [(3, 5), (4, 7)])
def test_inplace_on_view_matches_torch(case, shape, rng):
    both(CASES[case], data(rng, *shape))


def test_node_names_and_graph():
    x = clnet.ones(3, requires_grad=True)
    y = x * 1
    v = y[:2]
    v.mul_(2)
    assert type(y.grad_fn).__name__ == "CopySlices"
    assert type(v.grad_fn).__name__ == "AsStridedBackward0"
    (base_prev, _), (op_node, _) = y.grad_fn.next_functions
    assert type(base_prev).__name__ == "MulBackward0" and type(op_node).__name__ == "MulBackward0"


# ------------------------------------------------------------------ views taken before a change
def test_view_taken_before_inplace_on_base_sees_the_change(rng):
    def fn(m, x):
        y = x * 2
        a = y[0]                  # taken before the in-place op on y
        y.mul_(3)
        return a * a
    both(fn, data(rng, 2, 3))


def test_view_taken_before_inplace_on_another_view(rng):
    def fn(m, x):
        y = x.sin() * 1
        col = y[:, 1]
        y[1].mul_(5)              # changes col[1]
        return col * 2
    both(fn, data(rng, 3, 4))


def test_row_of_buffer_that_becomes_differentiable(rng):
    def fn(m, w):
        buf = m.zeros(3, 3)
        buf[1].copy_(w[0] * 2)
        buf[2].copy_(w[1] ** 2)
        return buf.sum(0) * m.tensor([1.0, 2.0, 3.0])
    both(fn, data(rng, 2, 3))


# ------------------------------------------------------------------ higher order, errors
def test_second_derivative_through_inplace_view():
    def grads(m):
        x = m.tensor([0.5, -1.0, 2.0, 1.5], requires_grad=True)
        y = x * x
        y[1:3].mul_(x[1:3])
        g, = m.autograd.grad((y * y).sum(), x, create_graph=True)
        gg, = m.autograd.grad(g.sum(), x)
        return g.detach().numpy(), gg.numpy()
    for c, t in zip(grads(clnet), grads(torch)):
        np.testing.assert_allclose(c, t, **TOL)


def test_saved_tensor_modified_through_a_view_still_raises():
    for m in (clnet, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()               # ExpBackward saves its result
        y[0].mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_view_of_leaf_and_no_grad_view_are_refused():
    x = clnet.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[:2].add_(1)
    y = x * 2
    with clnet.no_grad():
        v = y[:2]
    with pytest.raises(RuntimeError, match="no_grad mode"):
        v.mul_(2)
    with clnet.no_grad():         # under no_grad nothing is recorded, as in torch
        y[:2].mul_(2)
    np.testing.assert_allclose(y.detach().numpy(), [4.0, 4.0, 2.0])


def test_no_grad_view_stays_out_of_the_graph():
    x = clnet.ones(3, requires_grad=True)
    y = x * 2
    with clnet.no_grad():
        v = y[:2]
    y.mul_(3)
    assert not (v * 2).requires_grad


def test_custom_function_marking_a_view_dirty():
    """A custom Function that changes a view of its input in place (ctx.mark_dirty): the base's
    history is rebased as for clnet's own in-place ops, as in torch."""
    def run(m):
        class Scale(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x.mul_(3)

            @staticmethod
            def backward(ctx, g):
                return g * 3
        x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        y = x * 1
        out = Scale.apply(y[:, 1])
        ((y * y).sum() + out.sum()).backward()
        return y.detach().numpy(), x.grad.numpy()
    for c, t in zip(run(clnet), run(torch)):
        np.testing.assert_allclose(c, t, **TOL)
