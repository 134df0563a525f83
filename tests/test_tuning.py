"""The per-device tuning store (clnet/backend/tuning.py), the vendor default tables and the
search behind ``clnet tune`` (clnet/tuning/): keying, corrupt files, a new process using the
file, candidates refused or skipped, the command end to end and ``clnet devices``' column."""
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import clnet
from clnet.backend import tuning, tuning_defaults
from clnet.kernels import gemm
from clnet.tuning import families, search
from cli.main import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILY_KEYS = ("gemm", "conv.gemm", "softmax.ls", "norm.ls") + families.ReduceFamily.keys
TUNED = {"style": "cpu", "TM": 192, "TN": 256, "TK": 256, "WM": 12, "WN": 16, "VW": 16}


@pytest.fixture
def store(monkeypatch, tmp_path, dev):
    """A fresh tuning folder; the device's filled-in parameters are dropped before and after, so
    neither this test nor the next sees the other's tuning."""
    monkeypatch.setenv("CLNET_TUNING_CACHE", str(tmp_path / "tuning"))
    saved = {k: dev.tuning.pop(k) for k in FAMILY_KEYS if k in dev.tuning}
    tuning.forget()
    yield tmp_path / "tuning"
    for k in FAMILY_KEYS:
        dev.tuning.pop(k, None)
    dev.tuning.update(saved)
    tuning.forget()


def _no_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


# ------------------------------------------------------------------------------------ the store
def test_round_trip_and_key(store, dev):
    assert tuning.status(dev) == ("untuned", None)
    assert _no_warning(lambda: tuning.load(dev)) == {}
    path = tuning.save(dev, {"gemm": {"float": TUNED}, "softmax.ls": 16}, results={})
    assert path.startswith(str(store)) and os.path.isfile(path)
    assert [f for f in os.listdir(store) if f.startswith(".")] == []    # no temporary left
    state, data = tuning.status(dev)
    assert state == "tuned" and data["key"] == tuning.device_key(dev)
    assert data["key"]["driver_version"] == dev.cl_device.driver_version.strip()
    assert data["key"]["clnet_version"] == clnet.__version__
    assert _no_warning(lambda: tuning.tuned(dev, "gemm")) == {"float": TUNED}
    assert tuning.tuned(dev, "softmax.ls") == 16 and tuning.tuned(dev, "norm.ls") is None


@pytest.mark.parametrize("field", ["driver_version", "clnet_version", "platform_version"])
def test_another_driver_or_version_does_not_match(store, dev, field):
    path = tuning.save(dev, {"softmax.ls": 16})
    with open(path) as f:
        data = json.load(f)
    data["key"][field] = "0.0-other"
    with open(path, "w") as f:
        json.dump(data, f)
    tuning.forget()
    state, why = tuning.status(dev)
    assert state == "stale" and field in why and "0.0-other" in why and path in why
    with pytest.warns(RuntimeWarning, match="tuning file ignored") as rec:
        assert tuning.load(dev) == {}
    assert len(rec) == 1
    assert _no_warning(lambda: tuning.tuned(dev, "softmax.ls")) is None   # warned once only


@pytest.mark.parametrize("text", ["{not json", "[]", '{"format": 1, "key": {}, "params": 3}',
                                  '{"format": 99, "key": {}, "params": {}}'])
