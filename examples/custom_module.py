"""Writing your own nn.Module: a Linear layer from scratch, and a classifier built from it.

``MyLinear`` registers its weight and bias with ``register_parameter`` (so ``parameters()``,
``state_dict()`` and optimizers see them), initialises them with ``nn.init.kaiming_normal_``
(He init, suited to the ReLUs that follow), and describes itself through ``extra_repr`` so that
``print(model)`` shows its sizes. The model is printed, then trained on the 8x8 digits that ship
with clnet (1,438 train / 359 test images).

    python examples/custom_module.py --epochs 10
"""
import argparse
import math

import clnet as torch
import clnet.nn as nn
import clnet.nn.functional as F
from clnet.data import DataLoader, get_dataset


class MyLinear(nn.Module):
    """y = x W^T + b, the same maths as nn.Linear, written out by hand."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.register_parameter("weight", nn.Parameter(torch.empty(out_features, in_features)))
        if bias:
            self.register_parameter("bias", nn.Parameter(torch.empty(out_features)))
        else:
            self.register_parameter("bias", None)    # still an attribute, set to None
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        y = x @ self.weight.t()
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class DigitsClassifier(nn.Module):
    def __init__(self, hidden=64, num_classes=10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = MyLinear(64, hidden)
        self.fc2 = MyLinear(hidden, hidden)
        self.out = MyLinear(hidden, num_classes)

    def forward(self, x):
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.out(x)


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += y.numel()
    model.train()
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many optimizer steps (default: run all epochs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    train = get_dataset("digits", "train")
    test = get_dataset("digits", "test")
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=0)
    test_loader = DataLoader(test, batch_size=256)

    model = DigitsClassifier()
    print(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters: {[name for name, _ in model.named_parameters()]}")
    std = model.fc1.weight.std().item()
    print(f"fc1.weight std {std:.3f} (kaiming_normal_ for ReLU: sqrt(2/64) = "
          f"{math.sqrt(2 / 64):.3f})")

    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    first_loss = last_loss = None
    step = 0
    for epoch in range(args.epochs):
        running, batches = 0.0, 0
        for x, y in train_loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = loss.item()
            first_loss = value if first_loss is None else first_loss
            last_loss = value
            running += value
            batches += 1
            step += 1
            if args.steps is not None and step >= args.steps:
                break
        print(f"epoch {epoch + 1:2d}  train loss {running / batches:.4f}")
        if args.steps is not None and step >= args.steps:
            break

    accuracy = evaluate(model, test_loader)
    print(f"final test accuracy {accuracy:.3f} after {step} steps (chance 0.100)")
    return {"model": model, "first_loss": first_loss, "final_loss": last_loss,
            "accuracy": accuracy, "init_std": std}


if __name__ == "__main__":
    main()
