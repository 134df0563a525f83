"""Optimizers against torch.optim: 20-step trajectories on the same problem, state, errors.

The problem: parameters W (5x3), v (7,) and u (2x4, a transposed view in one test); gradients come
from clnet's autograd on residuals r1 = A * W * W - B, r2 = c * v - t, r3 = u - s, seeded with the
residuals themselves (the gradient of 0.5 * ||r||^2), and from torch's autograd on the same code.
(Elementwise residuals: matmul has no backward rule yet.)
Float32 trajectories must agree step by step within rtol 1e-5 / atol 1e-6 (float64: 1e-10 / 1e-12).
"""
import copy

import numpy as np
import pytest
import torch

import clnet
from clnet import optim
from tests.helpers import assert_close

RTOL32, ATOL32 = 1e-5, 1e-6
STEPS = 20

_rng = np.random.default_rng(1234)
DATA = {
    "A": _rng.uniform(0.2, 1, (5, 3)), "B": _rng.uniform(-1, 1, (5, 3)),
    "c": _rng.uniform(0.5, 1.5, (7,)), "t": _rng.uniform(-1, 1, (7,)),
    "s": _rng.uniform(-1, 1, (2, 4)),
    "W": _rng.uniform(-1, 1, (5, 3)), "v": _rng.uniform(-1, 1, (7,)),
    "u": _rng.uniform(-1, 1, (4, 2)),     # used transposed: u.T is 2x4
}


def make_params(lib, dtype, transposed_u=False):
    """W, v, u as leaf parameters of ``lib`` (clnet or torch) holding the shared initial values."""
    np_dt = np.float32 if dtype == "float32" else np.float64
    dt = getattr(lib, dtype)

    def leaf(a):
        return lib.nn.Parameter(lib.tensor(np.ascontiguousarray(a.astype(np_dt)), dtype=dt))

    W, v = leaf(DATA["W"]), leaf(DATA["v"])
    if transposed_u and lib is clnet:
        u = lib.nn.Parameter(lib.tensor(DATA["u"].astype(np_dt), dtype=dt).t())
        assert not u.is_contiguous()
    else:
        u = leaf(DATA["u"].T)
    return [W, v, u]


def compute_grads(lib, params, dtype):
    """Accumulate the least-squares gradients into the parameters' .grad (lib's autograd)."""
    np_dt = np.float32 if dtype == "float32" else np.float64
    dt = getattr(lib, dtype)
    const = {k: lib.tensor(DATA[k].astype(np_dt), dtype=dt) for k in "ABcts"}
    W, v, u = params
    r1 = const["A"] * W * W - const["B"]
    r2 = const["c"] * v - const["t"]
    r3 = u - const["s"]
    lib.autograd.backward([r1, r2, r3], [r1.detach(), r2.detach(), r3.detach()])
    return r1


def run_both(opt_name, kwargs, dtype="float32", steps=STEPS, transposed_u=False, groups=None):
    """Step clnet's and torch's optimizer side by side, comparing parameters after every step."""
    rtol, atol = (RTOL32, ATOL32) if dtype == "float32" else (1e-10, 1e-12)
    cp, tp = make_params(clnet, dtype, transposed_u), make_params(torch, dtype)
    if groups is None:
        copt = getattr(optim, opt_name)(cp, **kwargs)
        topt = getattr(torch.optim, opt_name)(tp, **kwargs)
    else:
        copt = getattr(optim, opt_name)([dict(g, params=[cp[i] for i in g["params"]])
                                         for g in groups], **kwargs)
        topt = getattr(torch.optim, opt_name)([dict(g, params=[tp[i] for i in g["params"]])
                                               for g in groups], **kwargs)
    for step in range(steps):
        copt.zero_grad()
        topt.zero_grad()
        compute_grads(clnet, cp, dtype)
        compute_grads(torch, tp, dtype)
        copt.step()
        topt.step()
        for c, t in zip(cp, tp):
            assert_close(c, t, rtol=rtol, atol=atol)
    return cp, tp, copt, topt


CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, eps=1e-6)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, alpha=0.9, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-3, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
]


@pytest.mark.parametrize("opt_name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_torch(opt_name, kwargs):
    run_both(opt_name, kwargs)


@pytest.mark.parametrize("opt_name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
])
def test_float64_trajectory_matches_torch(opt_name, kwargs):
    if not clnet.default_device().has_fp64:
        pytest.skip("device has no float64")
    run_both(opt_name, kwargs, dtype="float64", steps=8)


