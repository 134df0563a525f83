"""float16/bfloat16 models: Module.half()/bfloat16()/to(dtype) against the same torch model, and
checkpoints of 16-bit tensors (clnet.save in torch's format, read back by clnet and by torch;
safetensors F16/BF16 entries) keeping their dtype and bits."""
import io
import json
import struct

import numpy as np
import pytest
import torch

import clnet
import clnet.nn as nn
from clnet.serialization import save_safetensors

HALF = ["float16", "bfloat16"]
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}


def _models():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10),
                              torch.nn.LayerNorm(10), torch.nn.Linear(10, 5))
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 10), nn.LayerNorm(10), nn.Linear(10, 5))
    model.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    return ref, model


@pytest.mark.parametrize("name", HALF)
@pytest.mark.parametrize("how", ["method", "to"])
def test_a_16_bit_model_matches_torchs(name, how):
    ref, model = _models()
    dt, tdt = getattr(clnet, name), getattr(torch, name)
    if how == "method":
        model = model.half() if name == "float16" else model.bfloat16()
        ref = ref.half() if name == "float16" else ref.bfloat16()
    else:
        model, ref = model.to(dt), ref.to(tdt)
    assert all(p.dtype is dt for p in model.parameters())
    for p, tp in zip(model.parameters(), ref.parameters()):      # the same rounded weights
        np.testing.assert_array_equal(p.detach().float().numpy(), tp.detach().float().numpy())
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = model(clnet.tensor(x).to(dt))
    want = ref(torch.tensor(x).to(tdt))
    assert out.dtype is dt
    tol = 4 * EPS[name]
    np.testing.assert_allclose(out.detach().float().numpy(), want.detach().float().numpy(),
                               rtol=tol, atol=tol * 2)
    out.float().sum().backward()
    want.float().sum().backward()
    for p, tp in zip(model.parameters(), ref.parameters()):     # conv, linear, layer norm
        assert p.grad is not None and p.grad.dtype is dt
        g = tp.grad.float().numpy()
        np.testing.assert_allclose(p.grad.float().numpy(), g, rtol=8 * EPS[name],
                                   atol=8 * EPS[name] * np.abs(g).max())
    # and back: float() gives float32 parameters again
    assert all(p.dtype is clnet.float32 for p in model.float().parameters())


@pytest.mark.parametrize("name", HALF)
def test_module_to_refuses_integer_dtypes_and_keeps_integer_buffers(name):
    m = nn.BatchNorm1d(3).to(getattr(clnet, name))
    assert m.weight.dtype is getattr(clnet, name)
    assert m.num_batches_tracked.dtype is clnet.int64
    with pytest.raises(TypeError, match="floating point"):
        m.to(clnet.int32)


@pytest.mark.parametrize("name", HALF)
def test_save_load_round_trip_keeps_dtype_and_bits(name, tmp_path):
    dt, tdt = getattr(clnet, name), getattr(torch, name)
    v = [0.1, -2.5, 65504.0, float("inf"), float("nan"), 1e-7, 3.0e38]
    t = clnet.tensor(v, dtype=dt)
    state = {"t": t, "view": t[1:5:2], "scalar": t[0]}
    path = tmp_path / "half.pt"
    clnet.save(state, str(path))
    back = clnet.load(str(path))
    for k, x in state.items():
        assert back[k].dtype is dt and back[k].shape == x.shape
        np.testing.assert_array_equal(back[k].float().numpy(), x.float().numpy())
    # the file is torch's: torch reads the same tensors
    theirs = torch.load(str(path))
    want = torch.tensor(v, dtype=tdt)
    assert theirs["t"].dtype == tdt
    np.testing.assert_array_equal(theirs["t"].float().numpy(), want.float().numpy())
    np.testing.assert_array_equal(theirs["view"].float().numpy(), want[1:5:2].float().numpy())
    # and clnet reads torch's file of the same tensor
    buf = io.BytesIO()
    torch.save({"t": want}, buf)
    mine = clnet.load(io.BytesIO(buf.getvalue()))["t"]
    assert mine.dtype is dt
    np.testing.assert_array_equal(mine.float().numpy(), want.float().numpy())


