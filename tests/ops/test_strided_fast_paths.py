"""The fast elementwise/copy paths: the 3-D NDRange form of the *_n kernels (<= 3 collapsed dims,
the innermost or the largest dim leading; more dims: one 3-D launch per outer index), the 1-D
fallback (too many outer indices), the vectorised contiguous
copy/fill/where kernels and ReLU's one-kernel backward (threshold_backward), against numpy and
torch."""
import numpy as np
import pytest
import torch

import clnet
from clnet.ops.copy import fill_into
from helpers import assert_close

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def _arr(rng, shape, dt):
    if dt is np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dt).kind == "f":
        return rng.uniform(-3, 3, shape).astype(dt)
    return rng.integers(-9, 10, shape).astype(dt)


def _dev_ok(dt):
    return dt is not np.float64 or clnet.device().has_fp64


PERMS = [
    ((32, 5, 7), (1, 0, 2)),          # 3 dims, a transpose of the two outer ones
    ((3, 4, 5), (2, 0, 1)),           # 3 dims, innermost short: the largest dim leads
    ((131, 2), (1, 0)),               # 2 dims, prime, innermost of 2
    ((1, 7, 1), (2, 1, 0)),           # size-1 dims collapse to one dim
    ((2, 3, 4, 5), (3, 1, 0, 2)),     # 4 non-mergeable dims: a 3-D launch per outer index
    ((2, 3, 2, 3, 2), (4, 3, 2, 1, 0)),
    ((32, 64, 4, 8), (0, 2, 1, 3)),   # attention's head split: 32 launches
    ((70, 3, 2, 5), (0, 2, 1, 3)),    # 70 outer indices, past the launch cap: the 1-D form
    ((65, 1), (1, 0)),
]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape,perm", PERMS)
def test_permuted_copy_every_dtype(shape, perm, dt, rng):
    if not _dev_ok(dt):
        pytest.skip("no fp64")
    a = _arr(rng, shape, dt)
    t = clnet.tensor(a).permute(*perm)
    assert_close(t.contiguous(), np.ascontiguousarray(a.transpose(perm)))
    assert_close(t.clone(), a.transpose(perm))
    # a cast through the strided path
    assert_close(t.to(clnet.float32), a.transpose(perm).astype(np.float32))


@pytest.mark.parametrize("shape,perm", PERMS)
def test_permuted_binary_unary_and_broadcast(shape, perm, rng):
    a = _arr(rng, shape, np.float32)
    b = _arr(rng, shape, np.float32)
    ap, bp = a.transpose(perm), b.transpose(perm)
    ta, tb = clnet.tensor(a).permute(*perm), clnet.tensor(b).permute(*perm)
    assert_close(ta + tb, ap + bp)
    assert_close(ta * 2.0, ap * np.float32(2))
    assert_close(2.0 - ta, np.float32(2) - ap)
    assert_close(ta.exp(), np.exp(ap), rtol=2e-5, atol=2e-6)
    assert_close(ta > tb, ap > bp)
    # broadcast: a row against the permuted tensor, and the permuted tensor into a larger one
    row = _arr(rng, ap.shape[-1:], np.float32)
    assert_close(ta - clnet.tensor(row), ap - row)
    assert_close(clnet.tensor(row) * ta, row * ap)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 64, 65, 257, 4099])
@pytest.mark.parametrize("dt", DTYPES)
def test_contiguous_copy_cast_and_fill_sizes(n, dt, rng):
    if not _dev_ok(dt):
        pytest.skip("no fp64")
    a = _arr(rng, (n,), dt)
    t = clnet.tensor(a)
    assert_close(t.clone(), a)
    for dst in (np.float32, np.int64, np.bool_, np.int32):
        assert_close(t.to(clnet.tensor(np.zeros(1, dst)).dtype), a.astype(dst))
    if n > 1:   # unaligned source and destination offsets take the scalar tail of the kernels
        assert_close(t[1:].clone(), a[1:])
        out = clnet.zeros(n, dtype=t.dtype)
        out[1:] = t[:-1]
        want = np.zeros(n, a.dtype)
        want[1:] = a[:-1]
        assert_close(out, want)
    value = True if dt is np.bool_ else 3
    f = clnet.zeros(n, dtype=t.dtype)
    fill_into(f, value)
    assert_close(f, np.full(n, value, a.dtype))
    if n > 2:
        fill_into(f[1:], 0)        # unaligned fill
        want = np.zeros(n, a.dtype)
        want[0] = value
        assert_close(f, want)


def test_strided_fill_all_forms(rng):
    t = clnet.zeros(4, 5, 6)
    fill_into(t.permute(2, 0, 1)[::2], 7.0)
    want = np.zeros((4, 5, 6), np.float32)
    want.transpose(2, 0, 1)[::2] = 7
    assert_close(t, want)
    u = clnet.zeros(2, 3, 4, 5)
    fill_into(u.permute(3, 1, 2, 0)[:, ::2], 1.0)        # 1-D fallback
    want = np.zeros((2, 3, 4, 5), np.float32)
    want.transpose(3, 1, 2, 0)[:, ::2] = 1
    assert_close(u, want)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 7, 64, 65, 1000])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "broadcast", "offset"])
