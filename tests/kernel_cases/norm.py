"""cl_kernels/norm.cl: the row kernels (layer norm, RMS norm, group norm: forward, backward input
with or without the fused parameter partials, the GPU layout's parameter partial sums) and the
batch norm channel kernels (training statistics with the running update, evaluation
coefficients, the per-channel affine, the backward sums), in float32 and float64, in both
layouts (``dev.tuning["norm.ls"]``: 1 = a work-item per row / channel in vectors, the CPU
layout; 64 = a work-group per row / channel, the GPU layout; Oclgrind reports a GPU and PoCL a
CPU, so both are forced). Row and run lengths below, at and past the vector width and the
4-vector unrolled step, with tails."""
import numpy as np
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import norm as N

from ._util import check, dtype_names, each_tuning

# (rows, n): one row, a vector tail, past the unrolled step, longer than the 64-wide group;
# more rows than one parameter chunk / than the CPU layout's work-groups
LN_SHAPES = [(1, 1), (3, 7), (2, 9), (3, 33), (2, 65), (130, 5)]
# (N, C, S...): S = 1, S < 64 not dividing it, S > the unrolled step, S > 64
BN_SHAPES = [(3, 2), (2, 3, 5), (2, 2, 9, 9), (2, 2, 33)]
# (N, C, S...), groups: S = 1 (the per-element path), S = 7 and 33 (per-channel segments)
GN_SHAPES = [((3, 4), 2), ((2, 4, 7), 2), ((2, 2, 33), 1)]


def _each_layout(dev):
    return each_tuning(dev, "norm.ls", (1, 64))


def _floats(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def _np(name):
    return np.float32 if name == "float32" else np.float64


def _grads(y, inputs, g):
    return [t.numpy() for t in clnet.autograd.grad([y], inputs, [g])]


def _parity(dev, name, shape, pshape, cf, tf, with_bias=True, seed=0):
    """Forward and gradients (input, weight[, bias]) of cf against torch's tf."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(_np(name))
    w = rng.standard_normal(pshape).astype(_np(name))
    g = rng.standard_normal(shape).astype(_np(name))
    arrays = (x, w, w * 0.5) if with_bias else (x, w)
    cin = [clnet.tensor(a, device=dev, requires_grad=True) for a in arrays]
    tin = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = cf(*cin), tf(*tin)
    check(y, ty.detach().numpy())
    got = _grads(y, cin, clnet.tensor(g, device=dev))
    want = torch.autograd.grad([ty], tin, [torch.tensor(g)])
    for a, b in zip(got, want):
        check(clnet.tensor(a), b.numpy(), rtol=1e-4, atol=1e-4)
    # input gradient alone: the backward without the parameter partials
    cx = clnet.tensor(x, device=dev, requires_grad=True)
    y = cf(cx, *(clnet.tensor(a, device=dev) for a in arrays[1:]))
    tx = torch.tensor(x, requires_grad=True)
    want = torch.autograd.grad([tf(tx, *(torch.tensor(a) for a in arrays[1:]))], [tx],
                               [torch.tensor(g)])
    check(clnet.tensor(_grads(y, [cx], clnet.tensor(g, device=dev))[0]), want[0].numpy(),
          rtol=1e-4, atol=1e-4)


def layer_norm_forward_and_backward(dev):
    for _ in _each_layout(dev):
        for name in _floats(dev):
            for rows, n in LN_SHAPES:
                _parity(dev, name, (rows, n), n, lambda x, w, b: N.layer_norm(x, (n,), w, b),
                        lambda x, w, b: F.layer_norm(x, (n,), w, b))


def rms_norm_forward_and_backward(dev):
    for _ in _each_layout(dev):
        for name in _floats(dev):
            for rows, n in LN_SHAPES[:4]:
                _parity(dev, name, (rows, n), n, lambda x, w: N.rms_norm(x, (n,), w, 1e-6),
                        lambda x, w: F.rms_norm(x, (n,), w, 1e-6), with_bias=False, seed=2)


def group_norm_forward_and_backward(dev):
    for _ in _each_layout(dev):
        for name in _floats(dev):
            for shape, groups in GN_SHAPES:
                _parity(dev, name, shape, shape[1],
                        lambda x, w, b: N.group_norm(x, groups, w, b),
                        lambda x, w, b: F.group_norm(x, groups, w, b), seed=3)


def batch_norm_training_eval_and_backward(dev):
    rng = np.random.default_rng(1)
    for _ in _each_layout(dev):
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
    for _ in _each_layout(dev):
        count = clnet.tensor(np.array([2]), device=dev)
        rm, rv = clnet.zeros(2, device=dev), clnet.ones(2, device=dev)
        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        N.batch_norm(clnet.tensor(x, device=dev), rm, rv, training=True,
                     momentum=N.effective_momentum(None, count))
        check(rm, x.mean(0) / 2)


CASES = [layer_norm_forward_and_backward, rms_norm_forward_and_backward,
         group_norm_forward_and_backward, batch_norm_training_eval_and_backward,
         batch_norm_cumulative_momentum]
