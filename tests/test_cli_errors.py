"""The CLI never prints a traceback for a user error: one ``Error: ...`` line naming the file, key
or device, and a documented exit code (1 failed run, 2 usage/config, 70 internal error, 130
Ctrl-C); CLNET_DEBUG=1 shows the traceback; a genuine bug still shows its traceback."""
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import clnet
from clnet.backend.device_errors import DeviceIndexError, DeviceValueError
from clnet.cli.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE
from clnet.cli.main import cli
from clnet.train import Trainer, TrainingDiverged, load_config

TINY = """\
seed: 0
run_dir: {run_dir}
data: {{dataset: digits, batch_size: 64}}
model: {{arch: mlp, args: {{hidden: [{hidden}]}}}}
epochs: 1
max_steps: 1
"""


def config(tmp_path, name="cfg.yaml", hidden=16, text=None):
    p = tmp_path / name
    p.write_text(text if text is not None else
                 TINY.format(run_dir=tmp_path / "runs", hidden=hidden))
    return str(p)


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def run_cli(*args, **env):
    """The CLI in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "clnet.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=dict(os.environ, **env), timeout=120)


def assert_one_error_line(stderr, code, exit_code, *names):
    """stderr holds no traceback, and its first line is the one ``Error:`` line, naming ``names``
    (detail lines, such as the folders searched, may follow it)."""
    assert exit_code == code, stderr
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def check(result, code, *names):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return assert_one_error_line(result.stderr, code, result.exit_code, *names)


def checkpoint_of(tmp_path, hidden=16):
    """A real checkpoint of the TINY model (written without training)."""
    t = Trainer(load_config(config(tmp_path, f"model{hidden}.yaml", hidden=hidden)),
                run_dir=str(tmp_path / f"run{hidden}"), quiet=True)
    return t.save_checkpoint("final")


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("content", [b"", b'{"model": "a PyTorch pickle, say"}\n'],
                         ids=["empty", "foreign"])
def test_empty_or_foreign_checkpoint_to_eval_predict_and_resume(tmp_path, content):
    import numpy as np
    cfg = config(tmp_path)
    ckpt = tmp_path / "step00000001-final.clnet"
    ckpt.write_bytes(content)
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((2, 8, 8), np.float32))
    for args in (["eval", cfg, "--checkpoint", ckpt],
                 ["predict", cfg, "--checkpoint", ckpt, "--input", inputs],
                 ["train", cfg, "--resume", ckpt]):
        check(invoke(*args), EXIT_FAILED, str(ckpt))


def test_checkpoint_of_another_model_or_none_at_all(tmp_path):
    ckpt = checkpoint_of(tmp_path, hidden=16)
    cfg = config(tmp_path, "other.yaml", hidden=8)
    check(invoke("eval", cfg, "--checkpoint", ckpt), EXIT_FAILED, os.path.basename(ckpt))
    check(invoke("eval", cfg, "--checkpoint", tmp_path / "nope"), EXIT_FAILED,
          str(tmp_path / "nope"))


# ------------------------------------------------------------------ devices, data, configs
def test_bad_clnet_device_on_train(tmp_path):
    r = run_cli("train", config(tmp_path), "--dry-run", CLNET_DEVICE="no-such-device-xyz")
    line = assert_one_error_line(r.stderr, EXIT_FAILED, r.returncode, "no-such-device-xyz")
    assert "available devices" in line


def test_download_without_network(tmp_path):
    text = TINY.format(run_dir=tmp_path / "runs", hidden=16).replace(
        "dataset: digits", f"dataset: mnist, root: {tmp_path / 'data'}, download: true")
    env = {"CLNET_DATA_MIRRORS": "http://127.0.0.1:9/", "CLNET_DATA": str(tmp_path / "data"),
           "HOME": str(tmp_path)}
    check(invoke("train", config(tmp_path, text=text), "--dry-run", env=env), EXIT_FAILED,
          "could not download", "train-images-idx3-ubyte")


def test_non_utf8_config(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(TINY.format(run_dir=tmp_path, hidden=16).encode() + b"name: caf\xe9\n")
    check(invoke("train", p, "--dry-run"), EXIT_USAGE, f"{p}:7:", "not UTF-8")


def test_billion_laughs_config_on_the_command_line(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 8)]
    p = config(tmp_path, text="\n".join(lines) + "\n")
    check(invoke("train", p, "--dry-run"), EXIT_USAGE, p, "billion laughs")


def test_bad_set_value_names_the_set_argument(tmp_path):
    line = check(invoke("train", config(tmp_path), "--dry-run", "--set", "optimizer.lr=abc"),
                 EXIT_USAGE, "--set optimizer.lr=abc", "expected a number")
    assert "'<='" not in line


def test_model_module_os_system_does_not_run_even_with_dry_run(tmp_path):
    marker = tmp_path / "ran"
    text = TINY.format(run_dir=tmp_path / "runs", hidden=16).replace(
        "{arch: mlp, args: {hidden: [16]}}",
        f'{{module: "os:system", kwargs: {{command: "touch {marker}"}}}}')
    p = config(tmp_path, text=text)
    check(invoke("train", p, "--dry-run"), EXIT_USAGE, f"{p}:4:", "model.module", "os:system")
    assert not marker.exists()


# ------------------------------------------------------------------ the handler itself
@pytest.mark.parametrize("exc", [
    clnet.CheckpointError("ck.clnet", "truncated"),
    clnet.OutOfMemoryError("out of memory on cl:0: asked 4 GiB, 1 GiB free"),
    clnet.DeviceError("device cl:0 was lost"),
    clnet.KernelBuildError("gemm", {"TS": 16}, "error: expected ';'", "cl:0"),
    TrainingDiverged("the loss became nan at step 13"),
    PermissionError(13, "Permission denied", "/runs/x"),
    DeviceIndexError("Target 12 is out of bounds (in cross_entropy)."),
    DeviceValueError("all elements of input should be between 0 and 1 (in binary_cross_entropy)"),
], ids=lambda e: type(e).__name__)
def test_user_error_types_are_one_line(tmp_path, monkeypatch, exc):
    def fail(self):
        raise exc
    monkeypatch.setattr(Trainer, "describe", fail)
    line = check(invoke("train", config(tmp_path), "--dry-run"), EXIT_FAILED)
    first = str(exc).splitlines()[0] if not isinstance(exc, OSError) else "/runs/x"
    assert first in line


def test_clnet_debug_shows_the_traceback(tmp_path, monkeypatch):
    def fail(self):
        raise clnet.CheckpointError("ck.clnet", "truncated")
    monkeypatch.setattr(Trainer, "describe", fail)
    r = invoke("train", config(tmp_path), "--dry-run", env={"CLNET_DEBUG": "1"})
    assert r.exit_code == EXIT_FAILED
    assert "Traceback" in r.stderr and "in fail" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == "Error: checkpoint 'ck.clnet': truncated"


def test_a_genuine_bug_still_shows_its_traceback(tmp_path, monkeypatch):
    def fail(self):
        return 1 / 0
    monkeypatch.setattr(Trainer, "describe", fail)
    r = invoke("train", config(tmp_path), "--dry-run")
    assert r.exit_code == EXIT_INTERNAL
    assert "Traceback" in r.stderr and "1 / 0" in r.stderr
    last = r.stderr.rstrip().splitlines()[-1]
    assert last.startswith("Error: internal error: ZeroDivisionError: division by zero")


def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(Trainer, "fit", interrupted)
    check(invoke("train", config(tmp_path)), EXIT_INTERRUPTED, "interrupted")


def test_no_opencl_device_is_one_error_line(tmp_path):
    r = run_cli("info", OCL_ICD_VENDORS=str(tmp_path / "missing.icd"))
    assert_one_error_line(r.stderr, EXIT_FAILED, r.returncode, "no OpenCL devices were found")


# ------------------------------------------------------------------ --dry-run
def test_dry_run_calls_trainer_dry_run(tmp_path, monkeypatch):
    calls = []

    def dry_run(self):
        calls.append(self)
        return {"loss": 2.302585, "batch": 64}
    monkeypatch.setattr(Trainer, "dry_run", dry_run, raising=False)
    r = invoke("train", config(tmp_path), "--dry-run")
    assert r.exit_code == 0, r.output
    assert len(calls) == 1
    assert "dry run: loss 2.3026, batch 64" in r.stdout
    assert not os.path.exists(tmp_path / "runs")


def test_exit_codes_are_documented():
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 70 |", "| 130 |"):
        assert code in readme
    assert "CLNET_DEBUG=1" in readme


def test_dry_run_finds_a_layer_shape_mismatch_without_training(tmp_path):
    # the real Trainer.dry_run through the CLI: digits images are 64 pixels, not 60
    text = TINY.format(run_dir=tmp_path / "runs", hidden=16).replace(
        "{arch: mlp, args: {hidden: [16]}}",
        "\n  layers:\n    - Flatten\n    - Linear: [60, 16]\n    - ReLU\n    - Linear: [16, 10]")
    r = invoke("train", config(tmp_path, text=text), "--dry-run")
    check(r, EXIT_USAGE, "model.layers[1]", "60")
    assert not os.path.exists(tmp_path / "runs")
