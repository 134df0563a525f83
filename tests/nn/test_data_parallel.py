"""nn.DataParallel: a plain wrapper without devices (as a CPU-only torch), and the scatter ->
replicate -> apply -> gather path over two device entries (the machine's first two OpenCL
devices, or its one device listed twice), whose outputs and gradients must equal running the
module on the whole batch (the definition of data parallelism), checked against torch.
float32 tolerances: rtol 1e-5, atol 1e-6."""
import warnings

import numpy as np
import pytest
import torch

import clnet
from clnet import nn
from clnet.backend import devices as devmod
from helpers import assert_close

TWO = (clnet.devices() * 2)[:2] if len(clnet.devices()) < 2 else clnet.devices()[:2]


@pytest.fixture
def no_gpu(monkeypatch):
    for d in clnet.devices():
        if d.kind == "GPU":
            monkeypatch.setattr(d, "kind", "CPU")


def _models(seed=0):
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    cm = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return cm.to(TWO[0]), tm


def _grads(m):
    return [p.grad.numpy() for p in m.parameters()]


def test_without_a_gpu_it_wraps_the_module_like_torch(no_gpu, rng):
    cm, tm = _models()
    dp, tdp = nn.DataParallel(cm), torch.nn.DataParallel(tm)
    assert nn.DataParallel is nn.parallel.DataParallel
    assert dp.module is cm and dp.device_ids == [] == tdp.device_ids
    assert nn.DataParallel(cm, device_ids=[0, 1]).device_ids == []     # ordinals name no GPU
    assert list(dp.state_dict()) == list(tdp.state_dict())            # 'module.' prefix
    assert all(k.startswith("module.") for k in dp.state_dict())
    x = rng.standard_normal((4, 6)).astype(np.float32)
    xc = clnet.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, ref = dp(xc), tdp(xt)
    assert_close(out, ref.detach().numpy())
    out.pow(2).sum().backward()
    ref.pow(2).sum().backward()
    assert_close(xc.grad, xt.grad.numpy())
    for a, b in zip(cm.parameters(), tm.parameters()):
        assert_close(a.grad, b.grad.numpy())
    # a checkpoint of the wrapper loads into the wrapper, and its .module into the bare model
    fresh, _ = _models(seed=1)
    wrapped = nn.DataParallel(fresh)
    wrapped.load_state_dict(dp.state_dict())
    assert_close(wrapped.module[0].weight, tm[0].weight.detach().numpy())


def test_one_device_moves_the_module_and_calls_it(rng):
    cm, tm = _models()
    dp = nn.DataParallel(cm, device_ids=[TWO[0]])
    assert dp.device_ids == [TWO[0]] and dp.output_device is TWO[0]
    x = rng.standard_normal((3, 6)).astype(np.float32)
    assert_close(dp(clnet.tensor(x)), tm(torch.tensor(x)).detach().numpy())


@pytest.mark.parametrize("batch", [7, 2, 1])
def test_two_devices_match_the_whole_batch_with_gradients(rng, batch):
    cm, tm = _models()
    dp = nn.DataParallel(cm, device_ids=TWO)
    x = rng.standard_normal((batch, 6)).astype(np.float32)
    xc = clnet.tensor(x, device=TWO[0], requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, ref = dp(xc), tm(xt)
    assert out.device is TWO[0] and tuple(out.shape) == (batch, 3)
    assert_close(out, ref.detach().numpy())
    g = rng.standard_normal((batch, 3)).astype(np.float32)
    out.backward(clnet.tensor(g, device=TWO[0]))
    ref.backward(torch.tensor(g))
    assert_close(xc.grad, xt.grad.numpy())
    for (name, a), b in zip(cm.named_parameters(), tm.parameters()):
        assert a.grad.device is TWO[0], name
        assert_close(a.grad, b.grad.numpy())


def test_replicas_hold_copies_and_see_their_chunk(rng):
    cm, _ = _models()
    seen = []
    cm[0].register_forward_hook(lambda m, inp, out: seen.append((m.weight, inp[0].shape[0])))
    dp = nn.DataParallel(cm, device_ids=TWO)
    dp(clnet.tensor(rng.standard_normal((5, 6)).astype(np.float32), device=TWO[0]))
    (w0, n0), (w1, n1) = seen
    assert (n0, n1) == (3, 2)                       # Tensor.chunk's sizes, as torch
    assert w0 is cm[0].weight                       # the first replica uses the parameters
    assert w1 is not cm[0].weight and w1.grad_fn is not None and w1.device is TWO[1]
    assert_close(w1, cm[0].weight.detach().numpy())


class _Mixed(nn.Module):
    """Takes (features, batch) inputs, keyword tensors and a plain number; returns a dict, a
    tuple and a 0-d loss."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x, *, shift, scale=1.0):
        y = self.lin(x.t()).t() * scale + shift        # x: (4, n), shift: (2, n)
        return {"y": y, "pair": (y.sum(0, keepdim=True), None)}, (y ** 2).mean()


def test_scatter_along_dim_kwargs_and_gathered_containers(rng):
    m = _Mixed().to(TWO[0])
    dp = nn.DataParallel(m, device_ids=TWO, dim=1)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    shift = rng.standard_normal((2, 5)).astype(np.float32)
    xc = clnet.tensor(x, device=TWO[0])
    sc = clnet.tensor(shift, device=TWO[0])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out, loss = dp(xc, shift=sc, scale=2.0)
    assert any("all input tensors were scalars" in str(i.message) for i in w)
    direct, _ = m(xc, shift=sc, scale=2.0)
    assert_close(out["y"], direct["y"].detach().numpy())
    assert_close(out["pair"][0], direct["pair"][0].detach().numpy())
    assert out["pair"][1] is None
    # one loss per replica, gathered into a vector: the chunk means of the squares
    y = direct["y"].detach().numpy()
    assert_close(loss, np.array([(y[:, :3] ** 2).mean(), (y[:, 3:] ** 2).mean()], np.float32),
                 rtol=1e-5, atol=1e-6)
    loss.sum().backward()
    assert m.lin.weight.grad is not None and m.lin.weight.grad.device is TWO[0]


def test_training_through_the_wrapper_matches_torch(rng):
    cm, tm = _models()
    dp = nn.DataParallel(cm, device_ids=TWO)
    opt_c = clnet.optim.SGD(dp.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        x = rng.standard_normal((9, 6)).astype(np.float32)
        t = rng.integers(0, 3, 9)
        for opt, model, lib in ((opt_c, dp, clnet), (opt_t, tm, torch)):
            opt.zero_grad()
            dev = {"device": TWO[0]} if lib is clnet else {}
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x, **dev)),
                                                   lib.tensor(t, **dev))
            loss.backward()
            opt.step()
    for a, b in zip(cm.parameters(), tm.parameters()):
        assert_close(a, b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_refused(monkeypatch):
    with pytest.raises(TypeError, match="must be a clnet.nn.Module"):
        nn.DataParallel(lambda x: x, device_ids=TWO)
    with pytest.raises(clnet.DeviceError, match="no device with index 99"):
        nn.DataParallel(nn.Linear(2, 2), device_ids=["cl:99"])
    # with a GPU present, an empty device list names nothing to run on
    monkeypatch.setattr(clnet.default_device(), "kind", "GPU")
    with pytest.raises(RuntimeError, match="device_ids is empty"):
        nn.DataParallel(nn.Linear(2, 2), device_ids=[])
    assert nn.DataParallel(nn.Linear(2, 2)).device_ids == devmod.gpus()
