# Corpus program modelled on pytorch/tutorials beginner_source/examples_tensor/polynomial_tensor.py
# (BSD-3-Clause), https://github.com/pytorch/tutorials
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Fits sin(x) with a cubic using tensors and hand-derived gradients (no autograd).
import math

import torch

dtype = torch.float
device = torch.device("cpu")
torch.manual_seed(0)  # clnet-port: seeded

x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.randn((), device=device, dtype=dtype)
b = torch.randn((), device=device, dtype=dtype)
c = torch.randn((), device=device, dtype=dtype)
d = torch.randn((), device=device, dtype=dtype)

learning_rate = 1e-6
first = None
for t in range(2000):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum().item()
    if first is None:
        first = loss
    if t % 100 == 99:
        print(t, loss)
    grad_y_pred = 2.0 * (y_pred - y)
    grad_a = grad_y_pred.sum()
    grad_b = (grad_y_pred * x).sum()
    grad_c = (grad_y_pred * x ** 2).sum()
    grad_d = (grad_y_pred * x ** 3).sum()
    a -= learning_rate * grad_a
    b -= learning_rate * grad_b
    c -= learning_rate * grad_c
    d -= learning_rate * grad_d

print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
# clnet-port: outcome check: the sum of squares falls 10x and ends near the tutorial's ~9-20
assert loss < first / 10 and loss < 50, (first, loss)
