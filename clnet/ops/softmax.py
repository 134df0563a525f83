"""Softmax, log-softmax and the fused cross-entropy over class rows.

Forward passes are one kernel each (cl_kernels/softmax.cl, launched by clnet/kernels/softmax.py).
Backward passes use a fused kernel too, unless the backward itself is being recorded
(``create_graph=True``), where they are written with differentiable ops so second derivatives
work.
"""
from .. import dtypes, graph
from ..kernels.softmax import cross_entropy_bwd, cross_entropy_fwd, softmax_bwd, softmax_fwd
from ..tensor import Tensor
from .copy import cast, contiguous
from .creation import zeros
from .index import index_select, one_hot
from .pointwise import where
from .reduce import sum as _sum
from .views import movedim, reshape

__all__ = ["softmax", "log_softmax"]


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
        softmax_fwd(op, c, y, rows, n, log_out)
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
        softmax_bwd(gc, yc, gx, rows, n, log_out)
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
    if rows:
        cross_entropy_fwd(x2, t2, wbuf, has_w, ignore_index, eps, loss, wrow, lse)
    if graph.recording(x2):
        def backward(g):
            if graph.mode.grad_enabled:
                return (_cross_entropy_backward_composite(g, x2, t2, weight, ignore_index, eps),)
            # the class-weight total stays on the device (no host read on the training path)
            wsum = wbuf.sum() if has_w else wbuf
            gc = contiguous(g if g.dtype is dt else cast(g, dt))
            gx = Tensor._empty((rows, n), dt, dev)
            if rows:
                cross_entropy_bwd(x2, t2, wbuf, has_w, ignore_index, eps, wsum, lse, gc, gx)
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
