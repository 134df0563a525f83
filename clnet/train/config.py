"""The training config: one YAML file, validated strictly before anything starts.

Every error names the key (dotted), its line in the file (or the ``--set`` argument it came from)
and what was expected; unknown keys get a "did you mean" suggestion. ``--set a.b=value``
overrides are parsed with the same YAML loader as the file and validated like the file's values.

The loader (``ConfigLoader``) is PyYAML's safe loader with limits checked while the document is
composed, before any Python object is built: a bounded file size, UTF-8 text only, at most
``MAX_ALIASES`` aliases and ``MAX_VALUES`` values once aliases are expanded (so a "billion laughs"
document is refused in milliseconds), no recursive aliases, no duplicate keys (PyYAML silently
keeps the last one), nesting at most ``MAX_DEPTH`` deep. It also reads ``3e-3`` and ``1e5`` as
numbers, as YAML 1.2 does (PyYAML's YAML 1.1 rules read them as strings).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple
import copy
import difflib
import math
import os
import re

import yaml

if TYPE_CHECKING:
    from ..types import PathLike

MAX_BYTES = 1 << 20      # a config file is at most 1 MiB
MAX_DEPTH = 50           # mappings/lists nested at most this deep
MAX_ALIASES = 100        # *alias uses per document
MAX_VALUES = 100_000     # values (scalars, lists, mappings) with every alias expanded


class ConfigError(ValueError):
    """A config problem, located: ``path:line: key: message``, or ``--set k=v: key: message``
    when the value came from a ``--set`` argument (``origin``)."""

    def __init__(self, message: str, path: Optional[PathLike] = None, line: Optional[int] = None,
                 key: Optional[str] = None, origin: Optional[str] = None) -> None:
        where = origin or str(path or "<config>")
        if line is not None and origin is None:
            where += f":{line}"
        self.path, self.line, self.key, self.origin = path, line, key, origin
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


# ------------------------------------------------------------------ schema
class Field:
    """One config value: accepted types, default, allowed choices, a range, a description."""

    def __init__(self, types, default=None, choices=None, min=None, max=None, required=False,
                 doc="", schema=None, items=None, open=False):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.choices = choices
        self.min, self.max = min, max
        self.required = required
        self.doc = doc
        self.schema = schema      # for dicts with known keys
        self.items = items        # for lists: Field of each item
        # open: a dict whose known keys are typed here, while other keys pass through to be
        # checked against the signature of what they configure (optimizer, scheduler, loss);
        # absent keys are left out (the class's own default applies), not filled in
        self.open = open


NUM = (int, float)
MODES = ("auto", "min", "max")
MONITOR_DOC = ("the epoch metric to watch: train_ or val_ followed by loss or a name in metrics "
               "(val_loss, val_accuracy, train_loss, val_perplexity, ...)")
MODE_DOC = "min or max: which way is better (auto: max for accuracy and top-k, min otherwise)"
SCHEMA = {
    "name": Field((str, type(None)), None, doc="run name (default: the config file's stem)"),
    "seed": Field(int, 0, doc="seed for parameters, data order and dropout"),
    "device": Field((str, int, type(None)), None, doc="cl:N, a name substring, cpu or gpu"),
    "run_dir": Field(str, "runs", doc="runs are written to <run_dir>/<name>/<timestamp>"),
    "data": Field(dict, required=True, doc="the dataset and how it is batched", schema={
        "dataset": Field(str, required=True, doc="digits, mnist, fashion-mnist, kmnist, emnist, "
                                                 "text, npz, csv or synthetic"),
        "root": Field((str, type(None)), None, doc="folder holding the dataset files"),
        "download": Field(bool, False,
                          doc="fetch the dataset's files (checksummed) when they are not found"),
        "batch_size": Field(int, 64, min=1, doc="training batch size"),
        "eval_batch_size": Field((int, type(None)), None, min=1,
                                 doc="batch size for validation and test (default: "
                                     "max(batch_size, 256))"),
        "val_split": Field(NUM, 0.1, min=0.0, max=0.9,
                           doc="fraction of the training split held out for validation"),
        "shuffle": Field(bool, True,
                         doc="reshuffle the training set every epoch (seeded by seed)"),
        "drop_last": Field(bool, False,
                           doc="drop the last training batch when it is smaller than batch_size"),
        "prefetch": Field(bool, True, doc="prepare the next batch in a background thread"),
        "transforms": Field(list, [], items=Field((str, dict)),
                            doc="clnet.data.transforms applied to each sample, in order: a name "
                                "(ToFloat) or {Name: arguments}"),
        "args": Field(dict, {}, doc="extra keyword arguments of the dataset"),
    }),
    "model": Field(dict, required=True,
                   doc="the model: exactly one of arch, layers or module", schema={
        "arch": Field((str, type(None)), None, doc="mlp, lenet, resnet, char_lstm or gpt"),
        "args": Field(dict, {}, doc="keyword arguments of the built-in arch"),
        "layers": Field((list, type(None)), None, items=Field((str, dict)),
                        doc="a list of clnet.nn layers: a name (ReLU) or {Name: arguments}"),
        "module": Field((str, type(None)), None, doc="package.module:Class"),
        "kwargs": Field(dict, {}, doc="keyword arguments of model.module"),
    }),
    "loss": Field((str, dict), "cross_entropy", open=True,
                  doc="the loss: a name, or a mapping with name and the loss's arguments",
                  schema={
        "name": Field(str, required=True,
                      doc="a clnet.nn.functional loss: cross_entropy, nll_loss, mse_loss, "
                          "l1_loss, ..."),
        "weight": Field((list, type(None)), None, items=Field(NUM),
                        doc="a weight per class (cross_entropy, nll_loss)"),
        "ignore_index": Field(int,
                              doc="a target value that adds nothing to the loss or its gradient"),
        "label_smoothing": Field(NUM, min=0.0, max=1.0, doc="cross_entropy's label smoothing"),
        "reduction": Field(str, choices=("mean", "sum", "none"),
                           doc="how losses of a batch are combined"),
        "delta": Field(NUM, min=0.0, doc="huber_loss's threshold"),
        "beta": Field(NUM, min=0.0, doc="smooth_l1_loss's threshold"),
        "pos_weight": Field((list, NUM, type(None)), None,
                            doc="binary_cross_entropy_with_logits' weight of positive examples"),
    }),
    "optimizer": Field(dict, {"name": "adam", "lr": 1e-3}, open=True,
                       doc="the optimizer: name and the clnet.optim class's arguments", schema={
        "name": Field(str, required=True, doc="sgd, adam, adamw, rmsprop, adagrad or adadelta"),
        "lr": Field(NUM, min=0.0, doc="learning rate"),
        "momentum": Field(NUM, min=0.0, doc="momentum factor (sgd, rmsprop)"),
        "dampening": Field(NUM, doc="dampening of the momentum (sgd)"),
        "weight_decay": Field(NUM, min=0.0, doc="L2 penalty (decoupled in adamw)"),
        "nesterov": Field(bool, doc="Nesterov momentum (sgd)"),
        "betas": Field(list, items=Field(NUM, min=0.0, max=1.0),
                       doc="[beta1, beta2]: decay rates of the moment estimates (adam, adamw)"),
        "eps": Field(NUM, min=0.0, doc="term added to the denominator for numerical stability"),
        "amsgrad": Field(bool, doc="the AMSGrad variant (adam, adamw)"),
        "alpha": Field(NUM, min=0.0, doc="smoothing constant (rmsprop)"),
        "centered": Field(bool,
                          doc="normalize by an estimate of the gradient's variance (rmsprop)"),
        "rho": Field(NUM, min=0.0, max=1.0, doc="decay rate of the running averages (adadelta)"),
        "lr_decay": Field(NUM, min=0.0, doc="learning-rate decay (adagrad)"),
        "initial_accumulator_value": Field(NUM, min=0.0,
                                           doc="initial value of the sum of squares (adagrad)"),
        "maximize": Field(bool, doc="maximize the objective instead of minimizing it"),
        "decoupled_weight_decay": Field(bool, doc="AdamW-style weight decay in adam"),
    }),
    "scheduler": Field((dict, type(None)), None, open=True,
                       doc="a learning-rate scheduler: name and the lr_scheduler class's "
                           "arguments", schema={
        "name": Field(str, required=True, doc="step, multistep, exponential, cosine, onecycle, "
                                              "plateau, linear, constant or polynomial"),
        "step_size": Field(int, min=1, doc="epochs between decays (step)"),
        "gamma": Field(NUM, min=0.0,
                       doc="multiplicative decay factor (step, multistep, exponential)"),
        "milestones": Field(list, items=Field(int, min=0),
                            doc="epochs at which the rate decays (multistep)"),
        "T_max": Field(int, min=1, doc="epochs of one cosine half-period (cosine)"),
        "eta_min": Field(NUM, min=0.0, doc="lowest learning rate (cosine)"),
        "max_lr": Field(NUM, min=0.0, doc="peak learning rate (onecycle)"),
        "total_steps": Field(int, min=1,
                             doc="steps of the cycle (onecycle; default: the run's steps)"),
        "pct_start": Field(NUM, min=0.0, max=1.0,
                           doc="fraction of the cycle spent increasing the rate (onecycle)"),
        "div_factor": Field(NUM, min=0.0, doc="initial rate = max_lr / div_factor (onecycle)"),
        "final_div_factor": Field(NUM, min=0.0,
                                  doc="final rate = initial rate / final_div_factor (onecycle)"),
        "base_momentum": Field(NUM, min=0.0, doc="lowest momentum (onecycle)"),
        "max_momentum": Field(NUM, min=0.0, doc="highest momentum (onecycle)"),
        "factor": Field(NUM, min=0.0, doc="factor the rate is multiplied by (plateau, constant)"),
        "start_factor": Field(NUM, min=0.0, doc="factor at the first epoch (linear)"),
        "end_factor": Field(NUM, min=0.0, doc="factor at the end (linear)"),
        "total_iters": Field(int, min=0,
                             doc="epochs until the factor reaches its end (linear, constant, "
                                 "polynomial)"),
        "power": Field(NUM, doc="power of the polynomial (polynomial)"),
        "patience": Field(int, min=0,
                          doc="epochs without improvement before the rate drops (plateau)"),
        "threshold": Field(NUM, min=0.0,
                           doc="least change that counts as an improvement (plateau)"),
        "cooldown": Field(int, min=0, doc="epochs to wait after a drop (plateau)"),
        "min_lr": Field(NUM, min=0.0, doc="lowest learning rate (plateau)"),
        "mode": Field(str,
                      doc="min or max: whether the monitored value should fall or rise (plateau)"),
    }),
    "epochs": Field(int, 1, min=1, doc="passes over the training set"),
    "max_steps": Field((int, type(None)), None, min=1,
                       doc="stop after this many training steps, even mid-epoch"),
    "grad_clip": Field((float, int, type(None)), None, min=0.0,
                       doc="clip the gradients' total norm to this value (clip_grad_norm_)"),
    "precision": Field(str, "fp32", choices=("fp32", "bf16", "fp16"),
                       doc="fp32; bf16: forward and loss under clnet.autocast(bfloat16); fp16: "
                           "under autocast(float16) with a GradScaler (its state is "
                           "checkpointed). Weights stay float32 (mixed precision)"),
    # YAML reads unquoted on/off as true/false: those mean on/off here
    "capture": Field((str, bool), "auto", choices=("auto", "on", "off", True, False),
                     doc="capture the training step once and replay it (clnet.graphs): auto "
                         "does where that is safe (clnet's own modules, one process, no fp16 "
                         "GradScaler) and runs eagerly otherwise, saying why; on (true) insists "
                         "(an error names what prevents it); off (false) never. Replays give "
                         "the same bits as eager steps"),
    "checkpoint": Field(dict, {},
                        doc="when checkpoints are written and how many are kept", schema={
        "dir": Field((str, type(None)), None, doc="default: <run>/checkpoints"),
        "every_epochs": Field((int, type(None)), 1, min=1,
                              doc="write a checkpoint every N epochs (null: never at an epoch's "
                                  "end)"),
        "every_steps": Field((int, type(None)), None, min=1,
                             doc="write a checkpoint every N training steps"),
        "keep_last": Field(int, 3, min=1,
                           doc="keep this run's last K checkpoints, delete older ones"),
    }),
    "metrics": Field(list, ["accuracy"], items=Field(str, choices=(
        "accuracy", "top5", "top3", "perplexity", "loss")),
                     doc="metrics computed on the training, validation and test sets"),
    "log_every": Field(int, 20, min=1,
                       doc="training steps between progress updates (metrics are read from the "
                           "device then)"),
    "eval_every_epochs": Field(int, 1, min=1, doc="evaluate on the validation set every N epochs"),
    "callbacks": Field(dict, {}, doc="what runs at the end of each epoch: early stopping and "
                                     "keeping the best checkpoints (their state is in every "
                                     "checkpoint, so a resume continues their counts)", schema={
        "early_stopping": Field((dict, type(None)), None, schema={
            "monitor": Field(str, "val_loss", doc=MONITOR_DOC),
            "mode": Field(str, "auto", choices=MODES, doc=MODE_DOC),
            "patience": Field(int, 3, min=0,
                              doc="evaluated epochs without improvement before the run stops "
                                  "(0: stop at the first)"),
            "min_delta": Field(NUM, 0.0, min=0.0,
                               doc="an improvement must exceed this to reset the patience"),
        }, doc="stop the run when a metric stops improving (null: never)"),
        "best_checkpoints": Field((dict, type(None)), None, schema={
            "monitor": Field(str, "val_loss", doc=MONITOR_DOC),
            "mode": Field(str, "auto", choices=MODES, doc=MODE_DOC),
            "keep": Field(int, 1, min=1, doc="how many of the best checkpoints to keep"),
        }, doc="keep the best checkpoints by a metric (checkpoints/best-step*.clnet) and a "
               "link best.clnet to the best in the run folder (null: none)"),
    }),
}


# ------------------------------------------------------------------ the YAML loader
class RefusedYAML(yaml.MarkedYAMLError):
    """A well-formed YAML document the config loader refuses (too many aliases or values, too
    deep, a duplicate key); ``problem_mark`` locates it."""


_FLOAT_WITH_EXPONENT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with limits checked while composing, before anything is constructed.

    Refused: more than MAX_ALIASES aliases, more than MAX_VALUES values with aliases expanded,
    an alias to a collection that contains it, nesting deeper than MAX_DEPTH, a key repeated in
    one mapping, and keys that are lists or mappings. ``1e-3``-style floats resolve to float.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._sizes = {}         # id(node) -> values it stands for, aliases expanded

    def _refuse(self, problem, mark):
        raise RefusedYAML(problem=problem, problem_mark=mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                self._refuse(f"more than {MAX_ALIASES} aliases (*{event.anchor}); a config may "
                             f"use at most {MAX_ALIASES}", event.start_mark)
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                self._refuse(f"the alias *{event.anchor} refers to a list or mapping that "
                             "contains it (a recursive structure)", event.start_mark)
            return node
        if self._depth >= MAX_DEPTH:
            self._refuse(f"lists and mappings nested more than {MAX_DEPTH} deep",
                         self.peek_event().start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(c)] for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_VALUES:
            self._refuse(f"the document expands to more than {MAX_VALUES:,} values (through "
                         "aliases: a 'billion laughs' document?)", node.start_mark)
        self._sizes[id(node)] = size
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen = {}
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self._refuse("a key must be a plain value (a name), not a list or mapping",
                             k.start_mark)
            ident = (k.tag, k.value)
            if ident in seen:
                self._refuse(f"duplicate key {k.value!r} (first given on line {seen[ident]}); "
                             "YAML would keep only the last one", k.start_mark)
            seen[ident] = k.start_mark.line + 1
        return node


ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITH_EXPONENT,
                                   list("-+0123456789."))


def _parse(text):
    """(composed root node or None, constructed data) of one YAML document."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def _read_text(path):
    """The config file's text: at most MAX_BYTES, UTF-8 (a BOM is allowed), not binary."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read the config file: {e.strerror}", path) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"the config file is larger than {MAX_BYTES // 2 ** 20} MiB; expected "
                          "a YAML text file", path)
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ConfigError(f"this is a binary file (a NUL byte at offset {nul}), not a YAML text "
                          "file", path, raw.count(b"\n", 0, nul) + 1)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} cannot "
                          "be decoded; save the config as UTF-8", path,
                          raw.count(b"\n", 0, e.start) + 1) from None


# ------------------------------------------------------------------ validation
def _line_map(node, prefix="", out=None):
    """{dotted key: line} for every mapping key in a composed YAML node tree (1-based lines)."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            _line_map(v, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = v.start_mark.line + 1
            _line_map(v, key, out)
    return out


