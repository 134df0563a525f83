"""Trainer: the run a config describes (data, model, loss, optimizer, schedule, checkpoints).

The Trainer is assembled from one module per job:

- building.py: the components a config names, each through a Registry (registry.py)
- loop.py: ``fit()``, the epochs and steps, and where progress and metrics are reported
- evaluation.py: the loss of a batch, metric counts, ``evaluate()``
- outputs.py: config.yaml, metrics.csv, curves.png in the run folder
- run_state.py and checkpoints.py: what a checkpoint holds, writing it, resuming from it
- dryrun.py: ``dry_run()``

The training path never waits for the device except to print; ``--resume`` continues exactly
where a run stopped, from any checkpoint. Under ``mpiexec -n K`` each process is one rank of a
data-parallel run (see distributed.py): the model is wrapped in DistributedDataParallel, each
rank trains on its DistributedSampler shard, epoch sums and evaluation metrics are reduced across
ranks, and only rank 0 prints and writes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, TextIO
import datetime
import os
import sys

from ..amp import GradScaler
from ..backend import set_default_device
from ..errors import DeviceError
from ..ops.random import manual_seed
from . import checkpoints as ckpts
from .callbacks import arrange, from_config
# LOSSES, OPTIMIZERS, SCHEDULERS, PER_STEP_SCHEDULERS: imported from here by earlier code
from .building import (LOSSES, OPTIMIZERS, PER_STEP_SCHEDULERS, SCHEDULERS,  # noqa: F401
                       build_data, build_loss, build_optimizer, build_scheduler,
                       scheduler_spec, total_steps)
from .checkpoints import latest_checkpoint  # noqa: F401 (clnet.train's name for it)
from .config import config_error
from .distributed import pick_device
from .dryrun import dry_run
from .distributed import setup as distributed_setup
from .evaluation import Evaluation
from .loop import TrainingDiverged, TrainingLoop  # noqa: F401 (clnet.train's name for it)
from ..nn.parallel import DistributedDataParallel
from .models import build_model, count_parameters, summary
from .run_state import RunState
from .sums import EpochSums

if TYPE_CHECKING:
    from .callbacks import Callback
    from ..types import PathLike


class Trainer(TrainingLoop, Evaluation, RunState):
    def __init__(self, cfg: Dict[str, Any], resume: Optional[PathLike] = None,
                 run_dir: Optional[PathLike] = None, out: Optional[TextIO] = None,
                 quiet: bool = False, evaluation: bool = False,
                 callbacks: Optional[Sequence[Callback]] = None) -> None:
        """``evaluation=True``: the checkpoint in ``resume`` is loaded to be evaluated (clnet
        eval / predict), so only config keys that change the model or the data it sees must
        match the checkpoint's (a resumed run also needs the same batches and optimizer).
        ``callbacks``: ``clnet.train.Callback`` objects, called after those the config's
        ``callbacks:`` section turns on (see callbacks.py)."""
        self.cfg = cfg
        self._evaluation = evaluation
        # one rank of an MPI job (None alone); set up before any device is touched
        self.dist = None if evaluation else distributed_setup()
        self.is_main = self.dist is None or self.dist.is_main
        self.out = (out or sys.stdout) if self.is_main else open(os.devnull, "w")
        self.quiet = quiet or not self.is_main
        manual_seed(cfg["seed"])
        try:
            self.device = pick_device(cfg["device"], self.dist)
        except DeviceError as e:
            raise config_error(cfg, "device", str(e)) from None
        set_default_device(self.device)
        self._build_data()
        self.model = build_model(cfg, self.info).to(self.device)
        # the training forward: the model, or its DistributedDataParallel wrapper in a job
        self.ddp = None
        if self.dist is not None:
            self.ddp = DistributedDataParallel(self.model)
        self.loss_name, self.loss_fn, self.loss_args = build_loss(cfg)
        self.optimizer = self._make_optimizer()
        # precision fp16: torch's GradScaler defaults; its state goes into checkpoints
        self.scaler = (GradScaler("cuda" if self.device.kind == "GPU" else "cpu")
                       if cfg.get("precision") == "fp16" else None)
        self.scheduler, self.sched_name = self._make_scheduler(self.optimizer)
        self.metrics = list(dict.fromkeys(cfg["metrics"]))
        self._callbacks = arrange(from_config(cfg) + list(callbacks or ()))
        self.stop_reason = None   # why a callback stopped the run (None: it was not stopped)
        self.epoch = 0            # epochs completed
        self.step = 0             # optimizer steps taken
        self.history = []
        self._acc = EpochSums()   # running sums of the current epoch
        self._pending = None      # train stats of an epoch whose batches are done, not its end
        self._epoch_time = 0.0
        self._resume_point = None
        self._interrupted = False
        self.run_id = ckpts.new_run_id()
        self.resumed_from = None
        self.run_dir = run_dir
        if resume is not None:
            self._resume(resume)
        elif self.run_dir is None:
            self.run_dir = _new_run_dir(cfg)
        if self.dist is not None:       # rank 0's folder and run id name every rank's files
            self.run_dir, self.run_id = self.dist.broadcast((self.run_dir, self.run_id))
        self.ckpt_dir = cfg["checkpoint"]["dir"] or os.path.join(self.run_dir, "checkpoints")
        for cb in self.callbacks:
            cb.setup(self)

    @property
    def callbacks(self) -> List[Callback]:
        """The callbacks, in the order they are called."""
        return [cb for _, cb in self._callbacks]

    def stop(self, reason: str) -> None:
        """End the run after the current epoch (a callback's way to stop it); ``reason`` is
        printed and returned by ``fit()`` as ``result["stopped"]``."""
        self.stop_reason = str(reason)

    # ------------------------------------------------------------------ building
    def _build_data(self):
        data = build_data(self.cfg, self.dist)
        self.train_set, self.val_set, self.test_set = data.train_set, data.val_set, data.test_set
        self.info, self.sampler = data.info, data.sampler
        self.train_loader, self.eval_batch_size = data.train_loader, data.eval_batch_size

    def _make_optimizer(self):
        """A new optimizer over the model's parameters, as the config describes it."""
        return build_optimizer(self.cfg, self.model.parameters())

    def _scheduler_spec(self, optimizer):
        """(scheduler class, its keyword arguments, config name) or None."""
        return scheduler_spec(self.cfg, optimizer, self.total_steps())

    def _make_scheduler(self, optimizer):
        """(a new scheduler of ``optimizer``, its config name), or (None, None)."""
        return build_scheduler(self.cfg, optimizer, self.total_steps())

    def total_steps(self) -> int:
        return total_steps(self.cfg, len(self.train_loader))

    def describe(self) -> str:
        """What the run is; in an MPI job every rank must call it (it gathers the ranks' pids,
        which name the rank in the launcher's messages if one dies)."""
        text = (f"model: {count_parameters(self.model):,} parameters\n{summary(self.model)}\n"
                f"data: {self.cfg['data']['dataset']} train {len(self.train_set)}"
                + (f", val {len(self.val_set)}" if self.val_set is not None else "")
                + (f", test {len(self.test_set)}" if self.test_set is not None else "")
                + f"; device {self.device} ({self.device.name})"
                + ("" if self.cfg.get("precision", "fp32") == "fp32" else
                   f"; precision {self.cfg['precision']} (autocast"
                   + (", GradScaler)" if self.scaler is not None else ")")))
        if self.dist is not None:
            k, bs = self.dist.world_size, self.cfg["data"]["batch_size"]
            text += (f"\n{self.dist.describe()}; batch {bs} per rank, {k * bs} per step "
                     f"(DistributedSampler shards of {len(self.sampler)} samples)")
        return text

    def dry_run(self) -> Dict[str, Any]:
        """What ``clnet train --dry-run`` runs once the Trainer is built (data, model, loss,
        optimizer, scheduler, metrics): one training forward, loss, metrics and backward on the
        first training batch and the scheduler's first steps on a scratch optimizer, so the
        errors a first step or a first epoch end would hit come out now. Writes nothing and
        changes nothing (no optimizer step; weights, buffers, gradients, RNG, data position,
        optimizer and scheduler as before). Returns ``{"loss": float, "input_shape": tuple,
        "output_shape": tuple}``; raises ConfigError naming the config key (or, for a layer
        that fails, naming the layer and the input shapes it got)."""
        return dry_run(self)


def _new_run_dir(cfg):
    """<run_dir>/<name>/<timestamp>, with -2, -3, ... for runs started in the same second."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(cfg["run_dir"], cfg["name"], stamp)
    run_dir, n = base, 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = f"{base}-{n}"
    return run_dir
