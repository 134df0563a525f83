"""Sparse COO tensors against torch's: construction, coalesce (duplicates summed), to_dense /
to_sparse round trips, sparse @ dense in every spelling with gradients to both sides (values and
dense), odd sizes, empty nnz, sparse.sum, t(), a two-layer GCN, and the errors of dense ops
that meet a sparse tensor. float32 products agree within rtol 1e-5 / atol 1e-5 (the order of the
additions differs from torch's); structure (indices, nnz, sizes) exactly."""
import warnings

import numpy as np
import pytest
import torch

import clnet

warnings.filterwarnings("ignore", message="Sparse invariant checks")
HAS_FP64 = clnet.default_device().has_fp64
TOL = dict(rtol=1e-5, atol=1e-5)


def close(a, b, **tol):
    if hasattr(b, "detach"):
        b = b.detach().numpy()
    np.testing.assert_allclose(np.asarray(a.detach().numpy(), np.float64),
                               np.asarray(b, np.float64), **(tol or TOL))


def random_coo(rng, M, K, nnz, dup=True, dtype=np.float32):
    rows = rng.integers(0, M, nnz)
    cols = rng.integers(0, K, nnz)
    if dup and nnz > 2:       # force duplicates
        rows[-1], cols[-1] = rows[0], cols[0]
    return np.stack([rows, cols]).astype(np.int64), rng.standard_normal(nnz).astype(dtype)


def both(idx, vals, size, requires_grad=False):
    """The same COO tensor in clnet and torch, built from device tensors."""
    cv = clnet.tensor(vals, requires_grad=requires_grad)
    tv = torch.tensor(vals, requires_grad=requires_grad)
    return (clnet.sparse_coo_tensor(clnet.tensor(idx), cv, size), cv,
            torch.sparse_coo_tensor(torch.tensor(idx), tv, size), tv)


# --------------------------------------------------------------------------- construction
def test_construction_and_metadata(rng):
    idx, vals = random_coo(rng, 5, 7, 9)
    s, _, ts, _ = both(idx, vals, (5, 7))
    assert s.is_sparse and not clnet.ones(2).is_sparse
    assert s.layout is clnet.sparse_coo and clnet.ones(2).layout is clnet.strided
    assert repr(clnet.sparse_coo) == "clnet.sparse_coo" and repr(clnet.strided) == "clnet.strided"
    assert isinstance(clnet.sparse_coo, clnet.layout)
    assert tuple(s.shape) == tuple(ts.shape) and s.size(1) == 7 and s.dim() == 2
    assert (s.sparse_dim(), s.dense_dim(), s._nnz()) == (ts.sparse_dim(), ts.dense_dim(),
                                                         ts._nnz())
    assert s.is_coalesced() == ts.is_coalesced() is False
    np.testing.assert_array_equal(s._indices().numpy(), ts._indices().numpy())
    close(s._values(), ts._values())
    assert s._indices().dtype is clnet.int64
    # size inferred from the indices; host lists; nnz <= 1 counts as coalesced (torch's rule)
    s2 = clnet.sparse_coo_tensor([[0, 3], [1, 1]], [1.0, 2.0])
    assert tuple(s2.shape) == (4, 2)
    assert clnet.sparse_coo_tensor([[1], [2]], [3.0], (3, 3)).is_coalesced()
    assert repr(s2) == repr(torch.sparse_coo_tensor([[0, 3], [1, 1]], [1.0, 2.0])).replace(
        "torch.", "clnet.")


def test_hybrid_values_and_dtype():
    idx = np.array([[0, 2, 0]])
    vals = np.arange(6, dtype=np.float32).reshape(3, 2)
    s = clnet.sparse_coo_tensor(idx, vals, (4, 2))
    ts = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), (4, 2))
    assert (s.sparse_dim(), s.dense_dim()) == (1, 1)
    close(s.to_dense(), ts.to_dense())
    c, tc = s.coalesce(), ts.coalesce()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    close(c.values(), tc.values())
    si = clnet.sparse_coo_tensor([[0, 1]], [1, 2], (3,))
    assert si.dtype is clnet.int64
    assert "dtype=clnet.int64" in repr(si)


# --------------------------------------------------------------------------- coalesce
@pytest.mark.parametrize("M,K,nnz", [(5, 7, 20), (1, 1, 4), (13, 3, 1), (65, 17, 200)])
def test_coalesce_sums_duplicates(rng, M, K, nnz):
    idx, vals = random_coo(rng, M, K, nnz)
    s, cv, ts, tv = both(idx, vals, (M, K), requires_grad=True)
    if nnz > 1:
        with pytest.raises(RuntimeError, match="uncoalesced"):
            s.values()
    c, tc = s.coalesce(), ts.coalesce()
    assert c.is_coalesced() and c._nnz() == tc._nnz()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    close(c.values(), tc.values())
    assert c.coalesce() is c
    # the summed values are differentiable in the original ones
    w = rng.standard_normal(tc._nnz()).astype(np.float32)
    (c.values() * clnet.tensor(w)).sum().backward()
    (tc.values() * torch.tensor(w)).sum().backward()
    close(cv.grad, tv.grad)


