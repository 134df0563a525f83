"""What the Trainer builds from config values: the data description a model needs, transforms,
and constructor arguments checked against the class they configure (errors name the config key)."""
import inspect

import numpy as np

from .config import ConfigError, config_error
from .models import DataInfo


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
    from ..data import transforms as T
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
