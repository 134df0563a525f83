"""clnet.onnx.export: each model kind is exported, checked with onnx.checker, run with
onnxruntime and compared with clnet's own forward (float32: rtol 1e-4, atol 1e-5); dynamic axes
are run at another size; unsupported ops raise naming the op and the module."""
import io

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
    data = buf.getvalue()
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)   # declared shapes agree
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return proto, sess


def flat(out):
    if isinstance(out, clnet.Tensor):
        return [out.numpy()]
    return [a for o in out for a in flat(o)]


def check(model, sess, args, feed_names=None):
    """Run the session on ``args`` (flattened in order) and compare with model(*args)."""
    model.eval()
    with clnet.no_grad():
        expected = flat(model(*args))
    arrays = flat(args)
    names = feed_names or [i.name for i in sess.get_inputs()]
    got = sess.run(None, dict(zip(names, arrays)))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
    return got


def ops_of(proto):
    return [n.op_type for n in proto.graph.node]


def set_bn_stats(model):
    """Running statistics that are not the init's 0 / 1, so BatchNorm's eval path matters."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with clnet.no_grad():
                m.running_mean.copy_(clnet.randn(m.num_features) * 0.5)
                m.running_var.copy_(clnet.rand(m.num_features) + 0.5)
                m.weight.copy_(clnet.randn(m.num_features))
                m.bias.copy_(clnet.randn(m.num_features))


# ------------------------------------------------------------------ models
class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), (2, 2))
        x = x.view(x.size(0), -1)
        x = F.dropout(F.relu(self.fc1(x)), 0.5, self.training)
        return F.log_softmax(self.fc2(x), dim=1)


class ConvZoo(nn.Module):
    """Strides, dilation, groups, 'same' padding, Conv1d, pools and activations."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False)
        self.c3 = nn.Conv2d(8, 6, 3, padding="same")
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False)
        self.mp = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.c1d = nn.Conv1d(6, 4, 3, stride=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 5, 7), nn.GELU(), nn.Linear(7, 3),
                                  nn.Tanh())

    def forward(self, x):
        y = F.leaky_relu(self.c1(x), 0.2)
        y = F.silu(self.c2(y))
        y = self.bn(self.c3(y))
        y = F.gelu(self.pool(y), approximate="tanh")
        y = self.mp(y)
        g = self.gap(y)                       # (N, 6, 1, 1)
        y = (y * g.sigmoid()).flatten(2)      # (N, 6, HW)
        y = F.adaptive_avg_pool1d(self.c1d(y), 5)
        return self.head(y)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8 * 3 * 3)
        self.up1 = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, groups=2)

    def forward(self, z):
        h = F.relu(self.fc(z)).view(-1, 8, 3, 3)
        h = F.elu(self.up1(h))
        return clnet.sigmoid(self.up2(h))


class RNNModel(nn.Module):
    """PyTorch's word_language_model RNNModel (LSTM, tied=False)."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        shape = (self.nlayers, bsz, self.nhid)
        return (clnet.zeros(*shape), clnet.zeros(*shape))


class GRUTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        y, h = self.gru(x)
        return self.out(y[:, -1]), h


class AttentionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 8)
        self.pos = nn.Parameter(clnet.randn(1, 16, 8) * 0.1)
        self.ln1 = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.ln2 = nn.LayerNorm(8, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))

    def forward(self, idx):
        T = idx.size(1)
        x = self.emb(idx) + self.pos[:, :T]
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x.mean(dim=1)


class Functional(nn.Module):
    """Tensor methods, operators and functions in a hand-written forward."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(clnet.randn(4, 5))
        self.register_buffer("offset", clnet.arange(5, dtype=clnet.float32))

    def forward(self, x, y):
        a = 0.5 * (x @ self.w) + clnet.matmul(x, self.w) / 2 + self.offset   # (N, 3, 5)
        b = a.permute(0, 2, 1).contiguous()             # (N, 5, 3)
        c = clnet.cat([b, y.transpose(1, 2)], dim=2)    # (N, 5, 5)
        d = (c - c.mean(dim=-1, keepdim=True)) / 2.0 + 1 - 0.5 * c ** 2
        e = d[:, 1:4, ::2].reshape(d.size(0), -1)       # (N, 9)
        f = clnet.stack([e.exp().clamp(max=3.0), -e.abs(), e.abs().sqrt() * 0.25], 1)
        g = F.softmax(f, dim=-1).sum(1) + clnet.tanh(e).unsqueeze(1).squeeze(1)
        h0, h1 = g.chunk(2, dim=1) if g.size(1) % 2 == 0 else (g[:, :4], g[:, 4:])
        m = clnet.where(h0 > 0.5, h0, clnet.zeros_like(h0) - 1)
        return clnet.cat([m, h1.max(dim=1, keepdim=True).values, x[:, 0, :1].float()], 1)