def _type_names(types):
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             dict: "a mapping", list: "a list", type(None): "null"}
    if float in types:                # an integer is a number too
        types = tuple(t for t in types if t is not int)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _matches(value, types):
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _inside(key, okey):
    """Is ``key`` the overridden key ``okey`` or a part of its value?"""
    return key == okey or key.startswith(okey + ".") or key.startswith(okey + "[")


def _override_of(key, overrides, containing=False):
    """The ``--set`` argument that gave ``key`` its value (or, with ``containing``, one that set
    a key below it), else None."""
    for okey, text in reversed(list(overrides.items())):
        if _inside(key, okey) or (containing and _inside(okey, key)):
            return text
    return None


class _Validator:
    def __init__(self, path, lines, overrides=None):
        self.path, self.lines = path, lines
        self.overrides = overrides or {}

    def error(self, key, message, containing=False):
        origin = _override_of(key, self.overrides, containing)
        if origin is not None:
            raise ConfigError(message, self.path, None, key, origin=f"--set {origin}")
        line = self.lines.get(key)
        if line is None and "." in key:
            line = self.lines.get(key.rsplit(".", 1)[0])
        raise ConfigError(message, self.path, line, key)

    def mapping(self, data, schema, prefix="", open=False):
        out = {}
        for k in data:
            if k not in schema:
                key = f"{prefix}.{k}" if prefix else str(k)
                if open:
                    out[k] = data[k]      # checked against the signature of what it configures
                    continue
                hint = difflib.get_close_matches(str(k), list(schema), n=1)
                self.error(key, "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                           + f"; expected one of: {', '.join(sorted(schema))}", containing=True)
        for k, field in schema.items():
            key = f"{prefix}.{k}" if prefix else k
            if k not in data:
                if field.required:
                    self.error(prefix or key, f"missing required key '{k}'")
                if open:
                    continue
                out[k] = copy.deepcopy(field.default)
                if field.schema is not None and isinstance(out[k], dict):
                    out[k] = self.mapping(out[k], field.schema, key, field.open)
                continue
            out[k] = self.value(data[k], field, key)
        return out

    def value(self, v, field, key):
        # every type check comes first, so no comparison below ever sees a value of the wrong type
        if not _matches(v, field.types):
            self.error(key, f"expected {_type_names(field.types)}, got {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            self.error(key, f"expected a finite number, got {v!r}")
        if isinstance(v, int) and not isinstance(v, bool) and float in field.types \
                and int not in field.types:
            v = float(v)
        if field.choices is not None and v not in field.choices:
            self.error(key, f"{v!r} is not one of: {', '.join(map(str, field.choices))}")
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if field.min is not None and number and v < field.min:
            self.error(key, f"must be >= {field.min}, got {v}")
        if field.max is not None and number and v > field.max:
            self.error(key, f"must be <= {field.max}, got {v}")
        if field.schema is not None and isinstance(v, dict):
            return self.mapping(v, field.schema, key, field.open)
        if field.items is not None and isinstance(v, list):
            return [self.value(x, field.items, f"{key}[{i}]") for i, x in enumerate(v)]
        return v


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def parse_override(text: str) -> Tuple[List[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed like a value in the config file)."""
    origin = f"--set {text}"
    if "=" not in text:
        raise ConfigError(f"expected key=value, e.g. --set optimizer.lr=0.01", origin=origin)
    key, raw = text.split("=", 1)
    keys = key.strip().split(".")
    if not all(_KEY.match(k) for k in keys):
        raise ConfigError("expected key=value with a dotted key of names, e.g. "
                          "--set optimizer.lr=0.01", origin=origin)
    try:
        _, value = _parse(raw) if raw.strip() else (None, None)
    except yaml.YAMLError as e:
        problem = e.problem if isinstance(e, yaml.MarkedYAMLError) else e
        raise ConfigError(f"cannot parse the value {raw!r}: {problem}", key=".".join(keys),
                          origin=origin) from None
    return keys, value


def load_config(path: PathLike, overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """Read, override and validate a config file; returns a plain nested dict."""
    text = _read_text(path)
    try:
        node, data = _parse(text)
    except RefusedYAML as e:
        raise ConfigError(e.problem, path, e.problem_mark.line + 1) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(e, 'problem', None) or e}", path,
                          mark.line + 1 if mark else None) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys to values", path, 1)
    lines = _line_map(node) if node is not None else {}
    sources: Dict[str, str] = {}      # dotted key -> the --set argument that set it
    schema: Optional[Dict[str, Field]]
    for ov in overrides:
        keys, value = parse_override(ov)
        dotted = ".".join(keys)
        d, schema = data, SCHEMA
        for i, k in enumerate(keys[:-1]):
            field = (schema or {}).get(k)
            if k not in d:            # start from the default (optimizer: adam, lr 1e-3)
                d[k] = {} if field is None or dict in field.types else field.default
                if field is not None and isinstance(field.default, dict):
                    d[k] = copy.deepcopy(field.default)
            if not isinstance(d[k], dict):
                raise ConfigError(f"'{'.'.join(keys[:i + 1])}' is not a mapping, so it has no "
                                  f"key '{keys[i + 1]}'", path, key=dotted, origin=f"--set {ov}")
            d, schema = d[k], field.schema if field is not None else None
        d[keys[-1]] = value
        for k in [k for k in lines if _inside(k, dotted)]:
            del lines[k]              # the file's lines no longer hold this value
        sources.pop(dotted, None)
        sources[dotted] = ov
    cfg = _Validator(path, lines, sources).mapping(data, SCHEMA)
    _check_model_choice(cfg, path, lines)
    if cfg["name"] is None:
        cfg["name"] = os.path.splitext(os.path.basename(path))[0]
    cfg["_source"] = os.path.abspath(path)
    cfg["_lines"] = lines
    cfg["_overrides"] = sources
    _check_monitors(cfg)
    return cfg


def monitor_names(cfg: Mapping[str, Any], has_val: Optional[bool] = None) -> List[str]:
    """The metrics a run of ``cfg`` reports in each epoch's row, which callbacks may monitor:
    train_loss and train_<metric> for accuracy/top3/top5 in ``metrics``; the same with val_
    (and val_perplexity) when the run has a validation split (``has_val``; default: when
    data.val_split is above 0)."""
    metrics = list(dict.fromkeys(cfg["metrics"]))
    kinds = ["loss"] + [m for m in metrics if m in ("accuracy", "top3", "top5")]
    names = [f"train_{k}" for k in kinds]
    if cfg["data"]["val_split"] > 0 if has_val is None else has_val:
        names += [f"val_{k}" for k in kinds]
        if "perplexity" in metrics:
            names.append("val_perplexity")
    return names


def _check_monitors(cfg):
    """Every callback's ``monitor`` names a metric the run reports."""
    names = monitor_names(cfg)
    for name, spec in (cfg.get("callbacks") or {}).items():
        if spec is None or spec.get("monitor") in names:
            continue
        monitor, key = spec.get("monitor"), f"callbacks.{name}.monitor"
        hint = difflib.get_close_matches(str(monitor), names, n=1)
        metric = str(monitor).split("_", 1)[-1]
        every = {"metrics": ["accuracy", "top3", "top5", "perplexity"], "data": cfg["data"]}
        why = ""
        if monitor in monitor_names(every, has_val=True):
            if monitor.startswith("val_") and not cfg["data"]["val_split"]:
                why = " (data.val_split is 0, so the run has no validation metrics)"
            elif metric not in cfg["metrics"]:
                why = f" ('{metric}' is not in metrics)"
        raise config_error(cfg, key, f"unknown metric {monitor!r}{why}"
                                     + (f" (did you mean '{hint[0]}'?)" if hint and not why
                                        else "")
                                     + f"; this run reports {', '.join(names)}")


def _check_model_choice(cfg, path, lines):
    m = cfg["model"]
    given = [k for k in ("arch", "layers", "module") if m.get(k) is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of 'arch' (a built-in model), 'layers' (a list of "
                          f"clnet.nn layers) or 'module' (package.module:Class); got "
                          f"{given or 'none'}", path, lines.get("model"), "model")


def config_error(cfg, key, message):
    """A ConfigError located at ``key`` of a loaded config (for checks made while building):
    at the ``--set`` argument that gave the key its value, else at the key's line in the file."""
    overrides = cfg.get("_overrides", {})
    origin = _override_of(key, overrides)
    if origin is not None:
        return ConfigError(message, cfg.get("_source"), None, key, origin=f"--set {origin}")
    lines = cfg.get("_lines", {})
    line = lines.get(key)
    probe = key
    while line is None and "." in probe:
        probe = probe.rsplit(".", 1)[0]
        line = lines.get(probe)
    below = _override_of(key, overrides, containing=True)
    if below is not None:
        message += f" (with --set {below})"
    return ConfigError(message, cfg.get("_source"), line, key)
