"""float16/bfloat16 ops against PyTorch CPU's same computation.

PyTorch CPU computes a 16-bit op in float32 and rounds its result once; clnet does the same
(clnet/ops/opmath.py), so:
- correctly rounded elementwise ops (+ - * /, sqrt, comparisons, min/max, where, clamp, abs,
  floor...) are bit-exact;
- transcendental ones (exp, tanh, gelu...) are bit-exact except where the two float32 libms
  (a few float32 ulp apart) straddle a 16-bit rounding boundary: at most one 16-bit ulp, on a
  small fraction of the elements (checked);
- reductions, GEMM and convolution accumulate in float32 in another order than PyTorch's:
  within 2 16-bit ulps of the result's magnitude (rtol = 2 eps of the dtype, atol scaled).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import clnet
import clnet.nn.functional as F

HALF = ["float16", "bfloat16"]
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}


def pair(a, name):
    """(clnet, torch) tensors of numpy float32 ``a`` rounded to dtype ``name``."""
    return clnet.tensor(a).to(getattr(clnet, name)), torch.tensor(a).to(getattr(torch, name))


def values(got):
    return got.float().numpy() if got.dtype.is_floating_point else got.numpy()


def check_dtype(got, want):
    assert got.dtype.name == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)


def exact(got, want):
    check_dtype(got, want)
    w = want.float().numpy() if want.dtype.is_floating_point else want.numpy()
    np.testing.assert_array_equal(values(got), w)


def close(got, want, name, ulps=2, scale=1.0):
    check_dtype(got, want)
    tol = ulps * EPS[name]
    np.testing.assert_allclose(values(got), want.detach().float().numpy(), rtol=tol,
                               atol=tol * scale)


def within_one_ulp(got, want, name, max_fraction=0.02, floor=2.0 ** -24):
    check_dtype(got, want)
    g, w = values(got).astype(np.float64), want.float().numpy().astype(np.float64)
    # one ulp at |w| (within a factor 2), and float16's subnormal spacing near zero
    ulp = np.maximum(np.abs(w) * EPS[name], floor)
    diff = np.abs(g - w)
    both_nan = np.isnan(g) & np.isnan(w)
    assert np.all((diff <= ulp * 1.001) | both_nan), float(np.nanmax(diff / ulp))
    assert np.mean((diff > 0) & ~both_nan) <= max_fraction


def data(shape, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("name", HALF)
def test_arithmetic_is_bit_exact(name):
    (x, tx), (y, ty) = pair(data((7, 34)), name), pair(data((7, 34), 1), name)
    for op in ("add", "sub", "mul", "div", "maximum", "minimum", "eq", "lt", "ge"):
        exact(getattr(clnet, op)(x, y), getattr(torch, op)(tx, ty))
    exact(x * 2.5 + 1, tx * 2.5 + 1)
    exact(1 / x, 1 / tx)
    exact(x ** 2, tx ** 2)
    exact(x.abs().sqrt(), tx.abs().sqrt())
    exact(-x, -tx)
    exact(x.floor(), tx.floor())
    exact(x.clamp(-1, 2), tx.clamp(-1, 2))
    exact(clnet.where(x > 0, x, y), torch.where(tx > 0, tx, ty))
    exact(F.relu(x), TF.relu(tx))
    exact(x[:, ::2] + y[:, 1::2], tx[:, ::2] + ty[:, 1::2])          # strided operands
    exact(x + y[:1], tx + ty[:1])                                    # broadcast


@pytest.mark.parametrize("name", HALF)
def test_mixed_dtypes_promote_as_torch(name):
    (x, tx) = pair(data((5, 4)), name)
    other = "bfloat16" if name == "float16" else "float16"
    (y, ty) = pair(data((5, 4), 1), other)
    exact(x + y, tx + ty)                                            # -> float32
    f, tf = clnet.tensor(data((5, 4), 2)), torch.tensor(data((5, 4), 2))
    exact(x * f, tx * tf)                                            # -> float32
    i, ti = clnet.arange(20).reshape(5, 4), torch.arange(20).reshape(5, 4)
    exact(x + i, tx + ti)                                            # -> the 16-bit dtype
    exact(x + clnet.tensor(2.5), tx + torch.tensor(2.5))             # 0-d float32: 16-bit


@pytest.mark.parametrize("name", HALF)
def test_python_scalars_round_as_torch(name):
    """torch rounds the number of add/sub/remainder/fmod/pow to the 16-bit dtype and keeps it in
    float for mul/div/lerp/addcmul/activation parameters: both bit-exact."""
    x, tx = pair(data((4, 257), scale=2.0), name)
    y, ty = pair(data((4, 257), 1, scale=2.0), name)
    p, tp = x.abs() + 0.1, tx.abs() + 0.1
    exact(p, tp)
    for fn in (lambda a, b: a - 1 / 3, lambda a, b: 0.1 - a, lambda a, b: a * 0.1,
               lambda a, b: a / 0.3, lambda a, b: 1.7 ** a, lambda a, b: b ** 1.7,
               lambda a, b: a.remainder(0.3), lambda a, b: a.fmod(0.3),
               lambda a, b: a.lerp(b, 0.3), lambda a, b: a.addcmul(b, b, value=0.3),
               lambda a, b: a.sub(b, alpha=0.25)):
        exact(fn(x, p), fn(tx, tp))
    exact(F.leaky_relu(x, 0.013), TF.leaky_relu(tx, 0.013))
    exact(F.elu(x, 0.37), TF.elu(tx, 0.37))
    z, tz = x.clone(), tx.clone()
    z += 0.1
    tz += 0.1
    exact(z, tz)


@pytest.mark.parametrize("name", HALF)
def test_transcendental(name):
    """Bit-exact where PoCL's float32 libm and PyTorch's agree after rounding (measured on this
    data: all of these); erf, gelu and rsqrt within one 16-bit ulp, on at most a few % of the
    elements (measured: 0.1-2.7%)."""
    x, tx = pair(data((4, 257), scale=2.0), name)
    p, tp = x.abs() + 0.1, tx.abs() + 0.1
    for fn in ("exp", "tanh", "sigmoid", "sin"):
        exact(getattr(x, fn)(), getattr(tx, fn)())
    exact(p.log(), tp.log())
    exact(p.log1p(), tp.log1p())
    exact(p ** 1.7, tp ** 1.7)
    exact(p.pow(x), tp.pow(tx))
    exact(F.silu(x), TF.silu(tx))
    exact(F.softplus(x), TF.softplus(tx))
    within_one_ulp(x.erf(), tx.erf(), name)
    within_one_ulp(p.rsqrt(), tp.rsqrt(), name)
    # gelu's tail (x < -3) is 0.5 x (1 + erf(x / sqrt 2)): float32's 1 + erf cancels to an
    # absolute error of a few float32 ulps of 1 in both libraries, differently
    within_one_ulp(F.gelu(x), TF.gelu(tx), name, max_fraction=0.04, floor=2.0 ** -21)


@pytest.mark.parametrize("name", HALF)
def test_inplace_ops_write_the_16_bit_tensor(name):
    x, tx = pair(data((6, 5)), name)
    y, ty = pair(data((6, 5), 1), name)
    for c, t in ((x, tx),):
        c.add_(y), t.add_(ty)
        c.mul_(0.5), t.mul_(0.5)
        c.clamp_(-1, 1), t.clamp_(-1, 1)
        c -= y[0]
        t -= ty[0]
        c.exp_(), t.exp_()
        c[c > 1.2] = 0.25
        t[t > 1.2] = 0.25
        c[1] = 3.0
        t[1] = 3.0
    exact(x, tx)
    assert x.dtype is getattr(clnet, name)


# ------------------------------------------------------------------------------ data movement
@pytest.mark.parametrize("name", HALF)
def test_indexing_joins_and_sorts_keep_the_dtype_and_bits(name):
    x, tx = pair(data((6, 8)), name)
    idx, tidx = clnet.tensor([4, 0, 2]), torch.tensor([4, 0, 2])
    exact(x[idx], tx[tidx])
    exact(x[[1, 3]], tx[[1, 3]])
    exact(x[x > 0], tx[tx > 0])
    exact(x.index_select(1, idx), tx.index_select(1, tidx))
    g = clnet.tensor([[1], [0], [3], [2], [7], [5]])
    exact(x.gather(1, g), tx.gather(1, torch.tensor(g.numpy())))
    exact(clnet.cat([x, x[:2]]), torch.cat([tx, tx[:2]]))
    exact(clnet.stack([x, x]), torch.stack([tx, tx]))
    exact(x.flip(0), tx.flip(0))
    exact(x.sort(1)[0], tx.sort(1)[0])
    exact(x.topk(3, 1)[0], tx.topk(3, 1)[0])
    exact(x.masked_fill(x < 0, -1.5), tx.masked_fill(tx < 0, -1.5))
    exact(x.t().contiguous(), tx.t().contiguous())


# ------------------------------------------------------------------------------ reductions
@pytest.mark.parametrize("name", HALF)
def test_reductions(name):
    x, tx = pair(data((16, 300), scale=1.0), name)
    close(x.sum(), tx.sum(), name, scale=30)
    close(x.sum(1), tx.sum(1), name, scale=10)
    close(x.mean(0), tx.mean(0), name)
    close(x.var(1), tx.var(1), name)
    close(x.std(), tx.std(), name)
    close(x.logsumexp(1), tx.logsumexp(1), name)
    close(x.norm(), tx.norm(), name)
    close(x[:, :5].prod(1), tx[:, :5].prod(1), name)
    close(x.cumsum(1), tx.cumsum(1), name, ulps=4, scale=10)
    exact(x.max(1)[0], tx.max(1)[0])
    exact(x.amin(0), tx.amin(0))
    exact(x.argmax(1), tx.argmax(1))


@pytest.mark.parametrize("name", HALF)
def test_softmax_and_log_softmax(name):
    x, tx = pair(data((9, 70)), name)
    for dim in (0, 1):
        close(F.softmax(x, dim), TF.softmax(tx, dim), name)
        close(F.log_softmax(x, dim), TF.log_softmax(tx, dim), name, scale=4)
    f = F.softmax(x, 1, dtype=clnet.float32)
    assert f.dtype is clnet.float32
    close(f.to(getattr(clnet, name)), TF.softmax(tx, 1, dtype=torch.float32).to(tx.dtype), name)


# ------------------------------------------------------------------------------ GEMM and conv
@pytest.mark.parametrize("name", HALF)
def test_matmul_linear_conv_accumulate_in_float32(name):
    a, ta = pair(data((33, 70), scale=1.0), name)
    b, tb = pair(data((70, 21), 1, scale=1.0), name)
    scale = 10.0      # |result| ~ sqrt(70): compare at the result's magnitude
    close(a @ b, ta @ tb, name, scale=scale)
    close(clnet.bmm(a[None], b[None]), torch.bmm(ta[None], tb[None]), name, scale=scale)
    w, tw = pair(data((5, 70), 2, scale=0.3), name)
    bias, tbias = pair(data((5,), 3), name)
    close(F.linear(a, w, bias), TF.linear(ta, tw, tbias), name, scale=scale)
    x, tx = pair(data((2, 3, 9, 9), 4, scale=1.0), name)
    k, tk = pair(data((4, 3, 3, 3), 5, scale=0.5), name)
    close(F.conv2d(x, k, padding=1), TF.conv2d(tx, tk, padding=1), name, scale=scale)
    close(F.max_pool2d(x, 2), TF.max_pool2d(tx, 2), name)
    close(F.avg_pool2d(x, 2), TF.avg_pool2d(tx, 2), name)


# ------------------------------------------------------------------------------ losses, norms
@pytest.mark.parametrize("name", HALF)
def test_losses_and_norms(name):
    x, tx = pair(data((12, 5)), name)
    y, ty = pair(data((12, 5), 1), name)
    target = np.random.default_rng(2).integers(0, 5, 12)
    t, tt = clnet.tensor(target), torch.tensor(target)
    close(F.cross_entropy(x, t), TF.cross_entropy(tx, tt), name, scale=4)
    close(F.nll_loss(F.log_softmax(x, 1), t), TF.nll_loss(TF.log_softmax(tx, 1), tt), name,
          scale=4)
    close(F.mse_loss(x, y), TF.mse_loss(tx, ty), name, scale=20)
    close(F.l1_loss(x, y), TF.l1_loss(tx, ty), name, scale=4)
    close(F.smooth_l1_loss(x, y), TF.smooth_l1_loss(tx, ty), name, scale=4)
    p, tp = F.sigmoid(y), torch.sigmoid(ty)
    close(F.binary_cross_entropy_with_logits(x, p), TF.binary_cross_entropy_with_logits(tx, tp),
          name, scale=4)
    wln, twln = pair(data((5,), 3), name)
    close(F.layer_norm(x, (5,), wln, wln), TF.layer_norm(tx, (5,), twln, twln), name, scale=8)


# ------------------------------------------------------------------------------ backward
def _mlp(lib, name, x, target, params):
    """A 2-layer MLP's loss; params are (w1, b1, w2, b2) leaves in dtype ``name``."""
    Fn = F if lib is clnet else TF
    w1, b1, w2, b2 = params
    h = Fn.gelu(Fn.linear(x, w1, b1))
    return Fn.cross_entropy(Fn.linear(h, w2, b2), target)


