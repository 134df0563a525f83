"""clnet.distributions against torch.distributions: values and gradients of log_prob, entropy,
mean, variance, cdf and KL for the same parameters; sampling statistics over 20k draws;
validation errors (torch's messages); reproducibility under clnet.manual_seed.

Tolerances: float32 values within rtol 1e-5 / atol 1e-6 of torch (2e-5 for sums over a
category dim); sampling frequencies within 5 standard errors (a false failure about 1 run in
a million)."""
import math

import numpy as np
import pytest
import torch

import clnet
import clnet.distributions as D
import torch.distributions as TD

RTOL, ATOL = 1e-5, 1e-6


def pair(a, requires_grad=True):
    """The same float32 values as a clnet and a torch leaf."""
    a = np.asarray(a, dtype=np.float32)
    return (clnet.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def close(c, t, rtol=RTOL, atol=ATOL):
    assert tuple(c.shape) == tuple(t.shape), (tuple(c.shape), tuple(t.shape))
    np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def grads_match(c_out, t_out, c_leaves, t_leaves, rng, rtol=1e-5, atol=1e-6):
    """Backward the same random weighting of both outputs; compare every leaf's gradient."""
    w = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (c_out * clnet.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for c, t in zip(c_leaves, t_leaves):
        assert c.grad is not None
        close(c.grad, t.grad, rtol, atol)


def probs_array(rng, shape):
    p = rng.uniform(0.05, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


# ---------------------------------------------------------------- Categorical
@pytest.mark.parametrize("shape", [(3,), (2, 4)])
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_categorical_log_prob_entropy_values_and_gradients(shape, param, rng):
    raw = probs_array(rng, shape) * 3.0 if param == "probs" else rng.standard_normal(shape)
    cp, tp = pair(raw)
    cd, td = D.Categorical(**{param: cp}), TD.Categorical(**{param: tp})
    assert cd.batch_shape == td.batch_shape and cd.event_shape == td.event_shape
    assert cd.param_shape == td.param_shape
    # values broadcast against the batch: a leading sample dim of 5
    v = rng.integers(0, shape[-1], size=(5,) + shape[:-1])
    close(cd.log_prob(clnet.tensor(v)), td.log_prob(torch.tensor(v)))
    close(cd.entropy(), td.entropy(), 2e-5)
    close(cd.probs, td.probs)
    close(cd.logits, td.logits)
    close(cd.perplexity(), td.perplexity(), 2e-5)
    assert cd.mode.tolist() == td.mode.tolist()
    assert tuple(cd.mean.shape) == tuple(td.mean.shape) and np.isnan(cd.mean.numpy()).all()
    assert np.isnan(cd.variance.numpy()).all()
    out_c = cd.log_prob(clnet.tensor(v)).sum(0) + cd.entropy()
    out_t = td.log_prob(torch.tensor(v)).sum(0) + td.entropy()
    grads_match(out_c, out_t, [cp], [tp], rng, 2e-5, 2e-6)


def test_categorical_from_softmax_output_gives_the_policy_gradient(rng):
    # REINFORCE's path: probs = softmax(scores), loss = -log_prob(action) * R, to the scores
    s = rng.standard_normal((1, 2))
    cs, ts = pair(s)
    cd = D.Categorical(clnet.nn.functional.softmax(cs * 2.0, dim=1))
    td = TD.Categorical(torch.nn.functional.softmax(ts * 2.0, dim=1))
    a = np.array([1])
    (-cd.log_prob(clnet.tensor(a)) * 0.7).sum().backward()
    (-td.log_prob(torch.tensor(a)) * 0.7).sum().backward()
    close(cs.grad, ts.grad)


def test_categorical_zero_probability_entropy_and_noncontiguous_probs(rng):
    p = np.array([[0.0, 0.5], [0.25, 0.0], [0.5, 0.75]], dtype=np.float32)  # columns: rows
    cp, tp = pair(p)
    cd, td = D.Categorical(probs=cp.t()), TD.Categorical(probs=tp.t())   # a transposed view
    close(cd.entropy(), td.entropy())
    v = np.array([2, 1])
    close(cd.log_prob(clnet.tensor(v)), td.log_prob(torch.tensor(v)))
    grads_match(cd.entropy() + cd.log_prob(clnet.tensor(v)),
                td.entropy() + td.log_prob(torch.tensor(v)), [cp], [tp], rng)


def test_categorical_enumerate_support_and_expand(rng):
    cp, tp = pair(probs_array(rng, (3,)), requires_grad=False)
    cd, td = D.Categorical(cp), TD.Categorical(tp)
    ce, te = cd.expand((2, 4)), td.expand((2, 4))
    assert ce.batch_shape == te.batch_shape == (2, 4)
    v = rng.integers(0, 3, size=(2, 4))
    close(ce.log_prob(clnet.tensor(v)), te.log_prob(torch.tensor(v)))
    assert ce.enumerate_support().tolist() == te.enumerate_support().tolist()
    assert ce.enumerate_support(False).tolist() == te.enumerate_support(False).tolist()
    assert tuple(ce.sample((5,)).shape) == (5, 2, 4)


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_categorical_sample_shapes_and_frequencies(shape, rng):
    p = probs_array(rng, shape)
    d = D.Categorical(clnet.tensor(p, dtype=clnet.float32))
    assert tuple(d.sample().shape) == shape[:-1]
    assert tuple(d.sample((2, 3)).shape) == (2, 3) + shape[:-1]
    n = 20000
    s = d.sample((n,)).numpy()
    assert s.dtype == np.int64 and s.shape == (n,) + shape[:-1]
    s = s.reshape(n, -1)
    for b, row in enumerate(p.reshape(-1, shape[-1])):
        freq = np.bincount(s[:, b], minlength=shape[-1]) / n
        se = np.sqrt(row * (1 - row) / n)
        assert np.all(np.abs(freq - row) < 5 * se), (freq, row)


# ---------------------------------------------------------------- OneHotCategorical
def test_one_hot_categorical_against_torch(rng):
    cl, tl = pair(rng.standard_normal((2, 4)))
    cd, td = D.OneHotCategorical(logits=cl), TD.OneHotCategorical(logits=tl)
    assert cd.batch_shape == td.batch_shape and cd.event_shape == td.event_shape == (4,)
    v = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(3, 2))]
    close(cd.log_prob(clnet.tensor(v)), td.log_prob(torch.tensor(v)))
    close(cd.mean, td.mean)
    close(cd.variance, td.variance)
    close(cd.entropy(), td.entropy(), 2e-5)
    assert cd.mode.tolist() == td.mode.tolist()
    assert cd.enumerate_support().tolist() == td.enumerate_support().tolist()
    s = cd.sample((1000,))
    assert tuple(s.shape) == (1000, 2, 4) and s.dtype is clnet.float32
    assert np.all(s.numpy().sum(-1) == 1)
    grads_match(cd.log_prob(clnet.tensor(v)).sum(0) + cd.entropy(),
                td.log_prob(torch.tensor(v)).sum(0) + td.entropy(), [cl], [tl], rng, 2e-5)


def test_one_hot_straight_through_rsample_gradient_is_that_of_probs(rng):
    cl, tl = pair(rng.standard_normal((3,)))
    d = D.OneHotCategoricalStraightThrough(logits=cl)
    w = rng.standard_normal(3).astype(np.float32)
    (d.rsample() * clnet.tensor(w)).sum().backward()
    (torch.softmax(tl, -1) * torch.tensor(w)).sum().backward()
    close(cl.grad, tl.grad)


# ---------------------------------------------------------------- Bernoulli
@pytest.mark.parametrize("shape,param", [((3,), "probs"), ((2, 4), "logits"),
                                         ((2, 4), "probs")])
def test_bernoulli_values_and_gradients(shape, param, rng):
    raw = rng.uniform(0.05, 0.95, shape) if param == "probs" else 2 * rng.standard_normal(shape)
    cp, tp = pair(raw)
    cd, td = D.Bernoulli(**{param: cp}), TD.Bernoulli(**{param: tp})
    assert cd.batch_shape == td.batch_shape
    v = rng.integers(0, 2, size=(5,) + shape).astype(np.float32)
    close(cd.log_prob(clnet.tensor(v)), td.log_prob(torch.tensor(v)))
    close(cd.entropy(), td.entropy())
    close(cd.mean, td.mean)
    close(cd.variance, td.variance)
    close(cd.stddev, td.stddev)
    close(cd.probs, td.probs)
    close(cd.logits, td.logits, 1e-5, 1e-5)
    out_c = cd.log_prob(clnet.tensor(v)).sum(0) + cd.entropy() + cd.variance
    out_t = td.log_prob(torch.tensor(v)).sum(0) + td.entropy() + td.variance
    grads_match(out_c, out_t, [cp], [tp], rng, 2e-5, 2e-6)


def test_bernoulli_number_parameter_mode_support_and_frequencies():
    d, t = D.Bernoulli(0.3), TD.Bernoulli(0.3)
    assert d.batch_shape == t.batch_shape == ()
    close(D.Bernoulli(clnet.tensor([0.2, 0.5, 0.9])).mode,
          TD.Bernoulli(torch.tensor([0.2, 0.5, 0.9])).mode)
    assert d.enumerate_support().tolist() == t.enumerate_support().tolist()
    p = np.array([0.1, 0.5, 0.85], dtype=np.float32)
    n = 20000
    s = D.Bernoulli(clnet.tensor(p)).sample((n,))
    assert tuple(s.shape) == (n, 3) and s.dtype is clnet.float32 and not s.requires_grad
    freq = s.numpy().mean(0)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n)), freq


