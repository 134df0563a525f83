"""L-BFGS, PyTorch's ``torch.optim.LBFGS`` step by step (torch/optim/lbfgs.py, itself a port of
minFunc and of Lua torch's lbfgs/lswolfe), on a flat view of all parameters.

The vectors (flat gradient, direction, the history of steps and gradient differences) live on
the device. The algorithm's decisions need a few scalars on the host (a loss, a dot product, a
max-norm): torch on a CPU reads them as 0-d tensors; here each decision point reads what it needs
in ONE round trip (``_read`` stacks the scalars), and the scalars that only scale device vectors
(the two-loop recursion's ``al``/``be``) stay on the device. Host arithmetic on those scalars is
done with numpy scalars of the parameters' dtype: numpy's rules for a float32 scalar meeting a
Python float (NEP 50) are torch's for a 0-d float32 tensor, so the float32 path rounds where
torch's does and trajectories match torch's to the last bits that the reductions' order allows.

Differences from torch: in ``state``, ``t``, ``H_diag``, ``ro`` entries and ``prev_loss`` are
Python floats (torch keeps some of them as 0-d tensors); ``load_state_dict`` accepts either.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Union
import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..ops.creation import zeros
from ..ops.join import cat, stack
from ..tensor import Tensor
from .optimizer import Optimizer, state_value_for

if TYPE_CHECKING:
    from ..types import ParamsT


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through two points with values and derivatives, clamped to
    ``bounds`` (torch's _cubic_interpolate, from Lua torch's polyinterp)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, d_norm, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search for a step ``t`` along ``d`` meeting the strong Wolfe conditions (torch's
    _strong_wolfe, from Lua torch's lswolfe). ``obj_func(x, t, d)`` returns the loss, the flat
    gradient and its dot with ``d`` at ``x + t d``; ``d_norm`` is ``max |d|`` (the caller has
    it already). Returns (loss, flat gradient, t, evaluations)."""
    f_new, g_new, gtd_new = obj_func(x, t, d)
    ls_func_evals = 1
    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new, gtd_new = obj_func(x, t, d)
        ls_func_evals += 1
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom phase: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a t too close to the bracket's ends twice in a row (or outside it) moves to 0.1 of the
        # bracket's length from the nearer end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new, gtd_new = obj_func(x, t, d)
        ls_func_evals += 1
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than the lowest point
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True        # Wolfe conditions satisfied
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # old high becomes new low
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """``torch.optim.LBFGS``: one param group; ``step(closure)`` runs up to ``max_iter``
    iterations, calling ``closure`` (which must recompute the loss and its gradients) up to
    ``max_eval`` times, with a fixed step ``lr`` or a strong-Wolfe line search."""

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1, max_iter: int = 20,
                 max_eval: Optional[int] = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: Optional[str] = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        dts = {p.dtype for p in self._params}
        devs = {p._storage.device for p in self._params}
        if len(dts) != 1 or len(devs) != 1:
            raise ValueError("LBFGS: all parameters must have one dtype and be on one device "
                             f"(the flat view joins them), got dtypes {sorted(map(str, dts))} "
                             f"on {len(devs)} device(s)")
        self._np = np.dtype(self._params[0].dtype.name).type   # host scalars in that dtype
        self._numel_cache = None

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        if getattr(self, "_params", None) is not None:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------------ flat view
    def _numel(self):
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._params)
        return self._numel_cache

    def _gather_flat_grad(self):
        views = []
        for p in self._params:
            if p.grad is None:
                views.append(zeros(p.numel(), dtype=p.dtype, device=p._storage.device))
            else:
                views.append(p.grad.reshape(-1))
        return cat(views, 0)

    def _add_grad(self, step_size, update):
        offset = 0
        for p in self._params:
            numel = p.numel()
            p.add_(update[offset:offset + numel].view_as(p), alpha=step_size)
            offset += numel

    def _clone_param(self):
        return [p.clone() for p in self._params]

    def _set_param(self, params_data):
        for p, pdata in zip(self._params, params_data):
            p.copy_(pdata)

    def _read(self, *scalars):
        """Numbers from 0-d device tensors in one host round trip: numpy scalars of the
        parameters' dtype (a loss of another dtype is read on its own, as a Python float)."""
        dt = self._params[0].dtype
        dev = self._params[0]._storage.device
        on_device = [i for i, s in enumerate(scalars)
                     if isinstance(s, Tensor) and s.dtype is dt and s._storage.device is dev]
        out = [None if i in on_device else float(s) for i, s in enumerate(scalars)]
        if on_device:
            values = stack([scalars[i].detach().reshape(()) for i in on_device]).numpy()
            for i, v in zip(on_device, values):
                out[i] = v
        return out

    def _evaluate(self, closure, *also):
        """Run the closure; read its loss (a Python float, as torch's ``float(closure())``)
        and the scalars ``also(flat_grad)`` asks for in one round trip."""
        with enable_grad():
            orig_loss = closure()
        flat_grad = self._gather_flat_grad()
        values = self._read(orig_loss, *(f(flat_grad) for f in also))
        return orig_loss, float(values[0]), flat_grad, values[1:]

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        _, loss, flat_grad, (gtd,) = self._evaluate(closure, lambda g: g.dot(d))
        self._set_param(x)
        return loss, flat_grad, gtd

    # ------------------------------------------------------------------ step
    def step(self,  # type: ignore[override]  # the closure is required, as torch's
             closure: Callable[[], Any]) -> Any:
        """One optimisation step (up to ``max_iter`` L-BFGS iterations); returns the loss that
        ``closure`` gave at the starting point."""
        if not callable(closure):
            raise TypeError("LBFGS.step requires a closure that reevaluates the model and "
                            "returns the loss")
        for hook in list(self._step_pre_hooks.values()):
            if hook(self, (closure,), {}) is not None:
                raise RuntimeError("optimizer step pre-hooks must return None "
                                   "(changing step's arguments is not supported)")
        self._opt_called = True     # schedulers warn when stepped before the optimizer
        with no_grad():
            loss = self._step(closure)
        for hook in list(self._step_post_hooks.values()):
            hook(self, (closure,), {})
        return loss

    def _step(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        lr = lr.item() if isinstance(lr, Tensor) else lr
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")
        S = self._np

        # LBFGS has only global state, registered on the first parameter (as torch does)
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        abs_max = lambda g: g.abs().max()    # noqa: E731
        orig_loss, loss, flat_grad, (gmax,) = self._evaluate(closure, abs_max)
        current_evals = 1
        state["func_evals"] += 1
        if gmax <= tolerance_grad:          # optimal condition
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- descent direction
            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys, yy = self._read(y.dot(s), y.dot(y))
                if ys > 1e-10:
                    if len(old_dirs) == history_size:   # shift history by one
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(float(1.0 / ys))
                    H_diag = float(ys / yy)   # scale of the initial Hessian approximation
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # the two-loop recursion, collapsed into one buffer; al and be stay 0-d device
                # tensors (torch reads them as alpha=; here they scale on the device)
                q = flat_grad.neg()
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q).mul(S(ro[i]))
                    q.addcmul_(old_dirs[i], al[i], value=-1)
                d = r = q.mul(S(H_diag))
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r).mul(S(ro[i]))
                    r.addcmul_(old_stps[i], al[i].sub(be_i))

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone()
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # ---- step length: gtd, max|d| (for the progress test) and, on the first
            # iteration, sum|g| (the initial step) in one read
            first = state["n_iter"] == 1
            wanted = [flat_grad.dot(d), d.abs().max()] + ([flat_grad.abs().sum()] if first
                                                          else [])
            read = self._read(*wanted)
            gtd, d_max = read[0], read[1]
            t = min(1.0, 1.0 / read[2]) * lr if first else lr
            if gtd > -tolerance_change:     # directional derivative below tolerance
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                with np.errstate(all="ignore"):   # torch's 0-d tensors divide by 0 silently
                    loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                        obj_func, x_init, t, d, loss, flat_grad, gtd, d_max,
                        max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = self._read(flat_grad.abs().max())[0] <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate only if not the last iteration (torch's rule: in a stochastic
                    # setting the extra evaluation is of no use)
                    _, loss, flat_grad, (gmax,) = self._evaluate(closure, abs_max)
                    opt_cond = gmax <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping conditions
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                break
            # max |d * t| <= tolerance_change (rounding is monotonic: max|d| * t is the same)
            if abs(d_max * t) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = None if t is None else float(t)
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    # ------------------------------------------------------------------ state
    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Ours or torch's: list entries (history) go to the parameters' device and dtype too,
        0-d tensor scalars (torch's ``t``, ``H_diag``, ``ro``) become Python floats."""
        super().load_state_dict(state_dict)
        p = self._params[0]
        st = self.state.get(p)
        if not st:
            return
        for key in ("t", "H_diag", "prev_loss"):
            if key in st and st[key] is not None and not isinstance(st[key], (int, float)):
                st[key] = float(st[key])
        if st.get("ro") is not None:
            st["ro"] = [float(v) for v in st["ro"]]
        for key in ("old_dirs", "old_stps", "al"):
            if st.get(key) is not None:
                st[key] = [None if v is None else state_value_for(p, key, v) for v in st[key]]


__all__ = ["LBFGS"]
