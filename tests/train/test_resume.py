"""Resuming a run from any checkpoint it wrote (epoch end, mid-epoch step, Ctrl-C, final) gives
the uninterrupted run's final step, weights, optimizer state and metrics.csv rows bit for bit;
runs sharing a checkpoint folder keep their own files; a resume refuses a checkpoint that does
not belong to the config (another model, other data, a foreign file) with a clear error."""
import csv
import glob
import os
import shutil
import signal
import textwrap

import numpy as np
import pytest

import clnet
from clnet.train import ConfigError, Trainer, latest_checkpoint, load_config

# 1,294 training samples (1,438 less 10% for validation) in batches of 130: 10 steps an
# epoch, 30 in all
BASE = """
seed: 5
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 130, val_split: 0.1}}
model:
  {model}
optimizer: {{name: adam, lr: 0.01}}
epochs: 3
log_every: 3
checkpoint: {{every_steps: 4, keep_last: 100}}
"""
MLP = "arch: mlp\n  args: {hidden: [16], dropout: 0.2}"
INTERRUPTING = "module: train_helpers:InterruptAt\n  kwargs: {hidden: 16}"
SCHED_CLIP = "scheduler: {name: cosine}\ngrad_clip: 0.5\n"
PER_EPOCH = 10


def _cfg(tmp_path, run_dir, extra="", overrides=(), name="cfg.yaml", model=MLP):
    p = tmp_path / name
    p.write_text(textwrap.dedent(BASE.format(run_dir=run_dir, model=model)) + extra)
    return load_config(str(p), list(overrides))


def _run(cfg, **kw):
    t = Trainer(cfg, quiet=True, **kw)
    t.test_set = None            # the final test evaluation is not what these tests check
    t.fit()
    return t


def _host(obj):
    """Nested state with tensors as numpy arrays, for exact comparison."""
    if isinstance(obj, clnet.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_host(v) for v in obj]
    return obj


def _assert_same(a, b, where="state"):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        np.testing.assert_array_equal(a, b, err_msg=where)
        assert a.dtype == b.dtype, where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def _metric_rows(run_dir):
    """metrics.csv without its wall-clock column; every row as long as the header."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert all(len(r) == len(header) for r in rows), rows
    keep = [i for i, k in enumerate(header) if k != "time_s"]
    return [[r[i] for i in keep] for r in rows]


def _assert_same_run(ref, other):
    assert other.step == ref.step and other.epoch == ref.epoch
    _assert_same(_host(ref.model.state_dict()), _host(other.model.state_dict()), "model")
    _assert_same(_host(ref.optimizer.state_dict()), _host(other.optimizer.state_dict()),
                 "optimizer")
    if ref.scheduler is not None:
        _assert_same(_host(ref.scheduler.state_dict()), _host(other.scheduler.state_dict()),
                     "scheduler")
    assert _metric_rows(other.run_dir) == _metric_rows(ref.run_dir)


def _resume_copy(tmp_path, cfg, ckpt, name):
    """Resume from one checkpoint file copied into a fresh run folder's checkpoints/."""
    fresh = tmp_path / name
    os.makedirs(fresh / "checkpoints")
    shutil.copy(ckpt, fresh / "checkpoints")
    return _run(cfg, resume=str(fresh))


def _ckpts(t, tag):
    return sorted(glob.glob(os.path.join(t.ckpt_dir, f"*-{tag}*.clnet")))


@pytest.mark.parametrize("extra", ["", SCHED_CLIP], ids=["plain", "scheduler+grad_clip"])
def test_resume_from_every_kind_of_checkpoint_is_exact(tmp_path, extra):
    cfg = _cfg(tmp_path, tmp_path / "runs", extra)
    ref = _run(cfg)
    assert ref.step == 3 * PER_EPOCH
    epoch_ends, steps, finals = _ckpts(ref, "epoch"), _ckpts(ref, "step"), _ckpts(ref, "final")
    assert len(epoch_ends) == 3 and len(steps) == 7 and len(finals) == 1
    # the first epoch end (it used to skip the next epoch: 0 steps, train_loss nan), a step in
    # the middle of epoch 2, a step after epoch 2's last batch but before its end (validation,
    # scheduler, metrics row), and the final one (nothing left to do)
    picks = [epoch_ends[0], steps[3], steps[4], finals[0]]
    assert [int(os.path.basename(p)[4:12]) for p in picks] == [10, 16, 20, 30]
    for i, ckpt in enumerate(picks):
        resumed = _resume_copy(tmp_path, cfg, ckpt, f"fresh{i}")
        _assert_same_run(ref, resumed)


