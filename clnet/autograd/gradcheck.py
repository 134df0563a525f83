"""Finite-difference checks of gradients: ``gradcheck`` and ``gradgradcheck``.

Inputs should be float64 where the device has cl_khr_fp64 (as with PyTorch); float32 works with
the looser defaults picked automatically (eps 1e-3, atol 1e-3, rtol 1e-2), since a central
difference in float32 has an error of roughly eps**2 + 1e-7/eps.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union
import numpy as np

from .. import graph
from ..ops.copy import from_numpy_to
from ..tensor import Tensor
from .engine import run_backward


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x: Any) -> Tuple[Any, ...]:
    return x if isinstance(x, tuple) else (x,)


def _flat_outputs(fn, inputs):
    with _no_grad():
        outs = _as_tuple(fn(*inputs))
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]


class _no_grad:
    def __enter__(self):
        self._prev = graph.set_grad_enabled_flag(False)

    def __exit__(self, *exc: Any):
        graph.set_grad_enabled_flag(self._prev)


def _defaults(inputs, eps, atol, rtol):
    low_precision = any(isinstance(t, Tensor) and t.dtype.name == "float32" for t in inputs)
    if eps is None:
        eps = 1e-3 if low_precision else 1e-6
    if atol is None:
        atol = 1e-3 if low_precision else 1e-5
    if rtol is None:
        rtol = 1e-2 if low_precision else 1e-3
    return eps, atol, rtol


def numerical_jacobian(fn: Callable[..., Any], inputs: Tuple[Any, ...], eps: float) -> List[Any]:
    """J[i][j]: d outputs[j] / d inputs[i] as numpy (n_in_i, n_out_j) by central differences."""
    outs0 = _flat_outputs(fn, inputs)
    jac: List[Optional[List[np.ndarray]]] = []   # None for inputs that need no gradient
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            jac.append(None)
            continue
        base = x.detach().numpy().astype(np.float64)
        cols = [np.zeros((x.numel(), o.numel())) for o in outs0]
        flat = base.reshape(-1)
        for k in range(flat.size):
            vals = []
            for sign in (1, -1):
                pert = flat.copy()
                pert[k] += sign * eps
                xt = from_numpy_to(pert.reshape(base.shape), x.device, x.dtype)
                args = list(inputs)
                args[i] = xt
                vals.append([o.numpy().astype(np.float64).reshape(-1)
                             for o in _flat_outputs(fn, args)])
            for j in range(len(outs0)):
                cols[j][k] = (vals[0][j] - vals[1][j]) / (2 * eps)
        jac.append(cols)
    return jac


def analytical_jacobian(fn: Callable[..., Any], inputs: Tuple[Any, ...]) -> List[Any]:
    outs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)
            and o.dtype.is_floating_point]
    diff_inputs = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    jac = [None if not (isinstance(x, Tensor) and x.requires_grad) else
           [np.zeros((x.numel(), o.numel())) for o in outs] for x in inputs]
    for j, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for k in range(o.numel()):
            seed = np.zeros(o.numel())
            seed[k] = 1.0
            g = from_numpy_to(seed.reshape(o._shape), o.device, o.dtype)
            grads = run_backward([o], [g], retain_graph=True, create_graph=False,
                                 inputs=diff_inputs, allow_unused=True, accumulate=False)
            it = iter(grads)
            for i, x in enumerate(inputs):
                jac_i = jac[i]
                if jac_i is None:
                    continue
                gi = next(it)
                if gi is not None:
                    jac_i[j][:, k] = gi.numpy().astype(np.float64).reshape(-1)
    return jac


def gradcheck(func: Callable[..., Any], inputs: Union[Tensor, Sequence[Any]], *,
              eps: Optional[float] = None, atol: Optional[float] = None,
              rtol: Optional[float] = None, raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, fast_mode: bool = False, **_ignored: Any) -> bool:
    """Compare analytical gradients (backward) with central finite differences."""
    inputs = _as_tuple(inputs)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    eps, atol, rtol = _defaults(inputs, eps, atol, rtol)
    num = numerical_jacobian(func, inputs, eps)
    ana = analytical_jacobian(func, inputs)
    for i, (n, a) in enumerate(zip(num, ana)):
        if n is None:
            continue
        for j, (nj, aj) in enumerate(zip(n, a)):
            if not np.allclose(aj, nj, rtol=rtol, atol=atol):
                bad = np.abs(aj - nj).max()
                msg = (f"Jacobian mismatch for output {j} with respect to input {i} "
                       f"(max abs difference {bad:.3g}, atol {atol}, rtol {rtol}),\n"
                       f"numerical:{nj}\nanalytical:{aj}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Union[Tensor, Sequence[Any]],
                  grad_outputs: Optional[Union[Tensor, Sequence[Tensor]]] = None, *,
                  eps: Optional[float] = None, atol: Optional[float] = None,
                  rtol: Optional[float] = None, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, **_ignored: Any) -> bool:
    """gradcheck of the gradient: checks second derivatives through ``create_graph=True``."""
    inputs = _as_tuple(inputs)
    with _no_grad():
        outs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)
                and o.dtype.is_floating_point]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(from_numpy_to(rng.standard_normal(o._shape), o.device, o.dtype)
                             for o in outs)
        for g in grad_outputs:
            g.requires_grad = True
    grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    wants = [isinstance(x, Tensor) and x.requires_grad for x in inputs]

    def first_grads(*args):
        # the numerical pass calls this with fresh perturbed copies under no_grad: re-enable
        # recording and mark those copies as differentiable so a first gradient exists
        prev = graph.set_grad_enabled_flag(True)
        try:
            xs = [x if (not w or x.requires_grad) else x.detach().requires_grad_()
                  for x, w in zip(args[:n_in], wants)]
            gos = args[n_in:]
            ys = [o for o in _as_tuple(func(*xs)) if isinstance(o, Tensor)
                  and o.dtype.is_floating_point]
            dx = [x for x, w in zip(xs, wants) if w]
            grads = run_backward(ys, list(gos), retain_graph=True, create_graph=True, inputs=dx,
                                 allow_unused=True, accumulate=False)
        finally:
            graph.set_grad_enabled_flag(prev)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
