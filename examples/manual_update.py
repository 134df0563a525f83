"""Fitting y = sin(x) with a cubic polynomial and a hand-written gradient-descent loop.

The "Learning PyTorch with examples" tutorial's autograd step: the forward pass and the loss are
ordinary tensor expressions, ``loss.backward()`` fills ``.grad`` of the four coefficients, and the
update ``w -= learning_rate * w.grad`` runs under ``torch.no_grad()`` so that autograd does not
record it; the gradients are then zeroed by hand before the next step.

    python examples/manual_update.py --steps 2000
"""
import argparse
import math

import clnet as torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=1e-6)
    args = parser.parse_args(argv)

    dtype = torch.float
    device = torch.device()          # clnet's default OpenCL device

    torch.manual_seed(0)
    # input and output: 2000 points of sin(x) on [-pi, pi]
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # randomly initialised weights; requires_grad=True asks autograd for their gradients
    a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
    d = torch.randn((), device=device, dtype=dtype, requires_grad=True)

    learning_rate = args.lr
    first_loss = loss_value = None
    for t in range(args.steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        if t == 0 or t % 100 == 99 or t == args.steps - 1:
            loss_value = loss.item()
            first_loss = loss_value if first_loss is None else first_loss
            print(t, round(loss_value, 3))

        loss.backward()

        # the update itself must not be part of the graph
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            a.grad.zero_()
            b.grad.zero_()
            c.grad.zero_()
            d.grad.zero_()

    coeffs = [v.item() for v in (a, b, c, d)]
    print(f"Result: y = {coeffs[0]:.4f} + {coeffs[1]:.4f} x + {coeffs[2]:.4f} x^2 + "
          f"{coeffs[3]:.4f} x^3")
    print(f"final loss {loss_value:.3f} (first {first_loss:.3f})")
    return {"first_loss": first_loss, "final_loss": loss_value, "coefficients": coeffs}


if __name__ == "__main__":
    main()
