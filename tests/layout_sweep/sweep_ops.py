"""The sample table of the layout sweep, in the spirit of PyTorch's OpInfo samples: each entry
is one call, written once against a library ``L`` (``clnet`` or ``torch``), and its inputs.

``In`` describes an input: its shape and how its values are drawn; float inputs get gradients
unless ``grad=False``; ``layout=False`` keeps an input contiguous (e.g. the module weights).
Shapes avoid multiples of work-group and vector sizes (5, 7, 13...), so the kernels' tails run.
"""
import numpy as np


class In:
    def __init__(self, shape, kind="f", high=None, grad=None, layout=True):
        self.shape, self.kind, self.high = tuple(shape), kind, high
        self.grad = (kind in ("f", "pos", "unit", "far")) if grad is None else grad
        self.layout = layout

    def sample(self, rng):
        if self.kind == "f":
            return rng.standard_normal(self.shape).astype(np.float32)
        if self.kind == "far":      # values kept apart, so max/min/sort have no ties
            n = int(np.prod(self.shape))
            return (rng.permutation(n).reshape(self.shape) * 0.37 - n * 0.15).astype(np.float32)
        if self.kind == "pos":
            return rng.uniform(0.5, 2.0, self.shape).astype(np.float32)
        if self.kind == "unit":
            return rng.uniform(0.05, 0.95, self.shape).astype(np.float32)
        if self.kind == "int":
            return rng.integers(0, self.high, self.shape).astype(np.int64)
        if self.kind == "bool":
            return rng.random(self.shape) < 0.5
        raise ValueError(self.kind)


class Op:
    def __init__(self, name, fn, *inputs, rtol=1e-4, atol=1e-5):
        self.name, self.fn, self.inputs = name, fn, inputs
        self.rtol, self.atol = rtol, atol

    def __repr__(self):
        return self.name


def F(L):
    return L.nn.functional


X = (5, 7)          # the usual 2-d input: primes, no multiple of any vector width
X3 = (3, 5, 6)


def _unary(name, fn, kind="f", **tol):
    return Op(name, fn, In(X, kind), **tol)


def _module(L, cls, state, *args, **kwargs):
    """An nn module of ``L`` with the weights in ``state`` (numpy arrays), in eval mode."""
    m = getattr(L.nn, cls)(*args, **kwargs)
    m.load_state_dict({k: L.tensor(v) for k, v in state.items()})
    return m


def _rnn_state(cls, inp, hid, layers=1, bidirectional=False):
    rng = np.random.default_rng(7)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[cls]
    out = {}
    for layer in range(layers):
        for sfx in ("", "_reverse")[:2 if bidirectional else 1]:
            i = inp if layer == 0 else hid * (2 if bidirectional else 1)
            for name, shape in ((f"weight_ih_l{layer}{sfx}", (gates * hid, i)),
                                (f"weight_hh_l{layer}{sfx}", (gates * hid, hid)),
                                (f"bias_ih_l{layer}{sfx}", (gates * hid,)),
                                (f"bias_hh_l{layer}{sfx}", (gates * hid,))):
                out[name] = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    return out


def _torch_state(cls, *args, **kwargs):
    """numpy weights of a torch module built with a fixed seed (biases included)."""
    import torch
    torch.manual_seed(11)
    m = getattr(torch.nn, cls)(*args, **kwargs)
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.4, 0.4)
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def _encoder(L, x):
    m = _module(L, "TransformerEncoderLayer", _ENCODER, 6, 2, dim_feedforward=10, dropout=0.0,
                batch_first=True)
    m.eval()
    return m(x)


_LSTM = _rnn_state("LSTM", 6, 5, layers=2)
_ENCODER = _torch_state("TransformerEncoderLayer", 6, 2, dim_feedforward=10, dropout=0.0,
                        batch_first=True)
_GRU = _rnn_state("GRU", 6, 5, bidirectional=True)
_RNN = _rnn_state("RNN", 6, 5)


