"""clnet.save / clnet.load speak torch.save's formats (issue 11, item 2).

Round trips of every object kind; cross-reads with the real torch both ways (files saved by
clnet and read by ``torch.load(weights_only=True)``, files saved by torch and read by clnet);
the ``weights_only`` allow-list against crafted malicious pickles; damaged zip files refused
as ``clnet.CheckpointError`` within bounded memory. Values are compared exactly (files copy
bytes); forward passes of cross-loaded modules within float32 tolerances (1e-5)."""
import dataclasses
import io
import math
import os
import pickle
import struct
import tracemalloc
import zipfile
import zlib
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch

import clnet
from clnet import CheckpointError
from clnet.serialization import (add_safe_globals, clear_safe_globals, get_safe_globals,
                                 safe_globals)
from tests.helpers import assert_close


@dataclasses.dataclass
class Config:
    lr: float
    sizes: tuple


@pytest.fixture(autouse=True)
def _no_leftover_safe_globals():
    clear_safe_globals()
    yield
    clear_safe_globals()


def _bytes(obj, **kw):
    buf = io.BytesIO()
    clnet.save(obj, buf, **kw)
    return buf.getvalue()


def _clnet_load(raw, **kw):
    return clnet.load(io.BytesIO(raw), **kw)


def _torch_load(raw):
    return torch.load(io.BytesIO(raw), weights_only=True)


def _torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def _same_tensor(got, want):
    """A clnet tensor equal to ``want`` (a torch tensor) in dtype name, shape and values."""
    assert isinstance(got, clnet.Tensor)
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())


# ------------------------------------------------------------------ tensors
def _tensors(rng):
    base = clnet.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    return {
        "f32": clnet.tensor(rng.standard_normal((3, 5)).astype(np.float32)),
        "f64": clnet.tensor(rng.standard_normal(7)),
        "i64": clnet.tensor(rng.integers(-2**40, 2**40, size=(2, 3))),
        "i32": clnet.tensor(rng.integers(-9, 9, size=5).astype(np.int32)),
        "bool": clnet.tensor(rng.random(6) > 0.5),
        "scalar": clnet.tensor(2.5),
        "empty": clnet.zeros(0, 3),
        "base": base, "transposed": base.t(), "stepped": base[1::2, ::3], "row": base[2],
        "param": clnet.nn.Parameter(clnet.randn(3)),
        "frozen": clnet.nn.Parameter(clnet.randn(2), requires_grad=False),
        "grad": clnet.ones(2, requires_grad=True),
    }


@pytest.mark.parametrize("zipped", [True, False])
def test_tensors_round_trip_with_views_dtypes_and_parameters(rng, zipped):
    obj = _tensors(rng)
    got = _clnet_load(_bytes(obj, _use_new_zipfile_serialization=zipped))
    assert list(got) == list(obj)
    for k, t in obj.items():
        g = got[k]
        assert type(g) is type(t) and g.dtype is t.dtype and g.shape == t.shape, k
        assert g.requires_grad == t.requires_grad, k
        np.testing.assert_array_equal(g.detach().numpy(), t.detach().numpy())
    # views come back as views of one storage with the saved strides and offsets
    for k in ("transposed", "stepped", "row"):
        assert got[k]._storage is got["base"]._storage
        assert got[k].stride() == obj[k].stride() and got[k]._offset == obj[k]._offset
    got["base"][2, 0] = 100.0
    assert got["row"][0].item() == 100.0 and got["transposed"][0, 2].item() == 100.0


def test_torch_reads_clnet_tensors(rng):
    obj = _tensors(rng)
    got = _torch_load(_bytes(obj))
    for k, t in obj.items():
        g = got[k]
        assert isinstance(g, torch.Tensor) and g.requires_grad == t.requires_grad, k
        assert isinstance(g, torch.nn.Parameter) == isinstance(t, clnet.nn.Parameter), k
        assert str(g.dtype) == f"torch.{t.dtype.name}", k
        np.testing.assert_array_equal(g.detach().numpy(), t.detach().numpy())
    assert got["transposed"].stride() == (1, 6) and got["stepped"].stride() == (12, 3)
    assert got["transposed"].untyped_storage().data_ptr() == \
        got["base"].untyped_storage().data_ptr()


