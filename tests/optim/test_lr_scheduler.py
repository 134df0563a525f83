"""LR schedulers against torch.optim.lr_scheduler: the same lr (and momentum) sequences over 30
steps on a two-group optimizer, resuming from state_dict, and the errors. Learning rates are host
floats computed with the same arithmetic, so they must agree to 1e-12 relative."""
import math
import warnings

import numpy as np
import pytest
import torch

import clnet
from clnet import optim
from clnet.optim import lr_scheduler as sched

STEPS = 30


def make_optimizers(opt_name="SGD", **kwargs):
    """The same two-group optimizer in clnet and torch (lrs 0.1 and 0.02)."""
    kwargs = kwargs or {"lr": 0.1, "momentum": 0.9}
    pair = []
    for lib, o in ((clnet, optim), (torch, torch.optim)):
        a = lib.nn.Parameter(lib.zeros(3))
        b = lib.nn.Parameter(lib.zeros(2))
        pair.append(getattr(o, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.02}],
                                         **kwargs))
    return pair


def _build(mod, opt, name, args, kwargs):
    """Scheduler ``name`` of module ``mod`` on ``opt``; builder callables in args/kwargs make
    arguments (inner schedulers) from (mod, opt)."""
    def arg(x):
        return x(mod, opt) if callable(x) and getattr(x, "builder", False) else x
    return getattr(mod, name)(opt, *[arg(x) for x in args],
                              **{k: arg(v) for k, v in kwargs.items()})


def _both(name, copt, topt, args, kwargs):
    return (_build(sched, copt, name, args, kwargs),
            _build(torch.optim.lr_scheduler, topt, name, args, kwargs))


def assert_same_lrs(copt, topt, cs, ts):
    assert cs.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=0)
    for cg, tg in zip(copt.param_groups, topt.param_groups):
        assert cg["lr"] == pytest.approx(tg["lr"], rel=1e-12, abs=0)
        if "momentum" in tg:
            assert cg["momentum"] == pytest.approx(tg["momentum"], rel=1e-12, abs=0)
        if "betas" in tg:
            assert cg["betas"] == pytest.approx(tg["betas"], rel=1e-12, abs=0)


def _sequential(mod, opt):
    return [mod.LinearLR(opt, start_factor=0.1, total_iters=5),
            mod.CosineAnnealingLR(opt, T_max=25, eta_min=0.001)]


_sequential.builder = True


CASES = [
    ("StepLR", (7,), {"gamma": 0.5}),
    ("MultiStepLR", ([3, 8, 8, 20],), {"gamma": 0.3}),
    ("ExponentialLR", (0.9,), {}),
    ("CosineAnnealingLR", (10,), {"eta_min": 0.001}),      # passes T_max: climbs back up
    ("LambdaLR", (lambda e: 1.0 / (1 + e),), {}),
    ("LambdaLR", ([lambda e: 0.95 ** e, lambda e: 1 + e % 3],), {}),
    ("MultiplicativeLR", (lambda e: 0.97,), {}),
    ("LinearLR", (), {"start_factor": 0.25, "end_factor": 0.9, "total_iters": 12}),
    ("ConstantLR", (), {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", (), {"total_iters": 20, "power": 2.0}),
    ("CosineAnnealingWarmRestarts", (5,), {"T_mult": 2, "eta_min": 0.0005}),
    ("OneCycleLR", (1.0,), {"total_steps": STEPS + 1}),
    ("OneCycleLR", ([1.0, 0.5],), {"total_steps": STEPS + 1, "anneal_strategy": "linear",
                                   "pct_start": 0.2, "three_phase": True}),
    ("SequentialLR", (_sequential,), {"milestones": [5]}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[c[0] + str(i) for i, c in
                                                         enumerate(CASES)])
def test_lr_sequence_matches_torch(name, args, kwargs):
    copt, topt = make_optimizers()
    cs, ts = _both(name, copt, topt, args, kwargs)
    assert_same_lrs(copt, topt, cs, ts)
    assert cs.last_epoch == ts.last_epoch
    for _ in range(STEPS):
        copt.step()
        topt.step()
        cs.step()
        ts.step()
        assert_same_lrs(copt, topt, cs, ts)
        assert cs.last_epoch == ts.last_epoch


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[c[0] + str(i) for i, c in
                                                         enumerate(CASES)])
def test_state_dict_resume(name, args, kwargs):
    copt, topt = make_optimizers()
    cs, ts = _both(name, copt, topt, args, kwargs)
    for _ in range(10):
        copt.step()
        cs.step()
    saved_opt, saved_sched = copt.state_dict(), cs.state_dict()
    copt2, _ = make_optimizers()
    cs2 = _build(sched, copt2, name, args, kwargs)
    copt2.load_state_dict(saved_opt)
    cs2.load_state_dict(saved_sched)
    for _ in range(10):
        topt.step()
        ts.step()
    assert_same_lrs(copt2, topt, cs2, ts)
    for _ in range(STEPS - 10):
        copt2.step()
        topt.step()
        cs2.step()
        ts.step()
        assert_same_lrs(copt2, topt, cs2, ts)


def test_one_cycle_cycles_adam_beta1():
    copt, topt = make_optimizers("Adam", lr=0.01)
    cs = sched.OneCycleLR(copt, max_lr=0.1, total_steps=STEPS + 1, base_momentum=0.8,
                          max_momentum=0.9)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=STEPS + 1,
                                             base_momentum=0.8, max_momentum=0.9)
    betas = []
    for _ in range(STEPS):
        copt.step()
        topt.step()
        cs.step()
        ts.step()
        assert_same_lrs(copt, topt, cs, ts)
        betas.append(copt.param_groups[0]["betas"][0])
    assert min(betas) == pytest.approx(0.8, abs=1e-3) and betas[-1] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="Tried to step 32 times"):
        cs.step()
        cs.step()


