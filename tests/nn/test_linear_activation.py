"""Linear followed by an activation in nn.Sequential: one GEMM launch with the activation in its
epilogue (cl_kernels/gemm.cl ACT_*, ops/linalg.py linear_act, nn/modules/linear.py
fused_linear_activation), against torch: outputs and the gradients of the input, weight and bias
in every input layout, edge sizes, float64, gradients of gradients; and the cases where the pair
must stay two calls (hooks, subclasses, other activations, autocast)."""
import numpy as np
import pytest
import torch

import clnet
from clnet.kernels import gemm as gemm_kernels
from clnet.ops.linalg import linear_act

ACTS = [("ReLU", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("Tanh", {}),
        ("Sigmoid", {})]
TOL32 = dict(rtol=2e-5, atol=2e-5)


def _pair(m, act, kw, n_in, n_out, bias=True, dtype=None):
    return m.nn.Sequential(m.nn.Linear(n_in, n_out, bias=bias, dtype=dtype),
                           getattr(m.nn, act)(**kw))


def _twins(act, kw, n_in, n_out, bias=True, dtype="float32"):
    torch.manual_seed(0)
    tm = _pair(torch, act, kw, n_in, n_out, bias, getattr(torch, dtype))
    cm = _pair(clnet, act, kw, n_in, n_out, bias, getattr(clnet, dtype))
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


def _layouts(a):
    """(name, clnet tensor, torch tensor) views holding the values of ``a`` (rows, cols)."""
    r, c = a.shape
    big = np.zeros((r + 2, c + 3), a.dtype)
    big[2:, 3:] = a
    t = np.ascontiguousarray(a.T)
    step = np.zeros((r, 2 * c), a.dtype)
    step[:, ::2] = a
    yield "contiguous", clnet.tensor(a), torch.tensor(a)
    yield "offset", clnet.tensor(big)[2:, 3:], torch.tensor(big)[2:, 3:]
    yield "transposed", clnet.tensor(t).t(), torch.tensor(t).t()
    yield "stepped", clnet.tensor(step)[:, ::2], torch.tensor(step)[:, ::2]


def _compare(cm, tm, cx, tx, tol, up=None):
    cx.requires_grad_(True)
    tx.requires_grad_(True)
    co, to = cm(cx), tm(tx)
    np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), **tol)
    g = up if up is not None else np.random.default_rng(5).standard_normal(
        tuple(to.shape)).astype(to.detach().numpy().dtype)
    co.backward(clnet.tensor(g))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), err_msg=n, **tol)
    cm.zero_grad()
    tm.zero_grad()


@pytest.fixture(params=["cpu", "gpu"], ids=["cpu tiles", "gpu tiles"])
def tiles(request, dev, monkeypatch):
    """The device's GEMM tiles, and the GPU kernel forced on it (gemm_tiled's epilogue)."""
    if request.param == "gpu":
        class FakeGpu:
            kind, max_work_group_size, local_mem_size = "GPU", min(dev.max_work_group_size, 256),\
                dev.local_mem_size
        monkeypatch.setitem(dev.tuning, "gemm", gemm_kernels.default_tuning(FakeGpu))
    return request.param


@pytest.mark.parametrize("act,kw", ACTS, ids=lambda v: str(v))
def test_every_input_layout(tiles, act, kw):
    cm, tm = _twins(act, kw, 13, 37)
    a = np.random.default_rng(1).standard_normal((11, 13)).astype(np.float32) * 2
    for name, cx, tx in _layouts(a):
        _compare(cm, tm, cx, tx, TOL32)


@pytest.mark.parametrize("act,kw", ACTS, ids=lambda v: str(v))
@pytest.mark.parametrize("rows,n_in,n_out", [(0, 5, 3), (1, 1, 1), (7, 3, 1), (31, 17, 97),
                                             (130, 40, 300)])
def test_edge_sizes_with_and_without_bias(act, kw, rows, n_in, n_out):
    for bias in (True, False):
        cm, tm = _twins(act, kw, n_in, n_out, bias)
        a = np.random.default_rng(2).standard_normal((rows, n_in)).astype(np.float32)
        _compare(cm, tm, clnet.tensor(a), torch.tensor(a), TOL32)


@pytest.mark.parametrize("act,kw", ACTS, ids=lambda v: str(v))
def test_3d_input_long_k_and_float64(act, kw):
    cm, tm = _twins(act, kw, 9, 6)
    a = np.random.default_rng(3).standard_normal((4, 5, 9)).astype(np.float32)
    _compare(cm, tm, clnet.tensor(a), torch.tensor(a), TOL32)
    # K long against M and N: the split-K dot kernels' reduce applies the activation
    cm, tm = _twins(act, kw, 2048, 5)
    a = np.random.default_rng(4).standard_normal((3, 2048)).astype(np.float32) * 0.05
    _compare(cm, tm, clnet.tensor(a), torch.tensor(a), dict(rtol=1e-4, atol=1e-4))
    if clnet.default_device().has_fp64:
        cm, tm = _twins(act, kw, 7, 10, dtype="float64")
        a = np.random.default_rng(5).standard_normal((6, 7))
        _compare(cm, tm, clnet.tensor(a), torch.tensor(a), dict(rtol=1e-12, atol=1e-12))


