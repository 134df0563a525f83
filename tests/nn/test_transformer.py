"""nn.Transformer, its encoder / decoder stacks and layers against torch's.

The main parity test: torch's module is built, its biases and LayerNorm affines are made random
(so their placement matters), its state_dict is loaded into the clnet module built with the same
arguments, then outputs, the gradients of every input and of every parameter are compared for a
random upstream gradient. Both run in eval mode (dropout off); torch's parameters require grad, so
torch takes its regular path, not the fused inference one. Odd sizes: d_model 12, 3 heads of 4,
sequences of 7 (source) and 6 (target), batch 5, feed-forward 10.

float32 tolerances: rtol 2e-4 / atol 5e-5 for one layer or a whole Transformer (each layer is
two or three attention blocks, a feed-forward block and LayerNorms). The worst difference
measured on PoCL is 1.7e-5, on a decoder weight's gradient (a sum over 35 positions); atol leaves
room for devices that sum in another order.
"""
import importlib.util
import math
import sys
import warnings

import numpy as np
import pytest
import torch

import clnet
from tests.helpers import as_noncontiguous

TOL = dict(rtol=2e-4, atol=5e-5)
D, NH, FF, S, T, N = 12, 3, 10, 7, 6, 5


def _close(name, got, want):
    assert tuple(got.shape) == tuple(want.shape), f"{name}: {got.shape} != {want.shape}"
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), err_msg=name, **TOL)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _lib_kw(m, kw):
    """Constructor kwargs for library ``m``: an activation given as a pair (clnet's, torch's)."""
    return {k: (v[0] if m is clnet else v[1]) if isinstance(v, tuple) else v
            for k, v in kw.items()}


def _twins(cls_name, *args, **kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():       # torch: enable_nested_tensor is True, but ...
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls_name)(*args, **_lib_kw(torch, kw))
    cm = getattr(clnet.nn, cls_name)(*args, **_lib_kw(clnet, kw))
    load(cm, tm)
    cm.eval(), tm.eval()
    return cm, tm


def load(cm, tm):
    """torch's parameters (biases and LayerNorm affines made random) into clnet's module."""
    with torch.no_grad():
        for n, p in tm.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.3)
    assert [(n, tuple(p.shape)) for n, p in cm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert list(cm.state_dict()) == list(tm.state_dict())
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})


