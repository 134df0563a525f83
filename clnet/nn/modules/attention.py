"""MultiheadAttention with PyTorch's parameters, init, masks and return values.

Computed as torch.nn.functional.multi_head_attention_forward does: project q, k, v (one GEMM
for self-attention, where query is key is value), split heads as (N, H, L, head_dim) views,
softmax(q k^T / sqrt(head_dim) + mask) v with matmul/softmax (their gradients come from
autograd), merge heads, out_proj. Masks: bool ``attn_mask`` / ``key_padding_mask`` use torch's
MHA convention (True = NOT allowed, the opposite of scaled_dot_product_attention's), float masks
are added to the scores; both are merged into one additive mask that broadcasts over
(N, H, L, S) without being expanded. ``is_causal`` is torch's hint: with no key_padding_mask and
need_weights=False torch does not read attn_mask and applies the causal mask, and so does this.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple
import math
import warnings

from ... import dtypes
from ...ops.creation import empty, full, zeros
from ...ops.dropout import dropout as _dropout
from ...ops.join import cat
from ...ops.linalg import linear, matmul
from ...ops.pointwise import triu, where
from ...ops.softmax import softmax
from ...tensor import Tensor
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear

if TYPE_CHECKING:
    from ...types import Device, _dtype

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


class NonDynamicallyQuantizableLinear(Linear):
    """torch's out_proj class name; quantization does not exist here, so it is a Linear."""


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """torch's F._canonical_mask: a bool mask (True = not allowed) as 0 / -inf of
    ``target_type``, a float mask as it is; warns, as torch does, when ``mask`` and the other
    mask given with it (``other_type``, its dtype) differ in kind."""
    if mask is None:
        return None
    if mask.dtype != dtypes.bool_ and not mask.dtype.is_floating_point:
        raise TypeError(f"only bool and floating types of {mask_name} are supported, got "
                        f"{mask.dtype}")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if mask.dtype == dtypes.bool_:
        return where(mask, float("-inf"), 0.0).to(target_type)
    return mask


def _none_or_dtype(mask):
    return None if mask is None else mask.dtype


def _causal_additive(L, S, dt, device):
    """(L, S): 0 on and below the diagonal, -inf above (torch's is_causal, top-left aligned)."""
    return triu(full((L, S), float("-inf"), dtype=dt, device=device), 1)


