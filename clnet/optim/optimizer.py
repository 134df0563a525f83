"""``Optimizer``: PyTorch's optimizer base class (param groups, per-parameter state, state_dict).

Subclasses implement ``_update(group)``, which enqueues the group's update through
``_multi_tensor.step_group``: one multi-tensor launch per device/dtype bucket and chunk of
parameters by default, one fused kernel per parameter with ``foreach=False`` (``_fused.py``);
``step`` wraps it with the closure, no_grad and the step hooks.

Difference from PyTorch: ``state[p]['step']`` is a Python float, not a 0-d tensor. The step count
is known on the host, and keeping it there lets bias corrections be computed without reading the
device. ``load_state_dict`` accepts PyTorch's tensor steps too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, DefaultDict, Dict, List, Mapping, Optional
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from ..tensor import Tensor
from ..autograd.grad_mode import enable_grad, no_grad
from ..nn.utils import _zero_grads
from ..ops.copy import cast, contiguous, from_numpy_to, to_device

if TYPE_CHECKING:
    from ..types import ParamsT


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class _RemovableHandle:
    def __init__(self, hooks: Dict[int, Callable[..., Any]], key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


def _typename(x):
    return f"{type(x).__module__}.{type(x).__name__}"


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts) and ``state`` (dict per parameter)."""

    _hook_counter = 0
    # what __init__ sets (declared for type checkers): ``state`` is keyed by parameter
    defaults: Dict[str, Any]
    state: DefaultDict[Any, Dict[str, Any]]
    param_groups: List[Dict[str, Any]]
    _step_pre_hooks: Dict[int, Callable[..., Any]]
    _step_post_hooks: Dict[int, Callable[..., Any]]

    def __init__(self, params: ParamsT, defaults: Dict[str, Any]) -> None:
        self.defaults = defaults
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups: List[Any] = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group))

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters (a dict with 'params' and optional hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        param_group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating point tensors, but one "
                                f"of the params has dtype {p.dtype}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = set()
        for group in self.param_groups:
            existing.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not existing.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(param_group)
        self.param_groups.append(param_group)

    def _check_group(self, group):
        """Subclasses validate a group's hyper-parameters (groups may override the defaults)."""

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to None by default, as PyTorch 2 does;
        ``set_to_none=False`` zeroes them in one launch per device, dtype and chunk of
        gradients: the multi-tensor fill)."""
        grads = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad = False
                grads.append(p.grad)
        _zero_grads(grads)

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One update of every parameter with a gradient; returns ``closure()``'s loss if given."""
        for hook in list(self._step_pre_hooks.values()):
            result = hook(self, (), {})
            if result is not None:
                raise RuntimeError("optimizer step pre-hooks must return None "
                                   "(changing step's arguments is not supported)")
        self._opt_called = True     # schedulers warn when stepped before the optimizer
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update(group)
        for hook in list(self._step_post_hooks.values()):
            hook(self, (), {})
        return loss

    def _update(self, group):
        raise TypeError(f"{type(self).__name__} does not define an update rule")

    def _params_with_grad(self, group):
        """The group's parameters that have a gradient (the others are skipped, as in PyTorch)."""
        out = []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if getattr(g, "is_sparse", False):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients: "
                                   "clnet's update kernels take dense gradients (assign "
                                   "p.grad = p.grad.to_dense() first)")
            if g._shape != p._shape:
                raise RuntimeError(f"{type(self).__name__}.step: gradient of shape "
                                   f"{list(g._shape)} does not match its parameter's shape "
                                   f"{list(p._shape)}")
            if g.dtype is not p.dtype:
                raise TypeError(f"{type(self).__name__}.step: gradient dtype {g.dtype} does not "
                                f"match its parameter's dtype {p.dtype}")
            out.append(p)
        return out

    # ------------------------------------------------------------------ hooks
    def _add_hook(self, hooks, hook):
        Optimizer._hook_counter += 1
        hooks[Optimizer._hook_counter] = hook
        return _RemovableHandle(hooks, Optimizer._hook_counter)

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before each step."""
        return self._add_hook(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs after each step."""
        return self._add_hook(self._step_post_hooks, hook)

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> Dict[str, Any]:
        """PyTorch's format: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index,
        ...]}]}`` with parameters numbered in group order. State tensors are references, as in
        PyTorch (clone them to keep a snapshot while training goes on)."""
        index_of = {}
        groups = []
        next_index = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in index_of:
                    index_of[id(p)] = next_index
                    next_index += 1
                ids.append(index_of[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index_of[id(p)]: s for p, s in self.state.items() if id(p) in index_of}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a ``state_dict()`` (ours or PyTorch's): state tensors are copied to each
        parameter's device (and floating state to its dtype); hyper-parameters come from the
        saved groups."""
        saved_groups = deepcopy(state_dict["param_groups"])
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: DefaultDict[Any, Dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {key: state_value_for(p, key, val) for key, val in v.items()}
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def state_value_for(p: Tensor, key: str, value: Any) -> Any:
    """A loaded state entry placed for parameter ``p``: 'step' becomes a host float; tensors
    (clnet, PyTorch or numpy) go to p's device, floating ones in p's dtype."""
    if key == "step":
        return float(value)
    if isinstance(value, Tensor):
        with no_grad():
            t = to_device(value.detach(), p._storage.device)
            if t.dtype.is_floating_point and t.dtype is not p.dtype:
                t = cast(t, p.dtype)
            elif t._storage is value._storage:
                t = t.clone()       # never alias the caller's tensors (they may be a snapshot)
            return contiguous(t)
    host = None
    if isinstance(value, np.ndarray):
        host = value
    elif hasattr(value, "detach") and hasattr(value, "numpy"):   # a torch.Tensor
        host = value.detach().cpu().numpy()
    if host is not None:
        dt = p.dtype if np.issubdtype(host.dtype, np.floating) else None
        return from_numpy_to(np.ascontiguousarray(host), p._storage.device, dt)
    return value


def check_nonnegative(name: str, value: float, label: Optional[str] = None) -> None:
    """PyTorch's hyper-parameter checks: ``ValueError('Invalid <label>: <value>')``."""
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label or name}: {value}")


def refuse_differentiable(opt_name: str, differentiable: bool) -> None:
    if differentiable:
        raise ValueError(f"{opt_name}: differentiable=True is not supported by clnet's fused "
                         "update kernels")


__all__ = ["Optimizer", "required"]
