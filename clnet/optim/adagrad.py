"""Adagrad (learning-rate decay, weight decay, initial accumulator value, maximize)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from . import _fused
from ._multi_tensor import step_group
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable

if TYPE_CHECKING:
    from ..tensor import Tensor
    from ..types import ParamsT


class Adagrad(Optimizer):
    """``sum += g^2``; ``p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(sum) + eps)``. As in PyTorch
    the state (step 0, ``sum`` filled with ``initial_accumulator_value``) exists from the start."""

    def __init__(self, params: ParamsT, lr: Union[float, Tensor] = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: Optional[bool] = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: Optional[bool] = None) -> None:
        refuse_differentiable("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        self._check_group(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_group(self, group):
        check_nonnegative("lr", group["lr"], "learning rate")
        check_nonnegative("lr_decay", group["lr_decay"], "lr_decay value")
        check_nonnegative("weight_decay", group["weight_decay"], "weight_decay value")
        check_nonnegative("initial_accumulator_value", group["initial_accumulator_value"],
                          "initial_accumulator_value value")
        check_nonnegative("eps", group["eps"], "epsilon value")

    def _init_state(self, p, group):
        state = self.state[p]
        if len(state) == 0:
            _fused.check_not_capturing(p)     # before any state is set
            state["step"] = 0.0
            state["sum"] = _fused.state_buffer(p, float(group["initial_accumulator_value"]))
        return state

    def _update(self, group):
        params = self._params_with_grad(group)
        for p in params:
            self._init_state(p, group)
        flags = _fused.MAXIMIZE if group["maximize"] else 0

        def scalars(step):
            clr = float(group["lr"]) / (1.0 + (step - 1.0) * float(group["lr_decay"]))
            return dict(clr=clr, eps=float(group["eps"]), wd=float(group["weight_decay"]))

        step_group(self, "Adagrad", "adagrad", group, params,
                   lambda p: [self.state[p]["sum"]], scalars, lambda p: flags)
