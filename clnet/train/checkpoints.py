"""A training run's checkpoint files: their names, writing and pruning them, finding a run's
latest one, and checking that a loaded checkpoint fits the trainer before anything is restored.

A checkpoint is ``step<8-digit step>-<tag>-<run id>.clnet`` (tag: step, epoch, interrupted or
final). The run id is drawn when a run starts and kept by every resume of it, so several runs can
share one checkpoint folder: each prunes only its own files. A run folder's ``run.json`` records
the run id and where its checkpoints go, which is how ``--resume <run folder>`` finds them in a
shared folder. Names without a run id (written by earlier clnet versions) are still read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
import contextlib
import glob
import json
import os
import re
import signal
import threading
import uuid

from ..errors import CheckpointError, DeviceError
from ..tensor import Tensor
from ..serialization import fsync_dir, save_safetensors
from .config import config_error

if TYPE_CHECKING:
    from ..types import PathLike

RUN_RECORD = "run.json"
REQUIRED = ("model", "optimizer", "rng", "loader", "epoch", "step")
# at one step, the later a kind is written the later it sorts (a step checkpoint after an epoch's
# last batch comes before that epoch's end; an interrupt or the final one comes after)
_TAG_ORDER = {"step": 0, "epoch": 1, "interrupted": 2, "final": 3}
_NAME = re.compile(r"^step(\d+)-([a-z]+)(?:-([0-9a-z]+))?\.clnet$")

# the resolved config keys that decide the model and the data a run trains on: a resume that
# changes one of them would not continue the same run (epochs, max_steps, checkpoint cadence,
# logging and the like may change; optimizer and scheduler settings come from the checkpoint)
RESUME_KEYS = ("seed", "data.dataset", "data.args", "data.batch_size", "data.val_split",
               "data.shuffle", "data.drop_last", "data.transforms", "model.arch", "model.args",
               "model.layers", "model.module", "model.kwargs", "optimizer.name",
               "scheduler.name")
# what decides the predictions of a checkpoint's model on a split (clnet eval / predict): the
# model and the data it is shown; batch size, shuffling and the optimizer do not matter there
EVALUATION_KEYS = ("seed", "data.dataset", "data.args", "data.val_split", "data.transforms",
                   "model.arch", "model.args", "model.layers", "model.module", "model.kwargs")


def new_run_id():
    return uuid.uuid4().hex[:8]


def checkpoint_name(step, tag, run_id):
    return f"step{step:08d}-{tag}-{run_id}.clnet"


def parse_name(name):
    """(step, tag, run id or None) of a checkpoint file name, or None for other files."""
    m = _NAME.match(os.path.basename(name))
    return None if m is None else (int(m.group(1)), m.group(2), m.group(3))


def _order(path):
    step, tag, _ = parse_name(path)
    return step, _TAG_ORDER.get(tag, 1), os.path.basename(path)


def _checkpoints(folder, run_id=None, any_run=True):
    """The checkpoint files in ``folder`` (of one run unless any_run), oldest first."""
    found = [p for p in glob.glob(os.path.join(glob.escape(folder), "step*.clnet"))
             if parse_name(p) and (any_run or parse_name(p)[2] == run_id)]
    return sorted(found, key=_order)


# ------------------------------------------------------------------ writing
def write_checkpoint(state, ckpt_dir, name):
    """Save ``state`` as ``ckpt_dir/name``. It is written (atomically) beside the folder, then
    renamed into it: the folder only ever lists complete checkpoints, even after a kill -9 in
    the middle of a write."""
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, name)
    staged = os.path.join(os.path.dirname(os.path.abspath(ckpt_dir)), f".{name}.staged")
    # clnet's checkpoint format: a file that holds no pickle, checked whole on load
    save_safetensors(state, staged)
    try:
        os.replace(staged, path)
    except OSError:                 # a checkpoint folder on another file system
        os.unlink(staged)
        save_safetensors(state, path)
    else:
        fsync_dir(ckpt_dir)
    return path


def prune(ckpt_dir, run_id, keep, current):
    """Remove this run's checkpoints but its ``keep`` latest (never ``current``); other runs'
    files in the folder are left alone."""
    mine = _checkpoints(ckpt_dir, run_id, any_run=False)
    for old in mine[:-keep]:
        if old != current:
            os.remove(old)


def remove_stale_staged(ckpt_path, run_id):
    """A run killed while writing a checkpoint leaves its staged copy (and clnet.save's temp
    file) beside the checkpoint folder: remove this run's (run id None: those of runs that
    wrote names without one)."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(ckpt_path)))
    for pattern in (".step*.clnet.staged", "..step*.clnet.staged.*.tmp"):
        for stale in glob.glob(os.path.join(glob.escape(parent), pattern)):
            name = os.path.basename(stale).lstrip(".").split(".clnet")[0] + ".clnet"
            parsed = parse_name(name)
            if parsed is not None and parsed[2] == run_id:
                os.remove(stale)


