"""Callbacks: code the Trainer calls at fixed points of a run, as in Keras and Lightning.

A callback subclasses ``Callback`` and overrides the hooks it needs: ``setup(trainer)`` (the
Trainer is built: refuse what cannot work before anything runs), ``on_fit_start(trainer)``,
``on_epoch_end(trainer, row)`` (``row``: the epoch's metrics, e.g. ``{"epoch": 3, "train_loss":
..., "val_loss": ..., "val_accuracy": ...}``) and ``on_fit_end(trainer)``. Its ``state_dict()``
goes into every checkpoint (numbers, strings, lists and dicts) and ``load_state_dict()`` gets it
back on ``--resume``, so a resumed run makes the decisions the uninterrupted run would have
made. A callback stops the run with ``trainer.stop(reason)``: the epoch ends as usual (its
checkpoint included) and ``fit()`` returns, saying why.

``on_epoch_end`` runs in the same Ctrl-C-proof block as the epoch's row being recorded, so a
checkpoint never holds an epoch's row without the callbacks' decisions on it. Callbacks that write
checkpoints (``writes_checkpoints = True``) run after the others, so the checkpoints they write
hold the others' decisions on the epoch (Lightning orders its checkpoint callbacks last too).

Two are built in, and a config turns them on under ``callbacks:``:

- ``EarlyStopping(monitor, mode, patience, min_delta)``: stop when ``monitor`` has not improved by
  more than ``min_delta`` for ``patience`` evaluated epochs in a row.
- ``BestCheckpoints(monitor, mode, keep)``: keep the ``keep`` best checkpoints by ``monitor``
  (``best-step<step>-<run id>.clnet`` in the checkpoint folder, beside and apart from the
  ``keep_last`` ones), and a link ``best.clnet`` in the run folder to the best of them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional
import glob
import math
import os
import shutil

from .config import config_error, monitor_names

CHECKPOINT_SUFFIX = ".clnet"


class Callback:
    """Hooks the Trainer calls; each does nothing unless overridden.

    ``state_key``: the name its state has in a checkpoint (default: the class name).
    ``writes_checkpoints``: True for a callback that writes checkpoints (it then runs last)."""

    state_key: Optional[str] = None
    writes_checkpoints = False

    def setup(self, trainer: Any) -> None:
        """The Trainer is built (and any checkpoint it resumes is loaded): raise here what would
        fail later, such as a metric the run does not report."""

    def on_fit_start(self, trainer: Any) -> None:
        """``fit()`` starts (or resumes): the run folder exists and any resumed state is loaded."""

    def on_epoch_end(self, trainer: Any, row: Dict[str, Any]) -> None:
        """An epoch ended and ``row`` (its metrics) is recorded in ``trainer.history``."""

    def on_fit_end(self, trainer: Any) -> None:
        """``fit()`` ends: the epochs are done, max_steps is reached or a callback stopped it."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


def resolve_mode(monitor, mode):
    """'min' or 'max': ``auto`` maximizes accuracies (accuracy, top3, top5) and minimizes the
    rest (loss, perplexity)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("accuracy", "top3", "top5")) else "min"


class _Monitoring(Callback):
    """What the built-in callbacks share: a monitored metric of the epoch rows and its mode."""

    def __init__(self, monitor, mode, config_key=None):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"{type(self).__name__}: monitor must be a metric name such as "
                            f"'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.config_key = config_key       # "callbacks.early_stopping" when a config built it

    def setup(self, trainer: Any) -> None:
        """Refuse a monitor the run's epoch rows will not hold, listing the ones they will."""
        names = monitor_names(trainer.cfg, has_val=trainer.val_set is not None)
        if self.monitor in names:
            return
        why = ""
        if self.monitor.startswith("val_") and trainer.val_set is None:
            why = (f" (data.val_split {trainer.cfg['data']['val_split']} holds out no samples, so "
                   "the run has no validation metrics)")
        message = (f"unknown metric {self.monitor!r} to monitor{why}; this run's epochs report "
                   f"{', '.join(names)}")
        if self.config_key is not None:
            raise config_error(trainer.cfg, f"{self.config_key}.monitor", message)
        raise ValueError(f"{type(self).__name__}: {message}")

    def value(self, trainer: Any, row: Dict[str, Any]) -> Optional[float]:
        """The monitored value of ``row``, or None for an epoch without it (the validation set
        is evaluated every ``eval_every_epochs``); a metric the run never reports is an error."""
        if self.monitor in row:
            return float(row[self.monitor])
        split = self.monitor.split("_", 1)[0] + "_"
        if not any(k.startswith(split) for k in row):
            return None                     # this split was not evaluated this epoch
        message = (f"{self.monitor} is not among this epoch's metrics ({', '.join(row)}): "
                   "accuracy and top-k need class scores (N, C) and integer class targets")
        if self.config_key is not None:
            raise config_error(trainer.cfg, f"{self.config_key}.monitor", message)
        raise ValueError(f"{type(self).__name__}: {message}")

    def better(self, value: float, than: Optional[float], delta: float = 0.0) -> bool:
        """Is ``value`` better than ``than`` by more than ``delta``? (NaN never is.)"""
        if than is None:
            return not math.isnan(value)
        return value < than - delta if self.mode == "min" else value > than + delta

    def check_resumed(self, state: Mapping[str, Any]) -> None:
        """A checkpoint's state of this callback must have tracked the same metric the same way."""
        saved = (state.get("monitor"), state.get("mode"))
        if saved != (self.monitor, self.mode):
            message = (f"the checkpoint's {self.state_key} tracked {saved[0]} ({saved[1]}), this "
                       f"one tracks {self.monitor} ({self.mode}); resume with the checkpoint's "
                       "monitor and mode, or start a new run")
            raise MonitorChanged(message, self.config_key)


