# Corpus program modelled on pytorch/tutorials beginner_source/basics/autogradqs_tutorial.py
# (BSD-3-Clause), https://github.com/pytorch/tutorials
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# A one-layer net's gradients, grad_fn, no_grad/detach, and Jacobian-vector products.
import torch

torch.manual_seed(0)  # clnet-port: seeded
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")

loss.backward()
print(w.grad)
print(b.grad)
# clnet-port: outcome check: d loss / d w is x^T (sigmoid(z) - y) / 3, and b's is the row
expected = torch.sigmoid(z.detach()) / 3
assert torch.allclose(b.grad, expected, atol=1e-6)
assert torch.allclose(w.grad, expected.expand(5, 3), atol=1e-6)

z = torch.matmul(x, w) + b
print(z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print(z.requires_grad)
assert not z.requires_grad  # clnet-port: check

z = torch.matmul(x, w) + b
z_det = z.detach()
print(z_det.requires_grad)
assert not z_det.requires_grad  # clnet-port: check

inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
first = inp.grad.clone()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
assert torch.equal(inp.grad, 2 * first)  # clnet-port: check: gradients accumulate
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
assert torch.equal(inp.grad, first)  # clnet-port: check
assert torch.equal(first, 2 * (torch.eye(4, 5) + 1))  # clnet-port: check