@pytest.mark.parametrize("zipped", [True, False])
def test_clnet_reads_torch_tensors_and_views(zipped):
    base = torch.randn(4, 6)
    obj = {"t": base.t(), "s": base[1:, ::2], "row": base[3], "base": base,
           "i64": torch.tensor([2**40, -3]), "b": torch.tensor([True, False, True]),
           "f64": torch.randn(3, dtype=torch.float64), "i32": torch.arange(5, dtype=torch.int32),
           "p": torch.nn.Parameter(torch.randn(2, 2)), "scalar": torch.tensor(3.0),
           "empty": torch.zeros(2, 0)}
    got = _clnet_load(_torch_bytes(obj, _use_new_zipfile_serialization=zipped))
    for k, t in obj.items():
        _same_tensor(got[k], t)
    assert isinstance(got["p"], clnet.nn.Parameter) and got["p"].requires_grad
    assert got["t"]._storage is got["base"]._storage and got["t"].stride() == (1, 6)
    assert got["s"].stride() == (6, 2) and got["s"]._offset == 6


def test_torch_dtypes_load_as_their_own_or_the_nearest_one():
    vals = [0, 1, 100, -7]
    obj = {"f16": torch.tensor([0.5, -2.25, 65504.0], dtype=torch.float16),
           "bf16": torch.tensor([1.5, -3.0, 1e30], dtype=torch.bfloat16),
           "i8": torch.tensor(vals, dtype=torch.int8), "u8": torch.tensor([0, 255, 7],
                                                                          dtype=torch.uint8),
           "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
           "u16": torch.tensor([65535, 3], dtype=torch.uint16),
           "u32": torch.tensor([2**32 - 1], dtype=torch.uint32),
           "dtype": torch.float16, "f32": torch.float32}
    got = _clnet_load(_torch_bytes(obj))
    want = {"f16": clnet.float16, "bf16": clnet.bfloat16, "i8": clnet.int32, "u8": clnet.int32,
            "i16": clnet.int32, "u16": clnet.int32, "u32": clnet.int64}
    for k, dt in want.items():
        assert got[k].dtype is dt, k
        host = got[k].float().numpy() if dt.is_floating_point else got[k].numpy()
        np.testing.assert_array_equal(host, obj[k].to(torch.float64 if
                                      dt.is_floating_point else torch.int64).numpy())
    assert got["dtype"] is clnet.float16 and got["f32"] is clnet.float32
    with pytest.raises(CheckpointError, match="torch.ComplexFloatStorage data, which clnet has no dtype"):
        _clnet_load(_torch_bytes({"c": torch.ones(2, dtype=torch.complex64)}))


# ------------------------------------------------------------------ modules and optimizers
def _pairs():
    torch.manual_seed(0)
    return [(torch.nn.Linear(5, 3), clnet.nn.Linear(5, 3), (4, 5)),
            (torch.nn.Conv2d(2, 3, 3, padding=1), clnet.nn.Conv2d(2, 3, 3, padding=1),
             (2, 2, 5, 6)),
            (torch.nn.LSTM(4, 3, num_layers=2), clnet.nn.LSTM(4, 3, num_layers=2), (5, 2, 4))]


def _out(y):
    return y[0] if isinstance(y, tuple) else y


def test_state_dicts_cross_read_both_ways(rng):
    for tm, cm, shape in _pairs():
        x = rng.standard_normal(shape).astype(np.float32)
        # torch -> clnet
        cm.load_state_dict(_clnet_load(_torch_bytes(tm.state_dict())))
        assert_close(_out(cm(clnet.tensor(x))), _out(tm(torch.tensor(x))), 1e-5, 1e-5)
        # clnet -> torch, after changing clnet's weights
        for p in cm.parameters():
            p.data = p.detach() * 0.5 + 0.1
        raw = _bytes(cm.state_dict())
        tm.load_state_dict(_torch_load(raw))
        assert_close(_out(cm(clnet.tensor(x))), _out(tm(torch.tensor(x))), 1e-5, 1e-5)
        back = _clnet_load(raw)
        assert list(back) == list(cm.state_dict())


