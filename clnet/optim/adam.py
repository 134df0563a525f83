"""Adam and AdamW (bias-corrected moments, optional AMSGrad, L2 or decoupled weight decay)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple, Union
import math

from . import _fused
from ._multi_tensor import step_group
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import ParamsT


class Adam(Optimizer):
    """PyTorch's Adam; ``decoupled_weight_decay=True`` is AdamW. Bias corrections use the host's
    step count, so the kernel receives ``lr / (1 - beta1**t)`` and ``sqrt(1 - beta2**t)``."""

    _name = "Adam"

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: Optional[bool] = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, decoupled_weight_decay: bool = False) -> None:
        refuse_differentiable(self._name, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_nonnegative("lr", group["lr"], "learning rate")
        check_nonnegative("eps", group["eps"], "epsilon value")
        beta1, beta2 = group["betas"]
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        check_nonnegative("weight_decay", group["weight_decay"], "weight_decay value")

    def _update(self, group):
        amsgrad = bool(group["amsgrad"])
        params = self._params_with_grad(group)
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                _fused.check_not_capturing(p)     # before any state is set
                state["step"] = 0.0
                state["exp_avg"] = _fused.state_buffer(p)
                state["exp_avg_sq"] = _fused.state_buffer(p)
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = _fused.state_buffer(p)
        flags = (_fused.MAXIMIZE if group["maximize"] else 0) | (_fused.AMSGRAD if amsgrad else 0)

        def scalars(step):
            # read at each run: a scheduler's lr (and OneCycleLR's betas) and the step count
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            decay, l2 = (1.0 - lr * wd, 0.0) if decoupled else (1.0, wd)
            bias_correction1 = 1.0 - beta1 ** step
            bias_correction2 = 1.0 - beta2 ** step
            return dict(decay=decay, wd=l2, one_minus_beta1=1.0 - beta1, beta2=beta2,
                        one_minus_beta2=1.0 - beta2, step_size=lr / bias_correction1,
                        bc2_sqrt=math.sqrt(bias_correction2), eps=eps)

        step_group(self, self._name, "adam", group, params,
                   lambda p: [self.state[p]["exp_avg"], self.state[p]["exp_avg_sq"],
                              self.state[p]["max_exp_avg_sq"] if amsgrad else None],
                   scalars, lambda p: flags)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _name = "AdamW"

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False,
                 differentiable: bool = False, fused: Optional[bool] = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
