"""Backward and double backward of the matrix products against torch (tolerances: see
tests/grad_helpers.py)."""
import numpy as np
import pytest

from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

CASES = {
    "mm": (lambda m, a, b: m.mm(a, b), [(3, 4), (4, 5)]),
    "mm_transposed": (lambda m, a, b: m.mm(a.t(), b.t()), [(4, 3), (5, 4)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "matmul_2d": (lambda m, a, b: a @ b, [(3, 4), (4, 2)]),
    "matmul_vec_mat": (lambda m, a, b: m.matmul(a, b), [(4,), (4, 3)]),
    "matmul_mat_vec": (lambda m, a, b: m.matmul(a, b), [(3, 4), (4,)]),
    "matmul_vec_vec": (lambda m, a, b: m.matmul(a, b), [(4,), (4,)]),
    "matmul_batched_broadcast": (lambda m, a, b: m.matmul(a, b), [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_batched_vec": (lambda m, a, b: m.matmul(a, b), [(2, 3, 4), (4,)]),
    "matmul_vec_batched": (lambda m, a, b: m.matmul(a, b), [(4,), (2, 4, 3)]),
    "dot": (lambda m, a, b: m.dot(a, b), [(5,), (5,)]),
    "mv": (lambda m, a, b: m.mv(a, b), [(3, 4), (4,)]),
    "outer": (lambda m, a, b: m.outer(a, b), [(3,), (4,)]),
    "inner": (lambda m, a, b: m.inner(a, b), [(2, 3, 4), (5, 4)]),
    "linear": (lambda m, a, b: m.nn.functional.linear(a, b), [(6, 4), (3, 4)]),
    "linear_3d": (lambda m, a, b: m.nn.functional.linear(a, b), [(2, 5, 4), (3, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_product_grads(name, rng):
    fn, shapes = CASES[name]
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    check_grad_parity(fn, *arrays, second=True)


def test_linear_with_bias_and_addmm_family(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3,)).astype(np.float32)
    check_grad_parity(lambda m, x, w, b: m.nn.functional.linear(x, w, b), x, w, b, second=True)
    inp = rng.standard_normal((1, 3)).astype(np.float32)
    check_grad_parity(lambda m, i, x, w: m.addmm(i, x, w.t(), beta=0.5, alpha=2.0), inp, x, w,
                      second=True)
    bi = rng.standard_normal((2, 3, 5)).astype(np.float32)
    b1 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b2 = rng.standard_normal((2, 4, 5)).astype(np.float32)
    check_grad_parity(lambda m, i, p, q: m.baddbmm(i, p, q, beta=0.3, alpha=1.5), bi, b1, b2)
    v = rng.standard_normal((4,)).astype(np.float32)
    check_grad_parity(lambda m, i, a, v: m.addmv(i, a, v, beta=2.0, alpha=0.5),
                      rng.standard_normal((5,)).astype(np.float32), x, v)


def test_noncontiguous_operands(rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal((6, 3)).astype(np.float32)
    check_grad_parity(lambda m, a, b: m.mm(a, b), a, b,
                      layouts=[lambda x: as_noncontiguous(x, "transpose"),
                               lambda x: as_noncontiguous(x, "step")], second=True)