def test_optimizer_state_dict_cross_read():
    model = clnet.nn.Linear(3, 2)
    opt = clnet.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(clnet.ones(4, 3)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    for got in (_torch_load(_bytes(sd)), _clnet_load(_bytes(sd))):
        assert got["param_groups"] == sd["param_groups"]
        assert set(got["state"]) == set(sd["state"]) == {0, 1}
        for i in (0, 1):
            assert got["state"][i]["step"] == sd["state"][i]["step"]
            for key in ("exp_avg", "exp_avg_sq"):
                np.testing.assert_array_equal(np.asarray(got["state"][i][key]),
                                              sd["state"][i][key].numpy())
    fresh = clnet.optim.Adam(clnet.nn.Linear(3, 2).parameters())
    fresh.load_state_dict(_clnet_load(_bytes(sd)))
    assert fresh.param_groups[0]["betas"] == (0.8, 0.9)
    # torch's own Adam state (step a 0-d tensor) reads too
    tmodel = torch.nn.Linear(3, 2)
    topt = torch.optim.Adam(tmodel.parameters())
    tmodel(torch.ones(4, 3)).sum().backward()
    topt.step()
    got = _clnet_load(_torch_bytes(topt.state_dict()))
    _same_tensor(got["state"][0]["exp_avg"], topt.state_dict()["state"][0]["exp_avg"])
    assert got["state"][0]["step"].item() == 1.0


def test_nested_containers_round_trip_and_torch_reads_them():
    t = clnet.arange(4)
    obj = OrderedDict(a={"x": [t, (t, None)], 3: {"y": True}}, b=[1, 2**70, -0.0, math.inf],
                      c=("s", b"bytes", bytearray(b"ba"), 1 + 2j), d={1, 2}, e=Counter("aab"),
                      dt=clnet.float64, size=clnet.Size([2, 3]))
    got = _clnet_load(_bytes(obj))
    assert type(got) is OrderedDict and list(got) == list(obj)
    assert got["a"]["x"][0] is got["a"]["x"][1][0]          # one object stays one object
    assert got["a"]["x"][0].tolist() == [0, 1, 2, 3] and got["a"][3] == {"y": True}
    assert got["b"] == obj["b"] and math.copysign(1, got["b"][2]) == -1
    assert got["c"] == obj["c"] and got["d"] == {1, 2} and got["e"] == Counter("aab")
    assert got["dt"] is clnet.float64 and got["size"] == (2, 3)
    assert type(got["size"]) is clnet.Size
    theirs = _torch_load(_bytes(obj))
    assert theirs["dt"] is torch.float64 and theirs["size"] == torch.Size([2, 3])
    assert theirs["a"]["x"][1][0].tolist() == [0, 1, 2, 3] and theirs["c"] == obj["c"]


def test_whole_modules_numpy_and_dataclasses_need_weights_only_false_or_an_allow_list():
    model = clnet.nn.Sequential(clnet.nn.Linear(3, 4), clnet.nn.ReLU(), clnet.nn.Linear(4, 2))
    raw = _bytes(model)
    x = clnet.randn(2, 3)
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL clnet\.nn\.containers\.Sequential "
                       r"was not an allowed global by default\. Please use `clnet\.serializa"
                       r"tion\.add_safe_globals\(\[clnet\.nn\.containers\.Sequential\]\)`"):
        _clnet_load(raw)
    loaded = _clnet_load(raw, weights_only=False)
    assert type(loaded) is clnet.nn.Sequential and loaded[0].weight is not model[0].weight
    assert_close(loaded(x), model(x).detach().numpy(), 0, 0)
    # the allow-list, under the import paths torch code names
    with safe_globals([clnet.nn.modules.container.Sequential, clnet.nn.modules.linear.Linear,
                       clnet.nn.modules.activation.ReLU]):
        assert_close(_clnet_load(raw)(x), model(x).detach().numpy(), 0, 0)
    assert get_safe_globals() == []
    arr = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_clnet_load(_bytes({"a": arr}), weights_only=False)["a"], arr)
    cfg = {"cfg": Config(0.1, (3, 4)), "w": clnet.ones(2)}
    with pytest.raises(pickle.UnpicklingError, match="test_torch_serialization.Config"):
        _clnet_load(_bytes(cfg))
    add_safe_globals([Config])
    assert get_safe_globals() == [Config]
    assert _clnet_load(_bytes(cfg))["cfg"] == Config(0.1, (3, 4))
    clear_safe_globals()
    add_safe_globals([(Config, f"{Config.__module__}.Config")])
    assert _clnet_load(_bytes(cfg))["cfg"] == Config(0.1, (3, 4))
    with pytest.raises(RuntimeError, match="explicit pickle_module"):
        _clnet_load(raw, pickle_module=pickle)
    assert type(_clnet_load(raw, weights_only=False, pickle_module=pickle)) is \
        clnet.nn.Sequential


def test_module_alias_paths():
    import clnet as t
    assert t.nn.modules.sparse.Embedding is clnet.nn.Embedding
    assert t.nn.modules.container.ModuleList is clnet.nn.ModuleList
    assert t.nn.modules.batchnorm.BatchNorm2d is clnet.nn.BatchNorm2d
    assert t.nn.modules.flatten.Unflatten is clnet.nn.Unflatten
    assert t.nn.modules.padding.ZeroPad2d is clnet.nn.ZeroPad2d
    assert t.nn.modules.upsampling.Upsample is clnet.nn.Upsample
    assert t.nn.modules.normalization.LayerNorm is clnet.nn.LayerNorm
    assert t.nn.modules.rnn.LSTM is clnet.nn.LSTM and t.nn.modules.conv.Conv2d is clnet.nn.Conv2d


