"""The ``clnet`` command line: --version, devices (table, JSON, no OpenCL), info, bench ops."""
import importlib
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import clnet
from clnet.cli.main import cli

# the module, not the function clnet.backend re-exports under the same name
devices_module = importlib.import_module("clnet.backend.devices")


def invoke(*args, **env):
    result = CliRunner().invoke(cli, list(args), env=env or None)
    return result


def run_cli(*args, **env):
    """The CLI in a fresh interpreter, as a user runs it (``python -m clnet.cli.main``)."""
    return subprocess.run([sys.executable, "-m", "clnet.cli.main", *args], capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=300)


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0
    assert r.output.strip() == f"clnet {clnet.__version__}"


def test_help_lists_the_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    for name in ("devices", "info", "bench"):
        assert name in r.output


def test_devices_table_marks_the_default():
    r = invoke("devices")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    header = lines[0].split()
    for col in ("name", "platform", "device", "type", "vendor", "OpenCL", "CUs", "clock",
                "fp16", "fp64"):
        assert col in header
    rows = lines[2:2 + len(clnet.devices())]
    for d, row in zip(clnet.devices(), rows):
        assert f"cl:{d.index}" in row and d.name in row and d.kind in row
        assert row.startswith("*") == (d is clnet.default_device())
    assert sum(row.startswith("*") for row in rows) == 1


def test_devices_json_is_a_list_of_device_infos():
    r = invoke("devices", "--json")
    assert r.exit_code == 0, r.output
    infos = json.loads(r.output)
    assert [i["name"] for i in infos] == [f"cl:{d.index}" for d in clnet.devices()]
    expected_keys = set(clnet.devices()[0].info())
    for i in infos:
        assert set(i) == expected_keys
        assert isinstance(i["compute_units"], int) and i["global_mem_bytes"] > 0
    assert [i["default"] for i in infos].count(True) == 1


def test_devices_without_any_opencl_device(monkeypatch):
    monkeypatch.setattr(devices_module, "_devices", [])
    monkeypatch.setattr(devices_module, "_default", None)
    r = invoke("devices")
    assert r.exit_code == 1
    assert "no OpenCL devices were found" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_devices_without_opencl_in_a_real_process(tmp_path):
    # the ICD loader finds no platform when its vendor list names a missing file
    r = run_cli("devices", OCL_ICD_VENDORS=str(tmp_path / "missing.icd"))
    assert r.returncode == 1
    assert "no OpenCL devices were found" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_bad_clnet_device_is_reported_with_the_choices():
    r = run_cli("devices", CLNET_DEVICE="no-such-device-xyz")
    assert r.returncode == 1
    assert "no-such-device-xyz" in r.stderr and "available devices" in r.stderr
    assert "Traceback" not in r.stderr


def test_info():
    r = invoke("info")
    assert r.exit_code == 0, r.output
    assert clnet.__version__ in r.output and "pyopencl" in r.output
    assert str(clnet.default_device()) in r.output


def test_bench_ops_quick_prints_ratios_first(monkeypatch):
    from clnet.benchmarks import ops as bench_ops
    # keep the test short: tiny sizes; the figures themselves are never asserted
    monkeypatch.setitem(bench_ops.QUICK, "gemm_sizes", (64,))
    monkeypatch.setitem(bench_ops.QUICK, "vector_len", 4096)
    monkeypatch.setitem(bench_ops.QUICK, "chain", 50)
    r = invoke("bench", "ops", "--quick")
    assert r.exit_code == 0, r.output
    table = r.output[r.output.index("benchmark"):].splitlines()
    assert table[0].split()[:3] == ["benchmark", "vs", "numpy"]
    names = [line.split("  ")[0] for line in table[2:]]
    assert any(n.startswith("sgemm 64x64x64") for n in names)
    assert any(n.startswith("add a+b") for n in names)
    assert any(n.startswith("sum x.sum()") for n in names)
    assert any(n.startswith("host cost") for n in names)
    r = invoke("bench", "ops", "--quick", "--json")
    rows = json.loads(r.output)
    add = next(row for row in rows if row["name"].startswith("add"))
    assert add["numpy"] > 0 and add["unit"] == "GB/s"
    if hasattr(clnet.Tensor, "__add__"):
        assert add["clnet"] > 0


def test_bench_warns_about_openblas_variables(monkeypatch):
    from clnet.benchmarks import ops as bench_ops
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert bench_ops.openblas_warning() is None
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    w = bench_ops.openblas_warning()
    assert "OPENBLAS_CORETYPE=Haswell" in w and "env -u OPENBLAS_CORETYPE" in w


def test_bench_rejects_too_few_repeats():
    r = invoke("bench", "ops", "--repeats", "2")
    assert r.exit_code == 2 and "repeats" in r.output


def test_median_seconds_takes_the_median():
    from clnet.benchmarks.ops import median_seconds
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=5, warmup=2) >= 0
    assert len(calls) == 7
