"""Extending autograd with custom Functions (PyTorch's "Extending torch.autograd" recipe).

Two Functions written by hand -- a Linear layer and a ReLU -- each with a static ``forward`` that
saves what ``backward`` needs on ``ctx`` and a static ``backward`` that returns one gradient per
input (None where ``ctx.needs_input_grad`` says nobody wants it). Both are checked against finite
differences with ``gradcheck`` in float64, then used to fit a small regression.

    python examples/custom_function.py --steps 200
"""
import argparse

import clnet as torch
from clnet.autograd import Function, gradcheck


class LinearFunction(Function):
    """y = x W^T + b, with W of shape (out_features, in_features) as in nn.Linear."""

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
        # Skipping a gradient nobody asked for is not only an optimisation: returning None
        # for an input that does not require grad is what autograd expects.
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MyReLU(Function):
    """max(x, 0); the gradient is passed through where the input was positive."""

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


def check_gradients():
    """gradcheck both Functions in float64 (finite differences need the precision)."""
    torch.manual_seed(0)
    x = torch.randn(6, 5, dtype=torch.double, requires_grad=True)
    w = torch.randn(3, 5, dtype=torch.double, requires_grad=True)
    b = torch.randn(3, dtype=torch.double, requires_grad=True)
    linear_ok = gradcheck(LinearFunction.apply, (x, w, b), eps=1e-6, atol=1e-4)
    # keep inputs away from 0, where ReLU has a kink that finite differences straddle
    z = torch.randn(20, dtype=torch.double)
    z = (z + z.sign() * 0.1).requires_grad_()
    relu_ok = gradcheck(MyReLU.apply, (z,), eps=1e-6, atol=1e-4)
    return linear_ok, relu_ok


def make_data(n, generator_seed=0):
    """y = sin(x0) + 0.5 * x1^2 - x2 with a little noise: a smooth target a 2-layer MLP fits."""
    g = torch.Generator().manual_seed(generator_seed)
    x = torch.rand(n, 3, generator=g) * 4 - 2
    y = torch.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 - x[:, 2]
    y = y + 0.05 * torch.randn(n, generator=g)
    return x, y.unsqueeze(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args(argv)

    linear_ok, relu_ok = check_gradients()
    print(f"gradcheck LinearFunction (float64): {'passed' if linear_ok else 'FAILED'}")
    print(f"gradcheck MyReLU (float64): {'passed' if relu_ok else 'FAILED'}")

    torch.manual_seed(0)
    x, y = make_data(512)
    w1 = torch.nn.Parameter(torch.randn(args.hidden, 3) * (2.0 / 3) ** 0.5)
    b1 = torch.nn.Parameter(torch.zeros(args.hidden))
    w2 = torch.nn.Parameter(torch.randn(1, args.hidden) * (1.0 / args.hidden) ** 0.5)
    b2 = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([w1, b1, w2, b2], lr=args.lr)

    losses = []
    for step in range(args.steps):
        hidden = MyReLU.apply(LinearFunction.apply(x, w1, b1))
        pred = LinearFunction.apply(hidden, w2, b2)
        loss = ((pred - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 0 or step == args.steps - 1 or (step + 1) % 100 == 0:
            losses.append((step, loss.item()))
            print(f"step {step + 1:4d}  mse {losses[-1][1]:.4f}")

    first, final = losses[0][1], losses[-1][1]
    print(f"final mse {final:.4f} (first {first:.4f})")
    return {"gradcheck_linear": linear_ok, "gradcheck_relu": relu_ok,
            "first_loss": first, "final_loss": final}


if __name__ == "__main__":
    main()
