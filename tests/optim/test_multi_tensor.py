"""The multi-tensor optimizer path (the default; foreach/fused) against torch.optim and, bit for
bit, against the single-tensor path (foreach=False: one optim.cl launch per parameter), with
the layouts it must handle: several groups, mixed dtypes in a group, parameters at storage
offsets and non-contiguous ones, prime and work-group-straddling sizes, empty parameters,
parameters without gradients, and groups longer than a chunk of K tensors (counted launches).
"""
import itertools
import math

import numpy as np
import pytest
import torch

import clnet
from clnet import optim
from clnet.kernels import multi_tensor
from tests.helpers import assert_close

SIZES = [(1,), (7,), (65,), (127,), (5, 13), (4099,)]     # primes, around the 64-wide group
STEPS = 6
RTOL32, ATOL32 = 2e-5, 2e-6


def _options():
    """Every option combination the issue names, one optimizer config each."""
    out = []
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.1), (False, True)):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        out.append(("SGD", dict(lr=0.05, momentum=momentum, dampening=dampening,
                                nesterov=nesterov, weight_decay=wd, maximize=maximize)))
    for name, amsgrad, maximize, wd in itertools.product(("Adam", "AdamW"), (False, True),
                                                         (False, True), (0.0, 0.1)):
        out.append((name, dict(lr=0.01, amsgrad=amsgrad, maximize=maximize, weight_decay=wd)))
    for centered, momentum, wd in itertools.product((False, True), (0.0, 0.5), (0.0, 0.1)):
        out.append(("RMSprop", dict(lr=0.01, centered=centered, momentum=momentum,
                                    weight_decay=wd, maximize=centered and wd > 0)))
    for lr_decay, init, wd in itertools.product((0.0, 0.05), (0.0, 0.5), (0.0, 0.1)):
        out.append(("Adagrad", dict(lr=0.1, lr_decay=lr_decay, initial_accumulator_value=init,
                                    weight_decay=wd, maximize=lr_decay > 0)))
    out.append(("Adadelta", dict(lr=0.5, weight_decay=0.1, maximize=True)))
    return out


OPTIONS = _options()


def _values(sizes, seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in sizes] for _ in range(steps)]
    return params, grads


def _clnet_params(values, dtype=clnet.float32):
    return [clnet.nn.Parameter(clnet.tensor(v).to(dtype)) for v in values]


def _run(opt, params, grads, dtype=clnet.float32):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else clnet.tensor(g).to(dtype)
        opt.step()
    return [p.detach().to(clnet.float64).numpy() for p in params]