def test_resume_after_max_steps_continues_to_the_same_end(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "a", SCHED_CLIP)
    ref = _run(cfg)
    # stopped by max_steps exactly at an epoch's last batch (the epoch is finished: validated,
    # its metrics row written), then mid-epoch; each resumed with the full budget (epochs and
    # max_steps may change on resume)
    for stop, rows in ((PER_EPOCH, 1), (2 * PER_EPOCH - 3, 1)):
        part = _run(_cfg(tmp_path, tmp_path / f"b{stop}", SCHED_CLIP, [f"max_steps={stop}"]))
        assert part.step == stop and len(_metric_rows(part.run_dir)) == 1 + rows
        resumed = _run(_cfg(tmp_path, tmp_path / f"b{stop}", SCHED_CLIP), resume=part.run_dir)
        _assert_same_run(ref, resumed)


def _interrupting(tmp_path, run_dir):
    return _cfg(tmp_path, run_dir, SCHED_CLIP, model=INTERRUPTING)


def test_resume_after_ctrl_c_is_exact(tmp_path):
    import train_helpers
    h = train_helpers.InterruptAt
    h.calls, h.interrupt_at, h.mode = 0, None, "train"
    ref = _run(_interrupting(tmp_path, tmp_path / "ref"))
    # forward call 14 is the validation pass after epoch 1's 10 steps; call 18 is step 17
    for at, mode in ((18, "train"), (PER_EPOCH + 1, "any")):
        h.calls, h.interrupt_at, h.mode = 0, at, mode
        cfg = _interrupting(tmp_path, tmp_path / f"runs{at}")
        t = Trainer(cfg, quiet=True)
        with pytest.raises(KeyboardInterrupt):
            t.fit()
        assert _ckpts(t, "interrupted")
        h.interrupt_at, h.mode = None, "train"
        resumed = _run(cfg, resume=t.run_dir)
        _assert_same_run(ref, resumed)


def test_ctrl_c_during_the_update_is_taken_after_it(tmp_path):
    """SIGINT arriving while the optimizer updates the weights: the step completes first, so the
    checkpoint never holds a half-counted step (its batch would be applied twice)."""
    import train_helpers
    train_helpers.InterruptAt.calls, train_helpers.InterruptAt.interrupt_at = 0, None
    ref = _run(_interrupting(tmp_path, tmp_path / "ref"))
    cfg = _interrupting(tmp_path, tmp_path / "runs")
    t = Trainer(cfg, quiet=True)
    step = t.optimizer.step
    calls = []

    def step_then_sigint(*a, **kw):
        out = step(*a, **kw)
        calls.append(1)
        if len(calls) == 17:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    t.optimizer.step = step_then_sigint
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 17
    resumed = _run(cfg, resume=t.run_dir)
    _assert_same_run(ref, resumed)


# ------------------------------------------------------------------ shared checkpoint folders
def test_runs_sharing_a_checkpoint_folder_keep_their_own_files(tmp_path):
    shared = tmp_path / "shared"
    over = [f"checkpoint.dir={shared}", "checkpoint.keep_last=2", "max_steps=8"]
    a = _run(_cfg(tmp_path, tmp_path / "runs", overrides=over, name="a.yaml"))
    a_files = set(os.listdir(shared))
    b = _run(_cfg(tmp_path, tmp_path / "runs", overrides=over + ["seed=6"], name="b.yaml"))
    assert a.run_dir != b.run_dir
    b_files = set(os.listdir(shared)) - a_files
    # each run keeps its own last two (step 8 and final); b pruned none of a's
    assert len(a_files) == 2 and len(b_files) == 2 and set(os.listdir(shared)) >= a_files
    assert os.path.basename(latest_checkpoint(a.run_dir)) in a_files
    assert os.path.basename(latest_checkpoint(b.run_dir)) in b_files
    # --resume <run folder> finds the run's own latest checkpoint in the shared folder and
    # continues in the run's own folder
    more = over[:2] + ["max_steps=12"]
    resumed = _run(_cfg(tmp_path, tmp_path / "runs", overrides=more, name="a.yaml"),
                   resume=a.run_dir)
    assert resumed.run_dir == a.run_dir and resumed.step == 12
    alone = _run(_cfg(tmp_path, tmp_path / "c", overrides=["max_steps=12"], name="a.yaml"))
    _assert_same(_host(alone.model.state_dict()), _host(resumed.model.state_dict()))
    # a's two oldest went (keep_last 2 per run); b's are untouched
    left = set(os.listdir(shared))
    assert left >= b_files and not (left & a_files) and len(left) == 4
    # the shared folder itself holds two runs: say so instead of picking one
    with pytest.raises(clnet.CheckpointError, match="2 runs"):
        latest_checkpoint(str(shared))


