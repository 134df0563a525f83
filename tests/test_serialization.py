"""clnet.save / clnet.load: round trips of nested checkpoints, the safetensors layout, atomic
writes, and clear errors for truncated or foreign files."""
import io
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import pytest

import clnet
from clnet.serialization import save_safetensors
from clnet import serialization
from tests.helpers import assert_close


def _host(rng):
    return {
        "f32": rng.standard_normal((3, 5)).astype(np.float32),
        "f64": rng.standard_normal(4),
        "i64": rng.integers(-2**40, 2**40, size=(2, 3)),
        "i32": rng.integers(-100, 100, size=7).astype(np.int32),
        "b": rng.random(6) > 0.5,
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
    }


def _checkpoint(rng):
    host = _host(rng)
    t = {k: clnet.tensor(v) for k, v in host.items()}
    base = clnet.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    views = {"transposed": base.t(), "strided": base[::2, 1::3], "offset": base[1]}
    obj = {
        "model": OrderedDict([("fc.weight", t["f32"]), ("fc.bias", t["scalar"]),
                              ("bn.num_batches", t["i64"]), ("mask", t["b"])]),
        "optimizer": {"state": {0: {"step": 7, "exp_avg": t["f64"]}, 1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "nesterov": False, "foreach": None, "name": "grp"}]},
        "views": views, "extra": [t["i32"], t["empty"], (1, "two", 3.0)],
        "floats": [math.inf, -math.inf, float("nan"), 1e-300],
        "epoch": 3,
    }
    return obj, host, base.numpy()