def _torch_run(name, kwargs, values, grads, groups=None):
    params = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    opt = getattr(torch.optim, name)(
        params if groups is None else
        [dict(g, params=[params[i] for i in g["params"]]) for g in groups], **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("name,kwargs", OPTIONS, ids=[f"{n}-{k}" for n, k in OPTIONS])
def test_every_option_matches_torch_and_the_single_tensor_path(name, kwargs):
    values, grads = _values(SIZES, seed=1)
    params = _clnet_params(values)
    got = _run(getattr(optim, name)(params, **kwargs), params, grads)
    want = _torch_run(name, kwargs, values, grads)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL32, atol=ATOL32)
    single = _clnet_params(values)
    same = _run(getattr(optim, name)(single, foreach=False, **kwargs), single, grads)
    for g, s in zip(got, same):
        np.testing.assert_array_equal(g, s)       # the same rules (optim_rules.h): same bits


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2)),
    ("Adadelta", dict(lr=0.5)),
])
def test_other_dtypes_give_the_single_tensor_paths_bits(dtype, name, kwargs):
    """16-bit parameters and states: read as float32, updated in float32, written once (the
    single-tensor path does the same through float32 copies); float64 as is."""
    dt = getattr(clnet, dtype)
    if dt is clnet.float64 and not clnet.default_device().has_fp64:
        pytest.skip("device has no float64")
    values, grads = _values(SIZES, seed=2, steps=3)
    runs = []
    for foreach in (None, False):
        params = _clnet_params(values, dt)
        runs.append(_run(getattr(optim, name)(params, foreach=foreach, **kwargs), params,
                         grads, dt))
        assert all(p.dtype is dt for p in params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    if dt is not clnet.float64:
        # torch's fused Adam(W)/Adagrad compute 16-bit updates in float32 as ours do. RMSprop and
        # Adadelta have no fused kernel and torch's for-loop path computes in 16 bits (eps=1e-8
        # rounds to a float16 zero: infs), and torch 2.13's fused SGD is wrong on 16-bit
        # parameters of 65 or more elements: those run in float32 on the 16-bit values, and
        # agree to the states' 16-bit rounding
        fused = name in ("Adam", "AdamW", "Adagrad")
        tdt = getattr(torch, dtype) if fused else torch.float32
        tparams = [torch.nn.Parameter(torch.tensor(v).to(getattr(torch, dtype)).to(tdt))
                   for v in values]
        topt = getattr(torch.optim, name)(tparams, **(dict(fused=True) if fused else {}),
                                          **kwargs)
        for step_grads in grads:
            for p, g in zip(tparams, step_grads):
                p.grad = torch.tensor(g).to(getattr(torch, dtype)).to(tdt)
            topt.step()
        for a, t in zip(runs[0], tparams):
            np.testing.assert_allclose(a, t.detach().double().numpy(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("switches", [dict(foreach=True), dict(fused=True), dict(foreach=None),
                                      dict(foreach=False), dict(foreach=False, fused=True)])
def test_foreach_and_fused_switches(switches):
    values, grads = _values(SIZES, seed=3, steps=2)
    dev = clnet.default_device()
    params = _clnet_params(values)
    opt = optim.Adam(params, lr=0.01, **switches)
    got = _run(opt, params, grads)
    dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
    before = dev.launches
    opt.step()          # a third step on the same gradients, counted (the states exist)
    multi = switches.get("foreach") is not False or switches.get("fused")
    k = multi_tensor.chunk_size(dev, 5)
    assert dev.launches - before == (math.ceil(len(SIZES) / k) if multi else len(SIZES))
    for g, w in zip(got, _torch_run("Adam", dict(lr=0.01), values, grads)):
        np.testing.assert_allclose(g, w, rtol=RTOL32, atol=ATOL32)


def test_foreach_and_fused_together_are_refused_as_in_torch():
    p = clnet.nn.Parameter(clnet.ones(3))
    p.grad = clnet.ones(3)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.Adam([p], foreach=True, fused=True).step()


def test_a_long_group_is_chunked():
    """More tensors than one launch takes (K, from the device's parameter-size limit): one
    launch per chunk, the same values as torch."""
    dev = clnet.default_device()
    k = multi_tensor.chunk_size(dev, 5)
    sizes = [(3 + i,) for i in range(2 * k + 3)]
    values, grads = _values(sizes, seed=4, steps=3)
    params = _clnet_params(values)
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    _run(opt, params, grads[:1])
    dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
    before = dev.launches
    opt.step()
    assert dev.launches - before == math.ceil(len(sizes) / k) == 3
    params2 = _clnet_params(values)
    got = _run(optim.Adam(params2, lr=0.01, amsgrad=True), params2, grads)
    for g, w in zip(got, _torch_run("Adam", dict(lr=0.01, amsgrad=True), values, grads)):
        np.testing.assert_allclose(g, w, rtol=RTOL32, atol=ATOL32)


def test_groups_mixed_dtypes_empty_params_and_missing_grads():
    """Two groups; one group mixes float32, float16 and float64 parameters (one launch per
    dtype, as torch's _group_tensors_by_device_and_dtype splits it), an empty parameter, and a
    parameter whose gradient is None on some steps (skipped: no step counted)."""
    dev = clnet.default_device()
    dtypes = [clnet.float32, clnet.float16, clnet.float32, clnet.float32, clnet.float32]
    if dev.has_fp64:
        dtypes[3] = clnet.float64
    sizes = [(7,), (65,), (0,), (13,), (5, 3)]
    values, grads = _values(sizes, seed=5)
    for step in range(0, STEPS, 2):
        grads[step][4] = None
    params = [clnet.nn.Parameter(clnet.tensor(v).to(d)) for v, d in zip(values, dtypes)]
    groups = [{"params": [0, 1, 2, 3], "lr": 0.02}, {"params": [4], "weight_decay": 0.1}]
    opt = optim.Adam([dict(g, params=[params[i] for i in g["params"]]) for g in groups], lr=0.01)
    for step, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else clnet.tensor(g).to(p.dtype)
        dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
        before = dev.launches
        opt.step()
        # once every state exists (parameter 4 has its first gradient at step 1): group 0 takes
        # one launch per dtype present (the float32 one covering the empty parameter too),
        # group 1 one if it has a gradient
        if step >= 2:
            assert dev.launches - before == (len({d for d in dtypes[:4]})
                                             + (step_grads[4] is not None))
    assert opt.state[params[4]]["step"] == STEPS // 2
    tparams = [torch.nn.Parameter(torch.tensor(v).to(getattr(torch, d.name)))
               for v, d in zip(values, dtypes)]
    topt = torch.optim.Adam([dict(g, params=[tparams[i] for i in g["params"]]) for g in groups],
                            lr=0.01)
    for step_grads in grads:
        for p, g in zip(tparams, step_grads):
            p.grad = None if g is None else torch.tensor(g).to(p.dtype)
        topt.step()
    for p, t, d in zip(params, tparams, dtypes):
        tol = 2e-2 if d is clnet.float16 else RTOL32
        np.testing.assert_allclose(p.detach().to(clnet.float64).numpy(),
                                   t.detach().double().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3)),
                                         ("Adagrad", dict(lr=0.1))])
