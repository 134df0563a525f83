"""What a training run records in its folder besides checkpoints and metrics.csv.

- ``steps.csv``: one row per optimizer step (step, epoch, loss, lr), appended each time the
  Trainer reads its window of losses from the device (every ``log_every`` steps), so writing
  it adds no device read.
- ``tensorboard/``: TensorBoard event files (``clnet.utils.tensorboard.SummaryWriter``):
  ``train/loss`` and ``train/lr`` per step, ``epoch/<metric>`` per epoch (train and
  validation metrics, lr, time), ``test/<metric>`` once at the end. Every scalar's step is
  the optimizer step, so per-step and per-epoch curves share one x axis.
- ``summary.json``: the resolved config's hash, the epoch with the best (lowest) validation
  loss, the final validation and test metrics; rewritten at each epoch's end and at the end.
- ``curves.png``: loss, the other metrics and the learning rate against the step, drawn with
  matplotlib when it is installed (``pip install 'clnet[plot]'``); without it the run says so
  once and writes everything else.

A resumed run continues the same files: rows of ``steps.csv`` past the checkpoint's step are
dropped, and the TensorBoard writer opens with ``purge_step`` one past it, so TensorBoard hides
what the interrupted timeline logged after the checkpoint and no step appears twice.
"""
from __future__ import annotations

from typing import Set
import csv
import hashlib
import json
import math
import os

STEP_FIELDS = ("step", "epoch", "loss", "lr")
PLOT_HINT = "pip install 'clnet[plot]' (or: pip install matplotlib)"
_said: Set[str] = set()          # messages given once per process


