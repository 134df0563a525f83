"""``clnet.nn.functional``: torch.nn.functional's names and signatures over clnet ops.

Activations, softmax, linear, attention and the small helpers live here; the loss functions in
``clnet/nn/functional_losses.py`` (their modules are in nn/modules/loss.py); kernels for
convolution, pooling and normalisation in ``clnet/ops``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence
import math
import sys

from .. import dtypes
from ..tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..ops.creation import arange, tensor as make_tensor
from ..ops.index import index_select

from ..ops import autocast as _autocast
from ..ops import pointwise as _pointwise
from ..ops import reduce as R
from ..ops.index import one_hot  # noqa: F401
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: F401
from ..ops.dropout import (alpha_dropout, dropout, dropout1d, dropout2d, dropout3d,  # noqa
                           feature_alpha_dropout)
from ..ops.embedding import embedding  # noqa: F401
from ..ops.linalg import linear, matmul
from ..ops.norm import batch_norm, group_norm, layer_norm, rms_norm  # noqa: F401
from ..ops.pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,  # noqa
                        adaptive_max_pool2d, avg_pool1d, avg_pool2d, interpolate, max_pool1d,
                        max_pool2d)
from ..ops.pool import pad as _constant_pad
from ..ops.softmax import log_softmax, softmax
from ..ops.tensor_shape import pixel_shuffle, pixel_unshuffle  # noqa: F401
from ..ops.views import transpose
from .functional_losses import *  # noqa: F401,F403
from .vision import affine_grid, grid_sample  # noqa: F401
from .functional_losses import __all__ as _loss_names

if TYPE_CHECKING:
    from .common_types import _ratio_any_t, _size_any_t
    from ..types import _dtype

# typed Any: ops/pointwise.py makes its unary functions (P.exp, P.sigmoid...) in a loop, which a
# type checker cannot see
P: Any = _pointwise

relu = P.relu
leaky_relu = P.leaky_relu
elu = P.elu
celu = P.celu
gelu = P.gelu
softplus = P.softplus
hardtanh = P.hardtanh
relu6 = P.relu6
threshold = P.threshold
sigmoid = P.sigmoid
tanh = P.tanh
silu = P.silu
mish = P.mish
selu = P.selu
softsign = P.softsign
hardsigmoid = P.hardsigmoid
hardswish = P.hardswish
logsigmoid = P.logsigmoid


def relu_(input: Tensor) -> Tensor:
    return P.relu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return P.leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return P.elu(input, alpha, inplace=True)


def tanhshrink(input: Tensor) -> Tensor:
    return input - P.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return P.where(input > lambd, input - lambd, P.where(input < -lambd, input + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return P.where(P.abs(input) > lambd, input, 0.0)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    a, b = input.chunk(2, dim)
    return a * P.sigmoid(b)


def softmin(input: Tensor, dim: Optional[int] = None, dtype: Optional[_dtype] = None) -> Tensor:
    return softmax(-input, dim, dtype)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Optional[Tensor] = None) -> Tensor:
    """input / max(||input||_p over dim, eps)."""
    norm = R.norm(input, p, dim, keepdim=True)
    r = input / P.clamp(norm, min=eps)
    return r if out is None else out.copy_(r)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    w12 = R.sum(x1 * x2, dim)
    n1 = P.sqrt(R.sum(x1 * x1, dim))
    n2 = P.sqrt(R.sum(x2 * x2, dim))
    return w12 / P.clamp(n1 * n2, min=eps)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    return R.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Optional[Tensor] = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k for weight (out, in1, in2)."""
    # (N, in1) @ (out, in1, in2) -> (out, N, in2), then contract with x2
    t = matmul(input1.unsqueeze(0), weight)                # (out, N, in2)
    y = R.sum(t * input2.unsqueeze(0), -1)                 # (out, N)
    y = transpose(y, 0, 1)
    return y + bias if bias is not None else y


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Optional[Tensor] = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + mask) V, like torch's reference implementation.

    ``attn_mask``: a bool mask (True = attend) or a float mask added to the scores;
    ``is_causal``: a lower-triangular mask (cannot be combined with attn_mask)."""
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: is_causal and attn_mask cannot both be "
                         "set")
    L, S = query._shape[-2], key._shape[-2]
    s = (1.0 / math.sqrt(query._shape[-1])) if scale is None else scale
    scores = matmul(query, transpose(key, -2, -1)) * s
    if is_causal:
        scores = P.where(_causal_mask(L, S, query.device), scores, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype.name == "bool":
            scores = P.where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    attn = softmax(scores, -1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return matmul(attn, value)


def _causal_mask(L, S, device):
    """bool (L, S) mask, True on and below the diagonal (aligned to the top-left like torch)."""
    rows = arange(L, device=device).unsqueeze(1)
    cols = arange(S, device=device).unsqueeze(0)
    return cols <= rows


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(mode, n, left, right, d, shape):
    """Source positions along one dimension of size n for output positions 0..n+left+right-1:
    position j reads input p = j - left, folded back into [0, n) by the mode (negative amounts
    crop, as in torch). Checks torch's per-mode limits first."""
    out = n + left + right
    if mode == "reflect":
        if left >= n or right >= n:
            raise RuntimeError(f"Argument #{2 * (len(shape) - d) + 2}: Padding size should be less "
                               f"than the corresponding input dimension, but got: padding "
                               f"({left}, {right}) at dimension {d} of input {list(shape)}")
    if mode == "circular":
        if left > n or right > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if out < 0:
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
    elif out < 1:
        raise RuntimeError(f"input (dimension {d} of size {n}) is too small. Calculated output "
                           f"size: {out} (padding ({left}, {right}), mode={mode!r})")
    idx = []
    for j in range(out):
        p = j - left
        if mode == "reflect":
            p = -p if p < 0 else (2 * (n - 1) - p if p >= n else p)
        elif mode == "replicate":
            p = min(max(p, 0), n - 1)
        else:   # circular crops first, then wraps within what is left (torch's order)
            lo = max(0, -left)
            p = lo + (j - max(left, 0)) % (n - lo - max(0, -right))
        idx.append(p)
    return idx


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: Optional[float] = None) -> Tensor:
    """torch.nn.functional.pad. ``pad`` lists (left, right) amounts from the last dimension
    backwards; negative amounts crop. 'constant' fills with ``value``; 'reflect', 'replicate'
    and 'circular' pad the last 1, 2 or 3 dims of a (batched or unbatched) input by gathering
    the source position of every output position with index_select, one dim at a time, so the
    gradient is index_select's (index_add: positions read twice sum their gradients)."""
    if mode not in _PAD_MODES:
        # torch's exception type and message for an unknown mode
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode == "constant":
        return _constant_pad(input, pad, mode, value)
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: expected a Tensor input, got {type(input).__name__}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    pad = [int(p) for p in pad]
    nd = input.dim()
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > nd:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{nd}")
    k = len(pad) // 2
    if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
        # torch raises NotImplementedError for these combinations too (same message)
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {nd}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    shape = tuple(input.shape)
    planes = shape[1:] if nd == k + 2 else shape    # every dim but the batch must be non-empty
    if mode != "circular" and 0 in planes:
        raise RuntimeError(f"Expected {nd - 1}D or {nd}D (batch mode) tensor with possibly 0 "
                           f"batch size and other non-zero dimensions for input, but got: "
                           f"{list(shape)}")
    indices = []
    for i in range(k):
        d = nd - 1 - i
        indices.append((d, _pad_index(mode, shape[d], pad[2 * i], pad[2 * i + 1], d, shape)))
    out = input
    for d, idx in indices:
        out = index_select(out, d, make_tensor(idx, dtype=dtypes.int64, device=input.device))
    return out