def test_views_at_offsets_and_non_contiguous_params(name, kwargs):
    """Parameters that view one storage at offsets 3 and 40, a transposed (non-contiguous)
    parameter, and a non-contiguous gradient: updated in place, as torch updates them."""
    rng = np.random.default_rng(6)
    storage = rng.standard_normal(200).astype(np.float32)
    big = clnet.tensor(storage)
    a = clnet.nn.Parameter(big[3:38].view(5, 7))
    b = clnet.nn.Parameter(big[40:105])
    c = clnet.nn.Parameter(clnet.tensor(rng.standard_normal((4, 6)).astype(np.float32)).t())
    assert a.storage_offset() == 3 and b.storage_offset() == 40 and not c.is_contiguous()
    tb = torch.tensor(storage)
    ta = torch.nn.Parameter(tb[3:38].view(5, 7).clone())
    tbb = torch.nn.Parameter(tb[40:105].clone())
    tc = torch.nn.Parameter(torch.tensor(c.detach().numpy()))
    copt = getattr(optim, name)([a, b, c], **kwargs)
    topt = getattr(torch.optim, name)([ta, tbb, tc], **kwargs)
    for _ in range(4):
        gs = [rng.standard_normal(t.shape).astype(np.float32) for t in (ta, tbb, tc)]
        a.grad = clnet.tensor(np.ascontiguousarray(gs[0].T)).t()      # a strided gradient
        b.grad, c.grad = clnet.tensor(gs[1]), clnet.tensor(gs[2])
        for t, g in zip((ta, tbb, tc), gs):
            t.grad = torch.tensor(g)
        copt.step()
        topt.step()
    for x, t in zip((a, b, c), (ta, tbb, tc)):
        assert_close(x, t, rtol=RTOL32, atol=ATOL32)
    assert not c.is_contiguous() and a._storage is big._storage
    # the storage around the views is left alone
    np.testing.assert_array_equal(big.numpy()[:3], storage[:3])
    np.testing.assert_array_equal(big.numpy()[38:40], storage[38:40])


def test_one_launch_per_step_for_a_small_model():
    """An MLP's four parameters: the whole Adam step is one launch (K >= 4)."""
    dev = clnet.default_device()
    model = clnet.nn.Sequential(clnet.nn.Linear(20, 16), clnet.nn.ReLU(), clnet.nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    model(clnet.ones(4, 20)).sum().backward()
    opt.step()
    dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
    before = dev.launches
    opt.step()
    assert dev.launches - before == 1


def test_sparse_gradients_are_refused_clearly():
    p = clnet.nn.Parameter(clnet.ones(4))
    p.grad = clnet.ones(4).to_sparse()
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients"):
        optim.Adam([p]).step()
