"""Adadelta (rho, eps, weight decay, lr scaling, maximize), PyTorch's rule."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
from ._multi_tensor import step_group
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import ParamsT


class Adadelta(Optimizer):
    """``s = rho*s + (1-rho)*g^2``; ``delta = sqrt(acc+eps)/sqrt(s+eps)*g``;
    ``acc = rho*acc + (1-rho)*delta^2``; ``p -= lr*delta``."""

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, foreach: Optional[bool] = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        refuse_differentiable("Adadelta", differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_nonnegative("lr", group["lr"], "learning rate")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}")
        check_nonnegative("eps", group["eps"], "epsilon value")
        check_nonnegative("weight_decay", group["weight_decay"], "weight_decay value")

    def _update(self, group):
        params = self._params_with_grad(group)
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                _fused.check_not_capturing(p)     # before any state is set
                state["step"] = 0.0
                state["square_avg"] = _fused.state_buffer(p)
                state["acc_delta"] = _fused.state_buffer(p)
        flags = _fused.MAXIMIZE if group["maximize"] else 0

        def scalars(_step):
            rho = float(group["rho"])
            return dict(lr=float(group["lr"]), rho=rho, one_minus_rho=1.0 - rho,
                        eps=float(group["eps"]), wd=float(group["weight_decay"]))

        step_group(self, "Adadelta", "adadelta", group, params,
                   lambda p: [self.state[p]["square_avg"], self.state[p]["acc_delta"]],
                   scalars, lambda p: flags)