class MonitorChanged(ValueError):
    """A resumed callback's monitor or mode differs from the checkpoint's."""

    def __init__(self, message, config_key):
        super().__init__(message)
        self.config_key = config_key


class EarlyStopping(_Monitoring):
    """Stop the run when ``monitor`` has not improved (by more than ``min_delta``, in the
    direction ``mode`` says) for ``patience`` evaluated epochs in a row; ``patience=0`` stops at
    the first epoch without improvement. Keras's and Lightning's EarlyStopping count the same."""

    state_key = "early_stopping"

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 3,
                 min_delta: float = 0.0, config_key: Optional[str] = None) -> None:
        super().__init__(monitor, mode, config_key)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) \
                or not min_delta >= 0 or math.isinf(min_delta):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number >= 0, got "
                             f"{min_delta!r}")
        self.patience, self.min_delta = patience, float(min_delta)
        self.best: Optional[float] = None    # the best value so far
        self.best_epoch: Optional[int] = None
        self.wait = 0             # evaluated epochs since the last improvement
        self.stopped_epoch: Optional[int] = None

    def on_epoch_end(self, trainer: Any, row: Dict[str, Any]) -> None:
        value = self.value(trainer, row)
        if value is None or self.stopped_epoch is not None:
            return
        if self.better(value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, row["epoch"], 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = row["epoch"]
            epochs = f"{self.wait} epoch{'s' if self.wait != 1 else ''}"
            if self.best is None:
                reason = f"{self.monitor} was not a number for {epochs}"
            else:
                reason = (f"{self.monitor} did not improve by more than {self.min_delta:g} for "
                          f"{epochs} (best {self.best:.6g} at epoch {self.best_epoch})")
            trainer.stop(f"early stopping after epoch {row['epoch']}: {reason}")

    def state_dict(self) -> Dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best,
                "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_resumed(state)
        best = state["best"]
        self.best = None if best is None else float(best)
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.wait = int(state["wait"])
        stopped = state["stopped_epoch"]
        self.stopped_epoch = None if stopped is None else int(stopped)


class BestCheckpoints(_Monitoring):
    """Keep the ``keep`` best checkpoints by ``monitor``: after each evaluated epoch whose value
    is among the ``keep`` best so far, a checkpoint ``best-step<step>-<run id>.clnet`` is written
    to the checkpoint folder and the one it displaces is removed; ``best.clnet`` in the run
    folder links to the best one (a relative symlink, or a copy where links are refused, each
    replaced atomically). A value equal to the worst kept one does not displace it (the earlier
    checkpoint stays). These files are apart from ``checkpoint.keep_last``'s: neither prunes the
    other's, and ``--resume <run folder>`` continues from the latest checkpoint, not the best."""

    state_key = "best_checkpoints"
    writes_checkpoints = True
    LINK = "best" + CHECKPOINT_SUFFIX

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", keep: int = 1,
                 config_key: Optional[str] = None) -> None:
        super().__init__(monitor, mode, config_key)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"BestCheckpoints: keep must be an integer >= 1, got {keep!r}")
        self.keep = keep
        self.kept: List[List[Any]] = []    # [value, epoch, file name], best first

    @staticmethod
    def file_name(step: int, run_id: str) -> str:
        return f"best-step{step:08d}-{run_id}{CHECKPOINT_SUFFIX}"

    def on_fit_start(self, trainer: Any) -> None:
        if len(self.kept) > self.keep:        # resumed with a smaller keep
            self.kept = self.kept[:self.keep]
        if trainer.is_main:
            self._tidy(trainer)

    def on_epoch_end(self, trainer: Any, row: Dict[str, Any]) -> None:
        value = self.value(trainer, row)
        if value is None or math.isnan(value):
            return
        if len(self.kept) >= self.keep and not self.better(value, self.kept[-1][0]):
            return
        name = self.file_name(trainer.step, trainer.run_id)
        self.kept = [e for e in self.kept if e[2] != name]
        # stable: among equal values the earlier checkpoint ranks first
        at = next((i for i, e in enumerate(self.kept) if self.better(value, e[0])),
                  len(self.kept))
        self.kept.insert(at, [value, row["epoch"], name])
        self.kept = self.kept[:self.keep]
        trainer.write_checkpoint(name)       # every rank (a collective); rank 0 writes
        if trainer.is_main:
            self._tidy(trainer)

    @property
    def best_path(self) -> Optional[str]:
        """The file name of the best checkpoint kept (None before the first)."""
        return self.kept[0][2] if self.kept else None

    def _tidy(self, trainer):
        """Remove this run's best-* files (and staged copies a kill left) that are not kept,
        and point the link at the best one."""
        folder, run_id = trainer.ckpt_dir, trainer.run_id
        keep = {e[2] for e in self.kept}
        pattern = f"best-step*-{glob.escape(run_id)}{CHECKPOINT_SUFFIX}"
        for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
            if os.path.basename(path) not in keep:
                os.remove(path)
        parent = os.path.dirname(os.path.abspath(folder))
        for stale in glob.glob(os.path.join(glob.escape(parent), f".{pattern}.staged")):
            os.remove(stale)
        link = os.path.join(trainer.run_dir, self.LINK)
        best = os.path.join(folder, self.kept[0][2]) if self.kept else None
        if best is None or not os.path.isfile(best):   # none yet, or resumed elsewhere
            if os.path.lexists(link):
                os.remove(link)
            return
        point_link(link, best)

    def state_dict(self) -> Dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode,
                "kept": [[float(v), int(e), str(n)] for v, e, n in self.kept]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_resumed(state)
        self.kept = [[float(v), int(e), str(n)] for v, e, n in state["kept"]]