OPS = [
    # ---------------------------------------------------------------- elementwise, unary
    _unary("exp", lambda L, x: L.exp(x)),
    _unary("log", lambda L, x: L.log(x), "pos"),
    _unary("sqrt", lambda L, x: L.sqrt(x), "pos"),
    _unary("rsqrt", lambda L, x: L.rsqrt(x), "pos"),
    _unary("reciprocal", lambda L, x: L.reciprocal(x), "pos"),
    _unary("log1p", lambda L, x: L.log1p(x), "pos"),
    _unary("expm1", lambda L, x: L.expm1(x)),
    _unary("sigmoid", lambda L, x: L.sigmoid(x)),
    _unary("tanh", lambda L, x: L.tanh(x)),
    _unary("relu", lambda L, x: L.relu(x)),
    _unary("gelu", lambda L, x: F(L).gelu(x)),
    _unary("gelu_tanh", lambda L, x: F(L).gelu(x, approximate="tanh")),
    _unary("silu", lambda L, x: F(L).silu(x)),
    _unary("mish", lambda L, x: F(L).mish(x)),
    _unary("softplus", lambda L, x: F(L).softplus(x)),
    _unary("elu", lambda L, x: F(L).elu(x)),
    _unary("leaky_relu", lambda L, x: F(L).leaky_relu(x, 0.1)),
    _unary("hardtanh", lambda L, x: F(L).hardtanh(x, -0.5, 0.5)),
    _unary("logsigmoid", lambda L, x: F(L).logsigmoid(x)),
    _unary("softsign", lambda L, x: F(L).softsign(x)),
    _unary("abs", lambda L, x: L.abs(x)),
    _unary("neg", lambda L, x: -x),
    _unary("sin", lambda L, x: L.sin(x)),
    _unary("cos", lambda L, x: L.cos(x)),
    _unary("atan", lambda L, x: L.atan(x)),
    _unary("erf", lambda L, x: L.erf(x)),
    _unary("square", lambda L, x: L.square(x)),
    _unary("pow_scalar", lambda L, x: L.pow(x, 2.5), "pos"),
    _unary("clamp", lambda L, x: L.clamp(x, -0.5, 0.5)),
    _unary("mul_scalar", lambda L, x: x * 3.0 + 1.0),
    # ---------------------------------------------------------------- elementwise, binary
    Op("add", lambda L, x, y: x + y, In(X), In(X)),
    Op("sub_broadcast", lambda L, x, y: x - y, In(X), In((7,))),
    Op("mul_outer_broadcast", lambda L, x, y: x * y, In((5, 1)), In((1, 7))),
    Op("div", lambda L, x, y: x / y, In(X), In(X, "pos")),
    Op("pow", lambda L, x, y: L.pow(x, y), In(X, "pos"), In(X)),
    Op("maximum", lambda L, x, y: L.maximum(x, y), In(X, "far"), In(X, "far")),
    Op("minimum", lambda L, x, y: L.minimum(x, y), In(X, "far"), In(X, "far")),
    Op("atan2", lambda L, x, y: L.atan2(x, y), In(X), In(X, "pos")),
    Op("where", lambda L, x, y: L.where(x > 0, x, y), In(X), In(X)),
    Op("lerp", lambda L, x, y, w: L.lerp(x, y, w), In(X), In(X), In(X, "unit")),
    Op("addcmul", lambda L, x, y, z: L.addcmul(x, y, z, value=0.5), In(X), In(X), In(X)),
    # ---------------------------------------------------------------- reductions and scans
    Op("sum_dim", lambda L, x: x.sum(1), In(X)),
    Op("sum_all", lambda L, x: x.sum(), In(X3)),
    Op("mean_dim0_keepdim", lambda L, x: x.mean(0, keepdim=True), In(X3)),
    Op("max_dim", lambda L, x: x.max(1)[0], In(X, "far")),
    Op("min_dim", lambda L, x: x.min(0)[0], In(X, "far")),
    Op("amax", lambda L, x: L.amax(x, (0, 2)), In(X3, "far")),
    Op("prod", lambda L, x: x.prod(1), In(X, "pos")),
    Op("var", lambda L, x: x.var(1), In(X)),
    # (over dim 1: the expanded layout repeats rows, and a constant column's std is 0 only up
    # to the mean's rounding, where the gradient is noise in both frameworks; the exact-zero
    # case has its own test in tests/autograd/test_reduce_grads.py)
    Op("std", lambda L, x: x.std(1), In(X)),
    Op("norm", lambda L, x: L.norm(x, dim=1), In(X)),
    Op("logsumexp", lambda L, x: L.logsumexp(x, 1), In(X)),
    Op("cumsum", lambda L, x: L.cumsum(x, 1), In(X)),
    Op("cumprod", lambda L, x: L.cumprod(x, 0), In(X, "pos")),
    # ---------------------------------------------------------------- softmax and losses
    Op("softmax", lambda L, x: L.softmax(x, 1), In(X)),
    Op("softmax_dim0", lambda L, x: L.softmax(x, 0), In(X)),
    Op("log_softmax", lambda L, x: L.log_softmax(x, 1), In(X)),
    Op("log_softmax_3d", lambda L, x: L.log_softmax(x, 1), In(X3)),
    Op("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t), In(X), In((5,), "int", 7)),
    Op("cross_entropy_none", lambda L, x, t: F(L).cross_entropy(x, t, reduction="none"),
       In(X), In((5,), "int", 7)),
    Op("cross_entropy_weight_smooth",
       lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, label_smoothing=0.1,
                                              reduction="sum"),
       In(X), In((5,), "int", 7), In((7,), "pos", grad=False)),
    Op("cross_entropy_ignore", lambda L, x, t: F(L).cross_entropy(x, t, ignore_index=2),
       In(X), In((5,), "int", 7)),
    Op("cross_entropy_3d", lambda L, x, t: F(L).cross_entropy(x, t, reduction="none"),
       In(X3), In((3, 6), "int", 5)),
    Op("cross_entropy_probs", lambda L, x, p: F(L).cross_entropy(x, p), In(X), In(X, "unit")),
    Op("nll_log_softmax_rows",
       lambda L, x, t: F(L).nll_loss(L.log_softmax(x, 1)[1:4], t[1:4], reduction="none"),
       In(X), In((5,), "int", 7)),
    Op("nll_loss", lambda L, x, t: F(L).nll_loss(x, t), In(X), In((5,), "int", 7)),
    Op("mse_loss", lambda L, x, y: F(L).mse_loss(x, y, reduction="none"), In(X), In(X)),
    Op("l1_loss", lambda L, x, y: F(L).l1_loss(x, y), In(X), In(X)),
    Op("smooth_l1_loss", lambda L, x, y: F(L).smooth_l1_loss(x, y, reduction="none"),
       In(X), In(X)),
    Op("huber_loss", lambda L, x, y: F(L).huber_loss(x, y, delta=0.5), In(X), In(X)),
    Op("bce", lambda L, x, y: F(L).binary_cross_entropy(x, y, reduction="none"),
       In(X, "unit"), In(X, "unit")),
    Op("bce_with_logits", lambda L, x, y: F(L).binary_cross_entropy_with_logits(x, y),
       In(X), In(X, "unit")),
    Op("kl_div", lambda L, x, y: F(L).kl_div(x, y, reduction="batchmean"), In(X), In(X, "unit")),
    # ---------------------------------------------------------------- linear algebra
    Op("mm", lambda L, a, b: a @ b, In((5, 7)), In((7, 3))),
    Op("matmul_batched", lambda L, a, b: L.matmul(a, b), In((2, 5, 7)), In((2, 7, 3))),
    Op("matmul_broadcast", lambda L, a, b: L.matmul(a, b), In((2, 5, 7)), In((7, 3))),
    Op("bmm", lambda L, a, b: L.bmm(a, b), In((3, 4, 5)), In((3, 5, 6))),
    Op("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0.5, alpha=2.0),
       In((5, 3)), In((5, 7)), In((7, 3))),
    Op("linear", lambda L, x, w, b: F(L).linear(x, w, b), In((5, 7)), In((3, 7)), In((3,))),
    Op("mv", lambda L, a, v: L.mv(a, v), In((5, 7)), In((7,))),
    Op("outer", lambda L, a, b: L.outer(a, b), In((5,)), In((7,))),
    Op("einsum", lambda L, a, b: L.einsum("bij,bjk->bik", a, b), In((2, 3, 4)), In((2, 4, 5))),
    # ---------------------------------------------------------------- normalisation
    Op("layer_norm", lambda L, x, w, b: F(L).layer_norm(x, (6,), w, b, eps=1e-5),
       In(X3), In((6,)), In((6,))),
    Op("batch_norm_train",
       lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b, training=True),
       In(X3), In((5,)), In((5,))),
    Op("group_norm", lambda L, x, w, b: F(L).group_norm(x, 2, w, b), In((3, 4, 6)), In((4,)),
       In((4,))),
    Op("rms_norm", lambda L, x, w: F(L).rms_norm(x, (6,), w), In(X3), In((6,))),
    Op("normalize", lambda L, x: F(L).normalize(x, dim=1), In(X)),
    # ---------------------------------------------------------------- convolution and pooling
    Op("conv1d", lambda L, x, w, b: F(L).conv1d(x, w, b, padding=1),
       In((2, 3, 9)), In((4, 3, 3)), In((4,)), rtol=2e-4, atol=2e-5),
    Op("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b, stride=2, padding=1),
       In((2, 3, 7, 6)), In((4, 3, 3, 3)), In((4,)), rtol=2e-4, atol=2e-5),
    Op("conv_transpose2d", lambda L, x, w: F(L).conv_transpose2d(x, w, stride=2),
       In((2, 3, 5, 4)), In((3, 2, 3, 3)), rtol=2e-4, atol=2e-5),
    Op("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2), In((2, 3, 6, 5), "far")),
    Op("max_pool2d_overlap", lambda L, x: F(L).max_pool2d(x, 3, stride=2, padding=1),
       In((2, 3, 7, 6), "far")),
    Op("avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 2), In((2, 3, 6, 5))),
    Op("adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, (2, 3)),
       In((2, 3, 7, 6))),
    Op("max_pool1d", lambda L, x: F(L).max_pool1d(x, 2), In((2, 3, 9), "far")),
    # ---------------------------------------------------------------- indexing and joining
    Op("gather", lambda L, x, i: L.gather(x, 1, i), In(X), In((5, 4), "int", 7)),
    Op("index_select", lambda L, x, i: L.index_select(x, 0, i), In(X), In((6,), "int", 5)),
    Op("embedding", lambda L, i, w: F(L).embedding(i, w), In((4, 3), "int", 9), In((9, 5))),
    Op("take_along_dim", lambda L, x, i: L.take_along_dim(x, i, 0), In(X), In((3, 7), "int", 5)),
    Op("advanced_index", lambda L, x, i: x[i], In(X), In((6,), "int", 5)),
    Op("masked_fill", lambda L, x, m: x.masked_fill(m, 0.25), In(X), In(X, "bool")),
    Op("cat", lambda L, x, y: L.cat([x, y], 1), In(X), In((5, 3))),
    Op("stack", lambda L, x, y: L.stack([x, y], 0), In(X), In(X)),
    Op("flip", lambda L, x: L.flip(x, (1,)), In(X)),
    Op("roll", lambda L, x: L.roll(x, 2, 1), In(X)),
    Op("scatter_add", lambda L, x, i, s: x.scatter_add(1, i, s), In(X), In((5, 3), "int", 7),
       In((5, 3))),
    Op("pad", lambda L, x: F(L).pad(x, (1, 2)), In(X)),
    Op("reshape_matmul", lambda L, x, w: x.reshape(5, 7) @ w, In(X), In((7, 4))),
    # ---------------------------------------------------------------- added for real programs
    Op("erfinv", lambda L, x: L.erfinv(x * 1.8 - 0.9), In(X, "unit"), rtol=2e-4, atol=2e-5),
    Op("pixel_shuffle", lambda L, x: F(L).pixel_shuffle(x, 2), In((2, 8, 3, 5))),
    Op("pixel_unshuffle", lambda L, x: F(L).pixel_unshuffle(x, 2), In((2, 3, 4, 6))),
    Op("pad_reflect", lambda L, x: F(L).pad(x, (2, 1), mode="reflect"), In((2, 3, 7))),
    Op("pad_replicate_2d", lambda L, x: F(L).pad(x, (1, 2, 2, 1), mode="replicate"),
       In((2, 3, 5, 6))),
    Op("pad_circular", lambda L, x: F(L).pad(x, (2, 3), mode="circular"), In((2, 3, 7))),
    Op("instance_norm", lambda L, x, w, b: F(L).instance_norm(x, weight=w, bias=b),
       In((2, 3, 7)), In((3,)), In((3,))),
    Op("affine_grid", lambda L, t: F(L).affine_grid(t, (2, 3, 4, 5), align_corners=False),
       In((2, 2, 3))),
    Op("grid_sample", lambda L, x, g: F(L).grid_sample(x, g, align_corners=False),
       In((2, 3, 5, 7)), In((2, 4, 6, 2)), rtol=2e-4, atol=2e-5),
    Op("grid_sample_border", lambda L, x, g: F(L).grid_sample(
        x, g, padding_mode="border", align_corners=True), In((2, 3, 5, 7)), In((2, 4, 6, 2)),
       rtol=2e-4, atol=2e-5),
    Op("normal_log_prob", lambda L, m, s, v: L.distributions.Normal(m, s).log_prob(v),
       In(X), In(X, "pos"), In(X)),
    Op("categorical_log_prob", lambda L, z, t: L.distributions.Categorical(logits=z).log_prob(t),
       In(X), In((5,), "int", 7)),
    # ---------------------------------------------------------------- attention and recurrent
    Op("sdpa_causal", lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v,
                                                                             is_causal=True),
       In((2, 5, 4)), In((2, 5, 4)), In((2, 5, 4)), rtol=2e-4, atol=2e-5),
    Op("lstm_2layer", lambda L, x: _module(L, "LSTM", _LSTM, 6, 5, num_layers=2)(x)[0],
       In((4, 3, 6)), rtol=2e-4, atol=2e-5),
    Op("gru_bidirectional", lambda L, x: _module(L, "GRU", _GRU, 6, 5, bidirectional=True)(x)[0],
       In((4, 3, 6)), rtol=2e-4, atol=2e-5),
    Op("transformer_encoder_layer", _encoder, In((2, 5, 6)), rtol=2e-4, atol=2e-5),
    Op("rnn_tanh", lambda L, x: _module(L, "RNN", _RNN, 6, 5)(x)[0], In((4, 3, 6)),
       rtol=2e-4, atol=2e-5),
]
