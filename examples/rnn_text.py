"""Character-level language models: a vanilla RNN and an LSTM, then sampling text from them.

Each model embeds characters (``nn.Embedding``), runs them through a recurrent layer
(``nn.RNN`` or ``nn.LSTM``, ``batch_first=True``) and predicts the next character with a
``nn.Linear`` head, trained with cross-entropy on the ``text`` dataset (the Python help topics
from ``pydoc_data``, shipped with Python: no download). After training, text is generated one
character at a time: the hidden state is carried from step to step, the logits are turned into
probabilities with ``softmax`` (divided by a temperature first), and the next character is drawn
with ``torch.multinomial``.

    python examples/rnn_text.py --steps 120 --model both
"""
import argparse

import clnet as torch
import clnet.nn as nn
import clnet.nn.functional as F
from clnet.data import DataLoader, get_dataset


class CharRNN(nn.Module):
    def __init__(self, vocab_size, kind="lstm", embed=32, hidden=128, num_layers=1):
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(vocab_size, embed)
        recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM}[kind]
        self.rnn = recurrent(embed, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        """idx (N, L) int64 -> logits (N, L, vocab) and the final recurrent state."""
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out), state


def sample(model, dataset, prompt, length, temperature=0.8, generator=None):
    """``prompt`` followed by ``length`` characters drawn from the model."""
    model.eval()
    with torch.no_grad():
        idx = torch.tensor(dataset.encode(prompt)).unsqueeze(0)       # (1, len(prompt))
        logits, state = model(idx)                                     # warm up on the prompt
        chars = []
        for _ in range(length):
            probs = F.softmax(logits[0, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator)     # (1,) int64
            chars.append(nxt)
            logits, state = model(nxt.view(1, 1), state)
        text = dataset.decode(torch.cat(chars).numpy()) if chars else ""
    model.train()
    return prompt + text


def evaluate(model, loader, batches):
    """Mean cross-entropy (nats per character) over the first ``batches`` batches."""
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i, (x, y) in enumerate(loader):
            if i >= batches:
                break
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
            n += 1
    model.train()
    return total / n


def train_one(kind, train, val, args):
    torch.manual_seed(0)
    model = CharRNN(train.vocab_size, kind, embed=args.embed, hidden=args.hidden)
    print(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=0)
    losses = []                 # mean training loss of each log window
    window, window_steps = 0.0, 0
    step = 0
    while step < args.steps:
        for x, y in loader:
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, train.vocab_size), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)    # usual for recurrent nets
            optimizer.step()
            step += 1
            # summed on the device and read once per window: .item() every step would wait
            window, window_steps = window + loss.detach(), window_steps + 1
            if step == 1 or step % args.log_every == 0 or step == args.steps:
                losses.append(window.item() / window_steps)
                window, window_steps = 0.0, 0
                print(f"[{kind}] step {step:4d}  loss {losses[-1]:.3f}")
            if step >= args.steps:
                break
    val_loss = evaluate(model, DataLoader(val, batch_size=args.batch_size), args.eval_batches)
    text = sample(model, train, args.prompt, args.sample_chars, args.temperature,
                  generator=torch.Generator().manual_seed(0))
    print(f"[{kind}] val loss {val_loss:.3f} nats/char; sample:\n{text}\n")
    return {"model": model, "first_loss": losses[0], "final_loss": losses[-1],
            "val_loss": val_loss, "sample": text}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["rnn", "lstm", "both"], default="both")
    parser.add_argument("--steps", type=int, default=120, help="optimizer steps per model")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--sample-chars", type=int, default=120)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--eval-batches", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)

    train = get_dataset("text", "train", seq_len=args.seq_len)
    val = get_dataset("text", "val", seq_len=args.seq_len)
    print(f"text: {len(train)} train / {len(val)} val windows of {args.seq_len} characters, "
          f"vocabulary of {train.vocab_size}")
    kinds = ["rnn", "lstm"] if args.model == "both" else [args.model]
    results = {kind: train_one(kind, train, val, args) for kind in kinds}
    for kind, r in results.items():
        print(f"final [{kind}] train loss {r['final_loss']:.3f} (first {r['first_loss']:.3f}), "
              f"val loss {r['val_loss']:.3f}")
    results["vocab"] = train.vocab
    return results


if __name__ == "__main__":
    main()
