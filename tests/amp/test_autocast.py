"""clnet.autocast against torch.autocast on CPU: each listed op family gives torch's output dtype,
values within the 16-bit type's tolerance, and gradients of torch's dtype and value.

Tolerances: outputs are compared after both libraries rounded them to the autocast dtype from a
float32 accumulation in their own order, so they may differ by an ulp or two of that type:
bfloat16 (8 bits of mantissa) rtol/atol 3e-2, float16 (11 bits) 4e-3. Float32 results (the
float32 policy, and the float32 master weights' gradients) 1e-4 relative to torch."""
import threading

import numpy as np
import pytest
import torch

import clnet
import clnet.nn.functional as CF
import torch.nn.functional as TF

HALF = {"bfloat16": (torch.bfloat16, clnet.bfloat16, 3e-2), "float16": (torch.float16,
                                                                        clnet.float16, 4e-3)}
TDT = {torch.float32: clnet.float32, torch.bfloat16: clnet.bfloat16, torch.float16: clnet.float16,
       torch.float64: clnet.float64, torch.int64: clnet.int64}


def _pair(a, requires_grad=False):
    return (torch.tensor(a, requires_grad=requires_grad),
            clnet.tensor(a, requires_grad=requires_grad))


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().float().numpy()
    return t.detach().float().numpy()


def _rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# family -> (inputs builder(rng), torch fn, clnet fn); the fns take the library module first
def _cases(rng):
    x, w, b = _rand(rng, 6, 16), _rand(rng, 5, 16), _rand(rng, 5)
    a3, b3, c3 = _rand(rng, 2, 4, 8), _rand(rng, 2, 8, 3), _rand(rng, 2, 4, 3)
    img, k = _rand(rng, 2, 3, 7, 7), _rand(rng, 4, 3, 3, 3)
    seq, k1 = _rand(rng, 2, 3, 9), _rand(rng, 4, 3, 3)
    kt = _rand(rng, 3, 2, 3, 3)
    q, kk, v = _rand(rng, 2, 3, 5, 8), _rand(rng, 2, 3, 6, 8), _rand(rng, 2, 3, 6, 8)
    tgt = rng.integers(0, 5, 6)
    y = _rand(rng, 6, 5)
    return {
        "linear": ((x, w, b), lambda L, F, x, w, b: F.linear(x, w, b)),
        "mm": ((x, w), lambda L, F, x, w: L.mm(x, w.t())),
        "matmul_3d": ((a3, b3), lambda L, F, a, b: a @ b),
        "bmm": ((a3, b3), lambda L, F, a, b: L.bmm(a, b)),
        "addmm": ((b, x, w), lambda L, F, b, x, w: L.addmm(b, x, w.t())),
        "baddbmm": ((c3, a3, b3), lambda L, F, c, a, b: L.baddbmm(c, a, b)),
        "conv2d": ((img, k), lambda L, F, i, k: F.conv2d(i, k, padding=1)),
        "conv1d": ((seq, k1), lambda L, F, s, k: F.conv1d(s, k, stride=2)),
        "conv_transpose2d": ((img, kt), lambda L, F, i, k: F.conv_transpose2d(i, k, stride=2)),
        "sdpa": ((q, kk, v), lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v)),
        # float32 policy: the losses get a low-precision input from a linear first
        "cross_entropy": ((x, w), lambda L, F, x, w: F.cross_entropy(
            F.linear(x, w), L.tensor(tgt))),
        "nll_loss": ((x, w), lambda L, F, x, w: F.nll_loss(F.linear(x, w), L.tensor(tgt))),
        "mse_loss": ((x, w, y), lambda L, F, x, w, y: F.mse_loss(F.linear(x, w), y)),
        "l1_loss": ((x, w, y), lambda L, F, x, w, y: F.l1_loss(F.linear(x, w), y)),
        "smooth_l1_loss": ((x, w, y), lambda L, F, x, w, y: F.smooth_l1_loss(F.linear(x, w), y)),
        "huber_loss": ((x, w, y), lambda L, F, x, w, y: F.huber_loss(F.linear(x, w), y)),
        "bce_with_logits": ((x, w, y), lambda L, F, x, w, y: F.binary_cross_entropy_with_logits(
            F.linear(x, w), (y > 0).float())),
        "kl_div": ((x, w, y), lambda L, F, x, w, y: F.kl_div(
            F.log_softmax(F.linear(x, w), 1), F.softmax(y, 1), reduction="batchmean")),
        "prod": ((x, w), lambda L, F, x, w: (F.linear(x, w) * 0.1 + 1).prod(1)),
        "cdist": ((x, w), lambda L, F, x, w: L.cdist(F.linear(x, w), F.linear(x, w)[:3])),
        # promote: a low-precision and a float32 tensor give float32
        "cat": ((x, w), lambda L, F, x, w: L.cat([F.linear(x, w), x[:, :5]], 1)),
        "stack": ((x, w), lambda L, F, x, w: L.stack([F.linear(x, w), F.linear(x, w)])),
        # not listed on CPU: the input's dtype flows through
        "softmax_unlisted": ((x, w), lambda L, F, x, w: F.softmax(F.linear(x, w), 1)),
        "relu_sum_unlisted": ((x, w), lambda L, F, x, w: F.relu(F.linear(x, w)).sum(0)),
    }


