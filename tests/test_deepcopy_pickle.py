"""copy.deepcopy and pickle of tensors, Parameters, modules and optimizers, against torch's
behaviour (values compared exactly: copies move bytes)."""
import copy
import pickle

import numpy as np
import pytest
import torch

import clnet


def test_deepcopy_tensor_keeps_views_requires_grad_and_copies_grad():
    base = clnet.arange(12.0).reshape(3, 4)
    base.requires_grad = True
    base.grad = clnet.full((3, 4), 2.0)
    view = base.detach().t()
    a, v = copy.deepcopy([base, view])
    assert a.requires_grad and a.is_leaf and a._storage is not base._storage
    np.testing.assert_array_equal(a.detach().numpy(), base.detach().numpy())
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 4), 2.0, np.float32))
    assert a.grad._storage is not base.grad._storage
    # the view is a view of the copy (one storage copied once), as in torch
    assert v._storage is a._storage and v.stride() == view.stride()
    with clnet.no_grad():
        a[0, 1] = 50.0
    assert v[1, 0].item() == 50.0 and base[0, 1].item() == 1.0
    tb = torch.arange(12.0).reshape(3, 4)
    tc, tv = copy.deepcopy([tb, tb.t()])
    assert tv.untyped_storage().data_ptr() == tc.untyped_storage().data_ptr()


def test_deepcopy_refuses_non_leaves_like_torch():
    x = clnet.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2)
    tx = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(tx * 2)


@pytest.mark.parametrize("requires_grad", [True, False])
def test_deepcopy_parameter_stays_a_parameter_without_grad(requires_grad):
    p = clnet.nn.Parameter(clnet.ones(3), requires_grad=requires_grad)
    p.grad = clnet.ones(3) if requires_grad else None
    q = copy.deepcopy(p)
    tp = torch.nn.Parameter(torch.ones(3), requires_grad=requires_grad)
    tp.grad = torch.ones(3) if requires_grad else None
    tq = copy.deepcopy(tp)
    assert type(q) is clnet.nn.Parameter and q.requires_grad == tq.requires_grad
    assert q.grad is None and tq.grad is None        # torch drops a Parameter's grad
    assert q._storage is not p._storage and q.tolist() == [1.0] * 3


def test_deepcopy_module_and_optimizer_are_independent_copies():
    model = clnet.nn.Sequential(clnet.nn.Linear(3, 4), clnet.nn.Tanh(), clnet.nn.Linear(4, 2))
    opt = clnet.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = clnet.randn(5, 3)
    model(x).sum().backward()
    opt.step()
    m2, o2 = copy.deepcopy((model, opt))
    np.testing.assert_array_equal(m2(x).detach().numpy(), model(x).detach().numpy())
    for p, q in zip(model.parameters(), m2.parameters()):
        assert type(q) is clnet.nn.Parameter and q is not p and q._storage is not p._storage
    # the copied optimizer steps the copied model's parameters with the copied momentum
    assert all(any(q is r for r in m2.parameters()) for q in o2.param_groups[0]["params"])
    assert len(o2.state) == 4
    before = model[0].weight.detach().numpy().copy()
    m2(x).sum().backward()
    o2.step()
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)
    assert not np.array_equal(m2[0].weight.detach().numpy(), before)


def test_deepcopy_keeps_tied_weights_tied():
    emb = clnet.nn.Embedding(5, 3)
    head = clnet.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    m = clnet.nn.ModuleList([emb, head])
    c = copy.deepcopy(m)
    assert c[0].weight is c[1].weight and c[0].weight is not emb.weight


def test_pickle_round_trips_tensors_views_parameters_and_modules():
    base = clnet.arange(12, dtype=clnet.int64).reshape(3, 4)
    p = clnet.nn.Parameter(clnet.randn(2, 2))
    b = clnet.tensor([True, False])
    f64 = clnet.tensor([1e-300, -2.5], dtype=clnet.float64)
    r = pickle.loads(pickle.dumps([base, base[1:, ::2], p, b, f64, clnet.zeros(0)]))
    assert r[0].dtype is clnet.int64 and r[0].tolist() == base.tolist()
    assert r[1]._storage is r[0]._storage and r[1].tolist() == [[4, 6], [8, 10]]
    assert type(r[2]) is clnet.nn.Parameter and r[2].requires_grad
    np.testing.assert_array_equal(r[2].detach().numpy(), p.detach().numpy())
    assert r[3].dtype is clnet.bool and r[3].tolist() == [True, False]
    assert r[4].tolist() == [1e-300, -2.5] and r[5].shape == (0,)
    model = clnet.nn.Sequential(clnet.nn.Conv2d(1, 2, 3), clnet.nn.ReLU(), clnet.nn.Flatten())
    x = clnet.randn(1, 1, 5, 5)
    m2 = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(m2(x).detach().numpy(), model(x).detach().numpy())
    assert m2[0].weight._storage is not model[0].weight._storage


def test_every_dtype_pickles_by_name():
    import pickle
    for dt in (clnet.bool, clnet.float32, clnet.float64, clnet.int32, clnet.int64):
        assert pickle.loads(pickle.dumps(dt)) is dt


def test_torch_module_paths_of_identity_and_multihead_attention():
    from clnet.nn.modules.activation import MultiheadAttention
    from clnet.nn.modules.linear import Identity
    assert MultiheadAttention is clnet.nn.MultiheadAttention and Identity is clnet.nn.Identity
