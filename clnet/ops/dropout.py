"""Dropout with torch.nn.functional's signatures: dropout, the channel-wise dropout1d / 2d / 3d,
alpha_dropout and feature_alpha_dropout.

The random mask is made on the device by one kernel (``clnet.ops.random.dropout_mask``, Philox,
scaled by 1 / (1 - p)); applying it is an ordinary multiplication, which records the backward
(grad * mask) by itself.
"""
import math
import numbers
import warnings

from ..tensor import Tensor
from .pointwise import add, mul
from .random import dropout_mask

# The functional forms (F.dropout(input, p, training, inplace)) are for clnet.nn.functional;
# torch.dropout(input, p, train) and friends are the ``torch_*`` functions, exported under
# torch's names by clnet/__init__.py.
__all__ = []

# SELU's constants: alpha * scale (the value a dropped unit takes before the affine correction)
_SELU_ALPHA_SCALE = 1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _check(op, input, p):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}(): p must be a number, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}(): expected a floating-point input, got {input.dtype} "
                        f"(shape {list(input._shape)})")


def _apply(input, mask, inplace):
    return input.mul_(mask) if inplace else mul(input, mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p); the input itself
    when not training or p == 0 (as in PyTorch)."""
    _check("dropout", input, p)
    if not training or p == 0:
        return input
    mask = dropout_mask(input._shape, p, device=input.device, dtype=input.dtype)
    return _apply(input, mask, inplace)


def _feature_dropout(op, input, p, training, inplace, batched):
    """Drop whole channels: one mask value per (sample, channel), broadcast over the rest."""
    _check(op, input, p)
    if not training or p == 0:
        return input
    lead = 2 if batched else 1
    shape = tuple(input._shape[:lead]) + (1,) * (input.dim() - lead)
    mask = dropout_mask(shape, p, device=input.device, dtype=input.dtype)
    return _apply(input, mask, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, L) or unbatched (C, L) inputs."""
    if input.dim() not in (2, 3):
        raise ValueError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D "
                         "input. Note that dropout1d exists to provide channel-wise dropout on "
                         "inputs with 1 spatial dimension, a channel dimension, and an optional "
                         "batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout("dropout1d", input, p, training, inplace, input.dim() == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, H, W) or unbatched (C, H, W) inputs. Like PyTorch, a 3-D
    input is taken as (N, C, L) (with a warning)."""
    if input.dim() < 2:
        raise ValueError("dropout2d: Feature dropout requires at least 2 dimensions in the input")
    if input.dim() not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is "
                      "deprecated; use dropout instead", stacklevel=2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L)",
                      stacklevel=2)
    return _feature_dropout("dropout2d", input, p, training, inplace, True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""
    if input.dim() < 2:
        raise ValueError("dropout3d: Feature dropout requires at least 2 dimensions in the input")
    if input.dim() not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.dim()}-D input to dropout3d, which is "
                      "deprecated; use dropout instead", stacklevel=2)
    return _feature_dropout("dropout3d", input, p, training, inplace, input.dim() != 4)


def _alpha(op, input, p, training, inplace, mask_shape):
    """SELU-preserving dropout: dropped units become -alpha*scale, then an affine map a*x + b
    restores zero mean and unit variance (PyTorch's formula)."""
    _check(op, input, p)
    if not training or p == 0:
        return input
    if p == 1:
        return _apply(input, dropout_mask(input._shape, 1.0, device=input.device,
                                          dtype=input.dtype), inplace)
    keep = mul(dropout_mask(mask_shape, p, device=input.device, dtype=input.dtype), 1.0 - p)
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALE ** 2 * p + 1) * (1 - p))
    b = add(mul(keep, _SELU_ALPHA_SCALE * a), -_SELU_ALPHA_SCALE * a * (1 - p))
    noise = mul(keep, a)
    if inplace:
        return input.mul_(noise).add_(b)
    return add(mul(input, noise), b)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """F.alpha_dropout (for SELU networks); note PyTorch's default training=False."""
    return _alpha("alpha_dropout", input, p, training, inplace, input._shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Channel-wise alpha dropout: one mask value per (sample, channel)."""
    if input.dim() < 2:
        raise ValueError("feature_alpha_dropout: Feature dropout requires at least 2 dimensions "
                         "in the input")
    shape = tuple(input._shape[:2]) + (1,) * (input.dim() - 2)
    return _alpha("feature_alpha_dropout", input, p, training, inplace, shape)


def torch_dropout(input, p, train):
    """torch.dropout(input, p, train)."""
    return dropout(input, p, train)


def torch_feature_dropout(input, p, train):
    """torch.feature_dropout: channel-wise dropout over dims 0 and 1 (N, C, *)."""
    if input.dim() < 2:
        raise ValueError("feature_dropout: Feature dropout requires at least 2 dimensions in the "
                         "input")
    return _feature_dropout("feature_dropout", input, p, train, False, True)


def torch_alpha_dropout(input, p, train):
    """torch.alpha_dropout(input, p, train)."""
    return alpha_dropout(input, p, train)


def torch_feature_alpha_dropout(input, p, train):
    """torch.feature_alpha_dropout(input, p, train)."""
    return feature_alpha_dropout(input, p, train)
