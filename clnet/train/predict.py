"""Predictions of a trained model on inputs read from a file (``clnet predict``).

An input file holds samples as the config's dataset stores them (``dataset.data``: uint8 0-255
images for the MNIST family, float32 in [0, 1] for digits, int64 token ids for text). Each sample
goes through what a dataset item goes through before the model sees it: the dataset's own
conversion (uint8 images to float32 / 255) and the config's ``data.transforms``, so a model
trained on normalised images is never fed raw pixels. Inputs already converted (float32 for a
dataset that stores uint8) skip the dataset's conversion, not the transforms. Random
augmentations are training-time only: ``RandomHorizontalFlip`` is left out and ``RandomCrop``
becomes a centre crop of the padded image (torchvision's evaluation convention).

Classifiers report the top-k classes with their softmax probabilities, named by the dataset's
``classes`` (Fashion-MNIST's names, digits '0'..'9', a CSV file's label strings) or its text
``vocab`` where it has them, by number otherwise. A model whose output has extra dimensions (a
language model's (N, T, vocab)) gets one row per sample and position.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
import csv
import json
import os

import numpy as np

from ..autograd import no_grad
from ..data import transforms as T
from ..ops.creation import tensor
from ..ops.softmax import softmax
from .building import eval_transform

if TYPE_CHECKING:
    from ..types import PathLike

__all__ = ["Predictions", "InputError", "load_inputs", "prepare_inputs", "eval_transform",
           "class_names", "is_classifier", "predict_array", "predict_file", "write_predictions",
           "output_format", "format_rows", "OUTPUT_FORMATS"]

OUTPUT_FORMATS = (".csv", ".json", ".npy")


class InputError(ValueError):
    """The input file or its samples do not fit the model (``clnet predict --input``)."""


class Predictions:
    """Top-k classes and probabilities of each sample (and position, for outputs with extra
    dimensions).

    ``classes``: int64 (N, P, k), the class indices, most probable first; ``probs``: float32
    (N, P, k), their softmax probabilities; ``names``: the class names (a list) or None; ``P`` is
    1 for an (N, C) output, the product of the extra dimensions otherwise (``positions``: their
    shape). ``labels``: the top-1 class indices in the output's shape less its last dimension."""

    def __init__(self, classes, probs, names, positions):
        self.classes, self.probs, self.names, self.positions = classes, probs, names, positions

    def __len__(self):
        return self.classes.shape[0]

    @property
    def labels(self):
        return self.classes[..., 0].reshape((len(self),) + self.positions)

    def name(self, c):
        c = int(c)
        return self.names[c] if self.names is not None and c < len(self.names) else str(c)

    def rows(self):
        """(sample index, position or None, [(class, name, probability), ...]) per row."""
        many = bool(self.positions)
        for i in range(len(self)):
            for p in range(self.classes.shape[1]):
                top = [(int(c), self.name(c), float(q))
                       for c, q in zip(self.classes[i, p], self.probs[i, p])]
                yield i, (p if many else None), top


def load_inputs(path):
    """The array in a .npy file, or in a .npz file's ``x`` entry (else its first)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"predict: input file {path} not found")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if not keys:
                raise InputError(f"predict: {path} holds no arrays")
            return z["x"] if "x" in keys else z[keys[0]]
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    raise InputError(f"predict: {path}: expected a .npy or .npz file")


def _base_dataset(ds):
    while hasattr(ds, "dataset"):      # Subset / random_split wrappers
        ds = ds.dataset
    return ds


def prepare_inputs(trainer, x):
    """Samples as the dataset stores them -> the model's input array (see the module's
    docstring); the shape is checked against the trainer's ``info.input_shape``."""
    x = np.asarray(x)
    base = _base_dataset(trainer.train_set)
    data = getattr(base, "data", None)
    raw_shape = tuple(np.shape(data)[1:]) if data is not None else trainer.info.input_shape
    raw_dtype = np.asarray(data[:0]).dtype if data is not None else None
    if x.ndim == 0 or (x.shape[1:] != raw_shape
                       and int(np.prod(x.shape[1:])) != int(np.prod(raw_shape))):
        raise InputError(f"predict: inputs of shape {x.shape[1:] if x.ndim else ()} per "
                         f"sample, but the dataset's samples have shape {raw_shape} (the file "
                         "holds one sample per row)")
    x = x.reshape((x.shape[0],) + raw_shape)
    if x.dtype.kind not in "biuf":
        raise InputError(f"predict: inputs of dtype {x.dtype}; expected numbers")
    convert = getattr(base, "_convert", None)
    if convert is not None and raw_dtype is not None and x.dtype == raw_dtype:
        x = convert(x)                 # the dataset's own conversion (uint8 -> float32 / 255)
    transform = eval_transform(getattr(base, "transform", None))
    if transform is not None and len(x):
        try:
            x = np.stack([np.asarray(transform(s)) for s in x])
        except ValueError as e:
            raise InputError(f"predict: the config's data.transforms refused the input: {e}") \
                from None
    want = trainer.info.input_shape
    if x.shape[1:] != want:
        raise InputError(f"predict: after the dataset's conversion and transforms the samples "
                         f"have shape {x.shape[1:]}, but the model takes {want}")
    return x.astype(np.int64 if trainer.info.dtype == "int64" else np.float32, copy=False)


