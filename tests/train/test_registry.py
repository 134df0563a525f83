"""One registry style for everything a config names: each kind refuses an unknown name at its
config key, listing the names it knows; ``register`` adds a name a config can then use."""
import textwrap

import pytest

from clnet.train import ConfigError, Trainer, load_config
from clnet.train.building import DATASETS, LOSSES, OPTIMIZERS, SCHEDULERS, build_loss
from clnet.train.models import ARCHITECTURES
from clnet.train.registry import Registry

BASE = """
data: {dataset: digits, batch_size: 64}
model: {arch: mlp, args: {hidden: [8]}}
"""


def _cfg(tmp_path, overrides=()):
    p = tmp_path / "cfg.yaml"
    p.write_text(textwrap.dedent(BASE) + f"run_dir: {tmp_path / 'runs'}\n")
    return load_config(str(p), list(overrides))


@pytest.mark.parametrize("override, key, kind, registry", [
    ("loss=hinge", "loss", "loss", LOSSES),
    ("optimizer.name=adan", "optimizer.name", "optimizer", OPTIMIZERS),
    ("scheduler={name: warmup}", "scheduler.name", "scheduler", SCHEDULERS),
    ("model.arch=vit", "model.arch", "architecture", ARCHITECTURES),
])
def test_an_unknown_name_is_refused_at_its_key_listing_the_known_ones(tmp_path, override, key,
                                                                       kind, registry):
    name = override.split("=")[1].strip("{}").split(": ")[-1]
    with pytest.raises(ConfigError) as e:
        Trainer(_cfg(tmp_path, [override]), quiet=True)
    msg = str(e.value)
    assert f"--set {override}: {key}: unknown {kind} {name!r}; expected one of " in msg
    assert msg.endswith(", ".join(registry))
    assert len(registry) >= 5


def test_an_unknown_dataset_is_refused_at_data_dataset_listing_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"data.dataset: unknown dataset 'imagenet'; known "
                                          r"datasets: .*digits.*synthetic"):
        Trainer(_cfg(tmp_path, ["data.dataset=imagenet"]), quiet=True)
    assert "digits" in DATASETS and "mnist" in list(DATASETS) and "imagenet" not in DATASETS


def test_register_adds_a_name_a_config_can_use(tmp_path):
    calls = []

    def doubled_mse(input, target, reduction="mean"):
        calls.append(reduction)
        return LOSSES["mse"](input, target, reduction=reduction) * 2

    LOSSES.register("doubled_mse", doubled_mse)
    try:
        name, fn, args = build_loss(_cfg(tmp_path, ["loss={name: doubled_mse, "
                                                    "reduction: sum}"]))
        assert (name, fn, args) == ("doubled_mse", doubled_mse, {"reduction": "sum"})
    finally:
        LOSSES._entries.pop("doubled_mse")
    reg = Registry("widget", "widgets.name")

    @reg.register("spanner")
    def spanner():
        return "spanner"
    assert list(reg) == ["spanner"] and reg["spanner"] is spanner
    with pytest.raises(TypeError, match="non-empty string"):
        reg.register("", spanner)
