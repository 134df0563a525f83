"""``nn.utils``: gradient clipping, zeroing gradients, flattening parameters to one vector and back.

Gradient clipping stays on the device and takes a few launches whatever the number of
gradients (the multi-tensor kernels, kernels/multi_tensor.py): one launch per chunk of K
gradients folds each gradient into partial norms, one work-item turns them into the total norm
(PyTorch's norm of the per-gradient norms) and the clip coefficient ``min(1, max_norm / (norm +
1e-6))``, and one launch per chunk scales the gradients by that device value. Nothing waits for
the device, unless ``error_if_nonfinite=True``, which must read the norm. ``foreach=False``, and
gradients on more than one device, take PyTorch's per-gradient path (a norm per gradient, a
stack, a norm, a clamp and a multiply per gradient).
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Union
import math
import types
import warnings

from .. import dtypes, graph
from ..kernels import multi_tensor
from ..ops.copy import cast, contiguous, fill_into
from ..ops.creation import empty, tensor as make_tensor
from ..ops.join import cat, stack
from ..ops.pointwise import clamp, isfinite
from ..ops.reduce import all as all_, norm
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters):
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def _by_device_and_dtype(tensors):
    """{(device, dtype): [tensors]} in first-seen order (torch's
    ``_group_tensors_by_device_and_dtype``), and the tensors the multi-tensor kernels cannot
    address in place (non-contiguous)."""
    groups, strided = {}, []
    for t in tensors:
        if t.is_contiguous():
            groups.setdefault((t._storage.device, t.dtype), []).append(t)
        else:
            strided.append(t)
    return groups, strided


def _zero_grads(grads: List[Tensor]) -> None:
    """Every gradient of ``grads`` set to zero in place: one launch per device, dtype and chunk
    of K gradients (``zero_grad(set_to_none=False)`` of optimizers and modules)."""
    groups, strided = _by_device_and_dtype(grads)
    for (_, dt), ts in groups.items():
        multi_tensor.fill("zero_grad", ts, 0.0)
    for g in strided:
        if g.numel():
            fill_into(g, 0)
    for g in grads:
        g._bump_version()


_NORM_KINDS = {2.0: multi_tensor.NORM_L2, 1.0: multi_tensor.NORM_L1,
               math.inf: multi_tensor.NORM_INF, -math.inf: multi_tensor.NORM_NEG_INF,
               0.0: multi_tensor.NORM_ZERO}


def _nonfinite_error(norm_type):
    return RuntimeError(
        f"The total norm of order {norm_type} for gradients from `parameters` is "
        "non-finite, so it cannot be clipped. To disable this error and scale the "
        "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")


def _check_nonfinite(total_norm, norm_type):
    if not bool(all_(isfinite(total_norm)).item()):
        raise _nonfinite_error(norm_type)


def _single_device(tensors):
    return len({t._storage.device for t in tensors}) == 1


def _fused_norm(tensors, norm_type, max_norm):
    """(total norm, clip coefficient) of ``tensors`` (one device) through the multi-tensor norm:
    the total in the promoted dtype of the tensors, the coefficient in the accumulation dtype
    (float64 for a float64 total, else float32)."""
    result = tensors[0].dtype
    for t in tensors[1:]:
        result = dtypes.promote_types(result, t.dtype)
    acc = dtypes.float64 if result is dtypes.float64 else dtypes.float32
    kind = _NORM_KINDS.get(norm_type, multi_tensor.NORM_P)
    dev = tensors[0]._storage.device
    filled = [t if t.is_contiguous() else contiguous(t) for t in tensors if t.numel()]
    if len(filled) != len(tensors) and kind in (multi_tensor.NORM_INF, multi_tensor.NORM_NEG_INF):
        raise RuntimeError(f"clip_grad_norm_: cannot compute the {norm_type} norm of an empty "
                           "gradient (the operation has no identity), as in PyTorch")
    groups, _ = _by_device_and_dtype(filled)
    n_groups = multi_tensor.norm_groups(dev, max((t.numel() for t in filled), default=1))
    partials = empty((max(1, len(filled)) * n_groups,), dtype=acc, device=dev)
    first = 0
    for (_, dt), ts in groups.items():
        multi_tensor.norm_partials("clip_grad_norm_", ts, partials, first, n_groups, kind,
                                   norm_type)
        first += len(ts)
    total = empty((), dtype=result, device=dev)
    coef = empty((1,), dtype=acc, device=dev)
    multi_tensor.norm_finish(partials, len(filled), n_groups, kind, norm_type, max_norm, total,
                             coef)
    return total, coef


def _per_tensor_total_norm(grads, norm_type):
    """PyTorch's per-gradient path: a norm per gradient, stacked, and their norm."""
    first = grads[0].device
    result_dtype = grads[0].dtype
    for g in grads[1:]:
        result_dtype = dtypes.promote_types(result_dtype, g.dtype)
    norms = [norm(g, norm_type).to(device=first, dtype=result_dtype) for g in grads]
    return norm(stack(norms), norm_type)