def run(cm, tm, inputs, masks=None, flags=None, seed=1, kinds=None):
    """Calls both modules with ``inputs`` (name -> array, leaves that require grad), ``masks``
    (name -> array) and ``flags``; compares the output, then every input's and parameter's
    gradient. ``kinds`` (name -> as_noncontiguous kind) gives clnet a non-contiguous input."""
    res = {}
    for m, mod in ((clnet, cm), (torch, tm)):
        leaves = {}
        for n, a in inputs.items():
            if m is clnet and kinds and n in kinds:
                t = as_noncontiguous(a, kinds[n]).requires_grad_(True)
            else:
                t = (clnet.tensor(a) if m is clnet else torch.tensor(a)).requires_grad_(True)
            leaves[n] = t
        ms = {n: (clnet.tensor(a) if m is clnet else torch.tensor(a))
              for n, a in (masks or {}).items()}
        out = mod(*leaves.values(), **ms, **(flags or {}))
        res[m] = (out, leaves)
    (co, cl), (to, tl) = res[clnet], res[torch]
    _close("output", co, to)
    up = np.random.default_rng(seed).standard_normal(tuple(to.shape)).astype(np.float32)
    co.backward(clnet.tensor(up))
    to.backward(torch.tensor(up))
    for n in inputs:
        _close(f"grad of {n}", cl[n].grad, tl[n].grad)
    for (name, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        assert (cp.grad is None) == (tp.grad is None), name
        if tp.grad is not None:
            _close(f"grad of {name}", cp.grad, tp.grad)
    return co


def _seq(L, batch_first, seed):
    return _x(N, L, D, seed=seed) if batch_first else _x(L, N, D, seed=seed)


def _causal_bool(L):
    return np.triu(np.ones((L, L), bool), 1)             # True = not allowed


def _causal_float(L):
    return np.triu(np.full((L, L), -np.inf, np.float32), 1)


def _padding(L, seed):
    """(N, L) bool, True = padding: a few trailing positions per sequence, never position 0."""
    kpm = np.zeros((N, L), bool)
    for i, k in enumerate(np.random.default_rng(seed).integers(0, L - 2, N)):
        kpm[i, L - k:] = k > 0
    kpm[1, -1] = True
    return kpm


ACTS = {"relu": "relu", "gelu": "gelu",
        "callable": (clnet.nn.functional.silu, torch.nn.functional.silu)}


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_encoder_layer(norm_first, batch_first, act):
    cm, tm = _twins("TransformerEncoderLayer", D, NH, FF, dropout=0.3, activation=ACTS[act],
                    batch_first=batch_first, norm_first=norm_first)
    masks = {"src_mask": _causal_bool(S), "src_key_padding_mask": _padding(S, 2)}
    run(cm, tm, {"src": _seq(S, batch_first, 0)}, masks)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_decoder_layer(norm_first, batch_first, act):
    cm, tm = _twins("TransformerDecoderLayer", D, NH, FF, dropout=0.3, activation=ACTS[act],
                    batch_first=batch_first, norm_first=norm_first)
    masks = {"tgt_mask": _causal_bool(T), "memory_mask": _x(T, S, seed=5),
             "tgt_key_padding_mask": _padding(T, 3),
             "memory_key_padding_mask": np.where(_padding(S, 4), -np.inf, 0).astype(np.float32)}
    run(cm, tm, {"tgt": _seq(T, batch_first, 0), "memory": _seq(S, batch_first, 1)}, masks,
        {"tgt_is_causal": True})


def test_layers_callable_activation_no_bias_eps_float_padding():
    kw = dict(dim_feedforward=FF, dropout=0.0, activation=ACTS["callable"], bias=False,
              layer_norm_eps=1e-3)
    cm, tm = _twins("TransformerEncoderLayer", D, NH, **kw)
    assert cm.norm1.bias is None and cm.linear1.bias is None and cm.norm1.eps == 1e-3
    assert cm.activation_relu_or_gelu == tm.activation_relu_or_gelu == 0
    kpm = np.where(_padding(S, 6), -1e4, 0.0).astype(np.float32)
    run(cm, tm, {"src": _x(S, N, D)}, {"src_key_padding_mask": kpm, "src_mask": _x(S, S)})
    cm, tm = _twins("TransformerDecoderLayer", D, NH, **kw)
    run(cm, tm, {"tgt": _x(T, N, D), "memory": _x(S, N, D, seed=1)},
        {"memory_key_padding_mask": kpm})


def test_activation_module_instances():
    for cls, code in (("ReLU", 1), ("GELU", 2)):
        layer = clnet.nn.TransformerEncoderLayer(D, NH, FF, activation=getattr(clnet.nn, cls)())
        assert layer.activation_relu_or_gelu == code
    cm, tm = _twins("TransformerDecoderLayer", D, NH, FF,
                    activation=(clnet.nn.GELU(approximate="tanh"),
                                torch.nn.GELU(approximate="tanh")))
    run(cm, tm, {"tgt": _x(T, N, D), "memory": _x(S, N, D, seed=1)})


@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_stack_detects_causal_mask(batch_first):
    layer_kw = dict(dim_feedforward=FF, dropout=0.1, batch_first=batch_first)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NH, **layer_kw), 2,
                                         torch.nn.LayerNorm(D), enable_nested_tensor=False)
    cm = clnet.nn.TransformerEncoder(clnet.nn.TransformerEncoderLayer(D, NH, **layer_kw), 2,
                                     clnet.nn.LayerNorm(D), enable_nested_tensor=False,
                                     mask_check=False)
    assert cm.enable_nested_tensor is False and cm.mask_check is False and cm.num_layers == 2
    load(cm, tm)
    cm.eval(), tm.eval()
    mask = clnet.nn.Transformer.generate_square_subsequent_mask(S).numpy()
    run(cm, tm, {"src": _seq(S, batch_first, 0)}, {"mask": mask})
    cm.zero_grad(), tm.zero_grad()
    # a causal bool mask with a padding mask of the same kind; is_causal given explicitly
    run(cm, tm, {"src": _seq(S, batch_first, 2)},
        {"mask": _causal_bool(S), "src_key_padding_mask": _padding(S, 1)}, {"is_causal": True})


