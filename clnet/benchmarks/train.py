"""Training-step benchmark (issue 4): one optimizer step of three models in clnet and in PyTorch
CPU on the same machine, same shapes, same kind of optimizer, timed in turns within each round.

- MLP 784-256-10, batch 128, SGD (momentum 0.9)
- LeNet-style ConvNet (Conv2d(1,10,5)-MaxPool-ReLU-Conv2d(10,20,5)-MaxPool-ReLU-Linear(320,50)-
  ReLU-Linear(50,10)), batch 64, SGD (momentum 0.9)
- LSTM (seq 32, batch 32, input 128, hidden 128) + Linear head over 128 classes, Adam

A step is forward, cross-entropy, backward, optimizer step; clnet's steps are followed by one
synchronisation (what a training loop waits for when it prints), so the figure includes all
device work. Medians over ``repeats`` rounds of ``steps`` steps each, after warm-up.
"""
import statistics
import time

import numpy as np

import clnet


def _models(m):
    nn = m.nn
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    lenet = nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(10, 20, 5),
                          nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(320, 50), nn.ReLU(),
                          nn.Linear(50, 10))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(128, 128, batch_first=True)
            self.head = nn.Linear(128, 128)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out).reshape(-1, 128)

    return {"mlp": mlp, "lenet": lenet, "lstm": LSTMNet()}


def _data(rng):
    return {
        "mlp": (rng.standard_normal((128, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, 128)),
        "lenet": (rng.standard_normal((64, 1, 28, 28)).astype(np.float32),
                  rng.integers(0, 10, 64)),
        "lstm": (rng.standard_normal((32, 32, 128)).astype(np.float32),
                 rng.integers(0, 128, 32 * 32)),
    }


def _stepper(m, name, model, x, y, sync):
    opt = (m.optim.Adam(model.parameters(), lr=1e-3) if name == "lstm"
           else m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    xt, yt = m.tensor(x), m.tensor(y)
    loss_fn = m.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    def run(n):
        t0 = time.perf_counter()
        for _ in range(n):
            loss = step()
        sync(loss)
        return (time.perf_counter() - t0) / n
    return run


def run(models=("mlp", "lenet", "lstm"), steps=5, repeats=5, warmup=3):
    rows = []
    data = _data(np.random.default_rng(0))
    runners = {}
    try:
        import torch  # optional: PyTorch CPU is the comparison when it is installed
        torch.manual_seed(0)
        tmodels = _models(torch)
        for name in models:
            runners[("torch", name)] = _stepper(torch, name, tmodels[name], *data[name],
                                                lambda loss: loss.item())
    except ImportError:
        torch = None
    clnet.manual_seed(0)
    cmodels = _models(clnet)
    for name in models:
        runners[("clnet", name)] = _stepper(clnet, name, cmodels[name], *data[name],
                                            lambda loss: loss.item())
    for r in runners.values():
        r(warmup)
    for name in models:
        times = {"clnet": [], "torch": []}
        for _ in range(repeats):
            for fw in ("clnet", "torch"):
                if (fw, name) in runners:
                    time.sleep(0.3)   # the other framework's worker threads stop spinning
                    times[fw].append(runners[(fw, name)](steps) * 1e3)
        c = statistics.median(times["clnet"])
        t = statistics.median(times["torch"]) if times["torch"] else float("nan")
        rows.append({"model": name, "clnet_ms": c, "torch_ms": t, "ratio": c / t})
    return rows


def format_rows(rows):
    lines = [f"{'model':<8} {'clnet ms/step':>14} {'torch ms/step':>14} {'clnet/torch':>12}"]
    for r in rows:
        lines.append(f"{r['model']:<8} {r['clnet_ms']:>14.2f} {r['torch_ms']:>14.2f} "
                     f"{r['ratio']:>11.2f}x")
    return "\n".join(lines)
