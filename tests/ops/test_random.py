"""Random numbers: the Philox4x32-10 stream bit for bit, the value mappings, reproducibility,
statistics, in-place fills of views, and the errors.

Oracles: a pure-Python Philox4x32-10 written here (checked against Random123's known-answer
vectors), numpy formulas for the word -> value mappings, and sample statistics. Statistical checks
use fixed seeds (so they are deterministic) and bounds that a correct generator would break with
probability ~1e-5 or less: means within 5 standard errors, Kolmogorov-Smirnov D below
2.47/sqrt(n) (P ~ 2 exp(-2 * 2.47^2) ~ 1e-5), chi-square below the 1 - 1e-5 quantile from the
Wilson-Hilferty approximation. Everything is numpy-only (normal CDF from Abramowitz-Stegun
7.1.26, error < 1.5e-7, far below the KS bound).
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import clnet
from helpers import EDGE_SIZES, shapes

M32 = 0xFFFFFFFF
N_STATS = 1 << 20
Z5 = 5.0                 # standard errors allowed for means / rates
Z_1E5 = 4.265            # upper 1e-5 normal quantile, for chi-square bounds


# ------------------------------------------------------------------ reference Philox4x32-10
def philox_ref(counter, key):
    """Philox4x32-10 on Python ints, straight from the Random123 definition."""
    c, k = list(counter), list(key)
    for r in range(10):
        if r:
            k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
    return c


def ref_words(seed, offset, counters):
    """(counters, 4) uint64 array of the words clnet's kernels use: counter number j is
    (lo32(offset+j), hi32(offset+j), 0, 0), the key is (lo32(seed), hi32(seed))."""
    key = (seed & M32, seed >> 32)
    out = []
    for j in range(counters):
        c = (offset + j) & ((1 << 64) - 1)
        out.append(philox_ref((c & M32, c >> 32, 0, 0), key))
    return np.array(out, dtype=np.uint64).reshape(counters, 4)


def gen(seed, offset=0):
    return clnet.Generator().manual_seed(seed).set_offset(offset)


def device_words(seed, offset, counters):
    """Raw words from the device: randint over every int64 returns lo + x with lo = -2^63, i.e.
    x = (w0 << 32 | w1) with its top bit flipped."""
    t = clnet.randint(-2 ** 63, 2 ** 63, (2 * counters,), generator=gen(seed, offset))
    x = t.numpy().view(np.uint64) ^ np.uint64(1 << 63)
    return np.stack([x >> np.uint64(32), x & np.uint64(M32)], axis=1).reshape(counters, 4)


def test_reference_matches_random123_known_answers():
    assert philox_ref((0, 0, 0, 0), (0, 0)) == [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    assert philox_ref((M32,) * 4, (M32, M32)) == [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    assert philox_ref((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0)) \
        == [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]


def test_device_known_answer_key0_counter0():
    assert device_words(0, 0, 1)[0].tolist() == [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]


@pytest.mark.parametrize("seed,offset,counters", [
    (0, 0, 5), (M32 | (M32 << 32), 0, 3), (0x0123456789ABCDEF, 12345, 9),
    (42, M32 - 2, 6),                   # counters cross 2^32: the high word carries
    (7, (1 << 64) - 2, 4),              # and wrap at 2^64
])
def test_device_words_bitwise_equal_reference(seed, offset, counters):
    np.testing.assert_array_equal(device_words(seed, offset, counters),
                                  ref_words(seed, offset, counters))


def test_host_philox_of_randperm_matches_reference():
    from clnet.ops.generator import philox4x32_10_host
    got = philox4x32_10_host(0xDEADBEEF12345678, np.arange(M32 - 3, M32 + 5, dtype=np.uint64))
    np.testing.assert_array_equal(got, ref_words(0xDEADBEEF12345678, M32 - 3, 8))


# ------------------------------------------------------------------ word -> value mappings
def test_rand_float32_is_top_24_bits_of_each_word():
    w = ref_words(99, 0, 5).reshape(-1)[:19]
    expected = (w >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    got = clnet.rand(19, generator=gen(99)).numpy()
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_rand_float64_uses_53_bits_from_two_words(dev):
    if not dev.has_fp64:
        pytest.skip("device has no cl_khr_fp64")
    w = ref_words(5, 10, 6).reshape(-1, 2)[:11]
    x = (w[:, 0] << np.uint64(32)) | w[:, 1]
    expected = (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    got = clnet.rand(11, dtype=clnet.float64, generator=gen(5, 10)).numpy()
    np.testing.assert_array_equal(got, expected)


def test_randn_float32_is_box_muller_of_word_pairs():
    w = ref_words(3, 0, 4).reshape(-1, 2)
    u1 = ((w[:, 0] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * 2.0 ** -24
    u2 = (w[:, 1] >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    r, th = np.sqrt(-2 * np.log(u1)), 2 * np.pi * u2
    expected = np.stack([r * np.cos(th), r * np.sin(th)], axis=1).reshape(-1)[:15]
    got = clnet.randn(15, generator=gen(3)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-6)   # OpenCL log/sin/cos ULPs


def test_randint_is_low_plus_64bit_word_mod_range():
    w = ref_words(11, 4, 4).reshape(-1, 2)[:7]
    x = [(int(a) << 32) | int(b) for a, b in w]
    expected = [-3 + v % 10 for v in x]
    assert clnet.randint(-3, 7, (7,), generator=gen(11, 4)).tolist() == expected


def test_bernoulli_and_dropout_compare_24_bit_uniforms():
    w = ref_words(8, 0, 3).reshape(-1)[:10]
    u = (w >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    got = clnet.zeros(10).bernoulli_(0.3, generator=gen(8)).numpy()
    np.testing.assert_array_equal(got, (u < np.float32(0.3)).astype(np.float32))
    u64 = (ref_words(8, 0, 16).reshape(-1) >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    probs = np.random.default_rng(0).uniform(0.2, 0.8, size=64).astype(np.float32)
    got = clnet.bernoulli(clnet.tensor(probs), generator=gen(8)).numpy()
    np.testing.assert_array_equal(got, (u64 < probs).astype(np.float32))
    mask = clnet.dropout_mask((2, 5), 0.25, generator=gen(8)).numpy().reshape(-1)
    np.testing.assert_array_equal(mask, np.where(u >= 0.25, np.float32(1 / 0.75), 0))


# ------------------------------------------------------------------ reproducibility, state
def test_manual_seed_reproduces_and_seeds_differ():
    clnet.manual_seed(1234)
    a, b = clnet.rand(100).numpy(), clnet.randn(7, 3).numpy()
    clnet.manual_seed(1234)
    np.testing.assert_array_equal(clnet.rand(100).numpy(), a)
    np.testing.assert_array_equal(clnet.randn(7, 3).numpy(), b)
    clnet.manual_seed(1235)
    assert not np.array_equal(clnet.rand(100).numpy(), a)


def test_consecutive_calls_continue_the_stream():
    g = gen(77)
    parts = [clnet.rand(8, generator=g).numpy(), clnet.rand(12, generator=g).numpy()]
    assert g.get_offset() == 5                   # 4 float32 values per counter
    whole = clnet.rand(20, generator=gen(77)).numpy()
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    g = gen(77)
    a, b = clnet.rand(1000, generator=g).numpy(), clnet.rand(1000, generator=g).numpy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("n", EDGE_SIZES + [1009])
def test_edge_sizes_prefix_of_longer_stream_and_offset(dev, n):
    g = gen(5)
    t = clnet.rand(n, generator=g)
    assert t.shape == (n,) and g.get_offset() == -(-n // 4)
    np.testing.assert_array_equal(t.numpy(), clnet.rand(1200, generator=gen(5)).numpy()[:n])
    np.testing.assert_array_equal(clnet.randn(n, generator=gen(4)).numpy(),
                                  clnet.randn(1200, generator=gen(4)).numpy()[:n])
    if dev.has_fp64:
        g = gen(3)
        t = clnet.randn(n, dtype=clnet.float64, generator=g)
        assert g.get_offset() == -(-n // 2)
        np.testing.assert_array_equal(
            t.numpy(), clnet.randn(1200, dtype=clnet.float64, generator=gen(3)).numpy()[:n])
    r = clnet.randint(-5, 5, (n,), generator=gen(6)).numpy()
    assert r.dtype == np.int64 and (r.size == 0 or (r.min() >= -5 and r.max() < 5))


def test_generator_state_round_trip_and_independence():
    g = clnet.Generator()
    assert g.initial_seed() == 67280421310721          # PyTorch's default seed
    g.manual_seed(2 ** 64 - 5)
    clnet.rand(13, generator=g)
    state = g.get_state()
    assert isinstance(state, clnet.Tensor) and state.dtype is clnet.int64 and state.shape == (2,)
    a = clnet.randn(50, generator=g).numpy()
    default_before = clnet.get_rng_state().numpy()
    for st in (state, state.numpy(), state.numpy().view(np.uint8), torch.tensor(state.numpy())):
        g2 = clnet.Generator().manual_seed(1)
        g2.set_state(st)
        assert g2.initial_seed() == 2 ** 64 - 5 and g2.get_offset() == 4
        np.testing.assert_array_equal(clnet.randn(50, generator=g2).numpy(), a)
    # explicit generators leave the default one alone
    np.testing.assert_array_equal(clnet.get_rng_state().numpy(), default_before)


def test_module_level_seed_functions():
    g = clnet.manual_seed(-1)
    assert isinstance(g, clnet.Generator) and clnet.initial_seed() == 2 ** 64 - 1
    clnet.rand(9)
    saved = clnet.get_rng_state()
    x = clnet.rand(5).numpy()
    clnet.set_rng_state(saved)
    np.testing.assert_array_equal(clnet.rand(5).numpy(), x)
    with clnet.random.fork_rng():
        clnet.manual_seed(0)
        clnet.randn(100)
    np.testing.assert_array_equal(clnet.get_rng_state().numpy(), saved.numpy() + [0, 2])
    s1, s2 = clnet.seed(), clnet.seed()
    assert s1 != s2 and clnet.initial_seed() == s2 and 0 <= s2 < 2 ** 64
    assert clnet.random.manual_seed is clnet.manual_seed


def test_seed_and_state_errors():
    with pytest.raises(ValueError, match="seed must be within"):
        clnet.manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="seed must be an int"):
        clnet.manual_seed(1.5)
    with pytest.raises(ValueError, match="set_state"):
        clnet.Generator().set_state(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="clnet.Generator"):
        clnet.rand(3, generator=torch.Generator())


def test_generator_on_other_device_is_refused():
    devs = clnet.devices()
    if len(devs) < 2:
        pytest.skip("needs two OpenCL devices")
    g = clnet.Generator(devs[1])
    with pytest.raises(clnet.DeviceError, match="generator"):
        clnet.zeros(3, device=devs[0]).uniform_(generator=g)


# ------------------------------------------------------------------ statistics
def ks_stat(x, cdf):
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return max((i / n - f).max(), (f - (i - 1) / n).max())


def ks_bound(n):
    return 2.47 / math.sqrt(n)


def normal_cdf(x):
    """Abramowitz-Stegun 7.1.26 for erf (absolute error < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                            + t * 1.061405429))))
    erf = 1 - poly * np.exp(-z * z)
    return 0.5 * (1 + np.sign(x) * erf)


