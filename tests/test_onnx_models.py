"""clnet.onnx.export of transformers (TransformerEncoder/Decoder layers, nn.Transformer, a small
Embedding + positional + encoder + Linear model), MultiheadAttention variants, GRU, the norms,
pooling variants and the common tensor ops: each file is checked with onnx.checker, run in
onnxruntime and compared with clnet's forward, at the example's batch size and another one
(dynamic_axes). A constant sized from the example that spans a dynamic axis is refused."""
import io
import math

import numpy as np
import pytest

import clnet
import clnet.nn as nn
import clnet.nn.functional as F

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-4, 1e-5


def export(model, args, **kw):
    buf = io.BytesIO()
    clnet.onnx.export(model, args, buf, **kw)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    # the shapes the file declares agree with what ONNX's own rules infer for its nodes
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    return proto, ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])


def flat(out):
    if isinstance(out, clnet.Tensor):
        return [out.numpy()]
    return [a for o in out if o is not None for a in flat(o)]


def check(model, sess, args):
    model.eval()
    args = args if isinstance(args, tuple) else (args,)
    with clnet.no_grad():
        expected = flat(model(*args))
    got = sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), flat(args))})
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(g, e)


def ops_of(proto):
    return [n.op_type for n in proto.graph.node]


def roundtrip(model, args, other, dynamic_axes, **kw):
    """Export on ``args``; run the file on ``args`` and on ``other`` (another batch size)."""
    model.eval()
    proto, sess = export(model, args, dynamic_axes=dynamic_axes, **kw)
    check(model, sess, args)
    check(model, sess, other)
    return proto


