"""Modules the training tests name in configs (``model.module: train_helpers:Class``)."""
import clnet.nn as nn


class InterruptAt(nn.Module):
    """An MLP whose forward raises KeyboardInterrupt (as Ctrl-C would) at one call: of the
    training forwards (``mode = "train"``) or of all, validation passes included (``"any"``)."""

    calls = 0
    interrupt_at = None
    mode = "train"

    def __init__(self, in_features=64, hidden=32, classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Dropout(0.1), nn.Linear(hidden, classes))

    def forward(self, x):
        InterruptAt.calls += 1
        if (self.training or InterruptAt.mode == "any") \
                and InterruptAt.calls == InterruptAt.interrupt_at:
            raise KeyboardInterrupt
        return self.net(x)


class NaNAt(nn.Module):
    """An MLP whose output becomes NaN from its ``nan_from``-th training forward on."""

    calls = 0

    def __init__(self, nan_from=7):
        super().__init__()
        self.nan_from = nan_from
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        out = self.net(x)
        if self.training:
            NaNAt.calls += 1
            if NaNAt.calls >= self.nan_from:
                out = out * float("nan")
        return out