def _factory(device, dtype):
    return {"device": device, "dtype": dtypes.to_dtype(dtype) if dtype is not None else None}


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size embed_dim // num_heads."""

    bias_k: Optional[Parameter]     # None unless add_bias_kv
    bias_v: Optional[Parameter]

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: Optional[int] = None, vdim: Optional[int] = None, batch_first: bool = False,
                 device: Device = None, dtype: Optional[_dtype] = None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        kw = _factory(device, dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError(f"embed_dim must be divisible by num_heads (embed_dim={embed_dim}, "
                             f"num_heads={num_heads})")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    # -------------------------------------------------------------- checks
    def _check(self, query, key, value):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention: expected {name} to be a Tensor, got "
                                f"{type(t).__name__}")
        if query.dim() not in (2, 3):
            raise ValueError(f"MultiheadAttention: query should be unbatched 2D or batched 3D "
                             f"tensor but received {query.dim()}-D query tensor")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(f"MultiheadAttention: query, key and value must all be "
                             f"{query.dim()}-D, got shapes {list(query._shape)}, "
                             f"{list(key._shape)} and {list(value._shape)}")
        if query._shape[-1] != self.embed_dim:
            raise ValueError(f"MultiheadAttention: was expecting embedding dimension of "
                             f"{self.embed_dim}, but got {query._shape[-1]} (query shape "
                             f"{list(query._shape)})")
        if key._shape[-1] != self.kdim or value._shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention: key / value feature sizes "
                             f"{key._shape[-1]} / {value._shape[-1]} do not match kdim "
                             f"{self.kdim} / vdim {self.vdim}")
        if key._shape[:-1] != value._shape[:-1]:
            raise ValueError(f"MultiheadAttention: key shape {list(key._shape)} does not match "
                             f"value shape {list(value._shape)}")
        if query.dim() == 3 and query._shape[1 - self.batch_first * 1] != \
                key._shape[1 - self.batch_first * 1]:
            raise ValueError(f"MultiheadAttention: query and key batch sizes differ (shapes "
                             f"{list(query._shape)} and {list(key._shape)}, "
                             f"batch_first={self.batch_first})")

    def _merged_mask(self, attn_mask, key_padding_mask, N, L, S, batched):
        """One additive mask broadcastable to (N, H, L, S), or None (masks already additive)."""
        H = self.num_heads
        merged = None
        if attn_mask is not None:
            m = attn_mask
            if m.dim() == 2:
                if tuple(m._shape) != (L, S):
                    raise ValueError(f"MultiheadAttention: The shape of the 2D attn_mask is "
                                     f"{list(m._shape)}, but should be {[L, S]}.")
            elif m.dim() == 3:
                if tuple(m._shape) != (N * H, L, S):
                    raise ValueError(f"MultiheadAttention: The shape of the 3D attn_mask is "
                                     f"{list(m._shape)}, but should be {[N * H, L, S]}.")
                m = m.reshape(N, H, L, S)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask's dimension {m.dim()} is not "
                                 "supported")
            merged = m
        if key_padding_mask is not None:
            k = key_padding_mask
            expected = (N, S) if batched else (S,)
            if tuple(k._shape) != expected:
                raise ValueError(f"MultiheadAttention: expecting key_padding_mask shape of "
                                 f"{list(expected)}, but got {list(k._shape)}")
            k = k.reshape(N, 1, 1, S)
            merged = k if merged is None else merged + k
        return merged

    # -------------------------------------------------------------- forward
    def _projections(self, query, key, value, same_kv, self_attention):
        """q, k, v: one GEMM when query is key is value, two when key is value."""
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else b.chunk(3)
        if self._qkv_same_embed_dim:
            if self_attention:
                return linear(query, self.in_proj_weight, b).chunk(3, -1)
            wq, wk, wv = self.in_proj_weight.chunk(3)
            if same_kv:
                kv = linear(key, self.in_proj_weight[E:], None if b is None else b[E:])
                return (linear(query, wq, bq),) + kv.chunk(2, -1)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        self._check(query, key, value)
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                           _none_or_dtype(attn_mask), "attn_mask", query.dtype)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: Need attn_mask if specifying the is_causal "
                             "hint. You may use the Transformer module method "
                             "`generate_square_subsequent_mask` to create this mask.")
        # torch trusts the hint where nothing else needs the mask: attn_mask is then replaced by
        # the causal mask (top-left aligned over every key column, as SDPA's is_causal)
        causal = is_causal and key_padding_mask is None and not need_weights
        attn_mask = None if causal else _canonical_mask(attn_mask, "attn_mask", None, "",
                                                        query.dtype, check_other=False)
        batched = query.dim() == 3
        self_attention, same_kv = query is key and key is value, key is value
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        q, k, v = self._projections(query, key, value, same_kv, self_attention)
        L, N, E = q._shape
        H, hd = self.num_heads, self.head_dim
        if self.bias_k is not None and self.bias_v is not None:   # set together (add_bias_kv)
            k = cat([k, self.bias_k.expand(1, N, E)], 0)
            v = cat([v, self.bias_v.expand(1, N, E)], 0)
        # (L, N, E) -> (N, H, L, hd) views
        q = q.reshape(L, N, H, hd).permute(1, 2, 0, 3)
        S = k._shape[0]
        k = k.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        v = v.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        if self.add_zero_attn:
            z = zeros(N, H, 1, hd, dtype=q.dtype, device=q.device)
            k, v, S = cat([k, z], 2), cat([v, z], 2), S + 1
        extra = S - key._shape[0]       # columns appended by bias_kv / zero_attn: never masked
        attn_mask = self._pad(attn_mask, extra)
        key_padding_mask = self._pad(key_padding_mask, extra)
        mask = self._merged_mask(attn_mask, key_padding_mask, N, L, S, batched)
        if causal:
            mask = _causal_additive(L, S, q.dtype, q.device)
        # scaled after the product: the scores are contiguous, q is a 4-D permuted view
        scores = matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        if mask is not None:
            scores = scores + mask
        attn = softmax(scores, -1)
        if self.dropout > 0.0 and self.training:
            attn = _dropout(attn, self.dropout, True)
        out = matmul(attn, v).permute(2, 0, 1, 3).reshape(L, N, E)
        out = self.out_proj(out)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        weights = attn.mean(1) if average_attn_weights else attn
        return out, (weights if batched else weights.squeeze(0))

    @staticmethod
    def _pad(mask, extra):
        """torch pads masks with `extra` zero (allowed) columns for bias_kv / zero_attn."""
        if mask is None or extra == 0:
            return mask
        pad = zeros(*mask._shape[:-1], extra, dtype=mask.dtype, device=mask.device)
        return cat([mask, pad], -1)
