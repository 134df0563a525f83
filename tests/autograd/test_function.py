"""Custom autograd Functions, written exactly as in the PyTorch tutorials."""
import numpy as np
import pytest
import torch

import clnet
from clnet.autograd import Function, gradcheck
from clnet.autograd.function import once_differentiable


class MyReLU(Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MulConstant(Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


def test_relu_function_matches_builtin(rng):
    xv = rng.standard_normal((4, 5)).astype(np.float32)
    x = clnet.tensor(xv, requires_grad=True)
    y = MyReLU.apply(x)
    assert type(y.grad_fn).__name__ == "MyReLUBackward"
    y.backward(clnet.ones(4, 5))
    np.testing.assert_allclose(y.detach().numpy(), np.maximum(xv, 0))
    np.testing.assert_allclose(x.grad.numpy(), (xv >= 0).astype(np.float32))


def test_linear_function_matches_torch(rng):
    xv = rng.standard_normal((3, 4)).astype(np.float32)
    wv = rng.standard_normal((2, 4)).astype(np.float32)
    bv = rng.standard_normal((2,)).astype(np.float32)
    x, w, b = (clnet.tensor(v, requires_grad=True) for v in (xv, wv, bv))
    out = LinearFunction.apply(x, w, b)
    g = rng.standard_normal((3, 2)).astype(np.float32)
    out.backward(clnet.tensor(g))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (xv, wv, bv))
    tout = torch.nn.functional.linear(tx, tw, tb)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-5)
    for c, t in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_function_without_bias_and_needs_input_grad(rng):
    x = clnet.tensor(rng.standard_normal((3, 4)).astype(np.float32))      # no grad
    w = clnet.tensor(rng.standard_normal((2, 4)).astype(np.float32), requires_grad=True)
    out = LinearFunction.apply(x, w)
    assert out.grad_fn.ctx.needs_input_grad == (False, True)
    out.backward(clnet.ones(3, 2))
    np.testing.assert_allclose(w.grad.numpy(), np.ones((2, 3)) @ x.numpy(), rtol=1e-5)


def test_gradcheck_on_custom_functions():
    dt = clnet.float64 if clnet.default_device().has_fp64 else clnet.float32
    rng = np.random.default_rng(1)
    x = clnet.tensor(rng.standard_normal((3, 4)), dtype=dt, requires_grad=True)
    w = clnet.tensor(rng.standard_normal((2, 4)), dtype=dt, requires_grad=True)
    b = clnet.tensor(rng.standard_normal((2,)), dtype=dt, requires_grad=True)
    assert gradcheck(LinearFunction.apply, (x, w, b))
    assert gradcheck(lambda t: MulConstant.apply(t, 2.5), (x,))


def test_non_tensor_argument_gets_no_gradient():
    x = clnet.tensor([1.0, 2.0], requires_grad=True)
    y = MulConstant.apply(x, 3.0)
    y.backward(clnet.ones(2))
    assert x.grad.tolist() == [3.0, 3.0]


def test_forward_runs_without_recording():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(clnet.is_grad_enabled())
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = clnet.tensor([1.0], requires_grad=True)
    y = Probe.apply(x)
    assert seen == [False] and y.requires_grad


def test_wrong_number_of_gradients_is_named():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    a = clnet.tensor([1.0], requires_grad=True)
    b = clnet.tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadBackward returned an incorrect number of "
                                            r"gradients \(expected 2, got 1\)"):
        Bad.apply(a, b).backward()


def test_wrong_gradient_shape_is_named():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return clnet.ones(3, 4)

    a = clnet.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShapeBackward returned an invalid gradient at "
                                            r"index 0 - got \[3, 4\] but expected shape "
                                            r"compatible with \[1, 2\]"):
        BadShape.apply(a).backward(clnet.ones(1, 2))


def test_mark_non_differentiable_and_multiple_outputs():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            idx = clnet.tensor([1.0, 0.0])
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            assert g_idx is None
            return g * 2

    x = clnet.tensor([1.0, 2.0], requires_grad=True)
    y, idx = SortLike.apply(x)
    assert y.requires_grad and not idx.requires_grad
    y.backward(clnet.ones(2))
    assert x.grad.tolist() == [2.0, 2.0]


def test_set_materialize_grads_false_passes_none():
    got = []

    class TwoOut(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            got.append((g1 is None, g2 is None))
            return g1 if g1 is not None else g2 * 2

    x = clnet.tensor([1.0], requires_grad=True)
    a, b = TwoOut.apply(x)
    (b * 1).backward()
    assert got == [(True, False)]


def test_mark_dirty_in_place_function():
    class AddOneInPlace(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = clnet.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = AddOneInPlace.apply(y)
    assert z is y and z.grad_fn is not None
    (z * 3).backward(clnet.ones(2))
    assert x.grad.tolist() == [3.0, 3.0]
    assert y.tolist() == [2.0, 3.0]


def test_once_differentiable_refuses_double_backward():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2 * x

    x = clnet.tensor([3.0], requires_grad=True)
    gy = clnet.tensor([1.0], requires_grad=True)
    y = Square.apply(x)
    g, = clnet.autograd.grad(y, x, gy, create_graph=True)
    assert g.tolist() == [6.0] and g.requires_grad
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.backward()


def test_saved_tensors_freed_after_backward():
    x = clnet.tensor([1.0, -1.0], requires_grad=True)
    y = MyReLU.apply(x)
    y.backward(clnet.ones(2))
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward(clnet.ones(2))


def test_saved_tensor_modified_in_place_is_detected():
    x = clnet.tensor([1.0, -1.0], requires_grad=True)
    h = x * 1
    y = MyReLU.apply(h)
    h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(clnet.ones(2))


def test_double_backward_through_a_custom_function():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x * x

    x = clnet.tensor([2.0], requires_grad=True)
    g, = clnet.autograd.grad(Cube.apply(x), x, create_graph=True)
    g2, = clnet.autograd.grad(g, x)
    assert g.tolist() == [12.0] and g2.tolist() == [12.0]