def test_where_every_dtype_layout_and_scalars(dt, n, layout, rng):
    if not _dev_ok(dt):
        pytest.skip("no fp64")
    c = rng.random((n, 3)) < 0.5
    x, y = _arr(rng, (n, 3), dt), _arr(rng, (n, 3), dt)
    tc, tx, ty = clnet.tensor(c), clnet.tensor(x), clnet.tensor(y)
    if layout == "strided":
        tc, tx, ty = (clnet.tensor(np.repeat(v, 2, 0))[::2] for v in (c, x, y))
    elif layout == "broadcast":
        c = c[:, :1]
        tc = clnet.tensor(c)
    elif layout == "offset":
        tc, tx, ty = (clnet.tensor(np.concatenate([v[:1], v]))[1:] for v in (c, x, y))
    s1 = True if dt is np.bool_ else 2
    s2 = False if dt is np.bool_ else -1
    tdt = torch.from_numpy(np.zeros(1, dt)).dtype
    tcw, txw, tyw = torch.from_numpy(np.broadcast_to(c, (n, 3)).copy()), torch.from_numpy(x), \
        torch.from_numpy(y)
    assert_close(clnet.where(tc, tx, ty), torch.where(tcw, txw, tyw))
    assert_close(clnet.where(tc, tx, s2), torch.where(tcw, txw, torch.tensor(s2, dtype=tdt)))
    assert_close(clnet.where(tc, s1, ty), torch.where(tcw, torch.tensor(s1, dtype=tdt), tyw))
    both = clnet.where(tc, s1, s2)
    assert both.shape == (n, 3) or layout == "broadcast"
    assert_close(both, np.where(c, s1, s2).astype(both.numpy().dtype))


def test_where_empty_and_zero_dim():
    assert clnet.where(clnet.zeros(0, 3) > 0, clnet.zeros(0, 3), 1.0).shape == (0, 3)
    r = clnet.where(clnet.tensor(True), clnet.tensor(2.0), 3.0)
    assert r.shape == () and r.item() == 2.0


@pytest.mark.parametrize("shape", [(1,), (7,), (65,), (4, 33), (0, 5)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "relu6", "hardtanh", "threshold", "elu",
                                 "hardsigmoid"])
def test_activation_backward_parity_with_torch(shape, layout, act, rng):
    a = rng.uniform(-2, 2, shape).astype(np.float32)
    a[a.size // 2:a.size // 2 + 1] = 0.0 if a.size else a[:0]     # the kink itself
    g = rng.uniform(-1, 1, shape).astype(np.float32)
    x = clnet.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    cf, tf = clnet.nn.functional, torch.nn.functional
    fns = {"relu": (cf.relu, tf.relu), "leaky_relu": (lambda v: cf.leaky_relu(v, 0.2),
                                                       lambda v: tf.leaky_relu(v, 0.2)),
           "relu6": (cf.relu6, tf.relu6), "hardtanh": (cf.hardtanh, tf.hardtanh),
           "threshold": (lambda v: cf.threshold(v, 0.5, -1.0),
                         lambda v: tf.threshold(v, 0.5, -1.0)),
           "elu": (cf.elu, tf.elu), "hardsigmoid": (cf.hardsigmoid, tf.hardsigmoid)}
    fc, ft = fns[act]
    xin, xtin = (x, xt) if layout == "contiguous" or len(shape) < 2 else (x.t(), xt.t())
    gg = g if layout == "contiguous" or len(shape) < 2 else np.ascontiguousarray(g.T)
    yc, yt = fc(xin), ft(xtin)
    assert_close(yc, yt, rtol=1e-5, atol=1e-6)
    yc.backward(clnet.tensor(gg))
    yt.backward(torch.tensor(gg))
    assert_close(x.grad, xt.grad, rtol=1e-5, atol=1e-6)


def test_relu_backward_is_one_kernel_with_torch_nan_semantics():
    a = np.array([-1.0, 0.0, 2.0, np.nan, 3.0], np.float32)
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    x = clnet.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    clnet.relu(x).backward(clnet.tensor(g))
    torch.relu(xt).backward(torch.tensor(g))
    assert_close(x.grad, xt.grad)          # NaN output passes the gradient, as in torch
    y = clnet.relu(clnet.tensor(a, requires_grad=True))
    assert y.grad_fn.name().startswith("Relu")


def test_relu_double_backward_matches_torch(rng):
    a = rng.uniform(-2, 2, (6, 5)).astype(np.float32)
    x = clnet.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    (gx,) = clnet.autograd.grad((clnet.relu(x) * x).sum(), x, create_graph=True)
    (gxt,) = torch.autograd.grad((torch.relu(xt) * xt).sum(), xt, create_graph=True)
    assert_close(gx, gxt)
    gx.sum().backward()
    gxt.sum().backward()
    assert_close(x.grad, xt.grad)


def test_relu_backward_broadcast_and_noncontiguous_grad(rng):
    a = rng.uniform(-2, 2, (4, 6)).astype(np.float32)
    x = clnet.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    clnet.relu(x).sum().backward()      # the gradient arrives as an expanded (stride-0) tensor
    torch.relu(xt).sum().backward()
    assert_close(x.grad, xt.grad)
    x.grad = None
    xt.grad = None
    g = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    clnet.relu(x).backward(clnet.tensor(g).t())
    torch.relu(xt).backward(torch.tensor(g).t())
    assert_close(x.grad, xt.grad)
