"""clnet.optim.LBFGS against torch.optim.LBFGS: parameter trajectories on a quadratic, the
Rosenbrock function and a small MLP regression, with a fixed step and with the strong-Wolfe line
search; the time-series example's LSTMCell + closure pattern; state_dict round trips; errors.

Tolerances: float64 trajectories agree within 1e-9 (relative; the only differences are the
summation order of the device's dot products). float32 single steps agree to a few ulps; over
several iterations L-BFGS amplifies them, so float32 runs are compared on well-conditioned
problems within rtol 1e-4 / atol 1e-5. Rosenbrock with a fixed step is chaotic in float32 (it is
compared in float64 only, where the device has float64).
"""
import numpy as np
import pytest
import torch

import clnet
from clnet.optim import LBFGS

HAS_FP64 = clnet.default_device().has_fp64
DTYPES = ["float32"] + (["float64"] if HAS_FP64 else [])
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-9, atol=1e-11)}
LINE_SEARCH = [None, "strong_wolfe"]


def assert_close(actual, expected, rtol, atol):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol)


def _np(dtype):
    return np.float32 if dtype == "float32" else np.float64


def trajectory(lib, fn, x0, dtype, steps, **kw):
    """Run ``steps`` LBFGS steps of ``fn(lib, x)`` from x0 (a list of arrays); returns the
    parameters after each step, the losses step() returned and the optimizer."""
    params = [lib.tensor(np.asarray(a, _np(dtype)), dtype=getattr(lib, dtype),
                         requires_grad=True) for a in x0]
    opt = (LBFGS if lib is clnet else torch.optim.LBFGS)(params, **kw)

    def closure():
        opt.zero_grad()
        loss = fn(lib, *params)
        loss.backward()
        return loss

    traj, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, losses, opt


def compare(fn, x0, dtype, steps, **kw):
    a, la, oa = trajectory(clnet, fn, x0, dtype, steps, **kw)
    b, lb, ob = trajectory(torch, fn, x0, dtype, steps, **kw)
    for sa, sb in zip(a, b):
        for pa, pb in zip(sa, sb):
            assert_close(pa, pb, **TOL[dtype])
    assert_close(np.array(la), np.array(lb), **TOL[dtype])
    sa, sb = oa.state[oa._params[0]], ob.state[ob._params[0]]
    assert sa["n_iter"] == sb["n_iter"] and sa["func_evals"] == sb["func_evals"]
    return oa


# --------------------------------------------------------------------------- problems
_rng = np.random.default_rng(7)
_M = _rng.uniform(-1, 1, (7, 7))
QA = _M @ _M.T + 0.5 * np.eye(7)           # SPD, condition number ~ 50
QB = _rng.uniform(-1, 1, 7)


def quadratic(lib, x):
    A = lib.tensor(QA.astype(x.detach().numpy().dtype), dtype=x.dtype)
    b = lib.tensor(QB.astype(x.detach().numpy().dtype), dtype=x.dtype)
    return 0.5 * (x * (A @ x)).sum() - (b * x).sum()


