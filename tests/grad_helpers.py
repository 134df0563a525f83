"""Parity with PyTorch for autograd: run the same function on clnet and on torch with the same
inputs, compare outputs, first derivatives, and (optionally) second derivatives.

``fn(m, *xs)`` receives the module (``clnet`` or ``torch``) first, so one lambda serves both:
``check_grad_parity(lambda m, a, b: m.maximum(a, b) * a, a_np, b_np)``.

float32 tolerances (stated once for the suite): outputs rtol 1e-5/atol 1e-6 by default, first
derivatives rtol 1e-4/atol 1e-5, second derivatives rtol 1e-3/atol 1e-4 (backward chains several
rounded float32 ops; OpenCL's exp/log/pow are within a few ULP, not correctly rounded).
"""
import numpy as np
import torch

import clnet

OUT_TOL = dict(rtol=1e-5, atol=1e-6)
GRAD_TOL = dict(rtol=1e-4, atol=1e-5)
GRAD2_TOL = dict(rtol=1e-3, atol=1e-4)


def _to_np(t):
    if isinstance(t, clnet.Tensor):
        return t.detach().numpy()
    return t.detach().cpu().numpy()


def _flat(out):
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r.extend(_flat(o))
        return r
    return [out]


def _compare(name, a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{name}: clnet shape {a.shape} != torch shape {b.shape}"
    np.testing.assert_allclose(a, b, equal_nan=True, err_msg=name, **tol)


def check_grad_parity(fn, *arrays, requires_grad=None, second=False, out_tol=OUT_TOL,
                      grad_tol=GRAD_TOL, grad2_tol=GRAD2_TOL, seed=0, layouts=None):
    """Compare ``fn`` on clnet and torch: outputs, gradients of every float input for a random
    upstream gradient, and with ``second=True`` the gradient of <grads, v> (double backward).

    ``layouts``: optional list of callables turning a numpy array into a clnet tensor (e.g.
    ``helpers.as_noncontiguous``) per input; None means a plain contiguous tensor."""
    rng = np.random.default_rng(seed)
    if requires_grad is None:
        requires_grad = [np.asarray(a).dtype.kind == "f" for a in arrays]
    cx, tx = [], []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        make = layouts[i] if layouts and layouts[i] is not None else clnet.tensor
        c = make(a).detach()
        c.requires_grad_(bool(requires_grad[i]))
        t = torch.tensor(a, requires_grad=bool(requires_grad[i]))
        cx.append(c)
        tx.append(t)
    c_out = _flat(fn(clnet, *cx))
    t_out = _flat(fn(torch, *tx))
    assert len(c_out) == len(t_out), "different number of outputs"
    for k, (co, to) in enumerate(zip(c_out, t_out)):
        _compare(f"output {k}", _to_np(co), _to_np(to), out_tol)
    diff_c = [c for c, r in zip(cx, requires_grad) if r]
    diff_t = [t for t, r in zip(tx, requires_grad) if r]
    pairs = [(co, to) for co, to in zip(c_out, t_out)
             if isinstance(to, torch.Tensor) and to.requires_grad]
    if not diff_c or not pairs:
        return
    ups = [rng.standard_normal(to.shape).astype(np.float32) for _, to in pairs]
    c_grads = clnet.autograd.grad([co for co, _ in pairs], diff_c,
                                  [clnet.tensor(u) for u in ups], create_graph=second,
                                  allow_unused=True)
    t_grads = torch.autograd.grad([to for _, to in pairs], diff_t,
                                  [torch.tensor(u) for u in ups], create_graph=second,
                                  allow_unused=True)
    for k, (cg, tg) in enumerate(zip(c_grads, t_grads)):
        if tg is None:
            assert cg is None or np.all(_to_np(cg) == 0), f"grad {k}: torch has none"
            continue
        assert cg is not None, f"grad of input {k} is None in clnet but not in torch"
        _compare(f"grad of input {k}", _to_np(cg), _to_np(tg), grad_tol)
    if not second:
        return
    keep = [(cg, tg) for cg, tg in zip(c_grads, t_grads)
            if tg is not None and tg.requires_grad]
    if not keep:
        return
    vs = [rng.standard_normal(tuple(tg.shape)).astype(np.float32) for _, tg in keep]
    c2 = clnet.autograd.grad([cg for cg, _ in keep], diff_c, [clnet.tensor(v) for v in vs],
                             allow_unused=True)
    t2 = torch.autograd.grad([tg for _, tg in keep], diff_t, [torch.tensor(v) for v in vs],
                             allow_unused=True)
    for k, (cg, tg) in enumerate(zip(c2, t2)):
        if tg is None:
            assert cg is None or np.allclose(_to_np(cg), 0, atol=grad2_tol["atol"]), \
                f"second grad {k}: torch has none but clnet has nonzero values"
            continue
        assert cg is not None, f"second-order grad of input {k} is None in clnet"
        _compare(f"second-order grad of input {k}", _to_np(cg), _to_np(tg), grad2_tol)