# ------------------------------------------------------------------ transformers
class TinyTransformer(nn.Module):
    """A small causal transformer classifier: token + learned position embeddings, a
    TransformerEncoder of two layers, a Linear head on the last position."""

    def __init__(self, vocab=20, d=16, heads=2, layers=2, max_len=12, classes=5):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, idx):
        T = idx.size(1)
        h = self.tok(idx) + self.pos(clnet.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        h = self.encoder(h, mask=mask, is_causal=True)
        return self.head(self.norm(h)[:, -1])


class SinusoidalEncoder(nn.Module):
    """PyTorch's word_language_model TransformerModel shape: sequence-first, a sinusoidal
    positional buffer, norm_first GELU layers, a key padding mask."""

    def __init__(self, vocab=20, d=8):
        super().__init__()
        pe = np.zeros((16, d), np.float32)
        pos = np.arange(16)[:, None]
        div = np.exp(np.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe[:, 0::2], pe[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
        self.register_buffer("pe", clnet.tensor(pe).unsqueeze(1))
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 2, 16, activation="gelu", norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(d, 3)

    def forward(self, src, pad):
        h = self.emb(src) * math.sqrt(self.emb.embedding_dim) + self.pe[:src.size(0)]
        return self.head(self.encoder(h, src_key_padding_mask=pad).mean(0))


def test_small_transformer_with_causal_mask_dynamic_batch():
    clnet.manual_seed(20)
    model = TinyTransformer()
    idx = clnet.randint(0, 20, (2, 7))
    proto = roundtrip(model, idx, clnet.randint(0, 20, (5, 7)), {"idx": {0: "batch"}})
    ops = ops_of(proto)
    assert {"Gather", "LayerNormalization", "Softmax", "MatMul", "Relu"} <= set(ops)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_sequence_first_encoder_gelu_norm_first_key_padding_mask():
    clnet.manual_seed(21)
    model = SinusoidalEncoder()
    src = clnet.randint(0, 20, (6, 2))
    pad = clnet.tensor([[False] * 6, [False] * 4 + [True] * 2]).t().contiguous().t()
    other_pad = clnet.tensor([[False] * 6, [False] * 5 + [True], [False] * 3 + [True] * 3])
    roundtrip(model, (src, pad), (clnet.randint(0, 20, (6, 3)), other_pad),
              {"src": {1: "batch"}, "pad": {0: "batch"}})


def test_decoder_layer_and_nn_transformer():
    clnet.manual_seed(22)
    dec = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)
    roundtrip(dec, (clnet.randn(2, 4, 8), clnet.randn(2, 5, 8)),
              (clnet.randn(3, 4, 8), clnet.randn(3, 5, 8)),
              {"tgt": [0], "memory": [0]})
    tr = nn.Transformer(8, 2, 1, 1, 16, batch_first=True)
    roundtrip(tr, (clnet.randn(2, 5, 8), clnet.randn(2, 4, 8)),
              (clnet.randn(4, 5, 8), clnet.randn(4, 4, 8)), {"src": [0], "tgt": [0]})


class Attention(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, **kw)

    def forward(self, q, k, v, pad):
        mask = nn.Transformer.generate_square_subsequent_mask(q.size(1))[:, :k.size(1)] != 0
        return self.attn(q, k, v, key_padding_mask=pad, attn_mask=mask)   # (out, weights)


def test_multihead_attention_masks_weights_and_kdim_vdim():
    clnet.manual_seed(23)
    pad = clnet.tensor([[False] * 5, [False] * 3 + [True] * 2])
    pad3 = clnet.tensor([[False] * 5, [False] * 4 + [True], [False] * 5])
    model = Attention()
    args = (clnet.randn(2, 5, 8), clnet.randn(2, 5, 8), clnet.randn(2, 5, 8), pad)
    other = (clnet.randn(3, 5, 8), clnet.randn(3, 5, 8), clnet.randn(3, 5, 8), pad3)
    roundtrip(model, args, other, {"q": [0], "k": [0], "v": [0], "pad": [0]})
    model = Attention(kdim=6, vdim=4)
    args = (clnet.randn(2, 5, 8), clnet.randn(2, 5, 6), clnet.randn(2, 5, 4), pad)
    other = (clnet.randn(3, 5, 8), clnet.randn(3, 5, 6), clnet.randn(3, 5, 4), pad3)
    roundtrip(model, args, other, {"q": [0], "k": [0], "v": [0], "pad": [0]})


def test_gru_single_layer_with_initial_state():
    clnet.manual_seed(24)
    gru = nn.GRU(4, 5, batch_first=True)
    proto = roundtrip(gru, (clnet.randn(2, 3, 4), clnet.randn(1, 2, 5)),
                      (clnet.randn(4, 6, 4), clnet.randn(1, 4, 5)),
                      {"input": {0: "b", 1: "t"}, "hx": {1: "b"}})
    assert ops_of(proto).count("GRU") == 1


# ------------------------------------------------------------------ norms and pooling
class Stored(nn.Module):
    """A function kept on the module (``self.act = F.gelu``), as TransformerEncoderLayer keeps
    its activation: it was taken before the exporter wrapped clnet's functions."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.act = F.gelu

    def forward(self, x):
        return self.act(self.lin(x))


NORMS = [
    ("batchnorm1d_3d", lambda: nn.BatchNorm1d(6), (2, 6, 10)),
    ("layernorm_2dims", lambda: nn.LayerNorm([6, 10]), (2, 6, 10)),
    ("groupnorm", lambda: nn.GroupNorm(3, 6), (2, 6, 10)),
    ("instancenorm1d", lambda: nn.InstanceNorm1d(6, affine=True), (2, 6, 10)),
    ("instancenorm2d", lambda: nn.InstanceNorm2d(3), (2, 3, 5, 5)),
    ("maxpool1d", lambda: nn.MaxPool1d(3, 2), (2, 3, 11)),
    ("avgpool1d_pad", lambda: nn.AvgPool1d(3, 2, padding=1), (2, 3, 11)),
    ("maxpool2d_dilated", lambda: nn.MaxPool2d(3, 1, dilation=2), (2, 3, 9, 9)),
    ("maxpool2d_ceil_drops_last", lambda: nn.MaxPool2d(2, 2, padding=1, ceil_mode=True),
     (2, 3, 5, 5)),
    ("maxpool1d_ceil", lambda: nn.MaxPool1d(3, 2, ceil_mode=True), (2, 3, 8)),
    ("avgpool2d_ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True), (2, 3, 8, 7)),
    ("avgpool2d_ceil_pad", lambda: nn.AvgPool2d((2, 3), 2, padding=1, ceil_mode=True),
     (2, 3, 5, 6)),
    ("avgpool2d_ceil_exclude_pad", lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                                        count_include_pad=False), (2, 3, 5, 5)),
    ("avgpool2d_divisor_override", lambda: nn.AvgPool2d(3, 1, padding=1, divisor_override=5),
     (2, 3, 6, 9)),
    ("avgpool1d_ceil", lambda: nn.AvgPool1d(2, 2, padding=1, ceil_mode=True), (2, 3, 7)),
    ("adaptive_max_global", lambda: nn.AdaptiveMaxPool2d(1), (2, 3, 8, 8)),
    ("adaptive_max_2x2", lambda: nn.AdaptiveMaxPool2d((2, 2)), (2, 3, 8, 8)),
    ("adaptive_avg_2x2", lambda: nn.AdaptiveAvgPool2d((2, 2)), (2, 3, 8, 8)),
    ("adaptive_max_1d", lambda: nn.AdaptiveMaxPool1d(1), (2, 3, 8)),
    ("adaptive_avg_7_to_3", lambda: nn.AdaptiveAvgPool2d(3), (2, 3, 7, 7)),
    ("adaptive_max_uneven", lambda: nn.AdaptiveMaxPool2d((3, 4)), (2, 3, 5, 7)),
    ("adaptive_avg_1d_uneven", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    ("adaptive_avg_one_axis", lambda: nn.AdaptiveAvgPool2d((2, 5)), (2, 3, 5, 5)),
    ("stored_function", Stored, (2, 6)),
]


@pytest.mark.parametrize("make,shape", [(m, s) for _, m, s in NORMS], ids=[n for n, _, _ in NORMS])
def test_norms_pooling_and_stored_functions(make, shape):
    clnet.manual_seed(25)
    model = make()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):       # statistics that make the eval path matter
            with clnet.no_grad():
                m.running_mean.copy_(clnet.randn(m.num_features))
                m.running_var.copy_(clnet.rand(m.num_features) + 0.5)
    other = (5,) + shape[1:]
    roundtrip(model, clnet.randn(*shape), clnet.randn(*other), {"input": [0]},
              input_names=["input"])


# ------------------------------------------------------------------ tensor ops
def _f(fn):
    class M(nn.Module):
        def forward(self, x):
            return fn(x)
    return M()


OPS = {
    "log1p_expm1": lambda x: clnet.log1p(x.abs()) + clnet.expm1(x * 0.5),
    "remainder": lambda x: x.remainder(0.7) + (x * 3) % -1.3 + clnet.fmod(x, 0.4),
    "int_remainder": lambda x: ((x * 10).long() % 3).float(),
    "lerp": lambda x: clnet.lerp(x, x * 2 + 1, 0.3),
    "logic": lambda x: ((x > 0) & (x < 1) | ~(x > -0.5) ^ (x > 0.2)).float(),
    "logical_fns": lambda x: clnet.logical_and(x > 0, x < 1).float()
    + clnet.logical_or(x > 1, x < -1).float(),
    "any_all": lambda x: (x > 0).any(1).float() + (x > -1).all(1).float()
    + x.any(-1).float().sum(1, keepdim=True),
    "var_std": lambda x: x.var(1) + x.std(dim=2).sum(1, keepdim=True)
    + x.var(dim=1, unbiased=False),
    "var_over_batch": lambda x: x.var(0, keepdim=True) + x,
    "logsumexp": lambda x: clnet.logsumexp(x * 30, 1) + x.logsumexp(dim=(1, 2)).unsqueeze(1),
    "norm": lambda x: clnet.norm(x, dim=1) + x.norm(p=1, dim=2).sum(1, keepdim=True)
    + x.norm(p=float("inf"), dim=1) + x.norm(p=3, dim=1),
    "normalize": lambda x: F.normalize(x, dim=2),
    "cumsum": lambda x: x.cumsum(1) + clnet.cumsum(x, dim=-1)
    + (x > 0).int().cumsum(2).float(),
    "triu_tril": lambda x: x.triu() + clnet.tril(x, -1) * 2 + x.triu(diagonal=2).transpose(1, 2)
    .tril(1).transpose(1, 2),
    "flip": lambda x: clnet.flip(x, [1, 2]) + x.flip(-1),
    "repeat": lambda x: x.repeat(1, 2, 1) + x.repeat(1, 1, 1, 2)[0, :, :, :4].sum(),
    "gather": lambda x: clnet.gather(x, 2, x.abs().argsort(2)[:, :, :2]).sum(2, keepdim=True)
    + x.gather(1, x.argmax(1, keepdim=True)),
    "index_select": lambda x: x.index_select(2, clnet.tensor([3, 0])),
    "topk": lambda x: clnet.topk(x, 2, dim=2).values * clnet.topk(
        x, 2, dim=1, largest=False).indices.float().sum(),
    "sort": lambda x: x.sort(dim=2, descending=True).values + x.sort(dim=1).indices,
    "argsort_dynamic_axis": lambda x: x.sort(dim=0).values,
    "one_hot": lambda x: F.one_hot(x.argmax(2), 4).float(),
    "new_zeros_full_width": lambda x: x + x.new_zeros(4) + x.new_full((1, 3, 1), 2.0),
}


@pytest.mark.parametrize("name", list(OPS))
def test_common_tensor_ops(name):
    clnet.manual_seed(26)
    model = _f(OPS[name])
    x = clnet.randn(2, 3, 4)
    roundtrip(model, x, clnet.randn(5, 3, 4), {"x": [0]})


def test_integer_bitwise_ops_need_opset_18():
    model = _f(lambda x: ((x * 10).long() & 6) | ~(x > 0).long())
    x = clnet.randn(2, 3)
    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="opset_version=18"):
        clnet.onnx.export(model, (x,), io.BytesIO(), opset_version=17)
    _, sess = export(model, (x,), opset_version=18)
    check(model, sess, x)


def test_constant_sized_from_the_example_across_a_dynamic_axis_is_refused():
    x = clnet.randn(2, 3)
    for fn in (lambda x: x + clnet.zeros(x.size(0), 3), lambda x: x * clnet.ones(x.shape),
               lambda x: x.gather(1, clnet.tensor([[0, 2], [1, 1]]))):
        model = _f(fn)
        buf = io.BytesIO()
        with pytest.raises(clnet.onnx.UnsupportedOperatorError,
                           match=r"of shape \(2, [23]\) \(a constant\).*axis 0 is dynamic"):
            clnet.onnx.export(model, (x,), buf, dynamic_axes={"x": [0]})
        assert buf.getvalue() == b""
        _, sess = export(model, (x,))           # at a fixed size the same model exports
        check(model, sess, x)


def test_adaptive_pooling_with_dynamic_spatial_axes_is_refused():
    model = nn.AdaptiveAvgPool2d(3)
    x = clnet.randn(1, 2, 7, 7)
    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="spatial axes are dynamic"):
        clnet.onnx.export(model, (x,), io.BytesIO(), input_names=["x"],
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    gap = nn.AdaptiveAvgPool2d(1)             # global pooling follows any size
    _, sess = export(gap, (x,), input_names=["x"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    check(gap, sess, clnet.randn(2, 2, 9, 5))