@pytest.mark.parametrize("name", HALF)
def test_backward_through_an_mlp_matches_torch(name):
    rng = np.random.default_rng(7)
    shapes = [(32, 20), (32,), (6, 32), (6,)]
    init = [(rng.standard_normal(s) * 0.3).astype(np.float32) for s in shapes]
    xs = rng.standard_normal((16, 20)).astype(np.float32)
    target = rng.integers(0, 6, 16)
    dt, tdt = getattr(clnet, name), getattr(torch, name)
    cp = [clnet.tensor(a).to(dt).requires_grad_() for a in init]
    tp = [torch.tensor(a).to(tdt).requires_grad_() for a in init]
    loss = _mlp(clnet, name, clnet.tensor(xs).to(dt), clnet.tensor(target), cp)
    tloss = _mlp(torch, name, torch.tensor(xs).to(tdt), torch.tensor(target), tp)
    close(loss, tloss, name, scale=2)
    loss.backward()
    tloss.backward()
    for c, t in zip(cp, tp):
        assert c.grad.dtype is dt                 # gradients in the parameter's dtype
        g, tg = c.grad.float().numpy(), t.grad.float().numpy()
        # each op's result is rounded to 16 bits in both; the graphs differ in where float32
        # intermediates are kept (clnet saves the float32 values it computed): a few ulps of the
        # gradient's magnitude
        np.testing.assert_allclose(g, tg, rtol=8 * EPS[name], atol=8 * EPS[name] * np.abs(
            tg).max())


