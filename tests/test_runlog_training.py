"""A training run's folder (steps.csv, tensorboard/, summary.json, curves.png) and its output
(plain lines off a terminal, nothing with --quiet), written by the real Trainer on digits; a
resume, after a Ctrl-C or from an earlier checkpoint, logs every step once."""
import csv
import glob
import io
import json
import os
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from clnet.cli.main import cli
from clnet.train import Trainer, load_config, runlog
from clnet.train.runlog import config_hash, read_steps
from tb_events import scalars

# 1,294 training samples (1,438 less 10% for validation) in batches of 130: 10 steps an
# epoch (the last one of 124 samples), 20 in all
BASE = """
seed: 5
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 130, val_split: 0.1}}
model:
  {model}
optimizer: {{name: adam, lr: 0.01}}
scheduler: {{name: onecycle, max_lr: 0.02}}
epochs: 2
log_every: 3
checkpoint: {{every_steps: 4, keep_last: 100}}
"""
MLP = "arch: mlp\n  args: {hidden: [16]}"
INTERRUPTING = "module: train_helpers:InterruptAt\n  kwargs: {hidden: 16}"
SIZES = [130] * 9 + [124]


def _cfg(tmp_path, run_dir, model=MLP, overrides=()):
    p = tmp_path / "cfg.yaml"
    p.write_text(textwrap.dedent(BASE.format(run_dir=run_dir, model=model)))
    return load_config(str(p), list(overrides))


def test_run_folder_logs_every_step_epoch_and_the_test(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "runs")
    t = Trainer(cfg, quiet=True)
    result = t.fit()
    run = t.run_dir
    rows = read_steps(os.path.join(run, "steps.csv"))
    assert [r["step"] for r in rows] == list(range(1, 21))
    assert [r["epoch"] for r in rows] == [1] * 10 + [2] * 10
    # the losses of an epoch's steps, weighted by batch size, are its train_loss
    for e, hist in enumerate(t.history):
        losses = [r["loss"] for r in rows[10 * e:10 * e + 10]]
        assert np.average(losses, weights=SIZES) == pytest.approx(hist["train_loss"], rel=1e-5)
    # the lr each step used: torch's OneCycleLR as the oracle
    import torch
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=20)
    expected = []
    for _ in range(20):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-6)

    tb = scalars(os.path.join(run, "tensorboard"))
    assert [s for s, _ in tb["train/loss"]] == list(range(1, 21))
    assert [v for _, v in tb["train/loss"]] == pytest.approx([r["loss"] for r in rows],
                                                             rel=1e-6)
    assert [v for _, v in tb["train/lr"]] == pytest.approx(expected, rel=1e-6)
    assert tb["epoch/val_loss"] == [(10, pytest.approx(t.history[0]["val_loss"], rel=1e-6)),
                                    (20, pytest.approx(t.history[1]["val_loss"], rel=1e-6))]
    assert [s for s, _ in tb["epoch/train_accuracy"]] == [10, 20]
    assert tb["test/accuracy"] == [(20, pytest.approx(result["test"]["accuracy"]))]

    summary = json.loads(open(os.path.join(run, "summary.json")).read())
    assert summary["config_hash"] == config_hash(cfg) and summary["finished"] is True
    assert summary["test"] == pytest.approx(result["test"]) and "accuracy" in summary["test"]
    best = min(t.history, key=lambda r: r["val_loss"])
    assert summary["best_val"]["epoch"] == best["epoch"]
    assert summary["best_val"]["loss"] == best["val_loss"]
    assert summary["final_val"] == {"loss": t.history[-1]["val_loss"],
                                    "accuracy": t.history[-1]["val_accuracy"]}
    assert summary["epochs"] == 2 and summary["steps"] == 20
    assert summary["checkpoint"] == result["checkpoint"] and summary["run_id"] == t.run_id
    assert os.path.getsize(os.path.join(run, "curves.png")) > 0


def test_not_a_terminal_plain_lines_and_quiet_silent(tmp_path):
    out = io.StringIO()
    t = Trainer(_cfg(tmp_path, tmp_path / "a", overrides=["epochs=1"]), out=out)
    t.fit()
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert "epoch 1/1 step 10/10 [" in text and "steps/s]" in text
    epoch_line = [ln for ln in text.splitlines() if ln.startswith("epoch 1/1 | ")]
    assert len(epoch_line) == 1 and "val_accuracy" in epoch_line[0]
    quiet = io.StringIO()
    Trainer(_cfg(tmp_path, tmp_path / "b", overrides=["epochs=1"]), out=quiet,
            quiet=True).fit()
    assert quiet.getvalue() == ""


