"""cl_kernels/rnn.cl: the fused LSTM and GRU cell steps, forward and backward, for every float
dtype, with strided (row-stride) operands and sizes around the 64-wide work-group."""
import numpy as np

import clnet
from clnet.ops.rnn import gru_cell, lstm_cell

from ._util import check, dtype_names, host


def _float_dtypes(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _wide(a, dev):
    """``a`` (N, C) as the left half of an (N, 2C) tensor: a row stride of 2C."""
    big = np.concatenate([a, np.zeros_like(a)], 1)
    return clnet.tensor(big, device=dev)[:, :a.shape[1]]


def lstm_cell_forward_and_backward(dev):
    for name in _float_dtypes(dev):
        for N, H in ((1, 1), (3, 7), (2, 33)):
            g = host(name, (N, 4 * H), seed=1)
            c = host(name, (N, H), seed=2)
            gt = clnet.tensor(g, device=dev, requires_grad=True)
            ct = _wide(c, dev).requires_grad_(True)
            h_out, c_out = lstm_cell(gt, ct)
            g64, c64 = g.astype(np.float64), c.astype(np.float64)
            i, f, gg, o = (g64[:, k * H:(k + 1) * H] for k in range(4))
            c_want = _sig(f) * c64 + _sig(i) * np.tanh(gg)
            check(c_out, c_want)
            check(h_out, _sig(o) * np.tanh(c_want))
            ones = clnet.ones(N, H, dtype=getattr(clnet, name), device=dev)
            clnet.autograd.backward([h_out, c_out], [ones, ones])
            assert gt.grad.shape == (N, 4 * H) and np.all(np.isfinite(gt.grad.numpy()))
            check(ct.grad, _sig(f) * (1 + _sig(o) * (1 - np.tanh(c_want) ** 2)))


def gru_cell_forward_and_backward(dev):
    for name in _float_dtypes(dev):
        for N, H in ((1, 1), (3, 7), (2, 33)):
            a, b, h = host(name, (N, 3 * H), seed=3), host(name, (N, 3 * H), seed=4), \
                host(name, (N, H), seed=5)
            at = clnet.tensor(a, device=dev, requires_grad=True)
            bt = _wide(b, dev).requires_grad_(True)
            ht = clnet.tensor(h, device=dev, requires_grad=True)
            out = gru_cell(at, bt, ht)
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            r = _sig(a64[:, :H] + b64[:, :H])
            z = _sig(a64[:, H:2 * H] + b64[:, H:2 * H])
            n = np.tanh(a64[:, 2 * H:] + r * b64[:, 2 * H:])
            check(out, (1 - z) * n + z * h)
            out.backward(clnet.ones(N, H, dtype=getattr(clnet, name), device=dev))
            check(ht.grad, z)
            assert np.all(np.isfinite(at.grad.numpy())) and bt.grad.shape == (N, 3 * H)


def _both_paths(case):
    """Run ``case(dev)`` on the fused step kernels (rnn.cl built with RNN_STEP) and on the
    GEMM + cell launches, whichever the device would pick by default."""
    from clnet.kernels import rnn as rnn_kernels

    def run(dev):
        saved = rnn_kernels.FUSED_STEPS
        try:
            for fused in (True, False):
                rnn_kernels.FUSED_STEPS = fused
                case(dev)
        finally:
            rnn_kernels.FUSED_STEPS = saved
    run.__name__ = case.__name__
    run.__doc__ = case.__doc__
    return run


def _lstm_ref(p, h, c, w, reverse):
    L, H = p.shape[0], h.shape[1]
    out = [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        g = p[t] + h @ w.T
        i, f, gg, o = (g[:, k * H:(k + 1) * H] for k in range(4))
        c = _sig(f) * c + _sig(i) * np.tanh(gg)
        h = _sig(o) * np.tanh(c)
        out[t] = h
    return np.stack(out)


def _gru_ref(p, h, w, b, reverse):
    L, H = p.shape[0], h.shape[1]
    out = [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        gh = h @ w.T + (b if b is not None else 0)
        r = _sig(p[t, :, :H] + gh[:, :H])
        z = _sig(p[t, :, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(p[t, :, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out[t] = h
    return np.stack(out)


def _f64(*ts):
    return [t.detach().numpy().astype(np.float64) if t is not None else None for t in ts]


@_both_paths
def lstm_layer_sequences(dev):
    """The whole-sequence LSTM node both directions, on the fused step kernels (weight packing,
    one step launch each way) and on the GEMM + cell launches; batch and hidden sizes below and
    past the step kernels' row and vector blocks."""
    from clnet.nn.rnn_sequence import lstm_layer
    for name in _float_dtypes(dev):
        for L, N, H in ((1, 1, 1), (3, 2, 5), (2, 5, 17)):
            dt = getattr(clnet, name)
            proj = clnet.tensor(host(name, (L, N, 4 * H), seed=6), device=dev,
                                requires_grad=True)
            h0 = clnet.tensor(host(name, (N, H), seed=7), device=dev, requires_grad=True)
            c0 = clnet.tensor(host(name, (N, H), seed=8), device=dev, requires_grad=True)
            w = clnet.tensor(host(name, (4 * H, H), seed=9), device=dev, requires_grad=True)
            for reverse, bf in ((False, False), (True, True)):
                # bf: the steps also store h batch-first (the output's second layout)
                out, h, c = lstm_layer(proj, h0, c0, w, reverse, bf)
                check(out, _lstm_ref(*_f64(proj, h0, c0, w), reverse))
                clnet.autograd.backward([out, h, c], [clnet.ones(L, N, H, dtype=dt, device=dev),
                                                      clnet.ones(N, H, dtype=dt, device=dev),
                                                      clnet.ones(N, H, dtype=dt, device=dev)])
                assert np.all(np.isfinite(w.grad.numpy()))


@_both_paths
def gru_layer_sequences(dev):
    """The whole-sequence GRU node both directions, with and without b_hh, on the fused step
    kernels and on the GEMM + cell launches (the carried gradient summed in the backward
    kernel); hidden sizes below and past the vector width."""
    from clnet.nn.rnn_sequence import gru_layer
    for name in _float_dtypes(dev):
        for L, N, H in ((1, 1, 1), (3, 2, 5), (2, 5, 17)):
            dt = getattr(clnet, name)
            proj = clnet.tensor(host(name, (L, N, 3 * H), seed=6), device=dev,
                                requires_grad=True)
            h0 = clnet.tensor(host(name, (N, H), seed=7), device=dev, requires_grad=True)
            w = clnet.tensor(host(name, (3 * H, H), seed=9), device=dev, requires_grad=True)
            b = clnet.tensor(host(name, (3 * H,), seed=10), device=dev, requires_grad=True)
            for reverse, bias, bf in ((False, b, True), (True, None, False)):
                out, h = gru_layer(proj, h0, w, bias, reverse, bf)
                check(out, _gru_ref(*_f64(proj, h0, w, bias), reverse))
                clnet.autograd.backward([out, h], [clnet.ones(L, N, H, dtype=dt, device=dev),
                                                   clnet.ones(N, H, dtype=dt, device=dev)])
                assert np.all(np.isfinite(w.grad.numpy()))


def rnn_layer_sequences(dev):
    """The whole-sequence Elman node: tanh and relu activations in place and their backward,
    both directions, runs of elements below and past the vector width."""
    from clnet.nn.rnn_sequence import rnn_layer
    for name in _float_dtypes(dev):
        for L, N, H in ((1, 1, 1), (3, 2, 5)):
            dt = getattr(clnet, name)
            proj = clnet.tensor(host(name, (L, N, H), seed=6), device=dev, requires_grad=True)
            h0 = clnet.tensor(host(name, (N, H), seed=7), device=dev, requires_grad=True)
            w = clnet.tensor(host(name, (H, H), seed=9), device=dev, requires_grad=True)
            for use_relu, reverse in ((False, False), (True, True)):
                out, h = rnn_layer(proj, h0, w, use_relu, reverse)
                act = (lambda v: np.maximum(v, 0)) if use_relu else np.tanh
                p64, h64, w64 = (x.detach().numpy().astype(np.float64) for x in (proj, h0, w))
                want, steps = [None] * L, range(L - 1, -1, -1) if reverse else range(L)
                for t in steps:
                    h64 = act(p64[t] + h64 @ w64.T)
                    want[t] = h64
                check(out, np.stack(want))
                clnet.autograd.backward([out, h], [clnet.ones(L, N, H, dtype=dt, device=dev),
                                                   clnet.ones(N, H, dtype=dt, device=dev)])
                assert np.all(np.isfinite(w.grad.numpy()))


CASES = [lstm_cell_forward_and_backward, gru_cell_forward_and_backward, lstm_layer_sequences,
         gru_layer_sequences, rnn_layer_sequences]
