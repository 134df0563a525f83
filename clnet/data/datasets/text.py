"""``CharText``: a character-level language-modelling dataset from any text file.

The default corpus is the text of the Python standard library's ``pydoc_data.topics`` (the
help topics' values joined in key order, about 465,000 characters), so it needs no download.
The vocabulary is every character of the whole corpus in sorted (code point) order: the same
text always gives the same char <-> index mapping, in both splits.

Item i is (input, target): ``seq_len`` int64 indices starting at ``i * stride`` and the same
window shifted by one character. The first ``1 - val_fraction`` of the text is 'train', the rest
'val' ('test' is the same held-out tail), so no window straddles the two.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional
import numpy as np

from .base import ArrayDataset, check_split

if TYPE_CHECKING:
    from ...nn.common_types import _size_any_t
    from ...tensor import Tensor
    from ...types import PathLike


def default_corpus() -> str:
    from pydoc_data import topics  # a large stdlib text module: loaded only for this corpus
    return "\n".join(topics.topics[k] for k in sorted(topics.topics))


class CharText(ArrayDataset):

    def __init__(self, split: str = "train", path: Optional[PathLike] = None, seq_len: int = 64,
                 stride: Optional[int] = None, val_fraction: float = 0.1,
                 text: Optional[str] = None,
                 encoding: str = "utf-8", transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None) -> None:
        check_split("text", split, ("train", "val", "test", "all"))
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) \
                or seq_len <= 0:
            raise ValueError(f"text: seq_len must be a positive integer, got {seq_len!r}")
        stride = seq_len if stride is None else stride
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride <= 0:
            raise ValueError(f"text: stride must be a positive integer, got {stride!r}")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"text: val_fraction must be in [0, 1), got {val_fraction}")
        if text is None:
            if path is None:
                text = default_corpus()
            else:
                with open(path, encoding=encoding) as f:
                    text = f.read()
        self.vocab = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        codes = np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        n_train = len(codes) - int(round(len(codes) * val_fraction))
        part = {"train": codes[:n_train], "all": codes}.get(split, codes[n_train:])
        if len(part) < seq_len + 1:
            raise ValueError(f"text: the {split} split has {len(part)} characters, fewer than "
                             f"seq_len + 1 = {seq_len + 1}")
        windows = np.lib.stride_tricks.sliding_window_view(part, seq_len + 1)[::stride]
        super().__init__(windows[:, :-1], windows[:, 1:], transform, target_transform)
        self.split, self.seq_len, self.stride = split, seq_len, stride

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        """A string -> int64 indices (raises KeyError naming a character not in the vocab)."""
        try:
            return np.array([self.stoi[c] for c in s], dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"text: character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, indices: Any) -> str:
        return "".join(self.vocab[int(i)] for i in np.asarray(indices).reshape(-1))