# ---------------------------------------------------------------- Normal
def test_normal_broadcast_values_and_gradients(rng):
    cl, tl = pair(rng.standard_normal((2, 4)))
    cs, ts = pair(rng.uniform(0.5, 2.0, (4,)))      # broadcast against loc
    cd, td = D.Normal(cl, cs), TD.Normal(tl, ts)
    assert cd.batch_shape == td.batch_shape == (2, 4)
    v = rng.standard_normal((3, 2, 4)).astype(np.float32)
    cv, tv = clnet.tensor(v), torch.tensor(v)
    close(cd.log_prob(cv), td.log_prob(tv))
    close(cd.entropy(), td.entropy())
    close(cd.cdf(cv), td.cdf(tv))
    close(cd.mean, td.mean)
    close(cd.variance, td.variance)
    close(cd.stddev, td.stddev)
    out_c = cd.log_prob(cv).sum(0) + cd.entropy() + cd.cdf(cv).sum(0) + cd.variance
    out_t = td.log_prob(tv).sum(0) + td.entropy() + td.cdf(tv).sum(0) + td.variance
    grads_match(out_c, out_t, [cl, cs], [tl, ts], rng, 2e-5, 2e-6)


def test_normal_number_parameters_and_expand():
    d, t = D.Normal(0.5, 2.0), TD.Normal(0.5, 2.0)
    assert d.batch_shape == t.batch_shape == ()
    close(d.log_prob(clnet.tensor([0.0, 1.0])), t.log_prob(torch.tensor([0.0, 1.0])))
    e, te = D.Normal(clnet.tensor([0.0, 1.0, 2.0]), 1.0).expand((2, 3)), \
        TD.Normal(torch.tensor([0.0, 1.0, 2.0]), 1.0).expand((2, 3))
    assert e.batch_shape == te.batch_shape == (2, 3)
    close(e.log_prob(clnet.zeros(2, 3)), te.log_prob(torch.zeros(2, 3)))


