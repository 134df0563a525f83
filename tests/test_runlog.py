"""clnet.train.runlog: steps.csv, TensorBoard scalars (read back from the event files),
summary.json, curves.png (one epoch included), resume without duplicated steps, and a run
without matplotlib."""
import csv
import json
import os
import sys

import pytest

from clnet.train import runlog
from clnet.train.runlog import RunLog, config_hash, draw_curves, read_steps
from tb_events import scalars

CFG = {"name": "demo", "seed": 1, "optimizer": {"name": "sgd", "lr": 0.1}, "_source": "x.yaml"}


def epoch_row(epoch, step, val_loss, val_acc, lr=0.1):
    return {"epoch": epoch, "step": step, "time_s": 1.25, "lr": lr, "train_loss": 1.0 / epoch,
            "train_accuracy": 0.5, "val_loss": val_loss, "val_accuracy": val_acc}


def simulate(log, history, steps_per_epoch, epochs, first_epoch=1, start=0, window=3):
    """What the Trainer does: windows of per-step losses, then each epoch's row."""
    step = start
    for e in range(first_epoch, epochs + 1):
        done = 0
        while done < steps_per_epoch:
            n = min(window, steps_per_epoch - done)
            ids = list(range(step + 1, step + n + 1))
            log.log_steps(ids, [10.0 / s for s in ids], [0.1 * e for _ in ids], e)
            step += n
            done += n
        row = epoch_row(e, step, val_loss=[0.9, 0.5, 0.7][(e - 1) % 3], val_acc=0.1 * e)
        history.append(row)
        log.log_epoch(row, history)
    return step


def test_config_hash_is_the_resolved_configs():
    assert config_hash(CFG) == config_hash(dict(reversed(list(CFG.items()))))
    assert config_hash(CFG) == config_hash({k: v for k, v in CFG.items() if k != "_source"})
    other = dict(CFG, optimizer={"name": "sgd", "lr": 0.2})
    assert config_hash(other) != config_hash(CFG) and config_hash(CFG).startswith("sha256:")


def test_steps_tensorboard_and_summary(tmp_path):
    log = RunLog(str(tmp_path), CFG)
    history = []
    last = simulate(log, history, steps_per_epoch=5, epochs=3)
    summary = log.finish(history, test={"loss": 0.4, "accuracy": 0.875})
    assert last == 15
    rows = read_steps(str(tmp_path / "steps.csv"))
    assert [r["step"] for r in rows] == list(range(1, 16))
    assert [r["epoch"] for r in rows] == [1] * 5 + [2] * 5 + [3] * 5
    assert rows[3]["loss"] == pytest.approx(10.0 / 4) and rows[7]["lr"] == pytest.approx(0.2)
    with open(tmp_path / "steps.csv") as f:
        assert next(csv.reader(f)) == ["step", "epoch", "loss", "lr"]

    tb = scalars(str(tmp_path / "tensorboard"))
    assert [s for s, _ in tb["train/loss"]] == list(range(1, 16))
    assert tb["train/loss"][0][1] == pytest.approx(10.0)
    assert tb["train/lr"][-1] == (15, pytest.approx(0.3))
    assert tb["epoch/val_loss"] == [(5, pytest.approx(0.9)), (10, pytest.approx(0.5)),
                                    (15, pytest.approx(0.7))]
    assert tb["epoch/train_accuracy"][0] == (5, 0.5) and tb["epoch/time_s"][0][1] == 1.25
    assert tb["test/accuracy"] == [(15, 0.875)] and tb["test/loss"] == [(15, pytest.approx(0.4))]

    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    assert on_disk["config_hash"] == config_hash(CFG) and on_disk["name"] == "demo"
    assert on_disk["finished"] is True and on_disk["epochs"] == 3 and on_disk["steps"] == 15
    assert on_disk["best_val"] == {"epoch": 2, "step": 10, "loss": 0.5,
                                   "accuracy": pytest.approx(0.2)}
    assert on_disk["final_val"] == {"loss": 0.7, "accuracy": pytest.approx(0.3)}
    assert on_disk["final_train"] == {"loss": pytest.approx(1 / 3), "accuracy": 0.5}
    assert on_disk["test"] == {"loss": 0.4, "accuracy": 0.875}
    assert on_disk["train_time_s"] == 3.75
    assert os.path.getsize(tmp_path / "curves.png") > 0


