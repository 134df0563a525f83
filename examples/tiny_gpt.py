"""A tiny GPT: a decoder-only transformer trained on characters, then generating text.

The model follows the shape of nanoGPT: token and position embeddings (``nn.Embedding``), a
stack of pre-norm blocks -- causal self-attention through
``F.scaled_dot_product_attention(q, k, v, is_causal=True)`` (or, with ``--attention mha``,
``nn.MultiheadAttention`` with a causal mask) and a GELU MLP, each wrapped in a
residual connection after a ``nn.LayerNorm`` -- a final LayerNorm and a linear head tied to the
token embedding. It is trained with AdamW on the ``text`` dataset (the Python help topics from
``pydoc_data``: no download) and then samples new text one token at a time with
``torch.multinomial``.

    python examples/tiny_gpt.py --steps 150
"""
import argparse
import math

import clnet as torch
import clnet.nn as nn
import clnet.nn.functional as F
from clnet.data import DataLoader, get_dataset


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        assert n_embd % n_head == 0, "n_embd must be divisible by n_head"
        self.n_head, self.n_embd = n_head, n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)     # q, k and v in one matrix product
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, n_head, T, head_size): every head attends independently
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)       # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MHASelfAttention(nn.Module):
    """The same causal self-attention through nn.MultiheadAttention."""

    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.mha = nn.MultiheadAttention(n_embd, n_head, dropout=dropout, batch_first=True)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        T = x.size(1)
        pos = torch.arange(T)
        # MultiheadAttention's bool masks say where NOT to attend: every j > i (the future)
        future = pos.unsqueeze(0) > pos.unsqueeze(1)
        y, _ = self.mha(x, x, x, attn_mask=future, need_weights=False, is_causal=True)
        return self.resid_dropout(y)


ATTENTION = {"sdpa": CausalSelfAttention, "mha": MHASelfAttention}


class MLP(nn.Module):
    def __init__(self, n_embd, dropout):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout, attention="sdpa"):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = ATTENTION[attention](n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer=2, n_head=4, n_embd=64, dropout=0.0,
                 attention="sdpa"):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, dropout, attention)
                                     for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight     # weight tying: one matrix in and out
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that feed the residual stream
        for name, p in self.named_parameters():
            if name.endswith(("c_proj.weight", "out_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.size()
        assert T <= self.block_size, f"sequence of {T} tokens, block size is {self.block_size}"
        pos = torch.arange(0, T, dtype=torch.long)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Extend idx (B, T) by ``max_new_tokens`` sampled tokens."""
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--attention", choices=sorted(ATTENTION), default="sdpa",
                        help="sdpa: F.scaled_dot_product_attention; mha: nn.MultiheadAttention")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--new-tokens", type=int, default=120)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    train = get_dataset("text", "train", seq_len=args.block_size)
    print(f"text: {len(train)} windows of {args.block_size} characters, vocabulary of "
          f"{train.vocab_size}")
    model = TinyGPT(train.vocab_size, args.block_size, args.n_layer, args.n_head, args.n_embd,
                    args.dropout, args.attention)
    print(model)
    # parameters() lists the tied embedding/head matrix once
    print(f"{sum(p.numel() for p in model.parameters())} parameters")

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=0)
    losses = []                 # mean training loss of each log window
    window, window_steps = 0.0, 0
    step = 0
    while step < args.steps:
        for x, y in loader:
            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            # summed on the device and read once per window: .item() every step would wait
            window, window_steps = window + loss.detach(), window_steps + 1
            if step == 1 or step % args.log_every == 0 or step == args.steps:
                losses.append(window.item() / window_steps)
                window, window_steps = 0.0, 0
                print(f"step {step:4d}  loss {losses[-1]:.3f}")
            if step >= args.steps:
                break

    model.eval()
    context = torch.tensor(train.encode(args.prompt)).unsqueeze(0)
    out = model.generate(context, args.new_tokens, temperature=args.temperature,
                         top_k=args.top_k, generator=torch.Generator().manual_seed(0))
    generated = out[0, len(args.prompt):].numpy()
    text = train.decode(generated)
    print(f"generated:\n{args.prompt}{text}\n")
    print(f"final loss {losses[-1]:.3f} (mean of the last window; first step {losses[0]:.3f})")
    return {"model": model, "first_loss": losses[0], "final_loss": losses[-1],
            "generated": text, "generated_ids": generated, "vocab": train.vocab}


if __name__ == "__main__":
    main()
