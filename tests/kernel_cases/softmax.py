"""cl_kernels/softmax.cl: softmax / log-softmax forward and backward, fused cross-entropy forward
and backward (with weights, ignore_index and label smoothing), for every float dtype, in both row
layouts (``dev.tuning["softmax.ls"]``: 1 = a work-item per row in vectors, the CPU layout; 64 = a
work-group per row, the GPU layout; Oclgrind reports a GPU and PoCL a CPU, so both are forced).
Row lengths below, at and past the vector width, with vector tails."""
import numpy as np

import clnet
from clnet.ops.softmax import cross_entropy_rows, log_softmax, softmax

from ._util import check, dtype_names, each_tuning, host


def _each_layout(dev):
    return each_tuning(dev, "softmax.ls", (1, 64))


def _float_dtypes(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def _np_log_softmax(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


def softmax_forward_and_backward(dev):
    for _ in _each_layout(dev):
        for name in _float_dtypes(dev):
            for shape in ((1, 1), (3, 7), (2, 65), (130, 3), (2, 16)):
                a = host(name, shape, seed=3)
                for log in (False, True):
                    x = clnet.tensor(a, device=dev, requires_grad=True)
                    y = (log_softmax if log else softmax)(x, 1)
                    want = _np_log_softmax(a.astype(np.float64), 1)
                    check(y, want if log else np.exp(want))
                    y.backward(clnet.ones(shape, dtype=getattr(clnet, name), device=dev))
                    assert x.grad.shape == shape


def cross_entropy_forward_and_backward(dev):
    for _ in _each_layout(dev):
        for name in _float_dtypes(dev):
            for rows, classes in ((1, 2), (5, 3), (9, 65), (3, 8)):
                a = host(name, (rows, classes), seed=4)
                t = np.arange(rows, dtype=np.int64) % classes
                t[0] = -100 if rows > 1 else t[0]
                for weight in (None, np.linspace(0.5, 1.5, classes)):
                    for eps in (0.0, 0.1):
                        x = clnet.tensor(a, device=dev, requires_grad=True)
                        w = None if weight is None else clnet.tensor(
                            weight.astype(a.dtype), device=dev)
                        tt = clnet.tensor(t, device=dev)
                        loss, wrow = cross_entropy_rows(x, tt, w, -100, eps)
                        loss.backward(clnet.ones(rows, dtype=getattr(clnet, name), device=dev))
                        assert x.grad.shape == (rows, classes)
                        assert np.all(np.isfinite(loss.numpy()))


CASES = [softmax_forward_and_backward, cross_entropy_forward_and_backward]
