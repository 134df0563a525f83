"""What a capture cannot follow it refuses with GraphCaptureError, naming it; the capture is
then dropped and the device is back to eager."""
import pickle

import numpy as np
import pytest

import clnet
import clnet.nn as nn
from clnet import graphs
from clnet.graphs import Graph, GraphCaptureError, graph


def _capture_raises(fn, match):
    x = clnet.ones(4)
    g = Graph()
    with pytest.raises(GraphCaptureError, match=match):
        with graph(g):
            y = x * 2
            fn(y)
    # the failed capture is gone: eager work runs again, and a new capture can begin
    dev = clnet.default_device()
    assert dev.capture is None and not graphs.is_current_stream_capturing()
    assert (x + 1).tolist() == [2.0] * 4
    g2 = Graph()
    with graph(g2):
        z = x + 3
    g2.replay()
    assert z.tolist() == [4.0] * 4


# every device -> host read path: Tensor._host_array (item/numpy/tolist/bool/float/int/print/
# format/__array__), synchronize, the error-flag check, saving/pickling, nonzero/masked select,
# multinomial's validation read, set_rng_state's read
HOST_READS = {
    "item": lambda y: y.sum().item(),
    "numpy": lambda y: y.numpy(),
    "tolist": lambda y: y.tolist(),
    "bool": lambda y: bool(y.sum() > 0),
    "float": lambda y: float(y.sum()),
    "int": lambda y: int(y.sum()),
    "print": lambda y: print(y),
    "repr": lambda y: repr(y),
    "format": lambda y: f"{y.sum():.3f}",
    "array": lambda y: np.asarray(y),
    "synchronize": lambda y: clnet.synchronize(),
    "device_synchronize": lambda y: y.device.synchronize(),
    "save": lambda y: clnet.save(y, "/dev/null"),
    "pickle": lambda y: pickle.dumps(y),
    "nonzero": lambda y: y.nonzero(),
    "masked_select": lambda y: y[y > 1],
    "multinomial": lambda y: clnet.multinomial(y, 2),
    "set_rng_state": lambda y: clnet.set_rng_state(clnet.get_rng_state()),
}


@pytest.mark.parametrize("read", sorted(HOST_READS))
def test_every_host_read_refuses_inside_a_capture(read):
    _capture_raises(HOST_READS[read], r"(during a graph capture|nonzero).*")


def test_the_error_flag_check_refuses(dev):
    # a kernel that can flag bad device data (cross_entropy's targets) asks for the flag; a
    # check of it inside the capture is a host read
    from clnet.backend.device_errors import check_device_errors
    logits, target = clnet.zeros(2, 3), clnet.tensor([0, 1])

    def fn(_):
        clnet.nn.functional.cross_entropy(logits, target)
        check_device_errors(dev)
    _capture_raises(fn, "error flag")


def test_the_message_says_what_to_do():
    g = Graph()
    with pytest.raises(GraphCaptureError) as info:
        with graph(g):
            clnet.ones(2).sum().item()
    msg = str(info.value)
    assert ".item()" in msg and "replay" in msg and "outside" in msg or "out of the" in msg
    assert isinstance(info.value, RuntimeError)


def test_nested_capture_and_second_capture_refused():
    g1, g2 = Graph(), Graph()
    with graph(g1):
        with pytest.raises(GraphCaptureError, match="already open"):
            g2.capture_begin()
        with pytest.raises(GraphCaptureError, match="already capturing"):
            g1.capture_begin()
    with pytest.raises(GraphCaptureError, match="reset"):
        g1.capture_begin()          # holds a capture: reset() first
    g1.reset()
    with graph(g1):
        pass


def test_replay_before_capture_and_capture_end_without_begin():
    g = Graph()
    with pytest.raises(GraphCaptureError, match="nothing captured"):
        g.replay()
    with pytest.raises(GraphCaptureError, match="capture_begin"):
        g.capture_end()
    with pytest.raises(ValueError, match="capture_error_mode"):
        g.capture_begin(capture_error_mode="loose")


def test_replay_refuses_a_static_input_reassigned_or_resized():
    x = clnet.ones(3)
    g = Graph()
    with graph(g):
        y = x * 2
    g.watch(x)
    g.replay()
    assert y.tolist() == [2.0] * 3
    x.copy_(clnet.full((3,), 5.0))      # in place: followed
    g.replay()
    assert y.tolist() == [10.0] * 3
    x.data = clnet.ones(3)              # re-assigned: the graph would write the old buffer
    with pytest.raises(GraphCaptureError, match="another storage"):
        g.replay()
    x2 = clnet.ones(3)
    g2 = Graph()
    with graph(g2):
        x2 * 2
    g2.watch(x2)
    x2.data = clnet.ones(4)
    with pytest.raises(GraphCaptureError, match=r"\[4\]"):
        g2.replay()