def test_corrupt_file_is_ignored_with_one_warning(store, dev, text):
    os.makedirs(store)
    with open(tuning.cache_path(dev), "w") as f:
        f.write(text)
    with pytest.warns(RuntimeWarning, match=os.path.basename(tuning.cache_path(dev))):
        assert tuning.load(dev) == {}
    a = clnet.randn(70, 50, device=dev)
    np.testing.assert_allclose((a @ a.t()).numpy(), a.numpy() @ a.numpy().T, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("params, what", [
    ({"gemm": {"float": dict(TUNED, WN=12)}}, "gemm.float"),
    ({"gemm": {"half": TUNED}}, "gemm.half"),
    ({"softmax.ls": 48}, "softmax.ls"),
    ({"reduce.items": -1}, "reduce.items"),
    ({"tile": 4}, "unknown parameter 'tile'"),
])
def test_bad_parameters_are_refused(store, dev, params, what):
    with pytest.raises(ValueError, match=what.replace(".", r"\.")):
        tuning.save(dev, params)
    os.makedirs(store, exist_ok=True)
    with open(tuning.cache_path(dev), "w") as f:
        json.dump({"format": 1, "key": tuning.device_key(dev), "params": params}, f)
    assert tuning.status(dev)[0] == "stale"


def test_unwritable_folder_is_a_clear_error(monkeypatch, tmp_path, dev):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CLNET_TUNING_CACHE", str(blocker / "tuning"))
    with pytest.raises(tuning.TuningCacheError, match="cannot write the tuning cache folder"):
        tuning.check_writable(dev)
    r = CliRunner().invoke(cli, ["tune", "--quick", "--op", "gemm"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith("Error: cannot write the tuning cache")
    assert "Traceback" not in r.output


def test_unknown_device_is_a_clear_error():
    r = CliRunner().invoke(cli, ["tune", "--device", "no-such-device-xyz"])
    assert r.exit_code == 1
    assert "Error: no OpenCL device matches 'no-such-device-xyz'" in r.output


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("CLNET_TUNING_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tuning.cache_dir() == os.path.join(str(tmp_path), "clnet", "tuning")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tuning.cache_dir() == os.path.join(str(tmp_path), "home", ".cache", "clnet", "tuning")


# ------------------------------------------------------------------------ the families read it
def test_a_new_process_uses_the_tuning(store, dev):
    tuning.save(dev, {"gemm": {"float": TUNED}, "softmax.ls": 16, "reduce.items": 512})
    code = ("import json, numpy as np, clnet\n"
            "from clnet.kernels import gemm, reduce\n"
            "from clnet.kernels.layout import row_local\n"
            f"dev = clnet.device({str(dev)!r})\n"
            "a = clnet.randn(300, 200, device=dev)\n"
            "err = float(np.abs((a @ a.t()).numpy() - a.numpy() @ a.numpy().T).max())\n"
            "print(json.dumps([gemm.gemm_tuning(dev)['float'], row_local(dev, 'softmax.ls'),\n"
            "                  reduce.tuning(dev)['reduce.items'], err]))\n")
    env = dict(os.environ, CLNET_TUNING_CACHE=str(store), PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cfg, ls, items, err = json.loads(out.stdout.strip().splitlines()[-1])
    assert cfg == TUNED and ls == 16 and items == 512 and err < 1e-3
    # without the file, the same process start uses the defaults
    env["CLNET_TUNING_CACHE"] = str(store / "elsewhere")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    cfg, ls, items, _ = json.loads(out.stdout.strip().splitlines()[-1])
    assert cfg == gemm.default_tuning(dev)["float"]
    assert ls == (1 if dev.kind == "CPU" else 64)


def test_conv_table_falls_back_to_gemm_and_tiles_that_do_not_fit_are_ignored(store, dev):
    tuning.save(dev, {"gemm": {"float": TUNED}})
    assert gemm.gemm_tuning(dev, "conv.gemm")["float"] == TUNED
    for k in FAMILY_KEYS:
        dev.tuning.pop(k, None)
    huge = dict(TUNED, TM=4096, TN=4096, TK=4096, WM=16, WN=16)
    tuning.save(dev, {"conv.gemm": {"float": huge}})
    with pytest.warns(RuntimeWarning, match="do not fit"):
        cfg = gemm.gemm_tuning(dev, "conv.gemm")["float"]
    assert cfg == gemm.default_tuning(dev)["float"]


# -------------------------------------------------------------------------------- the search
class FakeFamily:
    """Candidates 'a' (right), 'wrong' (its result differs slightly: a tile dropping a term
    would), 'broken' (fails to build) and 'b' (right)."""

    name = "fake"
    keys = ()

    def __init__(self, dev):
        self.dev, self.current = dev, "default"

    def default(self, dev):
        return "default"

    def candidates(self, dev, quick):
        return ["a", "wrong", "broken", "b"]

    def apply(self, dev, value):
        if value == "broken":
            raise clnet.errors.KernelBuildError("fake", {"X": 1}, "error: no such type", dev.name)
        self.current = value

    def reset(self, dev):
        self.current = "default"

    def params(self, dev, value):
        return {}

    def cases(self, dev, quick):
        def setup():
            x = clnet.randn(64, 64, device=self.dev)

            def run():
                y = x @ x
                return [y * 1.001 if self.current == "wrong" else y]
            return run
        return [search.Case("64x64", setup, 2 * 64 ** 3, "GFLOP/s", tol=(1e-4, 0.1))]


def test_wrong_and_broken_candidates_are_refused_or_skipped(dev):
    o = search.search_family(dev, FakeFamily(dev), quick=True, repeats=3, progress=False)
    assert o.refused == [("wrong", "64x64")]
    assert [c for c, _ in o.skipped] == ["broken"] and "KernelBuildError" in o.skipped[0][1]
    assert sorted(c for c, _ in o.timed) == ["a", "b"]
    assert o.best in ("default", "a", "b")
    assert len(o.rows) == 1 and o.rows[0][3] > 0


class SleepyFamily(FakeFamily):
    """Candidates that take a known time: 'fast' beats the default, and its neighbour 'faster'
    (offered only in a full search's second round) beats it."""

    SLEEP = {"default": 0.03, "fast": 0.015, "slow": 0.045, "faster": 0.006}

    def candidates(self, dev, quick):
        return ["slow", "fast"]

    def neighbours(self, dev, best):
        return ["faster", "fast"] if best == "fast" else []

    def cases(self, dev, quick):
        def setup():
            x = clnet.ones(4, device=self.dev)

            def run():
                time.sleep(self.SLEEP[self.current])
                return [x]
            return run
        return [search.Case("sleep", setup, 1.0, "GB/s")]


@pytest.mark.parametrize("quick, best", [(True, "fast"), (False, "faster")])
def test_the_fastest_is_kept_and_a_full_search_tries_its_neighbours(dev, quick, best):
    o = search.search_family(dev, SleepyFamily(dev), quick=quick, repeats=3, progress=False)
    assert o.best == best and o.improved
    assert [c for c, _ in o.timed] == ["slow", "fast"] + ([] if quick else ["faster"])
    label, unit, work, before, after = o.rows[0]
    assert before > after and 1.5 < before / after < 10
    table = search.format_outcomes([o])
    assert "fake" in table and "speedup" in table and "sleep" in table


def test_a_gemm_candidate_that_does_not_build_is_skipped(store, dev, monkeypatch):
    bad = dict(style="cpu", TM=192, TN=240, TK=64, WM=6, WN=15, VW=5)   # float5: no such type
    monkeypatch.setattr(families, "gemm_candidates", lambda dev, quick: [bad])
    monkeypatch.setenv("CLNET_TUNE_TINY", "1")
    o = search.search_family(dev, families.GemmFamily(), quick=True, repeats=3, progress=False)
    assert [c for c, _ in o.skipped] == [bad] and not o.improved
    assert "gemm" not in dev.tuning       # the next launch reads the store again


def test_conv_keeps_its_default_when_gemm_is_tuned(store, dev, monkeypatch):
    """Untuned, conv runs GEMM's tiles: when its own search keeps the default, the file says so
    rather than letting conv follow GEMM's tuned tiles it was never measured with."""
    def fake_search(dev, family, quick, repeats, progress):
        o = search.Outcome(family.name)
        o.default = family.default(dev)
        o.best = dict(TUNED) if family.name == "gemm" else o.default
        return o
    monkeypatch.setattr(search, "search_family", fake_search)
    search.tune(dev, [families.FAMILIES["gemm"], families.FAMILIES["conv"]])
    params = tuning.status(dev)[1]["params"]
    assert params["gemm"] == {"float": TUNED}
    assert params["conv.gemm"] == {"float": gemm.default_tuning(dev)["float"]}
    search.tune(dev, [families.FAMILIES["conv"]])     # alone: the same, GEMM's entry is kept
    assert tuning.status(dev)[1]["params"] == params


def test_close_tolerates_rounding_only():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 512)).astype(np.float32), \
        rng.standard_normal((512, 100)).astype(np.float32)
    ref = a @ b
    other = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)   # other order
    assert search.close([ref], [other], (1e-4, 0.1))
    dropped = ref - np.outer(a[:, 7], b[7])               # one K step missed
    assert not search.close([ref], [dropped], (1e-4, 0.1))
    assert not search.close([ref], [ref[:, :99]])
    nan = ref.copy()
    nan[3, 3] = np.nan
    assert not search.close([ref], [nan])


def test_tune_command_end_to_end_and_devices_column(store, dev, monkeypatch):
    monkeypatch.setenv("CLNET_TUNE_TINY", "1")
    r = CliRunner().invoke(cli, ["devices", "--json"])
    info = [i for i in json.loads(r.output) if i["name"] == str(dev)][0]
    assert info["tuned"] is False and info["tuning"] == "untuned"
    r = CliRunner().invoke(cli, ["tune", "--quick", "--op", "gemm", "--device", str(dev)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(line.startswith("gemm  64x48x40") for line in lines)
    assert "speedup" in r.output and f"saved to {tuning.cache_path(dev)}" in r.output
    state, data = tuning.status(dev)
    assert state == "tuned" and data["quick"] is True
    assert [row["case"] for row in data["results"]["gemm"]] == ["64x48x40",
                                                               "33x17x29 (x @ W.t())"]
    if "gemm" in data["params"]:    # what the search kept is what the kernels now use
        assert gemm.gemm_tuning(dev)["float"] == data["params"]["gemm"]["float"]
    r = CliRunner().invoke(cli, ["devices", "--json"])
    info = [i for i in json.loads(r.output) if i["name"] == str(dev)][0]
    assert info["tuned"] is True and info["tuning_file"] == tuning.cache_path(dev)
    r = CliRunner().invoke(cli, ["devices"])
    header, row = r.output.splitlines()[0], r.output.splitlines()[2]
    assert header.split()[-1] == "tuned" and row.split()[-1] == "yes"
    # a second family keeps the first one's results; --json reports the search
    r = CliRunner().invoke(cli, ["tune", "--quick", "--op", "softmax", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["families"][0]["op"] == "softmax" and report["families"][0]["cases"]
    assert set(tuning.status(dev)[1]["results"]) == {"gemm", "softmax"}


# ------------------------------------------------------------------------------ vendor tables
class _Fake:
    def __init__(self, kind, vendor, wg=1024, local=65536):
        self.kind, self.platform_vendor, self.platform_name = kind, vendor, vendor
        self.max_work_group_size, self.local_mem_size = wg, local


@pytest.mark.parametrize("vendor, expect", [
    ("NVIDIA Corporation", "nvidia"), ("Advanced Micro Devices, Inc.", "amd"),
    ("Intel(R) Corporation", "intel"), ("Apple", "apple"), ("The pocl project", "pocl"),
    ("Mesa", "other")])
def test_vendor_tables(vendor, expect):
    assert tuning_defaults.vendor(_Fake("GPU", vendor)) == expect
    table = tuning_defaults.table(_Fake("GPU", vendor))
    assert table["gemm"]["float"]["style"] == "gpu" and "guess" in table["source"]
    assert tuning_defaults.table(_Fake("CPU", vendor))["gemm"]["float"]["style"] == "cpu"
    assert "measured" in tuning_defaults.table(_Fake("CPU", vendor))["source"]
    small = gemm.default_tuning(_Fake("GPU", vendor, wg=64))["float"]
    assert (small["TM"] // small["WM"]) * (small["TN"] // small["WN"]) <= 64


@pytest.mark.parametrize("vendor", sorted(tuning_defaults.GPU))
def test_every_gpu_table_computes_right_products_here(dev, vendor, monkeypatch):
    """Each guessed GPU tile set, forced on this machine's device: never wrong, only slow."""
    cfg = dict(tuning_defaults.GPU[vendor]["gemm"]["float"])
    if not gemm.fits(dev, cfg):
        pytest.skip(f"{vendor}'s tiles do not fit {dev.name}")
    monkeypatch.setitem(dev.tuning, "gemm", {"float": cfg, "double": dict(cfg)})
    rng = np.random.default_rng(1)
    for m, n, k in ((1, 1, 1), (33, 65, 17), (130, 70, 129)):
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((n, k)).astype(np.float32)
        got = clnet.tensor(a, device=dev) @ clnet.tensor(b, device=dev).t()
        np.testing.assert_allclose(got.numpy(), a @ b.T, rtol=1e-4, atol=1e-4)
    x = rng.standard_normal((3, 20, 30)).astype(np.float32)
    y = rng.standard_normal((3, 30, 9)).astype(np.float32)
    got = clnet.tensor(x, device=dev) @ clnet.tensor(y, device=dev)
    np.testing.assert_allclose(got.numpy(), x @ y, rtol=1e-4, atol=1e-4)
