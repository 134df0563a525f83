"""The one way a config names a component: a ``Registry`` of name -> object per kind.

Losses, optimizers, schedulers, model architectures and datasets are each a ``Registry``:
``REG.lookup(name, cfg)`` returns what ``name`` stands for or raises a ConfigError at the config
key that names it ("unknown optimizer 'adan'; expected one of sgd, adam, ..."), and
``REG.register(name)`` adds one (as a decorator or with the object). A registry is a read-only
mapping, so ``list(OPTIMIZERS)`` or ``"adam" in OPTIMIZERS`` work as on a dict.
"""
from collections.abc import Mapping

from ..data import dataset_names, get_dataset, register_dataset
from .config import config_error


class Registry(Mapping):
    """Names of one kind of component (``kind``: "loss"), looked up at config key ``key``."""

    def __init__(self, kind, key, entries=()):
        self.kind = kind
        self.key = key
        self._entries = dict(entries)

    def register(self, name, obj=None):
        """``REG.register("name", obj)``, or ``@REG.register("name")`` above a definition."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} registry: a name must be a non-empty string, got "
                            f"{name!r}")
        if obj is None:
            def mark(target):
                self._entries[name] = target
                return target
            return mark
        self._entries[name] = obj
        return obj

    def lookup(self, name, cfg):
        """What ``name`` stands for; a ConfigError at ``self.key`` of ``cfg`` if it is unknown."""
        if isinstance(name, str) and name in self:
            return self[name]
        raise config_error(cfg, self.key, f"unknown {self.kind} {name!r}; expected one of "
                                          f"{', '.join(self)}")

    def __getitem__(self, name):
        return self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self)})"


class DatasetRegistry(Registry):
    """The datasets ``clnet.data.get_dataset`` knows (its own registry, which
    ``clnet.data.register_dataset`` extends), seen as a Registry: an entry is a function
    ``(split, root=None, **kwargs) -> Dataset``. Spellings ``get_dataset`` accepts besides the
    listed names (``fashion_mnist`` for ``fashion-mnist``) are left to it to resolve, and its
    refusal of a name it does not know is reported at ``data.dataset`` like any unknown name."""

    def __init__(self):
        super().__init__("dataset", "data.dataset")

    def register(self, name, obj=None):
        if obj is None:
            def mark(target):
                register_dataset(name, target)
                return target
            return mark
        register_dataset(name, obj)
        return obj

    def lookup(self, name, cfg):
        if not isinstance(name, str):
            return super().lookup(name, cfg)

        def build(split, root=None, **kwargs):
            return get_dataset(name, split, root=root, **kwargs)
        return build

    def __getitem__(self, name):
        if name not in self._names():
            raise KeyError(name)
        return lambda split, root=None, **kwargs: get_dataset(name, split, root=root, **kwargs)

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    @staticmethod
    def _names():
        return dataset_names()
