"""Sparse COO arithmetic, dense @ sparse through the Tensor side, and conversions, against torch:
dense + sparse (dense, no broadcasting, dtype promoted), sparse + sparse (sparse; coalesced when
both were), sparse * / number and -sparse (same structure), torch's errors for sparse + dense,
``x @ s`` / ``x.mm(s)`` / ``x.matmul(s)``, ``to`` / ``cpu`` / ``cuda`` / ``float`` /
``double``, ``requires_grad_`` / ``detach``, and the GCN example's adjacency normalisation end
to end. Values and gradients (to the dense side and to the values) within float32 rtol/atol
1e-5 (sums of a few float32 terms); indices, nnz, dtypes and coalesced flags exactly."""
import numpy as np
import pytest
import torch

import clnet

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")
HAS_FP64 = clnet.default_device().has_fp64
TOL = dict(rtol=1e-5, atol=1e-5)


def close(a, b, **tol):
    if hasattr(b, "detach"):
        b = b.detach().numpy()
    np.testing.assert_allclose(np.asarray(a.detach().numpy(), np.float64),
                               np.asarray(b, np.float64), **(tol or TOL))


def both(rng, size, nnz, requires_grad=False, coalesce=False, dtype=np.float32, dense=()):
    """The same COO tensor (with duplicate entries) in clnet and torch, and its two value
    tensors (the autograd leaves)."""
    idx = np.stack([rng.integers(0, n, nnz) for n in size]).astype(np.int64)
    if nnz > 2:
        idx[:, -1] = idx[:, 0]                  # a duplicate
    vals = rng.standard_normal((nnz,) + dense).astype(np.float32)
    if dtype is not np.float32:
        vals = (vals * 3).astype(dtype)
    cv = clnet.tensor(vals, requires_grad=requires_grad)
    tv = torch.tensor(vals, requires_grad=requires_grad)
    s = clnet.sparse_coo_tensor(clnet.tensor(idx), cv, size + dense)
    ts = torch.sparse_coo_tensor(torch.tensor(idx), tv, size + dense)
    if coalesce:
        s, ts = s.coalesce(), ts.coalesce()
    return s, cv, ts, tv


def same_sparse(s, ts):
    """Same structure and values, entry by entry."""
    assert s.is_sparse and ts.is_sparse
    assert tuple(s.shape) == tuple(ts.shape) and s.dtype.name == str(ts.dtype).split(".")[1]
    assert s.is_coalesced() == ts.is_coalesced() and s._nnz() == ts._nnz()
    np.testing.assert_array_equal(s._indices().numpy(), ts._indices().numpy())
    close(s._values(), ts._values())


