"""The autograd engine and its PyTorch API: backward/grad, accumulation, retain_graph, hooks,
retain_grad, grad modes, version counters, deep graphs, anomaly mode, error messages."""
import numpy as np
import pytest
import torch

import clnet
from clnet import autograd


def leaf(values):
    return clnet.tensor(np.asarray(values, dtype=np.float32), requires_grad=True)


def test_leaf_flags_and_grad_fn_names():
    x = leaf([1.0, 2.0])
    assert x.is_leaf and x.requires_grad and x.grad_fn is None and x.grad is None
    y = x * 2
    assert not y.is_leaf and y.requires_grad
    assert type(y.grad_fn).__name__ == "MulBackward0" and y.grad_fn.name() == "MulBackward0"
    (node, idx), (none, _) = y.grad_fn.next_functions
    assert type(node).__name__ == "AccumulateGrad" and node.variable is x and none is None
    assert "grad_fn=<MulBackward0>" in repr(y)
    assert "requires_grad=True" in repr(x)
    z = clnet.tensor([1.0]) * 2
    assert not z.requires_grad and z.grad_fn is None


def test_gradients_accumulate_until_zeroed():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).backward(clnet.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])
    (x * 3).backward(clnet.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), [5.0, -1.0, 9.0])
    x.grad = None
    (x * 3).backward(clnet.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_a_leaf_used_twice_gets_the_summed_gradient():
    x = leaf([2.0])
    y = x * x + x.exp() * x
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 2 + np.exp(2) * 3], rtol=1e-6)


def test_implicit_gradient_only_for_scalars():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(clnet.ones(3))


def test_backward_twice_needs_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x)
    y.backward(clnet.ones(2), retain_graph=True)
    y.backward(clnet.ones(2))
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))),
                               rtol=1e-5)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward(clnet.ones(2))


def test_no_grad_for_tensor_that_does_not_require_it():
    with pytest.raises(RuntimeError, match="does not require grad"):
        clnet.ones(2).backward(clnet.ones(2))


def test_autograd_grad_api():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    z = x * y + x
    gx, gy = autograd.grad(z, (x, y), clnet.ones(2))
    np.testing.assert_allclose(gx.numpy(), [4.0, 5.0])
    np.testing.assert_allclose(gy.numpy(), [1.0, 2.0])
    assert x.grad is None and y.grad is None          # grad() does not accumulate
    unused = leaf([0.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        autograd.grad(x * 2, (x, unused), clnet.ones(2))
    g, none = autograd.grad(x * 2, (x, unused), clnet.ones(2), allow_unused=True)
    assert none is None
    g, zeros = autograd.grad(x * 2, (x, unused), clnet.ones(2), materialize_grads=True)
    assert zeros.tolist() == [0.0]
    # gradient w.r.t. a non-leaf
    h = x * 3
    out = h * h
    gh, = autograd.grad(out, h, clnet.ones(2))
    np.testing.assert_allclose(gh.numpy(), [6.0, 12.0])


def test_backward_inputs_restricts_accumulation():
    x, y = leaf([1.0]), leaf([2.0])
    (x * y).backward(inputs=[x])
    assert x.grad.tolist() == [2.0] and y.grad is None


def test_create_graph_gives_second_derivatives():
    x = leaf([0.5, 1.5])
    y = x ** 3
    g, = autograd.grad(y, x, clnet.ones(2), create_graph=True)
    assert g.requires_grad
    g2, = autograd.grad(g, x, clnet.ones(2))
    np.testing.assert_allclose(g2.numpy(), 6 * np.array([0.5, 1.5]), rtol=1e-5)


def test_gradient_penalty_backward_through_a_gradient_into_weights():
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4,)).astype(np.float32)
    wv = rng.standard_normal((4,)).astype(np.float32)
    res = []
    for m in (clnet, torch):
        x = m.tensor(xv, requires_grad=True)
        w = m.tensor(wv, requires_grad=True)
        out = (x * w).tanh() * w
        gx, = m.autograd.grad(out, x, m.ones(4), create_graph=True)
        penalty = (gx * gx - 1.0) * (gx * gx - 1.0)
        penalty.backward(m.ones(4))
        res.append(w.grad.detach().numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-4, atol=1e-5)


def test_deep_chain_of_5000_nodes_is_iterative():
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 5000], rtol=1e-3)


