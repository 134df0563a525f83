"""Forward of batch_norm / layer_norm / group_norm / rms_norm against torch (CPU), running
statistics after several training steps, and the error messages.

float32 tolerances: rtol 1e-4, atol 1e-5 (statistics are sums over up to a few thousand
elements, added in a different order than torch's); float64 rtol 1e-10, atol 1e-12.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import norm as N
from helpers import as_noncontiguous, assert_close

TOL = dict(rtol=1e-4, atol=1e-5)
TOL64 = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(autouse=True, params=[1, 64], ids=["item-per-row", "group-per-row"])
def layout(request, monkeypatch):
    """Every test in both kernel layouts of norm.cl (``dev.tuning["norm.ls"]``: CPU drivers
    default to 1, GPUs to 64)."""
    monkeypatch.setitem(clnet.default_device().tuning, "norm.ls", request.param)
    return request.param


def _pair(a):
    return clnet.tensor(a), torch.tensor(a)


def _rand(rng, shape, dtype=np.float32, scale=2.0, shift=0.5):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


# ------------------------------------------------------------------ batch norm
BN_SHAPES = [(4, 3), (2, 1), (5, 7, 13), (1, 3, 9), (3, 2, 4, 5), (2, 5, 1, 1), (7, 1, 3, 3),
             (1, 4, 65, 3), (64, 10, 6, 6)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch(rng, shape, affine):
    C = shape[1]
    x = _rand(rng, shape)
    w = rng.standard_normal(C).astype(np.float32) if affine else None
    b = rng.standard_normal(C).astype(np.float32) if affine else None
    rm0, rv0 = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    crm, trm = _pair(rm0)
    crv, trv = _pair(rv0)
    cw = clnet.tensor(w) if affine else None
    cb = clnet.tensor(b) if affine else None
    tw = torch.tensor(w) if affine else None
    tb = torch.tensor(b) if affine else None
    y = N.batch_norm(clnet.tensor(x), crm, crv, cw, cb, True, 0.1, 1e-5)
    ty = F.batch_norm(torch.tensor(x), trm, trv, tw, tb, True, 0.1, 1e-5)
    assert_close(y, ty, **TOL)
    assert_close(crm, trm, **TOL)
    assert_close(crv, trv, **TOL)


@pytest.mark.parametrize("shape", BN_SHAPES + [(1, 3), (1, 1)])
def test_batch_norm_eval_matches_torch(rng, shape):
    C = shape[1]
    x = _rand(rng, shape)
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    crm = clnet.tensor(rm)
    y = N.batch_norm(clnet.tensor(x), crm, clnet.tensor(rv), clnet.tensor(w), clnet.tensor(b),
                     False, 0.1, 1e-3)
    ty = F.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), torch.tensor(w),
                      torch.tensor(b), False, 0.1, 1e-3)
    assert_close(y, ty, **TOL)
    np.testing.assert_array_equal(crm.numpy(), rm)       # eval leaves the running stats alone


def test_batch_norm_running_stats_over_several_steps(rng):
    C = 6
    crm, crv = clnet.zeros(C), clnet.ones(C)
    trm, trv = torch.zeros(C), torch.ones(C)
    w, b = clnet.ones(C), clnet.zeros(C)
    for step in range(5):
        x = _rand(rng, (8, C, 5), shift=step)
        N.batch_norm(clnet.tensor(x), crm, crv, w, b, True, 0.3, 1e-5)
        F.batch_norm(torch.tensor(x), trm, trv, None, None, True, 0.3, 1e-5)
    assert_close(crm, trm, **TOL)
    assert_close(crv, trv, **TOL)


def test_batch_norm_cumulative_momentum_reads_the_counter_on_the_device(rng):
    """momentum=None in a module: the running stats are the plain average of every batch's."""
    C = 3
    crm, crv = clnet.zeros(C), clnet.ones(C)
    count = clnet.zeros(1, dtype=clnet.int64)
    bn = torch.nn.BatchNorm1d(C, momentum=None, affine=False)
    for step in range(4):
        x = _rand(rng, (6, C), shift=step)
        count.add_(1)
        mom = N.effective_momentum(None, count)
        assert isinstance(mom, N.CumulativeMomentum)
        N.batch_norm(clnet.tensor(x), crm, crv, None, None, True, mom, 1e-5)
        bn(torch.tensor(x))
    assert_close(crm, bn.running_mean, **TOL)
    assert_close(crv, bn.running_var, **TOL)
    assert N.effective_momentum(0.2, count) == 0.2
    assert N.effective_momentum(None, 4) == 0.25
    assert N.effective_momentum(None, None) == 0.0