@pytest.mark.parametrize("name", HALF)
def test_safetensors_writes_f16_and_bf16(name, tmp_path):
    dt, tdt = getattr(clnet, name), getattr(torch, name)
    v = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    path = tmp_path / "w.safetensors"
    save_safetensors({"w": clnet.tensor(v, dtype=dt)}, str(path))
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    assert header["w"]["dtype"] == {"float16": "F16", "bfloat16": "BF16"}[name]
    raw = np.frombuffer(blob[8 + n:], "<u2")
    want = torch.tensor(v).to(tdt).view(torch.int16).numpy().view(np.uint16).reshape(-1)
    np.testing.assert_array_equal(raw, want)                   # torch's bits, little-endian
    back = clnet.load(str(path))["w"]
    assert back.dtype is dt
    np.testing.assert_array_equal(back.float().numpy(), torch.tensor(v).to(tdt).float().numpy())


def test_a_half_checkpoint_loads_into_a_float32_model_by_copy():
    torch.manual_seed(3)
    ref = torch.nn.Linear(4, 2).to(torch.bfloat16)
    buf = io.BytesIO()
    torch.save(ref.state_dict(), buf)
    state = clnet.load(io.BytesIO(buf.getvalue()))
    assert state["weight"].dtype is clnet.bfloat16
    model = nn.Linear(4, 2)
    model.load_state_dict(state)
    assert model.weight.dtype is clnet.float32
    np.testing.assert_array_equal(model.weight.detach().numpy(),
                                  ref.weight.detach().float().numpy())


@pytest.mark.parametrize("name", HALF)
@pytest.mark.parametrize("opt,kw", [("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                    ("AdamW", dict(lr=0.01)), ("RMSprop", dict(lr=0.01)),
                                    ("Adagrad", dict(lr=0.05))])
def test_optimizer_steps_on_16_bit_parameters(name, opt, kw):
    """States in the parameter's dtype, as torch's; the update computed in float32 and each of
    parameter and states rounded once (torch's foreach path rounds after each of its ops):
    within a few 16-bit ulps of the parameter's magnitude after three steps."""
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    x0 = rng.standard_normal((5, 4)).astype(np.float32)
    results = []
    for lib in (clnet, torch):
        dt = getattr(lib, name)
        w = lib.tensor(w0).to(dt).requires_grad_()
        x = lib.tensor(x0).to(dt)
        o = getattr(lib.optim, opt)([w], **kw)
        for _ in range(3):
            o.zero_grad()
            (x @ w.t()).float().pow(2).mean().backward()
            o.step()
        assert w.dtype == dt
        for state in o.state[w].values():
            if hasattr(state, "dtype") and state.dim() > 0:
                assert state.dtype == dt
        results.append(w.detach().float().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=0,
                               atol=4 * EPS[name] * np.abs(results[1]).max())


_LAYERS = {
    "LSTM": (lambda L: L.nn.LSTM(6, 5, batch_first=True, num_layers=2), (2, 4, 6)),
    "GRU": (lambda L: L.nn.GRU(6, 5, bidirectional=True), (4, 2, 6)),
    "RNN": (lambda L: L.nn.RNN(6, 5), (4, 2, 6)),
    "BatchNorm2d": (lambda L: L.nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "GroupNorm": (lambda L: L.nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "ConvTranspose2d": (lambda L: L.nn.ConvTranspose2d(3, 2, 3, stride=2), (1, 3, 4, 4)),
    "TransformerEncoderLayer": (lambda L: L.nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, batch_first=True), (2, 5, 8)),
    "Embedding": (lambda L: L.nn.Embedding(10, 4), None),
}


@pytest.mark.parametrize("name", HALF)
@pytest.mark.parametrize("layer", sorted(_LAYERS))
def test_16_bit_layers_match_torch(name, layer):
    """Output dtype as torch's and values within a few 16-bit ulps of the output's magnitude
    (recurrent layers: each step's cell computes in float32 and rounds once per layer output,
    torch's CPU kernels round per op)."""
    make, shape = _LAYERS[layer]
    torch.manual_seed(0)
    ref, model = make(torch), make(clnet)
    model.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    dt, tdt = getattr(clnet, name), getattr(torch, name)
    ref, model = ref.to(tdt), model.to(dt)
    if shape is None:
        idx = np.array([[1, 2, 9], [0, 3, 3]])
        x, tx = clnet.tensor(idx), torch.tensor(idx)
    else:
        a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        x, tx = clnet.tensor(a).to(dt).requires_grad_(), torch.tensor(a).to(tdt)
    out, want = model(x), ref(tx)
    if isinstance(want, tuple):
        out, want = out[0], want[0]
    assert out.dtype is dt and str(want.dtype) == f"torch.{name}"
    w = want.detach().float().numpy()
    np.testing.assert_allclose(out.detach().float().numpy(), w, rtol=0,
                               atol=4 * EPS[name] * np.abs(w).max())
    out.float().sum().backward()
    assert all(p.grad is None or p.grad.dtype is dt for p in model.parameters())