def test_is_causal_hint_replaces_the_mask_like_torch():
    """torch trusts is_causal=True where no padding mask is given: the mask's values are not
    read, the causal mask is used instead (a wrong mask changes nothing)."""
    cm, tm = _twins("TransformerEncoderLayer", D, NH, FF)
    out = run(cm, tm, {"src": _x(S, N, D)}, {"src_mask": _x(S, S, seed=3)}, {"is_causal": True})
    causal = cm(clnet.tensor(_x(S, N, D)), src_mask=clnet.tensor(_causal_float(S)))
    np.testing.assert_allclose(out.detach().numpy(), causal.detach().numpy(), **TOL)


@pytest.mark.parametrize("norm_first,batch_first,act", [(False, False, "relu"),
                                                         (True, True, "gelu")])
def test_transformer(norm_first, batch_first, act):
    cm, tm = _twins("Transformer", d_model=D, nhead=NH, num_encoder_layers=2,
                    num_decoder_layers=2, dim_feedforward=FF, dropout=0.2,
                    activation=ACTS[act], batch_first=batch_first, norm_first=norm_first)
    assert (cm.d_model, cm.nhead, cm.batch_first) == (D, NH, batch_first)
    masks = {"src_mask": _x(S, S, seed=7),
             "tgt_mask": clnet.nn.Transformer.generate_square_subsequent_mask(T).numpy(),
             "memory_mask": np.zeros((T, S), np.float32),
             "src_key_padding_mask": np.where(_padding(S, 8), -np.inf, 0).astype(np.float32),
             "tgt_key_padding_mask": np.where(_padding(T, 9), -np.inf, 0).astype(np.float32),
             "memory_key_padding_mask": np.where(_padding(S, 8), -np.inf, 0).astype(np.float32)}
    kinds = {"src": "transpose", "tgt": "step"}
    run(cm, tm, {"src": _seq(S, batch_first, 0), "tgt": _seq(T, batch_first, 1)}, masks,
        kinds=kinds)


def test_transformer_unbatched_and_causal_flags():
    cm, tm = _twins("Transformer", D, NH, 1, 1, FF)
    run(cm, tm, {"src": _x(S, D), "tgt": _x(T, D, seed=1)},
        {"tgt_mask": _causal_bool(T), "src_key_padding_mask": _padding(S, 1)[0]},
        {"tgt_is_causal": True})


def test_custom_encoder_decoder():
    enc = clnet.nn.TransformerEncoder(clnet.nn.TransformerEncoderLayer(D, NH, FF), 1)
    dec = clnet.nn.TransformerDecoder(clnet.nn.TransformerDecoderLayer(D, NH, FF), 1)
    m = clnet.nn.Transformer(D, NH, custom_encoder=enc, custom_decoder=dec)
    assert m.encoder is enc and m.decoder is dec and enc.norm is None
    assert sorted(n.split(".")[0] for n, _ in m.named_children()) == ["decoder", "encoder"]
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NH, FF), 1,
                                       enable_nested_tensor=False)
    tdec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, NH, FF), 1)
    tm = torch.nn.Transformer(D, NH, custom_encoder=tenc, custom_decoder=tdec)
    load(m, tm)
    m.eval(), tm.eval()
    run(m, tm, {"src": _x(S, N, D), "tgt": _x(T, N, D, seed=1)})


def test_generate_square_subsequent_mask():
    want = torch.nn.Transformer.generate_square_subsequent_mask(5).numpy()
    np.testing.assert_array_equal(clnet.nn.Transformer.generate_square_subsequent_mask(5).numpy(),
                                  want)
    m = clnet.nn.Transformer(D, NH, 1, 1, FF)
    got = m.generate_square_subsequent_mask(3, device=clnet.default_device(),
                                            dtype=clnet.float64)
    assert got.dtype == clnet.float64 and got.device == clnet.default_device()
    np.testing.assert_array_equal(got.numpy(), np.triu(np.full((3, 3), -np.inf), 1))