# ------------------------------------------------------------------ tests
def test_mlp_dynamic_batch():
    clnet.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 5), nn.LogSoftmax(dim=1))
    x = clnet.randn(3, 3, 4)
    proto, sess = export(model, (x,), input_names=["x"], output_names=["logp"],
                         dynamic_axes={"x": {0: "batch"}, "logp": {0: "batch"}})
    assert ops_of(proto) == ["Reshape", "Gemm", "Relu", "Gemm", "LogSoftmax", "Identity"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {i.name for i in proto.graph.initializer} >= {"1.weight", "1.bias", "4.weight"}
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(7, 3, 4),))        # another batch size


def test_lenet_dynamic_batch_and_training_mode_restored():
    clnet.manual_seed(1)
    model = LeNet()
    set_bn_stats(model)
    model.train()
    x = clnet.randn(2, 1, 28, 28)
    proto, sess = export(model, x, dynamic_axes={"x": [0]})
    assert model.training and model.bn1.training      # the caller's mode comes back
    ops = ops_of(proto)
    assert ops.count("Conv") == 2 and "BatchNormalization" in ops and "MaxPool" in ops
    assert "Dropout" not in ops
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(5, 1, 28, 28),))
    model.train()


def test_conv_variants_pools_and_activations():
    clnet.manual_seed(2)
    model = ConvZoo()
    set_bn_stats(model)
    x = clnet.randn(2, 3, 19, 21)
    _, sess = export(model, (x,), dynamic_axes={"x": {0: "n"}})
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(3, 3, 19, 21),))


def test_conv_transpose_decoder():
    clnet.manual_seed(3)
    model = Decoder()
    z = clnet.randn(4, 6)
    proto, sess = export(model, (z,), input_names=["z"], dynamic_axes={"z": [0]})
    assert ops_of(proto).count("ConvTranspose") == 2
    out = check(model, sess, (z,))
    assert out[0].shape == (4, 2, 12, 12)
    check(model, sess, (clnet.randn(1, 6),))


def test_word_language_model_lstm_with_hidden():
    clnet.manual_seed(4)
    ntoken, bsz, seq = 17, 3, 5
    model = RNNModel(ntoken, 8, 10, 2, dropout=0.2)
    inp = clnet.randint(0, ntoken, (seq, bsz))
    hidden = model.init_hidden(bsz)
    hidden = (clnet.randn(*hidden[0].shape), clnet.randn(*hidden[1].shape))
    proto, sess = export(model, (inp, hidden), input_names=["input", "h0", "c0"],
                         output_names=["logp", "hn", "cn"],
                         dynamic_axes={"input": {0: "seq", 1: "batch"}, "h0": {1: "batch"},
                                       "c0": {1: "batch"}})
    assert ops_of(proto).count("LSTM") == 2 and "Gather" in ops_of(proto)
    check(model, sess, (inp, hidden))
    inp2 = clnet.randint(0, ntoken, (7, 2))
    hidden2 = (clnet.randn(2, 2, 10), clnet.randn(2, 2, 10))
    check(model, sess, (inp2, hidden2))


def test_lstm_without_state_single_layer_and_rnn():
    clnet.manual_seed(5)
    for rnn in (nn.LSTM(4, 6), nn.RNN(4, 3, num_layers=2, nonlinearity="relu"),
                nn.LSTM(4, 3, bidirectional=True, batch_first=True)):
        x = clnet.randn(5, 2, 4)
        _, sess = export(rnn, (x,))
        check(rnn, sess, (x,))


def test_gru_bidirectional_batch_first():
    clnet.manual_seed(6)
    model = GRUTagger()
    x = clnet.randn(3, 4, 5)
    proto, sess = export(model, (x,), dynamic_axes={"x": {0: "batch", 1: "time"}})
    assert ops_of(proto).count("GRU") == 2
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(2, 6, 5),))