def rosenbrock(lib, x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
@pytest.mark.parametrize("dtype", DTYPES)
def test_quadratic_matches_torch(dtype, line_search_fn):
    # float32 stops short of the solution: near it the gradient is rounding noise, and the
    # stopping tests decide on that noise differently
    steps, max_iter = (3, 6) if dtype == "float64" else (2, 3)
    opt = compare(quadratic, [np.zeros(7)], dtype, steps, max_iter=max_iter,
                  lr=0.5 if line_search_fn is None else 1, line_search_fn=line_search_fn)
    if line_search_fn and dtype == "float64":      # converged to A^-1 b
        x = opt._params[0].detach().numpy()
        assert_close(x, np.linalg.solve(QA, QB).astype(x.dtype), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_rosenbrock_float64_matches_torch(line_search_fn):
    if not HAS_FP64:
        assert "float64" not in DTYPES      # covered by the float32 line-search test below
        return
    # with a fixed step the iteration amplifies rounding ~1000x per step: 4 steps stay in 1e-9
    opt = compare(rosenbrock, [np.array([-1.5, 2.0])], "float64", 4 if line_search_fn is None
                  else 5, max_iter=10, line_search_fn=line_search_fn)
    if line_search_fn:
        assert_close(opt._params[0].detach().numpy(), np.ones(2), rtol=0, atol=1e-4)


def test_rosenbrock_float32_strong_wolfe_first_steps():
    # each of the first iterations agrees to float32 rounding (max_iter=1 isolates them)
    compare(rosenbrock, [np.array([-1.5, 2.0])], "float32", 6, max_iter=1,
            line_search_fn="strong_wolfe")


def mlp_problem(lib, dtype):
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (13, 3)).astype(_np(dtype))
    Y = np.sin(X.sum(1, keepdims=True)).astype(_np(dtype))
    w1, b1 = rng.normal(0, 0.6, (5, 3)), rng.normal(0, 0.1, 5)
    w2, b2 = rng.normal(0, 0.6, (1, 5)), rng.normal(0, 0.1, 1)
    dt = getattr(lib, dtype)
    Xt, Yt = lib.tensor(X, dtype=dt), lib.tensor(Y, dtype=dt)

    def fn(lib_, w1, b1, w2, b2):
        h = lib.tanh(Xt @ w1.t() + b1)
        return ((h @ w2.t() + b2 - Yt) ** 2).mean()
    return fn, [w1, b1, w2, b2]


@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_regression_matches_torch(dtype, line_search_fn):
    fa, x0 = mlp_problem(clnet, dtype)
    fb, _ = mlp_problem(torch, dtype)
    kw = dict(max_iter=5, history_size=4, lr=0.5 if line_search_fn is None else 1,
              line_search_fn=line_search_fn)
    steps = 3 if dtype == "float64" else 2
    a, la, oa = trajectory(clnet, fa, x0, dtype, steps, **kw)
    b, lb, _ = trajectory(torch, fb, x0, dtype, steps, **kw)
    for sa, sb in zip(a, b):
        for pa, pb in zip(sa, sb):
            assert_close(pa, pb, **TOL[dtype])
    assert la[-1] < la[0]
    assert len(oa.state[oa._params[0]]["old_dirs"]) <= 4      # history_size bounds the memory


# --------------------------------------------------------------------------- the example
class Sequence:
    """PyTorch examples' time_sequence_prediction model, written once for either library."""

    def __init__(self, lib, hidden, dtype):
        self.lib, self.hidden, self.dtype = lib, hidden, dtype
        self.lstm1 = lib.nn.LSTMCell(1, hidden, dtype=dtype)
        self.lstm2 = lib.nn.LSTMCell(hidden, hidden, dtype=dtype)
        self.linear = lib.nn.Linear(hidden, 1, dtype=dtype)
        self.modules = [self.lstm1, self.lstm2, self.linear]

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def __call__(self, input, future=0):
        lib = self.lib
        outputs = []
        h_t = lib.zeros(input.size(0), self.hidden, dtype=self.dtype)
        c_t = lib.zeros(input.size(0), self.hidden, dtype=self.dtype)
        h_t2 = lib.zeros(input.size(0), self.hidden, dtype=self.dtype)
        c_t2 = lib.zeros(input.size(0), self.hidden, dtype=self.dtype)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):   # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return lib.cat(outputs, dim=1)