def test_round_trip_nested(tmp_path, rng):
    obj, host, base = _checkpoint(rng)
    path = tmp_path / "ck.safetensors"
    save_safetensors(obj, path)
    got = clnet.load(path)
    assert list(got) == list(obj)
    assert isinstance(got["model"], OrderedDict) and list(got["model"]) == list(obj["model"])
    assert_close(got["model"]["fc.weight"], host["f32"], 0, 0)
    assert_close(got["model"]["fc.bias"], host["scalar"], 0, 0)
    assert got["model"]["fc.bias"].shape == ()
    assert_close(got["model"]["bn.num_batches"], host["i64"])
    assert_close(got["model"]["mask"], host["b"])
    assert got["model"]["mask"].dtype is clnet.bool
    opt = got["optimizer"]
    assert set(opt["state"]) == {0, 1} and opt["state"][0]["step"] == 7 and opt["state"][1] == {}
    assert_close(opt["state"][0]["exp_avg"], host["f64"], 0, 0)
    assert opt["param_groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                    "nesterov": False, "foreach": None, "name": "grp"}]
    assert_close(got["views"]["transposed"], base.T, 0, 0)
    assert_close(got["views"]["strided"], base[::2, 1::3], 0, 0)
    assert_close(got["views"]["offset"], base[1], 0, 0)
    assert got["views"]["strided"].is_contiguous()
    assert_close(got["extra"][0], host["i32"])
    assert got["extra"][1].shape == (0, 3)
    assert got["extra"][2] == (1, "two", 3.0) and isinstance(got["extra"][2][2], float)
    inf, ninf, nan, tiny = got["floats"]
    assert inf == math.inf and ninf == -math.inf and math.isnan(nan) and tiny == 1e-300
    assert got["epoch"] == 3 and type(got["epoch"]) is int


def test_file_objects_parameters_and_shared_tensors(rng):
    w = clnet.nn.Parameter(clnet.tensor(rng.standard_normal(3).astype(np.float32)))
    frozen = clnet.nn.Parameter(clnet.ones(2), requires_grad=False)
    buf = io.BytesIO()
    save_safetensors({"a": w, "b": w, "frozen": frozen, "top": [w]}, buf)
    buf.seek(0)
    got = clnet.load(buf, map_location=clnet.default_device())
    assert isinstance(got["a"], clnet.nn.Parameter) and got["a"].requires_grad
    assert got["a"] is got["b"] is got["top"][0]          # one tensor stored, one loaded
    assert not got["frozen"].requires_grad
    assert_close(got["a"].detach(), w.numpy(), 0, 0)


def test_module_state_dict_round_trip(tmp_path, rng):
    def make():
        m = clnet.nn.Sequential(clnet.nn.Identity(), clnet.nn.ParameterList(
            [clnet.randn(3, 2), clnet.randn(4)]))
        m[0].register_buffer("steps", clnet.tensor(5))
        return m
    src, dst = make(), make()
    save_safetensors(src.state_dict(), tmp_path / "m.ck")
    dst.load_state_dict(clnet.load(tmp_path / "m.ck", map_location="cl:0"))
    for (n, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert_close(b, a.numpy(), 0, 0)


def test_layout_is_safetensors(tmp_path):
    path = tmp_path / "x.ck"
    save_safetensors({"w": clnet.arange(6, dtype=clnet.float32).reshape(2, 3),
                "n": clnet.tensor([1, 2], dtype=clnet.int64)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["n"] == {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]}
    assert header["__metadata__"]["format"] == "clnet"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    data = raw[8 + n:]
    assert len(data) == 40
    np.testing.assert_array_equal(np.frombuffer(data[:24], "<f4"), np.arange(6))
    np.testing.assert_array_equal(np.frombuffer(data[24:], "<i8"), [1, 2])


def test_readable_by_safetensors_package(tmp_path, rng):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not "
                             "installed in this environment (optional cross-check)")
    host = _host(rng)
    path = tmp_path / "s.safetensors"
    save_safetensors({k: clnet.tensor(v) for k, v in host.items()}, path)
    loaded = st.load_file(str(path))
    assert set(loaded) == set(host)
    for k, v in host.items():
        np.testing.assert_array_equal(loaded[k], v)
    st.save_file({"x": host["f32"], "y": host["i64"]}, str(tmp_path / "foreign.safetensors"))
    back = clnet.load(tmp_path / "foreign.safetensors")
    assert set(back) == {"x", "y"}
    assert_close(back["x"], host["f32"], 0, 0)


def test_plain_safetensors_without_structure_loads_as_dict(tmp_path):
    arr = np.arange(4, dtype=np.float32)
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (tmp_path / "p.st").write_bytes(struct.pack("<Q", len(header)) + header + arr.tobytes())
    got = clnet.load(tmp_path / "p.st")
    assert list(got) == ["x"]
    assert_close(got["x"], arr, 0, 0)


def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    save_safetensors({"v": clnet.ones(3)}, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before rename")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_safetensors({"v": clnet.zeros(50)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.safetensors"]       # no temporary file left
    assert_close(clnet.load(path)["v"], np.ones(3, np.float32))


def test_unsavable_object_leaves_nothing(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type object at a/0"):
        save_safetensors({"a": [object()]}, tmp_path / "bad")
    assert os.listdir(tmp_path) == []


def _corrupt(tmp_path, raw, name="bad.ck"):
    p = tmp_path / name
    p.write_bytes(raw)
    return p


def test_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.ck"
    save_safetensors({"w": clnet.ones(10), "i": clnet.arange(3)}, good)
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    cases = [
        (raw[:5], "too short"),
        (raw[:8 + n // 2], "beyond the file size"),
        (raw[:-4], "outside the data section"),
        (b"hello world, this is not a checkpoint at all", "looks like a text file"),
        (b"PK\x03\x04" + b"\0" * 100, "not a valid zip archive"),
        (struct.pack("<Q", 4) + b"{{{{", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ]
    for data, message in cases:
        p = _corrupt(tmp_path, data)
        with pytest.raises(clnet.CheckpointError, match=message) as e:
            clnet.load(p)
        assert str(p) in str(e.value)

    def with_header(entries, data=b""):
        h = json.dumps(entries).encode()
        return struct.pack("<Q", len(h)) + h + data
    bad = {
        "unknown or unsupported dtype 'F8_E4M3'":
            with_header({"x": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"1"),
        "needs 8 bytes but its offsets span 4":
            with_header({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"1234"),
        "invalid shape":
            with_header({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}),
        "refers to tensor 'y'":
            with_header({"__metadata__": {"format": "clnet", "version": "1",
                                          "structure": '{"tensor":"y"}'}}),
        "version '9'":
            with_header({"__metadata__": {"format": "clnet", "version": "9",
                                          "structure": "1"}}),
    }
    for message, data in bad.items():
        with pytest.raises(clnet.CheckpointError, match=message):
            clnet.load(_corrupt(tmp_path, data))


def test_a_clnet_checkpoint_is_never_unpickled(tmp_path, monkeypatch):
    import pickle
    path = tmp_path / "ck.clnet"
    save_safetensors({"w": clnet.ones(2), "meta": [1, "a", None]}, path)

    def refuse(*args, **kwargs):
        raise AssertionError("a clnet checkpoint was unpickled")
    monkeypatch.setattr(serialization.reader, "load_torch", refuse)
    monkeypatch.setattr(pickle._Unpickler, "load", refuse)
    for weights_only in (True, False):
        got = clnet.load(path, weights_only=weights_only)
        assert got["meta"] == [1, "a", None] and got["w"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="explicit pickle_module"):
        clnet.load(io.BytesIO(b""), pickle_module=pickle)


def test_map_location_errors():
    buf = io.BytesIO()
    clnet.save({"x": clnet.ones(1)}, buf)
    buf.seek(0)
    with pytest.raises(TypeError, match="map_location"):
        clnet.load(buf, map_location=3)
