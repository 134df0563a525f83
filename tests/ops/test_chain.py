"""Chains of small elementwise ops (clnet/kernels/chain.py): queued ops give the bits the same
ops launched one by one give, on every layout, and everything that reads the device sees them."""
import threading

import numpy as np
import pytest
import torch

import clnet
from clnet.kernels.chain import MAX_OPS

from helpers import assert_close

DEV = clnet.ones(1)._storage.device


@pytest.fixture
def chains():
    """Yields a function setting the chain limit (0: every op launched alone)."""
    key = "elementwise.chain"
    had, saved = key in DEV.tuning, DEV.tuning.get(key)

    def set_limit(limit):
        DEV.synchronize()
        DEV.tuning[key] = limit
    yield set_limit
    DEV.synchronize()
    if had:
        DEV.tuning[key] = saved
    else:
        DEV.tuning.pop(key, None)


def _program(xa, ya, n):
    """Ops of every kind the chain takes, on views at offsets, strided views and in place."""
    big = clnet.tensor(xa)
    x, y = big[2:2 + n], clnet.tensor(ya)[1:1 + n]
    a = (x + 1.5) * y - x / (y.abs() + 1)
    b = clnet.relu(a - 0.25).neg() + clnet.maximum(x, y) - clnet.minimum(x, 0.5 * y)
    c = clnet.clamp(b, -2, 2) * 3 - (2.0 - a)
    d = torch_like_pow = clnet.pow(x.abs() + 0.5, 2.0)
    e = clnet.nn.functional.leaky_relu(c, 0.2) + clnet.nn.functional.hardtanh(a, -0.5, 0.5)
    z = y.clone()
    z.add_(x).mul_(2).sub_(c).clamp_(-5, 5)          # in place: z read and written at offset 0
    w = big[1:1 + n] - big[2:2 + n]                  # one buffer read at two offsets
    s = big[::2][:n // 2 + 1] * 2                    # a strided view: its own launch
    return [t.numpy() for t in (a, b, c, d, torch_like_pow, e, z, w, s, x * y + z)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 63, 64, 65, 257, 511, 512, 513, 1000])
def test_chained_ops_give_the_bits_of_ops_launched_alone(chains, dtype, n):
    rng = np.random.default_rng(n)
    xa = rng.uniform(-2, 2, n + 3).astype(dtype)
    ya = rng.uniform(-2, 2, n + 3).astype(dtype)
    chains(0)
    want = _program(xa, ya, n)
    chains(1 << 20)
    got = _program(xa, ya, n)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    chains(512)             # the default limit on a CPU: some sizes chain, some do not
    for w, g in zip(want, _program(xa, ya, n)):
        np.testing.assert_array_equal(g, w)


def test_a_chain_of_tiny_ops_is_one_launch_per_chain(chains):
    chains(512)
    y = clnet.ones(3)
    DEV.synchronize()
    before = DEV.launches
    for _ in range(200):
        y = y + 1
    assert DEV.launches - before <= 200 // (MAX_OPS - 2) + 1
    assert y.tolist() == [201.0, 201.0, 201.0]


def test_every_reader_sees_queued_ops(chains):
    chains(512)
    x = clnet.arange(10, dtype=clnet.float32)
    y = x * 2 + 1                       # queued
    assert y.sum().item() == 100.0      # another kernel reads y
    z = y - 1                           # queued
    assert z.numpy().tolist() == [2.0 * i for i in range(10)]    # a copy to the host
    w = z / 2
    assert w[3].item() == 3.0           # a view's read
    v = w + 0
    DEV.synchronize()
    assert DEV.pending is None
    assert clnet.equal(v, x)


def test_ops_queued_between_other_kernels_keep_their_order(chains):
    chains(512)
    x = clnet.zeros(16)
    for i in range(40):
        x.add_(1)                       # queued in place
        if i % 7 == 0:
            x = x.cumsum(0) / x.cumsum(0).max()     # other kernels read and replace x
    want = np.zeros(16, np.float32)
    for i in range(40):
        want += 1
        if i % 7 == 0:
            want = np.cumsum(want) / np.cumsum(want).max()
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-6)