def chi2_bound(df):
    """1 - 1e-5 quantile of chi-square(df), Wilson-Hilferty."""
    return df * (1 - 2 / (9 * df) + Z_1E5 * math.sqrt(2 / (9 * df))) ** 3


def chi2(counts, expected):
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_statistics(dev, dtype):
    if dtype == "float64" and not dev.has_fp64:
        pytest.skip("device has no cl_khr_fp64")
    x = clnet.rand(N_STATS, dtype=getattr(clnet, dtype), generator=gen(2024)).numpy()
    x = x.astype(np.float64)
    n = x.size
    assert x.min() >= 0 and x.max() < 1 and x.min() < 1e-5 and x.max() > 1 - 1e-5
    assert abs(x.mean() - 0.5) < Z5 * math.sqrt(1 / 12 / n)
    assert abs(x.var() - 1 / 12) < Z5 * math.sqrt(1 / 180 / n)
    assert ks_stat(x, lambda v: v) < ks_bound(n)
    counts = np.bincount((x * 256).astype(int), minlength=256)
    assert chi2(counts, n / 256) < chi2_bound(255)
    # neighbours (same counter and across counters) are uncorrelated
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < Z5 / math.sqrt(n)
    assert abs(np.corrcoef(x[0::4], x[3::4])[0, 1]) < Z5 / math.sqrt(n / 4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dev, dtype):
    if dtype == "float64" and not dev.has_fp64:
        pytest.skip("device has no cl_khr_fp64")
    x = clnet.randn(N_STATS, dtype=getattr(clnet, dtype), generator=gen(7)).numpy()
    x = x.astype(np.float64)
    n = x.size
    assert abs(x.mean()) < Z5 / math.sqrt(n)
    assert abs(x.var() - 1) < Z5 * math.sqrt(2 / n)
    assert abs((x ** 3).mean()) < Z5 * math.sqrt(15 / n)            # skewness
    assert abs((x ** 4).mean() - 3) < Z5 * math.sqrt(96 / n)        # kurtosis
    assert 4.5 < np.abs(x).max() < 9                                 # tails exist, finite
    assert ks_stat(x, normal_cdf) < ks_bound(n)
    # the two outputs of one Box-Muller pair are uncorrelated (both are used)
    assert abs(np.corrcoef(x[0::2], x[1::2])[0, 1]) < Z5 / math.sqrt(n / 2)
    assert abs(np.corrcoef(x[0::2] ** 2, x[1::2] ** 2)[0, 1]) < Z5 / math.sqrt(n / 2)