# ------------------------------------------------------------------ refusing a wrong checkpoint
def test_a_changed_config_that_alters_the_model_or_data_is_refused(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "runs", overrides=["max_steps=6"])
    t = _run(cfg)
    for over, keys in ((["data.batch_size=64"], ["data.batch_size"]),
                       (["seed=7", "data.val_split=0.2"], ["seed", "data.val_split"]),
                       (["model.args.dropout=0.5"], ["model.args"])):
        with pytest.raises(ConfigError) as e:
            Trainer(_cfg(tmp_path, tmp_path / "runs", overrides=over), resume=t.run_dir,
                    quiet=True)
        msg = str(e.value)
        assert "checkpoint" in msg and all(k in msg for k in keys), msg
    # a change that gives the model other shapes: the file's fault, named with the key
    with pytest.raises(clnet.CheckpointError, match=r"mis-shaped.*model\.args is"):
        Trainer(_cfg(tmp_path, tmp_path / "runs", overrides=["model.args.hidden=[8]"]),
                resume=t.run_dir, quiet=True)
    # what does not change the model or the data may change
    ok = Trainer(_cfg(tmp_path, tmp_path / "runs", overrides=[
        "epochs=5", "max_steps=8", "checkpoint.every_steps=2", "log_every=1"]),
        resume=t.run_dir, quiet=True)
    assert ok.step == 6
    # evaluating a checkpoint (clnet eval / predict) may use another batch size or optimizer,
    # not another model or data
    ev = Trainer(_cfg(tmp_path, tmp_path / "runs", overrides=["data.batch_size=64"]),
                 resume=t.run_dir, quiet=True, evaluation=True)
    assert ev.step == 6
    with pytest.raises(ConfigError, match="data.val_split"):
        Trainer(_cfg(tmp_path, tmp_path / "runs", overrides=["data.val_split=0.2"]),
                resume=t.run_dir, quiet=True, evaluation=True)


def test_an_empty_or_foreign_checkpoint_is_a_checkpoint_error(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "runs")
    empty = str(tmp_path / "empty.clnet")
    clnet.save({}, empty)
    with pytest.raises(clnet.CheckpointError) as e:
        Trainer(cfg, resume=empty, quiet=True)
    assert e.value.path == empty and "'model'" in str(e.value) and "'optimizer'" in str(e.value)
    foreign = str(tmp_path / "weights.clnet")
    clnet.save({"fc.weight": clnet.zeros(3, 4)}, foreign)
    with pytest.raises(clnet.CheckpointError, match="missing"):
        Trainer(cfg, resume=foreign, quiet=True)
    listed = str(tmp_path / "list.clnet")
    clnet.save([1, 2], listed)
    with pytest.raises(clnet.CheckpointError, match="list"):
        Trainer(cfg, resume=listed, quiet=True)


def test_a_checkpoint_of_another_model_names_the_parameters(tmp_path):
    other = Trainer(_cfg(tmp_path, tmp_path / "o", overrides=["model.args.hidden=[16, 8]"]),
                    quiet=True)
    state = other.state()
    state.pop("config", None)           # as written before checkpoints recorded their config
    path = str(tmp_path / "other.clnet")
    clnet.save(state, path)
    with pytest.raises(clnet.CheckpointError) as e:
        Trainer(_cfg(tmp_path, tmp_path / "runs"), resume=path, quiet=True)
    msg = str(e.value)
    assert e.value.path == path
    assert "unexpected" in msg and "7.weight" in msg              # the extra layer
    assert "4.weight" in msg and "(8, 16)" in msg and "(10, 16)" in msg  # mis-shaped
    # a checkpoint whose optimizer state does not fit the parameters
    state = Trainer(_cfg(tmp_path, tmp_path / "o"), quiet=True).state()
    state["optimizer"]["param_groups"][0]["params"] = [0]
    clnet.save(state, path)
    with pytest.raises(clnet.CheckpointError, match="optimizer"):
        Trainer(_cfg(tmp_path, tmp_path / "runs"), resume=path, quiet=True)