def check_monitored(trainer, counts, logits, target):
    """For the dry run: a monitored accuracy or top-k that the first batch's outputs cannot give
    (``counts``: what ``trainer._counts`` made of them) is refused now, not after an epoch."""
    for cb in trainer.callbacks:
        monitor = getattr(cb, "monitor", None)
        metric = monitor.split("_", 1)[-1] if isinstance(monitor, str) else None
        if metric not in ("accuracy", "top3", "top5") or metric in counts:
            continue
        at_least = f" with C >= {metric[3:]}" if metric.startswith("top") else ""
        message = (f"{monitor} cannot be computed: {metric} needs class scores (N, C){at_least} "
                   f"and integer class targets (N,), and the model gives "
                   f"{tuple(logits.shape)} {logits.dtype} for targets {tuple(target.shape)} "
                   f"{target.dtype}")
        if getattr(cb, "config_key", None) is not None:
            raise config_error(trainer.cfg, f"{cb.config_key}.monitor", message)
        raise ValueError(f"{type(cb).__name__}: {message}")


def point_link(link, target):
    """Make ``link`` lead to ``target``, atomically (a reader sees the old or the new one): a
    relative symlink, or where symlinks are refused (some file systems, Windows without the
    privilege) a copy of the file."""
    tmp = os.path.join(os.path.dirname(link), f".{os.path.basename(link)}.{os.getpid()}.tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    try:
        os.symlink(os.path.relpath(target, os.path.dirname(os.path.abspath(link))), tmp)
    except (OSError, NotImplementedError):
        shutil.copyfile(target, tmp)
    os.replace(tmp, link)


def from_config(cfg):
    """The callbacks the config's ``callbacks:`` section turns on."""
    out = []
    spec = cfg.get("callbacks") or {}
    es = spec.get("early_stopping")
    if es is not None:
        out.append(EarlyStopping(es["monitor"], es["mode"], es["patience"], es["min_delta"],
                                 config_key="callbacks.early_stopping"))
    best = spec.get("best_checkpoints")
    if best is not None:
        out.append(BestCheckpoints(best["monitor"], best["mode"], best["keep"],
                                   config_key="callbacks.best_checkpoints"))
    return out


def arrange(callbacks):
    """The callbacks in calling order (those that write checkpoints last, otherwise as given),
    each with a distinct state key (a second ``early_stopping`` becomes ``early_stopping-2``)."""
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks: expected clnet.train.Callback objects, got "
                            f"{type(cb).__name__}")
    ordered = sorted(callbacks, key=lambda cb: bool(cb.writes_checkpoints))
    keys, seen = [], {}
    for cb in ordered:
        base = cb.state_key or type(cb).__name__
        seen[base] = seen.get(base, 0) + 1
        keys.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return list(zip(keys, ordered))