@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)),
                                             ("Adam", dict(lr=0.01))])
def test_noncontiguous_parameter(opt_name, kwargs):
    cp, _, _, _ = run_both(opt_name, kwargs, steps=5, transposed_u=True)
    assert not cp[2].is_contiguous()     # updated in place through its own strides


def test_param_groups_with_different_lrs():
    groups = [{"params": [0], "lr": 0.1, "momentum": 0.5}, {"params": [1, 2]}]
    _, _, copt, _ = run_both("SGD", dict(lr=0.02, momentum=0.9), groups=groups)
    assert copt.param_groups[0]["lr"] == 0.1 and copt.param_groups[0]["momentum"] == 0.5
    assert copt.param_groups[1]["lr"] == 0.02 and copt.param_groups[1]["momentum"] == 0.9
    assert copt.param_groups[1]["nesterov"] is False      # defaults filled in


def test_add_param_group_and_duplicate_errors():
    W, v, u = make_params(clnet, "float32")
    opt = optim.Adam([W], lr=0.1)
    opt.add_param_group({"params": v, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        opt.add_param_group({"params": [u, W]})
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [W]}, {"params": [v, W]}], lr=0.1)


def _steps(opt, params, n):
    for _ in range(n):
        opt.zero_grad()
        compute_grads(clnet, params, "float32")
        opt.step()


def _snapshot(sd):
    """A state_dict copy that later steps cannot change (state tensors are references)."""
    return {"state": {k: {n: (x.clone() if isinstance(x, clnet.Tensor) else x)
                          for n, x in s.items()} for k, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("opt_name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adadelta", dict(lr=0.5)),
])
def test_state_dict_round_trip_continues_identically(opt_name, kwargs):
    params = make_params(clnet, "float32")
    opt = getattr(optim, opt_name)(params, **kwargs)
    _steps(opt, params, 5)
    saved_params = [p.detach().clone() for p in params]
    saved = _snapshot(opt.state_dict())
    assert sorted(saved["state"]) == [0, 1, 2]
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    _steps(opt, params, 5)
    expected = [p.numpy() for p in params]

    params2 = [clnet.nn.Parameter(t) for t in saved_params]
    opt2 = getattr(optim, opt_name)(params2, **kwargs)
    opt2.load_state_dict(saved)
    _steps(opt2, params2, 5)
    for p, e in zip(params2, expected):
        np.testing.assert_array_equal(p.numpy(), e)       # same kernels, same inputs: exact


def test_state_dict_matches_torch_layout_and_loads_torch_state():
    cp, tp, copt, topt = run_both("Adam", dict(lr=0.01, amsgrad=True), steps=3)
    csd, tsd = copt.state_dict(), topt.state_dict()
    assert csd["param_groups"] == tsd["param_groups"]
    assert csd["state"].keys() == tsd["state"].keys()
    for k in tsd["state"]:
        assert csd["state"][k].keys() == tsd["state"][k].keys()
        assert csd["state"][k]["step"] == float(tsd["state"][k]["step"])
        assert_close(csd["state"][k]["exp_avg"], tsd["state"][k]["exp_avg"])
    # torch's state_dict loads into a clnet optimizer (torch tensors copied to the device)
    fresh = optim.Adam(make_params(clnet, "float32"), lr=0.5)
    fresh.load_state_dict(tsd)
    st = fresh.state[fresh.param_groups[0]["params"][0]]
    assert st["step"] == 3.0 and isinstance(st["max_exp_avg_sq"], clnet.Tensor)
    assert fresh.param_groups[0]["lr"] == 0.01


def test_load_state_dict_errors():
    W, v, u = make_params(clnet, "float32")
    opt = optim.SGD([W, v], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1, 2], "lr": 1}]})


def test_load_state_dict_casts_state_to_parameter_dtype():
    if not clnet.default_device().has_fp64:
        pytest.skip("device has no float64")
    p64 = make_params(clnet, "float64")
    opt64 = optim.Adam(p64, lr=0.01)
    _steps_dtype(opt64, p64, "float64")
    p32 = make_params(clnet, "float32")
    opt32 = optim.Adam(p32, lr=0.01)
    opt32.load_state_dict(opt64.state_dict())
    assert opt32.state[p32[0]]["exp_avg"].dtype is clnet.float32
    assert opt32.state[p32[0]]["exp_avg"]._storage is not opt64.state[p64[0]]["exp_avg"]._storage


def _steps_dtype(opt, params, dtype):
    opt.zero_grad()
    compute_grads(clnet, params, dtype)
    opt.step()