def test_gradients_through_chained_ops_match_torch(chains):
    chains(512)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    xc = clnet.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    for x, m in ((xc, clnet), (xt, torch)):
        y = m.relu(x * 2 - 1) * x + (x / 3).neg()
        (y * y).sum().backward()
    assert_close(xc.grad, xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_thread_reading_the_device_launches_the_chain_first(chains):
    chains(512)
    x = clnet.ones(4)
    results = []

    def reader():
        for _ in range(50):
            DEV.synchronize()

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(300):
        x = x + 1
    t.join()
    results.append(x.tolist())
    assert results == [[301.0] * 4]


def test_queued_buffers_go_back_to_the_pool(chains):
    chains(512)
    DEV.synchronize()
    x = clnet.ones(100)
    start = clnet.memory_allocated(DEV)
    for _ in range(100):
        x = x * 1.0
    DEV.synchronize()
    assert clnet.memory_allocated(DEV) == start


def test_other_threads_ops_during_a_capture_run_eagerly_and_the_captured_chain_replays(chains):
    chains(512)
    x = clnet.ones(4)
    y = clnet.zeros(4)
    g = clnet.graphs.Graph()
    other = []
    with clnet.graphs.graph(g, capture_error_mode="thread_local"):
        y.copy_(x * 2 + 1)              # chained inside the capture, replayed later

        def work():
            z = clnet.full((4,), 3.0) * 2 - 1        # another thread: runs now
            DEV.synchronize()
            other.append(z.tolist())
        t = threading.Thread(target=work)
        t.start()
        t.join()
    assert other == [[5.0] * 4]
    x.fill_(5.0)
    g.replay()
    assert y.tolist() == [11.0] * 4


@pytest.mark.parametrize("limit", [0, 512])
def test_partially_overlapping_in_place_ops_are_refused_as_torch_refuses_them(chains, limit):
    """x[1:].add_(x[:-1]) had work-items read what others write in no defined order (a
    different answer from run to run); torch refuses it, and so does clnet, chained or not."""
    chains(limit)
    for mod in (torch, clnet):
        x = mod.arange(6.0)
        for op in (lambda: x[1:].add_(x[:-1]), lambda: x[1:].copy_(x[:-1]),
                   lambda: mod.add(x[:-1], 1, out=x[1:]), lambda: x[1:].neg_().mul_(x[:-1])):
            with pytest.raises(RuntimeError, match="refer to a single memory location"):
                op()
        x.mul_(x)                           # the same view: allowed
        x[::2].clamp_(0, 1)
        x.view(2, 3).t().add_(x.view(2, 3).t())
        y = mod.arange(6.0)
        y[::2].add_(y[1::2])                # no common element, not dense: allowed by both
        assert x.tolist() == [0.0, 2.0, 2.0, 18.0, 2.0, 50.0]
        assert y.tolist() == [1.0, 1.0, 5.0, 3.0, 9.0, 5.0]


@pytest.mark.parametrize("layout", ["contiguous", "offset", "transposed", "stepped", "expanded"])
def test_where_out_matches_torch_on_every_layout(layout):
    rng = np.random.default_rng(3)
    c, a, b = rng.random((4, 5)) < 0.5, rng.standard_normal((4, 5)), rng.standard_normal((4, 5))

    def lay(t, mod):
        if layout == "offset":
            return mod.cat([mod.zeros(1, dtype=t.dtype), t.reshape(-1)])[1:].reshape(4, 5)
        if layout == "transposed":
            return t.t().contiguous().t()
        if layout == "stepped":
            return mod.stack([t, t], -1)[..., 0]
        if layout == "expanded":
            return t[:1].expand(4, 5)
        return t
    outs = []
    for mod in (clnet, torch):
        args = [lay(mod.tensor(v.astype(np.float32) if v.dtype != bool else v), mod)
                for v in (c, a, b)]
        out = mod.empty(4, 5)
        r = mod.where(*args, out=out)
        assert r is out
        outs.append(out.numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
