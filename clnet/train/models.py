"""Models a config can name: built-in architectures, a list of clnet.nn layers, or a Module
class (or a function marked with ``@model_factory``) by import path. Input and output sizes come
from the dataset (``DataInfo``) unless given.

``model.module: package.module:Name`` imports ``package.module``, which runs that module's
top-level code, like Hydra's ``_target_``: a config is trusted like code. What is then called is
restricted: only a ``clnet.nn.Module`` subclass (checked before anything is called) or a function
marked with ``@model_factory`` (whose result must be a ``clnet.nn.Module``); anything else that
the import path names, such as ``os:system``, is refused without being called.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Sequence, TypeVar
import importlib
import inspect
import re

import numpy as np

from .. import nn
from ..nn.functional import _causal_mask
from ..ops.creation import arange
from .config import config_error
from .registry import Registry

if TYPE_CHECKING:
    from ..tensor import Tensor


class DataInfo:
    """What a model needs to know about its data: one sample's shape, classes, vocabulary."""

    def __init__(self, input_shape: Sequence[int], num_classes: Optional[int] = None,
                 vocab_size: Optional[int] = None, dtype: str = "float32") -> None:
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.vocab_size = vocab_size
        self.dtype = dtype

    @property
    def in_features(self) -> int:
        return int(np.prod(self.input_shape)) if self.input_shape else 1

    def classes(self, arch: str) -> int:
        """``num_classes``, for a model with one output per class: data without classes
        (regression targets) is refused naming the model, not deep inside a layer's build."""
        if self.num_classes is None:
            hint = "; set model.args.out_features" if arch == "mlp" else ""
            raise ValueError(f"{arch}: the dataset has no classes (regression targets?), and "
                             f"the model ends in one output per class{hint}")
        return self.num_classes

    def vocabulary(self, arch: str) -> int:
        """``vocab_size``, for a model over token indices (a text dataset)."""
        if self.vocab_size is None:
            raise ValueError(f"{arch}: the dataset has no vocabulary; the model reads token "
                             "indices of a text dataset (data.dataset: text)")
        return self.vocab_size


def _act(name):
    table = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
             "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(table)}")
    return table[name]()