def test_batch_norm_running_stats_as_strided_views(rng):
    C = 4
    x = _rand(rng, (5, C, 3))
    stats = clnet.tensor(np.stack([np.zeros(C), np.ones(C)], 1).astype(np.float32))  # (C, 2)
    rm, rv = stats[:, 0], stats[:, 1]
    trm, trv = torch.zeros(C), torch.ones(C)
    N.batch_norm(clnet.tensor(x), rm, rv, None, None, True, 0.1, 1e-5)
    F.batch_norm(torch.tensor(x), trm, trv, None, None, True, 0.1, 1e-5)
    assert_close(rm, trm, **TOL)
    assert_close(rv, trv, **TOL)
    assert rm._version > 0                # the in-place update is visible to autograd checks


def test_batch_norm_without_running_stats_uses_batch_statistics(rng):
    x = _rand(rng, (6, 3, 4))
    y = N.batch_norm(clnet.tensor(x), None, None, training=True)
    assert_close(y, F.batch_norm(torch.tensor(x), None, None, training=True), **TOL)


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
def test_batch_norm_noncontiguous_input(rng, kind):
    x = _rand(rng, (5, 3, 7))
    y = N.batch_norm(as_noncontiguous(x, kind), None, None, training=True)
    assert_close(y, F.batch_norm(torch.tensor(x), None, None, training=True), **TOL)


def test_batch_norm_float64(rng):
    if not clnet.default_device().has_fp64:
        pytest.skip("device has no fp64")
    x = _rand(rng, (4, 3, 5), np.float64)
    crm, crv = clnet.zeros(3, dtype=clnet.float64), clnet.ones(3, dtype=clnet.float64)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    y = N.batch_norm(clnet.tensor(x), crm, crv, None, None, True)
    assert_close(y, F.batch_norm(torch.tensor(x), trm, trv, None, None, True), **TOL64)
    assert_close(crv, trv, **TOL64)


def test_batch_norm_empty_batch_in_eval():
    y = N.batch_norm(clnet.zeros(0, 3, 2), clnet.zeros(3), clnet.ones(3), training=False)
    assert tuple(y.shape) == (0, 3, 2)


def test_batch_norm_torch_level_argument_order(rng):
    x, w, b = _rand(rng, (4, 3)), rng.standard_normal(3).astype(np.float32), \
        rng.standard_normal(3).astype(np.float32)
    y = clnet.batch_norm(clnet.tensor(x), clnet.tensor(w), clnet.tensor(b), None, None, True,
                         0.1, 1e-5, False)
    ty = torch.batch_norm(torch.tensor(x), torch.tensor(w), torch.tensor(b), None, None, True,
                          0.1, 1e-5, False)
    assert_close(y, ty, **TOL)


