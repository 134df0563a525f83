"""The config's ``capture:``: whether ``clnet train`` captures its training step (clnet.graphs)
and replays it, and the step itself.

One training step (forward under the config's precision, loss, backward, gradient clipping,
optimizer update, the metrics' correct counts) is one function, run eagerly or through
``clnet.graphs.graphed_step``: ``WARMUP`` eager steps (the optimizer's state, the programs),
then a capture, then replays. Replays give the same bits as eager steps, so metrics, checkpoints
and resumes are the same either way.

- ``auto`` (the default) captures when that is known to be safe: a model built only of clnet's
  modules (a module of your own may run Python that changes between steps, e.g. a counter, which
  a replay would not run), one process (DistributedDataParallel exchanges gradients through host
  memory), no GradScaler (precision fp16 decides on the host whether to skip a step). When a
  capture is refused (a host read inside the step, more than ``MAX_GRAPHS`` batch shapes), the run
  goes on eagerly from that step, saying why in one line.
- ``on`` captures whatever the model, and stops with the reason when it cannot.
- ``off`` never captures.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from ..graphs import GraphCaptureError, graphed_step
from ..nn.utils import clip_grad_norm_
from .config import config_error

WARMUP = 2
MAX_GRAPHS = 4


def _hard_reasons(trainer):
    """Why the step cannot be captured at all (each a phrase)."""
    out = []
    if trainer.ddp is not None:
        out.append("DistributedDataParallel exchanges gradients through host memory (MPI)")
    if trainer.scaler is not None:
        out.append("precision fp16's GradScaler decides on the host whether to skip each step")
    return out


def _foreign_modules(model):
    names = sorted({type(m).__name__ for m in model.modules()
                    if not type(m).__module__.startswith("clnet.")})
    if not names:
        return []
    return [f"the model has modules defined outside clnet ({', '.join(names)}), whose Python may "
            "change between steps where a replay would not follow; set capture: on to capture "
            "it anyway"]


class StepRunner:
    """``runner(x, y)`` runs one training step (captured or not) and returns ``(loss, batch
    size, correct counts)``: tensors of its own, which the loop may keep. The loop calls it
    under ``sigint_deferred``: a Ctrl-C takes the update and its count whole or not at all."""

    def __init__(self, trainer, say: Callable[[str], None]) -> None:
        self.t = trainer
        mode = trainer.cfg.get("capture", "auto")
        self.mode = {True: "on", False: "off"}.get(mode, mode)    # YAML's unquoted on/off
        self.say = say
        self.graphed: Optional[Any] = None
        reasons = [] if self.mode == "off" else _hard_reasons(trainer)
        if self.mode == "auto":
            reasons += _foreign_modules(trainer.model)
        if self.mode == "on" and reasons:
            raise config_error(trainer.cfg, "capture", "capture: on, but the training step "
                               f"cannot be captured: {'; '.join(reasons)}")
        if self.mode == "off":
            say("capture: off (the training step runs eagerly)")
        elif reasons:
            say(f"capture: off (auto): {'; '.join(reasons)}")
        else:
            self.graphed = graphed_step(self.step, warmup=WARMUP, max_graphs=MAX_GRAPHS,
                                        watch=(trainer.model, trainer.optimizer))
            say(f"capture: {self.mode}: the training step is captured after {WARMUP} eager "
                "steps and replayed (clnet.graphs)")

    def step(self, x, y) -> Tuple[Any, int, Dict[str, Any]]:
        """Forward, loss, backward, clipping, update: the whole step, as captured."""
        t = self.t
        with t.amp_context():                     # precision bf16/fp16: autocast
            loss, logits, target = t._loss(t.ddp(x) if t.ddp is not None else t.model(x), y)
        t.optimizer.zero_grad(set_to_none=True)
        scaler = t.scaler                         # precision fp16: loss scaling
        (loss if scaler is None else scaler.scale(loss)).backward()
        if t.cfg["grad_clip"]:
            if scaler is not None:
                scaler.unscale_(t.optimizer)      # clip the true gradients
            clip_grad_norm_(t.model.parameters(), t.cfg["grad_clip"])
        if scaler is None:
            t.optimizer.step()
        else:                                     # skipped on inf/NaN gradients
            scaler.step(t.optimizer)
            scaler.update()
        return loss.detach(), target.shape[0], t._counts(logits.detach(), target)

    def __call__(self, x, y):
        if self.graphed is None:
            return self.step(x, y)
        try:
            loss, n, counts = self.graphed(x, y)
        except GraphCaptureError as e:
            if self.mode == "on":
                raise config_error(self.t.cfg, "capture", "capture: on, but the training step "
                                   f"cannot be captured: {e}") from e
            self.graphed = None
            self.say(f"capture: off from step {self.t.step + 1}: {e}")
            return self.step(x, y)
        # the graph's outputs are rewritten by the next replay: the loop keeps copies
        return loss.clone(), n, {k: v.clone() for k, v in counts.items()}
