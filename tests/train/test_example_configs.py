"""Every YAML config in examples/ validates, builds its data and model, and takes a few steps."""
import glob
import os

import pytest

from clnet.train import Trainer, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))
FASHION = "/usr/share/datasets/fashion-mnist"


def test_the_four_required_configs_exist():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"digits_mlp.yaml", "fashion_mnist_mlp.yaml", "fashion_mnist_lenet.yaml",
            "char_lstm.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_builds_and_trains_a_few_steps(path, tmp_path):
    cfg = load_config(path, [f"run_dir={tmp_path}", "max_steps=3", "log_every=1",
                             "data.val_split=0.0"])
    if cfg["data"]["dataset"] == "fashion-mnist" and not os.path.isdir(FASHION) \
            and not os.environ.get("CLNET_DATA"):
        pytest.skip("Fashion-MNIST files not installed (CI installs dataset-fashion-mnist)")
    t = Trainer(cfg, quiet=True)
    t.test_set = None            # the few-step smoke run skips the full test evaluation
    result = t.fit()
    assert t.step == 3 and os.path.exists(result["checkpoint"])


def test_builtin_resnet_trains_a_few_steps(tmp_path):
    path = tmp_path / "resnet.yaml"
    path.write_text("data: {dataset: digits, batch_size: 32, val_split: 0.0}\n"
                    "model: {arch: resnet, args: {widths: [8, 16], blocks_per_stage: 1}}\n"
                    f"run_dir: {tmp_path}\nmax_steps: 3\nlog_every: 1\n")
    t = Trainer(load_config(str(path)), quiet=True)
    t.test_set = None
    t.fit()
    assert t.step == 3
    names = [n for n, _ in t.model.named_modules()]
    assert "stages.1.shortcut.0" in names          # the projected shortcut of the strided block