def test_normal_rsample_is_differentiable_through_loc_and_scale(rng):
    loc = clnet.tensor([0.5, -1.0, 2.0], requires_grad=True)
    scale = clnet.tensor([1.0, 0.5, 3.0], requires_grad=True)
    d = D.Normal(loc, scale)
    x = d.rsample((7,))
    assert tuple(x.shape) == (7, 3) and x.requires_grad
    x.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [7.0, 7.0, 7.0])
    # d(loc + eps * scale)/dscale = eps = (x - loc) / scale, summed over the samples
    eps = (x.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-5, atol=1e-5)
    assert not d.sample((2,)).requires_grad


@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_normal_sampling_statistics(method):
    loc, scale = np.array([0.5, -2.0], np.float32), np.array([1.0, 3.0], np.float32)
    n = 20000
    s = getattr(D.Normal(clnet.tensor(loc), clnet.tensor(scale)), method)((n,)).numpy()
    assert s.shape == (n, 2)
    assert np.all(np.abs(s.mean(0) - loc) < 5 * scale / np.sqrt(n))
    # the standard error of a sample std is about scale / sqrt(2n)
    assert np.all(np.abs(s.std(0) - scale) < 5 * scale / np.sqrt(2 * n))


# ---------------------------------------------------------------- Uniform
def test_uniform_values_and_gradients(rng):
    cl, tl = pair(rng.uniform(-1, 0, (3,)))
    ch, th = pair(rng.uniform(0.5, 2, (3,)))
    cd, td = D.Uniform(cl, ch), TD.Uniform(tl, th)
    lo, hi = cl.detach().numpy(), ch.detach().numpy()
    v = (lo + rng.uniform(0.01, 0.99, (4, 3)) * (hi - lo)).astype(np.float32)  # inside
    cv, tv = clnet.tensor(v), torch.tensor(v)
    close(cd.log_prob(cv), td.log_prob(tv))
    close(cd.cdf(cv), td.cdf(tv))
    q = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    close(cd.icdf(clnet.tensor(q)), td.icdf(torch.tensor(q)))
    close(cd.entropy(), td.entropy())
    close(cd.mean, td.mean)
    close(cd.variance, td.variance)
    close(cd.stddev, td.stddev)
    out_c = (cd.log_prob(cv).sum(0) + cd.cdf(cv).sum(0) + cd.icdf(clnet.tensor(q)).sum(0)
             + cd.entropy() + cd.mean + cd.variance)
    out_t = (td.log_prob(tv).sum(0) + td.cdf(tv).sum(0) + td.icdf(torch.tensor(q)).sum(0)
             + td.entropy() + td.mean + td.variance)
    grads_match(out_c, out_t, [cl, ch], [tl, th], rng)