def test_reset_parameters_xavier_and_independent_clones():
    m = clnet.nn.Transformer(16, 4, 2, 2, 24)
    for name, p in m.named_parameters():
        w = p.detach().numpy()
        if p.dim() > 1:                 # xavier_uniform_: U(-b, b), b = sqrt(6 / (fan_in + out))
            bound = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
            assert np.abs(w).max() <= bound, name
            assert np.abs(w).max() > 0.8 * bound and abs(w.mean()) < 0.1 * bound, name
    np.testing.assert_array_equal(m.encoder.layers[0].self_attn.in_proj_bias.numpy(), 0)
    np.testing.assert_array_equal(m.decoder.layers[1].norm2.weight.numpy(), 1)
    # _get_clones deep-copies: each layer owns its parameters, and starts equal to its template
    w0 = m.encoder.layers[0].linear1.weight
    assert w0 is not m.encoder.layers[1].linear1.weight
    assert not np.array_equal(w0.numpy(), m.encoder.layers[1].linear1.weight.numpy())
    layer = clnet.nn.TransformerEncoderLayer(D, NH, FF)
    enc = clnet.nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0].linear2.weight, enc.layers[1].linear2.weight
    np.testing.assert_array_equal(a.numpy(), layer.linear2.weight.numpy())
    with clnet.no_grad():
        a.fill_(1.0)
    assert type(a) is clnet.nn.Parameter and a.requires_grad
    assert not np.any(b.numpy() == 1.0) and not np.any(layer.linear2.weight.numpy() == 1.0)


def test_dropout_in_training_only():
    """Train mode: each dropout site zeroes about p of its values and scales the rest by
    1 / (1 - p); two calls differ; eval mode: the sites pass values through."""
    p, L, B = 0.4, 16, 8
    m = clnet.nn.Transformer(D, NH, 1, 1, FF, dropout=p)
    sites = {n: mod for n, mod in m.named_modules() if isinstance(mod, clnet.nn.Dropout)}
    assert len(sites) == 3 + 4          # encoder layer: 3 sites, decoder layer: 4 (one in FF)
    assert all(mod.p == p for mod in sites.values())
    attn = [mod for mod in m.modules() if isinstance(mod, clnet.nn.MultiheadAttention)]
    assert len(attn) == 3 and all(mod.dropout == p for mod in attn)
    seen = {}

    def hook(name):
        def f(mod, args, out):
            seen[name] = (args[0].detach().numpy(), out.detach().numpy())
        return f
    for n, mod in sites.items():
        mod.register_forward_hook(hook(n))
    src, tgt = clnet.tensor(_x(L, B, D)), clnet.tensor(_x(L, B, D, seed=1))
    out1 = m(src, tgt).numpy()
    assert set(seen) == set(sites)
    for n, (x, y) in seen.items():
        live = x != 0                   # the feed-forward site follows a ReLU
        rate = ((y == 0) & live).sum() / live.sum()
        assert live.sum() > 500 and abs(rate - p) < 0.07, (n, rate)
        kept = y != 0
        np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-5, atol=1e-6,
                                   err_msg=n)
    assert not np.allclose(out1, m(src, tgt).numpy())
    m.eval()
    out3 = m(src, tgt).numpy()
    for n, (x, y) in seen.items():
        np.testing.assert_array_equal(x, y, err_msg=n)
    np.testing.assert_array_equal(out3, m(src, tgt).numpy())


# A program written against torch's API, subclassing nn.Transformer when it is imported (the
# pattern of PyTorch's word_language_model example): the encoder stack is used alone, the
# decoder stack is replaced by a Linear, the mask is built by hand.
PROGRAM = '''
import math
{import_line}
nn = torch.nn
F = torch.nn.functional


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        return self.dropout(x + self.pe[:x.size(0), :])


class TransformerLM(nn.Transformer):
    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super(TransformerLM, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                                            num_encoder_layers=nlayers)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        nn.init.uniform_(self.input_emb.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def _square_mask(self, sz):
        mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
        return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._square_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        src = self.pos_encoder(self.input_emb(src) * math.sqrt(self.ninp))
        output = self.encoder(src, mask=self.src_mask)
        return F.log_softmax(self.decoder(output), dim=-1)
'''


def _import_program(tmp_path, name, import_line):
    path = tmp_path / f"{name}.py"
    path.write_text(PROGRAM.format(import_line=import_line))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[name]
    return mod


