"""The explicit-vector (``*_v``) and per-element (``*_c``) contiguous forms of the float ops with a
transcendental call, against torch: values (random inputs over each op's domain plus NaN, +-inf,
+-0, huge and tiny magnitudes, softplus/elu thresholds), sizes around the vector width (0, 1, 7, 8,
9, 33, 1000), unaligned views (starting at elements 1 and 3), scalar operands of the binary ops,
float64, and gradients.

Both forms run on every device: ``dev.tuning["elementwise.vec"]`` selects them (1 = *_v, what CPU
drivers get by default; 0 = *_c, the GPU form).

Tolerances against torch (OpenCL allows a few ULP for these builtins, torch is near correctly
rounded): float32 rtol 2e-5 / atol 2e-6 for most ops; 1e-4 / 1e-5 for ops whose result is a
difference or product of rounded transcendental results (gelu, gelu_tanh, mish, logsigmoid, celu,
lgamma, pow, erfc in its tail, tan/acosh near their poles); float64 rtol 1e-12 / atol 1e-14.
Special values must match exactly in kind (same NaN positions, same infinities).
"""
import numpy as np
import pytest
import torch

import clnet
import clnet.nn.functional as F
from clnet.kernels import elementwise as ew

TF = torch.nn.functional
SIZES = [0, 1, 7, 8, 9, 33, 1000]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 88.5, -88.5, 100.0, -100.0, 1e-30,
           -1e-30, 20.0, 20.000002, 1.5, -1.5, 0.5, -0.5, 1.0, -1.0]

# name -> (clnet fn, torch fn, (low, high) of the random inputs, loose tolerance)
UNARY = {
    "exp": (clnet.exp, torch.exp, (-10, 10), False),
    "exp2": (clnet.exp2, torch.exp2, (-10, 10), False),
    "expm1": (clnet.expm1, torch.expm1, (-5, 5), False),
    "log": (clnet.log, torch.log, (1e-3, 50), False),
    "log2": (clnet.log2, torch.log2, (1e-3, 50), False),
    "log10": (clnet.log10, torch.log10, (1e-3, 50), False),
    "log1p": (clnet.log1p, torch.log1p, (-0.9, 50), False),
    "sqrt": (clnet.sqrt, torch.sqrt, (0, 50), False),
    "rsqrt": (clnet.rsqrt, torch.rsqrt, (1e-3, 50), False),
    "sin": (clnet.sin, torch.sin, (-10, 10), False),
    "cos": (clnet.cos, torch.cos, (-10, 10), False),
    "tan": (clnet.tan, torch.tan, (-1.5, 1.5), True),
    "asin": (clnet.asin, torch.asin, (-1, 1), False),
    "acos": (clnet.acos, torch.acos, (-1, 1), False),
    "atan": (clnet.atan, torch.atan, (-10, 10), False),
    "sinh": (clnet.sinh, torch.sinh, (-5, 5), False),
    "cosh": (clnet.cosh, torch.cosh, (-5, 5), False),
    "tanh": (clnet.tanh, torch.tanh, (-5, 5), False),
    "asinh": (clnet.asinh, torch.asinh, (-10, 10), False),
    "acosh": (clnet.acosh, torch.acosh, (1.01, 10), True),
    "atanh": (clnet.atanh, torch.atanh, (-0.99, 0.99), False),
    "erf": (clnet.erf, torch.erf, (-4, 4), False),
    "erfc": (clnet.erfc, torch.erfc, (-4, 4), True),
    "lgamma": (clnet.lgamma, torch.lgamma, (0.1, 10), True),
    "sigmoid": (clnet.sigmoid, torch.sigmoid, (-10, 10), False),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid, (-10, 10), True),
    "silu": (F.silu, TF.silu, (-10, 10), False),
    "gelu": (F.gelu, TF.gelu, (-6, 6), True),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh"), (-6, 6), True),
    "mish": (F.mish, TF.mish, (-10, 25), True),
    "softplus": (F.softplus, TF.softplus, (-10, 25), False),
    "softplus_b2_t3": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0),
                       (-5, 5), False),
    "elu": (F.elu, TF.elu, (-5, 5), False),
    "elu_a05": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5), (-5, 5), False),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: TF.celu(x, 0.7), (-5, 5), True),
    "selu": (F.selu, TF.selu, (-5, 5), False),
    "softsign": (F.softsign, TF.softsign, (-10, 10), False),
}
BINARY = {
    "pow": (clnet.pow, torch.pow, (0.1, 4), (-3, 3)),
    "atan2": (clnet.atan2, torch.atan2, (-5, 5), (-5, 5)),
    "hypot": (clnet.hypot, torch.hypot, (-5, 5), (-5, 5)),
    "fmod": (clnet.fmod, torch.fmod, (-10, 10), (0.5, 3)),
}


