"""``nn.utils``: gradient clipping and flattening parameters to one vector and back.

Gradient clipping stays on the device: the total norm is a 0-d tensor and the scale
``min(1, max_norm / (norm + 1e-6))`` is computed by a kernel and multiplied into the gradients,
so nothing waits for the device (unless ``error_if_nonfinite=True``, which must read the norm).
"""
from __future__ import annotations

from typing import Iterable, Optional, Union
import warnings

from .. import dtypes, graph
from ..ops.creation import tensor as make_tensor
from ..ops.join import cat, stack
from ..ops.pointwise import clamp, isfinite
from ..ops.reduce import all as all_, norm
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters):
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Optional[bool] = None) -> Tensor:
    """Scale the gradients in place so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d tensor on the first gradient's
    device, never read back here). ``foreach`` is accepted and ignored (one path)."""

    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return make_tensor(0.0)
    prev = graph.set_grad_enabled_flag(False)
    try:
        first = grads[0].device
        result_dtype = grads[0].dtype
        for g in grads[1:]:
            result_dtype = dtypes.promote_types(result_dtype, g.dtype)
        norms = [norm(g, norm_type).to(device=first, dtype=result_dtype) for g in grads]
        total_norm = norm(stack(norms), norm_type)
        if error_if_nonfinite and not bool(all_(isfinite(total_norm)).item()):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
        clip_coef = clamp(max_norm / (total_norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(clip_coef.to(device=g.device, dtype=g.dtype))
    finally:
        graph.set_grad_enabled_flag(prev)
    return total_norm


def clip_grad_norm(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: Optional[bool] = None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (PyTorch keeps it with a warning)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float,
                     foreach: Optional[bool] = None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    prev = graph.set_grad_enabled_flag(False)
    try:
        for g in _grads(parameters):
            g.clamp_(min=-clip_value, max=clip_value)
    finally:
        graph.set_grad_enabled_flag(prev)


def _check_same_device(param, old_device):
    if old_device is not None and param.device != old_device:
        raise TypeError("Found two parameters on different devices, this is currently not "
                        "supported.")
    return param.device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    device = None
    vec = []
    for p in parameters:
        device = _check_same_device(p, device)
        vec.append(p.view(-1))
    return cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Point each parameter's data at its slice of ``vec`` (a view: they share ``vec``'s
    storage afterwards, as in PyTorch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    device = None
    pointer = 0
    for p in parameters:
        device = _check_same_device(p, device)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view_as(p).data
        pointer += n