def write_run_record(run_dir, run_id, ckpt_dir):
    ckpt = os.path.abspath(ckpt_dir)
    rel = os.path.relpath(ckpt, os.path.abspath(run_dir))
    record = {"run_id": run_id, "checkpoint_dir": ckpt if rel.startswith("..") else rel}
    path = os.path.join(run_dir, RUN_RECORD)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.write("\n")
    os.replace(path + ".tmp", path)


def read_run_record(run_dir):
    try:
        with open(os.path.join(run_dir, RUN_RECORD), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
        return None
    return record


# ------------------------------------------------------------------ finding
def latest_checkpoint(where: PathLike) -> str:
    """``where`` is a checkpoint file, a run folder or a checkpoints folder. A run folder gives
    its run's latest checkpoint (wherever its checkpoint folder is); a folder holding the
    checkpoints of several runs is refused (it would be a guess) with a CheckpointError."""
    where = os.fspath(where)
    if os.path.isfile(where):
        return where
    record = read_run_record(where)
    if record is not None:
        ckpt = record.get("checkpoint_dir") or "checkpoints"
        for folder in (os.path.join(where, ckpt), os.path.join(where, "checkpoints")):
            found = _checkpoints(folder, record["run_id"], any_run=False)
            if found:
                return found[-1]
    for folder in (os.path.join(where, "checkpoints"), where):
        found = _checkpoints(folder)
        if not found:
            continue
        runs = sorted({str(parse_name(p)[2]) for p in found})
        if len(runs) > 1:
            raise CheckpointError(folder, f"holds the checkpoints of {len(runs)} runs (ids "
                                          f"{', '.join(runs)}); resume from a run folder or "
                                          "from one checkpoint file")
        return found[-1]
    raise FileNotFoundError(f"no checkpoint found in {where} (looked for step*.clnet in it and "
                            f"in its checkpoints/ folder)")


# ------------------------------------------------------------------ checking a loaded one
def resume_config(cfg):
    """{key: JSON text of its value} for RESUME_KEYS: what a checkpoint records of its config."""
    out = {}
    for key in RESUME_KEYS:
        value = cfg
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[key] = json.dumps(value, sort_keys=True, default=str)
    return out


def config_diffs(cfg, state, keys=RESUME_KEYS):
    """[(key, value here, value in the checkpoint)] for the ``keys`` that differ (none when
    the checkpoint does not record its config: written before checkpoints did)."""
    saved = state.get("config") if isinstance(state, dict) else None
    if not isinstance(saved, dict):
        return []
    now = resume_config(cfg)
    return [(k, now[k], saved[k]) for k in keys if k in saved and saved[k] != now[k]]


def _diff_text(diffs):
    return "; ".join(f"{k} is {here} here, {there} in the checkpoint" for k, here, there in diffs)


def check_config(cfg, state, path, keys=RESUME_KEYS):
    """A ConfigError naming every one of ``keys`` whose value differs from the checkpoint's."""
    diffs = config_diffs(cfg, state, keys)
    if diffs:
        raise config_error(cfg, diffs[0][0], f"the config differs from the checkpoint {path} in "
                                             f"what decides the model or the data: "
                                             f"{_diff_text(diffs)}. Resume with the checkpoint's "
                                             "values or start a new run")


def _shape(t):
    return tuple(int(n) for n in t.shape)


def _describe(v):
    return str(_shape(v)) if isinstance(v, Tensor) else f"a {type(v).__name__}"


def _listing(items, limit=6):
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_state(state, path, model, optimizer, cfg=None):
    """Raise CheckpointError(path, what is wrong) unless ``state`` is a training checkpoint whose
    model and optimizer state fit ``model`` and ``optimizer`` (a model that does not fit also
    names the config keys that differ from the checkpoint's, given ``cfg``)."""
    if not isinstance(state, dict):
        raise CheckpointError(path, f"holds a {type(state).__name__}, not a training checkpoint "
                                    f"(a mapping with {', '.join(map(repr, REQUIRED))})")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        has = _listing(map(repr, state), 8) if state else "nothing"
        raise CheckpointError(path, f"not a training checkpoint: missing "
                                    f"{', '.join(map(repr, missing))} (it holds {has})")
    saved = state["model"]
    if not isinstance(saved, dict):
        raise CheckpointError(path, f"'model' holds a {type(saved).__name__}, not a state_dict")
    expected = model.state_dict()
    lost = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    odd = [f"{k} (checkpoint {_describe(saved[k])}, model {_shape(v)})"
           for k, v in expected.items() if k in saved
           and (not isinstance(saved[k], Tensor) or _shape(saved[k]) != _shape(v))]
    if lost or extra or odd:
        parts = []
        if lost:
            parts.append(f"missing {_listing(lost)}")
        if extra:
            parts.append(f"unexpected {_listing(extra)}")
        if odd:
            parts.append(f"mis-shaped {_listing(odd)}")
        diffs = [d for d in config_diffs(cfg, state) if d[0].startswith("model.")] if cfg else []
        why = f" (the config differs from the checkpoint's: {_diff_text(diffs)})" if diffs else ""
        raise CheckpointError(path, f"its model does not match this config's "
                                    f"{type(model).__name__}: {'; '.join(parts)}{why}")
    _check_optimizer(state["optimizer"], optimizer, path)


def _check_optimizer(saved, optimizer, path):
    def bad(problem):
        return CheckpointError(path, f"its optimizer state does not fit this config's "
                                     f"{type(optimizer).__name__}: {problem}")
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), dict):
        raise bad("expected a mapping with 'state' and 'param_groups'")
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups):
        raise bad(f"{len(saved['param_groups'])} parameter groups, expected {len(groups)}")
    ids, params = [], []
    for g, s in zip(groups, saved["param_groups"]):
        sp = s.get("params") if isinstance(s, dict) else None
        if not isinstance(sp, list) or len(sp) != len(g["params"]):
            raise bad(f"a parameter group of {len(sp) if isinstance(sp, list) else '?'} "
                      f"parameters, expected {len(g['params'])}")
        ids += sp
        params += g["params"]
    by_id = dict(zip(ids, params))
    for k, entry in saved["state"].items():
        p = by_id.get(k)
        if p is None or not isinstance(entry, dict):
            raise bad(f"state for parameter {k!r}, which no group lists")
        for name, v in entry.items():
            if isinstance(v, Tensor) and v.dim() > 0 and _shape(v) != _shape(p):
                raise bad(f"'{name}' of parameter {k} has shape {_shape(v)}, the parameter "
                          f"{_shape(p)}")


def restore(part, path, fn, *args):
    """fn(*args) for one part of a checkpoint, its errors reported as the file's fault."""
    try:
        return fn(*args)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        if isinstance(e, (CheckpointError, DeviceError)):
            raise
        raise CheckpointError(path, f"its {part} state cannot be restored: "
                                    f"{type(e).__name__}: {e}") from None


# ------------------------------------------------------------------ Ctrl-C between steps
@contextlib.contextmanager
def sigint_deferred():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until it ends, so the block's state
    changes (an optimizer update and its bookkeeping) happen entirely or not at all. The held
    signal then goes to the handler that was in place (KeyboardInterrupt by default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    if not callable(old):                  # ignored, default action or not set from Python
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if held:
            old(*held[0])
