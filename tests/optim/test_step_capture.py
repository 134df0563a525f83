"""Optimizer steps under a step capture (clnet.graphs records launches and replays them): the
host-side values of a step (the step count, the bias corrections, a scheduler's learning rate)
are recomputed at every replay, so replaying a captured step twice gives the bits of two eager
steps. A stand-in capture object (record / record_dynamic / record_host / refusal, the interface
backend/launch.py talks to) records here, and replays its records in order; one test runs the
same through clnet.graphs' Graph."""
import threading

import numpy as np
import pytest

import clnet
from clnet import graphs, optim
from clnet.nn import utils


class FakeCapture:
    """Keeps what backend/launch.py hands a capture; ``replay`` runs it all again in order.
    Allocations during the capture come from the device's own pool (the real capture gives
    them a pool of the graph's; the tests below keep every tensor they record alive)."""

    def __init__(self):
        self.records = []
        self.thread = threading.get_ident()     # the capturing thread (kernels/chain.py asks)

    def allocation_pool(self):
        return clnet.default_device().pool

    def record(self, kernel, gsize, lsize, args):
        self.records.append(("static", kernel, gsize, lsize, args))

    def record_dynamic(self, kernel, gsize, lsize, make_args):
        self.records.append(("dynamic", kernel, gsize, lsize, make_args))

    def record_host(self, fn):
        self.records.append(("host", fn))

    def refusal(self, what):
        return RuntimeError(f"capture refused {what}")

    def replay(self, dev):
        for rec in self.records:
            if rec[0] == "host":
                rec[1]()
            elif rec[0] == "static":
                rec[1](dev.queue, rec[2], rec[3], *rec[4])
            else:
                rec[1](dev.queue, rec[2], rec[3], *rec[4]())


def _model(seed):
    rng = np.random.default_rng(seed)
    sizes = [(7, 5), (5,), (65,), (3, 4)]
    params = [clnet.nn.Parameter(clnet.tensor(rng.standard_normal(s).astype(np.float32)))
              for s in sizes]
    for p in params:      # fixed gradients: the replayed step reads the same buffers
        p.grad = clnet.tensor(rng.standard_normal(p.shape).astype(np.float32))
    return params


def _snapshot(opt, params):
    out = [p.detach().numpy().copy() for p in params]
    for p in params:
        for k, v in sorted(opt.state[p].items()):
            out.append(v.numpy().copy() if isinstance(v, clnet.Tensor) else np.float64(v))
    return out


CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adadelta", dict(lr=0.5)),
]


@pytest.mark.parametrize("foreach", [None, False])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_replays_equal_eager_steps_with_a_scheduler(name, kwargs, foreach):
    dev = clnet.default_device()
    runs = []
    for captured in (True, False):
        params = _model(1)
        opt = getattr(optim, name)(params, foreach=foreach, **kwargs)
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        utils.clip_grad_norm_(params, 5.0, foreach=foreach)
        opt.step()                       # eager: creates the state
        sched.step()
        if captured:
            cap = FakeCapture()
            before = _snapshot(opt, params)
            dev.capture = cap
            try:
                utils.clip_grad_norm_(params, 5.0, foreach=foreach)
                opt.step()
            finally:
                dev.capture = None
            # nothing ran while recording: parameters, states and step counts as they were
            for a, b in zip(before, _snapshot(opt, params)):
                np.testing.assert_array_equal(a, b)
            assert any(r[0] == "dynamic" for r in cap.records)
            cap.replay(dev)
            sched.step()                 # the replay must read the new learning rate
            cap.replay(dev)
        else:
            for i in range(2):
                utils.clip_grad_norm_(params, 5.0, foreach=foreach)
                opt.step()
                if i == 0:
                    sched.step()
        dev.synchronize()
        if name != "SGD":
            assert all(opt.state[p]["step"] == 3.0 for p in params)
        runs.append(_snapshot(opt, params))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,kwargs", [c for c in CONFIGS if c[0] != "Adagrad"],
                         ids=[c[0] for c in CONFIGS if c[0] != "Adagrad"])
def test_creating_state_inside_a_capture_is_refused(name, kwargs):
    dev = clnet.default_device()
    params = _model(2)
    opt = getattr(optim, name)(params, **kwargs)
    dev.capture = FakeCapture()
    try:
        with pytest.raises(RuntimeError, match="optimizer state is created on the first step; "
                                               "run one step eagerly before capturing"):
            opt.step()
    finally:
        dev.capture = None
    assert all(len(opt.state[p]) == 0 for p in params)     # nothing half-made
    opt.step()                                             # eagerly, it then works


def test_adagrad_state_exists_from_the_start_so_its_first_step_can_be_captured():
    dev = clnet.default_device()
    runs = []
    for captured in (True, False):
        params = _model(3)
        opt = optim.Adagrad(params, lr=0.1, lr_decay=0.2, initial_accumulator_value=0.1)
        if captured:
            cap = FakeCapture()
            dev.capture = cap
            try:
                opt.step()
            finally:
                dev.capture = None
            cap.replay(dev)
            cap.replay(dev)
        else:
            opt.step()
            opt.step()
        runs.append(_snapshot(opt, params))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_zero_grad_in_a_capture_is_one_recorded_fill():
    dev = clnet.default_device()
    params = _model(4)
    opt = optim.SGD(params, lr=0.1)
    cap = FakeCapture()
    dev.capture = cap
    try:
        opt.zero_grad(set_to_none=False)
    finally:
        dev.capture = None
    assert [r[0] for r in cap.records] == ["static"]
    assert params[0].grad.numpy().any()          # recorded, not run
    cap.replay(dev)
    assert not any(p.grad.numpy().any() for p in params)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_a_clnet_graph_replays_equal_eager_steps(name, kwargs):
    """The same through clnet.graphs.Graph: clip_grad_norm_ + step captured once, replayed
    three times, against three eager steps (learning rate changed between replays)."""
    runs = []
    for captured in (True, False):
        params = _model(5)
        opt = getattr(optim, name)(params, **kwargs)
        opt.step()
        if captured:
            g = graphs.Graph()
            with graphs.graph(g):
                utils.clip_grad_norm_(params, 2.0)
                opt.step()
        for i in range(3):
            if captured:
                g.replay()
            else:
                utils.clip_grad_norm_(params, 2.0)
                opt.step()
            for group in opt.param_groups:
                group["lr"] *= 0.7
        runs.append(_snapshot(opt, params))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_state_creation_in_a_real_capture_raises_the_graphs_error():
    """clnet train's auto mode falls back to eager steps on clnet.graphs.GraphCaptureError."""
    params = _model(2)
    opt = optim.Adam(params, lr=1e-3)
    with pytest.raises(clnet.graphs.GraphCaptureError, match="optimizer state is created"):
        with clnet.graphs.graph(clnet.graphs.Graph()):
            opt.step()
    assert all(len(opt.state[p]) == 0 for p in params)
