"""Trainer: the run a config describes (data, model, loss, optimizer, schedule, checkpoints).

The training path never waits for the device except to print: losses and correct counts stay
on the device and are read once per ``log_every`` steps (and at the end of an epoch), which is
also where a NaN/Inf loss is caught and located to its step. Checkpoints hold the model,
optimizer, scheduler, RNG and data position, written atomically with
``clnet.serialization.save_safetensors`` (no pickle), so ``--resume`` continues exactly where a
run stopped, from any checkpoint: an epoch's end, a step, a Ctrl-C (held while an update is
applied, so a step is taken whole or not at all) or the end.
``dry_run()`` builds everything and runs one forward and backward, changing nothing.
Under ``mpiexec -n K`` each process is one rank of a data-parallel run (see distributed.py): the
model is wrapped in DistributedDataParallel, each rank trains on its DistributedSampler shard,
epoch sums and evaluation metrics are reduced across ranks, and only rank 0 prints and writes.
"""
import csv
import datetime
import inspect
import math
import os
import sys
import time

import numpy as np
import yaml

import clnet
from .. import nn, optim
from ..data import DataLoader, DistributedSampler, Subset, get_dataset, random_split
from ..nn import functional as F
from . import checkpoints as ckpts
from .checkpoints import latest_checkpoint, sigint_deferred
from .config import config_error
from .distributed import pick_device
from .distributed import setup as distributed_setup
from .building import build_checked, check_arguments, data_info, transforms_of
from .models import build_model, count_parameters, summary
from .sums import EpochSums as _EpochSums
from .progress import Progress

LOSSES = {"cross_entropy": F.cross_entropy, "nll": F.nll_loss, "mse": F.mse_loss,
          "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss, "huber": F.huber_loss,
          "bce": F.binary_cross_entropy, "bce_with_logits": F.binary_cross_entropy_with_logits}
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
              "adagrad": "Adagrad", "adadelta": "Adadelta"}
SCHEDULERS = {"step": "StepLR", "multistep": "MultiStepLR", "exponential": "ExponentialLR",
              "cosine": "CosineAnnealingLR", "onecycle": "OneCycleLR", "plateau":
              "ReduceLROnPlateau", "linear": "LinearLR", "constant": "ConstantLR",
              "polynomial": "PolynomialLR"}
