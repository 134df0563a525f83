"""Helpers the distributions share (torch.distributions.utils' names): broadcasting parameters,
probabilities <-> logits, and ``lazy_property`` for a parameterisation computed on first use."""
from functools import update_wrapper
from numbers import Number

import numpy as np

from .. import dtypes
from ..autograd import enable_grad
from ..nn import functional as F
from ..ops import creation, pointwise
from ..kernels.layout import broadcast_shapes
from ..tensor import Size, Tensor

__all__ = ["broadcast_all", "logits_to_probs", "clamp_probs", "probs_to_logits",
           "lazy_property", "euler_constant"]

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant


def broadcast_tensors(*tensors):
    """Views of ``tensors`` expanded to their common broadcast shape (torch.broadcast_tensors)."""
    shape = broadcast_shapes("broadcast_tensors", *(t.shape for t in tensors))
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in tensors)


def broadcast_all(*values):
    """Tensors and numbers -> tensors of one broadcast shape. Numbers take the dtype and device
    of the first tensor among ``values`` (the default dtype when there is none), as in torch."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or "
                         "objects implementing __torch_function__.")
    if not all(isinstance(v, Tensor) for v in values):
        options = dict(dtype=dtypes.get_default_dtype())
        for v in values:
            if isinstance(v, Tensor):
                options = dict(dtype=v.dtype, device=v.device)
                break
        values = [v if isinstance(v, Tensor) else creation.tensor(v, **options) for v in values]
    return broadcast_tensors(*values)


def extended_shape(sample_shape, batch_shape, event_shape):
    return Size(tuple(Size(sample_shape)) + tuple(batch_shape) + tuple(event_shape))


def standard_normal(shape, dtype, device):
    return creation.empty(tuple(shape), dtype=dtype, device=device).normal_()


def logits_to_probs(logits, is_binary=False):
    """Logits -> probabilities: sigmoid for a binary variable, softmax over the last dim."""
    if is_binary:
        return pointwise.sigmoid(logits)
    return F.softmax(logits, dim=-1)


def clamp_probs(probs):
    """Clamp into [eps, 1 - eps] (eps of probs' dtype), so the logits stay finite."""
    eps = float(np.finfo(np.dtype(probs.dtype.np)).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    """Probabilities -> logits: log-odds for a binary variable, else log-probabilities."""
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return pointwise.log(ps_clamped) - pointwise.log1p(-ps_clamped)
    return pointwise.log(ps_clamped)


class lazy_property:
    """A property computed on first access (with gradients recorded even under no_grad, as the
    value is kept) and then stored on the instance, where it shadows this descriptor."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return _lazy_property_and_property(self.wrapped)
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class _lazy_property_and_property(lazy_property, property):
    """What the class attribute reads as: both a lazy_property (so validation can tell a lazily
    built parameter) and a property (so documentation tools see one)."""

    def __init__(self, wrapped):
        property.__init__(self, wrapped)
