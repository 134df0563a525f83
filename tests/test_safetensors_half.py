"""Half-precision checkpoints: F16 and BF16 safetensors entries (files written by hand to the
safetensors format: 8-byte header length, JSON header, little-endian data) load as float16 and
bfloat16, as torch loads them, with exactly the file's values, into a dict and through
``load_state_dict`` (which copies them into a float32 model's dtype); 8/16-bit integer entries
widen as torch storages do; damaged half entries still give the clear errors. torch.save of a
half model loads the same way."""
import io
import json
import struct

import numpy as np
import pytest
import torch

import clnet
import clnet.nn as nn
from clnet import CheckpointError

SPECIAL = [0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, 1e-5, 3.14159, float("inf"), float("-inf"),
           float("nan"), 1e-40, 3.0e38, -7.75e-3]


def safetensors_bytes(entries, metadata=None):
    """A safetensors file: ``entries`` maps name -> (dtype code, shape, raw little-endian
    bytes), laid out back to back in the given order."""
    header, data, at = {}, b"", 0
    for name, (code, shape, raw) in entries.items():
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        data += raw
        at += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)                 # the format pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + data


def f16(values, shape):
    with np.errstate(over="ignore"):           # 3e38 is inf in float16, as in torch
        a = np.asarray(values, np.float32).astype("<f2").reshape(shape)
    return "F16", shape, a.tobytes(), torch.tensor(a.astype(np.float32)).half().float().numpy()


def bf16(values, shape):
    t = torch.tensor(values, dtype=torch.float32).to(torch.bfloat16).reshape(shape)
    raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    return "BF16", shape, raw, t.float().numpy()


def load_bytes(blob):
    return clnet.load(io.BytesIO(blob))


@pytest.mark.parametrize("make", [f16, bf16], ids=["F16", "BF16"])
def test_half_entries_keep_their_dtype_and_torchs_values(make, tmp_path):
    code, shape, raw, expected = make(SPECIAL + [0.1 * i for i in range(10)], (4, 6))
    small = make([1.0, -0.5, 2.0], (3,))
    blob = safetensors_bytes({"w": (code, shape, raw), "b": small[:3],
                              "s": (code, (), make([0.333], ())[2])})
    path = tmp_path / "half.safetensors"
    path.write_bytes(blob)
    for loaded in (clnet.load(str(path)), load_bytes(blob)):
        assert list(loaded) == ["w", "b", "s"]
        w = loaded["w"]
        want = clnet.float16 if code == "F16" else clnet.bfloat16
        assert w.dtype == want and tuple(w.shape) == shape
        np.testing.assert_array_equal(w.float().numpy(), expected)  # exact, NaN where torch's
        np.testing.assert_array_equal(loaded["b"].float().numpy(), small[3])
        assert loaded["s"].shape == () and loaded["s"].dtype == want
    # the conversion is the one torch does, not a float32 re-rounding of the decimal values
    finite = np.isfinite(expected.reshape(-1))
    decimal = np.asarray(SPECIAL + [0.1 * i for i in range(10)], np.float32)
    assert not np.array_equal(expected.reshape(-1)[finite], decimal[finite])


def test_half_state_dict_loads_into_a_float32_model():
    torch.manual_seed(0)
    ref = torch.nn.Linear(5, 3)
    w16 = ref.weight.detach().half()
    b16 = ref.bias.detach().to(torch.bfloat16)
    blob = safetensors_bytes({
        "weight": ("F16", (3, 5), w16.numpy().astype("<f2").tobytes()),
        "bias": ("BF16", (3,), b16.view(torch.int16).numpy().astype("<i2").tobytes())})
    model = nn.Linear(5, 3)
    model.load_state_dict(load_bytes(blob))
    assert model.weight.dtype == clnet.float32
    np.testing.assert_array_equal(model.weight.detach().numpy(), w16.float().numpy())
    np.testing.assert_array_equal(model.bias.detach().numpy(), b16.float().numpy())
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    expected = torch.nn.functional.linear(torch.tensor(x), w16.float(), b16.float()).numpy()
    np.testing.assert_allclose(model(clnet.tensor(x)).detach().numpy(), expected, rtol=1e-6,
                               atol=1e-6)


def test_small_integer_entries_widen():
    u8 = np.array([0, 7, 255], np.uint8)
    i16 = np.array([-32768, 5, 32767], "<i2")
    u32 = np.array([0, 4294967295], "<u4")
    loaded = load_bytes(safetensors_bytes({"u8": ("U8", (3,), u8.tobytes()),
                                           "i16": ("I16", (3,), i16.tobytes()),
                                           "u32": ("U32", (2,), u32.tobytes())}))
    assert loaded["u8"].dtype == clnet.int32 and loaded["u8"].numpy().tolist() == [0, 7, 255]
    assert loaded["i16"].numpy().tolist() == [-32768, 5, 32767]
    assert loaded["u32"].dtype == clnet.int64 and loaded["u32"].numpy().tolist() == u32.tolist()


def test_damaged_half_entries_keep_the_clear_errors(tmp_path):
    code, shape, raw, _ = f16([1.0] * 12, (3, 4))
    good = safetensors_bytes({"w": (code, shape, raw)})
    path = tmp_path / "cut.safetensors"
    path.write_bytes(good[:-3])                                  # truncated
    with pytest.raises(CheckpointError, match=r"cut\.safetensors.*truncated"):
        clnet.load(str(path))
    # offsets sized for float32, not for 2-byte halves
    wide = safetensors_bytes({"w": ("BF16", shape, b"\0" * 48)})
    with pytest.raises(CheckpointError, match=r"shape \[3, 4\] and dtype BF16 needs 24 bytes but "
                                              r"its offsets span 48"):
        load_bytes(wide)
    odd = safetensors_bytes({"w": ("F8_E4M3", (2,), b"\0\0")})
    with pytest.raises(CheckpointError, match=r"unsupported dtype 'F8_E4M3'.*BF16.*F16"):
        load_bytes(odd)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_torch_save_of_a_half_model_loads_into_float32_and_16_bit_models(dtype):
    torch.manual_seed(1)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    ref = ref.to(dtype)
    buf = io.BytesIO()
    torch.save(ref.state_dict(), buf)
    state = clnet.load(io.BytesIO(buf.getvalue()))
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    model.load_state_dict(state)
    for (name, p), (tname, tp) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert name == tname and p.dtype == clnet.float32
        np.testing.assert_array_equal(p.numpy(), tp.float().numpy())
    # the state dict keeps torch's dtype; a model of that dtype takes it as it is
    want = clnet.float16 if dtype == torch.float16 else clnet.bfloat16
    assert all(v.dtype is want for v in state.values())
    half = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).to(want)
    half.load_state_dict(state)
    for p, tp in zip(half.state_dict().values(), ref.state_dict().values()):
        assert p.dtype is want
        np.testing.assert_array_equal(p.float().numpy(), tp.float().numpy())
