"""Backward (and double backward) of every differentiable elementwise op, against torch.

Tolerances: see tests/grad_helpers.py (float32: grads rtol 1e-4 / atol 1e-5, second order
rtol 1e-3 / atol 1e-4).
"""
import numpy as np
import pytest

import clnet
from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

F_OPS = {   # name: (callable(m, x), low, high, smooth enough for a second derivative)
    "exp": (lambda m, x: x.exp(), -2, 2, True),
    "expm1": (lambda m, x: m.expm1(x), -2, 2, True),
    "exp2": (lambda m, x: m.exp2(x), -2, 2, True),
    "log": (lambda m, x: x.log(), 0.2, 3, True),
    "log2": (lambda m, x: m.log2(x), 0.2, 3, True),
    "log10": (lambda m, x: m.log10(x), 0.2, 3, True),
    "log1p": (lambda m, x: m.log1p(x), -0.5, 3, True),
    "sqrt": (lambda m, x: x.sqrt(), 0.2, 3, True),
    "rsqrt": (lambda m, x: x.rsqrt(), 0.2, 3, True),
    "reciprocal": (lambda m, x: x.reciprocal(), 0.5, 3, True),
    "sin": (lambda m, x: x.sin(), -3, 3, True),
    "cos": (lambda m, x: x.cos(), -3, 3, True),
    "tan": (lambda m, x: x.tan(), -1, 1, True),
    "asin": (lambda m, x: x.asin(), -0.8, 0.8, True),
    "acos": (lambda m, x: x.acos(), -0.8, 0.8, True),
    "atan": (lambda m, x: x.atan(), -3, 3, True),
    "sinh": (lambda m, x: x.sinh(), -2, 2, True),
    "cosh": (lambda m, x: x.cosh(), -2, 2, True),
    "tanh": (lambda m, x: x.tanh(), -2, 2, True),
    "asinh": (lambda m, x: m.asinh(x), -2, 2, True),
    "acosh": (lambda m, x: m.acosh(x), 1.2, 3, True),
    "atanh": (lambda m, x: m.atanh(x), -0.8, 0.8, True),
    "erf": (lambda m, x: m.erf(x), -2, 2, True),
    "erfc": (lambda m, x: m.erfc(x), -2, 2, True),
    "sigmoid": (lambda m, x: x.sigmoid(), -4, 4, True),
    "abs": (lambda m, x: x.abs(), -3, 3, False),
    "neg": (lambda m, x: -x, -3, 3, True),
    "square": (lambda m, x: m.square(x), -3, 3, True),
    "relu": (lambda m, x: m.relu(x), -3, 3, False),
    "floor": (lambda m, x: x.floor(), -3, 3, False),
    "frac": (lambda m, x: m.frac(x), -3, 3, False),
    "clamp": (lambda m, x: x.clamp(-1.0, 0.5), -3, 3, False),
    "clamp_min": (lambda m, x: x.clamp(min=-0.5), -3, 3, False),
    "pow_scalar": (lambda m, x: x ** 3, -2, 2, True),
    "pow_frac": (lambda m, x: x ** 2.5, 0.2, 2, True),
    "rpow": (lambda m, x: 2.0 ** x, -2, 2, True),
    "scalar_arith": (lambda m, x: (3 - x) * 2 / (x + 5) - x / 4, -2, 2, True),
}


def _act(name, **kw):
    def f(m, x):
        import torch.nn.functional as TF
        if m is clnet:
            import clnet.ops.pointwise as P
            return getattr(P, name)(x, **kw)
        return getattr(TF, name)(x, **kw)
    return f


ACTIVATIONS = {
    "leaky_relu": (_act("leaky_relu", negative_slope=0.2), False),
    "elu": (_act("elu", alpha=0.7), False),
    "celu": (_act("celu", alpha=1.3), False),
    "selu": (_act("selu"), False),
    "gelu": (_act("gelu"), True),
    "gelu_tanh": (_act("gelu", approximate="tanh"), True),
    "silu": (_act("silu"), True),
    "mish": (_act("mish"), True),
    "softplus": (_act("softplus", beta=2.0, threshold=5.0), True),
    "softsign": (_act("softsign"), True),
    "logsigmoid": (_act("logsigmoid"), True),
    "hardsigmoid": (_act("hardsigmoid"), False),
    "hardswish": (_act("hardswish"), False),
    "hardtanh": (_act("hardtanh", min_val=-0.5, max_val=1.0), False),
    "relu6": (_act("relu6"), False),
}