def test_batch_norm_errors():
    x = clnet.zeros(4, 3)
    with pytest.raises(ValueError, match="running_mean should contain 3 elements not 4"):
        N.batch_norm(x, clnet.zeros(4), clnet.ones(3))
    with pytest.raises(ValueError, match="running_var should contain 3 elements not 2"):
        N.batch_norm(x, clnet.zeros(3), clnet.ones(2))
    with pytest.raises(ValueError, match="running_mean must be defined in evaluation mode"):
        N.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        N.batch_norm(clnet.zeros(1, 3), clnet.zeros(3), clnet.ones(3), training=True)
    with pytest.raises(ValueError, match=r"weight of shape \[3\].*got weight of shape \[2\]"):
        N.batch_norm(x, clnet.zeros(3), clnet.ones(3), clnet.ones(2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        N.batch_norm(clnet.zeros(3), clnet.zeros(3), clnet.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        N.batch_norm(clnet.zeros(4, 3, dtype=clnet.int32), clnet.zeros(3), clnet.ones(3))
    with pytest.raises(TypeError, match="momentum"):
        N.batch_norm(x, clnet.zeros(3), clnet.ones(3), training=True, momentum=None)


# ------------------------------------------------------------------ layer norm
LN_CASES = [((4, 5), (5,)), ((3, 1), (1,)), ((1, 7), (7,)), ((2, 3, 65), (65,)),
            ((5, 4, 6), (4, 6)), ((2, 257), (257,)), ((13,), (13,)), ((1024, 128), (128,)),
            ((3, 64), 64)]


@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_torch(rng, shape, ns, affine):
    nsl = (ns,) if isinstance(ns, int) else ns
    x = _rand(rng, shape)
    w = rng.standard_normal(nsl).astype(np.float32) if affine != "none" else None
    b = rng.standard_normal(nsl).astype(np.float32) if affine == "both" else None
    y = N.layer_norm(clnet.tensor(x), ns, clnet.tensor(w) if w is not None else None,
                     clnet.tensor(b) if b is not None else None, 1e-5)
    ty = F.layer_norm(torch.tensor(x), nsl, torch.tensor(w) if w is not None else None,
                      torch.tensor(b) if b is not None else None, 1e-5)
    assert_close(y, ty, **TOL)


@pytest.mark.parametrize("kind", ["step", "transpose", "offset"])
def test_layer_norm_noncontiguous_input_and_weight(rng, kind):
    x = _rand(rng, (6, 9))
    w = rng.standard_normal(9).astype(np.float32)
    y = N.layer_norm(as_noncontiguous(x, kind), (9,), as_noncontiguous(w, "step"))
    assert_close(y, F.layer_norm(torch.tensor(x), (9,), torch.tensor(w)), **TOL)


def test_layer_norm_large_offset_values_are_stable(rng):
    """Two-pass statistics: a large common offset does not wipe out the variance (E[x^2] -
    E[x]^2 in float32 would be all rounding error here). The inputs themselves are only
    resolved to ~1e-3 at 1e4, so the mean differs from torch's by about that much."""
    x = (rng.standard_normal((4, 100)) + 1e4).astype(np.float32)
    y = N.layer_norm(clnet.tensor(x), (100,))
    assert_close(y, F.layer_norm(torch.tensor(x), (100,)), rtol=1e-2, atol=1e-2)


def test_layer_norm_empty_and_torch_level_name(rng):
    assert tuple(N.layer_norm(clnet.zeros(0, 4), (4,)).shape) == (0, 4)
    x = _rand(rng, (3, 4))
    assert_close(clnet.layer_norm(clnet.tensor(x), (4,)), torch.layer_norm(torch.tensor(x), (4,)),
                 **TOL)


def test_layer_norm_errors():
    x = clnet.zeros(4, 3)
    with pytest.raises(ValueError, match=r"normalized_shape=\[4\], expected input with shape "
                                         r"\[\*, 4\], but got input of size \[4, 3\]"):
        N.layer_norm(x, (4,))
    with pytest.raises(ValueError, match=r"normalized_shape=\[2, 4, 3\]"):
        N.layer_norm(x, (2, 4, 3))
    with pytest.raises(ValueError, match=r"expected weight of shape \[3\].*\[4\]"):
        N.layer_norm(x, (3,), clnet.ones(4))
    with pytest.raises(ValueError, match=r"expected bias of shape \[3\]"):
        N.layer_norm(x, (3,), None, clnet.ones(3, 1))
    with pytest.raises(TypeError, match="dtype"):
        N.layer_norm(x, (3,), clnet.ones(3, dtype=clnet.float64))


# ------------------------------------------------------------------ group norm / rms norm
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((1, 4), 2), ((3, 8, 4, 4), 8),
                                          ((2, 5, 3, 3), 1), ((4, 6, 7), 6)])
def test_group_norm_matches_torch(rng, shape, groups):
    C = shape[1]
    x = _rand(rng, shape)
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    y = N.group_norm(clnet.tensor(x), groups, clnet.tensor(w), clnet.tensor(b), 1e-5)
    ty = F.group_norm(torch.tensor(x), groups, torch.tensor(w), torch.tensor(b), 1e-5)
    assert_close(y, ty, **TOL)
    assert_close(N.group_norm(clnet.tensor(x), groups), F.group_norm(torch.tensor(x), groups),
                 **TOL)


def test_group_norm_errors():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        N.group_norm(clnet.zeros(2, 6, 3), 4)
    with pytest.raises(ValueError, match=r"expected weight of shape \[6\]"):
        N.group_norm(clnet.zeros(2, 6, 3), 3, clnet.ones(3))


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_torch(rng, eps):
    x = _rand(rng, (5, 4, 6))
    w = rng.standard_normal(6).astype(np.float32)
    y = N.rms_norm(clnet.tensor(x), (6,), clnet.tensor(w), eps)
    assert_close(y, F.rms_norm(torch.tensor(x), (6,), torch.tensor(w), eps), **TOL)
    assert_close(N.rms_norm(clnet.tensor(x), (4, 6), eps=eps),
                 F.rms_norm(torch.tensor(x), (4, 6), eps=eps), **TOL)
