"""The training loop: epochs of steps, the end of an epoch, and where progress is reported.

Losses and correct counts stay on the device and are read once per ``log_every`` steps (and at
the end of an epoch), which is also where a NaN/Inf loss is caught and located to its step. An
optimizer update and its bookkeeping happen under ``sigint_deferred``, so a Ctrl-C takes a step
whole or not at all and the checkpoint it writes resumes exactly.
"""
from __future__ import annotations

from typing import Any, Dict
import os
import time

import numpy as np

from ..ops.join import stack
from . import checkpoints as ckpts
from .building import PER_STEP_SCHEDULERS
from .capture import StepRunner
from .checkpoints import sigint_deferred
from .outputs import write_config, write_metrics
from .progress import Progress
from .runlog import RunLog
from .sums import EpochSums


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step."""


class TrainingLoop:
    """The Trainer's loop (a mixin over the state the Trainer builds)."""

    _runlog = None       # the run folder's logs (runlog.py) while fit() runs on rank 0
    _window = ()         # the steps whose losses are still on the device
    _runner = None       # the training step, eager or captured (capture.py), made by fit()

    def fit(self) -> Dict[str, Any]:
        cfg = self.cfg
        self._progress = Progress(self.out, quiet=self.quiet,
                                  programs=lambda: len(self.device.programs))
        self._runlog = None
        if self.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            write_config(self.run_dir, cfg)
            ckpts.write_run_record(self.run_dir, self.run_id, self.ckpt_dir)
            write_metrics(self.run_dir, self.history)   # a resumed run's rows: the checkpoint's
            # steps.csv, tensorboard/, summary.json, curves.png; a resume continues them
            self._runlog = RunLog(self.run_dir, cfg, start_step=self.step,
                                  say=self._report_message)
        try:
            return self._fit()
        finally:
            if self._runlog is not None:
                self._runlog.close()
            self._progress.close()

    def _fit(self):
        cfg = self.cfg
        max_steps = cfg["max_steps"]
        self._window = []
        if self._runner is None:
            self._runner = StepRunner(self, self._report_message)    # says the capture mode
        for cb in self.callbacks:
            cb.on_fit_start(self)
        if self.stop_reason is not None:         # resumed from after a callback stopped it
            self._report_message(f"the run had already stopped ({self.stop_reason})")
        try:
            for epoch in range(self.epoch, cfg["epochs"]):
                if self.stop_reason is not None:
                    break
                if self._pending is None:        # the epoch's batches are still to do
                    if max_steps and self.step >= max_steps:
                        break
                    if not self._train_epoch(epoch, max_steps):
                        break                    # max_steps ended it mid-epoch
                row = self._end_of_epoch(epoch)
                self._report_epoch(row)
                if self._due("every_epochs", self.epoch):
                    self.save_checkpoint("epoch")
                if self.stop_reason is not None:
                    self._report_message(f"stopped: {self.stop_reason}")
        except KeyboardInterrupt:
            self._log_unread()
            path = self.save_checkpoint("interrupted")
            self._report_message(f"\ninterrupted: checkpoint written to {path}; resume with "
                                 f"--resume {self.run_dir}")
            raise
        final = self.save_checkpoint("final")
        for cb in self.callbacks:
            cb.on_fit_end(self)
        test = self.evaluate("test") if self.test_set is not None else {}
        # stopped: why a callback ended the run before its epochs (None: it was not stopped)
        if self._runlog is not None:
            self._runlog.finish(self.history, test, extra={
                "run_id": self.run_id, "checkpoint": final, "resumed_from": self.resumed_from,
                "stopped": self.stop_reason, "precision": cfg.get("precision", "fp32")})
        return {"run_dir": self.run_dir, "checkpoint": final, "test": test,
                "history": self.history, "stopped": self.stop_reason}

    # ------------------------------------------------------------------ reporting
    def _report_step(self, done_in_epoch, loss, rate, lr):
        """Progress within an epoch (once per log_every steps): steps done, the latest loss
        read from the device, samples/s over all ranks, the learning rate. (The bar itself
        advances every step, from host-side counts.)"""
        self._progress.set_loss(loss, lr)

    def _report_epoch(self, row):
        """An epoch's metrics row (train_*, val_*, lr, time): metrics.csv and the epoch line."""
        if self.is_main:
            write_metrics(self.run_dir, self.history)
        if self._runlog is not None:
            self._runlog.log_epoch(row, self.history)
        self._progress.epoch_line(row)

    def _report_message(self, text):
        self._progress.message(text)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch, max_steps):
        """The batches of one epoch (or the rest of them, after a resume). Returns False if
        max_steps stopped it before its end; otherwise its train stats wait in ``_pending`` for
        the end of the epoch."""
        model, opt, loader = self.model, self.optimizer, self.train_loader
        model.train()
        per_epoch = len(loader)
        # (step, loss tensor, lr it stepped with) since the last read; on self so that a
        # Ctrl-C can still log the steps it holds
        window = self._window = []
        acc = self._acc      # this epoch's sums (device tensors), carried over by a resume
        t0 = time.perf_counter()
        start = loader.state_dict()
        done_in_epoch = start["index"] if start["in_progress"] else 0
        self._progress.start_epoch(epoch + 1, self.cfg["epochs"], per_epoch, done_in_epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        batches = iter(loader)
        every_steps = self.cfg["checkpoint"]["every_steps"]
        while True:
            if max_steps and self.step >= max_steps and done_in_epoch < per_epoch:
                self._epoch_time = time.perf_counter() - t0
                return False
            with sigint_deferred():
                # where to restart if this step is interrupted before its update
                self._resume_point = loader.state_dict()
                try:
                    x, y = next(batches)
                except StopIteration:                 # the loader has moved to the next epoch
                    self._resume_point = None
                    self._pending = self._merged(acc).result()
                    self._acc = EpochSums()
                    break
            lr = opt.param_groups[0]["lr"]            # before a per-step scheduler moves it
            with sigint_deferred():                   # the update and its count, whole
                # forward, backward, clipping, update: eager or replayed (capture.py)
                ld, n, counts = self._runner(x, y)
                if self.sched_name in PER_STEP_SCHEDULERS:
                    self.scheduler.step()
                self.step += 1
                done_in_epoch += 1
                window.append((self.step, ld, lr))
                acc.add(ld, n, counts)
                self._resume_point = None
            last = done_in_epoch == per_epoch or (max_steps and self.step >= max_steps)
            ckpt_due = bool(every_steps) and self.step % every_steps == 0
            if len(window) >= self.cfg["log_every"] or last or ckpt_due:
                running = self._check_window(window)      # checkpoints only after a NaN check
                window = self._window = []
                rate = acc.seen_this_run() / max(time.perf_counter() - t0, 1e-9) * (
                    self.dist.world_size if self.dist is not None else 1)
                self._report_step(done_in_epoch, running, rate, opt.param_groups[0]["lr"])
            self._progress.step(done_in_epoch)
            if ckpt_due:
                self.save_checkpoint("step")
        self._epoch_time = time.perf_counter() - t0
        return True

    def _check_window(self, window):
        """Read the window's losses (one host read) and log them (steps.csv, TensorBoard); stop
        at the first NaN/Inf, naming its step."""
        values = stack([w[1].reshape(()) for w in window]).numpy()
        if self._runlog is not None:
            self._runlog.log_steps([w[0] for w in window], values.tolist(),
                                   [w[2] for w in window], self.epoch + 1)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            step = window[bad[0]][0]
            raise TrainingDiverged(
                f"the loss became {values[bad[0]]} at step {step} (epoch {self.epoch + 1}); "
                f"stopping. The last good checkpoint is in {self.ckpt_dir} (if one was written); "
                "try a lower learning rate or grad_clip")
        return float(values[-1])

    def _log_unread(self):
        """Log the steps whose losses were not read yet (a Ctrl-C between reads), so steps.csv
        and TensorBoard reach the step the interrupted checkpoint holds."""
        window, self._window = self._window, []
        if window and self._runlog is not None:
            values = stack([w[1].reshape(()) for w in window]).numpy()
            self._runlog.log_steps([w[0] for w in window], values.tolist(),
                                   [w[2] for w in window], self.epoch + 1)

    def _end_of_epoch(self, epoch):
        """Validation, the scheduler's step and the metrics row of an epoch whose batches are
        done. A Ctrl-C during validation leaves the epoch pending (a resume redoes this)."""
        row = {"epoch": epoch + 1, "step": self.step, "time_s": round(self._epoch_time, 3),
               "lr": self.optimizer.param_groups[0]["lr"]}
        row.update({f"train_{k}": v for k, v in self._pending.items()})
        if self.val_set is not None and (epoch + 1) % self.cfg["eval_every_epochs"] == 0:
            row.update({f"val_{k}": v for k, v in self.evaluate("val").items()})
        with sigint_deferred():
            if self.sched_name and self.sched_name not in PER_STEP_SCHEDULERS:
                if self.sched_name == "plateau":
                    self.scheduler.step(row.get("val_loss", row["train_loss"]))
                else:
                    self.scheduler.step()
            self.history.append(row)
            self.epoch = epoch + 1
            self._pending = None
            # the callbacks' decisions on this epoch are recorded with it, all or nothing
            for cb in self.callbacks:
                cb.on_epoch_end(self, row)
        return row

    def _due(self, key, value):
        every = self.cfg["checkpoint"][key]
        return bool(every) and value % every == 0