def test_uniform_outside_support_without_validation_is_minus_inf():
    d = D.Uniform(clnet.tensor([0.0, 0.0]), 1.0, validate_args=False)
    t = TD.Uniform(torch.tensor([0.0, 0.0]), 1.0, validate_args=False)
    close(d.log_prob(clnet.tensor([1.5, -0.5])), t.log_prob(torch.tensor([1.5, -0.5])))
    assert np.all(np.isneginf(d.log_prob(clnet.tensor([1.5, -0.5])).numpy()))


def test_uniform_sampling_statistics_and_rsample_gradient():
    low = clnet.tensor([0.0, -3.0], requires_grad=True)
    high = clnet.tensor([1.0, 5.0], requires_grad=True)
    n = 20000
    s = D.Uniform(low, high).rsample((n,))
    assert tuple(s.shape) == (n, 2)
    x = s.detach().numpy()
    lo, hi = np.array([0.0, -3.0]), np.array([1.0, 5.0])
    assert np.all(x >= lo) and np.all(x < hi)
    assert np.all(np.abs(x.mean(0) - (lo + hi) / 2) < 5 * (hi - lo) / np.sqrt(12 * n))
    s.sum().backward()
    u = (x - lo) / (hi - lo)
    np.testing.assert_allclose(high.grad.numpy(), u.sum(0), rtol=1e-4)
    np.testing.assert_allclose(low.grad.numpy(), (1 - u).sum(0), rtol=1e-4)