def test_summary_is_written_at_each_epoch_end(tmp_path):
    log = RunLog(str(tmp_path), CFG)
    history = []
    simulate(log, history, steps_per_epoch=2, epochs=1)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["finished"] is False and s["epochs"] == 1 and s["test"] is None
    assert s["best_val"]["epoch"] == 1
    log.close()


def test_resume_drops_the_lost_timeline_and_duplicates_no_step(tmp_path):
    log = RunLog(str(tmp_path), CFG)
    history = []
    simulate(log, history, steps_per_epoch=5, epochs=3)   # got to step 15, then "crashed"
    log.close()
    # resumed from the checkpoint at the end of epoch 1 (step 5)
    log = RunLog(str(tmp_path), CFG, start_step=5)
    history = history[:1]
    simulate(log, history, steps_per_epoch=5, epochs=2, first_epoch=2, start=5)
    log.finish(history)
    rows = read_steps(str(tmp_path / "steps.csv"))
    assert [r["step"] for r in rows] == list(range(1, 11))
    tb = scalars(str(tmp_path / "tensorboard"))
    assert [s for s, _ in tb["train/loss"]] == list(range(1, 11))
    assert [s for s, _ in tb["epoch/val_loss"]] == [5, 10]
    # without TensorBoard's purge the first writer's later steps would still be there
    raw = scalars(str(tmp_path / "tensorboard"), purge=False)
    assert len(raw["train/loss"]) == 15 + 5


def test_steps_csv_survives_a_torn_last_row(tmp_path):
    log = RunLog(str(tmp_path), CFG)
    log.log_steps([1, 2, 3], [0.5, 0.4, 0.3], [0.1] * 3, 1)
    log.close()
    with open(tmp_path / "steps.csv", "a") as f:
        f.write("4,1,0.2")                      # a kill -9 mid-write
    assert [r["step"] for r in read_steps(str(tmp_path / "steps.csv"))] == [1, 2, 3]
    log = RunLog(str(tmp_path), CFG, start_step=3)
    assert [r["step"] for r in log.steps] == [1, 2, 3]
    log.close()


def test_curves_of_one_epoch_have_a_per_step_line_and_the_lr(tmp_path):
    steps = [{"step": s, "epoch": 1, "loss": 2.0 / s, "lr": 0.01 * s} for s in range(1, 9)]
    history = [epoch_row(1, 8, 0.3, 0.9)]
    fig = draw_curves(history, steps, "one")
    loss_ax, metric_ax, lr_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and lr_ax.get_ylabel() == "learning rate"
    per_step = [ln for ln in loss_ax.lines if ln.get_label() == "train loss (per step)"][0]
    assert list(per_step.get_xdata()) == list(range(1, 9))
    lr_line = [ln for ln in lr_ax.lines if ln.get_label() == "lr"][0]
    assert list(lr_line.get_ydata()) == pytest.approx([0.01 * s for s in range(1, 9)])
    labels = {ln.get_label() for ln in metric_ax.lines}
    assert {"train_accuracy", "val_accuracy"} <= labels
    assert "(1 epoch, 8 steps)" in fig._suptitle.get_text()
    # the lone per-epoch points share the per-step x range, not a range of their own
    assert metric_ax.get_xlim() == loss_ax.get_xlim() and metric_ax.get_xlim()[0] < 2
    path = runlog.plot_curves(str(tmp_path / "c.png"), history, steps, "one")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_run_writes_the_rest_and_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(runlog, "_said", set())
    said = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        log = RunLog(str(folder), CFG, say=said.append)
        history = []
        simulate(log, history, steps_per_epoch=2, epochs=1)
        log.finish(history, test={"loss": 0.5})
        assert not (folder / "curves.png").exists()
        for f in ("steps.csv", "summary.json"):
            assert os.path.getsize(folder / f) > 0
        assert scalars(str(folder / "tensorboard"))["test/loss"] == [(2, 0.5)]
    assert len(said) == 1
    assert "curves.png skipped: matplotlib is not installed" in said[0]
    assert "pip install 'clnet[plot]'" in said[0]
