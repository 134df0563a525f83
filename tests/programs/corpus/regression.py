# Corpus program modelled on pytorch/examples regression/main.py (BSD-3-Clause),
# https://github.com/pytorch/examples/tree/main/regression
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Fits a degree-4 polynomial with one nn.Linear, smooth L1 loss and a hand-written update.
from itertools import count

import torch
import torch.nn.functional as F

torch.manual_seed(0)  # clnet-port: seeded so the step count is reproducible
POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    """Columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    result = 'y = '
    for i, w in enumerate(W):
        result += '{:+.2f} x^{} '.format(w, i + 1)
    result += '{:+.2f}'.format(b[0])
    return result


def get_batch(batch_size=32):
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x)
    return x, y


fc = torch.nn.Linear(W_target.size(0), 1)

for batch_idx in count(1):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
    if loss < 1e-3:
        break
    if batch_idx >= 3000:  # clnet-port: a bound, so a run that does not converge ends
        break

print('Loss: {:.6f} after {} batches'.format(loss, batch_idx))
print('==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias))
print('==> Actual function:\t' + poly_desc(W_target.view(-1), b_target))

# clnet-port: outcome check: converged, and the learned coefficients are the target's
assert loss < 1e-3, loss
assert (fc.weight.view(-1) - W_target.view(-1)).abs().max().item() < 0.1
