"""cl_kernels/norm.cl: layer norm rows (forward, backward input and parameter partial sums),
batch norm channels (training statistics with the running update, evaluation coefficients,
the per-channel affine, the backward sums), in float32 and float64."""
import numpy as np
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import norm as N

from ._util import check, dtype_names

# (rows, n): one row, a prime, a row longer than the 64-wide work-group; more rows than one
# parameter chunk
LN_SHAPES = [(1, 1), (3, 7), (2, 65), (130, 5)]
# (N, C, S...): S = 1, S < 64 not dividing it, S > 64
BN_SHAPES = [(3, 2), (2, 3, 5), (2, 2, 9, 9)]


def _floats(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def _np(name):
    return np.float32 if name == "float32" else np.float64


def _grads(y, inputs, g):
    return [t.numpy() for t in clnet.autograd.grad([y], inputs, [g])]


def layer_norm_forward_and_backward(dev):
    rng = np.random.default_rng(0)
    for name in _floats(dev):
        for rows, n in LN_SHAPES:
            x = rng.standard_normal((rows, n)).astype(_np(name))
            w = rng.standard_normal(n).astype(_np(name))
            g = rng.standard_normal((rows, n)).astype(_np(name))
            cx = clnet.tensor(x, device=dev, requires_grad=True)
            cw = clnet.tensor(w, device=dev, requires_grad=True)
            cb = clnet.tensor(w * 0.5, device=dev, requires_grad=True)
            y = N.layer_norm(cx, (n,), cw, cb)
            tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, w * 0.5))
            ty = F.layer_norm(tx, (n,), tw, tb)
            check(y, ty.detach().numpy())
            got = _grads(y, [cx, cw, cb], clnet.tensor(g, device=dev))
            want = torch.autograd.grad([ty], [tx, tw, tb], [torch.tensor(g)])
            for a, b in zip(got, want):
                check(clnet.tensor(a), b.numpy(), rtol=1e-4, atol=1e-4)


def batch_norm_training_eval_and_backward(dev):
    rng = np.random.default_rng(1)
    for name in _floats(dev):
        for shape in BN_SHAPES:
            C = shape[1]
            x = rng.standard_normal(shape).astype(_np(name))
            w = rng.standard_normal(C).astype(_np(name))
            g = rng.standard_normal(shape).astype(_np(name))
            for training in (True, False):
                rm, rv = np.zeros(C, _np(name)), np.ones(C, _np(name))
                crm, crv = clnet.tensor(rm, device=dev), clnet.tensor(rv, device=dev)
                trm, trv = torch.tensor(rm), torch.tensor(rv)
                cx = clnet.tensor(x, device=dev, requires_grad=True)
                cw = clnet.tensor(w, device=dev, requires_grad=True)
                cb = clnet.tensor(w * 0.5, device=dev, requires_grad=True)
                y = N.batch_norm(cx, crm, crv, cw, cb, training, 0.1, 1e-5)
                tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, w * 0.5))
                ty = F.batch_norm(tx, trm, trv, tw, tb, training, 0.1, 1e-5)
                check(y, ty.detach().numpy())
                check(crv, trv.numpy())
                got = _grads(y, [cx, cw, cb], clnet.tensor(g, device=dev))
                want = torch.autograd.grad([ty], [tx, tw, tb], [torch.tensor(g)])
                for a, b in zip(got, want):
                    check(clnet.tensor(a), b.numpy(), rtol=1e-4, atol=1e-4)


def batch_norm_cumulative_momentum(dev):
    count = clnet.tensor(np.array([2]), device=dev)
    rm, rv = clnet.zeros(2, device=dev), clnet.ones(2, device=dev)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    N.batch_norm(clnet.tensor(x, device=dev), rm, rv, training=True,
                 momentum=N.effective_momentum(None, count))
    check(rm, x.mean(0) / 2)


CASES = [layer_norm_forward_and_backward, batch_norm_training_eval_and_backward,
         batch_norm_cumulative_momentum]
