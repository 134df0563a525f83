"""What a checkpoint holds of a Trainer and how a Trainer is restored from one.

A checkpoint holds the model, optimizer, scheduler, RNG and data position (and the running
epoch's sums), written atomically with ``serialization.save_safetensors`` (no pickle) by
``checkpoints.write_checkpoint``, so ``--resume`` continues exactly where a run stopped, from any
checkpoint: an epoch's end, a step, a Ctrl-C or the end.
"""
from __future__ import annotations

from typing import Any, Dict
import os

from ..errors import CheckpointError
from ..ops.random import get_rng_state, set_rng_state
from ..serialization import load
from . import checkpoints as ckpts
from .callbacks import MonitorChanged
from .checkpoints import latest_checkpoint
from .config import config_error
from .sums import EpochSums


class RunState:
    """The Trainer's checkpoint methods (a mixin)."""

    def state(self) -> Dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": get_rng_state(),
            # an interrupted step restarts from its batch (its update was not applied)
            "loader": self._resume_point or self.train_loader.state_dict(),
            "epoch_sums": self._epoch_sums_state(),
            "epoch_pending": self._pending,      # an epoch's train stats awaiting its end
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "run_id": self.run_id,
            "run_dir": os.path.abspath(self.run_dir) if self.run_dir else None,
            "config": ckpts.resume_config(self.cfg),
            "callbacks": {key: cb.state_dict() for key, cb in self._callbacks},
            "stop_reason": self.stop_reason,
        }

    def _epoch_sums_state(self):
        """The running epoch's sums for a checkpoint: all ranks' (a collective) in an MPI job,
        except for a Ctrl-C checkpoint, which cannot wait for the other ranks: it stores none, so
        the resumed epoch's train metrics cover the batches after the resume."""
        if self.dist is None:
            return self._acc.to_host()
        if self._interrupted:
            return None
        return self._merged(self._acc).to_host()

    def save_checkpoint(self, tag: str) -> str:
        """Write a checkpoint (rank 0 only in an MPI job, where every rank calls this)."""
        self._interrupted = tag == "interrupted"
        path = self.write_checkpoint(ckpts.checkpoint_name(self.step, tag, self.run_id))
        if self.is_main:
            ckpts.prune(self.ckpt_dir, self.run_id, self.cfg["checkpoint"]["keep_last"], path)
        return path

    def write_checkpoint(self, name: str) -> str:
        """Write the run's state as ``name`` in the checkpoint folder, pruning nothing (a
        callback's own checkpoints); every rank of an MPI job calls it, rank 0 writes."""
        state = self.state()
        if not self.is_main:
            return os.path.join(self.ckpt_dir, name)
        return ckpts.write_checkpoint(state, self.ckpt_dir, name)

    def _resume(self, where):
        path = latest_checkpoint(where)
        state = load(path, map_location=self.device)
        ckpts.check_state(state, path, self.model, self.optimizer, self.cfg)
        ckpts.check_config(self.cfg, state, path,
                           ckpts.EVALUATION_KEYS if self._evaluation else ckpts.RESUME_KEYS)
        restore = ckpts.restore
        restore("model", path, self.model.load_state_dict, state["model"])
        restore("optimizer", path, self.optimizer.load_state_dict, state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            restore("scheduler", path, self.scheduler.load_state_dict, state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            restore("GradScaler", path, self.scaler.load_state_dict, state["scaler"])
        restore("RNG", path, set_rng_state, state["rng"])
        restore("data loader", path, self.train_loader.load_state_dict, state["loader"])
        self.epoch, self.step = restore("position", path, lambda: (int(state["epoch"]),
                                                                   int(state["step"])))
        if self.step:
            self.optimizer._opt_called = True   # it has stepped: the scheduler may step next
        self.history = restore("history", path, lambda: [dict(r) for r in
                                                          state.get("history") or []])
        self._acc = restore("epoch sums", path, EpochSums.from_host, state.get("epoch_sums"))
        if not self.is_main:
            self._acc = EpochSums()         # rank 0 carries the checkpoint's sums of all ranks
        pending = state.get("epoch_pending")
        self._pending = None if pending is None else restore(
            "pending epoch", path, lambda: {k: float(v) for k, v in pending.items()})
        recorded_id = state.get("run_id") if isinstance(state.get("run_id"), str) else None
        if recorded_id:
            self.run_id = recorded_id           # the same run goes on: it prunes its own files
        if self.run_dir is None:
            self.run_dir = self._resumed_run_dir(where, path, state)
        if self.is_main:
            ckpts.remove_stale_staged(path, recorded_id)
        if not self._evaluation:
            self._restore_callbacks(state, path)
        self.resumed_from = path

    def _restore_callbacks(self, state, path):
        """The callbacks' state and whether one stopped the run; a callback the checkpoint has
        no state for (added since, or a checkpoint written before callbacks) starts afresh."""
        saved = state.get("callbacks") or {}
        for key, cb in self._callbacks:
            if key not in saved:
                continue
            check = getattr(cb, "check_resumed", None)
            if check is not None and isinstance(saved[key], dict):
                try:
                    check(saved[key])
                except MonitorChanged as e:
                    if e.config_key is None:
                        raise CheckpointError(path, str(e)) from None
                    raise config_error(self.cfg, f"{e.config_key}.monitor", str(e)) from None
            ckpts.restore(f"{key} callback", path, cb.load_state_dict, saved[key])
        reason = state.get("stop_reason")
        self.stop_reason = reason if isinstance(reason, str) else None

    def _resumed_run_dir(self, where, path, state):
        """The run folder a resume continues: the one named, else the checkpoint's (the folder
        above its checkpoints/, or the one it recorded when it sits in a shared checkpoint.dir)."""
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(where) and os.path.abspath(where) != folder:
            return where
        shared = self.cfg["checkpoint"]["dir"]
        recorded = state.get("run_dir")
        if shared and os.path.abspath(shared) == folder and isinstance(recorded, str) \
                and os.path.isdir(recorded):
            return recorded
        return os.path.dirname(folder)
