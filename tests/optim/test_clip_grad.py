"""Gradient clipping and zeroing on the multi-tensor kernels, against torch.nn.utils: every norm
type of clip_grad_norm_ / get_total_norm, clip_grads_with_norm_, clip_grad_value_, mixed dtypes
and layouts, empty and non-finite gradients, and the launch counts (a few launches whatever the
number of gradients, no host read; zero_grad one launch)."""
import math

import numpy as np
import pytest
import torch

import clnet
from clnet.kernels import multi_tensor
from clnet.nn import utils
from tests.helpers import assert_close

SHAPES = [(3, 4), (5,), (), (2, 1, 3), (65,), (127,)]
NORM_TYPES = [2.0, 1.0, math.inf, -math.inf, 0.0, 3.5, 0.5]


def _pairs(seed, shapes=SHAPES, dtype="float32", scale=1.0, zero=()):
    """Parameters with the same gradients in clnet and torch (gradient i zero if i in zero)."""
    rng = np.random.default_rng(seed)
    cl, th = [], []
    for i, shape in enumerate(shapes):
        g = (rng.standard_normal(shape) * scale).astype(np.float32)
        if i in zero:
            g[...] = 0
        p = clnet.nn.Parameter(clnet.zeros(shape, dtype=getattr(clnet, dtype)))
        p.grad = clnet.tensor(g).to(getattr(clnet, dtype))
        q = torch.nn.Parameter(torch.zeros(shape, dtype=getattr(torch, dtype)))
        q.grad = torch.tensor(g).to(getattr(torch, dtype))
        cl.append(p)
        th.append(q)
    return cl, th


@pytest.mark.parametrize("foreach", [None, False])
@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [0.5, 1e4])      # clipping, and a coefficient of 1
def test_clip_grad_norm_every_norm_type_matches_torch(norm_type, max_norm, foreach):
    cl, th = _pairs(1, zero=(1,))      # a zero gradient: not counted by the 0-"norm"
    total = utils.clip_grad_norm_(cl, max_norm, norm_type, foreach=foreach)
    want = torch.nn.utils.clip_grad_norm_(th, max_norm, norm_type)
    assert isinstance(total, clnet.Tensor) and total.shape == () and total.dtype is clnet.float32
    assert_close(total, want, rtol=1e-5)
    for p, q in zip(cl, th):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_get_total_norm_and_clip_grads_with_norm(norm_type):
    cl, th = _pairs(2, scale=3.0)
    total = utils.get_total_norm([p.grad for p in cl], norm_type)
    want = torch.nn.utils.get_total_norm([q.grad for q in th], norm_type)
    assert_close(total, want, rtol=1e-5)
    utils.clip_grads_with_norm_(cl, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(th, 1.0, want)
    for p, q in zip(cl, th):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_clip_grad_norm_other_dtypes(dtype):
    if dtype == "float64" and not clnet.default_device().has_fp64:
        pytest.skip("device has no float64")
    cl, th = _pairs(3, dtype=dtype, scale=2.0)
    total = utils.clip_grad_norm_(cl, 1.0)
    want = torch.nn.utils.clip_grad_norm_(th, 1.0)
    assert total.dtype is getattr(clnet, dtype)       # torch's: the gradients' dtype
    tol = 1e-12 if dtype == "float64" else 1e-2
    np.testing.assert_allclose(total.to(clnet.float64).item(), want.double().item(), rtol=tol,
                               atol=tol)
    for p, q in zip(cl, th):
        np.testing.assert_allclose(p.grad.to(clnet.float64).numpy(), q.grad.double().numpy(),
                                   rtol=tol, atol=tol)


def test_mixed_dtypes_and_layouts():
    """float32 + float64 (+ float16) gradients, one non-contiguous, one at a storage offset:
    the total in the promoted dtype, each gradient scaled in its own."""
    dev = clnet.default_device()
    rng = np.random.default_rng(4)
    dts = ["float32", "float16"] + (["float64"] if dev.has_fp64 else [])
    cl, th = [], []
    for i, dt in enumerate(dts * 2):
        g = rng.standard_normal((6, 5)).astype(np.float32) * 2
        p = clnet.nn.Parameter(clnet.zeros(5, 6, dtype=getattr(clnet, dt)).t())
        if i == 0:
            p.grad = clnet.tensor(g.T.copy()).t()                 # non-contiguous
        elif i == 1:
            big = clnet.tensor(np.concatenate([np.ones(7, np.float32), g.ravel()]))
            p.grad = big.to(clnet.float16)[7:].view(6, 5)           # at storage offset 7
            assert p.grad.storage_offset() == 7
        else:
            p.grad = clnet.tensor(g).to(getattr(clnet, dt))
        cl.append(p)
        q = torch.nn.Parameter(torch.zeros(6, 5, dtype=getattr(torch, dt)))
        q.grad = torch.tensor(g).to(q.dtype)
        th.append(q)
    total = utils.clip_grad_norm_(cl, 1.0)
    want = torch.nn.utils.clip_grad_norm_(th, 1.0)
    assert total.dtype is getattr(clnet, want.dtype.__str__().split(".")[1])
    assert_close(total, want, rtol=1e-3)
    for p, q in zip(cl, th):
        assert p.grad.dtype is getattr(clnet, str(q.grad.dtype).split(".")[1])
        assert_close(p.grad.to(clnet.float32), q.grad.float(), rtol=2e-3, atol=2e-3)


def test_a_few_launches_whatever_the_number_of_gradients():
    """40 float32 gradients: one partial-norm launch per chunk of K, one finish, one scale per
    chunk; no read back (a host read would need a capture's refusal; here: launches only)."""
    dev = clnet.default_device()
    k = multi_tensor.chunk_size(dev, 1)
    cl, th = _pairs(5, shapes=[(3 + i,) for i in range(40)], scale=3.0)
    dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
    before = dev.launches
    total = utils.clip_grad_norm_(cl, 1.0)
    assert dev.launches - before == 2 * math.ceil(40 / k) + 1
    assert_close(total, torch.nn.utils.clip_grad_norm_(th, 1.0), rtol=1e-5)
    for p, q in zip(cl, th):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)