# ---------------------------------------------------------------- KL
def test_kl_categorical_and_normal_values_and_gradients(rng):
    cp, tp = pair(probs_array(rng, (2, 4)))
    cq, tq = pair(rng.standard_normal((4,)))          # broadcast against p's batch
    kc = D.kl_divergence(D.Categorical(cp), D.Categorical(logits=cq))
    kt = TD.kl_divergence(TD.Categorical(tp), TD.Categorical(logits=tq))
    close(kc, kt, 2e-5, 2e-6)
    grads_match(kc, kt, [cp, cq], [tp, tq], rng, 2e-5, 2e-6)
    ml, tml = pair(rng.standard_normal((2, 3)))
    ms, tms = pair(rng.uniform(0.5, 2, (3,)))
    kc = D.kl.kl_divergence(D.Normal(ml, ms), D.Normal(0.3, 1.5))    # the .kl path too
    kt = TD.kl.kl_divergence(TD.Normal(tml, tms), TD.Normal(0.3, 1.5))
    close(kc, kt)
    grads_match(kc, kt, [ml, ms], [tml, tms], rng)


def test_kl_bernoulli_onehot_uniform_including_infinite_cases():
    p = [0.0, 0.3, 1.0, 0.6]
    q = [0.5, 0.0, 0.2, 1.0]
    close(D.kl_divergence(D.Bernoulli(clnet.tensor(p)), D.Bernoulli(clnet.tensor(q))),
          TD.kl_divergence(TD.Bernoulli(torch.tensor(p)), TD.Bernoulli(torch.tensor(q))))
    a, b = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], [[0.25, 0.25, 0.5], [0.0, 0.5, 0.5]]
    close(D.kl_divergence(D.OneHotCategorical(clnet.tensor(a)),
                          D.OneHotCategorical(clnet.tensor(b))),
          TD.kl_divergence(TD.OneHotCategorical(torch.tensor(a)),
                           TD.OneHotCategorical(torch.tensor(b))))
    lo, hi = [0.0, -1.0], [1.0, 2.0]
    close(D.kl_divergence(D.Uniform(clnet.tensor(lo), clnet.tensor(hi)), D.Uniform(-0.5, 1.5)),
          TD.kl_divergence(TD.Uniform(torch.tensor(lo), torch.tensor(hi)),
                           TD.Uniform(-0.5, 1.5)))


def test_kl_unregistered_pair_and_register_kl():
    with pytest.raises(NotImplementedError, match="p type Normal and q type Uniform"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Uniform(0.0, 1.0))

    class MyNormal(D.Normal):
        pass

    # a subclass pair falls back to the Normal-Normal function, until one is registered
    close(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)), clnet.tensor(0.5))
    D.register_kl(MyNormal, D.Normal)(lambda p, q: clnet.tensor(-1.0))
    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)).item() == -1.0
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)


# ---------------------------------------------------------------- validation
def _same_error(make_c, make_t):
    with pytest.raises(ValueError) as ec:
        make_c()
    with pytest.raises(ValueError) as et:
        make_t()
    assert str(ec.value) == str(et.value).replace("torch.Size", "clnet.Size")
    return str(ec.value)


@pytest.mark.parametrize("case", [
    ("Categorical", dict(probs=[-0.5, 1.5]), "probs", "Simplex()"),
    ("Categorical", dict(logits=[0.0, math.nan]), "logits", "IndependentConstraint(Real(), 1)"),
    ("Bernoulli", dict(probs=[0.5, 1.5]), "probs", "Interval(lower_bound=0.0, upper_bound=1.0)"),
    ("Bernoulli", dict(logits=[math.nan]), "logits", "Real()"),
    ("Normal", dict(loc=[0.0, 1.0], scale=[1.0, 0.0]), "scale", "GreaterThan(lower_bound=0.0)"),
    ("Normal", dict(loc=[math.nan], scale=[1.0]), "loc", "Real()"),
    ("Uniform", dict(low=[0.0, 2.0], high=[1.0, 2.0]), "low", "LessThan(upper_bound="),
    ("OneHotCategorical", dict(probs=[[0.5, -0.25]]), "probs", "Simplex()"),
])
def test_invalid_parameters_raise_torch_s_value_error(case):
    name, kwargs, param, constraint = case
    msg = _same_error(lambda: getattr(D, name)(**{k: clnet.tensor(v) for k, v in kwargs.items()}),
                      lambda: getattr(TD, name)(**{k: torch.tensor(v) for k, v in kwargs.items()}))
    assert f"Expected parameter {param} " in msg and constraint in msg
    # validate_args=False builds it anyway (except OneHotCategorical, whose inner Categorical
    # validates by default: torch's behaviour too)
    if name == "OneHotCategorical":
        _same_error(lambda: D.OneHotCategorical(clnet.tensor(kwargs["probs"]),
                                                validate_args=False),
                    lambda: TD.OneHotCategorical(torch.tensor(kwargs["probs"]),
                                                 validate_args=False))
    else:
        getattr(D, name)(**{k: clnet.tensor(v) for k, v in kwargs.items()}, validate_args=False)


