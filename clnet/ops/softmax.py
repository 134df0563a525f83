"""Softmax, log-softmax and the fused cross-entropy over class rows (cl_kernels/softmax.cl).

Forward passes are one kernel each (a work-group per row). Backward passes use a fused kernel
too, unless the backward itself is being recorded (``create_graph=True``), where they are
written with differentiable ops so second derivatives work.
"""
import numpy as np

from .. import dtypes, graph
from ..backend.device_errors import error_flag
from ..backend.programs import ProgramCache
from ..tensor import Tensor
from ._layout import check_index_range, row_groups, row_local
from .copy import cast, contiguous
from .creation import zeros
from .index import index_select, one_hot
from .pointwise import where
from .reduce import sum as _sum
from .views import movedim, reshape

_I32 = np.int32

__all__ = ["softmax", "log_softmax"]


def _row_local(dev):
    """LS of cl_kernels/softmax.cl on ``dev`` (row_local: "softmax.ls")."""
    return row_local(dev, "softmax.ls")


_programs = ProgramCache("softmax", lambda dev, dt, ls: (("T", dt.cl), ("LS", ls),
                                                          ("VW", 32 // dt.itemsize)))


def _program(dev, dt):
    return _programs(dev, dt, _row_local(dev))


def _rows_launch(dev, kernel, rows, *args):
    ls = _row_local(dev)
    if ls == 1:     # the kernels loop over rows (row += groups)
        kernel(dev.queue, (row_groups(dev, rows, 1),), (1,), *args)
    else:
        kernel(dev.queue, (rows * ls,), (ls,), *args)


def _float_input(op, x, dtype):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if dtype is not None:
        x = cast(x, dtypes.to_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype} (pass dtype=)")
    return x


def _to_rows(x, d):
    """x with dim d moved last, contiguous, viewed as (rows, n)."""
    moved = movedim(x, d, -1) if d != x.dim() - 1 else x
    c = contiguous(moved)
    n = x._shape[d] if x._shape else 1
    rows = c.numel() // n if n else 0
    return c, rows, n


def _softmax_impl(op, x, dim, log_out):
    nd = x.dim()
    d = x._wrap_dim(dim) if nd else 0
    src = x if nd else reshape(x, (1,))
    c, rows, n = _to_rows(src, d)
    y = Tensor._empty(c._shape, c.dtype, c.device)
    if rows and n:
        check_index_range(op, c, y)
        k = _program(c.device, c.dtype).kernel("softmax_fwd", [_I32, _I32, None, _I32, None,
                                                                _I32, _I32])
        _rows_launch(c.device, k, rows, rows, n, c._storage.buffer, c._offset,
                     y._storage.buffer, y._offset, int(log_out))
    out = movedim(y, -1, d) if d != src.dim() - 1 else y
    if not nd:
        out = reshape(out, ())
    if graph.recording(x):
        so = graph.SavedOutput(out)

        def backward(g):
            yv = so.unpack()
            if graph.mode.grad_enabled:      # create_graph: differentiable composite
                if log_out:
                    return (g - yv.exp() * _sum(g, d if nd else None, keepdim=bool(nd)),)
                return (yv * (g - _sum(g * yv, d if nd else None, keepdim=bool(nd))),)
            return (_softmax_backward_fused(g, yv, d, log_out),)
        graph.record("LogSoftmaxBackward0" if log_out else "SoftmaxBackward0", out, (x,),
                     backward, (), (so,))
    return out


def _softmax_backward_fused(g, y, d, log_out):
    nd = y.dim()
    if not nd:
        g, y, d = reshape(g, (1,)), reshape(y, (1,)), 0
    gc, rows, n = _to_rows(g if g.dtype is y.dtype else cast(g, y.dtype), d)
    yc, _, _ = _to_rows(y, d)
    gx = Tensor._empty(yc._shape, yc.dtype, yc.device)
    if rows and n:
        k = _program(y.device, y.dtype).kernel("softmax_bwd", [_I32, _I32, None, _I32, None,
                                                                _I32, None, _I32, _I32])
        _rows_launch(y.device, k, rows, rows, n, gc._storage.buffer, gc._offset,
                     yc._storage.buffer, yc._offset, gx._storage.buffer, gx._offset,
                     int(log_out))
    out = movedim(gx, -1, d) if d != nd - 1 and nd else gx
    return reshape(out, ()) if not nd else out


def softmax(input, dim=None, dtype=None, _stacklevel=3):
    """torch.softmax: exp(x - max) / sum over ``dim``, stable for large inputs."""
    x = _float_input("softmax", input, dtype)
    if dim is None:
        dim = 0 if x.dim() in (0, 1, 3) else 1      # PyTorch's legacy implicit choice
    return _softmax_impl("softmax", x, dim, False)


def log_softmax(input, dim=None, dtype=None, _stacklevel=3):
    """torch.log_softmax: x - logsumexp(x) over ``dim``, one fused kernel."""
    x = _float_input("log_softmax", input, dtype)
    if dim is None:
        dim = 0 if x.dim() in (0, 1, 3) else 1
    return _softmax_impl("log_softmax", x, dim, True)


# ------------------------------------------------------------------ cross-entropy over rows
TENSOR_METHODS = {
    "softmax": lambda self, dim=None, dtype=None: softmax(self, dim, dtype),
    "log_softmax": lambda self, dim=None, dtype=None: log_softmax(self, dim, dtype),
}


def cross_entropy_rows(x2, t2, weight, ignore_index, eps):
    """Per-row cross-entropy of logits ``x2`` (rows, C) against int64 class indices ``t2``.

    Returns (loss (rows,), row weights (rows,)); the loss records a fused backward."""
    rows, n = x2._shape
    dev = x2.device
    dt = x2.dtype
    loss = Tensor._empty((rows,), dt, dev)
    wrow = Tensor._empty((rows,), dt, dev)
    lse = Tensor._empty((rows,), dt, dev)
    has_w = weight is not None
    wbuf = contiguous(cast(weight, dt)) if has_w else x2
    st = dt.np.type
    if rows:
        check_index_range("cross_entropy", x2)
        k = _program(dev, dt).kernel("cross_entropy_fwd", [
            _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, _I32, st, None, None, None,
            None])
        _rows_launch(dev, k, rows, rows, n, x2._storage.buffer, x2._offset, t2._storage.buffer,
                     t2._offset, wbuf._storage.buffer, wbuf._offset, int(has_w),
                     int(ignore_index), st(eps), loss._storage.buffer, wrow._storage.buffer,
                     lse._storage.buffer, error_flag(dev, "cross_entropy"))
    if graph.recording(x2):
        def backward(g):
            if graph.mode.grad_enabled:
                return (_cross_entropy_backward_composite(g, x2, t2, weight, ignore_index, eps),)
            # the class-weight total stays on the device (no host read on the training path)
            wsum = wbuf.sum() if has_w else wbuf
            gc = contiguous(g if g.dtype is dt else cast(g, dt))
            gx = Tensor._empty((rows, n), dt, dev)
            if rows:
                kb = _program(dev, dt).kernel("cross_entropy_bwd", [
                    _I32, _I32, None, _I32, None, _I32, None, _I32, _I32, _I32, st, None, _I32,
                    None, None, _I32, _I32, None])
                _rows_launch(dev, kb, rows, rows, n, x2._storage.buffer, x2._offset,
                             t2._storage.buffer, t2._offset, wbuf._storage.buffer, wbuf._offset,
                             int(has_w), int(ignore_index), st(eps), wsum._storage.buffer,
                             wsum._offset, lse._storage.buffer, gc._storage.buffer, gc._offset,
                             gc._stride[0] if gc._shape else 0, gx._storage.buffer)
            return (gx,)
        graph.record("CrossEntropyBackward0", loss, (x2,), backward, (x2,))
    return loss, wrow


def _cross_entropy_backward_composite(g, x2, t2, weight, ignore_index, eps):
    """The fused backward's formula written with differentiable ops (for create_graph)."""
    rows, n = x2._shape
    p = softmax(x2, 1)
    valid = t2 != ignore_index
    safe_t = where(valid, t2, 0)
    onehot = cast(one_hot(safe_t, n), x2.dtype)
    if weight is not None:
        w = cast(weight, x2.dtype)
        wt = index_select(w, 0, safe_t)
        wsum = w.sum()
        smooth = (p * wsum - w.unsqueeze(0)) * (eps / n)
    else:
        wt = zeros((rows,), dtype=x2.dtype, device=x2.device) + 1.0
        smooth = (p * float(n) - 1.0) * (eps / n)
    d = (p - onehot) * (wt * (1.0 - eps)).unsqueeze(1) + smooth
    return where(valid.unsqueeze(1), d * g.unsqueeze(1), 0.0)