def test_empty_gradients():
    cl, th = _pairs(6, shapes=[(0,), (4,), (0, 3)])
    for norm_type in (2.0, 1.0, 0.0, 3.0):
        assert_close(utils.get_total_norm([p.grad for p in cl], norm_type),
                     torch.nn.utils.get_total_norm([q.grad for q in th], norm_type), rtol=1e-6)
    for norm_type in (math.inf, -math.inf):
        with pytest.raises(RuntimeError, match="empty gradient"):
            utils.get_total_norm([p.grad for p in cl], norm_type)
    only_empty, _ = _pairs(6, shapes=[(0,)])
    assert float(utils.clip_grad_norm_(only_empty, 1.0).item()) == 0.0
    assert float(utils.clip_grad_norm_([clnet.nn.Parameter(clnet.ones(2))], 1.0).item()) == 0.0


def test_nonfinite_norm():
    cl, th = _pairs(7)
    cl[0].grad = clnet.tensor(np.full((3, 4), np.inf, np.float32))
    th[0].grad = torch.full((3, 4), np.inf)
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from "
                                           "`parameters` is non-finite"):
        utils.clip_grad_norm_(cl, 1.0, error_if_nonfinite=True)
    assert np.isfinite(cl[1].grad.numpy()).all()          # nothing scaled before the error
    total = utils.clip_grad_norm_(cl, 1.0)
    want = torch.nn.utils.clip_grad_norm_(th, 1.0)
    assert math.isinf(total.item()) and math.isinf(want.item())
    for p, q in zip(cl, th):
        np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(q.grad.numpy()))
    nan, tnan = _pairs(8)
    nan[2].grad = clnet.tensor(np.float32("nan"))
    tnan[2].grad = torch.tensor(float("nan"))
    for norm_type in (math.inf, -math.inf, 2.0):
        assert math.isnan(utils.get_total_norm([p.grad for p in nan], norm_type).item())
        assert math.isnan(torch.nn.utils.get_total_norm([q.grad for q in tnan], norm_type))


def test_empty_generator_warns_as_in_torch():
    with pytest.warns(UserWarning, match="empty generator"):
        assert utils.clip_grad_norm_((p for p in []), 1.0).item() == 0.0


@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_value_matches_torch_nan_kept(foreach):
    cl, th = _pairs(9, scale=3.0)
    cl[0].grad[0, 0] = float("nan")
    th[0].grad[0, 0] = float("nan")
    assert utils.clip_grad_value_(cl, 0.7, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(th, 0.7)
    for p, q in zip(cl, th):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())     # NaN where torch has it


def test_zero_grad_is_one_launch():
    """Optimizer.zero_grad and Module.zero_grad with set_to_none=False: one fill for all the
    gradients of one device and dtype (up to K of them)."""
    dev = clnet.default_device()
    model = clnet.nn.Sequential(clnet.nn.Linear(8, 6), clnet.nn.Tanh(), clnet.nn.Linear(6, 6),
                                clnet.nn.Tanh(), clnet.nn.Linear(6, 2))
    opt = clnet.optim.SGD(model.parameters(), lr=0.1)
    for zero in (lambda: opt.zero_grad(set_to_none=False),
                 lambda: model.zero_grad(set_to_none=False)):
        model(clnet.ones(3, 8)).sum().backward()
        grads = [p.grad for p in model.parameters()]
        versions = [g._version for g in grads]
        dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
        before = dev.launches
        zero()
        assert dev.launches - before == 1
        assert [p.grad for p in model.parameters()] == grads        # the same tensors, zeroed
        assert all(not g.numpy().any() for g in grads)
        assert all(g._version > v for g, v in zip(grads, versions))


def test_zero_grad_mixed_dtypes_and_a_strided_gradient():
    dev = clnet.default_device()
    a = clnet.nn.Parameter(clnet.ones(4, 3))
    a.grad = clnet.ones(3, 4).t()                          # strided: zeroed on its own
    b = clnet.nn.Parameter(clnet.ones(5, dtype=clnet.float16))
    b.grad = clnet.ones(5, dtype=clnet.float16)
    c = clnet.nn.Parameter(clnet.ones(0))
    c.grad = clnet.ones(0)
    d = clnet.nn.Parameter(clnet.ones(7))
    d.grad = clnet.ones(7)
    opt = clnet.optim.SGD([a, b, c, d], lr=0.1)
    dev.synchronize()     # queued small ops (kernels/chain.py) launch now, uncounted
    before = dev.launches
    opt.zero_grad(set_to_none=False)
    assert dev.launches - before == 3     # float32 (c and d), float16, the strided one
    for p in (a, b, c, d):
        assert not p.grad.numpy().any()
    assert not a.grad.is_contiguous()