@pytest.mark.parametrize("name", HALF)
def test_gradient_of_a_mixed_op_reaches_each_input_in_its_dtype(name):
    dt = getattr(clnet, name)
    a = clnet.randn(4, dtype=dt, requires_grad=True)
    b = clnet.randn(4, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype is dt and b.grad.dtype is clnet.float32
    np.testing.assert_array_equal(a.grad.float().numpy(),
                                  b.detach().to(dt).float().numpy())
    # an expanded 16-bit view: its backward sums in float32 and rounds once
    c = clnet.randn(1, 3, dtype=dt, requires_grad=True)
    c.expand(5, 3).sum().backward()
    exact(c.grad, torch.full((1, 3), 5.0, dtype=getattr(torch, name)))


# ------------------------------------------------------------------------------ native half
def test_which_float16_path_this_device_takes():
    """Native float16 kernels need cl_khr_fp16; PoCL and Oclgrind here report no such thing, so
    the float32 path above is the one tested here (the native path is untested)."""
    from clnet.kernels.elementwise import native_half
    dev = clnet.default_device()
    assert native_half(dev, clnet.float16) == dev.has_fp16
    assert not native_half(dev, clnet.bfloat16)       # bfloat16 never has native arithmetic


def test_a_half_program_that_fails_to_build_falls_back_to_float32(monkeypatch):
    """Pretend the device reports cl_khr_fp16: where the half program cannot be built (as on
    PoCL, which has no half arithmetic), float16 ops still give torch's results, through
    float32, and the device is marked so the build is not tried again."""
    dev = clnet.default_device()
    if dev.has_fp16:
        pytest.skip("the device has cl_khr_fp16: the native path runs for real")
    monkeypatch.setattr(dev, "has_fp16", True)
    monkeypatch.setitem(dev.tuning, "elementwise.half", 1)
    x, tx = pair(data((3, 10)), "float16")
    exact(x + x * 0.5, tx + tx * 0.5)
    assert dev.tuning["elementwise.half"] == 0
    dev.tuning["elementwise.half"] = 1
    exact(clnet.where(x > 0, x, -x), torch.where(tx > 0, tx, -tx))     # a ternary kernel
    assert dev.tuning["elementwise.half"] == 0
    dev.tuning["elementwise.half"] = 1
    exact(x.exp(), tx.exp())                                          # a unary kernel
    assert dev.tuning["elementwise.half"] == 0


@pytest.mark.parametrize("name", HALF)
def test_inplace_ops_on_views_and_their_gradients_as_torch(name):
    got = []
    for lib in (clnet, torch):
        dt = getattr(lib, name)
        a = lib.ones(3, 2, dtype=dt, requires_grad=True)
        b = a * 2
        b[0].mul_(3)                     # through a view, recorded
        b.add_(1)
        b.relu_()
        (b * b).sum().backward()
        x = lib.arange(6., dtype=dt).reshape(2, 3)
        v = x[:, 1]
        v.add_(10)
        v.mul_(0.5)
        got.append((a.grad.tolist(), b.tolist(), x.tolist(), str(a.grad.dtype).split(".")[-1]))
    assert got[0] == got[1]


@pytest.mark.parametrize("name", HALF)
def test_double_backward_in_16_bits(name):
    results = []
    for lib in (clnet, torch):
        dt = getattr(lib, name)
        x = lib.tensor([0.5, -1.25, 2.0], dtype=dt, requires_grad=True)
        y = (x.tanh() * x).sum()
        (g,) = (clnet.autograd if lib is clnet else torch.autograd).grad(y, x, create_graph=True)
        (g * g).sum().backward()
        results.append((g.detach().float().numpy(), x.grad.float().numpy(), g.dtype, x.grad.dtype))
    (g1, x1, gd1, xd1), (g2, x2, gd2, xd2) = results
    assert str(gd1).split(".")[-1] == str(gd2).split(".")[-1] == name
    np.testing.assert_allclose(g1, g2, rtol=4 * EPS[name])
    # the second derivative sums terms that cancel, each rounded where torch rounds differently
    # (clnet keeps the float32 values its ops computed): at the scale of the largest
    np.testing.assert_allclose(x1, x2, rtol=0, atol=8 * EPS[name] * np.abs(x2).max())
