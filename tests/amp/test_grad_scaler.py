"""clnet.amp.GradScaler against torch.amp.GradScaler on CPU: the same model, optimizer and pattern
of inf/NaN gradients give the same scale sequence, growth tracker and parameters."""
import math
import pickle

import numpy as np
import pytest
import torch

import clnet
import clnet.nn as cnn

BAD = {2: math.inf, 3: math.nan, 9: -math.inf}     # step -> value put into one input


def _models(rng):
    w = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    w2 = rng.standard_normal((2, 3)).astype(np.float32)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    cm = cnn.Sequential(cnn.Linear(5, 3), cnn.Tanh(), cnn.Linear(3, 2))
    with torch.no_grad():
        tm[0].weight.copy_(torch.from_numpy(w))
        tm[0].bias.copy_(torch.from_numpy(b))
        tm[2].weight.copy_(torch.from_numpy(w2))
        tm[2].bias.zero_()
    cm[0].weight.data = clnet.tensor(w)
    cm[0].bias.data = clnet.tensor(b)
    cm[2].weight.data = clnet.tensor(w2)
    cm[2].bias.data = clnet.zeros(2)
    return tm, cm


def _run(tm, cm, tscaler, cscaler, steps, rng, clip=None, start=0):
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    copt = clnet.optim.SGD(cm.parameters(), lr=0.05, momentum=0.9)
    seq = []
    for i in range(start, start + steps):
        x = rng.standard_normal((4, 5)).astype(np.float32)
        if i in BAD:
            x[1, 2] = BAD[i]
        y = rng.standard_normal((4, 2)).astype(np.float32)
        for m, opt, scaler, lib in ((tm, topt, tscaler, torch), (cm, copt, cscaler, clnet)):
            opt.zero_grad()
            loss = ((m(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            scaler.scale(loss).backward()
            if clip is not None:
                scaler.unscale_(opt)
                lib.nn.utils.clip_grad_norm_(m.parameters(), clip)
            scaler.step(opt)
            scaler.update()
        seq.append((tscaler.get_scale(), cscaler.get_scale(), tscaler._get_growth_tracker(),
                    cscaler._get_growth_tracker()))
    return seq


def _check_params(tm, cm):
    for tp, cp in zip(tm.parameters(), cm.parameters()):
        np.testing.assert_allclose(cp.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("clip", [None, 0.5], ids=["step", "unscale_then_clip"])
def test_scale_sequence_and_parameters_match_torch(rng, clip):
    tm, cm = _models(rng)
    kw = dict(init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    ts, cs = torch.amp.GradScaler("cpu", **kw), clnet.amp.GradScaler("cpu", **kw)
    seq = _run(tm, cm, ts, cs, 14, rng, clip=clip)
    scales = [s[1] for s in seq]
    assert [s[0] for s in seq] == scales
    assert [s[2] for s in seq] == [s[3] for s in seq]
    # the pattern exercised growth (3 clean steps) and back-off (the inf/NaN steps)
    steps = list(zip(scales, scales[1:]))
    assert any(b > a for a, b in steps) and any(b < a for a, b in steps)
    _check_params(tm, cm)


def test_growth_stops_at_float32_max(rng):
    tm, cm = _models(rng)
    kw = dict(init_scale=2.0 ** 126, growth_factor=4.0, growth_interval=1)
    seq = _run(tm, cm, torch.amp.GradScaler("cpu", **kw), clnet.amp.GradScaler("cpu", **kw), 2,
               rng, start=20)
    assert [s[0] for s in seq] == [s[1] for s in seq] == [2.0 ** 126, 2.0 ** 126]


def test_step_skipped_on_inf_or_nan(rng):
    _, cm = _models(rng)
    opt = clnet.optim.SGD(cm.parameters(), lr=0.1)
    scaler = clnet.GradScaler(init_scale=8.0)
    before = [p.detach().numpy().copy() for p in cm.parameters()]
    x = clnet.ones(2, 5)
    x[0, 0] = math.nan
    scaler.scale(cm(x).sum()).backward()
    assert scaler.step(opt) is None
    scaler.update()
    for b, p in zip(before, cm.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    assert scaler.get_scale() == 4.0 and scaler._get_growth_tracker() == 0


def test_one_host_read_per_step(rng, monkeypatch):
    model = cnn.Sequential(*[cnn.Linear(4, 4) for _ in range(10)])
    opt = clnet.optim.SGD(model.parameters(), lr=0.01)
    scaler = clnet.GradScaler()
    scaler.scale(model(clnet.ones(3, 4)).sum()).backward()
    reads = []
    real_item, real_numpy = clnet.Tensor.item, clnet.Tensor.numpy
    monkeypatch.setattr(clnet.Tensor, "item", lambda t: reads.append("item") or real_item(t))
    monkeypatch.setattr(clnet.Tensor, "numpy", lambda t, *a, **k: reads.append("numpy")
                        or real_numpy(t, *a, **k))
    scaler.step(opt)
    scaler.update()
    assert reads == ["item"]        # 20 gradients, one read of found_inf


def test_state_dict_round_trip_matches_torch_keys(rng):
    tm, cm = _models(rng)
    kw = dict(init_scale=2.0 ** 6, growth_interval=4)
    ts, cs = torch.amp.GradScaler("cpu", **kw), clnet.amp.GradScaler("cpu", **kw)
    _run(tm, cm, ts, cs, 6, rng)
    sd = cs.state_dict()
    assert sd == ts.state_dict()
    assert list(sd) == ["scale", "growth_factor", "backoff_factor", "growth_interval",
                        "_growth_tracker"]
    fresh = clnet.amp.GradScaler("cpu")
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    # the loaded scaler continues exactly as torch's does
    t2 = torch.amp.GradScaler("cpu")
    t2.load_state_dict(ts.state_dict())
    seq = _run(tm, cm, t2, fresh, 5, rng, start=6)
    assert [s[0] for s in seq] == [s[1] for s in seq]
    assert pickle.loads(pickle.dumps(fresh)).state_dict() == fresh.state_dict()
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        fresh.load_state_dict({})


def test_unscale_twice_or_after_step_raises():
    p = cnn.Parameter(clnet.ones(3))
    opt = clnet.optim.SGD([p], lr=0.1)
    scaler = clnet.GradScaler()
    scaler.scale((p * 2).sum()).backward()
    scaler.unscale_(opt)
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0)


def test_fp16_gradients_refused_and_strided_gradients_unscaled():
    p = cnn.Parameter(clnet.ones(2, dtype=clnet.float16))
    p.grad = clnet.ones(2, dtype=clnet.float16)
    scaler = clnet.GradScaler(init_scale=4.0)
    scaler.scale(clnet.ones(1))
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        scaler.unscale_(clnet.optim.SGD([p], lr=0.1))
    q = cnn.Parameter(clnet.ones(3, 2))
    q.grad = clnet.tensor([[4.0, 8.0, 12.0], [16.0, 20.0, math.inf]]).t()   # strided
    r = cnn.Parameter(clnet.ones(2, dtype=clnet.bfloat16))
    r.grad = clnet.tensor([4.0, 8.0], dtype=clnet.bfloat16)
    opt = clnet.optim.SGD([q, r], lr=0.1)
    scaler.unscale_(opt)
    np.testing.assert_array_equal(q.grad.numpy(), [[1, 4], [2, 5], [3, math.inf]])
    assert r.grad.dtype is clnet.bfloat16 and r.grad.float().tolist() == [1.0, 2.0]
    assert scaler.step(opt) is None


def test_scale_nested_outputs_update_and_disabled():
    scaler = clnet.GradScaler(init_scale=3.0)
    a, b = clnet.ones(2), clnet.full((1,), 2.0)
    out = scaler.scale([a, (b, a)])
    assert isinstance(out, list) and isinstance(out[1], tuple)
    assert out[0].tolist() == [3.0, 3.0] and out[1][0].tolist() == [6.0]
    assert [t.tolist() for t in scaler.scale(iter([b]))] == [[6.0]]
    with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
        scaler.scale([a, 1.0])
    scaler.update(new_scale=5.0)
    assert scaler.get_scale() == 5.0
    scaler.update(new_scale=clnet.tensor([7.0]))
    assert scaler.get_scale() == 7.0
    off = clnet.amp.GradScaler("cuda", enabled=False)
    assert off.scale(a) is a and off.get_scale() == 1.0 and off.state_dict() == {}
    assert not off.is_enabled()
    p = cnn.Parameter(clnet.ones(1))
    p.grad = clnet.ones(1)
    off.step(clnet.optim.SGD([p], lr=0.5))
    assert p.item() == 0.5
    with pytest.raises(AssertionError, match="growth factor must be > 1.0"):
        clnet.GradScaler(growth_factor=1.0)
    with pytest.raises(ValueError, match="device must be one of"):
        clnet.GradScaler("tpu")
    assert clnet.cuda.amp.GradScaler(init_scale=2.0).get_scale() == 2.0
    from clnet.cuda.amp import GradScaler as CudaAmpGradScaler  # torch's import path works
    assert CudaAmpGradScaler is clnet.cuda.amp.GradScaler