def get_total_norm(tensors: Union[Tensor, Iterable[Tensor]], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Tensor:
    """The ``norm_type`` norm of the norms of ``tensors`` (as if concatenated into one vector),
    a 0-d tensor on the first tensor's device in their promoted dtype, never read back here."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return make_tensor(0.0)
    prev = graph.set_grad_enabled_flag(False)
    try:
        if foreach is not False and _single_device(tensors):
            total_norm, _ = _fused_norm(tensors, norm_type, 1.0)
        else:
            total_norm = _per_tensor_total_norm(tensors, norm_type)
        if error_if_nonfinite:
            _check_nonfinite(total_norm, norm_type)
    finally:
        graph.set_grad_enabled_flag(prev)
    return total_norm


def _scale_grads(grads, coef, foreach):
    """``g *= coef`` for every gradient (``coef`` a one-element device tensor)."""
    if foreach is False:
        for g in grads:
            g.mul_(coef.to(device=g.device, dtype=g.dtype))
        return
    groups, strided = _by_device_and_dtype(grads)
    for (dev, dt), ts in groups.items():
        c = coef if coef._storage.device is dev else coef.to(device=dev)
        c = c if c.dtype is dt.compute else cast(c, dt.compute)
        multi_tensor.scale("clip_grads_with_norm_", ts, c.reshape(1))
        for g in ts:
            g._bump_version()
    for g in strided:
        g.mul_(coef.to(device=g.device, dtype=g.dtype))


def clip_grads_with_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                          total_norm: Tensor, foreach: Optional[bool] = None) -> None:
    """Scale the gradients in place by ``min(max_norm / (total_norm + 1e-6), 1)`` (a device
    value: nothing is read back)."""
    grads = _grads(parameters)
    if not grads:
        return
    prev = graph.set_grad_enabled_flag(False)
    try:
        coef = clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
        _scale_grads(grads, coef, foreach)
    finally:
        graph.set_grad_enabled_flag(prev)


def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Optional[bool] = None) -> Tensor:
    """Scale the gradients in place so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d tensor on the first gradient's
    device, never read back here). ``foreach=False`` takes PyTorch's per-gradient path."""
    if isinstance(parameters, types.GeneratorType):
        parameters = list(parameters)
        if not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return make_tensor(0.0)
    prev = graph.set_grad_enabled_flag(False)
    try:
        if foreach is not False and _single_device(grads):
            total_norm, coef = _fused_norm(grads, norm_type, max_norm)
            if error_if_nonfinite:
                _check_nonfinite(total_norm, norm_type)
        else:
            total_norm = _per_tensor_total_norm(grads, norm_type)
            if error_if_nonfinite:
                _check_nonfinite(total_norm, norm_type)
            coef = clamp(max_norm / (total_norm + 1e-6), max=1.0)
        _scale_grads(grads, coef, foreach)
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
    """Clamp every gradient in place to [-clip_value, clip_value] (one launch per device, dtype
    and chunk of K gradients; NaN stays NaN)."""
    clip_value = float(clip_value)
    grads = _grads(parameters)
    prev = graph.set_grad_enabled_flag(False)
    try:
        if foreach is False:
            for g in grads:
                g.clamp_(min=-clip_value, max=clip_value)
            return
        groups, strided = _by_device_and_dtype(grads)
        for _, ts in groups.items():
            multi_tensor.clamp("clip_grad_value_", ts, -clip_value, clip_value)
            for g in ts:
                g._bump_version()
        for g in strided:
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
