"""Elementwise ops against numpy (values) and torch (promotion, NaN and activation semantics).

float32 tolerances: rtol 1e-5 / atol 1e-6 for arithmetic; transcendental functions rtol 2e-5 /
atol 2e-6 (OpenCL's ULP bounds for exp/log/pow are a few ULP, numpy is correctly rounded).
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import clnet
from helpers import EDGE_SIZES, as_noncontiguous, assert_close, random_array

RT, AT = 2e-5, 2e-6

BINARY_FLOAT = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2, "hypot": np.hypot,
    "copysign": np.copysign, "fmax": np.fmax, "fmin": np.fmin,
}
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}


@st.composite
def broadcast_shapes(draw, max_dims=4, max_side=7):
    base = draw(st.lists(st.integers(0, max_side), min_size=0, max_size=max_dims))
    other = []
    for s in base[len(base) - draw(st.integers(0, len(base))):]:
        other.append(draw(st.sampled_from([s, 1])))
    a = [draw(st.sampled_from([s, 1])) if s != 0 else s for s in base]
    if draw(st.booleans()):
        a, other = other, a
    return tuple(a), tuple(other)


@pytest.mark.parametrize("op", sorted(BINARY_FLOAT))
@given(shapes=broadcast_shapes(), seed=st.integers(0, 2 ** 31))
def test_binary_float_broadcast(op, shapes, seed):
    rng = np.random.default_rng(seed)
    a = random_array(rng, shapes[0])
    b = random_array(rng, shapes[1])
    if op in ("floor_divide", "remainder", "fmod", "div"):
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b)
    expected = BINARY_FLOAT[op](a, b)
    got = getattr(clnet, op)(clnet.tensor(a), clnet.tensor(b))
    assert_close(got, expected, rtol=RT, atol=AT)


@pytest.mark.parametrize("op", sorted(COMPARE))
@given(shapes=broadcast_shapes(), seed=st.integers(0, 2 ** 31))
def test_compare_broadcast(op, shapes, seed):
    rng = np.random.default_rng(seed)
    a = np.round(random_array(rng, shapes[0]))
    b = np.round(random_array(rng, shapes[1]))
    got = getattr(clnet, op)(clnet.tensor(a), clnet.tensor(b))
    assert_close(got, COMPARE[op](a, b))


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "lt"])
def test_binary_noncontiguous(op, kind, rng):
    a = random_array(rng, (5, 7))
    b = random_array(rng, (5, 7))
    fn = {**BINARY_FLOAT, **COMPARE}[op]
    got = getattr(clnet, op)(as_noncontiguous(a, kind), as_noncontiguous(b, "step"))
    assert_close(got, fn(a, b))
    # a non-contiguous operand broadcast against a contiguous one
    got = getattr(clnet, op)(as_noncontiguous(a, kind), clnet.tensor(b[0]))
    assert_close(got, fn(a, b[0]))


@pytest.mark.parametrize("n", EDGE_SIZES + [1000, 4099])
def test_edge_sizes_contiguous_and_scalar(n, rng):
    a = random_array(rng, (n,))
    b = random_array(rng, (n,))
    ta, tb = clnet.tensor(a), clnet.tensor(b)
    assert_close(ta + tb, a + b)
    assert_close(ta * 3.0, a * np.float32(3.0))
    assert_close(2.0 - ta, np.float32(2.0) - a)
    assert_close(ta.exp(), np.exp(a), rtol=RT, atol=AT)
    # unaligned output offsets take the scalar path of the *_c kernels
    if n > 1:
        assert_close(ta[1:] + tb[1:], a[1:] + b[1:])
        assert_close(ta[1:].abs().sqrt(), np.sqrt(np.abs(a[1:])), rtol=RT, atol=AT)


def test_scalar_operands_both_sides(rng):
    a = random_array(rng, (3, 4))
    t = clnet.tensor(a)
    f = np.float32
    assert_close(t + 2, a + f(2))
    assert_close(2 + t, f(2) + a)
    assert_close(t - 2.5, a - f(2.5))
    assert_close(2.5 - t, f(2.5) - a)
    assert_close(t * -1.5, a * f(-1.5))
    assert_close(3 / (t + 10), f(3) / (a + f(10)), rtol=RT)
    assert_close(t / 4, a / f(4))
    assert_close(t // 0.7, np.floor_divide(a, f(0.7)))
    assert_close(7.0 // (t + 10), np.floor_divide(f(7.0), a + f(10)))
    assert_close(t % 0.7, np.remainder(a, f(0.7)), rtol=RT, atol=1e-6)
    assert_close(-t, -a)
    assert_close(+t, a)


def test_integer_arithmetic_python_semantics():
    a = np.array([-7, -3, 0, 3, 7, 9, -9], dtype=np.int64)
    b = np.array([2, -2, 5, 3, -4, 4, -4], dtype=np.int64)
    ta, tb = clnet.tensor(a), clnet.tensor(b)
    assert_close(ta // tb, np.floor_divide(a, b))
    assert_close(ta % tb, np.remainder(a, b))
    assert_close(clnet.fmod(ta, tb), np.fmod(a, b))
    assert_close(clnet.div(ta, tb, rounding_mode="trunc"), np.trunc(a / b).astype(np.int64))
    assert_close(clnet.div(ta, tb, rounding_mode="floor"), np.floor_divide(a, b))
    assert_close(ta / tb, (a / b).astype(np.float32))
    assert_close(ta ** clnet.tensor([2, 3, 0, 1, 2, 3, 1]), a ** np.array([2, 3, 0, 1, 2, 3, 1]))
    assert_close(ta & tb, a & b)
    assert_close(ta | tb, a | b)
    assert_close(ta ^ tb, a ^ b)
    assert_close(~ta, ~a)
    assert_close(ta << 2, a << 2)
    assert_close(abs(ta), np.abs(a))
    assert_close(ta.sign(), np.sign(a))


def test_integer_division_by_zero_gives_zero_instead_of_trapping():
    # a kernel cannot raise; documented difference from PyTorch's ZeroDivisionError
    t = clnet.tensor([5, -5, 0], dtype=clnet.int32)
    z = clnet.zeros(3, dtype=clnet.int32)
    assert (t // z).tolist() == [0, 0, 0]
    assert (t % z).tolist() == [0, 0, 0]
    m = clnet.tensor([np.iinfo(np.int32).min], dtype=clnet.int32)
    assert (m // -1).dtype is clnet.int32  # INT_MIN // -1 wraps instead of trapping


def test_int32_ops():
    a = np.arange(-5, 6, dtype=np.int32)
    t = clnet.tensor(a)
    assert t.dtype is clnet.int32
    assert_close(t + t, a + a)
    assert_close(t * 3, a * 3)
    assert_close(clnet.maximum(t, clnet.tensor(np.int32(0))), np.maximum(a, 0))
    assert_close(t.clamp(-2, 3), np.clip(a, -2, 3))
    assert_close(clnet.relu(t), np.maximum(a, 0))


PROMOTION_CASES = [
    (torch.float32, torch.int64), (torch.int32, torch.int64), (torch.bool, torch.int32),
    (torch.bool, torch.float32), (torch.float32, torch.float64), (torch.int32, torch.float64),
    (torch.bool, torch.bool), (torch.int64, torch.int64),
]


@pytest.mark.parametrize("ta,tb", PROMOTION_CASES)
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "eq"])
def test_tensor_tensor_promotion_matches_torch(ta, tb, op):
    x = torch.tensor([1, 0, 1]).to(ta)
    y = torch.tensor([1, 1, 0]).to(tb)
    expected = getattr(torch, op)(x, y)
    got = getattr(clnet, op)(clnet.tensor(x.numpy()), clnet.tensor(y.numpy()))
    assert got.dtype.name == str(expected.dtype).replace("torch.", "")
    assert_close(got, expected.numpy(), check_dtype=False)


@pytest.mark.parametrize("tdt", [torch.bool, torch.int32, torch.int64, torch.float32])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
@pytest.mark.parametrize("op", ["add", "mul", "div", "sub"])
def test_scalar_and_zero_dim_promotion_matches_torch(tdt, scalar, op):
    x = torch.tensor([1, 0, 1]).to(tdt)
    try:
        expected = getattr(torch, op)(x, scalar)
    except RuntimeError:
        with pytest.raises((TypeError, RuntimeError)):
            getattr(clnet, op)(clnet.tensor(x.numpy()), scalar)
        return
    got = getattr(clnet, op)(clnet.tensor(x.numpy()), scalar)
    assert got.dtype.name == str(expected.dtype).replace("torch.", "")
    assert_close(got, expected.numpy(), check_dtype=False)
    # a 0-d tensor acts like a scalar unless it raises the category
    z = torch.tensor(scalar)
    expected = getattr(torch, op)(x, z) if not (op == "sub" and (tdt is torch.bool or z.dtype is torch.bool)) else None
    if expected is not None:
        got = getattr(clnet, op)(clnet.tensor(x.numpy()), clnet.tensor(scalar))
        assert got.dtype.name == str(expected.dtype).replace("torch.", "")


FLOAT_UNARY = {
    "exp": (np.exp, -5, 5), "exp2": (np.exp2, -5, 5), "expm1": (np.expm1, -2, 2),
    "log": (np.log, 0.01, 10), "log2": (np.log2, 0.01, 10), "log10": (np.log10, 0.01, 10),
    "log1p": (np.log1p, -0.9, 10), "sqrt": (np.sqrt, 0, 10), "rsqrt": (lambda x: 1 / np.sqrt(x), 0.1, 10),
    "reciprocal": (lambda x: 1 / x, 0.5, 4), "sin": (np.sin, -4, 4), "cos": (np.cos, -4, 4),
    "tan": (np.tan, -1.2, 1.2), "asin": (np.arcsin, -0.99, 0.99), "acos": (np.arccos, -0.99, 0.99),
    "atan": (np.arctan, -5, 5), "sinh": (np.sinh, -3, 3), "cosh": (np.cosh, -3, 3),
    "tanh": (np.tanh, -5, 5), "asinh": (np.arcsinh, -5, 5), "acosh": (np.arccosh, 1.01, 5),
    "atanh": (np.arctanh, -0.9, 0.9), "floor": (np.floor, -5, 5), "ceil": (np.ceil, -5, 5),
    "round": (np.round, -5, 5), "trunc": (np.trunc, -5, 5), "abs": (np.abs, -5, 5),
    "neg": (np.negative, -5, 5), "sign": (np.sign, -5, 5), "square": (np.square, -5, 5),
    "frac": (lambda x: x - np.trunc(x), -5, 5),
}
TORCH_UNARY = ["sigmoid", "erf", "erfc", "lgamma", "logsigmoid", "silu", "mish", "softsign",
               "hardsigmoid", "hardswish", "selu", "relu", "gelu"]


@pytest.mark.parametrize("op", sorted(FLOAT_UNARY))
@pytest.mark.parametrize("layout", ["contiguous", "step"])
def test_unary_float_vs_numpy(op, layout, rng):
    fn, lo, hi = FLOAT_UNARY[op]
    a = random_array(rng, (6, 11), low=lo, high=hi)
    if op == "round":
        a[0, :4] = [0.5, 1.5, 2.5, -0.5]   # half to even, like torch
    t = clnet.tensor(a) if layout == "contiguous" else as_noncontiguous(a, "step")
    got = getattr(clnet, op)(t)
    assert_close(got, fn(a).astype(np.float32), rtol=RT, atol=AT)
    assert_close(getattr(t, op)(), fn(a).astype(np.float32), rtol=RT, atol=AT)


@pytest.mark.parametrize("op", TORCH_UNARY)
def test_unary_activations_vs_torch(op, rng):
    a = random_array(rng, (257,), low=-8, high=8)
    a[:3] = [0.0, -0.0, 3.0]
    mod = torch.nn.functional if hasattr(torch.nn.functional, op) else torch
    expected = getattr(mod, op)(torch.tensor(a)).numpy()
    import clnet.ops.pointwise as E   # F-only activations live in the module (nn.functional later)
    got = getattr(E, op)(clnet.tensor(a))
    assert_close(got, expected, rtol=1e-5, atol=2e-6)


def test_parametrised_activations_vs_torch(rng):
    import clnet.ops.pointwise as E
    F = torch.nn.functional
    a = random_array(rng, (5, 13), low=-6, high=6)
    x, tx = clnet.tensor(a), torch.tensor(a)
    assert_close(E.leaky_relu(x, 0.2), F.leaky_relu(tx, 0.2), rtol=1e-6)
    assert_close(E.elu(x, 0.7), F.elu(tx, 0.7), rtol=1e-5, atol=1e-6)
    assert_close(E.celu(x, 1.3), F.celu(tx, 1.3), rtol=1e-5, atol=1e-6)
    assert_close(E.gelu(x, approximate="tanh"), F.gelu(tx, approximate="tanh"), rtol=1e-5, atol=2e-6)
    assert_close(E.softplus(x, 2.0, 5.0), F.softplus(tx, 2.0, 5.0), rtol=1e-5, atol=1e-6)
    assert_close(E.hardtanh(x, -2.0, 1.5), F.hardtanh(tx, -2.0, 1.5))
    assert_close(E.relu6(x * 2), F.relu6(tx * 2))
    assert_close(E.threshold(x, 0.5, -1.0), F.threshold(tx, 0.5, -1.0))
    with pytest.raises(ValueError, match="approximate"):
        E.gelu(x, approximate="fast")


def test_nan_semantics_match_torch():
    nan, inf = float("nan"), float("inf")
    a = [nan, 1.0, -inf, 2.0, nan]
    b = [0.0, nan, 3.0, inf, nan]
    x, y = clnet.tensor(a), clnet.tensor(b)
    tx, ty = torch.tensor(a), torch.tensor(b)
    for op in ("maximum", "minimum", "fmax", "fmin"):
        assert_close(getattr(clnet, op)(x, y), getattr(torch, op)(tx, ty))
    assert_close(clnet.clamp(x, -1, 1), torch.clamp(tx, -1, 1))
    assert_close(clnet.relu(x), torch.relu(tx))
    assert_close(x.sign(), tx.sign())
    assert_close(clnet.isnan(x), torch.isnan(tx))
    assert_close(clnet.isinf(x), torch.isinf(tx))
    assert_close(clnet.isfinite(x), torch.isfinite(tx))
    assert_close(clnet.nan_to_num(x), torch.nan_to_num(tx))
    assert_close(clnet.nan_to_num(x, nan=7.0, posinf=1.0, neginf=-1.0),
                 torch.nan_to_num(tx, nan=7.0, posinf=1.0, neginf=-1.0))
    assert_close(x == x, tx == tx)


def test_pow_forms(rng):
    a = random_array(rng, (4, 5), low=0.1, high=3)
    t = clnet.tensor(a)
    assert_close(t ** 2, a ** 2, rtol=RT)
    assert_close(t ** 0.5, np.sqrt(a), rtol=RT)
    assert_close(t ** 3.3, a ** np.float32(3.3), rtol=1e-5)
    assert_close(2 ** t, np.float32(2) ** a, rtol=1e-5)
    assert_close(t ** t, a ** a, rtol=1e-5)
    neg = clnet.tensor([-2.0, -3.0])
    assert_close(neg ** 3, np.array([-8.0, -27.0], dtype=np.float32))
    with pytest.raises(ValueError, match="negative integer powers"):
        clnet.tensor([2, 3]) ** -1


def test_logical_and_bitwise_on_bool():
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    x, y = clnet.tensor(a), clnet.tensor(b)
    assert_close(x & y, a & b)
    assert_close(x | y, a | b)
    assert_close(x ^ y, a ^ b)
    assert_close(~x, ~a)
    assert_close(clnet.logical_and(clnet.tensor([0.0, 2.0, 3.0]), clnet.tensor([1, 0, 5])),
                 np.array([False, False, True]))
    assert_close(clnet.logical_or(x, 0), a)
    assert_close(clnet.logical_xor(x, y), a ^ b)
    assert_close(clnet.logical_not(clnet.tensor([0.0, 0.5])), np.array([True, False]))
    assert_close(x + y, a | b)   # torch: bool + bool is bool
    with pytest.raises(TypeError, match="subtraction"):
        x - y
    with pytest.raises(TypeError, match="bool"):
        -x


@given(shapes=broadcast_shapes(max_dims=3), seed=st.integers(0, 2 ** 31),
       scalar_x=st.booleans(), scalar_y=st.booleans())
def test_where(shapes, seed, scalar_x, scalar_y):
    rng = np.random.default_rng(seed)
    c = rng.random(shapes[0]) < 0.5
    x = 1.5 if scalar_x else random_array(rng, shapes[1])
    y = -2.0 if scalar_y else random_array(rng, shapes[0][1:] if len(shapes[0]) else ())
    cx = x if scalar_x else clnet.tensor(x)
    cy = y if scalar_y else clnet.tensor(y)
    expected = np.where(c, x, y).astype(np.float32)
    assert_close(clnet.where(clnet.tensor(c), cx, cy), expected)


def test_where_promotes_and_method_form(rng):
    c = np.array([True, False, True])
    a = np.array([1, 2, 3], dtype=np.int64)
    b = np.array([0.5, 0.25, 0.125], dtype=np.float32)
    got = clnet.where(clnet.tensor(c), clnet.tensor(a), clnet.tensor(b))
    assert got.dtype is clnet.float32
    assert_close(got, np.where(c, a, b).astype(np.float32))
    assert_close(clnet.tensor(b).where(clnet.tensor(c), 0.0), np.where(c, b, 0).astype(np.float32))
    assert_close(clnet.where(clnet.tensor([1.0, 0.0, 2.0]), 1, 0), np.array([1, 0, 1]))


def test_lerp_matches_torch(rng):
    a = random_array(rng, (4, 6))
    b = random_array(rng, (6,))
    w = random_array(rng, (4, 1), low=0, high=1)
    expected = torch.lerp(torch.tensor(a), torch.tensor(b).expand(4, 6), torch.tensor(w).expand(4, 6))
    assert_close(clnet.lerp(clnet.tensor(a), clnet.tensor(b), clnet.tensor(w)), expected)
    assert_close(clnet.lerp(clnet.tensor(a), clnet.tensor(b), 0.3),
                 torch.lerp(torch.tensor(a), torch.tensor(b).expand(4, 6), 0.3))


def test_clamp_forms(rng):
    a = random_array(rng, (3, 7))
    t = clnet.tensor(a)
    assert_close(t.clamp(min=-1), np.maximum(a, -1))
    assert_close(t.clamp(max=0.5), np.minimum(a, 0.5))
    lo = random_array(rng, (7,), low=-2, high=0)
    assert_close(clnet.clamp(t, min=clnet.tensor(lo), max=1.0), np.clip(a, lo, 1.0))
    assert_close(clnet.clamp(clnet.tensor([1, 5, 9]), 2, 6), np.array([2, 5, 6]))
    assert clnet.clamp(clnet.tensor([1, 5, 9]), 2.5, 6).dtype is clnet.float32
    with pytest.raises(ValueError, match="at least one"):
        clnet.clamp(t)


def test_inplace_ops_write_through_views_and_bump_version(rng):
    a = random_array(rng, (4, 6))
    t = clnet.tensor(a)
    v0 = t._version
    col = t[:, 1::2]
    col.add_(10)
    expected = a.copy()
    expected[:, 1::2] += 10
    assert_close(t, expected)
    assert t._version > v0 and col._version == t._version
    ident = t
    t += 1
    assert t is ident
    expected += 1
    assert_close(t, expected)
    t.mul_(2).sub_(1, alpha=3)
    expected = expected * 2 - 3
    assert_close(t, expected, rtol=1e-6)
    t[0].zero_()
    expected[0] = 0
    assert_close(t, expected)
    t.clamp_(-5, 5).relu_()
    expected = np.maximum(np.clip(expected, -5, 5), 0)
    assert_close(t, expected)
    t.exp_()
    assert_close(t, np.exp(expected), rtol=RT)
    t.fill_(2.5)
    assert_close(t, np.full((4, 6), 2.5, np.float32))
    src = random_array(rng, (6,))
    t.copy_(clnet.tensor(src))
    assert_close(t, np.broadcast_to(src, (4, 6)))


def test_inplace_type_errors():
    t = clnet.tensor([1, 2, 3])
    with pytest.raises(TypeError, match="can't be cast"):
        t.add_(1.5)
    with pytest.raises(TypeError, match="can't be cast"):
        t.exp_()
    with pytest.raises(ValueError, match=r"\[3\].*\[2, 3\]|doesn't match"):
        t.add_(clnet.ones(2, 3, dtype=clnet.int64))
    f = clnet.tensor([1.0, 2.0])
    f.add_(clnet.tensor([1, 2]))        # int into float: fine
    assert f.tolist() == [2.0, 4.0]


def test_shape_error_names_op_and_both_shapes():
    with pytest.raises(ValueError) as e:
        clnet.ones(2, 3) + clnet.ones(4, 5)
    msg = str(e.value)
    assert "add" in msg and "[2, 3]" in msg and "[4, 5]" in msg


def test_mixed_devices_raise_device_error():
    from clnet.backend.devices import Device
    real = clnet.default_device()
    other = Device(99, real.platform, real.cl_device)
    a = clnet.ones(3)
    b = clnet.ones(3, device=other)
    with pytest.raises(clnet.DeviceError) as e:
        a + b
    assert "cl:0" in str(e.value) or str(real) in str(e.value)
    assert "cl:99" in str(e.value)


def test_empty_and_zero_dim():
    e = clnet.zeros(0, 3)
    assert (e + 1).shape == (0, 3)
    assert (e * clnet.ones(3)).shape == (0, 3)
    assert clnet.exp(e).shape == (0, 3)
    s = clnet.tensor(2.0)
    assert (s * 3).item() == 6.0
    assert (s + clnet.ones(2, 2)).shape == (2, 2)


def test_float64_ops(rng):
    if not clnet.default_device().has_fp64:
        pytest.skip("device has no cl_khr_fp64")
    a = rng.uniform(0.1, 5, size=(9,))
    t = clnet.tensor(a)
    assert t.dtype is clnet.float64
    assert_close(t * t + 1, a * a + 1, rtol=1e-12, atol=0)
    assert_close(t.log(), np.log(a), rtol=1e-12, atol=1e-15)
    assert_close(t.sqrt() ** 3, np.sqrt(a) ** 3, rtol=1e-12)
    assert_close(clnet.float_power(clnet.tensor([2.0]), 0.5), np.array([math.sqrt(2)]), rtol=1e-12)


def test_comparisons_with_python_scalars(rng):
    a = random_array(rng, (10,))
    t = clnet.tensor(a)
    assert_close(t > 0, a > 0)
    assert_close(0 < t, a > 0)
    assert_close(t == 1.0, a == 1.0)
    assert_close(t != 0, a != 0)
    assert (t == "x") is False
    assert isinstance(t.__eq__(object()), type(NotImplemented))


@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
def test_tril_triu(diagonal, rng):
    a = random_array(rng, (2, 4, 5))
    assert_close(clnet.tril(clnet.tensor(a), diagonal), np.tril(a, diagonal))
    assert_close(clnet.tensor(a).triu(diagonal), np.triu(a, diagonal))
    m = np.ones((3, 3), dtype=bool)
    assert_close(clnet.tensor(m).tril(), np.tril(m))
    with pytest.raises(ValueError, match="at least 2-D"):
        clnet.tril(clnet.ones(3))
