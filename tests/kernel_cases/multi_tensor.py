"""cl_kernels/multi_tensor.cl: every multi-tensor kernel, for every storage type.

Every kernel runs in both tile layouts (a work-item per tile as on CPU drivers, a 64-wide
work-group per tile as on GPUs). The updates run through the optimizers' default path on groups
of edge-size parameters viewing storages from element 3 on, two steps each: float32/float64
checked against optim.py's numpy rules (also a group of 20 tensors spanning several chunks),
float16/bfloat16 bit for bit against the single-tensor path (optim.cl through float32 copies).
The elementwise kernels (fill, clamp, scale) and the norm kernels (partials in both work-group
layouts, finish) run through zero_grad, clip_grad_value_ and clip_grad_norm_ on every dtype and
norm type, checked against numpy."""
import math

import numpy as np

import clnet
from clnet import optim
from clnet.nn import utils

from ._util import DTYPES, EDGE_SHAPES, check, each_tuning, host
from .optim import (_adadelta_reference, _adagrad_reference, _adam_reference, _param_and_grad,
                    _rmsprop_reference, _sgd_reference)

HALF = ("float16", "bfloat16")

# (optimizer, kwargs, numpy rule of optim.py taking (p, g, steps))
CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1, maximize=True),
     lambda p, g, n: _sgd_reference(p, g, n, 0.1, 0.9, 0.2, 0.1, False, True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True),
     lambda p, g, n: _sgd_reference(p, g, n, 0.1, 0.9, 0.0, 0.0, True, False)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
     lambda p, g, n: _adam_reference(p, g, n, 0.01, 0.9, 0.999, 1e-8, 0.1, True, True, False)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1),
     lambda p, g, n: _adam_reference(p, g, n, 0.01, 0.9, 0.999, 1e-8, 0.1, False, False, True)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, momentum=0.5, centered=True),
     lambda p, g, n: _rmsprop_reference(p, g, n, 0.01, 0.99, 1e-8, 0.1, 0.5, True, False)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
     lambda p, g, n: _adagrad_reference(p, g, n, 0.1, 0.1, 0.1, 0.5, 1e-10, False)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1),
     lambda p, g, n: _adadelta_reference(p, g, n, 0.5, 0.9, 1e-6, 0.1, False)),
]


def _float_names(dev):
    return ["float32", "float64"] if dev.has_fp64 else ["float32"]


def _layouts(dev, names):
    """(layout, dtype name) pairs: each dtype under both tile layouts of multi_tensor.cl."""
    for ls in each_tuning(dev, "multi_tensor", [1, 64]):
        for name in names:
            yield ls, name


def _group(dev, name, shapes):
    made = [_param_and_grad(name, shape, dev, seed=20 + i) for i, shape in enumerate(shapes)]
    return [m[0] for m in made], [m[1] for m in made], [m[2] for m in made]


def updates(dev):
    """Every update kernel on one group of edge sizes, and a group of 20 (several chunks), in
    both tile layouts (a work-item per tile, a 64-wide work-group per tile)."""
    for _, name in _layouts(dev, _float_names(dev)):
        for shapes in (EDGE_SHAPES, EDGE_SHAPES * 5):
            for opt_name, kwargs, rule in CONFIGS:
                params, p0s, g0s = _group(dev, name, shapes)
                opt = getattr(optim, opt_name)(params, **kwargs)
                for _ in range(2):
                    opt.step()
                for p, p0, g0 in zip(params, p0s, g0s):
                    check(p, rule(p0, g0, 2).astype(DTYPES[name]), rtol=1e-4, atol=1e-5)


def _sixteen_bit(dev, name, shape, seed):
    a = host("float32", shape, seed=seed)
    return clnet.tensor(a, device=dev).to(getattr(clnet, name))


def updates_16bit(dev):
    """float16/bfloat16 parameters and states: the same bits as the single-tensor path."""
    for _, name in _layouts(dev, HALF):
        for opt_name, kwargs, _ in CONFIGS:
            runs = []
            for foreach in (True, False):
                params = [clnet.nn.Parameter(_sixteen_bit(dev, name, s, 30 + i))
                          for i, s in enumerate(EDGE_SHAPES)]
                opt = getattr(optim, opt_name)(params, foreach=foreach, **kwargs)
                for step in range(2):
                    for i, p in enumerate(params):
                        p.grad = _sixteen_bit(dev, name, p.shape, 40 + i + step)
                    opt.step()
                runs.append([p.to(clnet.float32).numpy() for p in params])
            for a, b in zip(*runs):
                np.testing.assert_array_equal(a, b)


def _grads(dev, name, seed=50, scale=3.0):
    out = []
    for i, shape in enumerate(EDGE_SHAPES):
        a = host("float32", shape, seed=seed + i) * scale
        p = clnet.nn.Parameter(clnet.zeros(shape, device=dev, dtype=getattr(clnet, name)))
        p.grad = clnet.tensor(a, device=dev).to(getattr(clnet, name))
        out.append(p)
    return out


def _host_grads(params):
    return [p.grad.to(clnet.float64).numpy() for p in params]


def elementwise(dev):
    """mt_fill (zero_grad), mt_clamp (clip_grad_value_), mt_scale (clip_grad_norm_)."""
    for _, name in _layouts(dev, _float_names(dev) + list(HALF)):
        params = _grads(dev, name)
        opt = optim.SGD(params, lr=0.1)
        opt.zero_grad(set_to_none=False)
        for g in _host_grads(params):
            assert not g.any()
        params = _grads(dev, name)
        want = [np.clip(g, -0.5, 0.5) for g in _host_grads(params)]
        utils.clip_grad_value_(params, 0.5)
        for p, w in zip(params, want):
            check(p.grad.to(clnet.float64), w, rtol=1e-2, atol=1e-2)
        params = _grads(dev, name)
        before = _host_grads(params)
        total = math.sqrt(sum((g ** 2).sum() for g in before))
        utils.clip_grad_norm_(params, 1.0)
        for p, g in zip(params, before):
            check(p.grad.to(clnet.float64), g * (1.0 / (total + 1e-6)), rtol=2e-2, atol=1e-3)


def _numpy_total(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == 0:
        return float(sum(bool(np.any(g != 0)) for g in grads))
    if math.isinf(norm_type):
        return float(np.abs(flat).max() if norm_type > 0 else np.abs(flat).min())
    return float((np.abs(flat) ** norm_type).sum() ** (1.0 / norm_type))


def norms(dev):
    """mt_norm_partial in both layouts (a work-item per slice, a 64-wide tree) and
    mt_norm_finish, every norm type and dtype, against numpy."""
    for ls in each_tuning(dev, "multi_tensor_norm", [1, 64]):
        for name in _float_names(dev) + list(HALF):
            for norm_type in (2.0, 1.0, math.inf, -math.inf, 0.0, 3.0):
                params = _grads(dev, name, seed=60)
                want = _numpy_total(_host_grads(params), norm_type)
                total = utils.get_total_norm([p.grad for p in params], norm_type)
                assert total.dtype is getattr(clnet, name)
                tol = 1e-5 if name in DTYPES else 1e-2
                check(total.to(clnet.float64), np.float64(want), rtol=tol, atol=tol)


CASES = [updates, updates_16bit, elementwise, norms]