def class_names(trainer):
    """The dataset's class names (or text vocabulary) as strings, or None."""
    base = _base_dataset(trainer.train_set)
    for attr in ("classes", "vocab"):
        names = getattr(base, attr, None)
        if isinstance(names, (list, tuple)) and names:
            return [str(n) for n in names]
    return None


NOT_A_CLASSIFIER = ("predict: the config's dataset has no classes (a regression target), so there "
                    "are no classes or probabilities to report; run trainer.model on the samples "
                    "(clnet.train.Trainer(cfg, resume=RUN, evaluation=True)) for its outputs")


def is_classifier(trainer):
    """Whether the trainer's dataset has classes (or a vocabulary) its model predicts."""
    return trainer.info.num_classes is not None or trainer.info.vocab_size is not None


def predict_array(trainer: Any, x: np.ndarray, top_k: int = 1,
                  batch_size: int = 256) -> Predictions:
    """Top-``top_k`` predictions (a ``Predictions``) of the trainer's model on raw samples
    ``x``."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"predict: top_k must be a positive integer, got {top_k!r}")
    if not is_classifier(trainer):
        raise ValueError(NOT_A_CLASSIFIER)
    x = prepare_inputs(trainer, x)
    model = trainer.model
    was_training = model.training
    model.eval()
    classes, probs, positions = [], [], None
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                logits = model(tensor(x[i:i + batch_size]))
                if logits.dim() < 2:
                    raise ValueError(f"predict: the model returned shape {tuple(logits.shape)}; "
                                     "class predictions need (N, classes) outputs")
                n_classes = logits.shape[-1]
                if top_k > n_classes:
                    raise ValueError(f"predict: --top-k {top_k} but the model has {n_classes} "
                                     "classes")
                positions = tuple(logits.shape[1:-1])
                p = softmax(logits.reshape(logits.shape[0], -1, n_classes), dim=-1)
                values, indices = p.topk(top_k, dim=-1)
                classes.append(indices.numpy().astype(np.int64))
                probs.append(values.numpy().astype(np.float32))
    finally:
        model.train(was_training)
    if not classes:
        positions = ()
        return Predictions(np.zeros((0, 1, top_k), np.int64), np.zeros((0, 1, top_k), np.float32),
                           class_names(trainer), positions)
    return Predictions(np.concatenate(classes), np.concatenate(probs), class_names(trainer),
                       positions)


def predict_file(trainer: Any, path: PathLike, top_k: int = 1,
                 batch_size: int = 256) -> Predictions:
    """``predict_array`` on the samples of a .npy/.npz file."""
    return predict_array(trainer, load_inputs(path), top_k=top_k, batch_size=batch_size)


def output_format(path):
    """The format ``write_predictions`` writes to ``path``, from its extension."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ValueError(f"predict: cannot tell the output format of {path}: its extension must "
                         f"be {', '.join(OUTPUT_FORMATS)} (CSV rows, a JSON list, or a numpy "
                         "array of the top-1 classes)")
    return ext[1:]


def write_predictions(preds, path):
    """Write ``preds`` to ``path``: CSV (a header row, then one row per sample and position:
    index[, position], then class_j, name_j, probability_j for j = 1..k), JSON (a list of
    {"index", ["position"], "top": [{"class", "name", "probability"}, ...]}) or .npy (the top-1
    classes, shaped like the model's output less its last dimension)."""
    fmt = output_format(path)
    if fmt == "npy":
        np.save(path, preds.labels)
        return
    k = preds.classes.shape[2]
    many = bool(preds.positions)
    with open(path, "w", newline="", encoding="utf-8") as f:
        if fmt == "json":
            rows = []
            for i, p, top in preds.rows():
                row = {"index": i}
                if many:
                    row["position"] = p
                row["top"] = [{"class": c, "name": n, "probability": q} for c, n, q in top]
                rows.append(row)
            json.dump(rows, f, indent=1)
            f.write("\n")
            return
        w = csv.writer(f)
        head = ["index"] + (["position"] if many else [])
        for j in range(1, k + 1):
            head += [f"class_{j}", f"name_{j}", f"probability_{j}"]
        w.writerow(head)
        for i, p, top in preds.rows():
            row = [i] + ([p] if many else [])
            for c, n, q in top:
                row += [c, n, f"{q:.6g}"]
            w.writerow(row)


def format_rows(preds):
    """Lines for a terminal: index[:position], then each top class's name and probability,
    tab-separated (names may hold spaces: "Ankle boot")."""
    def shown(n):       # a text vocabulary's '\n' or '\t' must not break the line
        return n if n.isprintable() else n.encode("unicode_escape").decode("ascii")
    for i, p, top in preds.rows():
        head = str(i) if p is None else f"{i}:{p}"
        yield "\t".join([head] + [f"{shown(n)} {q:.4f}" for _, n, q in top])