def test_one_cycle_needs_momentum():
    copt, _ = make_optimizers("Adagrad", lr=0.1)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        sched.OneCycleLR(copt, max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        sched.OneCycleLR(copt, max_lr=1.0, cycle_momentum=False)


def _plateau_pair(**kwargs):
    copt, topt = make_optimizers()
    return (copt, topt, sched.ReduceLROnPlateau(copt, **kwargs),
            torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(patience=2),
    dict(mode="max", factor=0.5, patience=1, threshold=0.05, cooldown=2),
    dict(patience=0, threshold=0.01, threshold_mode="abs", min_lr=[0.01, 0.015]),
    dict(mode="max", patience=1, threshold_mode="abs", min_lr=0.004, eps=1e-3),
])
def test_reduce_on_plateau_matches_torch(kwargs):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.91, 0.8, 0.8, 0.8, 0.8, 0.85, 0.7, 0.72, 0.71, 0.9, 0.9,
               0.6, 0.6, 0.6, 0.6, 0.6, 0.59, 0.65, 0.7, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    copt, topt, cs, ts = _plateau_pair(**kwargs)
    for i, m in enumerate(metrics):
        # every other metric as a 0-d float32 tensor (clnet's is read back on the host)
        cs.step(clnet.tensor(m) if i % 2 else m)
        ts.step(torch.tensor(m) if i % 2 else m)
        assert_same_lrs(copt, topt, cs, ts)
        assert cs.num_bad_epochs == ts.num_bad_epochs and cs.best == ts.best
    assert copt.param_groups[0]["lr"] < 0.1      # the sequence does trigger reductions


def test_reduce_on_plateau_state_dict_and_errors():
    copt, topt, cs, ts = _plateau_pair(patience=1)
    for m in [1.0, 1.0, 1.0]:
        cs.step(m)
        ts.step(m)
    cs2 = sched.ReduceLROnPlateau(copt, patience=1)
    cs2.load_state_dict(cs.state_dict())
    for m in [1.0, 1.0, 0.5, 0.5, 0.5]:
        cs2.step(m)
        ts.step(m)
        assert_same_lrs(copt, topt, cs2, ts)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        sched.ReduceLROnPlateau(copt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        sched.ReduceLROnPlateau(copt, mode="avg")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        sched.ReduceLROnPlateau(copt, min_lr=[0, 0, 0])


def test_chained_scheduler_matches_torch():
    copt, topt = make_optimizers()
    cs = sched.ChainedScheduler([sched.ConstantLR(copt, factor=0.2, total_iters=4),
                                 sched.ExponentialLR(copt, gamma=0.9)])
    tl = torch.optim.lr_scheduler
    ts = tl.ChainedScheduler([tl.ConstantLR(topt, factor=0.2, total_iters=4),
                              tl.ExponentialLR(topt, gamma=0.9)])
    for _ in range(STEPS):
        copt.step()
        topt.step()
        cs.step()
        ts.step()
        assert_same_lrs(copt, topt, cs, ts)


@pytest.mark.parametrize("name,args,kwargs", [
    ("StepLR", (4,), {"gamma": 0.5}), ("MultiStepLR", ([2, 9],), {}),
    ("ExponentialLR", (0.8,), {}), ("CosineAnnealingLR", (12,), {}),
    ("LinearLR", (), {"total_iters": 6}), ("ConstantLR", (), {}),
    ("PolynomialLR", (), {"total_iters": 8}), ("CosineAnnealingWarmRestarts", (3,), {"T_mult": 2}),
])
def test_step_with_epoch_uses_closed_form_like_torch(name, args, kwargs):
    copt, topt = make_optimizers()
    cs, ts = _both(name, copt, topt, args, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 7, 2, 11, 5]:
            cs.step(epoch)
            ts.step(epoch)
            assert_same_lrs(copt, topt, cs, ts)


def test_scheduler_before_optimizer_warns():
    copt, topt = make_optimizers()
    cs = sched.StepLR(copt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        cs.step()
    cs.step()      # only the first step warns


def test_scheduler_errors():
    copt, _ = make_optimizers()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        sched.StepLR([], 3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
        sched.LambdaLR(copt, [lambda e: 1] * 3)
    with pytest.raises(ValueError, match="Constant multiplicative factor"):
        sched.ConstantLR(copt, factor=2)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(copt, start_factor=0)
    with pytest.raises(ValueError, match="Expected positive integer T_0"):
        sched.CosineAnnealingWarmRestarts(copt, T_0=0)
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(copt, 3, last_epoch=4)
    other, _ = make_optimizers()
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(copt, [sched.StepLR(copt, 2), sched.StepLR(other, 2)], [3])
    with pytest.raises(ValueError, match="number of milestones"):
        sched.SequentialLR(copt, [sched.StepLR(copt, 2)], [3])


def test_warmup_then_cosine_shape():
    """SequentialLR warm-up: rises linearly for 5 steps, then follows the cosine down."""
    copt, _ = make_optimizers()
    s = sched.SequentialLR(copt, [sched.LinearLR(copt, start_factor=0.1, total_iters=5),
                                  sched.CosineAnnealingLR(copt, T_max=25)], milestones=[5])
    lrs = [s.get_last_lr()[0]]
    for _ in range(STEPS - 1):
        copt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    np.testing.assert_allclose(lrs[:6], [0.01, 0.028, 0.046, 0.064, 0.082, 0.1], rtol=1e-12)
    expected_cos = [0.1 * (1 + math.cos(math.pi * k / 25)) / 2 for k in range(25)]
    np.testing.assert_allclose(lrs[5:], expected_cos[:len(lrs) - 5], rtol=1e-9, atol=1e-15)
