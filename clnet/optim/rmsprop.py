"""RMSprop (optionally centered, with momentum, weight decay and maximize), PyTorch's rule."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
from ._multi_tensor import step_group
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import ParamsT


class RMSprop(Optimizer):
    """``s = alpha*s + (1-alpha)*g^2``; ``p -= lr * g / (sqrt(s - mean_g^2 if centered) + eps)``,
    through a momentum buffer when ``momentum > 0``."""

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach: Optional[bool] = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        refuse_differentiable("RMSprop", differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_nonnegative("lr", group["lr"], "learning rate")
        check_nonnegative("eps", group["eps"], "epsilon value")
        check_nonnegative("momentum", group["momentum"], "momentum value")
        check_nonnegative("weight_decay", group["weight_decay"], "weight_decay value")
        check_nonnegative("alpha", group["alpha"], "alpha value")

    def _update(self, group):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        params = self._params_with_grad(group)
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                _fused.check_not_capturing(p)     # before any state is set
                state["step"] = 0.0
                state["square_avg"] = _fused.state_buffer(p)
            # created when first needed, so momentum or centering may be switched on later
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = _fused.state_buffer(p)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = _fused.state_buffer(p)
        flags = ((_fused.MAXIMIZE if group["maximize"] else 0)
                 | (_fused.MOMENTUM if momentum > 0 else 0)
                 | (_fused.CENTERED if centered else 0))

        def scalars(_step):
            alpha = float(group["alpha"])
            return dict(lr=float(group["lr"]), alpha=alpha, one_minus_alpha=1.0 - alpha,
                        eps=float(group["eps"]), wd=float(group["weight_decay"]),
                        momentum=float(group["momentum"]))

        step_group(self, "RMSprop", "rmsprop", group, params,
                   lambda p: [self.state[p]["square_avg"],
                              self.state[p]["grad_avg"] if centered else None,
                              self.state[p]["momentum_buffer"] if momentum > 0 else None],
                   scalars, lambda p: flags)
