"""F.affine_grid and F.grid_sample against torch: values, gradients to input, grid and theta.

float32 tolerances: values rtol 1e-5 / atol 1e-5, gradients rtol 1e-4 / atol 1e-4 (the grid
gradient sums C*H-scaled products). Grids reach past [-1, 1] so points fall outside the image;
sizes are odd and unequal; inputs are non-contiguous (transposed) views."""
import warnings

import numpy as np
import pytest
import torch

import clnet
import clnet.nn.functional as F

TF = torch.nn.functional


def _close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


def _pair(x, grad=True):
    return clnet.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def _no_warning():
    return warnings.catch_warnings(action="error")


def _grid(rng, shape, reach=1.4):
    return rng.uniform(-reach, reach, shape).astype(np.float32)


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("size", [(2, 3, 5, 7), (1, 1, 1, 4), (3, 2, 2, 3, 5)])
def test_affine_grid_values_and_theta_grad(align_corners, size, rng):
    d = len(size) - 2
    th = rng.standard_normal((size[0], d, d + 1)).astype(np.float32)
    ct, tt = _pair(th)
    unit = align_corners and min(size[2:]) == 1      # torch warns on unit sizes: so do we
    with pytest.warns(UserWarning, match="unit-size grids") if unit else _no_warning():
        cg = F.affine_grid(ct, size, align_corners=align_corners)
    with pytest.warns(UserWarning, match="unit-size grids") if unit else _no_warning():
        tg = TF.affine_grid(tt, size, align_corners=align_corners)
    assert tuple(cg.shape) == tuple(tg.shape)
    _close(cg, tg)
    g = rng.standard_normal(tuple(tg.shape)).astype(np.float32)
    cg.backward(clnet.tensor(g))
    tg.backward(torch.tensor(g))
    _close(ct.grad, tt.grad, 1e-4, 1e-4)


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_values_and_grads(mode, padding_mode, align_corners, rng):
    # input (2, 3, 5, 7) seen through a transpose of a (2, 3, 7, 5) array: non-contiguous
    x = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    grid = _grid(rng, (2, 4, 6, 2))
    cx, tx = _pair(x)
    cgr, tgr = _pair(grid)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    cy = F.grid_sample(cx.transpose(2, 3), cgr, **kw)
    ty = TF.grid_sample(tx.transpose(2, 3), tgr, **kw)
    assert tuple(cy.shape) == (2, 3, 4, 6)
    _close(cy, ty)
    g = rng.standard_normal((2, 3, 4, 6)).astype(np.float32)
    cy.backward(clnet.tensor(g))
    ty.backward(torch.tensor(g))
    _close(cx.grad, tx.grad, 1e-4, 1e-4)
    _close(cgr.grad, tgr.grad, 1e-4, 1e-4)


def test_points_far_outside_read_zero_or_border(rng):
    x = rng.standard_normal((1, 2, 3, 5)).astype(np.float32)
    grid = np.array([[[[-5.0, 0.3], [7.0, -9.0], [0.1, 0.2]]]], dtype=np.float32)
    for padding_mode in ("zeros", "border", "reflection"):
        cy = F.grid_sample(clnet.tensor(x), clnet.tensor(grid), padding_mode=padding_mode,
                           align_corners=False)
        ty = TF.grid_sample(torch.tensor(x), torch.tensor(grid), padding_mode=padding_mode,
                            align_corners=False)
        _close(cy, ty)
    cy = F.grid_sample(clnet.tensor(x), clnet.tensor(grid), align_corners=False)
    assert np.all(cy.numpy()[..., :2] == 0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_spatial_transformer_chain_grads_to_theta_and_input(align_corners, rng):
    """affine_grid -> grid_sample, as in the spatial transformer tutorial."""
    x = rng.standard_normal((3, 2, 9, 7)).astype(np.float32)
    th = (np.array([[1.1, 0.2, 0.1], [-0.1, 0.9, -0.2]], np.float32)
          + 0.2 * rng.standard_normal((3, 2, 3)).astype(np.float32))
    cx, tx = _pair(x)
    ct, tt = _pair(th)
    cy = F.grid_sample(cx, F.affine_grid(ct, (3, 2, 5, 7), align_corners=align_corners),
                       align_corners=align_corners)
    ty = TF.grid_sample(tx, TF.affine_grid(tt, (3, 2, 5, 7), align_corners=align_corners),
                        align_corners=align_corners)
    _close(cy, ty)
    (cy * cy).sum().backward()
    (ty * ty).sum().backward()
    _close(cx.grad, tx.grad, 1e-4, 1e-4)
    _close(ct.grad, tt.grad, 1e-4, 1e-4)


def test_identity_theta_reproduces_input(rng):
    x = rng.standard_normal((2, 1, 5, 7)).astype(np.float32)
    th = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (2, 1, 1))
    for ac in (True, False):
        grid = F.affine_grid(clnet.tensor(th), (2, 1, 5, 7), align_corners=ac)
        y = F.grid_sample(clnet.tensor(x), grid, align_corners=ac)
        np.testing.assert_allclose(y.numpy(), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_5d(mode, rng):
    x = rng.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
    grid = _grid(rng, (2, 2, 3, 2, 3))
    cx, tx = _pair(x)
    cgr, tgr = _pair(grid)
    cy = F.grid_sample(cx, cgr, mode=mode, padding_mode="border", align_corners=False)
    ty = TF.grid_sample(tx, tgr, mode=mode, padding_mode="border", align_corners=False)
    _close(cy, ty)
    cy.sum().backward()
    ty.sum().backward()
    _close(cx.grad, tx.grad, 1e-4, 1e-4)
    _close(cgr.grad, tgr.grad, 1e-4, 1e-4)


def test_default_align_corners_warns_and_is_false(rng):
    th = clnet.tensor(rng.standard_normal((1, 2, 3)).astype(np.float32))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        g = F.affine_grid(th, (1, 1, 3, 5))
    _close(g, F.affine_grid(th, (1, 1, 3, 5), align_corners=False), 0, 0)
    x = clnet.tensor(rng.standard_normal((1, 1, 3, 5)).astype(np.float32))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        y = F.grid_sample(x, g)
    _close(y, F.grid_sample(x, g, align_corners=False), 0, 0)


def test_errors_name_the_problem():
    x = clnet.zeros(1, 1, 3, 3)
    g = clnet.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="expected mode to be"):
        F.grid_sample(x, g, mode="cubic", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(ValueError, match="bicubic"):
        F.grid_sample(x, g, mode="bicubic", align_corners=False)
    with pytest.raises(RuntimeError, match="size 2 in last dimension"):
        F.grid_sample(x, clnet.zeros(1, 2, 2, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="same batch size"):
        F.grid_sample(x, clnet.zeros(2, 2, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="shape Nx2x3"):
        F.affine_grid(clnet.zeros(1, 3, 3), (1, 1, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(clnet.zeros(1, 2, 3, dtype=clnet.long), (1, 1, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match="only supports 4D and 5D"):
        F.affine_grid(clnet.zeros(1, 2, 3), (1, 1, 3), align_corners=False)