def backward_both(y, ty, rng):
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    if getattr(ty, "is_sparse", False):
        y, ty = y.to_dense(), ty.to_dense()
    (y * clnet.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()


# --------------------------------------------------------------------------- dense + sparse
@pytest.mark.parametrize("size,nnz", [((5, 7), 12), ((1, 1), 3), ((13, 65), 90), ((9,), 4)])
@pytest.mark.parametrize("op", ["+", "-"])
def test_dense_plus_sparse_values_and_gradients(rng, size, nnz, op):
    s, cv, ts, tv = both(rng, size, nnz, requires_grad=True)
    da = rng.standard_normal(size).astype(np.float32)
    d, td = clnet.tensor(da, requires_grad=True), torch.tensor(da, requires_grad=True)
    y, ty = (d + s, td + ts) if op == "+" else (d - s, td - ts)
    assert not y.is_sparse and ty.layout is torch.strided
    close(y, ty)
    backward_both(y, ty, rng)
    close(d.grad, td.grad)
    close(cv.grad, tv.grad)         # one gradient per entry, duplicates included


def test_dense_plus_sparse_promotes_and_takes_strided_dense(rng):
    # the GCN's torch.eye(V) + an int64 adjacency: float32, entries added (duplicates summed)
    s, _, ts, _ = both(rng, (6, 6), 10, dtype=np.int64)
    assert s.dtype is clnet.int64
    y, ty = clnet.eye(6) + s, torch.eye(6) + ts
    assert y.dtype is clnet.float32 and ty.dtype is torch.float32
    close(y, ty)
    # a transposed (non-contiguous) dense side and a hybrid sparse one (values of shape (3,))
    s, cv, ts, tv = both(rng, (4,), 5, requires_grad=True, dense=(3,))
    da = rng.standard_normal((3, 4)).astype(np.float32)
    d, td = clnet.tensor(da, requires_grad=True), torch.tensor(da, requires_grad=True)
    y, ty = d.t() + s, td.t() + ts
    close(y, ty)
    backward_both(y, ty, rng)
    close(d.grad, td.grad)
    close(cv.grad, tv.grad)


def test_sparse_plus_dense_and_numbers_raise_torchs_errors(rng):
    s, _, ts, _ = both(rng, (2, 3), 4)
    d, td = clnet.ones(2, 3), torch.ones(2, 3)
    cases = [(lambda a, b: a + b, (s, d), (ts, td)), (lambda a, b: a - b, (s, d), (ts, td)),
             (lambda a, b: a + b, (s, 1), (ts, 1)), (lambda a, b: a + b, (1.5, s), (1.5, ts)),
             (lambda a, b: a - b, (1, s), (1, ts)), (lambda a, b: a + b, (s, 2.0), (ts, 2.0)),
             (lambda a, b: a + b, (clnet.ones(3), s), (torch.ones(3), ts)),
             (lambda a, b: a + b, (clnet.ones(1, 3), s), (torch.ones(1, 3), ts))]
    for f, ours, theirs in cases:
        with pytest.raises(RuntimeError) as torch_err:
            f(*theirs)
        with pytest.raises(RuntimeError) as err:
            f(*ours)
        assert str(err.value) == str(torch_err.value).split("\n")[0]


# --------------------------------------------------------------------------- sparse + sparse
@pytest.mark.parametrize("coalesce", [True, False])
@pytest.mark.parametrize("size,n1,n2", [((5, 7), 12, 6), ((1, 1), 2, 3), ((13, 65), 40, 70)])
def test_sparse_plus_sparse(rng, coalesce, size, n1, n2):
    a, av, ta, tav = both(rng, size, n1, requires_grad=True, coalesce=coalesce)
    b, bv, tb, tbv = both(rng, size, n2, requires_grad=True, coalesce=coalesce)
    y, ty = a + b, ta + tb
    assert y.is_sparse and y.is_coalesced() == ty.is_coalesced() == coalesce
    if coalesce:        # torch merges two coalesced operands: the same entries, in order
        same_sparse(y, ty)
    else:               # uncoalesced: the same tensor, entries may be split differently
        close(y.to_dense(), ty.to_dense())
        same_sparse(y.coalesce(), ty.coalesce())
    backward_both(y, ty, rng)
    close(av.grad, tav.grad)
    close(bv.grad, tbv.grad)
    z, tz = a - b, ta - tb
    close(z.to_dense(), tz.to_dense())
    z, tz = a.add(b, alpha=2.5), ta.add(tb, alpha=2.5)
    close(z.to_dense(), tz.to_dense())


def test_sparse_plus_sparse_promotes_and_checks_sizes(rng):
    a, _, ta, _ = both(rng, (3, 4), 5)
    b, _, tb, _ = both(rng, (3, 4), 5, dtype=np.int64)
    y, ty = b + a, tb + ta
    assert y.dtype is clnet.float32 and ty.dtype is torch.float32
    close(y.to_dense(), ty.to_dense())
    c, _, tc, _ = both(rng, (4, 4), 3)
    h, _, th, _ = both(rng, (3,), 2, dense=(4,))
    for ours, theirs in [((a, c), (ta, tc)), ((a, h), (ta, th))]:
        with pytest.raises(RuntimeError) as torch_err:
            theirs[0] + theirs[1]
        with pytest.raises(RuntimeError) as err:
            ours[0] + ours[1]
        assert str(err.value) == str(torch_err.value)


# --------------------------------------------------------------------------- scaling
SCALINGS = {
    "s * 2.5": lambda lib, s: s * 2.5,
    "3 * s": lambda lib, s: 3 * s,
    "s / 4": lambda lib, s: s / 4,
    "-s": lambda lib, s: -s,
    "s * 0-d": lambda lib, s: s * lib.tensor(-1.5),
    "s.mul(2)": lambda lib, s: s.mul(2),
    "s.div(0-d)": lambda lib, s: s.div(lib.tensor(0.5)),
}


@pytest.mark.parametrize("how", list(SCALINGS))
@pytest.mark.parametrize("coalesce", [True, False])
def test_scaling_keeps_structure(rng, how, coalesce):
    s, cv, ts, tv = both(rng, (7, 5), 9, requires_grad=True, coalesce=coalesce)
    y, ty = SCALINGS[how](clnet, s), SCALINGS[how](torch, ts)
    same_sparse(y, ty)
    backward_both(y, ty, rng)
    close(cv.grad, tv.grad)


def test_scaling_integer_values_promotes_like_torch(rng):
    s, _, ts, _ = both(rng, (4, 3), 5, dtype=np.int64)
    for f in (lambda x: x / 2, lambda x: x * 2.5, lambda x: x * 3, lambda x: -x):
        y, ty = f(s), f(ts)
        assert y.dtype.name == str(ty.dtype).split(".")[1]
        same_sparse(y, ty)


def test_unsupported_arithmetic_names_the_op(rng):
    s, _, _, _ = both(rng, (2, 3), 3)
    for call, op in [(lambda: s * clnet.ones(2, 3), "mul"), (lambda: s * s, "mul"),
                     (lambda: 2 / s, "truediv"), (lambda: s ** 2, "pow"),
                     (lambda: s / clnet.ones(3), "div")]:
        with pytest.raises(RuntimeError, match=f"{op}.*sparse"):
            call()
    with pytest.raises(TypeError, match="mul: unsupported operand type str"):
        s.mul("a")


# --------------------------------------------------------------------------- dense @ sparse
MATMULS = {
    "@": lambda x, s: x @ s,
    "x.mm(s)": lambda x, s: x.mm(s),
    "x.matmul(s)": lambda x, s: x.matmul(s),
}


@pytest.mark.parametrize("how", list(MATMULS))
@pytest.mark.parametrize("M,K,N,nnz", [(3, 5, 7, 12), (1, 1, 1, 2), (17, 13, 65, 90)])
def test_dense_at_sparse_through_the_tensor(rng, how, M, K, N, nnz):
    s, cv, ts, tv = both(rng, (K, N), nnz, requires_grad=True)
    xa = rng.standard_normal((K, M)).astype(np.float32)
    x, tx = clnet.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y, ty = MATMULS[how](x.t(), s), MATMULS[how](tx.t(), ts)       # a strided dense side
    close(y, ty)
    backward_both(y, ty, rng)
    close(x.grad, tx.grad)
    close(cv.grad, tv.grad)


def test_tensor_methods_still_multiply_dense_and_refuse_other_types(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    close(clnet.tensor(a).mm(clnet.tensor(b)), a @ b)
    close(clnet.tensor(a).matmul(clnet.tensor(b[:, 0])), a @ b[:, 0])
    with pytest.raises(TypeError):
        clnet.tensor(a) @ np.ones((4, 2), np.float32).tolist()


def test_degree_at_adjacency_at_degree(rng):
    # D @ A @ D with D sparse or dense and A dense or sparse: gradients to all three
    n = 9
    a = (rng.random((n, n)) < 0.3).astype(np.float32) + np.eye(n, dtype=np.float32)
    dg = rng.random(n).astype(np.float32) + 0.5
    res = {}
    for lib in (clnet, torch):
        A = lib.tensor(a, requires_grad=True)
        g = lib.tensor(dg, requires_grad=True)
        D = lib.diag(g).to_sparse()
        As = A.to_sparse()
        out1 = D @ A @ D                # sparse @ dense, then dense @ sparse
        out2 = lib.diag(g) @ As @ D     # dense @ sparse, then dense @ sparse
        (out1 * 2 + out2).sum().backward()
        res[lib.__name__] = (out1, out2, A.grad, g.grad)
    for x, y in zip(res["clnet"][:2] + res["clnet"][3:], res["torch"][:2] + res["torch"][3:]):
        close(x, y)
    # clnet's gradients reach a sparse tensor through its values, so what reaches A through
    # A.to_sparse() is torch's (dense, unmasked) gradient at A's non-zeros
    mask = a != 0
    close(res["clnet"][2] * clnet.tensor(mask.astype(np.float32)),
          res["torch"][2] * torch.tensor(mask))


# --------------------------------------------------------------------------- conversions
def test_to_dtype_and_device(rng):
    s, cv, ts, tv = both(rng, (5, 4), 7, requires_grad=True)
    assert s.to(s.device) is s and s.to(clnet.float32) is s and s.cpu() is s
    assert s.is_cpu == ts.is_cpu and s.is_cuda is False
    dt, tdt = (clnet.float64, torch.float64) if HAS_FP64 else (clnet.float16, torch.float16)
    for y, ty in [(s.to(dt), ts.to(tdt)), (s.to(dtype=dt), ts.to(dtype=tdt)),
                  (s.to(s.device, dt), ts.to("cpu", tdt)),
                  (s.double() if HAS_FP64 else s.half(), ts.double() if HAS_FP64 else ts.half())]:
        same_sparse(y, ty)
        assert y._indices() is s._indices()         # the structure is shared, not copied
    y = s.to(clnet.int64)
    assert y.dtype is clnet.int64 and y.long() is y
    same_sparse(y.float(), ts.to(torch.int64).float())
    # differentiable in the values, as a dense tensor's to(dtype)
    y, ty = s.to(dt) * 2, ts.to(tdt) * 2
    y.to_dense().float().sum().backward()
    ty.to_dense().float().sum().backward()
    close(cv.grad, tv.grad)
    assert s.to(dt, copy=True)._values() is not s._values()


def test_cuda_moves_to_a_gpu_or_raises_like_dense_tensors(rng):
    s, _, ts, _ = both(rng, (4, 6), 5)
    if clnet.cuda.is_available():
        g = s.cuda()
        assert g.is_cuda and g._indices().is_cuda and g.is_coalesced() == s.is_coalesced()
        x = clnet.ones(3, 4, device=g.device)
        close((x @ g).cpu(), torch.ones(3, 4) @ ts)
        back = g.cpu()
        assert back.device == s.device
        same_sparse(back, ts)
        same_sparse(s.to(g.device).to(s.device).coalesce(), ts.coalesce())
    else:
        with pytest.raises(clnet.DeviceError) as dense_err:
            clnet.ones(1).cuda()
        with pytest.raises(clnet.DeviceError) as err:
            s.cuda()
        assert str(err.value) == str(dense_err.value)
        with pytest.raises(clnet.DeviceError):
            s.to("cuda")


def test_requires_grad_detach_clone(rng):
    s, _, ts, _ = both(rng, (3, 3), 4)
    assert not s.requires_grad
    assert s.requires_grad_() is s and s.requires_grad and s.is_leaf
    y = (clnet.ones(2, 3) @ s).sum()
    y.backward()
    g = s.grad
    assert g.is_sparse and g._nnz() == s._nnz()
    ts.requires_grad_()
    (torch.ones(2, 3) @ ts).sum().backward()
    # torch's gradient of a sparse leaf is dense; clnet's is sparse, at the leaf's entries
    np.testing.assert_array_equal(g._indices().numpy(), ts._indices().numpy())
    close(g._values(), ts.grad[tuple(ts._indices())])
    d = s.detach()
    assert not d.requires_grad and d._values() is not s._values()
    c = s.clone()
    same_sparse(c, ts.clone())
    assert c._indices() is not s._indices()


# --------------------------------------------------------------------------- the GCN example
def test_gcn_adjacency_normalisation_matches_torch(rng):
    # pytorch/examples gcn/main.py's load_cora, on a small random graph
    V, F = 12, 5
    edges = np.stack([rng.integers(0, V, 30), rng.integers(0, V, 30)]).astype(np.int64)
    words = (rng.random((V, F)) < 0.4).astype(np.int32)
    words[0] = 0                                # a node with no words: 1 / 0 -> inf -> 0
    out = {}
    for lib in (clnet, torch):
        features = lib.FloatTensor(words)
        scale = 1 / lib.sum(features, dim=1)
        scale[scale == float("inf")] = 0
        features = lib.diag(scale).to_sparse() @ features
        E = edges.shape[1]
        adj = lib.sparse_coo_tensor(edges, lib.ones(E), (V, V), dtype=lib.int64)
        adj = lib.eye(V) + adj
        deg = lib.sqrt(1 / lib.sum(adj, dim=1))
        deg[deg == float("inf")] = 0
        deg = lib.diag(deg).to_sparse()
        adj = deg @ adj @ deg
        out[lib.__name__] = (features.to_sparse().to("cpu"), adj.to_sparse().to("cpu"))
    for a, b in zip(out["clnet"], out["torch"]):
        same_sparse(a, b)
