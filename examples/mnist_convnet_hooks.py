"""The classic MNIST ConvNet, instrumented with module hooks.

The network is the one from PyTorch's MNIST example (two 5x5 convolutions with max pooling, then
two linear layers). A forward hook on every Conv2d and Linear records the mean and standard
deviation of the layer's output, and a full backward hook records the norm of the gradient
flowing out of the layer (``grad_output``) -- the usual way to watch for dead or exploding
layers without touching the model's code. The hooks are removed with their handles before
evaluation.

Data: Fashion-MNIST (28x28 clothing images) when its files are found (``clnet.data`` looks in
``$CLNET_DATA``, ``~/.cache/clnet/datasets`` and ``/usr/share/datasets``, where Debian's
``dataset-fashion-mnist`` package puts them); otherwise the 8x8 digits shipped with clnet,
upsampled 3x and zero-padded to 28x28. The output says which one ran.

    python examples/mnist_convnet_hooks.py --steps 300
"""
import argparse
import warnings
from collections import defaultdict

import numpy as np

import clnet as torch
import clnet.nn as nn
from clnet.data import DataLoader, DatasetNotFoundError, get_dataset


def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 10, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(320, 50), nn.ReLU(),
        nn.Linear(50, 10),
    )


def digits_to_28x28(image):
    """(1, 8, 8) -> (1, 28, 28): each pixel repeated 3x3 (24x24), then a 2-pixel zero border."""
    big = np.kron(image, np.ones((1, 3, 3), dtype=image.dtype))
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


def load_data(source):
    """(train, test, description) for 'auto', 'fashion-mnist' or 'digits'."""
    if source in ("auto", "fashion-mnist"):
        try:
            train = get_dataset("fashion-mnist", "train")
            test = get_dataset("fashion-mnist", "test")
            return train, test, f"Fashion-MNIST from {train.files[0].rsplit('/', 1)[0]}"
        except DatasetNotFoundError:
            if source == "fashion-mnist":
                raise
    train = get_dataset("digits", "train", transform=digits_to_28x28)
    test = get_dataset("digits", "test", transform=digits_to_28x28)
    return train, test, "digits 8x8, upsampled 3x and padded to 28x28 (Fashion-MNIST not found)"


class HookRecorder:
    """Forward and full backward hooks on the given named modules.

    The statistics are kept as device tensors and only read back (``.item()``) in ``summary``:
    reading them inside the hook would make every step wait for the device."""

    def __init__(self, named_modules):
        self.activations = defaultdict(list)     # name -> [(mean, std), ...] one per forward
        self.grad_norms = defaultdict(list)      # name -> [norm of grad_output, ...]
        self.handles = []
        for name, module in named_modules:
            self.handles.append(module.register_forward_hook(self._forward_hook(name)))
            self.handles.append(module.register_full_backward_hook(self._backward_hook(name)))

    def _forward_hook(self, name):
        def hook(module, inputs, output):
            out = output.detach()
            self.activations[name].append((out.mean(), out.std()))
        return hook

    def _backward_hook(self, name):
        def hook(module, grad_input, grad_output):
            self.grad_norms[name].append(grad_output[0].detach().norm())
        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def summary(self, last=1):
        lines = []
        for name in self.activations:
            acts = self.activations[name][-last:]
            mean = sum(m.item() for m, _ in acts) / len(acts)
            std = sum(s.item() for _, s in acts) / len(acts)
            grads = self.grad_norms[name][-last:]
            gnorm = sum(g.item() for g in grads) / max(len(grads), 1)
            lines.append(f"  {name:>14s}  out mean {mean:+.3f} std {std:.3f}  "
                         f"|grad_out| {gnorm:.4f}")
        return "\n".join(lines)


def evaluate(model, loader, max_samples):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += y.numel()
            if total >= max_samples:
                break
    model.train()
    return correct / total, total


def train_model(model, loader, optimizer, recorder, args):
    """``args.steps`` optimizer steps (as many epochs as that takes); (steps, first, last loss)."""
    loss_fn = nn.CrossEntropyLoss()
    first_loss = last_loss = None
    step = 0
    while step < args.steps:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == 1 or step % args.log_every == 0 or step == args.steps:
                last_loss = loss.item()
                first_loss = last_loss if first_loss is None else first_loss
                print(f"step {step:4d}  loss {last_loss:.4f}")
                print(recorder.summary())
            if step >= args.steps:
                break
    return step, first_loss, last_loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--data", choices=["auto", "fashion-mnist", "digits"], default="auto")
    parser.add_argument("--eval-samples", type=int, default=2000,
                        help="test images to evaluate on (the first ones of the test split)")
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    train, test, description = load_data(args.data)
    print(f"data: {description}; {len(train)} train / {len(test)} test images")
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=0)
    test_loader = DataLoader(test, batch_size=500)

    model = build_model()
    print(model)
    watched = [(f"{i}:{type(m).__name__}", m) for i, m in enumerate(model)
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    recorder = HookRecorder(watched)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # The first conv's input (the images) does not require grad, so its grad_input is (None,);
    # PyTorch warns about that on every step, and so does clnet. It is expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        step, first_loss, last_loss = train_model(model, train_loader, optimizer, recorder, args)

    forward_calls = {name: len(v) for name, v in recorder.activations.items()}
    backward_calls = {name: len(v) for name, v in recorder.grad_norms.items()}
    recorder.remove()       # evaluation below runs without the hooks
    accuracy, evaluated = evaluate(model, test_loader, args.eval_samples)
    print(f"hooks: {len(watched)} layers, {sum(forward_calls.values())} forward and "
          f"{sum(backward_calls.values())} backward records")
    print(f"final test accuracy {accuracy:.3f} on {evaluated} images "
          f"({description.split(',')[0]}; chance 0.100)")
    return {"data": description, "first_loss": first_loss, "final_loss": last_loss,
            "accuracy": accuracy, "steps": step, "hooked_layers": [n for n, _ in watched],
            "forward_calls": forward_calls, "backward_calls": backward_calls,
            "recorder": recorder}


if __name__ == "__main__":
    main()
