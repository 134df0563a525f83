"""Backward (and double backward) of the reductions and scans against torch (tolerances: see
tests/grad_helpers.py)."""
import numpy as np
import pytest

from grad_helpers import check_grad_parity
from helpers import as_noncontiguous

CASES = {
    "sum_all": lambda m, x: x.sum(),
    "sum_dim": lambda m, x: x.sum(1),
    "sum_dims_keepdim": lambda m, x: x.sum((0, 2), keepdim=True),
    "sum_neg_dim": lambda m, x: m.sum(x, -1),
    "mean_all": lambda m, x: x.mean(),
    "mean_dim": lambda m, x: x.mean(dim=(1, 2)),
    "prod_dim": lambda m, x: x.prod(1),
    "prod_all": lambda m, x: x.prod(),
    "max_all": lambda m, x: x.max(),
    "max_dim": lambda m, x: x.max(1).values,
    "min_dim_keepdim": lambda m, x: x.min(2, keepdim=True)[0],
    "amax": lambda m, x: m.amax(x, (0, 1)),
    "amin": lambda m, x: m.amin(x, -1),
    "var": lambda m, x: x.var(1),
    "var_correction0": lambda m, x: m.var(x, (0, 2), correction=0),
    "std": lambda m, x: x.std(2, keepdim=True),
    "std_all": lambda m, x: x.std(),
    "var_mean": lambda m, x: m.var_mean(x, 1),
    "std_mean": lambda m, x: m.std_mean(x, 0),
    "norm2": lambda m, x: x.norm(),
    "norm2_dim": lambda m, x: m.norm(x, 2, 1),
    "norm1": lambda m, x: m.norm(x, 1, -1),
    "norm3": lambda m, x: m.norm(x, 3, 1),
    "norm_inf": lambda m, x: m.norm(x, float("inf"), 1),
    "logsumexp": lambda m, x: m.logsumexp(x, 1),
    "logsumexp_keepdim": lambda m, x: m.logsumexp(x, (0, 2), keepdim=True),
    "cumsum": lambda m, x: m.cumsum(x, 1),
    "cumsum_last": lambda m, x: x.cumsum(-1),
    "cumprod": lambda m, x: m.cumprod(x, 2),
}
NOT_SMOOTH = {"max_all", "max_dim", "min_dim_keepdim", "amax", "amin", "norm1", "norm_inf"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reduction_grads(name, rng):
    x = rng.uniform(0.3, 2.0, size=(3, 4, 5)).astype(np.float32)
    x *= np.where(rng.random((3, 4, 5)) < 0.5, -1, 1).astype(np.float32)
    check_grad_parity(CASES[name], x, second=name not in NOT_SMOOTH)


@pytest.mark.parametrize("name", ["sum_dim", "var", "prod_dim", "cumsum", "logsumexp"])
def test_reduction_grads_noncontiguous(name, rng):
    x = rng.uniform(0.5, 1.5, size=(3, 4, 5)).astype(np.float32)
    check_grad_parity(CASES[name], x, layouts=[lambda a: as_noncontiguous(a, "step")],
                      second=True)


def test_prod_and_cumprod_with_zeros_match_torch():
    x = np.array([[1.5, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]],
                 dtype=np.float32)
    check_grad_parity(lambda m, t: t.prod(1), x)
    check_grad_parity(lambda m, t: t.prod(), x)
    check_grad_parity(lambda m, t: m.cumprod(t, 1), x)


def test_ties_share_the_gradient_like_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], dtype=np.float32)
    check_grad_parity(lambda m, t: t.max(), x)
    check_grad_parity(lambda m, t: m.amax(t, 1), x)
    check_grad_parity(lambda m, t: t.max(1).values, x)    # the index torch picks gets it all
