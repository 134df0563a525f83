"""cl_kernels/optim.cl: every fused optimizer update (float32, float64 where supported) on edge
sizes, with a parameter and a gradient that start at non-zero offsets in their storage, two steps
each (SGD's first-step and later-step paths), checked against the update rules in numpy. The
optimizers run with foreach=False, their one-launch-per-parameter path (the default multi-tensor
path is multi_tensor.py's)."""
import math

import numpy as np

import clnet
from clnet import optim

from ._util import DTYPES, EDGE_SHAPES, check, host


def _float_names(dev):
    return ["float32", "float64"] if dev.has_fp64 else ["float32"]


def _param_and_grad(name, shape, dev, seed):
    """A Parameter and gradient viewing storages from element 3 on (non-zero offsets)."""
    p0 = host(name, shape, seed=seed)
    g0 = host(name, shape, seed=seed + 1)
    n = int(np.prod(shape))
    big_p = clnet.tensor(np.concatenate([np.zeros(3, p0.dtype), p0.ravel()]), device=dev)
    big_g = clnet.tensor(np.concatenate([np.zeros(3, g0.dtype), g0.ravel()]), device=dev)
    p = clnet.nn.Parameter(big_p[3:].view(*shape))
    p.grad = big_g[3:].view(*shape)
    assert p.storage_offset() == 3 and n == p.numel()
    return p, p0.astype(np.float64), g0.astype(np.float64)


def _sgd_reference(p, g, steps, lr, momentum, dampening, wd, nesterov, maximize):
    buf = None
    for _ in range(steps):
        d = (-g if maximize else g) + wd * p
        if momentum:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def _adam_reference(p, g, steps, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled):
    m = v = vmax = np.zeros_like(p)
    for t in range(1, steps + 1):
        gg = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            gg = gg + wd * p
        m = b1 * m + (1 - b1) * gg
        v = b2 * v + (1 - b2) * gg * gg
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / math.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
    return p


def _rmsprop_reference(p, g, steps, lr, alpha, eps, wd, momentum, centered, maximize):
    s = a = buf = np.zeros_like(p)
    for _ in range(steps):
        gg = (-g if maximize else g) + wd * p
        s = alpha * s + (1 - alpha) * gg * gg
        var = s
        if centered:
            a = alpha * a + (1 - alpha) * gg
            var = s - a * a
        avg = np.sqrt(var) + eps
        if momentum:
            buf = momentum * buf + gg / avg
            p = p - lr * buf
        else:
            p = p - lr * gg / avg
    return p


def _adagrad_reference(p, g, steps, lr, lr_decay, wd, init, eps, maximize):
    s = np.full_like(p, init)
    for t in range(1, steps + 1):
        gg = (-g if maximize else g) + wd * p
        s = s + gg * gg
        p = p - lr / (1 + (t - 1) * lr_decay) * gg / (np.sqrt(s) + eps)
    return p


def _adadelta_reference(p, g, steps, lr, rho, eps, wd, maximize):
    s = acc = np.zeros_like(p)
    for _ in range(steps):
        gg = (-g if maximize else g) + wd * p
        s = rho * s + (1 - rho) * gg * gg
        delta = np.sqrt(acc + eps) / np.sqrt(s + eps) * gg
        acc = rho * acc + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


def _run(dev, make, reference, steps=2):
    for name in _float_names(dev):
        for i, shape in enumerate(EDGE_SHAPES):
            p, p0, g0 = _param_and_grad(name, shape, dev, seed=10 + i)
            opt = make([p])
            for group in opt.param_groups:
                group["foreach"] = False
            for _ in range(steps):
                opt.step()
            want = reference(p0, g0, steps).astype(DTYPES[name])
            check(p, want, rtol=1e-4, atol=1e-5)


def sgd_updates(dev):
    for kw in (dict(momentum=0.0, dampening=0.0, wd=0.0, nesterov=False, maximize=False),
               dict(momentum=0.9, dampening=0.2, wd=0.1, nesterov=False, maximize=True),
               dict(momentum=0.9, dampening=0.0, wd=0.0, nesterov=True, maximize=False)):
        _run(dev, lambda ps, kw=kw: optim.SGD(ps, lr=0.1, momentum=kw["momentum"],
                                              dampening=kw["dampening"],
                                              weight_decay=kw["wd"], nesterov=kw["nesterov"],
                                              maximize=kw["maximize"]),
             lambda p, g, n, kw=kw: _sgd_reference(p, g, n, 0.1, **kw))


def adam_updates(dev):
    for amsgrad, maximize, wd, decoupled in ((False, False, 0.0, False), (True, True, 0.1, False),
                                            (True, False, 0.1, True)):
        cls = optim.AdamW if decoupled else optim.Adam
        _run(dev, lambda ps, a=amsgrad, m=maximize, w=wd, c=cls: c(ps, lr=0.01, weight_decay=w,
                                                                   amsgrad=a, maximize=m),
             lambda p, g, n, a=amsgrad, m=maximize, w=wd, d=decoupled:
             _adam_reference(p, g, n, 0.01, 0.9, 0.999, 1e-8, w, a, m, d))


def rmsprop_updates(dev):
    for momentum, centered, maximize in ((0.0, False, False), (0.5, True, True),
                                         (0.0, True, False)):
        _run(dev, lambda ps, mo=momentum, c=centered, mx=maximize:
             optim.RMSprop(ps, lr=0.01, weight_decay=0.1, momentum=mo, centered=c, maximize=mx),
             lambda p, g, n, mo=momentum, c=centered, mx=maximize:
             _rmsprop_reference(p, g, n, 0.01, 0.99, 1e-8, 0.1, mo, c, mx))


def adagrad_updates(dev):
    _run(dev, lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.1, weight_decay=0.1,
                                       initial_accumulator_value=0.5, maximize=True),
         lambda p, g, n: _adagrad_reference(p, g, n, 0.1, 0.1, 0.1, 0.5, 1e-10, True))


def adadelta_updates(dev):
    _run(dev, lambda ps: optim.Adadelta(ps, lr=0.5, weight_decay=0.1),
         lambda p, g, n: _adadelta_reference(p, g, n, 0.5, 0.9, 1e-6, 0.1, False))


CASES = [sgd_updates, adam_updates, rmsprop_updates, adagrad_updates, adadelta_updates]
