"""RMSprop (optionally centered, with momentum, weight decay and maximize), PyTorch's rule."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
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
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        flags = ((_fused.MAXIMIZE if group["maximize"] else 0)
                 | (_fused.MOMENTUM if momentum > 0 else 0)
                 | (_fused.CENTERED if centered else 0))
        for p in self._params_with_grad(group):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = _fused.state_buffer(p)
            # created when first needed, so momentum or centering may be switched on later
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = _fused.state_buffer(p)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = _fused.state_buffer(p)
            state["step"] += 1.0
            states = dict(square_avg=state["square_avg"],
                          grad_avg=state["grad_avg"] if centered else None,
                          buf=state["momentum_buffer"] if momentum > 0 else None)
            _fused.fused_update(
                "RMSprop", "rmsprop", p, states,
                dict(lr=lr, alpha=alpha, one_minus_alpha=1.0 - alpha, eps=eps,
                     wd=float(group["weight_decay"]), momentum=momentum), flags)
            for s in states.values():
                if s is not None:
                    s._bump_version()
