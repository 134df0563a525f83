"""Callbacks (issue 15): early stopping and the best-k checkpoints, from the config or as
Python objects. Oracles: the metric rows of a run without callbacks, from which the epoch
early stopping must end at and the k best epochs follow by a plain reference computation; and
an uninterrupted run, whose decisions a run stopped part way and resumed must repeat."""
import glob
import io
import json
import os
import re
import textwrap

import pytest
from click.testing import CliRunner

from clnet.cli.main import cli
from clnet.serialization import load
from clnet.train import (BestCheckpoints, Callback, ConfigError, EarlyStopping, Trainer,
                         load_config)

# 1,294 training samples in batches of 130: 10 steps an epoch
BASE = """
seed: 5
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 130, val_split: 0.1}}
model: {{arch: mlp, args: {{hidden: [16], dropout: 0.2}}}}
optimizer: {{name: adam, lr: 0.01}}
epochs: {epochs}
log_every: 5
checkpoint: {{keep_last: 1}}
"""
# the learning rate drops to 0 after epoch 2: from epoch 3 on the weights, so the validation
# metrics, stay exactly those of epoch 2's end
STALL = "scheduler: {name: step, step_size: 2, gamma: 0.0}\n"
ES = "  early_stopping: {monitor: val_loss, patience: 2}\n"
BEST = "  best_checkpoints: {monitor: val_loss, keep: 2}\n"


def _cfg(tmp_path, extra="", epochs=10, overrides=(), name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(BASE.format(run_dir=tmp_path / "runs", epochs=epochs))
                 + textwrap.dedent(extra))
    return load_config(str(p), list(overrides))


def _run(cfg, **kw):
    t = Trainer(cfg, quiet=kw.pop("quiet", True), **kw)
    t.test_set = None            # the final test evaluation is not what these tests check
    return t, t.fit()


def _stop_epoch(values, mode, patience, min_delta):
    """Reference: the epoch early stopping ends at (None: it does not), from the metric's
    values by epoch."""
    best, wait = None, 0
    for epoch, v in enumerate(values, 1):
        if best is None or (v < best - min_delta if mode == "min" else v > best + min_delta):
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch
    return None