def test_cli_quiet_prints_no_progress(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent(BASE.format(run_dir=tmp_path / "r", model=MLP)))
    res = CliRunner().invoke(cli, ["train", str(cfg), "--quiet", "--set", "epochs=1"])
    assert res.exit_code == 0, res.output
    assert "step 10/10" not in res.output and "epoch 1/1 |" not in res.output
    # "print only the final summary": no model table, no run-folder line
    assert "parameters" not in res.output and "run folder:" not in res.output
    assert "final test:" in res.output and "checkpoint:" in res.output


def _interrupted_then_resumed(tmp_path, name, at):
    import train_helpers
    h = train_helpers.InterruptAt
    h.calls, h.interrupt_at, h.mode = 0, at, "train"
    cfg = _cfg(tmp_path, tmp_path / name, model=INTERRUPTING)
    t = Trainer(cfg, quiet=True)
    t.test_set = None
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    h.interrupt_at = None
    r = Trainer(cfg, resume=t.run_dir, quiet=True)
    r.test_set = None
    r.fit()
    return t, r


def test_resume_after_ctrl_c_logs_every_step_once(tmp_path):
    import train_helpers
    h = train_helpers.InterruptAt
    h.calls, h.interrupt_at = 0, None
    ref = Trainer(_cfg(tmp_path, tmp_path / "ref", model=INTERRUPTING), quiet=True)
    ref.test_set = None
    ref.fit()
    ref_rows = read_steps(os.path.join(ref.run_dir, "steps.csv"))
    # reads come at steps 3, 4 (a checkpoint), 7, 8, ...; training forward 7 raises: steps
    # 1-6 are taken and 5, 6 still unread, so the Ctrl-C handler must log them
    t, r = _interrupted_then_resumed(tmp_path, "cut", at=7)
    assert t.step == 6
    rows = read_steps(os.path.join(r.run_dir, "steps.csv"))
    assert rows == ref_rows                       # the resume is exact: the same losses
    tb = scalars(os.path.join(r.run_dir, "tensorboard"))
    assert [s for s, _ in tb["train/loss"]] == list(range(1, 21))
    assert [s for s, _ in tb["epoch/val_loss"]] == [10, 20]


def test_resume_from_an_earlier_checkpoint_drops_the_later_timeline(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "runs")
    t = Trainer(cfg, quiet=True)
    t.test_set = None
    t.fit()
    step12 = glob.glob(os.path.join(t.ckpt_dir, "step00000012-step-*.clnet"))
    assert len(step12) == 1, os.listdir(t.ckpt_dir)
    r = Trainer(cfg, resume=step12[0], quiet=True)
    assert r.run_dir == t.run_dir
    r.test_set = None
    r.fit()
    rows = read_steps(os.path.join(t.run_dir, "steps.csv"))
    assert [x["step"] for x in rows] == list(range(1, 21))
    tb = scalars(os.path.join(t.run_dir, "tensorboard"))
    assert [s for s, _ in tb["train/loss"]] == list(range(1, 21))
    assert [s for s, _ in tb["epoch/val_loss"]] == [10, 20]
    with open(os.path.join(t.run_dir, "steps.csv"), newline="") as f:
        assert sum(1 for _ in csv.reader(f)) == 21


def test_a_run_without_matplotlib_writes_the_rest_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(runlog, "_said", set())
    out = io.StringIO()
    t = Trainer(_cfg(tmp_path, tmp_path / "r", overrides=["epochs=1"]), out=out)
    t.fit()
    assert not os.path.exists(os.path.join(t.run_dir, "curves.png"))
    for f in ("steps.csv", "summary.json", "metrics.csv", "config.yaml"):
        assert os.path.getsize(os.path.join(t.run_dir, f)) > 0
    assert glob.glob(os.path.join(t.run_dir, "tensorboard", "events.out.tfevents.*"))
    said = [ln for ln in out.getvalue().splitlines() if "curves.png skipped" in ln]
    assert len(said) == 1 and "pip install 'clnet[plot]'" in said[0]
