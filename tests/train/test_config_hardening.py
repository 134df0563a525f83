"""Configs cannot hang, crash or run code by surprise: the YAML loader's limits (aliases, duplicate
keys, depth, size, encoding), typed --set values whose errors name the --set argument, and a
``model.module`` that calls only Module classes and marked factories."""
import os
import textwrap
import time

import pytest

from clnet.train import ConfigError, Trainer, load_config
from clnet.train.config import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, SCHEMA

BASE = "data: {dataset: digits}\nmodel: {arch: mlp, args: {hidden: [8]}}\n"


def write(tmp_path, text, name="cfg.yaml", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(textwrap.dedent(text))
    return str(p)


def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides)
    return str(e.value)


def laughs(levels):
    """The 'billion laughs' document: each level lists the previous one 9 times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the YAML loader
@pytest.mark.parametrize("levels", [7, 9])
def test_billion_laughs_is_refused_at_once(tmp_path, levels):
    path = write(tmp_path, laughs(levels))
    start = time.perf_counter()
    msg = error_of(path)
    assert time.perf_counter() - start < 2.0
    assert msg.startswith(f"{path}:") and "billion laughs" in msg


def test_aliases_are_bounded_but_a_few_are_fine(tmp_path):
    path = write(tmp_path, BASE.replace("{dataset: digits}",
                                        "{dataset: digits, batch_size: &bs 16, "
                                        "eval_batch_size: *bs}"))
    cfg = load_config(path)
    assert cfg["data"]["batch_size"] == cfg["data"]["eval_batch_size"] == 16
    many = "x: &x 1\nmetrics: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    msg = error_of(write(tmp_path, many))
    assert f"more than {MAX_ALIASES} aliases" in msg and ":2:" in msg


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, BASE + "metrics: &m [accuracy, *m]\n")
    msg = error_of(path)
    assert f"{path}:3:" in msg and "*m" in msg and "recursive" in msg


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    path = write(tmp_path, "seed: 1\n" + BASE + "seed: 2\n")
    msg = error_of(path)
    assert f"{path}:4:" in msg and "duplicate key 'seed'" in msg and "line 1" in msg
    path = write(tmp_path, """\
        data:
          dataset: digits
          batch_size: 16
          batch_size: 32
        model: {arch: mlp}
        """)
    msg = error_of(path)
    assert f"{path}:4:" in msg and "duplicate key 'batch_size'" in msg and "line 3" in msg


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, BASE + "metrics: " + "[" * 5000 + "]" * 5000 + "\n")
    msg = error_of(path)
    assert f"{path}:3:" in msg and f"nested more than {MAX_DEPTH} deep" in msg


def test_file_size_is_bounded(tmp_path):
    path = write(tmp_path, BASE + ("# padding\n" * (MAX_BYTES // 10 + 1)))
    msg = error_of(path)
    assert path in msg and "larger than 1 MiB" in msg


def test_non_utf8_and_binary_files_are_clear_errors(tmp_path):
    path = write(tmp_path, (BASE + "name: caf\xe9\n").encode("latin-1"), mode="wb")
    msg = error_of(path)
    assert f"{path}:3:" in msg and "not UTF-8" in msg and "0xe9" in msg
    path = write(tmp_path, b"\x7fELF\x02\x01\x01\x00\x00\x00garbage\xff", mode="wb")
    msg = error_of(path)
    assert path in msg and "binary file" in msg
    # a UTF-8 byte-order mark is fine
    path = write(tmp_path, ("\ufeff" + BASE).encode("utf-8"), mode="wb")
    assert load_config(path)["data"]["dataset"] == "digits"


# ------------------------------------------------------------------ numbers and --set
def test_exponent_floats_are_numbers_in_files_and_in_set(tmp_path):
    path = write(tmp_path, BASE + "optimizer: {name: sgd, lr: 3e-3, weight_decay: 1E-5}\n"
                                  "grad_clip: 1e1\n")
    cfg = load_config(path)
    assert cfg["optimizer"]["lr"] == 0.003 and isinstance(cfg["optimizer"]["lr"], float)
    assert cfg["optimizer"]["weight_decay"] == 1e-5 and cfg["grad_clip"] == 10.0
    cfg = load_config(path, ["optimizer.lr=5e-4", "data.val_split=2.5e-1"])
    assert cfg["optimizer"]["lr"] == 5e-4 and cfg["data"]["val_split"] == 0.25
    # integers stay integers; strings that are not numbers stay strings
    cfg = load_config(path, ["seed=12", "name=e5"])
    assert cfg["seed"] == 12 and cfg["name"] == "e5"


def test_set_errors_name_the_set_argument(tmp_path):
    path = write(tmp_path, BASE + "optimizer: {name: adam, lr: 0.01}\n")
    msg = error_of(path, ["optimizer.lr=abc"])
    assert msg.startswith("--set optimizer.lr=abc: ") and "expected a number, got 'abc'" in msg
    assert path not in msg
    msg = error_of(path, ["data.batch_size=1.5"])
    assert msg.startswith("--set data.batch_size=1.5: ") and "expected an integer" in msg
    msg = error_of(path, ["optimzer.lr=0.1"])
    assert msg.startswith("--set optimzer.lr=0.1: ") and "did you mean 'optimizer'" in msg
    msg = error_of(path, ["seed=[1, 2"])
    assert msg.startswith("--set seed=[1, 2: ") and "cannot parse" in msg
    msg = error_of(path, ["seed.x=1"])
    assert msg.startswith("--set seed.x=1: ") and "not a mapping" in msg
    # with no optimizer in the file, --set optimizer.lr starts from the default (adam)
    cfg = load_config(write(tmp_path, BASE), ["optimizer.lr=0.05"])
    assert cfg["optimizer"] == {"name": "adam", "lr": 0.05}


def test_errors_found_while_building_name_the_set_argument(tmp_path):
    path = write(tmp_path, BASE + "optimizer: {name: adam, lr: 0.01}\nrun_dir: "
                 + str(tmp_path / "runs") + "\n")
    with pytest.raises(ConfigError) as e:
        Trainer(load_config(path, ["optimizer.name=adamm"]))
    assert str(e.value).startswith("--set optimizer.name=adamm: optimizer.name: unknown optimizer")


def _numeric_fields(schema, prefix=""):
    for k, f in schema.items():
        key = f"{prefix}.{k}" if prefix else k
        if f.min is not None or f.max is not None:
            yield key
        if f.schema is not None:
            yield from _numeric_fields(f.schema, key)


def test_every_bounded_value_is_type_checked_before_it_is_compared(tmp_path):
    path = write(tmp_path, BASE + "scheduler: {name: step, step_size: 1}\n"
                                  "loss: {name: cross_entropy}\n")
    keys = set(_numeric_fields(SCHEMA))
    assert {"optimizer.lr", "scheduler.gamma", "loss.label_smoothing",
            "data.val_split"} <= keys
    for key in sorted(keys):
        msg = error_of(path, [f"{key}=abc"])
        assert msg.startswith(f"--set {key}=abc: {key}: expected "), msg
    msg = error_of(path, ["optimizer.betas=[0.9, fast]"])
    assert "optimizer.betas[1]: expected a number, got 'fast'" in msg
    msg = error_of(path, ["optimizer.lr=.nan"])
    assert "expected a finite number" in msg


# ------------------------------------------------------------------ model.module
def test_model_module_does_not_call_os_system(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, f"""\
        data: {{dataset: digits}}
        model:
          module: "os:system"
          kwargs: {{command: "touch {marker}"}}
        run_dir: {tmp_path / "runs"}
        """)
    with pytest.raises(ConfigError) as e:
        Trainer(load_config(path))
    assert f"{path}:3: model.module: os:system" in str(e.value)
    assert "not a clnet.nn.Module subclass" in str(e.value)
    assert not marker.exists()
    # a class that is not a Module is not instantiated either
    path = write(tmp_path, open(path).read().replace("os:system", "subprocess:Popen")
                 .replace("command:", "args:"))
    with pytest.raises(ConfigError, match="subprocess:Popen is the class Popen, which is not"):
        Trainer(load_config(path))
    assert not marker.exists()


FACTORIES = '''
import clnet.nn as nn
from clnet.train.models import model_factory

CALLS = []


@model_factory
def small(hidden=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


@model_factory
def not_a_model():
    return "a string"


def unmarked():
    CALLS.append("unmarked")
    return small()
'''


def test_model_module_takes_module_classes_and_marked_factories_only(tmp_path, monkeypatch):
    (tmp_path / "cfg_factories_mod.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import cfg_factories_mod

    def build(target, kwargs="{}"):
        path = write(tmp_path, f"data: {{dataset: digits}}\nmodel: {{module: '{target}', "
                               f"kwargs: {kwargs}}}\nrun_dir: {tmp_path / 'runs'}\n")
        return Trainer(load_config(path)).model

    assert type(build("cfg_factories_mod:small", "{hidden: 4}")).__name__ == "Sequential"
    assert type(build("clnet.nn:Linear", "{in_features: 64, out_features: 10}")).__name__ \
        == "Linear"
    with pytest.raises(ConfigError, match="unmarked is an object of type function, not a"):
        build("cfg_factories_mod:unmarked")
    assert cfg_factories_mod.CALLS == []
    with pytest.raises(ConfigError, match="not_a_model returned an object of type str, not a"):
        build("cfg_factories_mod:not_a_model")
    with pytest.raises(ConfigError, match=r"model.kwargs: cfg_factories_mod:small: .*'width'"):
        build("cfg_factories_mod:small", "{width: 3}")
    with pytest.raises(ConfigError, match="expected 'package.module:Class'"):
        build("../evil:thing")