def _rows(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


def _best_files(t):
    return sorted(glob.glob(os.path.join(t.ckpt_dir, "best-*.clnet")))


def _no_run_id(name):
    return re.sub(r"-[0-9a-f]{8}\.clnet$", ".clnet", os.path.basename(name))


# ------------------------------------------------------------------ early stopping
def test_early_stopping_ends_a_stalled_run_at_the_right_epoch_and_says_so(tmp_path):
    out = io.StringIO()
    t, result = _run(_cfg(tmp_path, STALL + "callbacks:\n" + ES), out=out, quiet=False)
    val = [r["val_loss"] for r in t.history]
    assert val[1] < val[0] and val[1] == val[2] == val[3]      # the stall the test relies on
    # best at epoch 2, no improvement at 3 and 4: patience 2 is spent after epoch 4
    assert t.epoch == 4 and len(t.history) == 4 and t.step == 40
    assert result["stopped"] == t.stop_reason
    assert result["stopped"].startswith("early stopping after epoch 4: val_loss did not "
                                        "improve by more than 0 for 2 epochs (best ")
    assert "at epoch 2)" in result["stopped"]
    assert f"stopped: {result['stopped']}" in out.getvalue()
    with open(os.path.join(t.run_dir, "summary.json"), encoding="utf-8") as f:
        assert json.load(f)["stopped"] == result["stopped"]
    final = load(result["checkpoint"])
    assert final["stop_reason"] == result["stopped"]
    assert final["callbacks"]["early_stopping"] == {
        "monitor": "val_loss", "mode": "min", "best": val[1], "best_epoch": 2, "wait": 2,
        "stopped_epoch": 4}


def test_clnet_train_quiet_says_that_early_stopping_ended_the_run(tmp_path):
    _cfg(tmp_path, STALL + "callbacks:\n" + ES)
    res = CliRunner().invoke(cli, ["train", str(tmp_path / "cfg.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert sum(line.startswith("stopped: early stopping after epoch 4: val_loss") for line in
               lines) == 1, res.output


@pytest.mark.parametrize("monitor, mode, patience, min_delta", [
    ("val_loss", "min", 1, 0.05), ("val_accuracy", "max", 2, 0.0),
    ("train_loss", "auto", 0, 0.02)])
def test_early_stopping_stops_where_the_reference_does(tmp_path, monitor, mode, patience,
                                                       min_delta):
    plain, _ = _run(_cfg(tmp_path, epochs=8, name="plain.yaml"))
    values = [r[monitor] for r in plain.history]
    resolved = "max" if "accuracy" in monitor else "min"
    expected = _stop_epoch(values, resolved, patience, min_delta)
    spec = (f"callbacks:\n  early_stopping: {{monitor: {monitor}, mode: {mode}, "
            f"patience: {patience}, min_delta: {min_delta}}}\n")
    t, result = _run(_cfg(tmp_path, spec, epochs=8, name="es.yaml"))
    assert t.epoch == (expected or 8)
    assert _rows(t.history) == _rows(plain.history)[:t.epoch]
    assert (result["stopped"] is not None) == (expected is not None)


# ------------------------------------------------------------------ best checkpoints
@pytest.mark.parametrize("monitor, keep", [("val_accuracy", 2), ("val_loss", 3),
                                           ("train_loss", 1)])
def test_best_checkpoints_keep_exactly_k_files_with_the_best_values(tmp_path, monitor, keep):
    spec = f"callbacks:\n  best_checkpoints: {{monitor: {monitor}, keep: {keep}}}\n"
    t, _ = _run(_cfg(tmp_path, spec, epochs=6))
    sign = -1 if "accuracy" in monitor else 1
    # reference: the k best epochs by value, the earlier first among equal values
    ranked = sorted(t.history, key=lambda r: (sign * r[monitor], r["epoch"]))[:keep]
    files = _best_files(t)
    assert len(files) == keep
    assert sorted(os.path.basename(f) for f in files) == sorted(
        BestCheckpoints.file_name(r["step"], t.run_id) for r in ranked)
    for f in files:
        state = load(f)
        row = state["history"][-1]
        assert state["step"] == row["step"] and row[monitor] in [r[monitor] for r in ranked]
    link = os.path.join(t.run_dir, "best.clnet")
    assert os.path.islink(link)
    assert os.path.realpath(link) == os.path.realpath(
        os.path.join(t.ckpt_dir, BestCheckpoints.file_name(ranked[0]["step"], t.run_id)))
    # keep_last (1) prunes only the regular checkpoints
    assert len(glob.glob(os.path.join(t.ckpt_dir, "step*.clnet"))) == 1
    assert [e[2] for e in t.callbacks[0].kept] == [
        BestCheckpoints.file_name(r["step"], t.run_id) for r in ranked]


def test_the_best_link_is_a_copy_where_symlinks_fail(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(os, "symlink", refuse)
    t, _ = _run(_cfg(tmp_path, "callbacks:\n" + BEST, epochs=3))
    link = os.path.join(t.run_dir, "best.clnet")
    assert os.path.isfile(link) and not os.path.islink(link)
    best = os.path.join(t.ckpt_dir, t.callbacks[0].best_path)
    with open(link, "rb") as a, open(best, "rb") as b:
        assert a.read() == b.read()
    assert not glob.glob(os.path.join(t.run_dir, ".best.clnet.*"))


# ------------------------------------------------------------------ resume
def _decisions(t, result):
    return {"epoch": t.epoch, "step": t.step, "rows": _rows(t.history),
            "stopped": result["stopped"],
            "early_stopping": t.callbacks[0].state_dict(),
            "kept": [[v, e, _no_run_id(n)] for v, e, n in t.callbacks[1].kept],
            "files": [_no_run_id(f) for f in _best_files(t)],
            "link": _no_run_id(os.path.realpath(os.path.join(t.run_dir, "best.clnet")))}


@pytest.mark.parametrize("stop_at", [25, 30], ids=["mid-epoch-3", "end-of-epoch-3"])
def test_a_run_stopped_part_way_and_resumed_makes_the_same_decisions(tmp_path, stop_at):
    extra = STALL + "callbacks:\n" + ES + BEST
    ref, ref_result = _run(_cfg(tmp_path, extra, name="ref.yaml"))
    assert ref.epoch == 4 and ref_result["stopped"]
    part, _ = _run(_cfg(tmp_path, extra, overrides=[f"max_steps={stop_at}"], name="part.yaml"))
    assert part.step == stop_at and part.stop_reason is None
    resumed, result = _run(_cfg(tmp_path, extra, name="part.yaml"), resume=part.run_dir)
    assert resumed.run_dir == part.run_dir
    assert _decisions(resumed, result) == _decisions(ref, ref_result)
    # a resume of the stopped run trains no further, even with more epochs allowed
    again, again_result = _run(_cfg(tmp_path, extra, epochs=20, name="part.yaml"),
                               resume=part.run_dir)
    assert again.epoch == 4 and again_result["stopped"] == ref_result["stopped"]


def test_a_resume_that_changes_the_monitor_is_refused_naming_the_key(tmp_path):
    t, _ = _run(_cfg(tmp_path, "callbacks:\n" + BEST, epochs=1))
    cfg = _cfg(tmp_path, "callbacks:\n  best_checkpoints: {monitor: val_accuracy}\n", epochs=2)
    with pytest.raises(ConfigError, match=r"callbacks.best_checkpoints.monitor: the checkpoint's "
                                          r"best_checkpoints tracked val_loss \(min\), this one "
                                          r"tracks val_accuracy \(max\)"):
        Trainer(cfg, resume=t.run_dir, quiet=True)
    # patience, min_delta and keep may change; evaluation ignores the callbacks
    Trainer(_cfg(tmp_path, "callbacks:\n  best_checkpoints: {monitor: val_loss, keep: 5}\n"),
            resume=t.run_dir, quiet=True)
    Trainer(cfg, resume=t.run_dir, quiet=True, evaluation=True)


# ------------------------------------------------------------------ callbacks in Python
class Recorder(Callback):
    state_key = "recorder"

    def __init__(self):
        self.calls, self.seen = [], 0

    def on_fit_start(self, trainer):
        self.calls.append("start")

    def on_epoch_end(self, trainer, row):
        self.calls.append(row["epoch"])
        self.seen += 1
        if row["epoch"] == 2:
            trainer.stop("the recorder saw enough")

    def on_fit_end(self, trainer):
        self.calls.append("end")

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state["seen"]


def test_callback_objects_are_called_stop_the_run_and_resume_their_state(tmp_path):
    rec = Recorder()
    es = EarlyStopping("val_accuracy", patience=50)
    t, result = _run(_cfg(tmp_path, "callbacks:\n" + BEST, epochs=5), callbacks=[rec, es])
    # the config's first, then the objects; the checkpoint writer last
    assert [type(cb).__name__ for cb in t.callbacks] == ["Recorder", "EarlyStopping",
                                                         "BestCheckpoints"]
    assert rec.calls == ["start", 1, 2, "end"] and result["stopped"] == "the recorder saw enough"
    assert es.state_dict()["best"] == max(r["val_accuracy"] for r in t.history)
    later = Recorder()
    Trainer(_cfg(tmp_path, "callbacks:\n" + BEST, epochs=5), resume=t.run_dir, quiet=True,
            callbacks=[later])
    assert later.seen == 2


def test_bad_callback_objects_are_refused(tmp_path):
    cfg = _cfg(tmp_path, epochs=1)
    with pytest.raises(TypeError, match="expected clnet.train.Callback objects, got function"):
        Trainer(cfg, quiet=True, callbacks=[lambda: None])
    with pytest.raises(ValueError, match="EarlyStopping: unknown metric 'val_f1' to monitor; "
                                         "this run's epochs report train_loss, train_accuracy, "
                                         "val_loss, val_accuracy"):
        Trainer(cfg, quiet=True, callbacks=[EarlyStopping("val_f1")])
    with pytest.raises(ValueError, match="patience must be an integer >= 0, got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="keep must be an integer >= 1, got 0"):
        BestCheckpoints(keep=0)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max', got 'up'"):
        BestCheckpoints(mode="up")
    no_val = _cfg(tmp_path, epochs=1, overrides=["data.val_split=0.0001"], name="nv.yaml")
    with pytest.raises(ValueError, match=r"holds out no samples"):
        Trainer(no_val, quiet=True, callbacks=[EarlyStopping("val_loss")])


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize("spec, message", [
    ("early_stopping: {monitor: val_acc}",
     r"cfg.yaml:\d+: callbacks.early_stopping.monitor: unknown metric 'val_acc' \(did you mean "
     r"'val_accuracy'\?\); this run reports train_loss, train_accuracy, val_loss, val_accuracy$"),
    ("best_checkpoints: {monitor: val_top5}",
     r"callbacks.best_checkpoints.monitor: unknown metric 'val_top5' \('top5' is not in "
     r"metrics\)"),
    ("early_stopping: {mode: maximum}",
     r"callbacks.early_stopping.mode: 'maximum' is not one of: auto, min, max"),
    ("early_stopping: {patience: -1}", r"callbacks.early_stopping.patience: must be >= 0, got -1"),
    ("early_stopping: {min_delta: fast}",
     r"callbacks.early_stopping.min_delta: expected a number, got 'fast'"),
    ("early_stopping: {patiance: 2}",
     r"callbacks.early_stopping.patiance: unknown key \(did you mean 'patience'\?\)"),
    ("best_checkpoints: {keep: 0}", r"callbacks.best_checkpoints.keep: must be >= 1, got 0"),
    ("best_checkpoint: {keep: 1}",
     r"callbacks.best_checkpoint: unknown key \(did you mean 'best_checkpoints'"),
])
def test_bad_callback_config_values_name_the_key_and_the_file(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, f"callbacks:\n  {spec}\n")


def test_a_val_monitor_without_a_validation_split_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"cfg.yaml:\d+: callbacks.early_stopping"
                                          r".monitor: unknown metric 'val_loss' \(data.val_split "
                                          r"is 0, so the run has no validation metrics\); this "
                                          r"run reports train_loss, train_accuracy"):
        _cfg(tmp_path, "callbacks:\n" + ES, overrides=["data.val_split=0"])


def test_a_monitored_accuracy_a_regression_cannot_give_is_refused(tmp_path):
    cfg = _cfg(tmp_path, "callbacks:\n  early_stopping: {monitor: val_accuracy}\n", epochs=2,
               overrides=["data={dataset: synthetic, args: {task: regression}, batch_size: 64}",
                          "model.args={out_features: 1}", "loss=mse"])
    message = (r"callbacks.early_stopping.monitor: val_accuracy cannot be computed: accuracy "
               r"needs class scores \(N, C\) and integer class targets \(N,\), and the model "
               r"gives \(64, 1\) clnet.float32 for targets \(64, 1\) clnet.float32")
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg, quiet=True).dry_run()
    # without the dry run, the first epoch's end says so
    with pytest.raises(ConfigError, match=r"callbacks.early_stopping.monitor: val_accuracy is "
                                          r"not among this epoch's metrics \(epoch, step"):
        _run(cfg)


def test_callbacks_default_to_none_and_set_overrides_turn_them_on(tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg["callbacks"] == {"early_stopping": None, "best_checkpoints": None}
    cfg = _cfg(tmp_path, overrides=["callbacks.early_stopping={}"])
    assert cfg["callbacks"]["early_stopping"] == {"monitor": "val_loss", "mode": "auto",
                                                  "patience": 3, "min_delta": 0.0}
    t = Trainer(cfg, quiet=True)
    assert [type(cb).__name__ for cb in t.callbacks] == ["EarlyStopping"]
    assert t.callbacks[0].mode == "min"