def test_normal_and_uniform_parameters():
    x = clnet.empty(N_STATS // 4).normal_(3.0, 0.5, generator=gen(1)).numpy().astype(np.float64)
    assert abs(x.mean() - 3) < Z5 * 0.5 / math.sqrt(x.size) and abs(x.std() - 0.5) < 2e-3
    u = clnet.empty(N_STATS // 4).uniform_(-2, 6, generator=gen(2)).numpy()
    assert u.min() >= -2 and u.max() < 6 and abs(u.mean() - 2) < Z5 * 8 / math.sqrt(12 * u.size)
    e = clnet.empty(N_STATS // 4).exponential_(2.0, generator=gen(3)).numpy().astype(np.float64)
    assert e.min() >= 0 and abs(e.mean() - 0.5) < Z5 * 0.5 / math.sqrt(e.size)
    assert ks_stat(e, lambda v: 1 - np.exp(-2 * v)) < ks_bound(e.size)


def test_randint_uniform_over_range_with_negative_low():
    x = clnet.randint(-3, 7, (N_STATS,), generator=gen(10)).numpy()
    assert x.min() == -3 and x.max() == 6
    counts = np.bincount(x + 3, minlength=10)
    assert chi2(counts, x.size / 10) < chi2_bound(9)
    big = clnet.randint(-2 ** 62, 2 ** 62, (4096,), generator=gen(11)).numpy()
    assert big.min() >= -2 ** 62 and big.max() < 2 ** 62
    assert (big < 0).mean() == pytest.approx(0.5, abs=Z5 * 0.5 / 64)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_bernoulli_and_dropout_keep_rate(p):
    n = N_STATS // 2
    sd = math.sqrt(p * (1 - p) / n)
    b = clnet.bernoulli(clnet.full((n,), p), generator=gen(20)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - p) <= Z5 * sd
    m = clnet.dropout_mask((n // 64, 64), p, generator=gen(21)).numpy()
    assert m.dtype == np.float32 and m.shape == (n // 64, 64)
    kept = m != 0
    assert abs(kept.mean() - (1 - p)) <= Z5 * sd
    if p < 1:
        np.testing.assert_array_equal(m[kept], np.float32(1 / (1 - p)))
    assert abs(m.mean() - (1 if p < 1 else 0)) <= Z5 * sd / max(1 - p, 1e-9) + 1e-7


def test_bernoulli_with_per_element_probabilities_broadcast(dev):
    p = clnet.tensor([0.0, 0.25, 1.0])
    x = clnet.zeros(40000, 3, dtype=clnet.int32).bernoulli_(p, generator=gen(3)).numpy()
    assert x.dtype == np.int32 and (x[:, 0] == 0).all() and (x[:, 2] == 1).all()
    assert abs(x[:, 1].mean() - 0.25) < Z5 * math.sqrt(0.25 * 0.75 / 40000)
    dt = clnet.float64 if dev.has_fp64 else clnet.float32
    t = clnet.bernoulli(clnet.tensor([[0.5, 0.5]], dtype=dt), 1.0)
    assert t.dtype is dt and t.tolist() == [[1.0, 1.0]]


def test_randperm_is_a_reproducible_uniform_permutation():
    for n in EDGE_SIZES + [1000]:
        p = clnet.randperm(n, generator=gen(n)).numpy()
        assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(n))
        np.testing.assert_array_equal(clnet.randperm(n, generator=gen(n)).numpy(), p)
    assert clnet.randperm(7, dtype=clnet.int32).dtype is clnet.int32
    g = gen(0)
    perms = [tuple(clnet.randperm(3, generator=g).tolist()) for _ in range(1200)]
    counts = np.array([perms.count(q) for q in set(perms)])
    assert len(counts) == 6 and chi2(counts, 200) < chi2_bound(5)


def test_multinomial_with_replacement_follows_the_weights():
    w = clnet.tensor([[1.0, 0.0, 3.0, 4.0], [0.0, 0.0, 0.0, 2.0]])
    x = clnet.multinomial(w, 20000, replacement=True, generator=gen(4)).numpy()
    assert x.shape == (2, 20000) and x.dtype == np.int64
    counts = np.bincount(x[0], minlength=4)
    assert counts[1] == 0
    expected = np.array([1, 3, 4]) / 8 * 20000
    assert chi2(counts[[0, 2, 3]], expected) < chi2_bound(2)
    assert (x[1] == 3).all()
    one = clnet.multinomial(clnet.tensor([0.2, 0.8]), 1)
    assert one.shape == (1,) and one.item() in (0, 1)


def test_multinomial_without_replacement():
    w = clnet.tensor([[5.0, 0.0, 1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    x = clnet.multinomial(w, 5, generator=gen(9)).numpy()
    for row in x:
        assert sorted(row.tolist()) == [0, 1, 2, 3, 4]
    assert sorted(x[0, :3].tolist()) == [0, 2, 3]     # positive weights before zero ones
    firsts = clnet.multinomial(clnet.tensor([[1.0, 3.0]] * 8000), 2, generator=gen(1)).numpy()
    assert abs((firsts[:, 0] == 1).mean() - 0.75) < Z5 * math.sqrt(0.75 * 0.25 / 8000)


def test_multinomial_errors():
    with pytest.raises(ValueError, match="1 or 2 dim"):
        clnet.multinomial(clnet.ones(2, 2, 2), 1)
    with pytest.raises(TypeError, match="floating"):
        clnet.multinomial(clnet.ones(3, dtype=clnet.int64), 1)
    with pytest.raises(ValueError, match="without replacement"):
        clnet.multinomial(clnet.ones(3), 4)
    with pytest.raises(ValueError, match="n_sample <= 0"):
        clnet.multinomial(clnet.ones(3), 0)
    with pytest.raises(ValueError, match="element < 0"):
        clnet.multinomial(clnet.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="element < 0"):
        clnet.multinomial(clnet.tensor([1.0, float("nan")]), 1)
    with pytest.raises(ValueError, match="sum of probabilities"):
        clnet.multinomial(clnet.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)


# ------------------------------------------------------------------ normal() forms
def test_normal_forms_shapes_and_statistics(dev):
    mean = clnet.tensor([[-10.0], [0.0], [10.0]])
    std = clnet.tensor([0.1, 1.0, 5.0] * 10000)
    x = clnet.normal(mean, std, generator=gen(1))
    assert x.shape == (3, 30000) and x.shape == torch.normal(torch.zeros(3, 1),
                                                             torch.ones(30000)).shape
    x = x.numpy().reshape(3, 10000, 3).astype(np.float64)
    for i, m in enumerate([-10, 0, 10]):
        for j, s in enumerate([0.1, 1.0, 5.0]):
            col = x[i, :, j]
            assert abs(col.mean() - m) < Z5 * s / 100 and abs(col.std() / s - 1) < 0.04
    y = clnet.normal(clnet.full((20000,), 2.0), 0.5, generator=gen(2)).numpy()
    assert abs(y.mean() - 2) < Z5 * 0.5 / math.sqrt(20000)
    z = clnet.normal(1.0, clnet.full((4, 5000), 3.0), generator=gen(3)).numpy()
    assert z.shape == (4, 5000) and abs(z.mean() - 1) < Z5 * 3 / math.sqrt(20000)
    w = clnet.normal(2.0, 3.0, size=(7, 3), generator=gen(4))
    assert w.shape == (7, 3) and w.dtype is clnet.float32
    if dev.has_fp64:
        assert clnet.normal(clnet.zeros(3, dtype=clnet.float64), 1.0).dtype is clnet.float64
    with pytest.raises(ValueError, match="std >= 0"):
        clnet.normal(0.0, -1.0, size=(3,))
    with pytest.raises(TypeError, match="floating"):
        clnet.normal(clnet.zeros(3, dtype=clnet.int64), 1.0)
    with pytest.raises(TypeError, match="size is required"):
        clnet.normal(0.0, 1.0)


# ------------------------------------------------------------------ in-place fills of views
# each view as (clnet, numpy) selections of a (9, 11) base
VIEWS = {
    "step": (lambda t: t[1::2, ::3], lambda a: a[1::2, ::3]),
    "transpose": (lambda t: t.t(), lambda a: a.T),
    "offset": (lambda t: t[2:, 1:4], lambda a: a[2:, 1:4]),
    "column": (lambda t: t[:, 5], lambda a: a[:, 5]),
}


@pytest.mark.parametrize("kind", sorted(VIEWS))
@pytest.mark.parametrize("method,args,lo,hi", [
    ("uniform_", (-1.0, 1.0), -1, 1), ("normal_", (0.0, 1.0), -9, 9),
    ("random_", (3, 9), 3, 8), ("bernoulli_", (0.5,), 0, 1), ("exponential_", (1.0,), 0, 40),
])
def test_inplace_on_view_touches_only_the_view(kind, method, args, lo, hi):
    base = clnet.full((9, 11), -7.0)
    view = VIEWS[kind][0](base)
    v0 = base._version
    out = getattr(view, method)(*args, generator=gen(31))
    assert out is view and base._version == v0 + 1
    got = base.numpy()
    mask = np.zeros((9, 11), dtype=bool)
    VIEWS[kind][1](mask)[...] = True
    assert (got[~mask] == -7.0).all()
    inside = got[mask]
    assert inside.min() >= lo and inside.max() <= hi and len(np.unique(inside)) > 1
    # the values depend on the linear index only: same as a contiguous fill from the same state
    fresh = getattr(clnet.empty(*view.shape), method)(*args, generator=gen(31))
    np.testing.assert_array_equal(view.numpy(), fresh.numpy())


def test_inplace_on_integer_and_bool_views():
    base = clnet.zeros(6, 8, dtype=clnet.int32)
    base[:, ::2].random_(-4, 4, generator=gen(1))
    x = base.numpy()
    assert (x[:, 1::2] == 0).all() and x[:, ::2].min() >= -4 and x[:, ::2].max() < 4
    b = clnet.zeros(50, dtype=clnet.bool)
    b[::5].bernoulli_(1.0)
    assert b.numpy().sum() == 10 and b.numpy()[::5].all()


# ------------------------------------------------------------------ random_ / randint forms
def test_random_default_ranges_per_dtype(dev):
    x = clnet.empty(4096, dtype=clnet.int32).random_(generator=gen(1)).numpy()
    assert x.min() >= 0 and x.max() > 2 ** 30
    b = clnet.empty(512, dtype=clnet.bool).random_(generator=gen(2)).numpy()
    assert b.dtype == np.bool_ and 100 < b.sum() < 412
    f = clnet.empty(4096).random_(generator=gen(3)).numpy()
    assert f.min() >= 0 and f.max() <= 2 ** 24 and f.max() > 2 ** 23 and (f == np.round(f)).all()
    big = clnet.empty(4096, dtype=clnet.int64).random_(generator=gen(4)).numpy()
    assert big.min() >= 0 and big.max() > 2 ** 62
    low = clnet.empty(1000, dtype=clnet.int64).random_(5, None, generator=gen(5)).numpy()
    assert low.min() >= 5
    assert set(clnet.empty(1000, dtype=clnet.int64).random_(3).numpy().tolist()) == {0, 1, 2}


def test_randint_overloads_dtypes_and_errors():
    assert clnet.randint(5, (2, 3)).shape == (2, 3) and clnet.randint(5, (2, 3)).dtype is clnet.int64
    for x in (clnet.randint(3, 10, (200,)), clnet.randint(3, high=10, size=(200,)),
              clnet.randint(low=3, high=10, size=(200,)), clnet.randint(3, 10, size=[200])):
        v = x.numpy()
        assert v.min() >= 3 and v.max() < 10
    assert clnet.randint(0, 2, (8,), dtype=clnet.bool).dtype is clnet.bool
    assert clnet.randint(-5, 5, (8,), dtype=clnet.float32).dtype is clnet.float32
    assert clnet.randint(2, ()).shape == ()
    like = clnet.randint_like(clnet.zeros(4, 2, dtype=clnet.int32), 10)
    assert like.dtype is clnet.int32 and like.shape == (4, 2) and like.numpy().max() < 10
    like2 = clnet.randint_like(clnet.zeros(3), -2, 2).numpy()
    assert like2.dtype == np.float32 and like2.min() >= -2 and like2.max() < 2
    with pytest.raises(ValueError, match="from=5 >= to=5"):
        clnet.randint(5, 5, (3,))
    with pytest.raises(ValueError, match="out of bounds for int32"):
        clnet.randint(0, 2 ** 40, (3,), dtype=clnet.int32)
    with pytest.raises(TypeError, match="randint"):
        clnet.randint(5)
    with pytest.raises(ValueError, match="non-negative"):
        clnet.randperm(-1)


# ------------------------------------------------------------------ creation API and errors
def test_creation_api_matches_torch_forms(dev):
    assert clnet.rand(2, 3).shape == (2, 3) and clnet.rand((2, 3)).shape == (2, 3)
    assert clnet.rand(size=(4,)).shape == (4,) and clnet.rand(()).shape == ()
    assert clnet.randn(0, 3).shape == (0, 3)
    t = clnet.rand(3, requires_grad=True)
    assert t.requires_grad and t.dtype is clnet.float32
    like = clnet.rand_like(clnet.zeros(2, 5))
    assert like.shape == (2, 5) and like.dtype is clnet.float32
    assert clnet.randn_like(clnet.zeros(2, dtype=clnet.int64), dtype=clnet.float32).shape == (2,)
    out = clnet.empty(6)
    assert clnet.rand(6, out=out) is out
    if dev.has_fp64:
        assert clnet.randn(5, dtype=clnet.float64).dtype is clnet.float64
    with pytest.raises(TypeError, match="floating-point"):
        clnet.rand(3, dtype=clnet.int64)
    with pytest.raises(TypeError, match="floating-point"):
        clnet.randn_like(clnet.zeros(2, dtype=clnet.int64))
    with pytest.raises(RuntimeError, match="floating point"):
        clnet.randint(3, (2,), requires_grad=True)


def test_inplace_argument_errors():
    with pytest.raises(TypeError, match="uniform_"):
        clnet.zeros(3, dtype=clnet.int64).uniform_()
    with pytest.raises(ValueError, match="from=2 > to=1"):
        clnet.zeros(3).uniform_(2, 1)
    with pytest.raises(ValueError, match=r"p to be in \[0, 1\]"):
        clnet.zeros(3).bernoulli_(1.5)
    with pytest.raises(ValueError, match="std >= 0"):
        clnet.zeros(3).normal_(0, -1)
    with pytest.raises(ValueError, match="lambda > 0"):
        clnet.zeros(3).exponential_(0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        clnet.dropout_mask((3,), 1.5)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        clnet.zeros(3).bernoulli_(clnet.full((4,), 0.5))
    with pytest.raises(TypeError, match="bernoulli"):
        clnet.bernoulli(clnet.ones(3, dtype=clnet.int64))


def test_empty_tensors_launch_nothing_and_keep_the_offset():
    g = gen(1)
    for t in (clnet.rand(0, generator=g), clnet.randn(3, 0, generator=g),
              clnet.empty(0).uniform_(generator=g), clnet.randint(4, (0,), generator=g),
              clnet.dropout_mask((0, 5), 0.5, generator=g), clnet.randperm(0, generator=g)):
        assert t.numel() == 0
    assert g.get_offset() == 0


def test_inplace_fills_under_autograd():
    x = clnet.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.uniform_()
    with clnet.no_grad():
        x.normal_(generator=gen(1))       # how nn.init fills parameters
    assert x.requires_grad and x.grad_fn is None
    np.testing.assert_array_equal(x.detach().numpy(), clnet.randn(4, generator=gen(1)).numpy())
    for fill in (lambda y: y.uniform_(), lambda y: y.bernoulli_(clnet.full((4,), 0.5)),
                 lambda y: y.exponential_()):
        x.grad = None
        y = x * 2.0
        fill(y)
        assert y.requires_grad and y.grad_fn is not None
        y.backward(clnet.ones(4))
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4, np.float32))  # torch: zeros
    t = torch.ones(4, requires_grad=True)
    u = t * 2.0
    u.uniform_()
    u.backward(torch.ones(4))
    assert t.grad.tolist() == [0.0] * 4


@pytest.mark.parametrize("n", [1, 2, 3, 65, 1000])
def test_randperm_device_and_host_paths_agree(dev, n):
    from clnet.ops import random as R
    host = R._randperm_host(n, gen(n, 3), dev).numpy()
    device = R._randperm_device(n, gen(n, 3), dev).numpy()
    np.testing.assert_array_equal(device, host)
    assert sorted(host.tolist()) == list(range(n))


@given(shape=shapes(1, 4, 1, 6), data=st.data())
def test_fills_of_permuted_views_equal_contiguous_fills(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    view = clnet.zeros(*shape).permute(*perm)
    view.normal_(generator=gen(9))
    np.testing.assert_array_equal(view.numpy(), clnet.randn(view.shape, generator=gen(9)).numpy())
    view.random_(-3, 3, generator=gen(2))
    np.testing.assert_array_equal(
        view.numpy(), clnet.randint(-3, 3, view.shape, dtype=clnet.float32,
                                    generator=gen(2)).numpy())