def test_tensor_hooks_can_replace_gradients():
    x = leaf([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 3
    y.register_hook(lambda g: g * 10)
    y.backward(clnet.ones(2))
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    np.testing.assert_allclose(seen[0], [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 1).backward(clnet.ones(2))
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        clnet.ones(2).register_hook(lambda g: g)


def test_retain_grad_on_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    assert y.retains_grad
    z = y * y
    z.backward(clnet.ones(2))
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 8.0])
    w = x * 2
    (w * 1).backward(clnet.ones(2))
    assert w.grad is None                      # not retained


def test_node_hooks():
    x = leaf([1.0, 2.0])
    y = x * 2
    calls = []
    y.grad_fn.register_hook(lambda gi, go: calls.append((len(gi), len(go))))
    y.grad_fn.register_prehook(lambda go: (go[0] * 0.5,))
    y.backward(clnet.ones(2))
    assert calls == [(2, 1)]
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_grad_modes_as_context_managers_and_decorators():
    x = leaf([1.0])
    with clnet.no_grad():
        assert not clnet.is_grad_enabled()
        assert not (x * 2).requires_grad
        with clnet.enable_grad():
            assert (x * 2).requires_grad
    assert clnet.is_grad_enabled()

    @clnet.no_grad()
    def f(t):
        return t * 2

    @clnet.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    with clnet.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert clnet.is_grad_enabled()
    clnet.set_grad_enabled(False)
    assert not clnet.is_grad_enabled()
    clnet.set_grad_enabled(True)

    @clnet.set_grad_enabled(False)
    def h(t):
        return t * 2
    assert clnet.is_grad_enabled() and not h(x).requires_grad
    with clnet.inference_mode():
        assert not (x * 2).requires_grad

    @clnet.no_grad()
    def gen():
        yield (x * 2).requires_grad
    assert list(gen()) == [False]


def test_version_counter_detects_modified_saved_tensor():
    x = leaf([1.0, 2.0])
    y = x * 1
    z = y * y                    # saves y
    y.add_(1)
    assert y._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward(clnet.ones(2))


def test_inplace_on_leaf_requiring_grad_is_refused():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with clnet.no_grad():
        x.add_(1)                # the optimizer's way
    assert x.tolist() == [2.0]


def test_inplace_on_view_of_leaf_is_refused_like_torch():
    """(In-place ops on views of non-leaf tensors are recorded: tests/autograd/test_inplace_views.py)"""
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[1:].mul_(2)


def test_detach_and_requires_grad_():
    x = leaf([1.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    d2 = x.detach()
    d2.add_(5)                    # shares storage and version with x
    assert x.tolist() == [6.0]
    t = clnet.ones(2)
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        clnet.ones(2, dtype=clnet.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="floating point"):
        clnet.tensor([1, 2], requires_grad=True)


def test_variable_shim():
    v = autograd.Variable(clnet.ones(2), requires_grad=True)
    assert v.requires_grad and v.is_leaf
    assert autograd.Variable(clnet.ones(2)).requires_grad is False


def test_anomaly_mode_names_the_op_that_made_nan():
    x = leaf([0.0, 1.0])
    with autograd.detect_anomaly():
        y = x.sqrt()             # d sqrt at 0 -> inf
        with pytest.raises(RuntimeError, match="SqrtBackward0") as e:
            y.backward(clnet.ones(2))
    assert "nan" in str(e.value) or "inf" in str(e.value).lower()
    assert not autograd.is_anomaly_enabled()


def test_multi_output_node_gets_zeros_for_unused_outputs():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    a, b = x.unbind(0)
    (a * 2).backward(clnet.ones(2))
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 2.0], [0.0, 0.0]])


def test_gradcheck_and_gradgradcheck():
    dt = clnet.float64 if clnet.default_device().has_fp64 else clnet.float32
    x = clnet.tensor([0.3, -0.7, 1.1], dtype=dt, requires_grad=True)
    w = clnet.tensor([0.5, 2.0, -1.0], dtype=dt, requires_grad=True)
    f = lambda a, b: (a * b).tanh() * a.exp()   # noqa: E731
    assert autograd.gradcheck(f, (x, w))
    assert autograd.gradgradcheck(f, (x, w))
    bad = lambda a: _WrongGrad.apply(a)   # noqa: E731
    with pytest.raises(autograd.GradcheckError, match="Jacobian mismatch"):
        autograd.gradcheck(bad, (x,))


class _WrongGrad(autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * 3               # wrong on purpose


def test_grad_buffers_never_alias():
    """.grad takes an incoming gradient without a copy only when nothing else holds it."""
    x, w = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    (x + w).backward(clnet.ones(3))                 # the same gradient reaches both leaves
    assert x.grad._storage is not w.grad._storage
    x.grad.mul_(2)
    assert w.grad.tolist() == [1.0, 1.0, 1.0]
    user = clnet.ones(3)
    x.grad = None
    (x + 0).backward(user)                          # the user's tensor reaches the leaf as is
    assert x.grad._storage is not user._storage
    x.grad.zero_()
    assert user.tolist() == [1.0, 1.0, 1.0]
    lin = clnet.nn.Linear(3, 2)
    lin(clnet.ones(4, 3)).sum().backward()          # fresh gradients are taken, not copied
    g_first = lin.weight.grad
    assert g_first.shape == (2, 3) and lin.bias.grad.tolist() == [4.0, 4.0]


def test_assignment_through_a_view_of_a_plain_tensor_records_like_torch():
    for m in (clnet, torch):
        buf = m.zeros(2, 4)
        v = m.tensor([1.0, 2.0], requires_grad=True)
        buf[1][2:4] = v                 # through a view: buf gets a CopySlices node
        buf[0, 0:2] = v * 2             # indexing the tensor itself
        (buf * 3).backward(m.ones(2, 4))
        assert v.grad.tolist() == [9.0, 9.0]
        with m.no_grad():
            buf[0][0:2] = v             # nothing recorded