def test_embedding_layernorm_multihead_attention_block():
    clnet.manual_seed(7)
    model = AttentionBlock()
    idx = clnet.randint(0, 11, (2, 6))
    proto, sess = export(model, (idx,), dynamic_axes={"idx": {0: "batch"}})
    assert "LayerNormalization" in ops_of(proto) and "Softmax" in ops_of(proto)
    check(model, sess, (idx,))
    check(model, sess, (clnet.randint(0, 11, (5, 6)),))


def test_functional_forward_arithmetic_views_and_reductions():
    clnet.manual_seed(8)
    model = Functional()
    x, y = clnet.randn(2, 3, 4), clnet.randn(2, 3, 5)
    _, sess = export(model, (x, y), dynamic_axes={"x": [0], "y": [0]})
    check(model, sess, (x, y))
    check(model, sess, (clnet.randn(4, 3, 4), clnet.randn(4, 3, 5)))


def test_file_path_params_as_inputs_and_no_folding(tmp_path):
    clnet.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    x = clnet.randn(2, 4)
    path = tmp_path / "m.onnx"
    clnet.onnx.export(model, (x,), str(path), export_params=False, opset_version=18)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["input", "0.weight", "0.bias"]
    assert not proto.graph.initializer and proto.opset_import[0].version == 18
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = [x, model[0].weight.detach(), model[0].bias.detach()]
    got = sess.run(None, {i.name: t.numpy() for i, t in zip(sess.get_inputs(), feeds)})[0]
    np.testing.assert_allclose(got, model(x).numpy(), rtol=RTOL, atol=ATOL)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(clnet.randn(4))

        def forward(self, x):
            return x * (self.w * 2)

    m = Scaled()
    folded, _ = export(m, (x,))
    kept, sess = export(m, (x,), do_constant_folding=False)
    assert ops_of(folded) == ["Mul", "Identity"]
    assert ops_of(kept) == ["Mul", "Mul", "Identity"]
    assert [i.name for i in kept.graph.initializer][0] == "w"
    check(m, sess, (x,))


def test_is_in_onnx_export_and_patches_removed():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(clnet.onnx.is_in_onnx_export())
            return x + 1

    class Nested(nn.Module):
        def forward(self, x):
            clnet.onnx.export(Probe(), (x,), io.BytesIO())
            return x

    add = clnet.Tensor.__dict__["__add__"]
    export(Probe(), (clnet.randn(2),))
    assert seen == [True] and not clnet.onnx.is_in_onnx_export()
    with pytest.raises(clnet.onnx.OnnxExporterError, match="while an export is tracing"):
        clnet.onnx.export(Nested(), (clnet.randn(2),), io.BytesIO())
    assert not clnet.onnx.is_in_onnx_export()
    assert clnet.Tensor.__dict__["__add__"] is add
    assert nn.Module.__call__ is nn.Module._call_impl


class Cumsum(nn.Module):
    def forward(self, x):
        return x.cumprod(1)


def test_unsupported_op_names_op_and_module():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), Cumsum()))
    buf = io.BytesIO()
    with pytest.raises(clnet.onnx.UnsupportedOperatorError,
                       match=r"cumprod.*module '1\.1'"):
        clnet.onnx.export(model, (clnet.randn(2, 3),), buf)
    assert buf.getvalue() == b""
    assert clnet.Tensor.__dict__["cumprod"].__module__ != "clnet.onnx.tracer"


def test_unsupported_int_op_advanced_index_and_value_leak():
    class IntOp(nn.Module):
        def forward(self, idx):
            return idx.cumprod(0).float()

    class Advanced(nn.Module):
        def forward(self, x):
            return x[clnet.tensor([0, 0])]

    class Leak(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="cumprod"):
        clnet.onnx.export(IntOp(), (clnet.tensor([1, 2, 3]),), io.BytesIO())
    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="advanced indexing"):
        clnet.onnx.export(Advanced(), (clnet.randn(3),), io.BytesIO())
    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="item"):
        clnet.onnx.export(Leak(), (clnet.randn(3),), io.BytesIO())