def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None,
                  running_var: Optional[Tensor] = None, weight: Optional[Tensor] = None,
                  bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.instance_norm: each (sample, channel) plane of an (N, C, *) input
    normalised over its own positions, then a per-channel affine. With batch statistics this
    is group_norm with one group per channel. Given running statistics and use_input_stats,
    they are updated like torch's: batch_norm over the input seen as (1, N * C, *), with the
    stats repeated N times, whose updated copies are then averaged over N. Without
    use_input_stats it is batch_norm in evaluation mode with the running statistics."""
    if not isinstance(input, Tensor):
        raise TypeError(f"instance_norm: expected a Tensor input, got {type(input).__name__}")
    if input.dim() < 2:
        raise ValueError(f"instance_norm(): expected an input with at least 2 dimensions "
                         f"(N, C, *), got shape {list(input.shape)}")
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {list(input.shape)}")
        if running_mean is None and running_var is None:
            return group_norm(input, input.shape[1], weight, bias, eps)
    else:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if running_mean is None or running_var is None:
        raise ValueError("instance_norm(): pass both running_mean and running_var, or neither")
    N, C = input.shape[0], input.shape[1]
    rm, rv = running_mean.repeat(N), running_var.repeat(N)
    flat = input.reshape((1, N * C) + tuple(input.shape[2:]))
    y = batch_norm(flat, rm, rv, None, None, True, momentum, eps).reshape(input.shape)
    with no_grad():
        running_mean.copy_(rm.reshape(N, C).mean(0))
        running_var.copy_(rv.reshape(N, C).mean(0))
    chan = (1, C) + (1,) * (input.dim() - 2)
    if weight is not None:
        y = y * weight.reshape(chan)
    if bias is not None:
        y = y + bias.reshape(chan)
    return y


__all__ = ["relu", "relu_", "leaky_relu", "leaky_relu_", "elu", "elu_", "celu", "gelu",
           "softplus", "hardtanh", "relu6", "threshold", "sigmoid", "tanh", "silu", "mish", "selu",
           "softsign", "hardsigmoid", "hardswish", "logsigmoid", "tanhshrink", "softshrink",
           "hardshrink", "glu", "softmax", "log_softmax", "softmin", "normalize",
           "cosine_similarity", "pairwise_distance", "linear", "bilinear", "one_hot",
           "scaled_dot_product_attention", "conv1d", "conv2d", "conv_transpose1d",
           "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "interpolate", "pad", "upsample", "dropout", "dropout1d",
           "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "embedding",
           "batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "pixel_shuffle",
           "pixel_unshuffle", "affine_grid", "grid_sample"] + list(_loss_names)


def upsample(input: Tensor, size: Optional[_size_any_t] = None,
             scale_factor: Optional[_ratio_any_t] = None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    return interpolate(input, size, scale_factor, mode, align_corners)


# autocast (ops/autocast.py): scaled_dot_product_attention, bilinear, cosine_similarity and the
# losses re-exported here cast their inputs at entry
_autocast.wrap_module(sys.modules[__name__])