# --------------------------------------------------------------------------- conversions
@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (3, 4, 5), (9,)])
def test_to_sparse_to_dense_round_trip(rng, shape):
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) < 0.6] = 0
    x = clnet.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    s, ts = x.to_sparse(), tx.to_sparse()
    assert s.is_coalesced() and s._nnz() == ts._nnz()
    np.testing.assert_array_equal(s.indices().numpy(), ts.indices().numpy())
    close(s.values(), ts.values())
    close(s.to_dense(), a)
    g = rng.standard_normal(shape).astype(np.float32)
    (s.to_dense() * clnet.tensor(g)).sum().backward()
    (ts.to_dense() * torch.tensor(g)).sum().backward()
    close(x.grad, tx.grad)          # the gradient reaches the dense input at its non-zeros


def test_to_sparse_hybrid_and_dense_with_duplicates(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    a[1] = 0
    s, ts = clnet.tensor(a).to_sparse(1), torch.tensor(a).to_sparse(1)
    np.testing.assert_array_equal(s.indices().numpy(), ts.indices().numpy())
    close(s.values(), ts.values())
    # to_dense of an uncoalesced tensor sums the duplicates
    idx, vals = random_coo(rng, 3, 5, 11)
    s, _, ts, _ = both(idx, vals, (3, 5))
    close(s.to_dense(), ts.to_dense())


def test_transpose(rng):
    idx, vals = random_coo(rng, 4, 6, 7)
    s, _, ts, _ = both(idx, vals, (4, 6))
    st, tst = s.t(), ts.t()
    assert tuple(st.shape) == (6, 4) and st.is_coalesced() == tst.is_coalesced()
    np.testing.assert_array_equal(st._indices().numpy(), tst._indices().numpy())
    close(st.to_dense(), tst.to_dense())
    close(s.transpose(0, 1).to_dense(), tst.to_dense())


# --------------------------------------------------------------------------- products
PRODUCTS = {
    "sparse.mm": lambda lib, s, x: lib.sparse.mm(s, x),
    "mm": lambda lib, s, x: lib.mm(s, x),
    "spmm": lambda lib, s, x: lib.spmm(s, x),
    "matmul": lambda lib, s, x: lib.matmul(s, x),
    "@": lambda lib, s, x: s @ x,
    "method": lambda lib, s, x: s.mm(x),
}


@pytest.mark.parametrize("how", list(PRODUCTS))
@pytest.mark.parametrize("M,K,N,nnz", [(5, 7, 3, 12), (1, 1, 1, 1), (13, 65, 17, 90),
                                       (66, 9, 2, 30)])
def test_spmm_values_and_gradients(rng, how, M, K, N, nnz):
    idx, vals = random_coo(rng, M, K, nnz)
    s, cv, ts, tv = both(idx, vals, (M, K), requires_grad=True)
    xa = rng.standard_normal((K, N)).astype(np.float32)
    x, tx = clnet.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y, ty = PRODUCTS[how](clnet, s, x), PRODUCTS[how](torch, ts, tx)
    close(y, ty)
    g = rng.standard_normal((M, N)).astype(np.float32)
    y.backward(clnet.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, tx.grad)
    close(cv.grad, tv.grad)


def test_spmm_noncontiguous_dense_and_dense_at_sparse(rng):
    idx, vals = random_coo(rng, 6, 5, 10)
    s, cv, ts, tv = both(idx, vals, (6, 5), requires_grad=True)
    xa = rng.standard_normal((4, 5)).astype(np.float32)
    x, tx = clnet.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y, ty = clnet.sparse.mm(s, x.t()), torch.sparse.mm(ts, tx.t())      # transposed dense
    close(y, ty)
    z, tz = clnet.mm(y.t(), s), torch.mm(ty.t(), ts)                      # dense @ sparse
    close(z, tz)
    z.sum().backward()
    tz.sum().backward()
    close(x.grad, tx.grad)
    close(cv.grad, tv.grad)
    v = rng.standard_normal(5).astype(np.float32)
    close(clnet.matmul(s, clnet.tensor(v)), torch.matmul(ts, torch.tensor(v)))


def test_empty_nnz():
    s = clnet.sparse_coo_tensor(clnet.zeros((2, 0), dtype=clnet.int64),
                                clnet.zeros(0, requires_grad=True), (4, 3))
    assert s._nnz() == 0 and s.is_coalesced()
    x = clnet.ones(3, 5, requires_grad=True)
    y = clnet.sparse.mm(s, x)
    np.testing.assert_array_equal(y.numpy(), np.zeros((4, 5), np.float32))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 5), np.float32))
    np.testing.assert_array_equal(s.to_dense().numpy(), np.zeros((4, 3), np.float32))
    assert clnet.zeros(2, 3).to_sparse()._nnz() == 0