@pytest.mark.parametrize("name", sorted(F_OPS))
def test_unary_grads(name, rng):
    fn, lo, hi, smooth = F_OPS[name]
    x = rng.uniform(lo, hi, size=(3, 5)).astype(np.float32)
    check_grad_parity(fn, x, second=smooth)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_grads(name, rng):
    fn, smooth = ACTIVATIONS[name]
    x = rng.uniform(-4, 4, size=(4, 7)).astype(np.float32)
    x[np.abs(x) < 0.05] = 0.3          # keep away from kinks where one-sided derivatives differ
    x[np.abs(np.abs(x) - 3) < 0.05] = 2.0
    check_grad_parity(fn, x, second=smooth)


BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: a.abs() ** b,
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "atan2": lambda m, a, b: m.atan2(a, b),
    "hypot": lambda m, a, b: m.hypot(a, b),
    "remainder": lambda m, a, b: m.remainder(a, b),
    "fmod": lambda m, a, b: m.fmod(a, b),
    "add_alpha": lambda m, a, b: m.add(a, b, alpha=2.5),
    "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=0.5),
    "lerp": lambda m, a, b: m.lerp(a, b, 0.3),
    "where": lambda m, a, b: m.where(a > b, a * 2, b),
}
SMOOTH_BINARY = {"add", "sub", "mul", "div", "pow", "atan2", "hypot", "add_alpha", "sub_alpha",
                 "lerp"}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)),
                                    ((), (2, 3))])
def test_binary_grads_with_broadcasting(name, shapes, rng):
    a = rng.uniform(0.5, 2.0, size=shapes[0]).astype(np.float32)
    b = rng.uniform(0.5, 2.0, size=shapes[1]).astype(np.float32)
    if name in ("remainder", "fmod"):
        b = b + 0.37
    check_grad_parity(BINARY[name], a, b, second=name in SMOOTH_BINARY)


@pytest.mark.parametrize("name", ["mul", "div", "maximum", "lerp"])
def test_binary_grads_noncontiguous(name, rng):
    a = rng.uniform(0.5, 2.0, size=(4, 6)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, size=(4, 6)).astype(np.float32)
    check_grad_parity(BINARY[name], a, b, second=name in SMOOTH_BINARY,
                      layouts=[lambda x: as_noncontiguous(x, "transpose"),
                               lambda x: as_noncontiguous(x, "step")])


def test_maximum_ties_split_the_gradient():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([1.0, 1.0, 4.0], dtype=np.float32)
    check_grad_parity(lambda m, x, y: m.maximum(x, y), a, b)
    check_grad_parity(lambda m, x, y: m.minimum(x, y), a, b)


def test_mixed_dtype_grads_flow_back_to_each_input_dtype(rng):
    if not clnet.default_device().has_fp64:
        pytest.skip("needs float64")
    a = rng.standard_normal((3,)).astype(np.float32)
    b = rng.standard_normal((3,)).astype(np.float64)
    x = clnet.tensor(a, requires_grad=True)
    y = clnet.tensor(b, requires_grad=True)
    (x * y).backward(clnet.ones(3, dtype=clnet.float64))
    assert x.grad.dtype is clnet.float32 and y.grad.dtype is clnet.float64
    np.testing.assert_allclose(x.grad.numpy(), b.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), a.astype(np.float64), rtol=1e-6)


def test_inplace_ops_record_like_out_of_place(rng):
    a = rng.uniform(0.5, 2, size=(3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2, size=(4,)).astype(np.float32)

    def f(m, x, y):
        z = x * 1.0        # a non-leaf we may modify in place
        z.mul_(y)
        z.add_(y, alpha=2)
        z.clamp_(0.1, 2.5)
        z.sigmoid_()
        return (z - x) * z
    check_grad_parity(f, a, b, second=False)


def test_modifying_a_saved_output_fails_like_torch(rng):
    import torch
    a = rng.uniform(0.5, 2, size=(3, 4)).astype(np.float32)
    for m in (clnet, torch):
        x = m.tensor(a, requires_grad=True)
        z = x * 1.0
        z.sigmoid_()      # saves its output
        z *= 2            # ...which this overwrites
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward(m.ones(3, 4))


def test_copy_and_fill_in_place_history(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)

    def f(m, x, y):
        z = x * 2
        z.copy_(y.expand(3, 4) * 3)
        w = x * 3          # (zeroing an exp() output would fail in torch: exp saves its output)
        w.zero_()
        return z + w + x
    check_grad_parity(f, a, b)


def test_view_grads(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)

    def f(m, x):
        y = x.permute(2, 0, 1).reshape(4, 6).t()
        z = y[1:5:2, ::3] * 2
        w = x.flatten()[3:9].view(2, 3) + x[1, :, 2:].squeeze()[:2].expand(2, 2, 2)[0, :, 0:1]
        return z, w, x.narrow(1, 1, 2).unbind(2)[3], x.select(0, 1).unsqueeze(1), \
            x.view(6, 4).chunk(3, 0)[1], x.movedim(0, 2).contiguous()
    check_grad_parity(f, a, second=True)