def test_argument_errors():
    model = nn.Linear(2, 2)
    x = clnet.randn(1, 2)
    with pytest.raises(ValueError, match="opset_version 12"):
        clnet.onnx.export(model, (x,), io.BytesIO(), opset_version=12)
    with pytest.raises(ValueError, match="neither an input nor an output"):
        clnet.onnx.export(model, (x,), io.BytesIO(), dynamic_axes={"nope": [0]})
    with pytest.raises(ValueError, match="TRAINING"):
        clnet.onnx.export(model, (x,), io.BytesIO(), training=clnet.onnx.TrainingMode.TRAINING)
    model.train()
    with pytest.raises(clnet.onnx.UnsupportedOperatorError, match="dropout in training mode"):
        clnet.onnx.export(nn.Sequential(model, nn.Dropout(0.5)), (x,), io.BytesIO(),
                          training=clnet.onnx.TrainingMode.PRESERVE)


class Zoo(nn.Module):
    """Every activation module and the tensor ops the other models do not use."""

    def __init__(self):
        super().__init__()
        self.acts = nn.ModuleList([
            nn.ReLU(inplace=True), nn.ReLU6(), nn.LeakyReLU(0.3), nn.ELU(0.7), nn.CELU(1.3),
            nn.SELU(), nn.GELU(), nn.SiLU(), nn.Mish(), nn.Sigmoid(), nn.Tanh(),
            nn.Hardtanh(-0.5, 0.8), nn.Hardsigmoid(), nn.Hardswish(), nn.Softplus(2.0, 1.5),
            nn.Softsign(), nn.LogSigmoid(), nn.Threshold(0.1, -2.0), nn.Softmax(dim=1),
            nn.LogSoftmax(dim=-1)])
        self.bn = nn.BatchNorm1d(6)
        self.lin = nn.Linear(6, 6)

    def forward(self, x):                               # x: (N, 6)
        outs = [act(x * 1.5) for act in self.acts]
        y = clnet.stack(outs, 1)                        # (N, 20, 6)
        a = y.narrow(1, 2, 5).unflatten(2, (2, 3)).flatten(2)
        b = y.select(1, 4).unsqueeze(1).expand(-1, 5, -1)
        p, q, r = y.split([3, 10, 7], dim=1)
        parts = list(r.unbind(1)) + [p.prod(1), q.amin(1), y.T.mean(0).T]
        c = clnet.cat(parts, 1)                         # (N, 6 * 10)
        idx = c.argmin(dim=1, keepdim=True).float() + c.argmax(1).unsqueeze(1)
        m = clnet.baddbmm(a, a.transpose(1, 2)[:, :5, :5].sin(), b, beta=0.5, alpha=2.0)
        n = clnet.addmm(self.lin.bias, self.bn(x).abs().rsqrt(), self.lin.weight.t())
        pad = F.pad(n, (1, 2), value=0.25)              # (N, 9)
        ones = clnet.ones_like(pad) * clnet.full_like(pad, 3.0)
        return clnet.cat([m.flatten(1), c, idx, pad - ones, n.max(dim=1)[0].unsqueeze(1)], 1)


def test_activation_modules_and_more_tensor_ops():
    clnet.manual_seed(10)
    model = Zoo()
    set_bn_stats(model)
    x = clnet.randn(3, 6)
    _, sess = export(model, (x,), dynamic_axes={"x": [0]})
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(5, 6),))


def test_group_norm_and_nearest_upsampling():
    clnet.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.GroupNorm(3, 6),
                          nn.Upsample(scale_factor=2), nn.GroupNorm(2, 6, affine=False))
    x = clnet.randn(2, 2, 5, 3)
    with clnet.no_grad():
        model[1].weight.copy_(clnet.randn(6))
        model[1].bias.copy_(clnet.randn(6))
    _, sess = export(model, (x,), dynamic_axes={"input": [0]})
    check(model, sess, (x,))
    check(model, sess, (clnet.randn(3, 2, 5, 3),))

    class Sized(nn.Module):
        def forward(self, x):
            return F.interpolate(x, size=(7, 5)) + F.interpolate(x, scale_factor=(1.5, 2.5))[
                :, :, :7, :5]

    x = clnet.randn(1, 2, 5, 3)
    _, sess = export(Sized(), (x,))
    check(Sized(), sess, (x,))
