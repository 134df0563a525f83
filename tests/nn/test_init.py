"""nn.init: gains and fans equal to torch's, random initialisers checked against torch's formulas
by bounds and statistics (different RNG, same distributions), deterministic ones bit for bit."""
import math
import warnings

import numpy as np
import pytest
import torch

import clnet
from clnet.nn import init
from tests.helpers import assert_close

N = 100_000     # elements for statistics: the std of a sample std is ~0.2% at this size


def test_calculate_gain_matches_torch():
    for name in ["linear", "conv2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu",
                 "leaky_relu"]:
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in (0, 0.2, 3):
        assert init.calculate_gain("leaky_relu", slope) == \
            torch.nn.init.calculate_gain("leaky_relu", slope)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3), (16, 3, 5, 5), (2, 3, 1, 2, 2)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(clnet.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(clnet.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(clnet.empty(3, 3), mode="fan_avg")


def _uniform_checks(t, bound):
    x = t.numpy().astype(np.float64)
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    assert np.abs(x).max() > 0.99 * bound                    # the whole range is used
    assert abs(x.mean()) < 0.02 * bound
    assert abs(x.std() - bound / math.sqrt(3)) < 0.01 * bound / math.sqrt(3)


def _normal_checks(t, std, mean=0.0):
    x = t.numpy().astype(np.float64)
    assert abs(x.mean() - mean) < 0.02 * std
    assert abs(x.std() - std) < 0.01 * std


def test_xavier_and_kaiming_follow_torch_formulas():
    shape = (400, 250)   # fan_in 250, fan_out 400
    fan_in, fan_out = 250, 400
    t = clnet.empty(*shape)
    assert init.xavier_uniform_(t, gain=2.0) is t
    _uniform_checks(t, 2.0 * math.sqrt(6.0 / (fan_in + fan_out)))
    _normal_checks(init.xavier_normal_(t, gain=0.5), 0.5 * math.sqrt(2.0 / (fan_in + fan_out)))
    # Linear's default: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in)
    _uniform_checks(init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(fan_in))
    _uniform_checks(init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
                    math.sqrt(2.0) * math.sqrt(3.0 / fan_out))
    _normal_checks(init.kaiming_normal_(t, a=0.1, nonlinearity="leaky_relu"),
                   math.sqrt(2.0 / (1 + 0.01)) / math.sqrt(fan_in))


def test_conv_weight_fans_are_used():
    t = clnet.empty(64, 16, 5, 5)   # fan_in 400, fan_out 1600
    _normal_checks(init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
                   math.sqrt(2.0 / 1600))


def test_uniform_normal_constant():
    t = clnet.empty(N)
    x = init.uniform_(t, -3.0, 5.0).numpy()
    assert x.min() >= -3.0 and x.max() < 5.0 and abs(x.mean() - 1.0) < 0.05
    _normal_checks(init.normal_(t, 2.0, 0.5), 0.5, mean=2.0)
    assert_close(init.constant_(clnet.empty(2, 3), 1.5), np.full((2, 3), 1.5, np.float32))
    assert_close(init.ones_(clnet.empty(4)), np.ones(4, np.float32))
    assert_close(init.zeros_(clnet.ones(4, dtype=clnet.float64)), np.zeros(4))


def _std_normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, 0.0, 3.0),
                                          (0.0, 0.02, -0.04, 0.04)])
def test_trunc_normal_distribution(mean, std, a, b):
    t = init.trunc_normal_(clnet.empty(N), mean, std, a, b)
    x = np.sort(t.numpy().astype(np.float64))
    assert x.min() >= a and x.max() <= b
    alpha, beta = (a - mean) / std, (b - mean) / std
    lo, hi = _std_normal_cdf(np.array([alpha, beta]))
    # Kolmogorov-Smirnov against the truncated normal's CDF (critical value at 0.1%: 1.95/sqrt n)
    expected_cdf = (_std_normal_cdf((x - mean) / std) - lo) / (hi - lo)
    empirical = np.arange(1, N + 1) / N
    assert np.max(np.abs(expected_cdf - empirical)) < 1.95 / math.sqrt(N)
    # and the analytic mean of the truncated normal
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    want_mean = mean + std * (phi(alpha) - phi(beta)) / (hi - lo)
    assert abs(x.mean() - want_mean) < 0.02 * std


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (12, 3, 2, 2), (7, 7)])
def test_orthogonal(shape):
    t = init.orthogonal_(clnet.empty(*shape), gain=2.0)
    q = t.numpy().reshape(shape[0], -1).astype(np.float64) / 2.0
    rows, cols = q.shape
    gram = q.T @ q if rows >= cols else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(clnet.empty(4))
    assert init.orthogonal_(clnet.empty(0, 3)).shape == (0, 3)


def test_eye_and_dirac_match_torch():
    for shape in [(3, 5), (4, 2), (3, 3)]:
        assert_close(init.eye_(clnet.ones(*shape)), torch.nn.init.eye_(torch.ones(*shape)))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(clnet.empty(2, 2, 2))
    for shape, groups in [((4, 3, 3), 1), ((6, 2, 3, 3), 2), ((4, 4, 3, 2, 3), 1),
                          ((2, 5, 1, 1), 1)]:
        assert_close(init.dirac_(clnet.ones(*shape), groups),
                     torch.nn.init.dirac_(torch.ones(*shape), groups))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(clnet.empty(3, 3, 3), groups=2)


def test_generator_reproducible():
    def draw(seed):
        g = clnet.Generator().manual_seed(seed)
        return init.kaiming_uniform_(clnet.empty(50, 20), generator=g).numpy()
    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    g1 = clnet.Generator().manual_seed(9)
    g2 = clnet.Generator().manual_seed(9)
    np.testing.assert_array_equal(init.orthogonal_(clnet.empty(6, 4), generator=g1).numpy(),
                                  init.orthogonal_(clnet.empty(6, 4), generator=g2).numpy())
    np.testing.assert_array_equal(init.trunc_normal_(clnet.empty(99), generator=g1).numpy(),
                                  init.trunc_normal_(clnet.empty(99), generator=g2).numpy())


def test_init_on_parameters_stays_a_leaf():
    p = clnet.nn.Parameter(clnet.empty(8, 4))
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.trunc_normal_, init.orthogonal_,
               init.zeros_, init.eye_):
        assert fn(p) is p
        assert p.requires_grad and p.grad_fn is None and p.is_leaf


def test_zero_element_kaiming_warns_like_torch():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = init.kaiming_uniform_(clnet.empty(0, 3))
    assert t.shape == (0, 3) and "no-op" in str(w[0].message)
