"""Evaluation: the loss of a batch as the config defines it, the correct-prediction counts of
the configured metrics, and the metrics of a whole split (``Trainer.evaluate``)."""
from __future__ import annotations

from typing import Any, ContextManager, Dict
import contextlib
import math

from ..amp import autocast
from ..autograd import no_grad
from ..dtypes import bfloat16, float16
from ..data import DataLoader, Subset
from .sums import EpochSums


_AMP_DTYPES = {"bf16": bfloat16, "fp16": float16}


class Evaluation:
    """The Trainer's evaluation methods (a mixin: it reads the Trainer's model, loss, metrics,
    splits and, in an MPI job, ``dist``)."""

    def amp_context(self) -> ContextManager[Any]:
        """The config's precision over a forward and its loss: bf16/fp16 run under
        clnet.autocast with torch's op lists of the device's kind (CUDA's on an OpenCL GPU, CPU's
        otherwise), fp32 under nothing."""
        dt = _AMP_DTYPES.get(self.cfg.get("precision", "fp32"))
        if dt is None:
            return contextlib.nullcontext()
        return autocast("cuda" if self.device.kind == "GPU" else "cpu", dtype=dt)

    def _loss_and_logits(self, x, y):
        with self.amp_context():
            return self._loss(self.model(x), y)

    def _loss(self, out, y):
        """(loss, logits, target): sequence models' (N, T, V) outputs are flattened to
        (N*T, V) against (N*T,) targets, as a language model's loss is taken."""
        logits, target = out, y
        if out.dim() == y.dim() + 1 and out.shape[:-1] == y.shape and out.dim() > 2:
            logits = out.reshape(-1, out.shape[-1])
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

    def _merged(self, acc):
        """The epoch's sums over all ranks (a collective in an MPI job)."""
        if self.dist is None:
            return acc
        return EpochSums.total(self.dist.gather(acc.to_host()))

    def evaluate(self, split: str = "val") -> Dict[str, float]:
        """Metrics of ``split``; in an MPI job each rank evaluates every K-th sample (disjoint
        shards, no padding) and the sums are reduced, so every rank returns the exact metrics."""
        ds = {"val": self.val_set, "test": self.test_set, "train": self.train_set}[split]
        if ds is None:
            return {}
        if self.dist is not None:
            ds = Subset(ds, range(self.dist.rank, len(ds), self.dist.world_size))
        self.model.eval()
        loader = DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, prefetch=True)
        total: Any = None           # the loss sum, on the device
        n = 0
        correct: Dict[str, Any] = {}
        progress = getattr(self, "_progress", None)     # fit()'s: a bar for val and test
        with no_grad():
            for x, y in (loader if progress is None else progress.track(loader, split)):
                loss, logits, target = self._loss_and_logits(x, y)
                m = target.shape[0]
                total = loss * m if total is None else total + loss * m
                n += m
                for k, v in self._counts(logits, target).items():
                    correct[k] = v if k not in correct else correct[k] + v
        self.model.train()
        sums: Dict[str, Any] = {"loss": float(total.item()) if n else 0.0, "n": n,
                "correct": {k: float(v.item()) for k, v in correct.items()}}
        if self.dist is not None:
            merged = EpochSums.total(self.dist.gather(sums))
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