def config_hash(cfg):
    """sha256 of the resolved config (the keys written to config.yaml), as canonical JSON."""
    clean = {k: v for k, v in cfg.items() if not str(k).startswith("_")}
    text = json.dumps(clean, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _once(key, say, text):
    if key not in _said:
        _said.add(key)
        say(text)


def _atomic_json(path, obj):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


def read_steps(path, upto=None):
    """The rows of a steps.csv (dicts of numbers), those with step <= ``upto`` if given."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                row = {"step": int(r["step"]), "epoch": int(r["epoch"]),
                       "loss": float(r["loss"]), "lr": float(r["lr"])}
            except (KeyError, TypeError, ValueError):
                continue          # a row cut short by a kill -9: the rest of the file is good
            if upto is None or row["step"] <= upto:
                rows.append(row)
    return rows


class RunLog:
    """The run folder's logs. ``start_step``: the step a resumed run continues from (0 for a
    new run); ``say``: prints a line for the user (the Trainer's progress)."""

    def __init__(self, run_dir, cfg, start_step=0, say=print, tensorboard=True):
        self.run_dir = run_dir
        self.cfg = cfg
        self.say = say
        self.start_step = start_step
        self.steps_path = os.path.join(run_dir, "steps.csv")
        self.summary_path = os.path.join(run_dir, "summary.json")
        self.tb_dir = os.path.join(run_dir, "tensorboard")
        # the timeline up to the checkpoint (a resume); later rows belong to a lost future
        self.steps = read_steps(self.steps_path, start_step) if start_step else []
        with open(self.steps_path + ".tmp", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(STEP_FIELDS)
            w.writerows([[r[k] for k in STEP_FIELDS] for r in self.steps])
        os.replace(self.steps_path + ".tmp", self.steps_path)
        self._steps_file = open(self.steps_path, "a", newline="", encoding="utf-8")
        self._steps_csv = csv.writer(self._steps_file)
        self.tb = self._open_tensorboard() if tensorboard else None

    def _open_tensorboard(self):
        try:
            # late: tensorboardX (protobuf) costs start-up, and a run may log without it
            from ..utils.tensorboard import SummaryWriter
        except ImportError:
            _once("tensorboard", self.say, "TensorBoard logs skipped: tensorboardX is not "
                                           "installed (pip install tensorboardX)")
            return None
        # purge_step: TensorBoard hides the events at or past it that an earlier writer logged
        # (the interrupted timeline's steps after the checkpoint)
        purge = self.start_step + 1 if self.start_step else None
        return SummaryWriter(self.tb_dir, purge_step=purge, flush_secs=10)

    # ------------------------------------------------------------------ during the run
    def log_steps(self, steps, losses, lrs, epoch):
        """Rows for the steps of one read window: ``steps`` (ints), ``losses`` (floats, read
        once from the device), ``lrs`` (the learning rate each step used), ``epoch`` (1-based)."""
        for s, loss, lr in zip(steps, losses, lrs):
            row = {"step": int(s), "epoch": int(epoch), "loss": float(loss), "lr": float(lr)}
            self.steps.append(row)
            self._steps_csv.writerow([row[k] for k in STEP_FIELDS])
            if self.tb is not None:
                # one event holding both scalars: each event costs a pure-Python CRC32C
                # (tensorboardX's), the larger part of logging a step
                self.tb._add_scalar_values({"train/loss": row["loss"], "train/lr": row["lr"]},
                                          row["step"])
        self._steps_file.flush()

    def log_epoch(self, row, history):
        """An epoch's metrics row (also in ``history``): TensorBoard scalars, summary.json."""
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"epoch/{k}", float(v), row["step"])
            self.tb.flush()
        self.write_summary(history)

    def write_summary(self, history, test=None, finished=False, extra=None):
        """summary.json: what the run reached so far (``finished`` once the run is over)."""
        last = history[-1] if history else {}
        val_rows = [r for r in history if isinstance(r.get("val_loss"), float)
                    and not math.isnan(r["val_loss"])]
        best = min(val_rows, key=lambda r: r["val_loss"]) if val_rows else None
        summary = {
            "name": self.cfg.get("name"),
            "config_hash": config_hash(self.cfg),
            "finished": finished,
            "epochs": last.get("epoch", 0),
            "steps": last.get("step", 0),
            "train_time_s": round(sum(r.get("time_s", 0.0) for r in history), 3),
            "best_val": None if best is None else dict(
                {"epoch": best["epoch"], "step": best["step"]}, **_split(best, "val_")),
            "final_val": _split(val_rows[-1], "val_") if val_rows else None,
            "final_train": _split(last, "train_") or None,
            "test": dict(test) if test else None,
        }
        summary.update(extra or {})
        _atomic_json(self.summary_path, summary)
        return summary

    # ------------------------------------------------------------------ the end
    def finish(self, history, test=None, extra=None):
        """The run is over: test scalars, the final summary.json and curves.png."""
        step = history[-1]["step"] if history else (self.steps[-1]["step"] if self.steps else 0)
        if self.tb is not None and test:
            for k, v in test.items():
                self.tb.add_scalar(f"test/{k}", float(v), step)
        summary = self.write_summary(history, test, finished=True, extra=extra)
        self.plot(history)
        self.close()
        return summary

    def plot(self, history):
        """curves.png, or None (and a note, once) when matplotlib is missing."""
        if not history and not self.steps:
            return None
        path = os.path.join(self.run_dir, "curves.png")
        try:
            return plot_curves(path, history, self.steps, self.cfg.get("name") or "")
        except ImportError:
            _once("matplotlib", self.say, f"curves.png skipped: matplotlib is not installed; "
                                          f"{PLOT_HINT} to get it (steps.csv, metrics.csv and "
                                          "tensorboard/ hold the same numbers)")
            return None

    def close(self):
        if self._steps_file is not None:
            self._steps_file.close()
            self._steps_file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def _split(row, prefix):
    return {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}


def plot_curves(path, history, steps, title=""):
    """Draw loss, metrics and learning rate against the optimizer step into ``path`` (PNG).
    Raises ImportError when matplotlib is missing."""
    draw_curves(history, steps, title).savefig(path, dpi=100)
    return path


def draw_curves(history, steps, title=""):
    """The figure of curves.png: panels for loss, the other metrics (when there are any) and
    the learning rate, each against the optimizer step.

    Per-step training loss (from steps.csv) is a thin line, so a one-epoch run has a curve;
    per-epoch values are marked points at the step where the epoch ended, and dotted vertical
    lines mark epoch ends. Perplexity is left out (exp of the loss, drawn already): it would
    squash the [0, 1] accuracies sharing its panel."""
    # a Figure of its own, not pyplot: no global backend switch, no figure left open in a
    # notebook that calls Trainer.fit
    from matplotlib.figure import Figure

    metric_keys = [k for k in dict.fromkeys(k for r in history for k in r)
                   if k.startswith(("train_", "val_"))
                   and not k.endswith(("_loss", "_perplexity"))]
    panels = ["loss"] + (["metrics"] if metric_keys else []) + ["lr"]
    fig = Figure(figsize=(5 * len(panels), 4))
    # one x range for all panels: a lone per-epoch point (one epoch) sits at its step
    axes = fig.subplots(1, len(panels), squeeze=False, sharex=True)
    axes = dict(zip(panels, axes[0]))
    ends = [r["step"] for r in history]
    ax = axes["loss"]
    if steps:
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], "-", lw=0.8,
                alpha=0.5, color="tab:blue", label="train loss (per step)")
    for key, color in (("train_loss", "tab:blue"), ("val_loss", "tab:orange")):
        pts = [(r["step"], r[key]) for r in history if key in r]
        if pts:
            ax.plot(*zip(*pts), "o-", color=color, label=f"{key} (per epoch)")
    ax.set_ylabel("loss")
    if "metrics" in axes:
        ax = axes["metrics"]
        for key in metric_keys:
            pts = [(r["step"], r[key]) for r in history if key in r]
            if pts:
                ax.plot(*zip(*pts), "o-", label=key)
        ax.set_ylabel("metric")
    ax = axes["lr"]
    if steps:
        ax.plot([r["step"] for r in steps], [r["lr"] for r in steps], "-", label="lr")
    else:
        ax.plot(ends, [r["lr"] for r in history], "o-", label="lr")
    ax.set_ylabel("learning rate")
    for ax in axes.values():
        ax.set_xlabel("step")
        for s in ends:
            ax.axvline(s, color="0.8", ls=":", lw=0.8)
        if ax.lines:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    n = len(history)
    fig.suptitle(f"{title} ({n} epoch{'s' if n != 1 else ''}, "
                 f"{ends[-1] if ends else (steps[-1]['step'] if steps else 0)} steps)")
    fig.tight_layout()
    return fig
