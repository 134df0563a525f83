"""dropout (and its channel-wise / alpha forms) and embedding, against torch where the result is
deterministic, and by statistics where it is random.

float32 tolerances: rtol 1e-4, atol 1e-5 (embedding gradients add a few rows: same order as
torch's CPU kernel, so in practice they match to the last bit).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import dropout as D
from clnet.ops.embedding import embedding
from helpers import as_noncontiguous, assert_close

TOL = dict(rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(p):
    clnet.manual_seed(1)
    x = clnet.ones(200, 500)
    y = D.dropout(x, p).numpy()
    kept = y != 0
    # 100,000 Bernoulli draws: the kept fraction is within 5 standard deviations of 1 - p
    sd = np.sqrt(p * (1 - p) / y.size)
    assert abs(kept.mean() - (1 - p)) < 5 * sd
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    # rows are not copies of each other (the mask is not periodic)
    assert not np.array_equal(kept[0], kept[1])


def test_dropout_backward_is_grad_times_mask(rng):
    x = clnet.tensor(rng.standard_normal((37, 41)).astype(np.float32), requires_grad=True)
    y = D.dropout(x, 0.3)
    g = rng.standard_normal((37, 41)).astype(np.float32)
    (gx,) = clnet.autograd.grad([y], [x], [clnet.tensor(g)])
    mask = y.detach().numpy() / x.detach().numpy()
    np.testing.assert_allclose(gx.numpy(), g * mask, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mask[mask != 0], 1 / 0.7, rtol=1e-5)
    assert 0 < (mask == 0).mean() < 1


def test_dropout_identity_cases_and_p_one():
    x = clnet.ones(5, 3)
    assert D.dropout(x, 0.5, training=False) is x
    assert D.dropout(x, 0.0) is x
    assert D.dropout1d(clnet.ones(2, 3, 4), 0.5, False).shape == (2, 3, 4)
    np.testing.assert_array_equal(D.dropout(x, 1.0).numpy(), np.zeros((5, 3)))


def test_dropout_inplace_and_noncontiguous(rng):
    clnet.manual_seed(3)
    x = clnet.ones(64, 32)
    out = D.dropout(x, 0.5, inplace=True)
    assert out is x
    v = x.numpy()
    assert set(np.unique(v)) <= {0.0, 2.0} and 0 < (v == 0).mean() < 1
    a = rng.standard_normal((6, 10)).astype(np.float32)
    y = D.dropout(as_noncontiguous(a, "transpose"), 0.5).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 2 * a[kept], rtol=1e-6)


@pytest.mark.parametrize("fn,shape,mask_shape", [
    (D.dropout1d, (4, 6, 50), (4, 6, 1)), (D.dropout1d, (6, 50), (6, 1)),
    (D.dropout2d, (3, 5, 7, 8), (3, 5, 1, 1)), (D.dropout3d, (2, 4, 3, 5, 6), (2, 4, 1, 1, 1)),
    (D.dropout3d, (4, 3, 5, 6), (4, 1, 1, 1))])
def test_channel_dropout_drops_whole_channels(fn, shape, mask_shape):
    clnet.manual_seed(4)
    y = fn(clnet.ones(*shape), 0.5).numpy()
    axes = tuple(d for d, s in enumerate(mask_shape) if s == 1)
    assert np.all(y.min(axis=axes) == y.max(axis=axes))     # one value per channel
    assert set(np.unique(y)) <= {0.0, 2.0}


def test_alpha_dropout_matches_torch_formula_and_keeps_moments():
    clnet.manual_seed(5)
    x = clnet.randn(400, 500)
    y = D.alpha_dropout(x, 0.2, training=True).numpy()
    xs = x.numpy()
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * 0.2 + 1) * 0.8)
    b_drop = -alpha * a * 0.8          # value of a dropped unit: a * 0 + b with noise 0
    kept = ~np.isclose(y, b_drop, atol=1e-6) | np.isclose(xs * a + alpha * a * 0.2, b_drop)
    np.testing.assert_allclose(y[kept], xs[kept] * a + alpha * a * 0.2, rtol=1e-5, atol=1e-5)
    assert abs(kept.mean() - 0.8) < 0.01
    # SELU-normalised inputs keep zero mean and unit variance (within sampling error)
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert D.alpha_dropout(x, 0.2) is x            # torch's default: training=False


def test_dropout_errors_and_torch_level_names():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got "
                                         "1.5"):
        D.dropout(clnet.ones(3), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        D.alpha_dropout(clnet.ones(3), -0.1, True)
    with pytest.raises(TypeError, match="floating-point"):
        D.dropout(clnet.ones(3, dtype=clnet.int64), 0.5)
    with pytest.raises(ValueError, match="Expected 2D or 3D input"):
        D.dropout1d(clnet.ones(3), 0.5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        D.dropout2d(clnet.ones(3), 0.5)
    x = clnet.ones(3, 4)
    assert clnet.dropout(x, 0.5, False) is x
    assert tuple(clnet.feature_dropout(clnet.ones(2, 3, 4), 0.5, True).shape) == (2, 3, 4)


# ------------------------------------------------------------------ embedding
def _pair(rng, V, D, idx_shape, low=0):
    W = rng.standard_normal((V, D)).astype(np.float32)
    idx = rng.integers(low, V, idx_shape)
    return W, idx


@pytest.mark.parametrize("V,D,idx_shape", [(10, 5, (4, 7)), (1, 3, (6,)), (100, 64, (32, 33)),
                                           (7, 1, (3, 2, 2)), (50, 130, (5,)), (5, 4, ())])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_embedding_forward_backward_matches_torch(rng, V, D, idx_shape, index_dtype):
    W, idx = _pair(rng, V, D, idx_shape)
    idx = idx.astype(index_dtype)
    cw, tw = clnet.tensor(W, requires_grad=True), torch.tensor(W, requires_grad=True)
    y = embedding(clnet.tensor(idx), cw)
    ty = F.embedding(torch.tensor(idx), tw)
    assert_close(y, ty, **TOL)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    (gw,) = clnet.autograd.grad([y], [cw], [clnet.tensor(g)])
    (tgw,) = torch.autograd.grad([ty], [tw], [torch.tensor(g)])
    assert_close(gw, tgw, **TOL)


@pytest.mark.parametrize("padding_idx", [0, 3, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_padding_and_repeated_indices(rng, padding_idx, scale_grad_by_freq):
    V, D = 6, 4
    W = rng.standard_normal((V, D)).astype(np.float32)
    idx = np.array([[0, 3, 3, 5], [5, 5, 0, 1], [3, 3, 3, 2]])     # repeats, padding rows hit
    cw, tw = clnet.tensor(W, requires_grad=True), torch.tensor(W, requires_grad=True)
    y = embedding(clnet.tensor(idx), cw, padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    ty = F.embedding(torch.tensor(idx), tw, padding_idx,
                     scale_grad_by_freq=scale_grad_by_freq)
    assert_close(y, ty, **TOL)
    g = rng.standard_normal((3, 4, D)).astype(np.float32)
    (gw,) = clnet.autograd.grad([y], [cw], [clnet.tensor(g)])
    (tgw,) = torch.autograd.grad([ty], [tw], [torch.tensor(g)])
    assert_close(gw, tgw, **TOL)
    assert np.all(gw.numpy()[padding_idx % V] == 0)


def test_embedding_gradient_accumulates_across_steps_and_is_deterministic(rng):
    W, idx = _pair(rng, 100, 16, (64, 20))
    cw = clnet.tensor(W, requires_grad=True)
    g = clnet.tensor(rng.standard_normal((64, 20, 16)).astype(np.float32))
    grads = [clnet.autograd.grad([embedding(clnet.tensor(idx), cw)], [cw], [g])[0].numpy()
             for _ in range(3)]
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], grads[2])
    tw = torch.tensor(W, requires_grad=True)
    F.embedding(torch.tensor(idx), tw).backward(torch.tensor(g.numpy()))
    np.testing.assert_allclose(grads[0], tw.grad.numpy(), **TOL)


def test_embedding_noncontiguous_weight_and_indices(rng):
    W, idx = _pair(rng, 9, 6, (5, 4))
    cw = as_noncontiguous(W, "transpose").requires_grad_(True)
    ci = as_noncontiguous(idx, "step")
    tw = torch.tensor(W, requires_grad=True)
    y = embedding(ci, cw)
    ty = F.embedding(torch.tensor(idx), tw)
    assert_close(y, ty, **TOL)
    g = rng.standard_normal((5, 4, 6)).astype(np.float32)
    (gw,) = clnet.autograd.grad([y], [cw], [clnet.tensor(g)])
    ty.backward(torch.tensor(g))
    assert_close(gw, tw.grad, **TOL)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_embedding_max_norm_renormalises_looked_up_rows_in_place(rng, norm_type):
    W = (rng.standard_normal((8, 5)) * 3).astype(np.float32)
    idx = np.array([1, 1, 4, 6, 4])
    cw, tw = clnet.tensor(W), torch.tensor(W)
    y = embedding(clnet.tensor(idx), cw, max_norm=1.5, norm_type=norm_type)
    ty = F.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
    assert_close(y, ty, **TOL)
    assert_close(cw, tw, **TOL)                      # rows 1, 4, 6 shrunk; the others untouched
    np.testing.assert_array_equal(cw.numpy()[0], W[0])


def test_embedding_double_backward(rng):
    """The weight gradient is linear in the incoming gradient g: its own backward is a lookup,
    d<gw, v>/dg[i] = v[idx[i]] (divided by idx[i]'s count with scale_grad_by_freq; zero for the
    padding index)."""
    W, idx = _pair(rng, 6, 3, (4,))
    idx[1] = idx[0]
    g0 = rng.standard_normal((4, 3)).astype(np.float32)
    v = rng.standard_normal((6, 3)).astype(np.float32)
    for pad, freq in [(None, False), (int(idx[2]), False), (int(idx[2]), True)]:
        cw = clnet.tensor(W, requires_grad=True)
        cg = clnet.tensor(g0, requires_grad=True)
        (gw,) = clnet.autograd.grad([embedding(clnet.tensor(idx), cw, pad,
                                               scale_grad_by_freq=freq)], [cw], [cg],
                                    create_graph=True)
        (ggo,) = clnet.autograd.grad([gw], [cg], [clnet.tensor(v)])
        counts = np.array([np.sum(idx == i) for i in idx], np.float32)[:, None]
        want = v[idx] / (counts if freq else 1) * (idx != pad)[:, None]
        np.testing.assert_allclose(ggo.numpy(), want, **TOL)
        if not freq:    # torch's double backward ignores scale_grad_by_freq; compare without it
            tw = torch.tensor(W, requires_grad=True)
            tg = torch.tensor(g0, requires_grad=True)
            (tgw,) = torch.autograd.grad([F.embedding(torch.tensor(idx), tw, pad)], [tw], [tg],
                                         create_graph=True)
            (tggo,) = torch.autograd.grad([tgw], [tg], [torch.tensor(v)])
            assert_close(ggo, tggo, **TOL)


def test_embedding_torch_level_argument_order(rng):
    W, idx = _pair(rng, 5, 3, (4,))
    assert_close(clnet.embedding(clnet.tensor(W), clnet.tensor(idx)),
                 torch.embedding(torch.tensor(W), torch.tensor(idx)), **TOL)


def test_embedding_out_of_range_device_indices_raise_read_zero_and_get_no_gradient(rng):
    W = rng.standard_normal((4, 3)).astype(np.float32)
    cw = clnet.tensor(W, requires_grad=True)
    y = embedding(clnet.tensor(np.array([1, 7, 1])), cw)
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        y.detach().numpy()           # reported at the next read, then cleared
    np.testing.assert_array_equal(y.detach().numpy()[1], 0)
    (gw,) = clnet.autograd.grad([y], [cw], [clnet.ones(3, 3)])
    np.testing.assert_array_equal(gw.numpy(), np.array([[0] * 3, [2] * 3, [0] * 3, [0] * 3]))


def test_embedding_errors():
    w = clnet.zeros(4, 2)
    with pytest.raises(IndexError, match="index 5 is out of range for a weight with 4 rows"):
        embedding([1, 5], w)
    with pytest.raises(IndexError, match="out of range"):
        embedding(np.array([[-1]]), w)
    with pytest.raises(TypeError, match="Long, Int"):
        embedding(clnet.zeros(3), w)
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        embedding(clnet.tensor([1]), w, padding_idx=4)
    with pytest.raises(ValueError, match="2-D"):
        embedding(clnet.tensor([1]), clnet.zeros(4))
    with pytest.raises(ValueError, match="sparse"):
        embedding(clnet.tensor([1]), w, sparse=True)
    y = embedding([[1, 3]], w)                      # host lists in range are uploaded
    assert tuple(y.shape) == (1, 2, 2)