def test_graphed_step_refuses_a_parameter_reassigned_after_capture():
    m = nn.Linear(3, 2)
    opt = clnet.optim.SGD(m.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = m(x).sum()
        loss.backward()
        opt.step()
        return loss
    s = graphs.graphed_step(step, warmup=1, watch=(m,))
    x = clnet.ones(2, 3)
    s(x)
    s(x)
    m.weight.data = clnet.zeros(2, 3)
    with pytest.raises(GraphCaptureError, match="changed since capture"):
        s(x)


def test_graphed_step_bounds_its_graphs_and_refuses_inputs_needing_grad():
    s = graphs.graphed_step(lambda x: x * 2, warmup=0, max_graphs=2)
    s(clnet.ones(1))
    s(clnet.ones(2))
    s(clnet.ones(1))                      # an old signature: its graph is replayed
    with pytest.raises(GraphCaptureError, match="max_graphs=2"):
        s(clnet.ones(3))
    with pytest.raises(GraphCaptureError, match="requires grad"):
        graphs.graphed_step(lambda x: x * 2, warmup=0)(clnet.ones(2, requires_grad=True))
    with pytest.raises(GraphCaptureError, match="not hashable"):
        graphs.graphed_step(lambda x, o: x * 2, warmup=0)(clnet.ones(2), {1, 2})


def test_random_ops_draw_new_numbers_at_every_replay():
    clnet.manual_seed(0)
    eager = [clnet.rand(5).tolist() for _ in range(3)]
    clnet.manual_seed(0)
    g = Graph()
    with graph(g):
        r = clnet.rand(5)
    seen = []
    for _ in range(3):
        g.replay()
        seen.append(r.tolist())
    assert seen == eager and seen[0] != seen[1]


def test_uploads_are_recorded_as_copies():
    # a tensor made from host data inside the capture is re-copied at each replay, so an
    # in-place update of it inside the graph starts from the captured values every time
    g = Graph()
    with graph(g):
        t = clnet.tensor([1.0, 2.0])
        t.add_(1)
    for _ in range(2):
        g.replay()
        assert t.tolist() == [2.0, 3.0]


def test_launches_from_another_thread_run_eagerly():
    import threading
    x = clnet.ones(3)
    out = {}
    g = Graph()
    with graph(g):
        y = x.sum()
        th = threading.Thread(target=lambda: out.setdefault("v", x.sum()))
        th.start()
        th.join()
    assert out["v"].item() == 3.0   # ran while the capture was open
    g.replay()
    assert y.item() == 3.0 and g.launches == 1


def test_a_replay_reports_bad_device_data_at_the_next_host_read():
    # cross_entropy's kernel flags a target out of range; after a replay the next read checks
    # the flag, as after an eager step
    logits, target = clnet.zeros(2, 3), clnet.tensor([0, 1])
    g = Graph()
    with graph(g):
        loss = clnet.nn.functional.cross_entropy(logits, target)
    g.replay()
    assert abs(loss.item() - np.log(3)) < 1e-6
    target.copy_(clnet.tensor([0, 7]))
    g.replay()
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        loss.item()


def test_every_module_that_reads_the_device_refuses_in_capture():
    # a static check beside the runtime ones above: each module that copies from the device or
    # waits on a queue calls refuse_in_capture, or is listed here with why it need not
    import pathlib
    import re
    root = pathlib.Path(clnet.__file__).parent
    exempt = {
        "kernels/copy.py": "uploads only, recorded through host_step",
        "distributed/collectives.py": "uploads only; its reads go through Tensor.numpy()",
        "benchmarks": "timing code, never inside a step",
        "tuning": "clnet tune's timing, never inside a step",
    }
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if any(rel == e or rel.startswith(e + "/") for e in exempt):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"enqueue_copy\(|\.finish\(\)|is_blocking=True", text) \
                and "refuse_in_capture" not in text:
            offenders.append(rel)
    assert not offenders, f"device reads without refuse_in_capture: {offenders}"


def test_a_constant_uploaded_in_an_aborted_capture_holds_its_value():
    # masked_fill keeps one upload per number; made inside a capture that is then refused, the
    # cached tensor must still hold the number for the eager calls after it
    x, mask = clnet.zeros(4), clnet.tensor([True, False, True, False])
    g = Graph()
    with pytest.raises(GraphCaptureError):
        with graph(g):
            y = x.masked_fill(mask, -12345.5)
            y.sum().item()
    assert x.masked_fill(mask, -12345.5).tolist() == [-12345.5, 0.0, -12345.5, 0.0]
