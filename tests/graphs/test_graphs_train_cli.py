"""``capture:`` in clnet train: on, auto and off give the same metrics and weights bit for bit
(replays are exact); auto runs eagerly where capture is not known to be safe and says why; on
refuses with the reason; the mode is said in the run's output."""
import csv
import io
import textwrap

import numpy as np
import pytest

from clnet.train import ConfigError, Trainer, load_config

# 1,294 training samples in batches of 100: 13 steps an epoch, the last of 94 (a second graph)
BASE = """
seed: 3
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 100, val_split: 0.1}}
model:
  {model}
optimizer: {{name: adamw, lr: 0.01, weight_decay: 0.01}}
scheduler: {{name: onecycle, max_lr: 0.02}}
grad_clip: 1.0
epochs: 2
log_every: 4
"""
MLP = "arch: mlp\n  args: {hidden: [32], dropout: 0.2}"
CUSTOM = "module: train_helpers:InterruptAt\n  kwargs: {hidden: 16}"


def _cfg(tmp_path, capture, model=MLP, extra=""):
    p = tmp_path / f"{capture}.yaml"
    p.write_text(textwrap.dedent(BASE.format(run_dir=tmp_path / "runs", model=model))
                 + f"capture: {capture}\n" + extra)
    return load_config(str(p))


def _run(cfg):
    out = io.StringIO()
    t = Trainer(cfg, out=out)
    t.test_set = None
    t.fit()
    with open(f"{t.run_dir}/metrics.csv") as f:
        rows = list(csv.reader(f))
    with open(f"{t.run_dir}/steps.csv") as f:
        steps = list(csv.reader(f))
    return t, out.getvalue(), rows, steps


def _drop_time(rows):
    i = rows[0].index("time_s")
    return [r[:i] + r[i + 1:] for r in rows]


def test_on_auto_and_off_train_the_same_bits(tmp_path):
    runs = {m: _run(_cfg(tmp_path, m)) for m in ("off", "on", "auto")}
    t_off, text_off, rows_off, steps_off = runs["off"]
    assert "capture: off (the training step runs eagerly)" in text_off
    for mode in ("on", "auto"):
        t, text, rows, steps = runs[mode]
        assert f"capture: {mode}: the training step is captured" in text
        assert len(t._runner.graphed.graphs) == 2        # full batches and the short last one
        assert _drop_time(rows) == _drop_time(rows_off)
        assert steps == steps_off
        for a, b in zip(t.model.parameters(), t_off.model.parameters()):
            assert np.array_equal(a.numpy(), b.numpy())


def test_auto_runs_a_model_of_its_own_eagerly_and_says_why(tmp_path):
    _, text, rows, _ = _run(_cfg(tmp_path, "auto", model=CUSTOM))
    assert "capture: off (auto): the model has modules defined outside clnet (InterruptAt" in text
    _, text_on, rows_on, _ = _run(_cfg(tmp_path, "on", model=CUSTOM))
    assert "capture: on: the training step is captured" in text_on
    assert _drop_time(rows) == _drop_time(rows_on)


def test_on_refuses_what_cannot_be_captured(tmp_path):
    cfg = _cfg(tmp_path, "on", extra="precision: fp16\n")
    t = Trainer(cfg, out=io.StringIO())
    with pytest.raises(ConfigError, match="capture.*GradScaler"):
        t.fit()
    # auto: the same run goes eagerly, saying why
    _, text, _, _ = _run(_cfg(tmp_path, "auto", extra="precision: fp16\n"))
    assert "capture: off (auto): precision fp16's GradScaler" in text


def test_yaml_on_off_and_bad_values(tmp_path):
    assert load_config(str(_write(tmp_path, "off")))["capture"] is False
    with pytest.raises(ConfigError, match="capture"):
        load_config(str(_write(tmp_path, "sometimes")))


def _write(tmp_path, value):
    p = tmp_path / f"c-{value}.yaml"
    p.write_text(textwrap.dedent(BASE.format(run_dir=tmp_path / "runs", model=MLP))
                 + f"capture: {value}\n")
    return p
