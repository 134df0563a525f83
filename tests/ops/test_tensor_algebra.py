"""Tensor algebra (clnet/ops/tensor_algebra.py and tensor_shape.py) against torch: values, shapes,
dtypes, non-contiguous and empty inputs, gradients (random upstream gradient) and errors.

Tolerances: float32 outputs and first derivatives rtol 1e-5 / atol 1e-5 * sqrt(K) where K is the
contraction length (the number of products summed into one output, at least 1): inputs are drawn
from N(0, 1), so a K-term sum has rounding error growing like sqrt(K); float64 rtol 1e-10 / atol
1e-10 * sqrt(K); integers and pure layout ops (views, splits, flips, block copies) exactly.
cdist through the matmul path (PyTorch's 'use_mm_for_euclid_dist') cancels |x|^2 + |y|^2 - 2x.y,
so it uses atol 1e-4 on both sides.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import clnet
from clnet.ops import tensor_algebra as TA
from tests.grad_helpers import check_grad_parity
from tests.helpers import as_noncontiguous, assert_close


def tol(K=1, dtype=np.float32):
    s = math.sqrt(max(K, 1))
    if np.dtype(dtype) == np.float64:
        return dict(rtol=1e-10, atol=1e-10 * s)
    return dict(rtol=1e-5, atol=1e-5 * s)


def rand(rng, shape, dtype=np.float32):
    if np.dtype(dtype).kind == "i":
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def grads(fn, *arrays, K=1, **kw):
    t = tol(K)
    check_grad_parity(fn, *arrays, out_tol=t, grad_tol=t, **kw)


def raises_like_torch(fn, exc, *args_c, args_t=None, **kw):
    """clnet raises ``exc`` (ValueError/TypeError/...) where torch raises anything."""
    with pytest.raises(exc):
        fn(clnet, *args_c, **kw)
    with pytest.raises(Exception):
        fn(torch, *(args_t if args_t is not None else
                    [torch.tensor(a.numpy()) if isinstance(a, clnet.Tensor) else a
                     for a in args_c]), **kw)


# ------------------------------------------------------------------------------------- einsum
# (equation, shapes, contraction length K)
EINSUM = [
    ("ij,jk", [(3, 4), (4, 5)], 4),
    ("ij,jk->ik", [(3, 4), (4, 5)], 4),
    ("ij,jk->ki", [(3, 4), (4, 5)], 4),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 4),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 8), (2, 3, 5, 8)], 8),
    ("bhqk,bhkd->bhqd", [(2, 3, 4, 5), (2, 3, 5, 8)], 5),
    ("bn,anm,bm->ba", [(3, 4), (2, 4, 5), (3, 5)], 20),
    ("i,i->", [(7,), (7,)], 7),
    ("i,i", [(7,), (7,)], 7),
    ("i,j->ij", [(3,), (4,)], 1),
    ("i,j", [(3,), (4,)], 1),
    ("ii", [(4, 4)], 4),
    ("ii->i", [(4, 4)], 1),
    ("iij->j", [(3, 3, 2)], 3),
    ("ij->", [(3, 4)], 12),
    ("ij->j", [(3, 4)], 3),
    ("ij->ji", [(3, 4)], 1),
    ("ba", [(3, 4)], 1),
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)], 3),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)], 4),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)], 12),
    ("ij...->ij", [(2, 3, 4)], 4),
    ("i...->...", [(3, 2, 2)], 3),
    ("bi,bi->b", [(1, 3), (4, 3)], 3),
    ("ij,ij->ij", [(3, 4), (3, 4)], 1),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)], 6),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)], 20),
    ("ik,jk->ij", [(3, 4), (5, 4)], 4),
    ("Ab,bC->CA", [(3, 4), (4, 2)], 4),
    ("ij,jk", [(0, 4), (4, 5)], 4),
    ("ij,jk", [(3, 0), (0, 5)], 1),
    ("i,i->i", [(1,), (5,)], 1),
    ("ij,jk->ik", [(2, 1), (3, 4)], 3),
    ("ij,jk,i->k", [(2, 3), (3, 4), (2,)], 6),
    ("ij,jk,ki->", [(2, 3), (3, 4), (4, 2)], 24),
    ("a...b,b...->a...", [(2, 3, 4, 5), (5, 3, 4)], 5),
    ("...,...->...", [(2, 3), (3,)], 1),
    ("iji->j", [(2, 3, 2)], 2),
    ("b...d,b...d->b...", [(2, 1, 4), (2, 5, 4)], 4),
    ("ij,kl->ijkl", [(1, 2), (3, 1)], 1),
    (",->", [(), ()], 1),
    ("i,->i", [(3,), ()], 1),
]


@pytest.mark.parametrize("eq,shapes,K", EINSUM, ids=[e[0] + str(i) for i, e in enumerate(EINSUM)])
def test_einsum_values_and_grads(rng, eq, shapes, K):
    arrays = [rand(rng, s) for s in shapes]
    grads(lambda m, *xs: m.einsum(eq, *xs), *arrays, K=K)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
@pytest.mark.parametrize("eq,shapes,K", [EINSUM[i] for i in (1, 4, 6, 11, 18, 26)])
def test_einsum_dtypes(rng, dtype, eq, shapes, K):
    arrays = [rand(rng, s, dtype) for s in shapes]
    got = clnet.einsum(eq, *[clnet.tensor(a) for a in arrays])
    assert_close(got, torch.einsum(eq, *[torch.tensor(a) for a in arrays]), **tol(K, dtype))


@pytest.mark.parametrize("layout", ["step", "transpose", "offset"])
def test_einsum_noncontiguous(rng, layout):
    a, b = rand(rng, (2, 4, 3)), rand(rng, (2, 3, 5))
    got = clnet.einsum("bij,bjk->bik", as_noncontiguous(a, layout), as_noncontiguous(b, layout))
    assert_close(got, torch.einsum("bij,bjk->bik", torch.tensor(a), torch.tensor(b)), **tol(3))
    grads(lambda m, x, y: m.einsum("bij,bjk->bki", x, y), a, b, K=3,
          layouts=[lambda x: as_noncontiguous(x, layout)] * 2)


def test_einsum_call_forms(rng):
    a, b = rand(rng, (3, 4)), rand(rng, (4, 5))
    ca, cb, ta, tb = clnet.tensor(a), clnet.tensor(b), torch.tensor(a), torch.tensor(b)
    want = torch.einsum("ij,jk->ik", ta, tb)
    assert_close(clnet.einsum("ij,jk->ik", [ca, cb]), want, **tol(4))
    assert_close(clnet.einsum(" i j , j k -> i k ", ca, cb), want, **tol(4))
    assert_close(clnet.einsum(ca, [0, 1], cb, [1, 2], [0, 2]), want, **tol(4))
    assert_close(clnet.einsum(ca, [0, 1], cb, [1, 2]), torch.einsum(ta, [0, 1], tb, [1, 2]),
                 **tol(4))
    x = rand(rng, (2, 3, 4))
    assert_close(clnet.einsum(clnet.tensor(x), [Ellipsis, 0], [Ellipsis]),
                 torch.einsum(torch.tensor(x), [Ellipsis, 0], [Ellipsis]), **tol(4))


@pytest.mark.parametrize("eq,shapes", [
    ("i,j->ij", [(3,), (4,)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 8), (2, 3, 5, 8)]),
    ("bn,anm->bam", [(3, 4), (2, 4, 5)]), ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)])])
def test_einsum_pair_is_one_matmul(rng, monkeypatch, eq, shapes):
    calls = []
    real = TA.matmul

    def counting(a, b):
        calls.append((tuple(a.shape), tuple(b.shape)))
        return real(a, b)
    monkeypatch.setattr(TA, "matmul", counting)
    arrays = [rand(rng, s) for s in shapes]
    got = clnet.einsum(eq, *[clnet.tensor(a) for a in arrays])
    assert len(calls) == 1
    assert_close(got, torch.einsum(eq, *[torch.tensor(a) for a in arrays]), **tol(8))


@pytest.mark.parametrize("eq,shapes,exc", [
    ("ij,jk", [(2, 2), (3, 4)], ValueError),        # size mismatch
    ("ii->i", [(2, 3)], ValueError),                # repeated label, unequal sizes
    ("i", [(2, 3)], ValueError),                    # wrong number of subscripts
    ("ij,jk->ik", [(3, 3)], ValueError),            # fewer operands
    ("i->ii", [(3,)], ValueError),                  # repeated output label
    ("i->j", [(3,)], ValueError),                   # output label not in the input
    ("i.j", [(3, 3)], ValueError),                  # stray '.'
    ("i1", [(3, 3)], ValueError),                   # bad subscript
    ("ijk...", [(3, 3)], ValueError),               # more subscripts than dims
])
def test_einsum_errors(rng, eq, shapes, exc):
    arrays = [rand(rng, s) for s in shapes]
    raises_like_torch(lambda m, *xs: m.einsum(eq, *xs), exc, *[clnet.tensor(a) for a in arrays])


def test_einsum_dtype_errors(rng):
    a = rand(rng, (3, 3))
    raises_like_torch(lambda m, x, y: m.einsum("ij,jk", x, y), TypeError, clnet.tensor(a),
                      clnet.tensor(a.astype(np.float64)))
    raises_like_torch(lambda m, x, y: m.einsum("ij,jk", x, y), TypeError,
                      clnet.tensor(a > 0), clnet.tensor(a > 0))


# ------------------------------------------------------------------------------------ tensordot
@pytest.mark.parametrize("sa,sb,dims,K", [
    ((3, 4, 5), (4, 5, 6), 2, 20), ((3, 4), (4, 5), 1, 4), ((3, 4), (5, 6), 0, 1),
    ((3, 4, 5), (5, 4, 2), ([1, 2], [1, 0]), 20), ((3, 4, 5), (5, 4, 2), [[2, 1], [0, 1]], 20),
    ((3, 4), (4, 2), ([1], [0]), 4), ((2, 0, 3), (0, 3, 4), 2, 1)])
def test_tensordot(rng, sa, sb, dims, K):
    a, b = rand(rng, sa), rand(rng, sb)
    grads(lambda m, x, y: m.tensordot(x, y, dims=dims), a, b, K=K)
    ai, bi = rand(rng, sa, np.int64), rand(rng, sb, np.int64)
    assert_close(clnet.tensordot(clnet.tensor(ai), clnet.tensor(bi), dims),
                 torch.tensordot(torch.tensor(ai), torch.tensor(bi), dims))


def test_tensordot_errors(rng):
    a, b = clnet.tensor(rand(rng, (3, 4))), clnet.tensor(rand(rng, (5, 4)))
    raises_like_torch(lambda m, x, y: m.tensordot(x, y, 1), ValueError, a, b)
    raises_like_torch(lambda m, x, y: m.tensordot(x, y, ([0, 1], [0])), ValueError, a, b)
    raises_like_torch(lambda m, x, y: m.tensordot(x, y, -1), ValueError, a, b)
    raises_like_torch(lambda m, x, y: m.tensordot(x, y, (1, 1)), TypeError, a, b)
    raises_like_torch(lambda m, x, y: m.tensordot(x, y, ([1], [1])), TypeError, a,
                      clnet.tensor(rand(rng, (5, 4), np.float64)))


# ------------------------------------------------------------------------ diagonals and trace
@pytest.mark.parametrize("shape,offset,d1,d2", [
    ((4, 4), 0, 0, 1), ((4, 6), 2, 0, 1), ((5, 3), -2, 0, 1), ((2, 3, 4), 1, 2, 0),
    ((2, 3, 4), -1, -1, 1), ((3, 3), 5, 0, 1), ((0, 3), 0, 0, 1), ((3, 1, 3), 0, 0, 2)])
def test_diagonal_values_grads_view(rng, shape, offset, d1, d2):
    a = rand(rng, shape)
    grads(lambda m, x: m.diagonal(x, offset, d1, d2), a)
    grads(lambda m, x: x.diagonal(offset=offset, dim1=d1, dim2=d2) * 2, a,
          layouts=[lambda x: as_noncontiguous(x, "step")])
    base = clnet.tensor(a)
    d = base.diagonal(offset, d1, d2)
    assert d._storage is base._storage
    d.fill_(7.0) if hasattr(d, "fill_") else d.copy_(clnet.full(d.shape, 7.0))
    want = torch.tensor(a)
    want.diagonal(offset, d1, d2).fill_(7.0)
    assert_close(base, want)


def test_diagonal_inplace_write_grads():
    # writing through the view of a non-leaf keeps autograd right (gradient zero where overwritten)
    a = np.arange(9, dtype=np.float32).reshape(3, 3)

    def fn(m, x):
        y = x * 2
        y.diagonal().mul_(3.0)
        return y
    grads(fn, a)


def test_diagonal_errors(rng):
    a = clnet.tensor(rand(rng, (3, 3)))
    raises_like_torch(lambda m, x: m.diagonal(x, 0, 1, 1), ValueError, a)
    raises_like_torch(lambda m, x: m.diagonal(x, 0, 0, 2), Exception, a)


@pytest.mark.parametrize("shape,offset,d1,d2", [
    ((4,), 0, -2, -1), ((2, 3), 1, -2, -1), ((2, 3), -2, 0, 2), ((2, 3, 4), 0, 1, 3),
    ((3,), 2, 1, 0), ((2, 0), 0, -2, -1)])
def test_diag_embed(rng, shape, offset, d1, d2):
    a = rand(rng, shape)
    grads(lambda m, x: m.diag_embed(x, offset, d1, d2), a, second=True)
    ai = rand(rng, shape, np.int64)
    assert_close(clnet.tensor(ai).diag_embed(offset, d1, d2),
                 torch.tensor(ai).diag_embed(offset, d1, d2))


@pytest.mark.parametrize("shape,k", [((4,), 0), ((4,), 2), ((4,), -1), ((3, 5), 0), ((3, 5), 2),
                                     ((3, 5), -1), ((3, 5), 9), ((0,), 0)])
def test_diag(rng, shape, k):
    a = rand(rng, shape)
    grads(lambda m, x: m.diag(x, k), a)
    ai = rand(rng, shape, np.int64)
    assert_close(clnet.tensor(ai).diag(k), torch.tensor(ai).diag(k))
    if len(shape) == 2:   # diag of a matrix is a copy, unlike diagonal
        c = clnet.tensor(a)
        assert c.diag(k)._storage is not c._storage
    raises_like_torch(lambda m, x: m.diag(x), ValueError, clnet.tensor(rand(rng, (2, 2, 2))))


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2), (0, 3), (1, 1)])
def test_trace(rng, shape):
    grads(lambda m, x: m.trace(x), rand(rng, shape), K=min(shape))
    for dt in (np.int64, np.int32, np.float64):
        a = rand(rng, shape, dt)
        assert_close(clnet.tensor(a).trace(), torch.trace(torch.tensor(a)), **tol(4, dt))
    raises_like_torch(lambda m, x: m.trace(x), ValueError, clnet.tensor(rand(rng, (3,))))


# ------------------------------------------------------------------------------------ products
@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (2,)), ((2, 3), (4,)),
                                   ((2, 1, 3), (2, 2)), ((), (3,)), ((0, 2), (2, 2))])
def test_kron(rng, sa, sb):
    grads(lambda m, x, y: m.kron(x, y), rand(rng, sa), rand(rng, sb))
    a, b = rand(rng, sa, np.int64), rand(rng, sb, np.int64)
    assert_close(clnet.tensor(a).kron(clnet.tensor(b)), torch.kron(torch.tensor(a),
                                                                   torch.tensor(b)))
    f = rand(rng, sb)   # int64 with float32 promotes to float32
    assert_close(clnet.kron(clnet.tensor(a), clnet.tensor(f)),
                 torch.kron(torch.tensor(a), torch.tensor(f)), **tol())


@pytest.mark.parametrize("sa,sb,dim", [((4, 3), (4, 3), 1), ((3, 5), (3, 5), 0),
                                       ((2, 3, 4), (1, 3, 4), 1), ((5, 3), (5, 3), -1),
                                       ((0, 3), (0, 3), 1)])
def test_cross(rng, sa, sb, dim):
    grads(lambda m, x, y: m.cross(x, y, dim=dim), rand(rng, sa), rand(rng, sb))
    a, b = rand(rng, sa, np.int64), rand(rng, sb, np.int64)
    assert_close(clnet.tensor(a).cross(clnet.tensor(b), dim),
                 torch.tensor(a).cross(torch.tensor(b), dim))


def test_cross_default_dim_warns_and_errors(rng):
    a, b = rand(rng, (3, 3, 2)), rand(rng, (3, 3, 2))
    with pytest.warns(UserWarning, match="dim arg is deprecated"):
        got = clnet.cross(clnet.tensor(a), clnet.tensor(b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.cross(torch.tensor(a), torch.tensor(b))
    assert_close(got, want, **tol())
    raises_like_torch(lambda m, x, y: m.cross(x, y, dim=1), ValueError,
                      clnet.tensor(rand(rng, (3, 2))), clnet.tensor(rand(rng, (3, 2))))
    raises_like_torch(lambda m, x, y: m.cross(x, y, dim=0), TypeError, clnet.tensor(a),
                      clnet.tensor(b.astype(np.float64)))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf"), 0.0])
@pytest.mark.parametrize("s1,s2", [((5, 3), (4, 3)), ((2, 5, 3), (4, 3)), ((2, 1, 5, 3),
                                                                         (3, 4, 3))])
def test_cdist(rng, p, s1, s2):
    a, b = rand(rng, s1), rand(rng, s2)
    if p == 0.0:   # piecewise constant: values only
        assert_close(clnet.cdist(clnet.tensor(a), clnet.tensor(b), p=p),
                     torch.cdist(torch.tensor(a), torch.tensor(b), p=p))
        return
    grads(lambda m, x, y: m.cdist(x, y, p=p), a, b, K=3)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist"])
def test_cdist_matmul_path(rng, mode):
    a, b = rand(rng, (2, 30, 8)), rand(rng, (2, 27, 8))
    check_grad_parity(lambda m, x, y: m.cdist(x, y, compute_mode=mode), a, b,
                      out_tol=dict(rtol=1e-4, atol=1e-4), grad_tol=dict(rtol=1e-4, atol=1e-4))
    ad = rand(rng, (40, 5), np.float64)
    assert_close(clnet.cdist(clnet.tensor(ad), clnet.tensor(ad[:7])),
                 torch.cdist(torch.tensor(ad), torch.tensor(ad[:7])), rtol=1e-7, atol=1e-7)


def test_cdist_empty_and_errors(rng):
    for s1, s2 in (((0, 3), (4, 3)), ((2, 0), (3, 0))):
        a, b = rand(rng, s1), rand(rng, s2)
        assert_close(clnet.cdist(clnet.tensor(a), clnet.tensor(b)),
                     torch.cdist(torch.tensor(a), torch.tensor(b)))
    a = clnet.tensor(rand(rng, (3, 2)))
    raises_like_torch(lambda m, x, y: m.cdist(x, y), ValueError, a, clnet.tensor(rand(rng, (3, 4))))
    raises_like_torch(lambda m, x, y: m.cdist(x, y), TypeError, clnet.tensor(np.ones((3, 2),
                      np.int64)), clnet.tensor(np.ones((3, 2), np.int64)))
    raises_like_torch(lambda m, x, y: m.cdist(x, y, p=-1.0), ValueError, a, a)
    raises_like_torch(lambda m, x, y: m.cdist(x, y), ValueError, clnet.tensor(rand(rng, (3,))), a)


# ------------------------------------------------------------------------- grids and blocks
def test_meshgrid(rng):
    xs = [rand(rng, (3,)), rand(rng, (4,)), rand(rng, (2,))]
    with pytest.warns(UserWarning, match="indexing"):
        got = clnet.meshgrid(*[clnet.tensor(x) for x in xs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.meshgrid(*[torch.tensor(x) for x in xs])
    for g, w in zip(got, want):
        assert_close(g, w)
    for indexing in ("ij", "xy"):
        grads(lambda m, *t: m.meshgrid(*t, indexing=indexing), *xs)
        got = clnet.meshgrid([clnet.tensor(x) for x in xs[:2]], indexing=indexing)
        want = torch.meshgrid([torch.tensor(x) for x in xs[:2]], indexing=indexing)
        for g, w in zip(got, want):
            assert_close(g, w)
    sc = clnet.meshgrid(clnet.tensor(2.0), clnet.tensor([1.0, 2.0]), indexing="ij")
    assert [tuple(s.shape) for s in sc] == [(1, 2), (1, 2)]
    raises_like_torch(lambda m, x: m.meshgrid(x, indexing="ij"), ValueError,
                      clnet.tensor(rand(rng, (2, 2))))
    raises_like_torch(lambda m, x: m.meshgrid(x, indexing="ji"), ValueError,
                      clnet.tensor(rand(rng, (2,))))


def test_cartesian_prod(rng):
    xs = [rand(rng, (3,)), rand(rng, (2,)), rand(rng, (4,))]
    grads(lambda m, *t: m.cartesian_prod(*t), *xs)
    grads(lambda m, t: m.cartesian_prod(t), xs[0])
    ints = [np.arange(3), np.arange(2), np.arange(0)]
    assert_close(clnet.cartesian_prod(*[clnet.tensor(x) for x in ints]),
                 torch.cartesian_prod(*[torch.tensor(x) for x in ints]))


def test_block_diag(rng):
    blocks = [rand(rng, (2, 3)), rand(rng, (1, 1)), rand(rng, (3,)), rand(rng, ()),
              rand(rng, (0, 2)), rand(rng, (2, 0))]
    grads(lambda m, *t: m.block_diag(*t), *blocks)
    mixed = [clnet.tensor(np.arange(4).reshape(2, 2)), clnet.tensor(rand(rng, (1, 2)))]
    want = torch.block_diag(*[torch.tensor(t.numpy()) for t in mixed])
    assert_close(clnet.block_diag(*mixed), want)
    raises_like_torch(lambda m, x: m.block_diag(x), ValueError, clnet.tensor(rand(rng, (1, 1, 1))))


@pytest.mark.parametrize("k", [-5, -1, 0, 1, 2, 3, 4, 6])
@pytest.mark.parametrize("shape,dims", [((3, 4), (0, 1)), ((2, 3, 4), (2, 0)),
                                        ((2, 3, 4), (-1, -2)), ((0, 3), (0, 1))])
def test_rot90(rng, k, shape, dims):
    grads(lambda m, x: m.rot90(x, k, dims), rand(rng, shape))
    a = rand(rng, shape, np.int64)
    assert_close(clnet.tensor(a).rot90(k, dims), torch.tensor(a).rot90(k, dims))


def test_rot90_errors(rng):
    a = clnet.tensor(rand(rng, (3, 3)))
    raises_like_torch(lambda m, x: m.rot90(x, 1, [0, 0]), ValueError, a)
    raises_like_torch(lambda m, x: m.rot90(x, 1, [0]), ValueError, a)
    raises_like_torch(lambda m, x: m.rot90(x, 1, [0, 1]), ValueError, clnet.tensor([1.0, 2.0]))


# ------------------------------------------------------------------------ shapes and splits
@pytest.mark.parametrize("fn", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast(rng, fn):
    shapes = [(), (3,), (2, 3), (2, 3, 4), (0,)]
    arrays = [rand(rng, s) for s in shapes]
    for a in arrays:
        assert_close(getattr(clnet, fn)(clnet.tensor(a)), getattr(torch, fn)(torch.tensor(a)))
    for form in (lambda m, xs: getattr(m, fn)(xs), lambda m, xs: getattr(m, fn)(*xs)):
        got = form(clnet, [clnet.tensor(a) for a in arrays])
        want = form(torch, [torch.tensor(a) for a in arrays])
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)


@pytest.mark.parametrize("ios", [1, 2, 3, 5, 8, [1, 3], [0, 2, 2], [-1], [4, 2], [10],
                                 (1, 4, 20)])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_tensor_split(rng, ios, dim):
    a = rand(rng, (5, 7, 3))
    grads(lambda m, x: m.tensor_split(x, ios, dim), a)
    c = clnet.tensor(a)
    assert all(p._storage is c._storage for p in c.tensor_split(ios, dim))


def test_tensor_split_tensor_arg_and_errors(rng):
    a = rand(rng, (6, 4))
    for ios in (torch.tensor(4), torch.tensor([1, 3])):
        got = clnet.tensor_split(clnet.tensor(a), clnet.tensor(ios.numpy()), 0)
        want = torch.tensor_split(torch.tensor(a), ios, 0)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)
    raises_like_torch(lambda m, x: m.tensor_split(x, 0), ValueError, clnet.tensor(a))
    raises_like_torch(lambda m, x: m.tensor_split(x, 2), ValueError, clnet.tensor(1.0))


@pytest.mark.parametrize("fn,shape,ios", [
    ("hsplit", (4, 6), 3), ("hsplit", (4, 6), [1, 4]), ("hsplit", (6,), 2), ("vsplit", (4, 6), 2),
    ("vsplit", (4, 6), [3]), ("dsplit", (2, 3, 4), 2), ("dsplit", (2, 3, 4), [1, 1, 3])])
def test_directional_splits(rng, fn, shape, ios):
    a = rand(rng, shape)
    grads(lambda m, x: getattr(m, fn)(x, ios), a)
    grads(lambda m, x: getattr(x, fn)(ios), a)


@pytest.mark.parametrize("fn,shape,ios", [("hsplit", (4, 6), 4), ("hsplit", (), 1),
                                          ("vsplit", (6,), 2), ("dsplit", (2, 3), 1),
                                          ("vsplit", (4, 6), 3)])
def test_directional_split_errors(rng, fn, shape, ios):
    raises_like_torch(lambda m, x: getattr(m, fn)(x, ios), ValueError,
                      clnet.tensor(rand(rng, shape)))


def test_column_stack(rng):
    arrays = [rand(rng, (3,)), rand(rng, (3, 2)), rand(rng, (3, 1))]
    grads(lambda m, *xs: m.column_stack(xs), *arrays)
    grads(lambda m, x, y: m.column_stack([x, y]), rand(rng, ()), rand(rng, ()))
    raises_like_torch(lambda m, x: m.column_stack(x), TypeError, clnet.tensor(arrays[0]))


def test_existing_stacks_not_overridden():
    # hstack/vstack/dstack come from join.py; this module must not redefine them
    from clnet.ops import join
    assert clnet.hstack is join.hstack and clnet.vstack is join.vstack
    assert clnet.outer is clnet.ops.linalg.outer


# ----------------------------------------------------------------------------- matrix products
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (0, 2, 2)])
def test_matrix_power(rng, n, shape):
    a = rand(rng, shape) / 2
    if n:
        grads(lambda m, x: m.matrix_power(x, n), a, K=shape[-1] ** 2 * n)
    else:
        assert_close(clnet.matrix_power(clnet.tensor(a), 0),
                     torch.matrix_power(torch.tensor(a), 0))
    ai = rand(rng, shape, np.int64)
    assert_close(clnet.tensor(ai).matrix_power(n), torch.tensor(ai).matrix_power(n))


def test_matrix_power_errors(rng):
    a = clnet.tensor(rand(rng, (3, 3)))
    with pytest.raises(RuntimeError, match="inverse"):
        clnet.matrix_power(a, -1)
    raises_like_torch(lambda m, x: m.matrix_power(x, 2), ValueError,
                      clnet.tensor(rand(rng, (3, 4))))


def test_chain_matmul(rng):
    arrays = [rand(rng, (3, 4)), rand(rng, (4, 5)), rand(rng, (5, 2)), rand(rng, (2, 6))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grads(lambda m, *xs: m.chain_matmul(*xs), *arrays, K=40)
        grads(lambda m, x: m.chain_matmul(x), arrays[0])
        with pytest.warns(UserWarning, match="deprecated"):
            clnet.chain_matmul(clnet.tensor(arrays[0]), clnet.tensor(arrays[1]))
        raises_like_torch(lambda m, x: m.chain_matmul(x, x), ValueError,
                          clnet.tensor(rand(rng, (3,))))
        raises_like_torch(lambda m: m.chain_matmul(), ValueError)


@pytest.mark.parametrize("ishape", [(3, 4), (4,), (3, 1), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 3.0)])
def test_addr(rng, ishape, beta, alpha):
    x, u, v = rand(rng, ishape), rand(rng, (3,)), rand(rng, (4,))
    check_grad_parity(lambda m, a, b, c: m.addr(a, b, c, beta=beta, alpha=alpha), x, u, v,
                      requires_grad=[beta != 0, True, True], out_tol=tol(), grad_tol=tol())
    if beta:
        grads(lambda m, a, b, c: a.addr(b, c, beta=beta, alpha=alpha), x, u, v)


def test_addr_dtypes_and_nan(rng):
    xi, ui, vi = (rand(rng, s, np.int64) for s in ((3, 4), (3,), (4,)))
    assert_close(clnet.addr(*map(clnet.tensor, (xi, ui, vi)), beta=2, alpha=3),
                 torch.addr(*map(torch.tensor, (xi, ui, vi)), beta=2, alpha=3))
    mixed = (np.ones((3, 4), np.float64), rand(rng, (3,)), rand(rng, (4,)))
    assert_close(clnet.addr(*map(clnet.tensor, mixed)), torch.addr(*map(torch.tensor, mixed)),
                 **tol(1, np.float64) | dict(rtol=1e-6))
    nan = np.full((3, 4), np.nan, np.float32)
    got = clnet.addr(clnet.tensor(nan), clnet.tensor(mixed[1]), clnet.tensor(mixed[2]), beta=0)
    assert not np.isnan(got.numpy()).any()
    raises_like_torch(lambda m, a, b, c: m.addr(a, b, c, alpha=0.5), TypeError,
                      *map(clnet.tensor, (xi, ui, vi)))
    raises_like_torch(lambda m, a, b, c: m.addr(a, b, c), ValueError,
                      *map(clnet.tensor, (rand(rng, (2, 4)), mixed[1], mixed[2])))
    raises_like_torch(lambda m, a, b, c: m.addr(a, b, c), ValueError,
                      *map(clnet.tensor, (xi, rand(rng, (3, 1)), mixed[2])))


def test_names_exported_and_methods():
    for name in TA.__all__:
        assert hasattr(clnet, name) and hasattr(torch, name), name
    for name in ["diagonal", "diag", "diag_embed", "trace", "kron", "cross", "matrix_power",
                 "addr", "rot90", "tensor_split", "hsplit", "vsplit", "dsplit"]:
        assert hasattr(clnet.Tensor, name) and hasattr(torch.Tensor, name), name
