"""`clnet export config.yaml --checkpoint RUN`: end to end (train a tiny config for an epoch,
export, run the file in onnxruntime at another batch size, compare with clnet's outputs) for an
MLP, a ConvNet and a small GPT; and its errors (no onnx package, a missing checkpoint, a bad
opset or output folder)."""
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import clnet
from clnet.cli.errors import EXIT_FAILED, EXIT_USAGE
from clnet.cli.main import cli
from clnet.train import Trainer, load_config

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

DIGITS = """\
seed: 1
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 64, val_split: 0.1,
        transforms: [{{Normalize: {{mean: 0.3, std: 0.2}}}}]}}
model: {{arch: {arch}, args: {args}}}
optimizer: {{name: adam, lr: 0.01}}
epochs: 1
"""

GPT = """\
seed: 2
run_dir: {run_dir}
data: {{dataset: text, batch_size: 16, val_split: 0.0, args: {{seq_len: 12}}}}
model: {{arch: gpt, args: {{block_size: 12, n_layer: 1, n_head: 2, n_embd: 16}}}}
epochs: 1
max_steps: 2
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(tmp_path, text, **kw):
    path = tmp_path / "cfg.yaml"
    path.write_text(text.format(run_dir=tmp_path / "runs", **kw))
    return str(path)


def run_file(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert [o.name for o in sess.get_outputs()] == ["output"]
    return sess.run(None, {"input": x})[0]


def clnet_outputs(config, run, x):
    t = Trainer(load_config(config), resume=run, quiet=True, evaluation=True)
    t.model.eval()
    with clnet.no_grad():
        return t.model(clnet.tensor(x)).numpy()


@pytest.mark.parametrize("arch,args", [("mlp", "{hidden: [32]}"), ("lenet", "{channels: [4, 8]}")])
def test_train_export_and_run_in_onnxruntime(tmp_path, arch, args):
    config = write(tmp_path, DIGITS, arch=arch, args=args)
    t = Trainer(load_config(config), quiet=True)
    t.fit()
    out = tmp_path / "m.onnx"
    res = invoke("export", config, "--checkpoint", t.run_dir, "--output", out)
    assert res.exit_code == 0, res.output
    assert str(out) in res.output and "input 'input' float32 ['batch', 1, 8, 8]" in res.output
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    # five test samples after the config's transform: another batch size than the trace's 2
    xs = np.stack([np.asarray(t.val_set[i][0]) for i in range(5)])
    got = run_file(out, xs)
    np.testing.assert_allclose(got, clnet_outputs(config, t.run_dir, xs), rtol=1e-4, atol=1e-5)
    # the exported weights are the checkpoint's, not a fresh initialisation
    fresh = Trainer(load_config(config), run_dir=str(tmp_path / "fresh"), quiet=True)
    fresh.model.eval()
    with clnet.no_grad():
        assert np.abs(fresh.model(clnet.tensor(xs)).numpy() - got).max() > 1e-3


def test_small_gpt_exports_with_opset_and_default_name(tmp_path, monkeypatch):
    config = write(tmp_path, GPT)
    t = Trainer(load_config(config), quiet=True)
    t.fit()
    monkeypatch.chdir(tmp_path)
    res = invoke("export", config, "--checkpoint", t.run_dir, "--opset", "18")
    assert res.exit_code == 0, res.output
    out = tmp_path / "model.onnx"
    assert out.exists() and "int64 ['batch', 12]" in res.output
    assert onnx.load(str(out)).opset_import[0].version == 18
    xs = np.stack([np.asarray(t.train_set[i][0]) for i in range(3)])
    np.testing.assert_allclose(run_file(out, xs), clnet_outputs(config, t.run_dir, xs),
                               rtol=1e-4, atol=1e-5)


def test_errors(tmp_path, monkeypatch):
    config = write(tmp_path, DIGITS, arch="mlp", args="{hidden: [8]}")
    t = Trainer(load_config(config), run_dir=str(tmp_path / "run"), quiet=True)
    ckpt = t.save_checkpoint("final")
    missing = tmp_path / "no-such-run"
    res = invoke("export", config, "--checkpoint", missing, "--output", tmp_path / "m.onnx")
    assert res.exit_code == EXIT_FAILED and str(missing) in res.output
    res = invoke("export", config, "--checkpoint", ckpt, "--opset", "12")
    assert res.exit_code == EXIT_USAGE and "--opset" in res.output and "17 to 21" in res.output
    res = invoke("export", config, "--checkpoint", ckpt, "--output", tmp_path / "nope" / "m.onnx")
    assert res.exit_code == EXIT_USAGE and "does not exist" in res.output
    monkeypatch.setitem(sys.modules, "onnx", None)          # as if onnx were not installed
    res = invoke("export", config, "--checkpoint", ckpt, "--output", tmp_path / "m.onnx")
    assert res.exit_code == EXIT_FAILED and "clnet[onnx]" in res.output
    assert not (tmp_path / "m.onnx").exists()


CUMPROD_NET = """\
import clnet.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)).cumprod(1)
"""


def test_an_op_without_conversion_is_one_error_line(tmp_path, monkeypatch):
    (tmp_path / "cumprod_net.py").write_text(CUMPROD_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "cfg.yaml"
    config.write_text(f"run_dir: {tmp_path / 'runs'}\ndata: {{dataset: digits}}\n"
                      "model: {module: 'cumprod_net:Net'}\n")
    t = Trainer(load_config(str(config)), run_dir=str(tmp_path / "run"), quiet=True)
    ckpt = t.save_checkpoint("final")
    res = invoke("export", config, "--checkpoint", ckpt, "--output", tmp_path / "m.onnx")
    assert res.exit_code == EXIT_FAILED, res.output
    assert "cumprod" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "m.onnx").exists()