@pytest.fixture(params=[1, 0], ids=["vec", "per_elem"])
def form(request):
    dev = clnet.default_device()
    key = "elementwise.vec"
    had, saved = key in dev.tuning, dev.tuning.get(key)
    dev.tuning[key] = request.param
    yield request.param
    if had:
        dev.tuning[key] = saved
    else:
        dev.tuning.pop(key, None)


def _tol(dtype, loose):
    if dtype == np.float64:
        return 1e-12, 1e-14
    return (1e-4, 1e-5) if loose else (2e-5, 2e-6)


def _check(got, want, rtol, atol):
    g = got.numpy().astype(np.float64)
    w = want.detach().numpy().astype(np.float64)
    assert g.shape == w.shape
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
    np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w))
    np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w))
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


def _inputs(rng, n, low, high, dtype, start):
    """A view of ``n`` elements starting at element ``start`` of a larger buffer (clnet, torch)."""
    a = rng.uniform(low, high, n + start).astype(dtype)
    return clnet.tensor(a)[start:], torch.from_numpy(a)[start:]


def test_cpu_default_is_vector_form():
    dev = clnet.default_device()
    saved = dev.tuning.pop("elementwise.vec", None)
    try:
        assert ew.vec_width(dev, "exp", clnet.float32, ew.VEC_UNARY) == (
            8 if dev.kind == "CPU" else 0)
        assert ew.vec_width(dev, "relu", clnet.float32, ew.VEC_UNARY) == 0
        assert ew.vec_width(dev, "exp", clnet.int32, ew.VEC_UNARY) == 0
    finally:
        dev.tuning.pop("elementwise.vec", None)
        if saved is not None:
            dev.tuning["elementwise.vec"] = saved


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_unary_values(form, name, dtype):
    fn, tfn, (low, high), loose = UNARY[name]
    rtol, atol = _tol(dtype, loose)
    rng = np.random.default_rng(0)
    for n in SIZES:
        for start in (0, 1, 3):
            x, tx = _inputs(rng, n, low, high, dtype, start)
            _check(fn(x), tfn(tx), rtol, atol)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_unary_special_values(form, name, dtype):
    fn, tfn, _, loose = UNARY[name]
    rtol, atol = _tol(dtype, loose)
    a = np.array(SPECIAL, dtype)
    if name == "gelu":
        a[a == np.inf] = 1e30   # torch's own gelu(inf) is NaN in its float32 vector path, inf else
    for start in (0, 1, 3):       # special values in every lane of a vector
        b = np.roll(a, start)
        _check(fn(clnet.tensor(b)), tfn(torch.from_numpy(b)), rtol, atol)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_lanes_are_independent(form, name):
    """One extreme value in a vector of ordinary ones must not change the other lanes (PoCL's
    vector sin/cos/tan did: see TRIG_V in elementwise.cl)."""
    fn, tfn, (low, high), loose = UNARY[name]
    rtol, atol = _tol(np.float32, loose)
    base = np.random.default_rng(5).uniform(low, high, 24).astype(np.float32)
    base[::5] = np.float32(1e-30) if low <= 0 else base[::5]      # tiny lanes beside the big one
    for v in (np.nan, np.inf, -np.inf, 1e7, -1e7, 1e30, -3e38, 1e-38):
        if name == "gelu" and v == np.inf:
            continue            # torch's gelu(inf): NaN in its float32 vector path, inf else
        a = base.copy()
        a[[0, 13, 23]] = v      # lane 0 and 5 of a vector, and the scalar tail
        _check(fn(clnet.tensor(a)), tfn(torch.from_numpy(a)), rtol, atol)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients(form, name):
    fn, tfn, (low, high), loose = UNARY[name]
    rng = np.random.default_rng(1)
    a = rng.uniform(low, high, 33).astype(np.float32)
    g = rng.standard_normal(33).astype(np.float32)
    x = clnet.tensor(a, requires_grad=True)
    fn(x).backward(clnet.tensor(g))
    tx = torch.from_numpy(a).requires_grad_()
    tfn(tx).backward(torch.from_numpy(g))
    _check(x.grad, tx.grad, 1e-4, 1e-5)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_binary_values(form, name, dtype):
    fn, tfn, ra, rb = BINARY[name]
    rtol, atol = _tol(dtype, True)
    rng = np.random.default_rng(2)
    for n in SIZES:
        for start in (0, 1, 3):
            x, tx = _inputs(rng, n, *ra, dtype, start)
            y, ty = _inputs(rng, n, *rb, dtype, 3 - start)
            _check(fn(x, y), tfn(tx, ty), rtol, atol)
            s = torch.tensor(1.75, dtype=tx.dtype)    # torch.atan2/hypot take no Python number
            _check(fn(x, 1.75), tfn(tx, s), rtol, atol)            # tensor-scalar
            if name != "fmod":   # clnet.fmod takes no scalar first operand
                _check(fn(1.75, y), tfn(s, ty), rtol, atol)        # scalar-tensor


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_special_values(form, name):
    fn, tfn, _, _ = BINARY[name]
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0, -2.0, 0.5, -0.5, 1.0, -1.0, 3.0],
                    np.float32)
    a, b = np.meshgrid(vals, vals)
    a, b = a.ravel(), b.ravel()
    _check(fn(clnet.tensor(a), clnet.tensor(b)), tfn(torch.from_numpy(a), torch.from_numpy(b)),
           1e-5, 1e-6)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients(form, name):
    fn, tfn, ra, rb = BINARY[name]
    rng = np.random.default_rng(3)
    a = rng.uniform(*ra, 33).astype(np.float32)
    b = rng.uniform(*rb, 33).astype(np.float32)
    g = rng.standard_normal(33).astype(np.float32)
    x, y = clnet.tensor(a, requires_grad=True), clnet.tensor(b, requires_grad=True)
    fn(x, y).backward(clnet.tensor(g))
    tx, ty = torch.from_numpy(a).requires_grad_(), torch.from_numpy(b).requires_grad_()
    tfn(tx, ty).backward(torch.from_numpy(g))
    _check(x.grad, tx.grad, 1e-4, 1e-5)
    _check(y.grad, ty.grad, 1e-4, 1e-5)