def test_program_subclassing_transformer(tmp_path):
    cprog = _import_program(tmp_path, "lm_clnet", "import clnet as torch")
    tprog = _import_program(tmp_path, "lm_torch", "import torch")
    ntok = 11
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = tprog.TransformerLM(ntok, D, NH, FF, 2, dropout=0.2)
    cm = cprog.TransformerLM(ntok, D, NH, FF, 2, dropout=0.2)
    assert isinstance(cm, clnet.nn.Transformer) and isinstance(cm.decoder, clnet.nn.Linear)
    load(cm, tm)
    cm.eval(), tm.eval()
    tokens = np.random.default_rng(3).integers(0, ntok, (S, N))
    co = cm(clnet.tensor(tokens))
    to = tm(torch.tensor(tokens))
    _close("log-probabilities", co, to)
    targets = np.random.default_rng(4).integers(0, ntok, (S * N,))
    closs = clnet.nn.functional.nll_loss(co.view(-1, ntok), clnet.tensor(targets))
    tloss = torch.nn.functional.nll_loss(to.view(-1, ntok), torch.tensor(targets))
    closs.backward(), tloss.backward()
    for (name, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        _close(f"grad of {name}", cp.grad, tp.grad)
    # without the mask every position sees the whole sequence: the first position changes
    free = cm(clnet.tensor(tokens), has_mask=False)
    assert cm.src_mask is None
    assert not np.allclose(free.detach().numpy()[0], co.detach().numpy()[0], atol=1e-4)
    cm.train()
    opt = clnet.optim.SGD(cm.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = clnet.nn.functional.nll_loss(cm(clnet.tensor(tokens)).view(-1, ntok),
                                            clnet.tensor(targets))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_mismatched_mask_kinds_warn_like_torch():
    layer = clnet.nn.TransformerEncoderLayer(D, NH, FF)
    with pytest.warns(UserWarning, match="Support for mismatched src_key_padding_mask and "
                                         "src_mask is deprecated"):
        layer(clnet.tensor(_x(S, N, D)), src_mask=clnet.tensor(_x(S, S)),
              src_key_padding_mask=clnet.tensor(_padding(S, 0)))


def test_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        clnet.nn.TransformerEncoderLayer(D, NH, activation="tanh")
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not elu"):
        clnet.nn.Transformer(D, NH, 1, 1, FF, activation="elu")
    m = clnet.nn.Transformer(D, NH, 1, 1, FF)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(clnet.zeros(S, 2, D), clnet.zeros(T, 3, D))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal "
                                           "to d_model"):
        m(clnet.zeros(S, 2, D), clnet.zeros(T, 2, D + 1))
    with pytest.raises(TypeError, match="only bool and floating types of src_key_padding_mask"):
        m(clnet.zeros(S, 2, D), clnet.zeros(T, 2, D),
          src_key_padding_mask=clnet.zeros(2, S, dtype=clnet.int64))
    with pytest.raises(ValueError, match=r"The shape of the 2D attn_mask is \[6, 6\], but "
                                         r"should be \[7, 7\]"):
        m(clnet.zeros(S, 2, D), clnet.zeros(T, 2, D), src_mask=clnet.zeros(T, T))


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_torch_nested_tensor_path_differs_only_at_padding():
    """torch in eval mode under no_grad with a padding mask runs its encoder on nested tensors
    and writes 0 at padded positions; every other position equals clnet's (README)."""
    torch.manual_seed(0)
    kw = dict(dim_feedforward=FF, batch_first=True)
    tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, 2, **kw), 2)
    cm = clnet.nn.TransformerEncoder(clnet.nn.TransformerEncoderLayer(D, 2, **kw), 2)
    load(cm, tm)
    cm.eval(), tm.eval()
    src, kpm = _x(N, S, D), _padding(S, 5)
    with torch.no_grad():
        want = tm(torch.tensor(src), src_key_padding_mask=torch.tensor(kpm)).numpy()
    got = cm(clnet.tensor(src), src_key_padding_mask=clnet.tensor(kpm)).numpy()
    assert np.all(want[kpm] == 0) and not np.any(got[kpm] == 0)
    np.testing.assert_allclose(got[~kpm], want[~kpm], **TOL)


def test_causal_detection_reads_a_mask_once_while_it_is_unchanged(monkeypatch):
    from clnet.nn.modules import transformer as T
    mask = clnet.nn.Transformer.generate_square_subsequent_mask(5)
    reads = []
    real = clnet.Tensor.all
    monkeypatch.setattr(clnet.Tensor, "all", lambda self, *a, **k: reads.append(1) or
                        real(self, *a, **k))
    assert T._detect_is_causal_mask(mask, None, 5) is True
    assert T._detect_is_causal_mask(mask, None, 5) is True
    assert len(reads) == 1
    mask.add_(1.0)                       # changed in place: compared again, no longer causal
    assert T._detect_is_causal_mask(mask, None, 5) is False
    assert len(reads) == 2