@pytest.mark.parametrize("case", [
    ("Categorical", dict(probs=[0.5, 0.5]), [2]),                  # outside the support
    ("Categorical", dict(probs=[[0.5, 0.5]] * 3), [0, 1]),         # not broadcastable
    ("Bernoulli", dict(probs=[0.5]), [0.5]),                        # not 0/1
    ("OneHotCategorical", dict(probs=[0.5, 0.5]), [1.0]),           # wrong event shape
    ("OneHotCategorical", dict(probs=[0.5, 0.5]), [1.0, 1.0]),      # not one-hot
    ("Uniform", dict(low=[0.0], high=[1.0]), [1.5]),                 # outside [low, high]
])
def test_invalid_log_prob_values_raise_torch_s_value_error(case):
    name, kwargs, value = case
    cd = getattr(D, name)(**{k: clnet.tensor(v) for k, v in kwargs.items()})
    td = getattr(TD, name)(**{k: torch.tensor(v) for k, v in kwargs.items()})
    _same_error(lambda: cd.log_prob(clnet.tensor(value)), lambda: td.log_prob(torch.tensor(value)))


def test_argument_errors():
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        D.Categorical()
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        D.Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match="`probs` parameter must be at least one-dimensional"):
        D.Categorical(clnet.tensor(1.0))
    with pytest.raises(ValueError, match="must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(0.5)
    with pytest.raises(ValueError, match="Number, torch.Tensor"):
        D.Normal("0", 1.0)


def test_default_validation_switch():
    before = D.Distribution._validate_args
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(0.0, -1.0)     # not checked
        D.Distribution.set_default_validate_args(True)
    finally:
        D.Distribution.set_default_validate_args(before)
    with pytest.raises(ValueError, match="scale"):
        D.Normal(0.0, -1.0)


# ---------------------------------------------------------------- randomness
@pytest.mark.parametrize("make", [
    lambda: D.Categorical(logits=clnet.tensor([[0.1, 0.5, -0.2], [1.0, 0.0, 0.0]])),
    lambda: D.Bernoulli(clnet.tensor([0.3, 0.7])),
    lambda: D.Normal(clnet.zeros(3), 2.0),
    lambda: D.Uniform(-1.0, clnet.ones(2)),
    lambda: D.OneHotCategorical(clnet.tensor([0.2, 0.8])),
])
def test_manual_seed_reproduces_samples(make):
    d = make()
    clnet.manual_seed(1234)
    a, b = d.sample((64,)).numpy(), d.sample((64,)).numpy()
    clnet.manual_seed(1234)
    assert np.array_equal(d.sample((64,)).numpy(), a)
    assert np.array_equal(d.sample((64,)).numpy(), b)
    assert not np.array_equal(a, b)   # the stream moves on between calls


def test_torch_names_under_import_clnet_as_torch():
    assert clnet.distributions is D
    from clnet.distributions import Categorical, kl_divergence
    from clnet.distributions.kl import kl_divergence as kl2
    assert kl_divergence is kl2 and Categorical is D.categorical.Categorical
    assert D.constraints.positive.check(clnet.tensor([1.0, -1.0])).tolist() == [True, False]


def test_normal_icdf_inverts_cdf_like_torch():
    p = np.array([1e-4, 0.025, 0.3, 0.5, 0.8, 0.999], np.float32)
    loc, scale = np.array(0.7, np.float32), np.array(2.5, np.float32)
    got = clnet.distributions.Normal(clnet.tensor(loc), clnet.tensor(scale)).icdf(clnet.tensor(p))
    want = torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale)).icdf(
        torch.tensor(p))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
