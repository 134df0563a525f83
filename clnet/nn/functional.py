"""``clnet.nn.functional``: torch.nn.functional's names and signatures over clnet ops.

Activations, softmax, linear, attention and the small helpers live here; losses in
``clnet/nn/losses.py``; kernels for convolution, pooling and normalisation in ``clnet/ops``.
"""
import math

from ..ops import pointwise as P
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
                        max_pool2d, pad)
from ..ops.softmax import log_softmax, softmax
from ..ops.tensor_shape import pixel_shuffle, pixel_unshuffle  # noqa: F401
from ..ops.views import transpose
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _loss_names

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


def relu_(input):
    return P.relu(input, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return P.leaky_relu(input, negative_slope, inplace=True)


def elu_(input, alpha=1.0):
    return P.elu(input, alpha, inplace=True)


def tanhshrink(input):
    return input - P.tanh(input)


def softshrink(input, lambd=0.5):
    return P.where(input > lambd, input - lambd, P.where(input < -lambd, input + lambd, 0.0))


def hardshrink(input, lambd=0.5):
    return P.where(P.abs(input) > lambd, input, 0.0)


def glu(input, dim=-1):
    a, b = input.chunk(2, dim)
    return a * P.sigmoid(b)


def softmin(input, dim=None, dtype=None):
    return softmax(-input, dim, dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p over dim, eps)."""
    norm = R.norm(input, p, dim, keepdim=True)
    r = input / P.clamp(norm, min=eps)
    return r if out is None else out.copy_(r)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    w12 = R.sum(x1 * x2, dim)
    n1 = P.sqrt(R.sum(x1 * x1, dim))
    n2 = P.sqrt(R.sum(x2 * x2, dim))
    return w12 / P.clamp(n1 * n2, min=eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return R.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for weight (out, in1, in2)."""
    # (N, in1) @ (out, in1, in2) -> (out, N, in2), then contract with x2
    t = matmul(input1.unsqueeze(0), weight)                # (out, N, in2)
    y = R.sum(t * input2.unsqueeze(0), -1)                 # (out, N)
    y = transpose(y, 0, 1)
    return y + bias if bias is not None else y


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
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
    from ..ops.creation import arange
    rows = arange(L, device=device).unsqueeze(1)
    cols = arange(S, device=device).unsqueeze(0)
    return cols <= rows


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
           "batch_norm", "layer_norm", "group_norm", "rms_norm", "pixel_shuffle",
           "pixel_unshuffle"] + list(_loss_names)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)