def test_saved_zip_layout_paths_and_mmap(tmp_path):
    path = tmp_path / "m.pt"
    clnet.save({"w": clnet.ones(3), "b": clnet.zeros(5, dtype=clnet.int64)}, path)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names[0] == "archive/data.pkl" and "archive/version" in names
        assert z.read("archive/byteorder") == b"little"
        for zi in z.infolist():
            assert zi.compress_type == zipfile.ZIP_STORED
            if zi.filename.startswith("archive/data/"):
                local = path.read_bytes()[zi.header_offset:zi.header_offset + 30]
                n, m = struct.unpack("<HH", local[26:30])
                assert (zi.header_offset + 30 + n + m) % 64 == 0
    got = torch.load(path, weights_only=True, mmap=True)
    assert got["w"].tolist() == [1.0, 1.0, 1.0] and got["b"].dtype is torch.int64
    assert os.listdir(tmp_path) == ["m.pt"]
    assert clnet.load(path)["b"].tolist() == [0] * 5
    assert _clnet_load(_bytes([clnet.ones(2)], pickle_protocol=4))[0].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ malicious pickles
MAGIC = 0x1950a86a20f9469cfc6c


def _call(module, name, *args):
    """A protocol-2 pickle of ``module.name(*args)``."""
    body = b"".join(pickle.dumps(a, 2)[2:-1] for a in args)
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(" + body + b"tR."


def _zip(pkl, records=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for name, data in records:
            z.writestr(f"archive/{name}", data)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def _legacy(pkl):
    head = b"".join(pickle.dumps(v, 2) for v in (MAGIC, 1001, {"little_endian": True}))
    return head + pkl + pickle.dumps([], 2)


def test_malicious_pickles_never_run(tmp_path):
    marker = tmp_path / "pwned"
    attacks = {
        "posix.system": _call("posix", "system", f"touch {marker}"),
        "os.system": _call("os", "system", f"touch {marker}"),
        "eval": _call("builtins", "eval", f"open({str(marker)!r}, 'w')"),
        "exec": _call("builtins", "exec", f"open({str(marker)!r}, 'w')"),
        "subprocess.call": _call("subprocess", "call", ["touch", str(marker)]),
        "getattr": _call("builtins", "getattr", 1, "real"),
        "Config": pickle.dumps(Config(1.0, ()), 2),
    }
    for name, pkl in attacks.items():
        for raw in (_zip(pkl), _legacy(pkl)):
            with pytest.raises(pickle.UnpicklingError, match=name.replace(".", r"\.")) as e:
                _clnet_load(raw)
            assert isinstance(e.value, CheckpointError) and "Weights only load failed" in \
                str(e.value)
            assert not marker.exists(), name
    with pytest.raises(pickle.UnpicklingError, match="whose module posix is blocked"):
        _clnet_load(_zip(attacks["posix.system"]))
    # a blocked module stays blocked even when a user allows its function
    add_safe_globals([os.system])
    with pytest.raises(pickle.UnpicklingError, match="is blocked"):
        _clnet_load(_zip(attacks["posix.system"]))
    assert not marker.exists()


@pytest.mark.parametrize("pkl, message", [
    # an allowed class used in an opcode the allow-list does not allow
    (b"\x80\x02ccollections\nOrderedDict\n)\x81}b.", None),          # NEWOBJ + BUILD: allowed
    (b"\x80\x02(ccollections\nOrderedDict\no.", "OBJ opcode"),
    (b"\x80\x02}K\x03a.", "Can only append to lists"),
    (b"\x80\x02]K\x01K\x02s.", "Can only SETITEM"),
    (b"\x80\x02\x82\x01.", "EXT1 opcode"),
    (b"\x80\x02X\x01\x00\x00\x00aQ.", "Only persistent_load of storage"),
    (b"\x80\x02K\x01K\x02R.", "Trying to call reduce for unrecognized function"),
    (b"\x80\x02cbuiltins\nset\n)\x81}b.", "Can only build"),
])
def test_opcodes_are_checked(pkl, message):
    if message is None:
        assert _clnet_load(_zip(pkl)) == OrderedDict()
        return
    with pytest.raises(pickle.UnpicklingError, match=message):
        _clnet_load(_zip(pkl))


# ------------------------------------------------------------------ damaged files
def _bounded_load(raw):
    """Load ``raw``: it must raise CheckpointError, allocating at most a small multiple of its
    size on the host and at most its size on the device."""
    clnet.reset_peak_memory_stats()
    before = clnet.memory_allocated()
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as e:
            _clnet_load(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 64 * len(raw) + (1 << 20), f"{peak} host bytes for {len(raw)}"
    assert clnet.max_memory_allocated() - before <= len(raw)
    assert "<BytesIO>" in str(e.value)
    return e.value


def _central(raw, name):
    """The offset of ``name``'s central directory entry in a zip."""
    at = raw.index(b"PK\x01\x02")
    while True:
        n = struct.unpack("<H", raw[at + 28:at + 30])[0]
        if raw[at + 46:at + 46 + n] == name.encode():
            return at
        at = raw.index(b"PK\x01\x02", at + 4)


def _patch(raw, at, fmt, value):
    return raw[:at] + struct.pack(fmt, value) + raw[at + struct.calcsize(fmt):]


def test_truncated_and_flipped_zip_files_fail_cleanly():
    raw = _bytes({"w": clnet.arange(40, dtype=clnet.float32), "i": clnet.arange(9)})
    for n in list(range(0, len(raw), 37)) + [len(raw) - 1]:
        _bounded_load(raw[:n])
    data_at = raw.index(b"archive/data/0") + 14
    for at in (100, data_at + 70, len(raw) - 30):
        bad = bytearray(raw)
        bad[at] ^= 0x20
        try:
            got = _clnet_load(bytes(bad))
        except CheckpointError:
            continue
        assert got["w"].tolist() == list(range(40)), "a flipped bit loaded silently"


def test_zip_members_outside_the_file_overlapping_or_bombs_are_refused():
    raw = _bytes({"a": clnet.ones(16), "b": clnet.zeros(16)})
    cd = _central(raw, "archive/data/1")
    e = _bounded_load(_patch(raw, cd + 42, "<I", len(raw) - 10))
    assert "points outside the file" in e.problem or "not a valid zip" in e.problem
    other = struct.unpack("<I", raw[_central(raw, "archive/data/0") + 42:][:4])[0]
    assert "overlap" in _bounded_load(_patch(raw, cd + 42, "<I", other)).problem
    big = _patch(raw, cd + 24, "<I", 10**9)      # a stored member claiming 1 GB
    assert "stored but claims 1000000000 bytes" in _bounded_load(big).problem
    buf = io.BytesIO()                           # a deflated member of 20 MB of zeros
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({}, 2))
        z.writestr("archive/data/0", bytes(20 << 20), compress_type=zipfile.ZIP_DEFLATED)
    assert "zip bomb" in _bounded_load(buf.getvalue()).problem


class _Storage:
    pass


def _tensor_file(numel, offset, size, stride, record_bytes):
    """A zip whose pickle rebuilds one float tensor from storage "0" (``numel`` claimed)."""
    st = _Storage()

    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, (st, offset, size, stride, False,
                                                      OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is st else None
    buf = io.BytesIO()
    P(buf, 2).dump([Rebuild()])
    return _zip(buf.getvalue(), [("data/0", record_bytes)])


@pytest.mark.parametrize("args, message", [
    ((4, 0, (2,), (1,), np.arange(4, dtype="<f4").tobytes()), None),
    ((4, 0, (2,), (10,), bytes(16)), "reaches element 10 of a storage of 4"),
    ((4, 3, (2,), (1,), bytes(16)), "reaches element 4"),
    ((4, 0, (2,), (-1,), bytes(16)), "invalid layout"),
    ((100, 0, (2,), (1,), bytes(16)), "needs 400 bytes but its record holds 16"),
    ((10**12, 0, (2,), (1,), bytes(16)), "more than the file"),
    ((4, 0, "ab", (1,), bytes(16)), "invalid layout"),
])
def test_tensor_records_are_checked_against_their_storage(args, message):
    raw = _tensor_file(*args)
    if message is None:
        assert _clnet_load(raw)[0].tolist() == [0.0, 1.0]
        return
    assert message in _bounded_load(raw).problem


def test_missing_storage_record_torchscript_and_unseekable_streams():
    raw = _tensor_file(4, 0, (2,), (1,), bytes(16)).replace(b"archive/data/0", b"archive/data/9")
    assert "no record 'archive/data/0'" in _bounded_load(raw).problem
    ts = _zip(pickle.dumps({}, 2), [("constants.pkl", pickle.dumps((), 2))])
    assert "TorchScript" in _bounded_load(ts).problem

    class Stream(io.RawIOBase):
        def __init__(self, data):
            self.buf = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.buf.readinto(b)
    with pytest.raises(CheckpointError, match="seekable"):
        clnet.load(Stream(_bytes([1])))