def test_zero_grad():
    params = make_params(clnet, "float32")
    opt = optim.SGD(params, lr=0.1)
    compute_grads(clnet, params, "float32")
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    compute_grads(clnet, params, "float32")
    grad = params[0].grad
    version = grad._version
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad and grad._version > version
    assert not grad.numpy().any() and not params[2].grad.numpy().any()


def test_closure_is_evaluated_with_grad_enabled_and_its_loss_returned():
    params = make_params(clnet, "float32")
    opt = optim.SGD(params, lr=0.1)

    def closure():
        assert clnet.is_grad_enabled()
        opt.zero_grad()
        return compute_grads(clnet, params, "float32")

    with clnet.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, clnet.Tensor) and loss.shape == (5, 3)
    tp = make_params(torch, "float32")
    compute_grads(torch, tp, "float32")
    torch.optim.SGD(tp, lr=0.1).step()
    for c, t in zip(params, tp):
        assert_close(c, t)
    assert opt.step() is None


def test_parameters_without_grad_are_skipped_and_versions_bump():
    W, v, u = make_params(clnet, "float32")
    before_v = v.numpy().copy()
    W.grad = clnet.ones(5, 3)
    opt = optim.Adam([W, v], lr=0.1)
    version = W._version
    opt.step()
    assert W._version > version
    np.testing.assert_array_equal(v.numpy(), before_v)
    assert v not in opt.state and opt.state[W]["step"] == 1.0


def test_step_does_not_record_graph():
    params = make_params(clnet, "float32")
    opt = optim.Adam(params, lr=0.1)
    compute_grads(clnet, params, "float32")
    opt.step()
    assert all(p.grad_fn is None and p.is_leaf for p in params)


def test_step_hooks():
    params = make_params(clnet, "float32")
    opt = optim.SGD(params, lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.step()
    h1.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


def test_grad_shape_and_dtype_errors():
    W, v, u = make_params(clnet, "float32")
    W.grad = clnet.ones(3, 5)
    with pytest.raises(RuntimeError, match=r"gradient of shape \[3, 5\].*\[5, 3\]"):
        optim.SGD([W], lr=0.1).step()
    if clnet.default_device().has_fp64:
        W.grad = clnet.ones(5, 3, dtype=clnet.float64)
        with pytest.raises(TypeError, match="gradient dtype"):
            optim.SGD([W], lr=0.1).step()


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda p: optim.SGD([{"params": p[:1], "lr": -2.0}], lr=0.1), "Invalid learning rate: -2"),
    (lambda p: optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    (lambda p: optim.SGD([p[0], p[0]], lr=0.1), "duplicate parameters"),
])
def test_hyper_parameter_errors_match_torch(make, message):
    params = make_params(clnet, "float32")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(params)


def test_type_errors():
    W = make_params(clnet, "float32")[0]
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(W, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {W}}], lr=0.1)
    x = clnet.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([x * 2], lr=0.1)


def test_repr_lists_groups_like_torch():
    params = make_params(clnet, "float32")
    text = repr(optim.Adam(params, lr=0.1))
    assert text == repr(torch.optim.Adam(make_params(torch, "float32"), lr=0.1))


def test_empty_parameter_is_fine():
    p = clnet.nn.Parameter(clnet.zeros(0))
    p.grad = clnet.zeros(0)
    for name in ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"]:
        kwargs = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {}
        getattr(optim, name)([p], **kwargs).step()
    assert p.shape == (0,)


@pytest.mark.parametrize("opt_name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)),
                                             ("Adam", dict(lr=0.01))])
def test_trajectory_under_one_cycle_schedule(opt_name, kwargs):
    """Hyper-parameters changed between steps (lr, and SGD momentum / Adam beta1 by OneCycleLR)
    are read at every step, as in PyTorch."""
    cp, tp = make_params(clnet, "float32"), make_params(torch, "float32")
    copt = getattr(optim, opt_name)(cp, **kwargs)
    topt = getattr(torch.optim, opt_name)(tp, **kwargs)
    cs = optim.lr_scheduler.OneCycleLR(copt, max_lr=0.05, total_steps=STEPS)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=STEPS)
    for _ in range(STEPS - 1):
        for opt, params, lib in ((copt, cp, clnet), (topt, tp, torch)):
            opt.zero_grad()
            compute_grads(lib, params, "float32")
            opt.step()
        cs.step()
        ts.step()
        for c, t in zip(cp, tp):
            assert_close(c, t, rtol=RTOL32, atol=ATOL32)
