"""What the Trainer builds from config values, each named through a Registry (registry.py):
the data (splits, loaders, the description a model needs), the loss, the optimizer and the
scheduler, with constructor arguments checked against what they configure (errors name the
config key). ``clnet train``, ``clnet eval`` and ``clnet predict`` all build through here."""
import inspect

import numpy as np

from ..optim import (SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop,
                     lr_scheduler as _S)
from ..data import DataLoader, DistributedSampler, random_split
from ..data import transforms as T
from ..dtypes import float32
from ..nn import functional as F
from ..ops.creation import tensor
from .config import ConfigError, config_error
from .models import DataInfo
from .registry import DatasetRegistry, Registry

LOSSES = Registry("loss", "loss", {
    "cross_entropy": F.cross_entropy, "nll": F.nll_loss, "mse": F.mse_loss, "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss, "huber": F.huber_loss, "bce": F.binary_cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits})
OPTIMIZERS = Registry("optimizer", "optimizer.name", {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
    "adadelta": Adadelta})
SCHEDULERS = Registry("scheduler", "scheduler.name", {
    "step": _S.StepLR, "multistep": _S.MultiStepLR, "exponential": _S.ExponentialLR,
    "cosine": _S.CosineAnnealingLR, "onecycle": _S.OneCycleLR, "plateau": _S.ReduceLROnPlateau,
    "linear": _S.LinearLR, "constant": _S.ConstantLR, "polynomial": _S.PolynomialLR})
DATASETS = DatasetRegistry()
# schedulers stepped after every optimizer step; the others step at the end of an epoch
PER_STEP_SCHEDULERS = {"onecycle"}


class RunData:
    """The data of a run: its splits, the training loader (and sampler in an MPI job), the
    evaluation batch size and the ``DataInfo`` a model is built from."""

    def __init__(self, train_set, val_set, test_set, info, train_loader, sampler,
                 eval_batch_size):
        self.train_set, self.val_set, self.test_set = train_set, val_set, test_set
        self.info = info
        self.train_loader, self.sampler = train_loader, sampler
        self.eval_batch_size = eval_batch_size


def build_data(cfg, dist=None):
    """The splits and loaders of ``cfg["data"]`` (``dist``: this rank of an MPI job, or None)."""
    d = cfg["data"]
    args = dict(d["args"])
    if d["download"]:
        args["download"] = True
    transform = transforms_of(cfg)
    if transform is not None:
        args["transform"] = transform
    make = DATASETS.lookup(d["dataset"], cfg)
    try:
        full = make("train", root=d["root"], **args)
    except FileNotFoundError as e:
        raise config_error(cfg, "data.root", str(e)) from None
    except (ValueError, TypeError, KeyError) as e:
        raise config_error(cfg, "data.dataset", str(e)) from None
    test_split = "val" if d["dataset"] == "text" else "test"
    if transform is not None:
        # the test split sees the config's transforms too (a Normalize the model was trained
        # behind), with random augmentations made deterministic
        args["transform"] = eval_transform(transform)
        if args["transform"] is None:
            del args["transform"]
    try:
        test_set = make(test_split, root=d["root"], **args)
    except (ValueError, FileNotFoundError):
        test_set = None
    n_full = len(full)
    if not n_full:
        raise config_error(cfg, "data.dataset", f"the {d['dataset']!r} training split is empty")
    n_val = int(round(n_full * d["val_split"]))
    if n_val >= n_full:
        raise config_error(cfg, "data.val_split", f"{d['val_split']} holds out {n_val:,} of "
                                                  f"the dataset's {n_full:,} samples, leaving "
                                                  "0 training samples")
    if n_val:
        train_set, val_set = random_split(full, [len(full) - n_val, n_val],
                                          generator=cfg["seed"])
    else:
        train_set, val_set = full, None
    bs = d["batch_size"]
    sampler = None
    if dist is not None:
        # this rank's shard; the sampler draws each epoch's order from seed + epoch
        sampler = DistributedSampler(train_set, dist.world_size, dist.rank,
                                     shuffle=d["shuffle"], seed=cfg["seed"],
                                     drop_last=d["drop_last"])
    loader = DataLoader(train_set, batch_size=bs, shuffle=d["shuffle"] and sampler is None,
                        sampler=sampler, drop_last=d["drop_last"], generator=cfg["seed"],
                        prefetch=d["prefetch"], device=None)
    if not len(loader):
        raise config_error(cfg, "data.batch_size", (
            f"the training split has {len(train_set):,} samples (the dataset's "
            f"{n_full:,} less data.val_split {d['val_split']}), so batch_size {bs} with "
            "drop_last gives 0 training batches; lower data.batch_size or set "
            "data.drop_last: false"))
    return RunData(train_set, val_set, test_set, data_info(full), loader, sampler,
                   d["eval_batch_size"] or max(bs, 256))


def eval_transform(transform):
    """``transform`` (a dataset's) for inference: random augmentations made deterministic."""
    if transform is None:
        return None
    parts = transform.transforms if isinstance(transform, T.Compose) else [transform]
    out = []
    for t in parts:
        if isinstance(t, T.RandomHorizontalFlip):
            continue
        out.append(T.Lambda(t.centre) if isinstance(t, T.RandomCrop) else t)
    return T.Compose(out) if out else None


def build_loss(cfg):
    """(name, loss function, its keyword arguments) of ``cfg["loss"]``."""
    spec = cfg["loss"]
    name, args = (spec, {}) if isinstance(spec, str) else (
        spec.get("name"), {k: v for k, v in spec.items() if k != "name"})
    fn = LOSSES.lookup(name, cfg)
    weight = args.pop("weight", None)
    if weight is not None:
        args["weight"] = tensor(weight, dtype=float32)
    try:
        inspect.signature(fn).bind(None, None, **args)
    except TypeError as e:
        raise config_error(cfg, "loss", f"{name}: {e}") from None
    return name, fn, args


def build_optimizer(cfg, params):
    """The optimizer ``cfg["optimizer"]`` names, over ``params``."""
    spec = dict(cfg["optimizer"])
    cls = OPTIMIZERS.lookup(spec.pop("name", None), cfg)
    check_arguments(cls, spec, cfg, "optimizer")
    params = list(params)
    return build_checked(cfg, "optimizer", lambda: cls(params, **spec), cls.__name__)


def scheduler_spec(cfg, optimizer, total_steps):
    """(scheduler class, its keyword arguments, config name), or None without a scheduler.
    ``total_steps``: the optimizer steps the run takes (OneCycleLR's default length)."""
    spec = cfg["scheduler"]
    if spec is None:
        return None
    spec = dict(spec)
    name = spec.pop("name", None)
    cls = SCHEDULERS.lookup(name, cfg)
    if name == "onecycle":
        spec.setdefault("total_steps", total_steps)
        spec.setdefault("max_lr", optimizer.param_groups[0]["lr"])
    if name == "cosine":
        spec.setdefault("T_max", cfg["epochs"])
    check_arguments(cls, spec, cfg, "scheduler")
    return cls, spec, name


def build_scheduler(cfg, optimizer, total_steps):
    """(scheduler, its config name), or (None, None) without one."""
    made = scheduler_spec(cfg, optimizer, total_steps)
    if made is None:
        return None, None
    cls, spec, name = made
    return build_checked(cfg, "scheduler", lambda: cls(optimizer, **spec), cls.__name__), name


def total_steps(cfg, steps_per_epoch):
    """The optimizer steps a run of ``cfg`` takes: its epochs, or max_steps if that is fewer."""
    total = steps_per_epoch * cfg["epochs"]
    return min(total, cfg["max_steps"]) if cfg["max_steps"] else total


def data_info(ds):
    x, y = ds[0]
    shape = np.shape(x)
    vocab = getattr(base_dataset(ds), "vocab_size", None)
    classes = getattr(base_dataset(ds), "num_classes", None)
    if classes is None and hasattr(base_dataset(ds), "classes"):
        classes = len(base_dataset(ds).classes)
    if classes is None and vocab is None:
        targets = getattr(base_dataset(ds), "targets", None)
        if targets is not None and np.asarray(targets).dtype.kind in "iu":
            classes = int(np.max(targets)) + 1
    dtype = "int64" if np.asarray(x).dtype.kind in "iu" else "float32"
    return DataInfo(shape, classes, vocab, dtype)


def base_dataset(ds):
    while hasattr(ds, "dataset"):
        ds = ds.dataset
    return ds


def build_checked(cfg, key, factory, name):
    """factory() with bad argument values reported against the config key."""
    try:
        return factory()
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise config_error(cfg, key, f"{name}: {e}") from None


def check_arguments(cls, spec, cfg, key):
    """Refuse config keys the class's constructor does not take, naming the accepted ones."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for k in spec:
        if k not in params:
            accepted = [p for p in params if p not in ("self", "params", "optimizer")]
            raise config_error(cfg, f"{key}.{k}", f"{cls.__name__} has no argument {k!r}; "
                                                  f"accepted: {', '.join(accepted)}")


def transforms_of(cfg):
    specs = cfg["data"]["transforms"]
    if not specs:
        return None
    out = []
    for i, spec in enumerate(specs):
        key = f"data.transforms[{i}]"
        name, args = (spec, None) if isinstance(spec, str) else next(iter(spec.items()))
        cls = getattr(T, name, None)
        if cls is None or not callable(cls):
            raise config_error(cfg, key, f"unknown transform {name!r}")
        try:
            out.append(cls() if args is None else cls(*args) if isinstance(args, list)
                       else cls(**args) if isinstance(args, dict) else cls(args))
        except (TypeError, ValueError) as e:
            raise config_error(cfg, key, f"{name}: {e}") from None
    return T.Compose(out) if len(out) > 1 else out[0]
