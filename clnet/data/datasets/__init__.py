"""Built-in datasets and the name registry the config-driven trainer uses.

``get_dataset(name, split, root=None, **kwargs)`` builds one split of a dataset by name; keyword
arguments go to the dataset's class (unknown ones are an error listing the accepted ones).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional
import inspect

from .base import ArrayDataset, split_indices
from .digits import Digits
from .files import CsvDataset, NpzDataset
from .idx import EMNIST, KMNIST, MNIST, FashionMNIST, IdxDataset, read_idx, write_idx
from .synthetic import Synthetic
from .text import CharText

if TYPE_CHECKING:
    from ..dataset import Dataset

if TYPE_CHECKING:
    from ...types import PathLike

__all__ = ["ArrayDataset", "Digits", "IdxDataset", "MNIST", "FashionMNIST", "KMNIST", "EMNIST",
           "CharText", "NpzDataset", "CsvDataset", "Synthetic", "get_dataset",
           "register_dataset", "dataset_names", "read_idx", "write_idx", "split_indices"]


def _idx(name):
    def build(split, root=None, **kwargs):
        return IdxDataset(name, split, root, **kwargs)
    build.target = IdxDataset
    return build


def _with_path(cls):
    # npz/csv/text read one file: `root` may name it when `path` is not given
    def build(split, root=None, **kwargs):
        if kwargs.get("path") is None and root is not None:
            kwargs["path"] = root
        return cls(split=split, **kwargs)
    build.target = cls
    return build


def _plain(cls):
    def build(split, root=None, **kwargs):    # root is accepted (configs pass it) and unused
        return cls(split=split, **kwargs)
    build.target = cls
    return build


_REGISTRY = {
    "digits": _plain(Digits),
    "mnist": _idx("mnist"),
    "fashion-mnist": _idx("fashion-mnist"),
    "kmnist": _idx("kmnist"),
    "emnist": _idx("emnist"),
    "text": _with_path(CharText),
    "npz": _with_path(NpzDataset),
    "csv": _with_path(CsvDataset),
    "synthetic": _plain(Synthetic),
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}


def dataset_names() -> List[str]:
    return sorted(_REGISTRY)


def register_dataset(name: str, factory: Callable[..., Dataset]) -> None:
    """Make ``get_dataset(name, split, root, **kwargs)`` call ``factory(split, root=root,
    **kwargs)``."""
    if not callable(factory):
        raise TypeError(f"register_dataset: factory for {name!r} is not callable")
    _REGISTRY[name.lower()] = factory


def _accepted(factory):
    target = getattr(factory, "target", factory)
    params = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return [n for n, p in params.items() if n not in ("self", "split", "name")]


def get_dataset(name: str, split: str = "train", root: Optional[PathLike] = None,
                **kwargs: Any) -> Dataset:
    """One split of the dataset called ``name`` (see ``dataset_names()``)."""
    if not isinstance(name, str):
        raise TypeError(f"get_dataset: name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: "
                         f"{', '.join(dataset_names())}")
    factory = _REGISTRY[key]
    accepted = _accepted(factory)
    if accepted is not None:
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise TypeError(f"dataset {key!r} got unknown argument(s) {unknown}; it accepts "
                            f"{', '.join(a for a in accepted if a != 'root')}")
    return factory(split, root=root, **kwargs)
