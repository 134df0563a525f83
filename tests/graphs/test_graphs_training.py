"""Captured training steps give the same bits as eager ones.

Each case builds a model, an optimizer and a step function from one seed twice: one copy steps
eagerly, the other through ``clnet.graphs.graphed_step`` (warm-up, capture, replays). Losses and
every parameter must be bit-identical after N steps, including steps that draw random numbers
(dropout), an optimizer whose scalars change every step (Adam's bias corrections), a learning rate
a scheduler moves between replays, and a short last batch (a second graph).
"""
import numpy as np
import pytest

import clnet
import clnet.nn as nn
import clnet.nn.functional as F
from clnet import graphs


def _batches(rng, n, shape, classes, last=None, dtype=np.float32):
    out = [(clnet.tensor(rng.standard_normal((shape[0],) + shape[1:]).astype(dtype)),
            clnet.tensor(rng.integers(0, classes, shape[0])))
           for _ in range(n)]
    if last:
        x, y = out[-1]
        out.append((x[:last].contiguous(), y[:last].contiguous()))
    return out


def _run(build, batches, graphed, warmup=2):
    model, opt, sched, step = build()
    if graphed:
        step = graphs.graphed_step(step, warmup=warmup, watch=(model, opt))
    losses = []
    for x, y in batches:
        loss = step(x, y)
        losses.append(loss.item())
        if sched is not None:
            sched.step()
    # parameters and buffers (BatchNorm's running statistics and its batch count)
    return losses, [p.numpy() for p in list(model.parameters()) + list(model.buffers())], step


def _same(build, batches, warmup=2):
    eager_l, eager_p, _ = _run(build, batches, False)
    cap_l, cap_p, step = _run(build, batches, True, warmup)
    assert eager_l == cap_l
    for a, b in zip(eager_p, cap_p):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    return step


def _classifier(model, opt, sched=None, loss=F.cross_entropy):
    def step(x, y):
        opt.zero_grad(set_to_none=True)
        out = loss(model(x), y)
        out.backward()
        opt.step()
        return out
    return model, opt, sched, step


def test_mlp_sgd_momentum(rng):
    def build():
        clnet.manual_seed(1)
        m = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
        return _classifier(m, clnet.optim.SGD(m.parameters(), lr=0.1, momentum=0.9,
                                              nesterov=True, weight_decay=1e-4))
    step = _same(build, _batches(rng, 7, (8, 20), 5, last=3))
    # one graph per batch shape: the short last batch got its own
    assert len(step.graphs) == 2 and all(g.launches > 0 for g in step.graphs.values())


def test_convnet(rng):
    def build():
        clnet.manual_seed(2)
        m = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 4))
        return _classifier(m, clnet.optim.SGD(m.parameters(), lr=0.05, momentum=0.5))
    _same(build, _batches(rng, 5, (4, 3, 8, 8), 4))


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_rnn_adam(rng, cell):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, cell)(6, 12, batch_first=True)
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    def build():
        clnet.manual_seed(3)
        m = Net()
        return _classifier(m, clnet.optim.Adam(m.parameters(), lr=1e-2))
    _same(build, _batches(rng, 6, (4, 5, 6), 3))


def test_transformer_block_with_dropout(rng):
    # dropout draws new masks at every replay, exactly as the eager steps do
    def build():
        clnet.manual_seed(4)
        layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.2,
                                           batch_first=True)
        m = nn.Sequential(layer, nn.Flatten(), nn.Dropout(0.3), nn.Linear(16 * 6, 3))
        return _classifier(m, clnet.optim.AdamW(m.parameters(), lr=1e-3))
    _same(build, _batches(rng, 6, (4, 6, 16), 3))


def test_adamw_with_a_scheduler_moving_lr_between_replays(rng):
    def build():
        clnet.manual_seed(5)
        m = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 2))
        opt = clnet.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)
        sched = clnet.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        return _classifier(m, opt, sched)
    _same(build, _batches(rng, 8, (8, 10), 2))


def test_replay_without_warmup_draws_what_eager_draws(rng):
    # warmup=0: the first call captures and replays; the random stream still matches
    def build():
        clnet.manual_seed(6)
        m = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        return _classifier(m, clnet.optim.SGD(m.parameters(), lr=0.1))
    _same(build, _batches(rng, 4, (4, 8), 2), warmup=0)
