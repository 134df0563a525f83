"""``clnet bench train`` (issue 14) and the tiny-op host-cost row of ``clnet bench ops``.

Every model runs in both modes with tiny settings and the table and JSON carry every field;
speeds are never asserted (the machine is shared). The models themselves are checked against
PyTorch: the same code with the same weights gives the same loss in both frameworks, so the
benchmark compares like with like.
"""
import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

import clnet
from clnet.benchmarks import ops as bench_ops
from clnet.benchmarks import train as bench_train
from clnet.benchmarks.train_models import (MODELS, build_model, build_optimizer, make_data)
from clnet.cli.main import cli

torch = pytest.importorskip("torch")

TINY = {"steps": 1, "repeats": 1, "warmup": 1, "settle": 0.0}


@pytest.fixture(scope="module")
def rows():
    return bench_train.run(MODELS, **TINY)


def test_every_model_and_mode_has_a_row_with_every_field(rows):
    assert [(r["model"], r["mode"]) for r in rows] == (
        [(m, mode) for m in MODELS for mode in bench_train.MODES]
        + [("geomean", mode) for mode in bench_train.MODES])
    for r in rows:
        assert set(r) == set(bench_train.FIELDS), r
    for r in rows[:-2]:
        assert r["torch_ms"] > 0
        if r["clnet_ms"] is None:         # captured without clnet.graphs in the tree
            assert r["mode"] == "captured" and bench_train._graphs() is None
            assert "clnet.graphs" in r["note"]
            continue
        assert r["clnet_ms"] > 0 and r["launches_per_step"] >= 1
        assert r["speed"] == pytest.approx(r["torch_ms"] / r["clnet_ms"])
        assert r["best_speed"] > 0
        assert r["host_us_per_launch"] > 0
    eager = [r for r in rows if r["mode"] == "eager" and r["model"] != "geomean"]
    assert rows[-2]["speed"] == pytest.approx(
        math.exp(sum(math.log(r["speed"]) for r in eager) / len(eager)))
    assert rows[-2]["best_speed"] == pytest.approx(
        math.exp(sum(math.log(r["best_speed"]) for r in eager) / len(eager)))


def test_the_table_prints_every_row(rows):
    table = bench_train.format_rows(rows).splitlines()
    assert table[0].split()[:4] == ["mode", "model", "clnet", "ms/step"]
    assert "launches/step" in table[0] and "host us/launch" in table[0]
    body = [line.split()[:2] for line in table[2:]]
    assert body == [[r["mode"], r["model"]] for r in rows]


def test_cli_prints_header_and_table_and_json(monkeypatch):
    monkeypatch.setattr(bench_train, "SETTLE_S", 0.0)
    r = CliRunner().invoke(cli, ["bench", "train", "--model", "tiny_mlp", "--steps", "1",
                                 "--repeats", "5"])
    assert r.exit_code == 0, r.output
    assert "load average" in r.output and "no CUDA graphs on CPU" in r.output
    assert any(line.split()[:2] == ["eager", "tiny_mlp"] for line in r.output.splitlines())
    r = CliRunner().invoke(cli, ["bench", "train", "--model", "tiny_mlp", "--steps", "1",
                                 "--repeats", "5", "--mode", "eager", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [(row["model"], row["mode"]) for row in out] == [("tiny_mlp", "eager"),
                                                           ("geomean", "eager")]
    assert out[0]["launches_per_step"] >= 1 and out[0]["clnet_ms"] > 0


def test_cli_refuses_an_unknown_model_and_library_names_it():
    r = CliRunner().invoke(cli, ["bench", "train", "--model", "resnet9"])
    assert r.exit_code == 2 and "resnet9" in r.output
    with pytest.raises(ValueError, match="'resnet9'"):
        bench_train.run(["resnet9"], **TINY)
    with pytest.raises(ValueError, match="'replayed'"):
        bench_train.run(["mlp"], modes=["replayed"], **TINY)


class _FakeDevice:
    launches = 0


def test_runner_counts_launches_and_issuing_time():
    dev = _FakeDevice()
    calls = []

    class Loss:
        def item(self):
            calls.append("sync")

    def step():
        dev.launches += 7
        calls.append("step")
        return Loss()

    total, issue, launches = bench_train.Runner(step, dev)(4, warm=2)
    assert launches == 7
    assert 0 < issue <= total
    # two untimed steps and their sync, then the four timed steps and one sync
    assert calls == ["step"] * 2 + ["sync"] + ["step"] * 4 + ["sync"]


def test_geomean_skips_missing_figures():
    assert bench_train.geomean([2.0, 8.0, None]) == pytest.approx(4.0)
    assert bench_train.geomean([None]) is None


@pytest.mark.parametrize("name", MODELS)
def test_models_compute_the_same_loss_in_both_frameworks(name):
    """Same code, torch's weights copied into clnet's model: same loss, same gradient norm."""
    x, y = make_data(name, np.random.default_rng(1))
    torch.manual_seed(0)
    tmodel = build_model(torch, name)
    cmodel = build_model(clnet, name)
    assert [k for k, _ in tmodel.state_dict().items()] == list(cmodel.state_dict())
    cmodel.load_state_dict({k: clnet.tensor(v.detach().numpy())
                            for k, v in tmodel.state_dict().items()})
    tloss = torch.nn.CrossEntropyLoss()(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
    closs = clnet.nn.CrossEntropyLoss()(cmodel(clnet.tensor(x)), clnet.tensor(y))
    tloss.backward()
    closs.backward()
    np.testing.assert_allclose(closs.item(), tloss.item(), rtol=1e-4)
    for (k, tp), cp in zip(tmodel.named_parameters(), cmodel.parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=f"{name}: gradient of {k}")
    assert type(build_optimizer(clnet, name, cmodel.parameters())).__name__ == \
        type(build_optimizer(torch, name, tmodel.parameters())).__name__


def test_tiny_op_chains_take_turns_and_keep_the_best(monkeypatch):
    order = []
    times = iter([0.0, 5.0, 10.0, 12.0, 20.0, 21.0, 30.0, 33.0])

    monkeypatch.setattr(bench_ops.time, "perf_counter", lambda: next(times))
    best = bench_ops.best_seconds_in_turns(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2, settle=0)
    # a warm-up each, then round 0 in order and round 1 rotated
    assert order == ["a", "b", "a", "b", "b", "a"]
    assert best == {"a": 3.0, "b": 1.0}     # a: 5 then 3; b: 2 then 1


def test_tiny_op_row_measures_clnet_and_torch_in_one_run():
    row = bench_ops.tiny_op_row(20, 2, clnet.device(None), torch)
    assert row.unit == "us/op" and not row.higher_is_better
    assert row.values["clnet"] > 0 and row.values["torch"] > 0 and row.values["numpy"] > 0
    assert row.ratio("torch") == pytest.approx(row.values["torch"] / row.values["clnet"])


def test_header_warns_when_other_processes_load_the_cores():
    cores = os.cpu_count() or 1
    busy = bench_train.header_lines(1, 5, load_before=(float(cores), 0.0, 0.0))
    assert busy[0].startswith("warning: load average") and "unreliable" in busy[0]
    quiet = bench_train.header_lines(1, 5, load_before=(0.0, 0.0, 0.0))
    assert not quiet[0].startswith("warning") and "0.00 0.00 0.00 before" in quiet[1]
