"""Matrix products against numpy (values) and torch (matmul's promotion/broadcast rules).

float32 tolerance: rtol 1e-4 and atol 1e-4 * sqrt(K) for inputs drawn from [-1, 1] (a K-term sum
of products of that size has rounding error growing like sqrt(K)); float64: rtol 1e-10 and
atol 1e-10 * sqrt(K); integers are compared exactly.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import clnet
from clnet.kernels import gemm
from clnet.ops import linalg
from tests.helpers import as_noncontiguous, assert_close

LAYOUTS = ["contiguous", "transpose", "step", "offset"]
SIZES = [0, 1, 3, 7, 13, 63, 64, 65, 127, 129, 257]


def tol(dtype, K):
    if np.dtype(dtype) == np.float64:
        return dict(rtol=1e-10, atol=1e-10 * math.sqrt(max(K, 1)))
    return dict(rtol=1e-4, atol=1e-4 * math.sqrt(max(K, 1)))


def rand(rng, shape, dtype=np.float32):
    if np.dtype(dtype).kind == "i":
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def lay(a, layout):
    return clnet.tensor(a) if layout == "contiguous" else as_noncontiguous(a, layout)


@pytest.fixture
def fp64(dev):
    if not dev.has_fp64:
        pytest.skip(f"{dev.name} has no cl_khr_fp64")


# ------------------------------------------------------------------------------------------- mm
@given(M=st.integers(0, 70), N=st.integers(0, 70), K=st.integers(0, 70),
       la=st.sampled_from(LAYOUTS), lb=st.sampled_from(LAYOUTS), seed=st.integers(0, 2 ** 16))
def test_mm_random_shapes_and_layouts(M, N, K, la, lb, seed):
    rng = np.random.default_rng(seed)
    a, b = rand(rng, (M, K)), rand(rng, (K, N))
    assert_close(clnet.mm(lay(a, la), lay(b, lb)), a @ b, **tol(np.float32, K))


@pytest.mark.parametrize("s", SIZES)
@pytest.mark.parametrize("pattern", ["cube", "tall", "wide", "deep"])
def test_mm_edge_sizes(rng, s, pattern):
    M, N, K = {"cube": (s, s, s), "tall": (s, 13, 7), "wide": (3, s, 65),
               "deep": (7, 5, s)}[pattern]
    a, b = rand(rng, (M, K)), rand(rng, (K, N))
    assert_close(clnet.mm(clnet.tensor(a), clnet.tensor(b)), a @ b, **tol(np.float32, K))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_mm_transpose_combinations(rng, dev, ta, tb, dtype):
    if dtype == np.float64 and not dev.has_fp64:
        pytest.skip("no fp64")
    # crosses the CPU tile (192 x 256 x 256) in every dimension
    M, N, K = 197, 263, 261
    a, b = rand(rng, (M, K), dtype), rand(rng, (K, N), dtype)
    A = clnet.tensor(np.ascontiguousarray(a.T)).t() if ta else clnet.tensor(a)
    B = clnet.tensor(np.ascontiguousarray(b.T)).t() if tb else clnet.tensor(b)
    assert A.is_contiguous() == (not ta) and B.is_contiguous() == (not tb)
    assert_close(clnet.mm(A, B), a @ b, **tol(dtype, K))


def test_mm_big(rng):
    a, b = rand(rng, (300, 700)), rand(rng, (700, 500))
    assert_close(clnet.mm(clnet.tensor(a), clnet.tensor(b)), a @ b, **tol(np.float32, 700))


def test_mm_step_slices_of_both_dims(rng):
    big_a, big_b = rand(rng, (90, 120)), rand(rng, (100, 80))
    A = clnet.tensor(big_a)[1::3, 2::2]     # (30, 59)
    B = clnet.tensor(big_b)[3:62, ::4]      # (59, 20)
    assert_close(A.mm(B), big_a[1::3, 2::2] @ big_b[3:62, ::4], **tol(np.float32, 59))


def test_mm_float64(rng, fp64):
    a, b = rand(rng, (70, 33), np.float64), rand(rng, (33, 129), np.float64)
    assert_close(clnet.mm(clnet.tensor(a), clnet.tensor(b)), a @ b, **tol(np.float64, 33))


def test_empty_k_gives_zeros_and_addmm_gives_beta_input(rng):
    a, b = np.zeros((4, 0), np.float32), np.zeros((0, 5), np.float32)
    assert_close(clnet.mm(clnet.tensor(a), clnet.tensor(b)), np.zeros((4, 5), np.float32))
    x = rand(rng, (4, 5))
    out = clnet.addmm(clnet.tensor(x), clnet.tensor(a), clnet.tensor(b), beta=2.0)
    assert_close(out, 2 * x)
    ai = np.zeros((3, 0), np.int64)
    assert_close(clnet.mm(clnet.tensor(ai), clnet.tensor(ai.T.copy())),
                 np.zeros((3, 3), np.int64))


# --------------------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((5,), (5,)), ((3, 5), (5,)), ((5,), (5, 4)), ((3, 5), (5, 4)), ((2, 3, 5), (5,)),
    ((5,), (2, 5, 4)), ((2, 3, 5), (5, 4)), ((3, 5), (2, 5, 4)), ((2, 3, 5), (2, 5, 4)),
    ((2, 1, 3, 5), (4, 5, 6)), ((1, 3, 5), (6, 5, 2)), ((6, 1, 2, 3), (1, 5, 3, 4)),
    ((2, 1, 3, 1, 5), (4, 1, 5, 2)), ((0, 3, 5), (5, 2)), ((2, 3, 0), (0, 4)), ((4, 1, 5), (5, 1)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_rules_match_torch(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    expected = torch.matmul(torch.from_numpy(a), torch.from_numpy(b))
    got = clnet.matmul(clnet.tensor(a), clnet.tensor(b))
    assert tuple(got.shape) == tuple(expected.shape)
    assert_close(got, expected, **tol(np.float32, sa[-1]))
    assert_close(clnet.tensor(a) @ clnet.tensor(b), expected, **tol(np.float32, sa[-1]))


@st.composite
def broadcast_pair(draw):
    M, K, N = draw(st.integers(1, 9)), draw(st.integers(0, 9)), draw(st.integers(1, 9))
    batch = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    ba = [draw(st.sampled_from([d, 1])) for d in batch]
    bb = [draw(st.sampled_from([d, 1])) for d in batch]
    ba = ba[draw(st.integers(0, len(ba))):]
    bb = bb[draw(st.integers(0, len(bb))):]
    sa = tuple(ba) + ((M, K) if draw(st.booleans()) or ba else (K,))
    sb = tuple(bb) + ((K, N) if draw(st.booleans()) or bb else (K,))
    return sa, sb


@given(shapes=broadcast_pair(), layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2 ** 16))
def test_matmul_broadcast_random(shapes, layout, seed):
    sa, sb = shapes
    rng = np.random.default_rng(seed)
    a, b = rand(rng, sa), rand(rng, sb)
    expected = torch.matmul(torch.from_numpy(a), torch.from_numpy(b))
    assert_close(clnet.matmul(lay(a, layout), lay(b, "contiguous")), expected,
                 **tol(np.float32, sa[-1]))


def test_matmul_folds_batch_into_rows_and_handles_unfoldable_batch(rng):
    x, w = rand(rng, (4, 30, 53)), rand(rng, (53, 29))
    assert_close(clnet.tensor(x) @ clnet.tensor(w), x @ w, **tol(np.float32, 53))
    # a batch that cannot merge with the rows (permuted batch dims + step slice)
    big = rand(rng, (3, 8, 30, 53))
    X = clnet.tensor(big).permute(1, 0, 2, 3)[::2]          # (4, 3, 30, 53)
    expected = np.transpose(big, (1, 0, 2, 3))[::2] @ w
    assert_close(X @ clnet.tensor(w), expected, **tol(np.float32, 53))


def test_matmul_int_and_rmatmul(rng):
    a, b = rand(rng, (2, 3, 6), np.int32), rand(rng, (6, 5), np.int32)
    A, B = clnet.tensor(a), clnet.tensor(b)
    assert_close(A.matmul(B), a @ b)
    assert_close(B.__rmatmul__(A), a @ b)
    assert A.__matmul__(3) is NotImplemented


def test_matmul_float64_batched(rng, fp64):
    a, b = rand(rng, (3, 1, 17, 9), np.float64), rand(rng, (4, 9, 11), np.float64)
    assert_close(clnet.tensor(a) @ clnet.tensor(b), a @ b, **tol(np.float64, 9))


# ------------------------------------------------------------------------------ bmm / baddbmm
def test_bmm_noncontiguous_operands(rng):
    a, b = rand(rng, (5, 13, 70)), rand(rng, (5, 70, 9))
    A = as_noncontiguous(a, "transpose")
    B = clnet.tensor(np.ascontiguousarray(b.transpose(1, 0, 2))).permute(1, 0, 2)
    assert_close(clnet.bmm(A, B), a @ b, **tol(np.float32, 70))
    assert_close(A.bmm(as_noncontiguous(b, "step")), a @ b, **tol(np.float32, 70))


def test_bmm_expanded_batch(rng):
    a, b = rand(rng, (1, 6, 7)), rand(rng, (3, 7, 4))
    A = clnet.tensor(a).expand(3, 6, 7)
    assert_close(clnet.bmm(A, clnet.tensor(b)), np.broadcast_to(a, (3, 6, 7)) @ b,
                 **tol(np.float32, 7))


@pytest.mark.parametrize("xshape", [(), (1,), (5,), (4, 1), (1, 4, 5), (3, 4, 5)])
@pytest.mark.parametrize("alpha,beta", [(1, 1), (0.5, -2.0), (2.0, 0)])
def test_baddbmm(rng, xshape, alpha, beta):
    x, a, b = rand(rng, xshape), rand(rng, (3, 4, 6)), rand(rng, (3, 6, 5))
    got = clnet.baddbmm(clnet.tensor(x), clnet.tensor(a), clnet.tensor(b), beta=beta, alpha=alpha)
    expected = torch.baddbmm(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(b),
                             beta=beta, alpha=alpha)
    assert_close(got, expected, **tol(np.float32, 6))


# ---------------------------------------------------------------------------- addmm / addmv / mv
@pytest.mark.parametrize("xshape", [(), (1,), (9,), (1, 9), (7, 1), (7, 9)])
@pytest.mark.parametrize("alpha,beta", [(1, 1), (-1.5, 0.25), (3, 0)])
def test_addmm(rng, xshape, alpha, beta):
    x, a, b = rand(rng, xshape), rand(rng, (7, 11)), rand(rng, (11, 9))
    got = clnet.addmm(clnet.tensor(x), clnet.tensor(a), as_noncontiguous(b, "transpose"),
                      beta=beta, alpha=alpha)
    expected = torch.addmm(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(b),
                           beta=beta, alpha=alpha)
    assert_close(got, expected, **tol(np.float32, 11))


def test_addmm_beta_zero_ignores_nan_input(rng):
    x = np.full((3, 4), np.nan, np.float32)
    a, b = rand(rng, (3, 5)), rand(rng, (5, 4))
    out = clnet.tensor(x).addmm(clnet.tensor(a), clnet.tensor(b), beta=0, alpha=2)
    assert_close(out, 2 * (a @ b), **tol(np.float32, 5))


def test_addmm_int(rng):
    x, a, b = rand(rng, (4,), np.int64), rand(rng, (3, 6), np.int64), rand(rng, (6, 4), np.int64)
    got = clnet.addmm(clnet.tensor(x), clnet.tensor(a), clnet.tensor(b), beta=3, alpha=-2)
    assert_close(got, 3 * x + -2 * (a @ b))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mv_and_addmv(rng, layout):
    m, v, x = rand(rng, (37, 70)), rand(rng, (70,)), rand(rng, (37,))
    assert_close(clnet.mv(lay(m, layout), lay(v, layout)), m @ v, **tol(np.float32, 70))
    got = clnet.addmv(clnet.tensor(x), lay(m, layout), clnet.tensor(v), beta=0.5, alpha=2)
    assert_close(got, 0.5 * x + 2 * (m @ v), **tol(np.float32, 70))
    got = clnet.tensor(x[:1]).addmv(clnet.tensor(m), clnet.tensor(v))
    assert_close(got, x[:1] + m @ v, **tol(np.float32, 70))


# ---------------------------------------------------------------------------- outer / dot / inner
def test_outer_and_promotion(rng):
    a, b = rand(rng, (13,)), rand(rng, (65,))
    assert_close(clnet.outer(lay(a, "step"), clnet.tensor(b)), np.outer(a, b))
    ai = rand(rng, (4,), np.int32)
    got = clnet.tensor(ai).outer(clnet.tensor(b[:3]))
    assert got.dtype is clnet.float32
    assert_close(got, np.outer(ai, b[:3]).astype(np.float32))
    assert_close(clnet.ger(clnet.tensor(ai), clnet.tensor(ai)), np.outer(ai, ai))


@pytest.mark.parametrize("n", [0, 1, 7, 1000, 100003])
def test_dot(rng, n):
    a, b = rand(rng, (n,)), rand(rng, (n,))
    got = clnet.dot(clnet.tensor(a), lay(b, "step"))
    assert got.shape == ()
    assert_close(got, np.asarray(np.dot(a.astype(np.float64), b), np.float32), **tol(np.float32, n))
    ai = rand(rng, (n,), np.int32)
    assert_close(clnet.tensor(ai).dot(clnet.tensor(ai)), np.asarray(np.dot(ai, ai), np.int32))


@pytest.mark.parametrize("sa,sb", [((5,), (5,)), ((3, 5), (4, 5)), ((2, 3, 5), (5,)),
                                   ((), (3, 4)), ((2, 4), ())])
def test_inner(rng, sa, sb):
    a, b = rand(rng, sa), rand(rng, sb)
    expected = torch.inner(torch.from_numpy(a), torch.from_numpy(b))
    assert_close(clnet.inner(clnet.tensor(a), clnet.tensor(b)), expected, **tol(np.float32, 5))


# ---------------------------------------------------------------------------------------- linear
@pytest.mark.parametrize("xshape", [(20,), (8, 20), (2, 3, 20), (2, 1, 3, 20)])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transpose", "step"])
def test_linear_matches_torch(rng, xshape, with_bias, layout):
    x, w, bias = rand(rng, xshape), rand(rng, (33, 20)), rand(rng, (33,))
    expected = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w),
                                          torch.from_numpy(bias) if with_bias else None)
    got = linalg.linear(lay(x, layout), lay(w, layout),
                        lay(bias, layout) if with_bias else None)
    assert_close(got, expected, **tol(np.float32, 20))


def test_linear_small_layers_and_scalar_bias(rng):
    x, w, bias = rand(rng, (64, 784)), rand(rng, (256, 784)), rand(rng, (1,))
    got = linalg.linear(clnet.tensor(x), clnet.tensor(w), clnet.tensor(bias))
    assert_close(got, x @ w.T + bias, **tol(np.float32, 784))


# --------------------------------------------------------------------------------- GPU tile set
def test_cooperative_gpu_kernel_on_this_device(rng, dev, monkeypatch):
    """The GPU parameter set (cooperative work-groups, barriers) runs on any OpenCL device, so it
    is checked here too: edges, transposes, batches, addend."""
    class FakeGpu:
        kind, max_work_group_size, local_mem_size = "GPU", min(dev.max_work_group_size, 256), \
            dev.local_mem_size
    monkeypatch.setitem(dev.tuning, "gemm", gemm.default_tuning(FakeGpu))
    for M, N, K in [(1, 1, 1), (65, 63, 17), (130, 7, 129)]:
        a, b = rand(rng, (M, K)), rand(rng, (K, N))
        assert_close(clnet.mm(lay(a, "transpose"), lay(b, "step")), a @ b, **tol(np.float32, K))
    a, b, x = rand(rng, (3, 9, 20)), rand(rng, (3, 20, 70)), rand(rng, (70,))
    got = clnet.baddbmm(clnet.tensor(x), clnet.tensor(a), clnet.tensor(b), beta=2, alpha=0.5)
    assert_close(got, 2 * x + 0.5 * (a @ b), **tol(np.float32, 20))


@pytest.mark.parametrize("wg", [1024, 256, 64, 16])
def test_default_tuning_is_consistent(wg):
    class Fake:
        kind, max_work_group_size, local_mem_size = "GPU", wg, 32768
    for kind in ("GPU", "CPU"):
        Fake.kind = kind
        for dt, size in (("float", 4), ("double", 8)):
            c = gemm.default_tuning(Fake)[dt]
            assert c["TM"] % c["WM"] == 0 and c["TN"] % c["WN"] == 0 and c["WN"] % c["VW"] == 0
            if kind == "GPU":
                assert (c["TM"] // c["WM"]) * (c["TN"] // c["WN"]) <= wg
            else:
                local = (c["TM"] * c["TK"] + c["TK"] * c["TN"] + c["TM"] * c["TN"]) * size
                assert local <= Fake.local_mem_size


@given(M=st.integers(1, 3000), N=st.integers(1, 3000), nb=st.integers(1, 3))
def test_cpu_tiles_cover_and_fit(M, N, nb):
    cfg = dict(TM=192, TN=256, WM=6, WN=16)
    tm, tn = gemm.cpu_tiles(cfg, M, N, nb, cores=2)
    assert tm % 6 == 0 and tn % 16 == 0 and 6 <= tm <= 192 and 16 <= tn <= 256
    tiles = nb * math.ceil(M / tm) * math.ceil(N / tn)
    assert tiles >= 4 or (tm == 6 and tn == 16)
    # balanced: the tile is not much larger than needed for its count along each dimension
    assert tm < math.ceil(M / math.ceil(M / tm)) + 6 or tm == 6


# ---------------------------------------------------------------------------------------- errors
def test_error_messages():
    t = clnet.zeros
    with pytest.raises(ValueError, match=r"mm: shapes \[2, 3\] and \[4, 5\] cannot be multiplied "
                                         r"\(3 != 4\)"):
        clnet.mm(t(2, 3), t(4, 5))
    with pytest.raises(ValueError, match=r"matmul: shapes \[2, 3, 4\] and \[5, 6\] cannot be "
                                         r"multiplied \(4 != 5\)"):
        t(2, 3, 4) @ t(5, 6)
    with pytest.raises(ValueError, match=r"matmul: batch dimensions of shapes \[2, 3, 3\] and "
                                         r"\[4, 3, 5\] cannot be broadcast"):
        clnet.matmul(t(2, 3, 3), t(4, 3, 5))
    with pytest.raises(ValueError, match="matmul: both arguments need to be at least 1-D"):
        clnet.matmul(t(()), t(3))
    with pytest.raises(TypeError, match="mm: expected all operands to have the same dtype, got "
                                        "float32, int64"):
        clnet.mm(t(2, 2), t(2, 2, dtype=clnet.int64))
    with pytest.raises(TypeError, match="mm: not supported for bool"):
        clnet.mm(t(2, 2, dtype=clnet.bool), t(2, 2, dtype=clnet.bool))
    with pytest.raises(ValueError, match=r"mm: expected self to be 2-D, got shape \[3\]"):
        clnet.mm(t(3), t(3, 3))
    with pytest.raises(ValueError, match=r"bmm: batch sizes differ in shapes \[2, 3, 3\] and "
                                         r"\[3, 3, 3\]"):
        clnet.bmm(t(2, 3, 3), t(3, 3, 3))
    with pytest.raises(ValueError, match=r"bmm: expected batch2 to be 3-D, got shape \[3, 3\]"):
        clnet.bmm(t(2, 3, 3), t(3, 3))
    with pytest.raises(ValueError, match=r"dot: 1-D tensors of shapes \[3\] and \[4\]"):
        clnet.dot(t(3), t(4))
    with pytest.raises(ValueError, match=r"mv: shapes \[2, 3\] and \[4\] cannot be multiplied"):
        clnet.mv(t(2, 3), t(4))
    with pytest.raises(ValueError, match=r"addmm: input of shape \[3, 3\] cannot be broadcast to "
                                         r"the result shape \[2, 4\]"):
        clnet.addmm(t(3, 3), t(2, 5), t(5, 4))
    with pytest.raises(TypeError, match="addmm: for integer tensors, alpha must be an integer"):
        i = clnet.zeros(2, 2, dtype=clnet.int32)
        clnet.addmm(i, i, i, alpha=0.5)
    with pytest.raises(ValueError, match=r"linear: input shape \[4, 3\] and weight shape "
                                         r"\[5, 6\] cannot be multiplied \(3 != 6\)"):
        linalg.linear(t(4, 3), t(5, 6))
    with pytest.raises(ValueError, match=r"linear: bias of shape \[4\] does not match 5"):
        linalg.linear(t(4, 6), t(5, 6), t(4))
    with pytest.raises(TypeError, match="mm: expected Tensor arguments, got ndarray"):
        clnet.mm(t(2, 2), np.zeros((2, 2), np.float32))


def test_benchmark_rows_report_all_frameworks():
    from clnet.benchmarks.gemm import format_rows, gemm_rows
    rows = gemm_rows(sizes=(32,), repeats=1)
    assert [r["n"] for r in rows] == [32]
    r = rows[0]
    assert r["clnet"] > 0 and r["numpy"] > 0 and r["torch"] > 0
    assert r["clnet_vs_numpy"] == pytest.approx(r["clnet"] / r["numpy"])
    assert "sgemm 32x32x32" in format_rows(rows)


# --------------------------------------------------------------------------- split-K dot path
@pytest.mark.parametrize("M,N,K", [(1, 1, 1024), (3, 5, 1031), (10, 25, 9216), (7, 64, 1040),
                                   (65, 3, 4099), (20, 130, 2063)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_k_dot_products(M, N, K, dtype, rng, dev):
    """A @ W^T with both operands contiguous along a long K (conv weight gradients): on CPU
    drivers this takes gemm.cl's split-K dot-product kernels (odd M and N compute a duplicate
    row/column; K not a multiple of the vector width has a scalar tail; chunks of K are summed
    in order). Offsets, a broadcast addend, alpha and beta included."""
    if dtype == np.float64 and not dev.has_fp64:
        pytest.skip("device without float64")
    assert gemm.dot_form(M, N, K, (None, 0, 0, K, 1), (None, 0, 0, 1, K))
    a, w = rand(rng, (M, K), dtype), rand(rng, (N, K), dtype)
    exact = (a.astype(np.float64) @ w.T.astype(np.float64)).astype(dtype)
    got = clnet.mm(clnet.tensor(a), clnet.tensor(w).t())
    assert_close(got, exact, **tol(dtype, K))
    # operands at an offset inside bigger buffers, result into a strided addmm with a bias row
    big_a = rand(rng, (M + 1, K + 3), dtype)
    big_a[1:, 3:] = a
    ta = clnet.tensor(big_a)[1:, 3:]
    bias = rand(rng, (N,), dtype)
    got = clnet.addmm(clnet.tensor(bias), ta, clnet.tensor(w).t(), beta=0.5, alpha=-2.0)
    assert_close(got, 0.5 * bias - 2.0 * exact, **tol(dtype, K))


# --------------------------------------------------------------------------- two batch dims
def _count_launches(monkeypatch):
    calls = []
    real = gemm.launch

    def counting(*args, **kw):
        calls.append(args[5])          # nb = (nb1, nb2)
        return real(*args, **kw)
    monkeypatch.setattr(gemm, "launch", counting)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("gpu_tiles", [False, True])
def test_matmul_of_permuted_4d_views_is_one_launch(dtype, gpu_tiles, rng, dev, monkeypatch):
    """Attention's (batch, heads, L, d) views of an (L, batch, heads * d) buffer: two batch
    dimensions that cannot merge go to one launch (the kernels split the batch index in two);
    broadcasting along either batch dimension; three unmergeable batch dims loop over the first.
    With the device's tile set and the GPU one (cooperative kernel) on this device."""
    if gpu_tiles:
        class FakeGpu:
            kind, max_work_group_size, local_mem_size = "GPU", min(dev.max_work_group_size, 256),\
                dev.local_mem_size
        monkeypatch.setitem(dev.tuning, "gemm", gemm.default_tuning(FakeGpu))
    calls = _count_launches(monkeypatch)
    L, N, H, d = 9, 5, 3, 7
    qkv = rand(rng, (L, N, 3, H, d), dtype)       # a fused q/k/v projection's layout
    q, k = qkv[:, :, 0], qkv[:, :, 1]
    t = clnet.tensor(qkv)
    qv, kv = t[:, :, 0].permute(1, 2, 0, 3), t[:, :, 1].permute(1, 2, 3, 0)
    want = q.transpose(1, 2, 0, 3) @ k.transpose(1, 2, 3, 0)
    assert_close(clnet.matmul(qv, kv), want, **tol(dtype, d))
    assert calls == [(N, H)]
    w = rand(rng, (H, d, 4), dtype)                       # broadcast over the batch of N
    assert_close(clnet.matmul(qv, clnet.tensor(w)), q.transpose(1, 2, 0, 3) @ w, **tol(dtype, d))
    m = rand(rng, (N, 1, d, 2), dtype)                    # broadcast over the heads
    assert_close(clnet.matmul(qv, clnet.tensor(m)), q.transpose(1, 2, 0, 3) @ m, **tol(dtype, d))
    xt = clnet.tensor(rand(rng, (2, L, N, 2, H, d), dtype))  # three batch dims that cannot merge
    x = xt.numpy()[:, :, :, 0]
    xv = xt[:, :, :, 0].permute(0, 2, 3, 1, 4)
    del calls[:]
    assert_close(clnet.matmul(xv, clnet.tensor(w)), x.transpose(0, 2, 3, 1, 4) @ w,
                 **tol(dtype, d))
    assert calls == [(N, H)] * 2