def test_time_sequence_prediction_pattern():
    dtype = "float64" if HAS_FP64 else "float32"
    rng = np.random.default_rng(2)
    T, L, N, H = 20, 12, 5, 9
    x = np.arange(L)[None, :] + rng.integers(-4 * T, 4 * T, N)[:, None]
    data = np.sin(x / 1.0 / T).astype(_np(dtype))
    losses, preds = {}, {}
    torch.manual_seed(0)
    ref = Sequence(torch, H, getattr(torch, dtype))
    init = [{k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
            for m in ref.modules]
    for lib in (torch, clnet):
        dt = getattr(lib, dtype)
        seq = ref if lib is torch else Sequence(clnet, H, dt)
        if lib is clnet:
            for m, sd in zip(seq.modules, init):
                m.load_state_dict({k: clnet.tensor(v, dtype=dt) for k, v in sd.items()})
        inp, target = lib.tensor(data[:, :-1], dtype=dt), lib.tensor(data[:, 1:], dtype=dt)
        criterion = lib.nn.MSELoss()
        optimizer = (LBFGS if lib is clnet else torch.optim.LBFGS)(seq.parameters(), lr=0.8,
                                                                   max_iter=6)
        out_losses = []
        for _ in range(2):
            def closure():
                optimizer.zero_grad()
                out = seq(inp)
                loss = criterion(out, target)
                out_losses.append(loss.item())
                loss.backward()
                return loss
            optimizer.step(closure)
        with lib.no_grad():
            preds[lib.__name__] = seq(inp, future=3).detach().numpy()
        losses[lib.__name__] = np.array(out_losses)
    tol = TOL[dtype] if dtype == "float64" else dict(rtol=1e-3, atol=1e-4)
    assert losses["clnet"].shape == losses["torch"].shape
    assert_close(losses["clnet"], losses["torch"], **tol)
    assert_close(preds["clnet"], preds["torch"], **tol)
    assert losses["clnet"][-1] < 0.5 * losses["clnet"][0]


# --------------------------------------------------------------------------- state and errors
@pytest.mark.parametrize("line_search_fn", LINE_SEARCH)
def test_state_dict_round_trip(tmp_path, line_search_fn):
    kw = dict(max_iter=3, history_size=3, line_search_fn=line_search_fn, lr=0.5)
    _, _, oa = trajectory(clnet, quadratic, [np.zeros(7)], "float32", 2, **kw)
    path = tmp_path / "lbfgs.clnet"
    clnet.save(oa.state_dict(), str(path))
    x = clnet.tensor(oa._params[0].detach().numpy(), requires_grad=True)
    ob = LBFGS([x], **kw)
    ob.load_state_dict(clnet.load(str(path)))
    sa, sb = oa.state[oa._params[0]], ob.state[x]
    assert sb["n_iter"] == sa["n_iter"] and len(sb["old_dirs"]) == len(sa["old_dirs"])
    for opt, p in ((oa, oa._params[0]), (ob, x)):
        def closure(opt=opt, p=p):
            opt.zero_grad()
            loss = quadratic(clnet, p)
            loss.backward()
            return loss
        opt.step(closure)
    np.testing.assert_array_equal(x.detach().numpy(), oa._params[0].detach().numpy())


def test_loads_torch_state_dict():
    # torch's state (0-d tensors for t, H_diag, ro; history lists) continues in clnet like in torch
    kw = dict(max_iter=3, history_size=3, lr=0.5)
    _, _, tb = trajectory(torch, quadratic, [np.zeros(7)], "float32", 2, **kw)
    x = clnet.tensor(tb._params[0].detach().numpy(), requires_grad=True)
    oa = LBFGS([x], **kw)
    oa.load_state_dict(tb.state_dict())
    for opt, lib, p in ((oa, clnet, x), (tb, torch, tb._params[0])):
        def closure(opt=opt, lib=lib, p=p):
            opt.zero_grad()
            loss = quadratic(lib, p)
            loss.backward()
            return loss
        opt.step(closure)
    assert_close(x.detach().numpy(), tb._params[0].detach().numpy(), **TOL["float32"])


def test_defaults_and_errors():
    p = clnet.zeros(3, requires_grad=True)
    opt = LBFGS([p])
    g = opt.param_groups[0]
    assert (g["lr"], g["max_iter"], g["max_eval"], g["tolerance_grad"], g["tolerance_change"],
            g["history_size"], g["line_search_fn"]) == (1, 20, 25, 1e-7, 1e-9, 100, None)
    assert LBFGS([p], max_iter=7).param_groups[0]["max_eval"] == 8
    with pytest.raises(ValueError, match="parameter groups"):
        LBFGS([{"params": [p]}, {"params": [clnet.zeros(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [clnet.zeros(2, requires_grad=True)]})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        LBFGS([p], lr=-1)
    with pytest.raises(ValueError, match="strong_wolfe"):
        LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(TypeError, match="closure"):
        opt.step()


def test_optimal_start_evaluates_once():
    # a zero gradient is optimal at once: one closure call, nothing moves (torch's rule)
    p = clnet.ones(4, requires_grad=True)
    calls = []
    opt = LBFGS([p])

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((p - 1) ** 2).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 0.0
    assert len(calls) == 1 and opt.state[p]["func_evals"] == 1
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(4, np.float32))