def test_inplace_and_out_forms(form):
    """In-place and out= go through the same contiguous kernels (output offset != input's)."""
    a = np.random.default_rng(4).uniform(-3, 3, 41).astype(np.float32)
    x = clnet.tensor(a)
    x[2:].exp_()
    x[5:30].sigmoid_()
    want = a.copy()
    want[2:] = np.exp(a[2:])
    want[5:30] = 1 / (1 + np.exp(-want[5:30]))
    np.testing.assert_allclose(x.numpy(), want, rtol=2e-5)
    out = clnet.empty(45)
    clnet.tanh(clnet.tensor(a), out=out[3:44])
    np.testing.assert_allclose(out.numpy()[3:44], np.tanh(a), rtol=2e-5, atol=2e-6)


def test_int_and_bool_inputs_promote(form):
    a = np.arange(-5, 12, dtype=np.int32)
    _check(clnet.exp(clnet.tensor(a)), torch.exp(torch.from_numpy(a)), 2e-5, 2e-6)
    _check(clnet.sigmoid(clnet.tensor(a > 2)), torch.sigmoid(torch.from_numpy(a > 2)), 2e-5, 2e-6)
    _check(clnet.pow(clnet.tensor(a), 2), torch.pow(torch.from_numpy(a), 2), 0, 0)


# activation -> the fused backward kernel it uses when the gradient is not differentiated
FUSED_BACKWARD = ["sigmoid", "tanh", "silu", "gelu", "gelu_tanh", "mish", "softplus"]
# special inputs for gradients: no infinities or overflowing magnitudes, where torch's own
# gradients are inf * 0 artefacts (gelu_tanh's gradient at 1e30 is NaN there, at inf too)
GRAD_SPECIAL = [np.nan, 0.0, -0.0, 1e-30, -1e-30, 20.0, 20.000002, 30.0, -30.0, 88.5, -88.5, 100.0,
                -100.0, 1.5, -1.5, 0.5, -0.5, 1.0, -1.0]