@pytest.mark.parametrize("half", sorted(HALF))
def test_cpu_op_lists_match_torch(rng, half):
    tdt, cdt, tol = HALF[half]
    for name, (inputs, fn) in _cases(rng).items():
        tin = [torch.tensor(a, requires_grad=True) for a in inputs]
        cin = [clnet.tensor(a, requires_grad=True) for a in inputs]
        with torch.autocast("cpu", dtype=tdt):
            tout = fn(torch, TF, *tin)
        with clnet.autocast("cpu", dtype=cdt):
            cout = fn(clnet, CF, *cin)
        assert cout.dtype is TDT[tout.dtype], f"{name}: {cout.dtype} vs torch {tout.dtype}"
        rt = 1e-4 if tout.dtype is torch.float32 and name in ("cat", "stack") else tol
        np.testing.assert_allclose(_np(cout), _np(tout), rtol=rt, atol=max(rt, tol) * 2,
                                   err_msg=name)
        # backward outside the region, as torch recommends: the float32 inputs' gradients are
        # float32 and agree with torch's (both flowed through the same recorded casts)
        g = _rand(rng, *tout.shape)                # a weighted sum: softmax's plain sum is flat
        (tout.float() * torch.tensor(g)).sum().backward()
        (cout.float() * clnet.tensor(g)).sum().backward()
        for i, (tp, cp) in enumerate(zip(tin, cin)):
            if tp.grad is None:
                assert cp.grad is None, f"{name}: input {i} has a gradient torch has not"
                continue
            assert cp.grad.dtype is clnet.float32, f"{name}: grad {i} is {cp.grad.dtype}"
            scale = float(np.abs(tp.grad.numpy()).max()) + 1e-6
            np.testing.assert_allclose(cp.grad.numpy(), tp.grad.numpy(), rtol=tol * 4,
                                       atol=tol * 4 * scale, err_msg=f"{name} grad {i}")


def test_integers_and_float64_are_not_cast(rng):
    idx = clnet.tensor([0, 2, 1])
    d = clnet.tensor(_rand(rng, 3, 3).astype(np.float64))
    with clnet.autocast("cpu"):
        assert clnet.mm(d, d).dtype is clnet.float64
        out = clnet.index_copy(clnet.zeros(3, 3), 0, idx, clnet.ones(3, 3, dtype=clnet.bfloat16))
        assert out.dtype is clnet.float32 and idx.dtype is clnet.int64
        e = CF.embedding(idx, clnet.ones(4, 2))     # not listed: float32 stays
        assert e.dtype is clnet.float32


