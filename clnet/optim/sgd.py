"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (PyTorch's rule)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
from ._multi_tensor import step_group
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import ParamsT


class SGD(Optimizer):
    """``p -= lr * d`` where ``d`` is the (weight-decayed) gradient or its momentum buffer
    ``buf = momentum * buf + (1 - dampening) * d`` (``d + momentum * buf`` with Nesterov)."""

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: Optional[bool] = None,
                 differentiable: bool = False, fused: Optional[bool] = None) -> None:
        refuse_differentiable("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_nonnegative("lr", group["lr"], "learning rate")
        check_nonnegative("momentum", group["momentum"], "momentum value")
        check_nonnegative("weight_decay", group["weight_decay"], "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, group):
        momentum = float(group["momentum"])
        params = self._params_with_grad(group)
        first = set()
        if momentum != 0:
            for p in params:
                state = self.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = _fused.state_buffer(p)
                    first.add(p)        # the buffer starts as the gradient (F_FIRST)
        flags = _fused.MAXIMIZE if group["maximize"] else 0
        if momentum != 0:
            flags |= _fused.MOMENTUM | (_fused.NESTEROV if group["nesterov"] else 0)

        def scalars(_step):
            return dict(lr=float(group["lr"]), momentum=float(group["momentum"]),
                        one_minus_dampening=1.0 - float(group["dampening"]),
                        wd=float(group["weight_decay"]))

        step_group(self, "SGD", "sgd", group, params,
                   lambda p: [self.state[p]["momentum_buffer"] if momentum != 0 else None],
                   scalars, lambda p: flags | (_fused.FIRST if p in first else 0),
                   counts_steps=False)