@pytest.mark.parametrize("name", FUSED_BACKWARD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_fused_backward_values(form, name, dtype):
    """One-kernel backward (<act>_backward in elementwise.cl) vs torch's gradient: sizes around
    the vector width, unaligned views, special values, a strided incoming gradient (_n kernel).
    float32 rtol/atol 1e-4/1e-5 (a product of rounded transcendentals), float64 1e-12/1e-14."""
    fn, tfn, (low, high), _ = UNARY[name]
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-4, 1e-5)
    rng = np.random.default_rng(6)
    for n in SIZES + [len(GRAD_SPECIAL)]:
        for start in (0, 1, 3):
            if n == len(GRAD_SPECIAL):
                a = np.roll(np.array(GRAD_SPECIAL, dtype), start)
            else:
                a = rng.uniform(low, high, n).astype(dtype)
            gbig = rng.standard_normal(2 * n + start).astype(dtype)
            x = clnet.tensor(np.concatenate([np.zeros(start, dtype), a]))[start:]
            x.requires_grad_()
            g = clnet.tensor(gbig)[start::2] if start else clnet.tensor(gbig[:n])
            gn = gbig[start::2] if start else gbig[:n]
            fn(x).backward(g)
            tx = torch.from_numpy(a).requires_grad_()
            tfn(tx).backward(torch.from_numpy(np.ascontiguousarray(gn)))
            _check(x.grad, tx.grad, rtol, atol)


@pytest.mark.parametrize("name", FUSED_BACKWARD)
def test_fused_backward_keeps_double_backward(form, name):
    """create_graph=True composes differentiable ops instead of the fused kernel, so gradients
    of gradients still match torch."""
    fn, tfn, (low, high), _ = UNARY[name]
    a = np.random.default_rng(7).uniform(low, high, 19).astype(np.float64)
    x = clnet.tensor(a, requires_grad=True)
    (gx,) = clnet.autograd.grad(fn(x).sum(), x, create_graph=True)
    gx.sum().backward()
    tx = torch.from_numpy(a).requires_grad_()
    (tgx,) = torch.autograd.grad(tfn(tx).sum(), tx, create_graph=True)
    tgx.sum().backward()
    _check(gx.detach(), tgx.detach(), 1e-10, 1e-12)
    _check(x.grad, tx.grad, 1e-9, 1e-11)


def test_vector_erf_accuracy(form):
    """float32 erf of the *_v kernels is a rational approximation (ERF_POLY in elementwise.cl):
    at most 8 ulp from the exact erf over a dense sweep of [-5, 5] and of tiny magnitudes (the
    builtin of the *_c form: < 1 ulp); gelu, built on it, within 2e-6 absolute (0.5 |x| times
    erf's absolute error near -1, as torch's own float32 gelu: 1 + erf cancels there)."""
    x = np.concatenate([np.linspace(-5, 5, 200001), np.geomspace(1e-30, 4, 20001),
                        -np.geomspace(1e-30, 4, 20001)]).astype(np.float32)
    exact = torch.erf(torch.from_numpy(x.astype(np.float64))).numpy()
    got = clnet.erf(clnet.tensor(x)).numpy().astype(np.float64)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 8
    g = F.gelu(clnet.tensor(x)).numpy().astype(np.float64)
    xe = x.astype(np.float64)
    want = 0.5 * xe * (1 + torch.erf(torch.from_numpy(xe / np.sqrt(2.0))).numpy())
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=2e-6)


@pytest.mark.parametrize("exponent", [3, -1, -2, -0.5, 2, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pow_fast_exponents(exponent, dtype):
    """pow(x, e) for torch's fast exponents runs one cheap kernel (cube, reciprocal, inv_square,
    rsqrt, square, sqrt) instead of the pow builtin; values (special values included) and
    gradients as torch. rsqrt may differ from 1/sqrt by 2 ulp (OpenCL's bound)."""
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    a = np.concatenate([np.random.default_rng(8).uniform(-4, 4, 37),
                        SPECIAL]).astype(dtype)
    _check(clnet.pow(clnet.tensor(a), exponent), torch.pow(torch.from_numpy(a), exponent),
           rtol, atol)
    b = np.random.default_rng(9).uniform(0.2, 4, 33).astype(dtype)
    x = clnet.tensor(b, requires_grad=True)
    (x ** exponent).sum().backward()
    tx = torch.from_numpy(b).requires_grad_()
    (tx ** exponent).sum().backward()
    _check(x.grad, tx.grad, rtol * 5, atol * 5)
