"""The models, data and optimizers of ``clnet bench train``, written once the PyTorch way.

Every builder takes the framework module ``m`` (``clnet`` or ``torch``) and uses only its
torch-named API, so the two frameworks run the same Python code on the same shapes (the shapes of
issue 14's table):

- ``mlp``: MLP 784-256-10, batch 128, SGD (momentum 0.9)
- ``tiny_mlp``: MLP 32-64-64-10 (three Linear layers), batch 16, SGD (momentum 0.9)
- ``lenet``: Conv2d(1,10,5)-MaxPool-ReLU-Conv2d(10,20,5)-MaxPool-ReLU-Linear(320,50)-ReLU-
  Linear(50,10), batch 64, SGD (momentum 0.9)
- ``lstm``: LSTM (seq 32, batch 32, input 128, hidden 128) + Linear head over 128 classes, Adam
- ``gru``: the same with a GRU, Adam
- ``gpt``: two pre-norm transformer blocks (token + position embeddings, causal self-attention
  from q/k/v projections, a mask and softmax, LayerNorm, GELU MLP), width 128, 4 heads,
  64 tokens, batch 16, vocabulary 256, AdamW, dropout 0.0

The GPT keeps its causal mask and position indices as buffers (as nanoGPT keeps its mask) so a
step uploads nothing from the host, which is what a captured step needs.
"""
import math

import numpy as np

MODELS = ("mlp", "tiny_mlp", "lenet", "lstm", "gru", "gpt")

DESCRIPTIONS = {
    "mlp": "MLP 784-256-10, batch 128, SGD momentum",
    "tiny_mlp": "MLP 32-64-64-10, batch 16, SGD momentum",
    "lenet": "LeNet-style ConvNet, batch 64, SGD momentum",
    "lstm": "LSTM seq 32, batch 32, hidden 128 + Linear head, Adam",
    "gru": "GRU seq 32, batch 32, hidden 128 + Linear head, Adam",
    "gpt": "GPT 2 blocks, width 128, 4 heads, 64 tokens, batch 16, vocab 256, AdamW",
}

GPT = {"vocab": 256, "block": 64, "width": 128, "heads": 4, "layers": 2, "batch": 16,
       "dropout": 0.0}


def _recurrent(m, cell):
    nn = m.nn

    class RecurrentNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = cell(128, 128, batch_first=True)
            self.head = nn.Linear(128, 128)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out).reshape(-1, 128)

    return RecurrentNet()


def _gpt(m, vocab, block, width, heads, layers, dropout, **_):
    nn, F = m.nn, m.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width)   # q, k and v in one product
            self.proj = nn.Linear(width, width)
            self.drop = nn.Dropout(dropout)
            # True above the diagonal: position i must not see j > i
            self.register_buffer("future", m.ones(block, block, dtype=m.bool).triu(1))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(width, dim=2)
            q = q.view(B, T, heads, C // heads).transpose(1, 2)    # (B, heads, T, head size)
            k = k.view(B, T, heads, C // heads).transpose(1, 2)
            v = v.view(B, T, heads, C // heads).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // heads))
            att = att.masked_fill(self.future[:T, :T], float("-inf"))
            att = self.drop(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.drop(self.proj(y))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(width)
            self.attn = CausalSelfAttention()
            self.ln2 = nn.LayerNorm(width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                     nn.Linear(4 * width, width), nn.Dropout(dropout))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, width)
            self.pos = nn.Embedding(block, width)
            self.register_buffer("positions", m.arange(block))
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.drop(self.tok(idx) + self.pos(self.positions[:T]))
            return self.head(self.ln(self.blocks(x))).reshape(-1, vocab)

    return GPT()


def build_model(m, name):
    """Model ``name`` of :data:`MODELS` in framework ``m`` (call ``m.manual_seed`` first)."""
    nn = m.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "tiny_mlp":
        return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                             nn.Linear(64, 10))
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
                             nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10))
    if name == "lstm":
        return _recurrent(m, nn.LSTM)
    if name == "gru":
        return _recurrent(m, nn.GRU)
    if name == "gpt":
        return _gpt(m, **GPT)
    raise ValueError(f"clnet bench train: unknown model {name!r}; choose from {', '.join(MODELS)}")


def build_optimizer(m, name, params):
    """The optimizer each model trains with (see the module docstring)."""
    if name in ("lstm", "gru"):
        return m.optim.Adam(params, lr=1e-3)
    if name == "gpt":
        return m.optim.AdamW(params, lr=1e-3)
    return m.optim.SGD(params, lr=0.01, momentum=0.9)


def make_data(name, rng):
    """(inputs, integer targets) as numpy arrays for one step of model ``name``."""
    if name == "mlp":
        return (rng.standard_normal((128, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, 128))
    if name == "tiny_mlp":
        return rng.standard_normal((16, 32)).astype(np.float32), rng.integers(0, 10, 16)
    if name == "lenet":
        return (rng.standard_normal((64, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, 64))
    if name in ("lstm", "gru"):
        return (rng.standard_normal((32, 32, 128)).astype(np.float32),
                rng.integers(0, 128, 32 * 32))
    if name == "gpt":
        b, t, v = GPT["batch"], GPT["block"], GPT["vocab"]
        return rng.integers(0, v, (b, t)), rng.integers(0, v, b * t)
    raise ValueError(f"clnet bench train: unknown model {name!r}; choose from {', '.join(MODELS)}")
