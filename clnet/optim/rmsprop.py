"""RMSprop (optionally centered, with momentum, weight decay and maximize), PyTorch's rule."""
from . import _fused
from .optimizer import Optimizer, check_nonnegative, refuse_differentiable


class RMSprop(Optimizer):
    """``s = alpha*s + (1-alpha)*g^2``; ``p -= lr * g / (sqrt(s - mean_g^2 if centered) + eps)``,
    through a momentum buffer when ``momentum > 0``."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
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
            states = [state["square_avg"], state["grad_avg"] if centered else None,
                      state["momentum_buffer"] if momentum > 0 else None]
            _fused.fused_update("RMSprop", "rmsprop", p, states,
                                [lr, alpha, 1.0 - alpha, eps, float(group["weight_decay"]),
                                 momentum], flags)
            for s in states:
                if s is not None:
                    s._bump_version()