def test_nesting_disable_decorator_and_state():
    x, w = clnet.ones(2, 3), clnet.ones(4, 3)
    assert not clnet.is_autocast_enabled("cpu")
    with clnet.autocast("cpu", dtype=clnet.float16):
        assert clnet.is_autocast_enabled("cpu") and clnet.get_autocast_dtype("cpu") is clnet.float16
        assert CF.linear(x, w).dtype is clnet.float16
        with clnet.autocast("cpu", enabled=False):
            assert CF.linear(x, w).dtype is clnet.float32
            assert not clnet.is_autocast_cpu_enabled()
        with clnet.autocast("cpu", dtype=clnet.bfloat16):
            assert CF.linear(x, w).dtype is clnet.bfloat16
        assert CF.linear(x, w).dtype is clnet.float16
    assert CF.linear(x, w).dtype is clnet.float32
    assert clnet.get_autocast_cpu_dtype() is clnet.bfloat16     # torch's CPU default, restored
    assert clnet.get_autocast_gpu_dtype() is clnet.float16

    @clnet.autocast("cpu")
    def forward(a, b):
        return a @ b.t()
    assert forward(x, w).dtype is clnet.bfloat16 and (x @ w.t()).dtype is clnet.float32
    with pytest.raises(TypeError, match="requires a callable"):
        clnet.autocast("cpu")(3)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        clnet.autocast("tpu")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        with clnet.autocast("cpu", dtype=clnet.float64):
            assert CF.linear(x, w).dtype is clnet.float32


def test_state_is_thread_local():
    seen = []
    with clnet.autocast("cpu"):
        t = threading.Thread(target=lambda: seen.append(
            (clnet.is_autocast_enabled("cpu"), (clnet.ones(2, 2) @ clnet.ones(2, 2)).dtype)))
        t.start()
        t.join()
    assert seen == [(False, clnet.float32)]


def test_weight_cast_cached_per_region():
    w = clnet.nn.Parameter(clnet.ones(3, 3))
    x = clnet.ones(2, 3)
    cache = clnet.amp.autocast_mode._ac.state.cache
    with clnet.autocast("cpu"):
        CF.linear(x, w)
        first = cache[id(w)][2]
        CF.linear(x, w)
        assert list(cache) == [id(w)] and cache[id(w)][2] is first   # cast once, reused
        assert first.dtype is clnet.bfloat16 and first.grad_fn is not None
        x.mul_(1.0)                                 # not a weight (no grad): never cached
        assert list(cache) == [id(w)]
        with clnet.no_grad():
            w.mul_(2.0)                             # an in-place change is seen, not cached over
        assert CF.linear(x, w).float().sum().item() == 36.0
        assert cache[id(w)][2] is not first
    assert not cache                                # dropped on leaving the region
    with clnet.autocast("cpu", cache_enabled=False):
        CF.linear(x, w)
        assert not cache


def test_cuda_lists_by_table(rng):
    """No CUDA here for torch: the "cuda" tables are checked against their policy (what torch's
    CUDA autocast does) and the float32 results against torch computing the same way."""
    x, w = _rand(rng, 4, 6), _rand(rng, 3, 6)
    cx, cw = clnet.tensor(x), clnet.tensor(w)
    tx, tw = torch.tensor(x), torch.tensor(w)
    with clnet.autocast("cuda"):
        h = CF.linear(cx, cw)
        assert h.dtype is clnet.float16
        sm, lsm, s = CF.softmax(h, 1), h.log_softmax(1), h.sum()
        assert sm.dtype is lsm.dtype is s.dtype is clnet.float32
        assert CF.softmax(h, 1, dtype=clnet.float16).dtype is clnet.float16   # caller's dtype
        assert h.exp().dtype is clnet.pow(h, 2).dtype is clnet.float32
        assert CF.layer_norm(h, (3,)).dtype is clnet.float32
        assert clnet.cat([h, h]).dtype is clnet.float16                 # cat: CPU list only
        assert clnet.dot(h[0], cx[0, :3]).dtype is clnet.float32          # promote
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            CF.binary_cross_entropy(clnet.sigmoid(h), clnet.zeros(4, 3))
    th = TF.linear(tx.half(), tw.half()).float()
    np.testing.assert_allclose(sm.numpy(), torch.softmax(th, 1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s.item(), th.sum().item(), rtol=1e-4)
    assert clnet.is_autocast_available("cl") and not clnet.is_autocast_available("tpu")