def test_gradgradcheck_float64(rng):
    dt = clnet.float64 if HAS_FP64 else clnet.float32
    idx, vals = random_coo(rng, 4, 3, 6, dtype=np.float64)
    v = clnet.tensor(vals, dtype=dt, requires_grad=True)
    x = clnet.tensor(rng.standard_normal((3, 2)), dtype=dt, requires_grad=True)

    def f(v, x):
        return clnet.sparse.mm(clnet.sparse_coo_tensor(clnet.tensor(idx), v, (4, 3)), x) ** 2
    kw = {} if HAS_FP64 else dict(eps=1e-2, atol=1e-2, rtol=1e-2)
    assert clnet.autograd.gradcheck(f, (v, x), **kw)
    assert clnet.autograd.gradgradcheck(f, (v, x), **kw)


# --------------------------------------------------------------------------- sums, a GCN
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1, (1, 2), 2])
def test_sparse_sum(rng, dim):
    idx = np.stack([rng.integers(0, 4, 9), rng.integers(0, 5, 9)])
    vals = rng.standard_normal((9, 3)).astype(np.float32)
    s = clnet.sparse_coo_tensor(idx, vals, (4, 5, 3))
    ts = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), (4, 5, 3))
    r = clnet.sparse.sum(s) if dim is None else clnet.sparse.sum(s, dim)
    tr = torch.sparse.sum(ts) if dim is None else torch.sparse.sum(ts, dim)
    assert getattr(r, "is_sparse", False) == tr.is_sparse
    if tr.is_sparse:
        np.testing.assert_array_equal(r.indices().numpy(), tr.indices().numpy())
        close(r.values(), tr.values())
    else:
        close(r, tr)


def test_gcn_two_layers_match_torch(rng):
    # the pygcn pattern: a normalised adjacency as a sparse tensor, layers support = x @ W,
    # out = spmm(adj, support); compare outputs and every gradient with torch
    n, f_in, hid, c = 11, 6, 5, 3
    a = (rng.random((n, n)) < 0.3).astype(np.float32)
    a = np.maximum(a, a.T) + np.eye(n, dtype=np.float32)
    a = a / a.sum(1, keepdims=True)
    feats = rng.standard_normal((n, f_in)).astype(np.float32)
    w1 = rng.standard_normal((f_in, hid)).astype(np.float32)
    w2 = rng.standard_normal((hid, c)).astype(np.float32)
    labels = rng.integers(0, c, n)
    res = {}
    for lib in (clnet, torch):
        adj = lib.tensor(a).to_sparse()
        W1, W2 = lib.tensor(w1, requires_grad=True), lib.tensor(w2, requires_grad=True)
        h = lib.relu(lib.spmm(adj, lib.mm(lib.tensor(feats), W1)))
        out = lib.nn.functional.log_softmax(lib.sparse.mm(adj, h @ W2), dim=1)
        loss = lib.nn.functional.nll_loss(out, lib.tensor(labels))
        loss.backward()
        res[lib.__name__] = (out, W1.grad, W2.grad)
    for a_, b_ in zip(res["clnet"], res["torch"]):
        close(a_, b_)


# --------------------------------------------------------------------------- errors
def test_dense_ops_on_sparse_raise_naming_op_and_layout():
    s = clnet.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    d = clnet.ones(2, 2)
    for call, op in [(lambda: s ** 2, "pow"), (lambda: s < d, "lt"), (lambda: abs(s), "abs"),
                     (lambda: s.exp(), "exp"), (lambda: s[0], "getitem"),
                     (lambda: float(s), ""), (lambda: s.sum(0, keepdim=True), "keepdim")]:
        with pytest.raises(RuntimeError, match=f"{op}.*sparse_coo"):
            call()
    for call, op in [(lambda: clnet.relu(s), "relu"), (lambda: clnet.cat([s, s]), "cat"),
                     (lambda: s @ s, "mm"), (lambda: clnet.sparse.mm(s, s), "mm")]:
        with pytest.raises((RuntimeError, TypeError), match=f"{op}.*([Ss]parse)"):
            call()


def test_bad_arguments():
    with pytest.raises(IndexError, match="out of bounds"):
        clnet.sparse_coo_tensor([[0, 5], [1, 0]], [1.0, 2.0], (2, 2))
    s = clnet.sparse_coo_tensor(clnet.tensor([[0, 1], [-1, 0]]), clnet.tensor([1.0, 2.0]),
                                (2, 2))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        s.coalesce()
    with pytest.raises(ValueError, match="same number of entries"):
        clnet.sparse_coo_tensor([[0, 1], [1, 0]], [1.0], (2, 2))
    with pytest.raises(ValueError, match="sparse_dim"):
        clnet.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2, 2))
    s = clnet.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    with pytest.raises(RuntimeError, match=r"cannot be multiplied \(2 != 3\)"):
        clnet.sparse.mm(s, clnet.ones(3, 1))
    with pytest.raises(TypeError, match="dtype"):
        clnet.sparse.mm(s, clnet.ones(2, 1, dtype=clnet.int32))