def test_expanded_input_and_gradient():
    cm, tm = _twins("ReLU", {}, 6, 4)
    row = np.random.default_rng(6).standard_normal((1, 6)).astype(np.float32)
    up = np.random.default_rng(7).standard_normal((1, 4)).astype(np.float32)
    cx = clnet.tensor(row).expand(5, 6)
    tx = torch.tensor(row).expand(5, 6)
    co, to = cm(cx), tm(tx)
    np.testing.assert_allclose(co.detach().numpy(), to.detach().numpy(), **TOL32)
    # an expanded (zero-stride) upstream gradient
    co.backward(clnet.tensor(up).expand(5, 4))
    to.backward(torch.tensor(up).expand(5, 4))
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), err_msg=n, **TOL32)


@pytest.mark.parametrize("act,kw", ACTS, ids=lambda v: str(v))
def test_gradients_of_gradients(act, kw):
    cm, tm = _twins(act, kw, 4, 3, dtype="float64" if clnet.default_device().has_fp64
                    else "float32")
    dt = np.float64 if clnet.default_device().has_fp64 else np.float32
    a = np.random.default_rng(8).standard_normal((5, 4)).astype(dt)
    cx, tx = clnet.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (cg,) = clnet.autograd.grad((cm(cx) ** 2).sum(), [cx], create_graph=True)
    (tg,) = torch.autograd.grad((tm(tx) ** 2).sum(), [tx], create_graph=True)
    tol = dict(rtol=1e-9, atol=1e-9) if dt == np.float64 else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cg.detach().numpy(), tg.detach().numpy(), **tol)
    (cg * cg).sum().backward()
    (tg * tg).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), **tol)
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), err_msg=n, **tol)


def _gemm_launches(monkeypatch):
    acts = []
    real = gemm_kernels.launch

    def spy(*args, **kw):
        acts.append(kw.get("act", args[13] if len(args) > 13 else 0))
        return real(*args, **kw)
    monkeypatch.setattr(gemm_kernels, "launch", spy)
    return acts


def test_the_pair_is_one_launch_with_the_activation(dev, monkeypatch):
    m = clnet.nn.Sequential(clnet.nn.Linear(8, 16), clnet.nn.ReLU(), clnet.nn.Linear(16, 4),
                            clnet.nn.Sigmoid())
    x = clnet.randn(3, 8)
    acts = _gemm_launches(monkeypatch)
    n0 = dev.launches
    m(x)
    assert acts == [1, 5] and dev.launches - n0 == 2


def test_pairs_that_stay_two_calls(monkeypatch):
    """Hooks on either module see the intermediate; a Linear subclass may override forward;
    other activations and autocast runs use the separate ops."""
    acts = _gemm_launches(monkeypatch)
    x = clnet.randn(3, 8)
    seen = []
    lin, act = clnet.nn.Linear(8, 4), clnet.nn.ReLU()
    h = lin.register_forward_hook(lambda mod, i, o: seen.append(o))
    out = clnet.nn.Sequential(lin, act)(x)
    assert acts == [0] and len(seen) == 1
    np.testing.assert_array_equal(out.numpy(), np.maximum(seen[0].numpy(), 0))
    h.remove()
    acts.clear()
    act.register_forward_pre_hook(lambda mod, i: None)
    clnet.nn.Sequential(lin, act)(x)
    assert acts == [0]

    class Scaled(clnet.nn.Linear):
        def forward(self, input):
            return super().forward(input) * 2
    acts.clear()
    clnet.nn.Sequential(Scaled(8, 4), clnet.nn.ReLU())(x)
    clnet.nn.Sequential(clnet.nn.Linear(8, 4), clnet.nn.LeakyReLU())(x)
    assert acts == [0, 0]


def test_linear_act_dtypes_and_names():
    """16-bit floats go through float32 (ops/opmath.py) and round once; integers are refused."""
    x = np.random.default_rng(9).standard_normal((2, 3)).astype(np.float16)
    w = np.random.default_rng(10).standard_normal((4, 3)).astype(np.float16)
    got = linear_act(clnet.tensor(x), clnet.tensor(w), None, "relu")
    assert got.dtype == clnet.float16
    want = np.maximum(x.astype(np.float32) @ w.astype(np.float32).T, 0).astype(np.float16)
    np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(TypeError):
        linear_act(clnet.ones(2, 3, dtype=clnet.int32), clnet.ones(4, 3, dtype=clnet.int32),
                   None, "relu")
    with pytest.raises(KeyError):
        linear_act(clnet.ones(2, 3), clnet.ones(4, 3), None, "softplus")