def mlp(info: DataInfo, hidden: Sequence[int] = (256,), activation: str = "relu",
        dropout: float = 0.0, out_features: Optional[int] = None) -> nn.Sequential:
    """Flatten -> [Linear -> activation (-> Dropout)] * len(hidden) -> Linear."""
    out = out_features or info.classes("mlp")
    layers: List[nn.Module] = [nn.Flatten()]
    prev = info.in_features
    for h in hidden:
        layers += [nn.Linear(prev, h), _act(activation)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        prev = h
    layers.append(nn.Linear(prev, out))
    return nn.Sequential(*layers)


def lenet(info: DataInfo, channels: Sequence[int] = (10, 20), kernel_size: int = 5,
          hidden: int = 50, dropout: float = 0.0, padding: Optional[int] = None) -> nn.Sequential:
    """The MNIST tutorial ConvNet: Conv-MaxPool-ReLU twice, then Linear-ReLU-Linear.

    ``padding`` defaults to 0 for 28x28 inputs and to 'same' for small images (8x8 digits)."""
    c, h, w = info.input_shape if len(info.input_shape) == 3 else (1,) + tuple(info.input_shape)
    pad = padding if padding is not None else (0 if min(h, w) >= 4 * kernel_size else
                                               kernel_size // 2)
    layers = []
    for out_c in channels:
        layers += [nn.Conv2d(c, out_c, kernel_size, padding=pad), nn.MaxPool2d(2), nn.ReLU()]
        c = out_c
        h = (h + 2 * pad - kernel_size + 1) // 2
        w = (w + 2 * pad - kernel_size + 1) // 2
    if h < 1 or w < 1:
        raise ValueError(f"lenet: input {info.input_shape} is too small for two conv+pool stages "
                         f"with kernel {kernel_size}; set model.args.padding")
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, info.classes("lenet")))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with batch norm and a projected shortcut when needed."""

    def __init__(self, in_c: int, out_c: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, out_c, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_c)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_c)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_c != out_c:
            self.shortcut = nn.Sequential(nn.Conv2d(in_c, out_c, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_c))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet for small images: a 3x3 stem, stages of BasicBlocks, global average pooling."""

    def __init__(self, info: DataInfo, widths: Sequence[int] = (16, 32, 64),
                 blocks_per_stage: int = 1) -> None:
        super().__init__()
        c = info.input_shape[0] if len(info.input_shape) == 3 else 1
        self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages = []
        prev = widths[0]
        for i, wdt in enumerate(widths):
            for b in range(blocks_per_stage):
                stages.append(BasicBlock(prev, wdt, stride=2 if (i > 0 and b == 0) else 1))
                prev = wdt
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, info.classes("resnet"))
        self._unsqueeze = len(info.input_shape) == 2

    def forward(self, x: Tensor) -> Tensor:
        if self._unsqueeze:
            x = x.unsqueeze(1)
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> Linear over the vocabulary, for next-character prediction."""

    def __init__(self, info: DataInfo, embed: int = 64, hidden: int = 256, num_layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        v = info.vocabulary("char_lstm")
        self.embed = nn.Embedding(v, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden, v)

    def forward(self, idx: Tensor) -> Tensor:
        out, _ = self.lstm(self.embed(idx))
        return self.head(out)


class TinyGPT(nn.Module):
    """A small GPT: token + position embeddings, pre-norm causal self-attention blocks."""

    def __init__(self, info: DataInfo, block_size: int = 64, n_layer: int = 2, n_head: int = 4,
                 n_embd: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        v = info.vocabulary("gpt")
        self.block_size = block_size
        self.tok = nn.Embedding(v, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(_Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, v)

    def forward(self, idx: Tensor) -> Tensor:
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"TinyGPT: sequence length {t} exceeds block_size {self.block_size}")
        x = self.tok(idx) + self.pos(arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


class _Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        h = self.ln1(x)
        t = x.shape[1]
        mask = ~_causal_mask(t, t, x.device)       # True = masked out (torch's attn_mask)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


ARCHITECTURES = Registry("architecture", "model.arch", {
    "mlp": mlp,
    "lenet": lenet,
    "resnet": SmallResNet,
    "char_lstm": CharLSTM,
    "gpt": TinyGPT,
})


def _layer(spec, cfg, key):
    """One entry of ``model.layers``: "ReLU" or {"Linear": [in, out]} or {"Dropout": {p: 0.1}}."""
    if isinstance(spec, str):
        name, args = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        (name, args), = spec.items()
    else:
        raise config_error(cfg, key, f"a layer is a name or a one-key mapping {{Name: args}}, "
                                     f"got {spec!r}")
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise config_error(cfg, key, f"unknown layer {name!r} (not a clnet.nn module)")
    try:
        if args is None:
            return cls()
        if isinstance(args, list):
            return cls(*args)
        if isinstance(args, dict):
            return cls(**args)
        return cls(args)
    except (TypeError, ValueError) as e:
        raise config_error(cfg, key, f"cannot build {name} from {args!r}: {e}") from None


def build_model(cfg: Mapping[str, Any], info: DataInfo) -> nn.Module:
    m = cfg["model"]
    if m["arch"] is not None:
        fn = ARCHITECTURES.lookup(m["arch"], cfg)
        try:
            return fn(info, **m["args"])
        except TypeError as e:
            raise config_error(cfg, "model.args", f"{m['arch']}: {e}") from None
        except ValueError as e:     # arguments or data the model cannot take; it names itself
            raise config_error(cfg, "model.args", str(e)) from None
    if m["layers"] is not None:
        return nn.Sequential(*(_layer(s, cfg, f"model.layers[{i}]")
                               for i, s in enumerate(m["layers"])))
    return _module_model(cfg, m["module"], m["kwargs"])


F = TypeVar("F", bound=Callable[..., Any])   # model_factory returns the function it marks


def model_factory(fn: F) -> F:
    """Mark ``fn`` as a function a config may call to build its model
    (``model: {module: "package.module:fn", kwargs: {...}}``); it must return a clnet.nn.Module.

    >>> @model_factory
    ... def small_mlp(hidden=32):
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
    ...                          nn.Linear(hidden, 10))
    """
    if not callable(fn) or isinstance(fn, type):
        raise TypeError("model_factory marks a function; a Module class needs no mark")
    fn.__clnet_model_factory__ = True  # type: ignore[attr-defined]  # a marker on the function
    return fn


_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _module_model(cfg, target, kwargs):
    """Build ``model.module``: import, check what it names, and only then call it."""
    mod_name, _, attr_path = target.partition(":")
    if not (_DOTTED.match(mod_name) and _DOTTED.match(attr_path)):
        raise config_error(cfg, "model.module", f"expected 'package.module:Class', got {target!r}")
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise config_error(cfg, "model.module", f"cannot import {mod_name!r}: {e}") from None
    for name in attr_path.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise config_error(cfg, "model.module", f"cannot import {target!r}: {mod_name} has "
                                                    f"no attribute {attr_path!r}") from None
    factory = False
    if isinstance(obj, type):
        if not issubclass(obj, nn.Module):
            raise config_error(cfg, "model.module", f"{target} is the class {obj.__name__}, "
                                                    "which is not a clnet.nn.Module subclass")
    elif inspect.isfunction(obj) and getattr(obj, "__clnet_model_factory__", False) is True:
        factory = True
    else:
        raise config_error(cfg, "model.module", f"{target} is an object of type {type(obj).__name__}, not a "
                           "clnet.nn.Module subclass or a function marked with "
                           "@clnet.train.models.model_factory; nothing else is called")
    try:
        inspect.signature(obj).bind(**kwargs)
    except TypeError as e:
        raise config_error(cfg, "model.kwargs", f"{target}: {e}") from None
    except ValueError:
        pass                          # no signature to check: the call itself will tell
    try:
        model = obj(**kwargs)
    except (TypeError, ValueError) as e:
        raise config_error(cfg, "model.kwargs", f"{target}: {e}") from None
    if factory and not isinstance(model, nn.Module):
        raise config_error(cfg, "model.module", f"{target} returned an object of type "
                                                f"{type(model).__name__}, not a clnet.nn.Module")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summary(model: nn.Module) -> str:
    """A printable table of the model's layers and parameter counts."""
    rows = []
    for name, mod in model.named_modules():
        if not name or list(mod.children()):
            continue
        n = sum(p.numel() for p in mod.parameters(recurse=False))
        rows.append((name, mod.__class__.__name__, repr(mod).split("\n")[0], n))
    width = max((len(r[0]) for r in rows), default=4)
    lines = [f"{'layer':<{width}}  {'type':<18} {'params':>10}"]
    for name, kind, _, n in rows:
        lines.append(f"{name:<{width}}  {kind:<18} {n:>10,}")
    total = count_parameters(model)
    lines.append(f"{'total':<{width}}  {'':<18} {total:>10,}")
    return "\n".join(lines)
