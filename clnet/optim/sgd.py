"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (PyTorch's rule)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
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
        lr, momentum = float(group["lr"]), float(group["momentum"])
        flags = _fused.MAXIMIZE if group["maximize"] else 0
        if momentum != 0:
            flags |= _fused.MOMENTUM | (_fused.NESTEROV if group["nesterov"] else 0)
        for p in self._params_with_grad(group):
            buf = None
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                first = buf is None
                if first:
                    buf = _fused.state_buffer(p)
                    state["momentum_buffer"] = buf
                step_flags = flags | (_fused.FIRST if first else 0)
            else:
                step_flags = flags
            _fused.fused_update("SGD", "sgd", p, dict(buf=buf),
                                dict(lr=lr, momentum=momentum,
                                     one_minus_dampening=1.0 - float(group["dampening"]),
                                     wd=float(group["weight_decay"])), step_flags)
            if buf is not None:
                buf._bump_version()
