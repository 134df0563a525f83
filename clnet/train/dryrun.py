"""``Trainer.dry_run()``: one training forward and backward on one batch, and the scheduler's
first steps, with every problem reported against the config key (or the layer) behind it and
nothing left changed. ``clnet train --dry-run`` runs it."""
import inspect
import math
import re
import warnings

from ..autograd import no_grad
from ..data import DataLoader
from ..errors import DeviceError, KernelBuildError
from ..nn.utils import clip_grad_norm_
from ..ops.random import get_rng_state, set_rng_state
from .config import config_error
from .building import PER_STEP_SCHEDULERS
from .callbacks import check_monitored

_PASS_THROUGH = (DeviceError, KernelBuildError)


def dry_run(trainer):
    cfg = trainer.cfg
    d = cfg["data"]
    loader = DataLoader(trainer.train_set, batch_size=d["batch_size"], shuffle=False,
                        drop_last=d["drop_last"], generator=cfg["seed"], prefetch=False)
    try:
        x, y = next(iter(loader))
    except (ValueError, TypeError, IndexError, KeyError) as e:
        key = "data.transforms" if d["transforms"] else "data.dataset"
        raise config_error(cfg, key, f"loading the first training batch failed: "
                                     f"{type(e).__name__}: {e}") from None
    model = trainer.model
    was_training = model.training
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    rng = get_rng_state()
    try:
        model.train()
        with trainer.amp_context():             # the config's precision, as fit() runs
            out = _forward(trainer, x)
            loss, logits, target = _loss(trainer, out, y)
        if loss.numel() != 1:
            spec = cfg["loss"]
            key = "loss.reduction" if isinstance(spec, dict) and "reduction" in spec else "loss"
            raise config_error(cfg, key, f"{trainer.loss_name} gives a loss of shape "
                                         f"{tuple(loss.shape)}, not one number: training needs "
                                         "reduction 'mean' or 'sum'")
        counts = trainer._counts(logits.detach(), target)
        check_monitored(trainer, counts, logits, target)
        loss.backward()
        if cfg["grad_clip"]:
            clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        value = float(loss.detach().item())
    finally:
        for p in model.parameters():
            p.grad = None
        now = dict(model.named_buffers())
        with no_grad():
            for name, saved in buffers.items():
                now[name].copy_(saved)
        set_rng_state(rng)
        model.train(was_training)
    _scheduler(trainer, value)
    return {"loss": value, "input_shape": tuple(x.shape), "output_shape": tuple(out.shape)}


def _forward(trainer, x):
    """model(x); a layer's failure is reported naming the layer and the shapes it got."""
    model = trainer.model
    names = {id(m): n for n, m in model.named_modules()}
    calls = []                   # the modules entered and not yet left: the last one failed

    def enter(mod, args):
        calls.append((mod, args))

    def leave(mod, args, out):
        calls.pop()

    handles = []
    for m in model.modules():
        handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
    try:
        return model(x)
    except (ValueError, TypeError, IndexError, RuntimeError) as e:
        if isinstance(e, _PASS_THROUGH) or not calls:
            raise
        mod, args = calls[-1]
        name = names.get(id(mod), "")
        shapes = ", ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
        what = (f"layer '{name}' ({repr(mod).splitlines()[0]})" if name
                else f"the model ({type(mod).__name__})")
        top = name.split(".")[0]
        key = (f"model.layers[{top}]" if trainer.cfg["model"]["layers"] is not None
               and top.isdigit() else "model")
        raise config_error(trainer.cfg, key, f"{what} failed on input of shape "
                                             f"{shapes or '?'}: {e}") from None
    finally:
        for h in handles:
            h.remove()


def _loss(trainer, out, y):
    try:
        return trainer._loss(out, y)
    except (ValueError, TypeError, IndexError, RuntimeError) as e:
        if isinstance(e, _PASS_THROUGH):
            raise
        spec = trainer.cfg["loss"]
        key = culprit("loss", spec if isinstance(spec, dict) else {}, trainer.loss_fn, e)
        raise config_error(trainer.cfg, key, (
            f"{trainer.loss_name}: {e} (model output {tuple(out.shape)} {out.dtype}, target "
            f"{tuple(y.shape)} {y.dtype})")) from None


MAX_SCHEDULE = 200_000      # scheduler steps the dry run takes at most (host arithmetic only)


def _scheduler(trainer, loss):
    """Step a scheduler built like the real one, on a scratch optimizer, as many times as the
    run will (nothing reads most of a scheduler's arguments before its first step, at the end of
    the first epoch, and some fail only part way: a OneCycleLR with fewer total_steps than the
    run takes); every learning rate it sets must be a finite number."""
    if trainer.sched_name is None:
        return
    cls, spec, name = trainer._scheduler_spec(trainer.optimizer)
    per_step = name in PER_STEP_SCHEDULERS
    # per-epoch schedulers step at each epoch's end: the epochs max_steps lets the run finish
    steps = trainer.total_steps() if per_step else min(
        trainer.cfg["epochs"], trainer.total_steps() // len(trainer.train_loader))
    unit = "step" if per_step else "epoch"
    opt = trainer._make_optimizer()
    sched, _ = trainer._make_scheduler(opt)
    i = 0
    try:
        with warnings.catch_warnings():       # "scheduler stepped before the optimizer"
            warnings.simplefilter("ignore")
            for i in range(1, min(steps, MAX_SCHEDULE) + 1):
                sched.step(loss) if name == "plateau" else sched.step()
                bad = [g["lr"] for g in opt.param_groups if not math.isfinite(float(g["lr"]))]
                if bad:
                    raise ValueError(f"it set the learning rate to {bad[0]}")
    except (ValueError, TypeError, ArithmeticError, IndexError, KeyError) as e:
        key = culprit("scheduler", spec, cls.__init__, e)
        raise config_error(trainer.cfg, key, f"{cls.__name__} failed at {unit} {i} of the "
                                             f"run's {steps}: {type(e).__name__}: {e}") from None


def culprit(prefix, spec, fn, exc):
    """The config key most likely behind ``exc``, raised by ``fn`` given the arguments ``spec``:
    the one argument the message names, else the one string given where the default is not a
    string; else ``prefix`` itself."""
    given = [k for k in spec if k != "name"]
    text = str(exc)
    named = [k for k in given if any(re.search(rf"\b{re.escape(form)}\b", text) for form in
                                     (str(k), str(k).replace("_", " ")))]
    if len(named) == 1:
        return f"{prefix}.{named[0]}"
    params = inspect.signature(fn).parameters
    stringly = [k for k in given if isinstance(spec[k], str) and not (
        k in params and isinstance(params[k].default, str))]
    if len(stringly) == 1:
        return f"{prefix}.{stringly[0]}"
    return prefix
