"""Backward rules of the reductions and scans, written with differentiable ops (so gradients of
gradients work). reduce.py and scan.py call ``record_*`` after computing their outputs."""
import math

from .. import graph


def _unreduce(g, x_shape, rdims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims of ``x_shape``."""
    from .views import expand, reshape
    if not keepdim:
        shape = [1 if d in rdims else s for d, s in enumerate(x_shape)]
        g = reshape(g, shape)
    return expand(g, x_shape)


def _cast_back(g, x):
    from .copy import cast
    return g if g.dtype is x.dtype else cast(g, x.dtype)


def _keep(t, rdims, keepdim, x_shape):
    """A reduced output viewed with the reduced dims kept (size 1), for broadcasting."""
    from .views import reshape
    if keepdim:
        return t
    return reshape(t, [1 if d in rdims else s for d, s in enumerate(x_shape)])


def record_sum(name, x, out, rdims, keepdim, scale=1.0):
    """sum (scale 1) and mean (scale 1/N): the gradient is g spread over the reduced dims."""
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    shape = x._shape

    def backward(g):
        gx = _unreduce(g, shape, rdims, keepdim)
        if scale != 1.0:
            gx = gx * scale
        return (_cast_back(gx, x),)
    graph.record(name, out, (x,), backward)
    return out


def record_prod(x, out, rdims, keepdim):
    """d prod / d x_i = product of the others: out / x_i without zeros; with exactly one zero in a
    slice only that element gets a gradient (the product of the others); with two, none does."""
    if not graph.recording(x):
        return out
    from . import pointwise as P
    from .reduce import prod, sum as rsum
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        gk = _keep(g, rdims, keepdim, shape)
        is_zero = x == 0
        zeros_in_slice = rsum(P.where(is_zero, 1.0, 0.0), rdims, keepdim=True)
        safe_x = P.where(is_zero, 1.0, x)
        others_nonzero = prod(safe_x, rdims, keepdim=True)
        no_zero = o / safe_x
        one_zero = P.where(is_zero, others_nonzero, 0.0)
        grad = P.where(zeros_in_slice == 0, no_zero,
                       P.where(zeros_in_slice == 1, one_zero, 0.0))
        return (grad * gk,)
    graph.record("ProdBackward0", out, (x,), backward, (x,), (so,))
    return out


def record_extreme_all(name, x, out, rdims, keepdim):
    """max()/min()/amax/amin/inf-norm style: the gradient is shared evenly by all elements equal
    to the result (PyTorch's rule for reductions without indices)."""
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    from . import pointwise as P
    from .reduce import sum as rsum
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack().detach(), rdims, keepdim, shape)
        mask = P.where(x == o, 1.0, 0.0)
        count = rsum(mask, rdims, keepdim=True)
        return (mask * (_keep(g, rdims, keepdim, shape) / count),)
    graph.record(name, out, (x,), backward, (x,), (so,))
    return out


def record_with_indices(name, x, values, indices, dim, keepdim):
    """max/min over a dim: the gradient goes to the chosen index (scatter into zeros)."""
    if not (graph.recording(x) and values.dtype.is_floating_point):
        return values, indices
    shape = x._shape

    def backward(g, _unused_indices_grad=None):
        from .creation import zeros
        from .index import scatter
        from .views import unsqueeze
        if not shape:
            return (g,)
        gk = g if keepdim else unsqueeze(g, dim)
        ik = indices if keepdim else unsqueeze(indices, dim)
        z = zeros(shape, dtype=g.dtype, device=g.device)
        return (scatter(z, dim, ik, gk),)
    graph.record(name, values, (x,), backward)
    return values, indices


def record_var(name, x, out, rdims, keepdim, n, correction, is_std):
    """var: g * 2 (x - mean) / (N - c); std: g * (x - mean) / ((N - c) std)."""
    if not graph.recording(x):
        return out
    so = graph.SavedOutput(out)
    shape = x._shape
    dof = max(n - correction, 0)

    def backward(g):
        from .reduce import mean as rmean
        m = rmean(x, rdims, keepdim=True)       # recomputed so that it is differentiable
        gk = _keep(g, rdims, keepdim, shape)
        centred = x - m
        if is_std:
            from .pointwise import where
            s = _keep(so.unpack(), rdims, keepdim, shape)
            # PyTorch's rule: where the std is 0 (constant data) the gradient is 0, not 0/0
            grad = where(s == 0, 0.0, gk * centred / (s * dof)) if dof else \
                gk * centred * math.inf
        else:
            grad = gk * centred * (2.0 / dof) if dof else gk * centred * math.inf
        return (grad,)
    graph.record("StdBackward0" if is_std else "VarBackward0", out, (x,), backward, (x,), (so,))
    return out


def record_norm(x, out, rdims, keepdim, p):
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    from . import pointwise as P
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        gk = _keep(g, rdims, keepdim, shape)
        if p == 2:
            return (P.where(o == 0, 0.0, gk * x / o),)
        if p == 1:
            return (gk * P.sign(x),)
        if math.isinf(p):
            a = P.abs(x)
            mask = P.where(a == o.detach(), 1.0, 0.0)
            from .reduce import sum as rsum
            return (gk * P.sign(x) * mask / rsum(mask, rdims, keepdim=True),)
        if p == 0:
            return (gk * 0.0,)
        # d ||x||_p / dx = x |x|^(p-2) / ||x||_p^(p-1)
        a = P.abs(x)
        grad = x * a ** (p - 2) / o ** (p - 1)
        return (P.where(o == 0, 0.0, gk * grad),)
    graph.record("NormBackward1", out, (x,), backward, (x,), (so,))
    return out


def record_logsumexp(x, out, rdims, keepdim):
    if not graph.recording(x):
        return out
    from . import pointwise as P
    so = graph.SavedOutput(out)
    shape = x._shape

    def backward(g):
        o = _keep(so.unpack(), rdims, keepdim, shape)
        return (_keep(g, rdims, keepdim, shape) * P.exp(x - o),)
    graph.record("LogsumexpBackward0", out, (x,), backward, (x,), (so,))
    return out


def _reverse_cumsum(t, dim):
    from .join import flip
    from .scan import cumsum
    return flip(cumsum(flip(t, [dim]), dim), [dim])


def record_cumsum(x, out, dim):
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out

    def backward(g):
        return (_cast_back(_reverse_cumsum(g, dim), x),)
    graph.record("CumsumBackward0", out, (x,), backward)
    return out


def record_cumprod(x, out, dim):
    """Exact with zeros: before the first zero of a slice, revcumsum(g * out) / x; at the first
    zero, revcumsum(g * P) with P the cumprod where that zero is replaced by 1; after it, 0."""
    if not (graph.recording(x) and out.dtype.is_floating_point):
        return out
    from . import pointwise as P
    so = graph.SavedOutput(out)

    def backward(g):
        from .scan import cumprod, cumsum
        o = so.unpack()
        is_zero = x == 0
        first_zero = P.logical_and(is_zero, cumsum(P.where(is_zero, 1, 0), dim) == 1)
        safe_x = P.where(is_zero, 1.0, x)
        nonzero_part = _reverse_cumsum(g * o, dim) / safe_x
        p_first = cumprod(P.where(first_zero, 1.0, x), dim)
        zero_part = _reverse_cumsum(g * p_first, dim)
        return (P.where(is_zero, P.where(first_zero, zero_part, 0.0), nonzero_part),)
    graph.record("CumprodBackward0", out, (x,), backward, (x,), (so,))
    return out


__all__ = [n for n in dir() if n.startswith("record_")]
