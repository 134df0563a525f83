"""Wall time of one Fashion-MNIST training epoch (54k images after the 10% validation hold-out,
as in examples/fashion_mnist_*.yaml) for the MLP and the LeNet-style ConvNet, in clnet and in
PyTorch CPU on the same machine, same batch size, same optimizer (Adam), same data order.

Usage: python benchmarks/bench_fashion_epoch.py [--model mlp|lenet] [--epochs 1]
Needs the Fashion-MNIST files (Debian's dataset-fashion-mnist, or $CLNET_DATA)."""
import argparse
import time

import numpy as np


def build(m, name):
    nn = m.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)), 128
    return nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(10, 20, 5),
                         nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(320, 50), nn.ReLU(),
                         nn.Linear(50, 10)), 64


def epoch(m, model, x, y, batch, order, lr):
    opt = m.optim.Adam(model.parameters(), lr=lr)
    loss_fn = m.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    loss = None
    for i in range(0, len(order) - batch + 1, batch):
        idx = order[i:i + batch]
        xb, yb = m.tensor(x[idx]), m.tensor(y[idx])
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    final = loss.item()           # waits for the device
    return time.perf_counter() - t0, final


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "lenet"], default=None)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    import torch

    import clnet
    from clnet.data import get_dataset
    ds = get_dataset("fashion-mnist", "train")
    x, y = ds.get_batch(np.arange(len(ds)))
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    n = int(len(x) * 0.9)
    x, y = x[:n], y[:n]
    order = np.random.default_rng(0).permutation(n)
    print(f"Fashion-MNIST: {n} training images; {torch.get_num_threads()} torch threads; "
          f"clnet device {clnet.default_device().name}")
    print(f"{'model':<6} {'clnet s/epoch':>14} {'torch s/epoch':>14} {'clnet/torch':>12}")
    for name in ([args.model] if args.model else ["mlp", "lenet"]):
        cm, batch = build(clnet, name)
        tm, _ = build(torch, name)
        ct, tt = [], []
        for _ in range(args.epochs):
            ct.append(epoch(clnet, cm, x, y, batch, order, 1e-3)[0])
            tt.append(epoch(torch, tm, x, y, batch, order, 1e-3)[0])
        c, t = float(np.median(ct)), float(np.median(tt))
        print(f"{name:<6} {c:>14.2f} {t:>14.2f} {c / t:>11.2f}x")


if __name__ == "__main__":
    main()
