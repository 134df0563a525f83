"""``Trainer.dry_run()`` (what ``clnet train --dry-run`` runs): everything the run builds, one
forward and backward on one batch, nothing written and nothing changed; the errors a first step
or a first epoch end would hit come out here, naming the config key or the layer."""
import os
import textwrap

import numpy as np
import pytest

import clnet
from clnet.train import ConfigError, Trainer, load_config

BASE = """
seed: 2
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 32, val_split: 0.1}}
model:
  layers:
    - Flatten
    - Linear: [64, 16]
    - BatchNorm1d: 16
    - ReLU
    - Dropout: 0.2
    - Linear: [16, 10]
optimizer: {{name: adam, lr: 0.01}}
scheduler: {{name: cosine}}
epochs: 2
max_steps: 5
"""


def _cfg(tmp_path, extra="", replace=(), overrides=()):
    text = textwrap.dedent(BASE.format(run_dir=tmp_path / "runs"))
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "cfg.yaml"
    p.write_text(text + textwrap.dedent(extra))
    return load_config(str(p), list(overrides))


def _snapshot(t):
    return ({k: v.numpy().copy() for k, v in t.model.state_dict().items()},
            clnet.get_rng_state().tolist(), repr(t.train_loader.state_dict()),
            t.scheduler.state_dict(), t.optimizer.param_groups[0]["lr"])


def test_dry_run_runs_one_step_and_changes_nothing(tmp_path):
    cfg = _cfg(tmp_path)
    t = Trainer(cfg, quiet=True)
    before = _snapshot(t)
    out = t.dry_run()
    assert np.isfinite(out["loss"]) and out["loss"] > 0
    assert out["input_shape"] == (32, 1, 8, 8) and out["output_shape"] == (32, 10)
    after = _snapshot(t)
    for k in before[0]:      # weights and BatchNorm's running statistics
        np.testing.assert_array_equal(before[0][k], after[0][k], err_msg=k)
    assert before[1:] == after[1:]             # RNG, data position, scheduler, lr
    assert all(p.grad is None for p in t.model.parameters())
    assert not t.optimizer.state
    assert not os.path.exists(tmp_path / "runs")         # no files written
    # a run after the dry run is the run without it
    t.test_set = None
    t.fit()
    plain = Trainer(cfg, quiet=True)
    plain.test_set = None
    plain.fit()
    for k, v in plain.model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), t.model.state_dict()[k].numpy(), err_msg=k)


def test_a_scheduler_that_fails_part_way_fails_in_the_dry_run_naming_the_key(tmp_path):
    # OneCycleLR raises once stepped past its total_steps: here at the run's 4th step of 5
    cfg = _cfg(tmp_path, replace=[("{name: cosine}", "{name: onecycle, total_steps: 3}")])
    t = Trainer(cfg, quiet=True)
    with pytest.raises(ConfigError, match=r"scheduler.total_steps: OneCycleLR failed at step 4 "
                                          r"of the run's 5") as e:
        t.dry_run()
    assert e.value.line == 14
    assert t.scheduler.last_epoch == 0                   # the real scheduler was not stepped
    # (1 - 1/1) ** -1 at the first epoch's end: the message names the power
    cfg = _cfg(tmp_path, replace=[("{name: cosine}", "{name: polynomial, total_iters: 1, "
                                                     "power: -1.0}"), ("max_steps: 5", "")])
    with pytest.raises(ConfigError, match=r"scheduler.power: PolynomialLR failed at epoch 1 of the "
                                          r"run's 2"):
        Trainer(cfg, quiet=True).dry_run()


@pytest.mark.parametrize("loss,key", [
    ("{name: cross_entropy, weight: [1.0, 2.0]}", "loss.weight"),
    ("{name: cross_entropy, reduction: none}", "loss.reduction")])
def test_a_bad_loss_argument_fails_in_the_dry_run_naming_the_key(tmp_path, loss, key):
    t = Trainer(_cfg(tmp_path, f"loss: {loss}\n"), quiet=True)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ": cross_entropy") as e:
        t.dry_run()
    assert e.value.key == key


@pytest.mark.filterwarnings("ignore:mse_loss")
def test_a_loss_that_does_not_fit_the_model_output_names_the_loss(tmp_path):
    t = Trainer(_cfg(tmp_path, "loss: mse\n"), quiet=True)
    with pytest.raises(ConfigError, match=r"loss: mse.*\(32, 10\)") as e:
        t.dry_run()
    assert e.value.key == "loss"


def test_a_layer_shape_mismatch_names_the_layer_and_the_shapes(tmp_path):
    cfg = _cfg(tmp_path, replace=[("Linear: [16, 10]", "Linear: [32, 10]")])
    t = Trainer(cfg, quiet=True)
    with pytest.raises(ConfigError) as e:
        t.dry_run()
    msg = str(e.value)
    assert e.value.key == "model.layers[5]", msg
    assert "Linear(in_features=32, out_features=10" in msg and "(32, 16)" in msg, msg
    # a model given as a module: the error names the layer's path inside it
    cfg = _cfg(tmp_path, replace=[(
        "  layers:\n    - Flatten\n    - Linear: [64, 16]\n    - BatchNorm1d: 16\n    - ReLU\n"
        "    - Dropout: 0.2\n    - Linear: [16, 10]\n",
        "  module: train_helpers:InterruptAt\n  kwargs: {in_features: 60}\n")])
    t = Trainer(cfg, quiet=True)
    with pytest.raises(ConfigError) as e:
        t.dry_run()
    msg = str(e.value)
    assert e.value.key == "model" and "'net.1'" in msg and "(32, 64)" in msg, msg


def test_a_split_with_no_training_batch_is_refused_when_the_trainer_is_built(tmp_path):
    cfg = _cfg(tmp_path, overrides=["data.batch_size=2000", "data.drop_last=true"])
    with pytest.raises(ConfigError, match=r"data.batch_size: .*1,294.*0 training batches") as e:
        Trainer(cfg, quiet=True)
    assert "1,438" in str(e.value) and "val_split" in str(e.value)
    cfg = _cfg(tmp_path, replace=[("dataset: digits", "dataset: synthetic, args: {num_samples: 1}"),
                                  ("Linear: [64, 16]", "Linear: [8, 16]")],
               overrides=["data.val_split=0.9"])
    with pytest.raises(ConfigError, match=r"data.val_split: .*0 training samples"):
        Trainer(cfg, quiet=True)
