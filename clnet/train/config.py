"""The training config: one YAML file, validated strictly before anything starts.

Every error names the key (dotted), its line in the file and what was expected; unknown keys get
a "did you mean" suggestion. ``--set a.b=value`` overrides are parsed as YAML scalars and
validated like the file's own values.
"""
import copy
import difflib
import os

import yaml


class ConfigError(ValueError):
    """A config problem, located: ``path:line: key: message``."""

    def __init__(self, message, path=None, line=None, key=None):
        where = path or "<config>"
        if line is not None:
            where += f":{line}"
        self.path, self.line, self.key = path, line, key
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


# ------------------------------------------------------------------ schema
class Field:
    """One config value: accepted types, default, allowed choices, a range, a description."""

    def __init__(self, types, default=None, choices=None, min=None, max=None, required=False,
                 doc="", schema=None, items=None):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.choices = choices
        self.min, self.max = min, max
        self.required = required
        self.doc = doc
        self.schema = schema      # for dicts with known keys
        self.items = items        # for lists: Field of each item


NUM = (int, float)
SCHEMA = {
    "name": Field((str, type(None)), None, doc="run name (default: the config file's stem)"),
    "seed": Field(int, 0, doc="seed for parameters, data order and dropout"),
    "device": Field((str, int, type(None)), None, doc="cl:N, a name substring, cpu or gpu"),
    "run_dir": Field(str, "runs", doc="runs are written to <run_dir>/<name>/<timestamp>"),
    "data": Field(dict, required=True, schema={
        "dataset": Field(str, required=True, doc="digits, mnist, fashion-mnist, kmnist, emnist, "
                                                 "text, npz, csv or synthetic"),
        "root": Field((str, type(None)), None, doc="folder holding the dataset files"),
        "download": Field(bool, False),
        "batch_size": Field(int, 64, min=1),
        "eval_batch_size": Field((int, type(None)), None, min=1),
        "val_split": Field(NUM, 0.1, min=0.0, max=0.9,
                           doc="fraction of the training split held out for validation"),
        "shuffle": Field(bool, True),
        "drop_last": Field(bool, False),
        "prefetch": Field(bool, True),
        "transforms": Field(list, [], items=Field((str, dict))),
        "args": Field(dict, {}, doc="extra keyword arguments of the dataset"),
    }),
    "model": Field(dict, required=True, schema={
        "arch": Field((str, type(None)), None, doc="mlp, lenet, resnet, char_lstm or gpt"),
        "args": Field(dict, {}),
        "layers": Field((list, type(None)), None, items=Field((str, dict))),
        "module": Field((str, type(None)), None, doc="package.module:Class"),
        "kwargs": Field(dict, {}),
    }),
    "loss": Field((str, dict), "cross_entropy"),
    "optimizer": Field(dict, {"name": "adam", "lr": 1e-3}),
    "scheduler": Field((dict, type(None)), None),
    "epochs": Field(int, 1, min=1),
    "max_steps": Field((int, type(None)), None, min=1),
    "grad_clip": Field((float, int, type(None)), None, min=0.0),
    "checkpoint": Field(dict, {}, schema={
        "dir": Field((str, type(None)), None, doc="default: <run>/checkpoints"),
        "every_epochs": Field((int, type(None)), 1, min=1),
        "every_steps": Field((int, type(None)), None, min=1),
        "keep_last": Field(int, 3, min=1),
    }),
    "metrics": Field(list, ["accuracy"], items=Field(str, choices=(
        "accuracy", "top5", "top3", "perplexity", "loss"))),
    "log_every": Field(int, 20, min=1),
    "eval_every_epochs": Field(int, 1, min=1),
}


# ------------------------------------------------------------------ YAML with line numbers
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
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _matches(value, types):
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


class _Validator:
    def __init__(self, path, lines):
        self.path, self.lines = path, lines

    def error(self, key, message):
        line = self.lines.get(key)
        if line is None and "." in key:
            line = self.lines.get(key.rsplit(".", 1)[0])
        raise ConfigError(message, self.path, line, key)

    def mapping(self, data, schema, prefix=""):
        out = {}
        for k in data:
            if k not in schema:
                key = f"{prefix}.{k}" if prefix else str(k)
                hint = difflib.get_close_matches(str(k), list(schema), n=1)
                self.error(key, "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                           + f"; expected one of: {', '.join(sorted(schema))}")
        for k, field in schema.items():
            key = f"{prefix}.{k}" if prefix else k
            if k not in data:
                if field.required:
                    self.error(prefix or key, f"missing required key '{k}'")
                out[k] = copy.deepcopy(field.default)
                if field.schema is not None and isinstance(out[k], dict):
                    out[k] = self.mapping(out[k], field.schema, key)
                continue
            out[k] = self.value(data[k], field, key)
        return out

    def value(self, v, field, key):
        if not _matches(v, field.types):
            self.error(key, f"expected {_type_names(field.types)}, got {v!r}")
        if isinstance(v, int) and not isinstance(v, bool) and float in field.types \
                and int not in field.types:
            v = float(v)
        if field.choices is not None and v not in field.choices:
            self.error(key, f"{v!r} is not one of: {', '.join(map(str, field.choices))}")
        if field.min is not None and isinstance(v, (int, float)) and v < field.min:
            self.error(key, f"must be >= {field.min}, got {v}")
        if field.max is not None and isinstance(v, (int, float)) and v > field.max:
            self.error(key, f"must be <= {field.max}, got {v}")
        if field.schema is not None and isinstance(v, dict):
            return self.mapping(v, field.schema, key)
        if field.items is not None and isinstance(v, list):
            return [self.value(x, field.items, f"{key}[{i}]") for i, x in enumerate(v)]
        return v


def parse_override(text):
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as a YAML scalar/flow value)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse the value {raw!r}: {e}", key=key) from None
    return key.split("."), value


def load_config(path, overrides=()):
    """Read, override and validate a config file; returns a plain nested dict."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read the config file: {e.strerror}", path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(e, 'problem', e)}", path,
                          mark.line + 1 if mark else None) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys to values", path, 1)
    lines = _line_map(node) if node is not None else {}
    for ov in overrides:
        keys, value = parse_override(ov)
        d = data
        for k in keys[:-1]:
            if not isinstance(d.get(k, {}), dict):
                raise ConfigError(f"--set {'.'.join(keys)}: '{k}' is not a mapping", path)
            d = d.setdefault(k, {})
        d[keys[-1]] = value
        lines.setdefault(".".join(keys), None)
    cfg = _Validator(path, lines).mapping(data, SCHEMA)
    _check_model_choice(cfg, path, lines)
    if cfg["name"] is None:
        cfg["name"] = os.path.splitext(os.path.basename(path))[0]
    cfg["_source"] = os.path.abspath(path)
    cfg["_lines"] = lines
    return cfg


def _check_model_choice(cfg, path, lines):
    m = cfg["model"]
    given = [k for k in ("arch", "layers", "module") if m.get(k) is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of 'arch' (a built-in model), 'layers' (a list of "
                          f"clnet.nn layers) or 'module' (package.module:Class); got "
                          f"{given or 'none'}", path, lines.get("model"), "model")


def config_error(cfg, key, message):
    """A ConfigError located at ``key`` of a loaded config (for checks made while building)."""
    lines = cfg.get("_lines", {})
    line = lines.get(key)
    probe = key
    while line is None and "." in probe:
        probe = probe.rsplit(".", 1)[0]
        line = lines.get(probe)
    return ConfigError(message, cfg.get("_source"), line, key)