PER_STEP_SCHEDULERS = {"onecycle"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step."""


class Trainer:
    def __init__(self, cfg, resume=None, run_dir=None, out=None, quiet=False, evaluation=False):
        """``evaluation=True``: the checkpoint in ``resume`` is loaded to be evaluated (clnet
        eval / predict), so only config keys that change the model or the data it sees must
        match the checkpoint's (a resumed run also needs the same batches and optimizer)."""
        self.cfg = cfg
        self._evaluation = evaluation
        # one rank of an MPI job (None alone); set up before any device is touched
        self.dist = None if evaluation else distributed_setup()
        self.is_main = self.dist is None or self.dist.is_main
        self.out = (out or sys.stdout) if self.is_main else open(os.devnull, "w")
        self.quiet = quiet or not self.is_main
        clnet.manual_seed(cfg["seed"])
        try:
            self.device = pick_device(cfg["device"], self.dist)
        except clnet.DeviceError as e:
            raise config_error(cfg, "device", str(e)) from None
        clnet.set_default_device(self.device)
        self._build_data()
        self.model = build_model(cfg, self.info).to(self.device)
        # the training forward: the model, or its DistributedDataParallel wrapper in a job
        self.ddp = None
        if self.dist is not None:
            self.ddp = nn.parallel.DistributedDataParallel(self.model)
        self._build_loss()
        self._build_optimizer()
        self._build_scheduler()
        self.metrics = list(dict.fromkeys(cfg["metrics"]))
        self.epoch = 0            # epochs completed
        self.step = 0             # optimizer steps taken
        self.history = []
        self._acc = _EpochSums()  # running sums of the current epoch
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
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = os.path.join(cfg["run_dir"], cfg["name"], stamp)
            self.run_dir, n = base, 1
            while os.path.exists(self.run_dir):      # two runs started in the same second
                n += 1
                self.run_dir = f"{base}-{n}"
        if self.dist is not None:       # rank 0's folder and run id name every rank's files
            self.run_dir, self.run_id = self.dist.broadcast((self.run_dir, self.run_id))
        self.ckpt_dir = cfg["checkpoint"]["dir"] or os.path.join(self.run_dir, "checkpoints")

    # ------------------------------------------------------------------ building
    def _build_data(self):
        cfg, d = self.cfg, self.cfg["data"]
        args = dict(d["args"])
        if d["download"]:
            args["download"] = True
        transform = transforms_of(cfg)
        if transform is not None:
            args["transform"] = transform
        try:
            full = get_dataset(d["dataset"], "train", root=d["root"], **args)
        except FileNotFoundError as e:
            raise config_error(cfg, "data.root", str(e)) from None
        except (ValueError, TypeError, KeyError) as e:
            raise config_error(cfg, "data.dataset", str(e)) from None
        test_split = "val" if d["dataset"] == "text" else "test"
        try:
            self.test_set = get_dataset(d["dataset"], test_split, root=d["root"],
                                        **{k: v for k, v in args.items() if k != "transform"})
        except (ValueError, FileNotFoundError):
            self.test_set = None
        n_full = len(full)
        if not n_full:
            raise config_error(cfg, "data.dataset", f"the {d['dataset']!r} training split is empty")
        n_val = int(round(n_full * d["val_split"]))
        if n_val >= n_full:
            raise config_error(cfg, "data.val_split", f"{d['val_split']} holds out {n_val:,} of "
                                                      f"the dataset's {n_full:,} samples, leaving "
                                                      "0 training samples")
        if n_val:
            self.train_set, self.val_set = random_split(full, [len(full) - n_val, n_val],
                                                        generator=self.cfg["seed"])
        else:
            self.train_set, self.val_set = full, None
        self.info = data_info(full)
        bs = d["batch_size"]
        self.sampler = None
        if self.dist is not None:
            # this rank's shard; the sampler draws each epoch's order from seed + epoch
            self.sampler = DistributedSampler(self.train_set, self.dist.world_size,
                                              self.dist.rank, shuffle=d["shuffle"],
                                              seed=self.cfg["seed"], drop_last=d["drop_last"])
        self.train_loader = DataLoader(self.train_set, batch_size=bs,
                                       shuffle=d["shuffle"] and self.sampler is None,
                                       sampler=self.sampler, drop_last=d["drop_last"],
                                       generator=self.cfg["seed"], prefetch=d["prefetch"],
                                       device=None)
        if not len(self.train_loader):
            raise config_error(cfg, "data.batch_size", (
                f"the training split has {len(self.train_set):,} samples (the dataset's "
                f"{n_full:,} less data.val_split {d['val_split']}), so batch_size {bs} with "
                "drop_last gives 0 training batches; lower data.batch_size or set "
                "data.drop_last: false"))
        ebs = d["eval_batch_size"] or max(bs, 256)
        self.eval_batch_size = ebs

    def _build_loss(self):
        spec = self.cfg["loss"]
        name, args = (spec, {}) if isinstance(spec, str) else (
            spec.get("name"), {k: v for k, v in spec.items() if k != "name"})
        fn = LOSSES.get(name)
        if fn is None:
            raise config_error(self.cfg, "loss", f"unknown loss {name!r}; expected one of "
                                                 f"{', '.join(LOSSES)}")
        self.loss_name = name
        weight = args.pop("weight", None)
        if weight is not None:
            args["weight"] = clnet.tensor(weight, dtype=clnet.float32)
        try:
            inspect.signature(fn).bind(None, None, **args)
        except TypeError as e:
            raise config_error(self.cfg, "loss", f"{name}: {e}") from None
        self.loss_args = args
        self.loss_fn = fn

    def _build_optimizer(self):
        self.optimizer = self._make_optimizer()

    def _make_optimizer(self):
        spec = dict(self.cfg["optimizer"])
        name = spec.pop("name", None)
        if name not in OPTIMIZERS:
            raise config_error(self.cfg, "optimizer.name", f"unknown optimizer {name!r}; expected "
                                                           f"one of {', '.join(OPTIMIZERS)}")
        cls = getattr(optim, OPTIMIZERS[name])
        check_arguments(cls, spec, self.cfg, "optimizer")
        params = list(self.model.parameters())
        return build_checked(self.cfg, "optimizer", lambda: cls(params, **spec), cls.__name__)

    def _build_scheduler(self):
        self.scheduler, self.sched_name = self._make_scheduler(self.optimizer)

    def _scheduler_spec(self, optimizer):
        """(scheduler class, its keyword arguments, config name) or None."""
        spec = self.cfg["scheduler"]
        if spec is None:
            return None
        spec = dict(spec)
        name = spec.pop("name", None)
        if name not in SCHEDULERS:
            raise config_error(self.cfg, "scheduler.name", f"unknown scheduler {name!r}; "
                                                           f"expected one of {', '.join(SCHEDULERS)}")
        cls = getattr(optim.lr_scheduler, SCHEDULERS[name])
        if name == "onecycle":
            spec.setdefault("total_steps", self.total_steps())
            spec.setdefault("max_lr", optimizer.param_groups[0]["lr"])
        if name == "cosine":
            spec.setdefault("T_max", self.cfg["epochs"])
        check_arguments(cls, spec, self.cfg, "scheduler")
        return cls, spec, name

    def _make_scheduler(self, optimizer):
        made = self._scheduler_spec(optimizer)
        if made is None:
            return None, None
        cls, spec, name = made
        return build_checked(self.cfg, "scheduler", lambda: cls(optimizer, **spec), cls.__name__), name

    def total_steps(self):
        per_epoch = len(self.train_loader)
        total = per_epoch * self.cfg["epochs"]
        return min(total, self.cfg["max_steps"]) if self.cfg["max_steps"] else total

    def describe(self):
        """What the run is; in an MPI job every rank must call it (it gathers the ranks' pids,
        which name the rank in the launcher's messages if one dies)."""
        text = (f"model: {count_parameters(self.model):,} parameters\n{summary(self.model)}\n"
                f"data: {self.cfg['data']['dataset']} train {len(self.train_set)}"
                + (f", val {len(self.val_set)}" if self.val_set is not None else "")
                + (f", test {len(self.test_set)}" if self.test_set is not None else "")
                + f"; device {self.device} ({self.device.name})")
        if self.dist is not None:
            k, bs = self.dist.world_size, self.cfg["data"]["batch_size"]
            text += (f"\n{self.dist.describe()}; batch {bs} per rank, {k * bs} per step "
                     f"(DistributedSampler shards of {len(self.sampler)} samples)")
        return text

    def dry_run(self):
        """What ``clnet train --dry-run`` runs once the Trainer is built (data, model, loss,
        optimizer, scheduler, metrics): one training forward, loss, metrics and backward on the
        first training batch and the scheduler's first steps on a scratch optimizer, so the
        errors a first step or a first epoch end would hit come out now. Writes nothing and
        changes nothing (no optimizer step; weights, buffers, gradients, RNG, data position,
        optimizer and scheduler as before). Returns ``{"loss": float, "input_shape": tuple,
        "output_shape": tuple}``; raises ConfigError naming the config key (or, for a layer
        that fails, naming the layer and the input shapes it got)."""
        from .dryrun import dry_run
        return dry_run(self)

    # ------------------------------------------------------------------ one step
    def _loss_and_logits(self, x, y):
        return self._loss(self.model(x), y)

    def _loss(self, out, y):
        logits, target = out, y
        if out.dim() == y.dim() + 1 and out.shape[:-1] == y.shape and out.dim() > 2:
            logits = out.reshape(-1, out.shape[-1])        # sequence models: (N*T, V)
            target = y.reshape(-1)
        return self.loss_fn(logits, target, **self.loss_args), logits, target

    def _counts(self, logits, target):
        """Correct predictions per metric, as device tensors (read later)."""
        counts = {}
        if logits.dim() != 2 or target.dim() != 1 or target.dtype.is_floating_point:
            return counts
        if "accuracy" in self.metrics:
            counts["accuracy"] = (logits.argmax(1) == target).sum()
        for k in (3, 5):
            if f"top{k}" in self.metrics and logits.shape[1] >= k:
                idx = logits.topk(k, 1).indices
                counts[f"top{k}"] = (idx == target.unsqueeze(1)).any(1).sum()
        return counts

    # ------------------------------------------------------------------ loop
    def fit(self):
        cfg = self.cfg
        if self.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            self._write_config()
            ckpts.write_run_record(self.run_dir, self.run_id, self.ckpt_dir)
            self._write_metrics()      # a resumed run's rows: the checkpoint's, none after it
        max_steps = cfg["max_steps"]
        progress = Progress(self.out, quiet=self.quiet)
        try:
            for epoch in range(self.epoch, cfg["epochs"]):
                if self._pending is None:        # the epoch's batches are still to do
                    if max_steps and self.step >= max_steps:
                        break
                    if not self._train_epoch(epoch, progress, max_steps):
                        break                    # max_steps ended it mid-epoch
                row = self._end_of_epoch(epoch)
                progress.epoch_line(row)
                if self._due("every_epochs", self.epoch):
                    self.save_checkpoint("epoch")
        except KeyboardInterrupt:
            path = self.save_checkpoint("interrupted")
            progress.message(f"\ninterrupted: checkpoint written to {path}; resume with "
                             f"--resume {self.run_dir}")
            raise
        final = self.save_checkpoint("final")
        if self.is_main:
            self._plot()
        test = self.evaluate("test") if self.test_set is not None else {}
        return {"run_dir": self.run_dir, "checkpoint": final, "test": test,
                "history": self.history}

    def _train_epoch(self, epoch, progress, max_steps):
        """The batches of one epoch (or the rest of them, after a resume). Returns False if
        max_steps stopped it before its end; otherwise its train stats wait in ``_pending`` for
        the end of the epoch."""
        model, opt, loader = self.model, self.optimizer, self.train_loader
        model.train()
        per_epoch = len(loader)
        window = []          # (step, loss tensor) since the last read
        acc = self._acc      # this epoch's sums (device tensors), carried over by a resume
        t0 = time.perf_counter()
        start = loader.state_dict()
        done_in_epoch = start["index"] if start["in_progress"] else 0
        progress.start_epoch(epoch + 1, self.cfg["epochs"], per_epoch, done_in_epoch)
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
                    self._acc = _EpochSums()
                    break
            loss, logits, target = self._loss(self.ddp(x) if self.ddp is not None
                                              else model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg["grad_clip"]:
                nn.utils.clip_grad_norm_(model.parameters(), self.cfg["grad_clip"])
            with sigint_deferred():                   # the update and its count, whole
                opt.step()
                if self.sched_name in PER_STEP_SCHEDULERS:
                    self.scheduler.step()
                self.step += 1
                done_in_epoch += 1
                ld = loss.detach()
                window.append((self.step, ld))
                acc.add(ld, target.shape[0], self._counts(logits.detach(), target))
                self._resume_point = None
            last = done_in_epoch == per_epoch or (max_steps and self.step >= max_steps)
            ckpt_due = bool(every_steps) and self.step % every_steps == 0
            if len(window) >= self.cfg["log_every"] or last or ckpt_due:
                running = self._check_window(window)      # checkpoints only after a NaN check
                window = []
                rate = acc.seen_this_run() / max(time.perf_counter() - t0, 1e-9) * (
                    self.dist.world_size if self.dist is not None else 1)
                progress.update(done_in_epoch, running, rate, opt.param_groups[0]["lr"])
            if ckpt_due:
                self.save_checkpoint("step")
        self._epoch_time = time.perf_counter() - t0
        return True

    def _check_window(self, window):
        """Read the window's losses (one host read); stop at the first NaN/Inf, naming its step."""
        values = clnet.stack([v.reshape(()) for _, v in window]).numpy()
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            step = window[bad[0]][0]
            raise TrainingDiverged(
                f"the loss became {values[bad[0]]} at step {step} (epoch {self.epoch + 1}); "
                f"stopping. The last good checkpoint is in {self.ckpt_dir} (if one was written); "
                "try a lower learning rate or grad_clip")
        return float(values[-1])

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
            if self.is_main:
                self._write_metrics()
            self.epoch = epoch + 1
            self._pending = None
        return row

    def _merged(self, acc):
        """The epoch's sums over all ranks (a collective in an MPI job)."""
        if self.dist is None:
            return acc
        return _EpochSums.total(self.dist.gather(acc.to_host()))

    def evaluate(self, split="val"):
        """Metrics of ``split``; in an MPI job each rank evaluates every K-th sample (disjoint
        shards, no padding) and the sums are reduced, so every rank returns the exact metrics."""
        ds = {"val": self.val_set, "test": self.test_set, "train": self.train_set}[split]
        if ds is None:
            return {}
        if self.dist is not None:
            ds = Subset(ds, range(self.dist.rank, len(ds), self.dist.world_size))
        self.model.eval()
        loader = DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, prefetch=True)
        total, n, correct = None, 0, {}
        with clnet.no_grad():
            for x, y in loader:
                loss, logits, target = self._loss_and_logits(x, y)
                m = target.shape[0]
                total = loss * m if total is None else total + loss * m
                n += m
                for k, v in self._counts(logits, target).items():
                    correct[k] = v if k not in correct else correct[k] + v
        self.model.train()
        sums = {"loss": float(total.item()) if n else 0.0, "n": n,
                "correct": {k: float(v.item()) for k, v in correct.items()}}
        if self.dist is not None:
            merged = _EpochSums.total(self.dist.gather(sums))
            sums = {"loss": merged.loss, "n": merged.n, "correct": merged.correct}
        n = sums["n"]
        if not n:
            return {}
        out = {"loss": sums["loss"] / n}
        for k, v in sums["correct"].items():
            out[k] = v / n
        if "perplexity" in self.metrics:
            out["perplexity"] = math.exp(min(out["loss"], 700))
        return out

    # ------------------------------------------------------------------ files
    def _due(self, key, value):
        every = self.cfg["checkpoint"][key]
        return bool(every) and value % every == 0

    def _write_config(self):
        path = os.path.join(self.run_dir, "config.yaml")
        clean = {k: v for k, v in self.cfg.items() if not k.startswith("_")}
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(clean, f, sort_keys=False)

    def _write_metrics(self):
        """metrics.csv from the history (rewritten whole, atomically): a column for every key
        any row has, so a key that first appears in a later row still gets its header."""
        path = os.path.join(self.run_dir, "metrics.csv")
        if not self.history:
            if os.path.exists(path):          # rows of a timeline a resume went back before
                os.remove(path)
            return
        keys = list(dict.fromkeys(k for row in self.history for k in row))
        with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.history)
        os.replace(path + ".tmp", path)

    def _plot(self):
        if not self.history:
            return None
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        epochs = [r["epoch"] for r in self.history]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for key in ("train_loss", "val_loss"):
            if key in self.history[0]:
                axes[0].plot(epochs, [r.get(key, float("nan")) for r in self.history], "o-",
                             label=key)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        for key in ("train_accuracy", "val_accuracy"):
            if key in self.history[0]:
                axes[1].plot(epochs, [r.get(key, float("nan")) for r in self.history], "o-",
                             label=key)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy")
        if axes[1].lines:
            axes[1].legend()
        fig.suptitle(self.cfg["name"])
        fig.tight_layout()
        path = os.path.join(self.run_dir, "curves.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    # ------------------------------------------------------------------ checkpoints
    def state(self):
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": clnet.get_rng_state(),
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

    def save_checkpoint(self, tag):
        """Write a checkpoint (rank 0 only in an MPI job, where every rank calls this)."""
        self._interrupted = tag == "interrupted"
        name = ckpts.checkpoint_name(self.step, tag, self.run_id)
        state = self.state()
        if not self.is_main:
            return os.path.join(self.ckpt_dir, name)
        path = ckpts.write_checkpoint(state, self.ckpt_dir, name)
        ckpts.prune(self.ckpt_dir, self.run_id, self.cfg["checkpoint"]["keep_last"], path)
        return path

    def _resume(self, where):
        path = latest_checkpoint(where)
        state = clnet.load(path, map_location=self.device)
        ckpts.check_state(state, path, self.model, self.optimizer, self.cfg)
        ckpts.check_config(self.cfg, state, path,
                           ckpts.EVALUATION_KEYS if self._evaluation else ckpts.RESUME_KEYS)
        restore = ckpts.restore
        restore("model", path, self.model.load_state_dict, state["model"])
        restore("optimizer", path, self.optimizer.load_state_dict, state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            restore("scheduler", path, self.scheduler.load_state_dict, state["scheduler"])
        restore("RNG", path, clnet.set_rng_state, state["rng"])
        restore("data loader", path, self.train_loader.load_state_dict, state["loader"])
        self.epoch, self.step = restore("position", path, lambda: (int(state["epoch"]),
                                                                   int(state["step"])))
        if self.step:
            self.optimizer._opt_called = True   # it has stepped: the scheduler may step next
        self.history = restore("history", path, lambda: [dict(r) for r in
                                                          state.get("history") or []])
        self._acc = restore("epoch sums", path, _EpochSums.from_host, state.get("epoch_sums"))
        if not self.is_main:
            self._acc = _EpochSums()        # rank 0 carries the checkpoint's sums of all ranks
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
        self.resumed_from = path

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
