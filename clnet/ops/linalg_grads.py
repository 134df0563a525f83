"""Backward rules of the matrix products, written with the products themselves (so gradients of
gradients work); linalg.py calls these after computing each output."""
from .. import graph


def _sum_to(g, t):
    from .reduce import reduce_sum_to_shape
    return reduce_sum_to_shape(g, t._shape) if g._shape != t._shape else g


def _needs(t):
    return t is not None and t.requires_grad


def record_mm(name, a, b, out, batched=False):
    """mm / bmm: ga = g @ b^T, gb = a^T @ g."""
    if not graph.recording(a, b):
        return out
    from .linalg import bmm, mm
    from .views import transpose
    prod = bmm if batched else mm

    def backward(g):
        return (prod(g, transpose(b, -2, -1)) if _needs(a) else None,
                prod(transpose(a, -2, -1), g) if _needs(b) else None)
    graph.record(name, out, (a, b), backward, (a, b))
    return out


def record_matmul(a, b, out):
    """torch.matmul with 1-D promotion and batch broadcasting: promote, multiply the gradient,
    sum the broadcast batch dims away, and drop the promoted dims."""
    if not graph.recording(a, b):
        return out
    from .linalg import matmul
    from .views import reshape, transpose, unsqueeze

    def backward(g):
        if a.dim() == 1 and b.dim() == 1:
            return (g * b if _needs(a) else None, g * a if _needs(b) else None)
        a2 = unsqueeze(a, 0) if a.dim() == 1 else a
        b2 = unsqueeze(b, -1) if b.dim() == 1 else b
        g2 = g
        if a.dim() == 1:
            g2 = unsqueeze(g2, -2 if b.dim() > 1 else -1)
        if b.dim() == 1:
            g2 = unsqueeze(g2, -1)
        ga = gb = None
        if _needs(a):
            ga = reshape(_sum_to(matmul(g2, transpose(b2, -2, -1)), a2), a._shape)
        if _needs(b):
            gb = reshape(_sum_to(matmul(transpose(a2, -2, -1), g2), b2), b._shape)
        return (ga, gb)
    graph.record("MmBackward0" if a.dim() == 2 and b.dim() == 2 else "MatmulBackward0", out,
                 (a, b), backward, (a, b))
    return out


def record_addmm(name, inp, m1, m2, out, beta, alpha, batched=False):
    """beta * input + alpha * m1 @ m2 (addmm / baddbmm)."""
    if not graph.recording(inp, m1, m2):
        return out
    from .linalg import bmm, mm
    from .views import transpose
    prod = bmm if batched else mm

    def scaled(t, s):
        return t if s == 1 else t * s

    def backward(g):
        gi = _sum_to(scaled(g, beta), inp) if _needs(inp) and beta != 0 else None
        g1 = scaled(prod(g, transpose(m2, -2, -1)), alpha) if _needs(m1) else None
        g2 = scaled(prod(transpose(m1, -2, -1), g), alpha) if _needs(m2) else None
        return (gi, g1, g2)
    graph.record(name, out, (inp, m1, m2), backward, (m1, m2))
    return out


def record_mv(name, inp, mat, vec, out, beta=0, alpha=1):
    """mv / addmv: gmat = alpha * outer(g, vec), gvec = alpha * mat^T @ g."""
    if not graph.recording(inp, mat, vec):
        return out
    from .linalg import mv, outer
    from .views import transpose

    def scaled(t, s):
        return t if s == 1 else t * s

    def backward(g):
        gi = (_sum_to(scaled(g, beta), inp) if inp is not None and _needs(inp) and beta != 0
              else None)
        gm = scaled(outer(g, vec), alpha) if _needs(mat) else None
        gv = scaled(mv(transpose(mat, 0, 1), g), alpha) if _needs(vec) else None
        return (gi, gm, gv)
    graph.record(name, out, (inp, mat, vec), backward, (mat, vec))
    return out


def record_dot(a, b, out):
    if not graph.recording(a, b):
        return out

    def backward(g):
        return (g * b if _needs(a) else None, g * a if _needs(b) else None)
    graph.record("DotBackward0", out, (a, b), backward, (a, b))
    return out


def record_outer(a, b, out):
    if not graph.recording(a, b):
        return out
    from .linalg import mv
    from .views import transpose

    def backward(g):
        return (mv(g, b) if _needs(a) else None, mv(transpose(g, 0, 1), a) if _needs(b) else None)
    graph.record("OuterBackward0", out, (a, b), backward, (a, b))
    return out


def record_inner(a, b, out):
    """out = A2 @ B2^T on (rows, K) views: ga = g2 @ B2, gb = g2^T @ A2, reshaped back."""
    if not graph.recording(a, b):
        return out
    from .linalg import mm
    from .views import reshape, transpose

    def backward(g):
        if a.dim() == 0 or b.dim() == 0:
            s, t = (a, b) if a.dim() == 0 else (b, a)
            gs = (g * t).sum() if _needs(s) else None
            gt = g * s if _needs(t) else None
            return (gs, gt) if a.dim() == 0 else (gt, gs)
        K = a._shape[-1]
        a2, b2 = reshape(a, (-1, K)), reshape(b, (-1, K))
        g2 = reshape(g, (a2._shape[0], b2._shape[0]))
        ga = reshape(mm(g2, b2), a._shape) if _needs(a) else None
        gb = reshape(mm(transpose(g2, 0, 1), a2), b._shape) if _needs(b) else None
        return (ga, gb)
    graph.record("InnerBackward0", out, (a, b), backward, (a, b))
    return out


def record_linear(x, w, bias, out):
    """y = x @ w^T + b: gx = g @ w, gw = g2^T @ x2 (leading dims flattened), gb = sum of g."""
    if not graph.recording(x, w, bias):
        return out
    from .linalg import matmul, mm
    from .views import reshape, transpose

    def backward(g):
        gx = matmul(g, w) if _needs(x) else None
        gw = gb = None
        if _needs(w) or _needs(bias):
            g2 = reshape(g, (-1, w._shape[0])) if g.dim() != 2 else g
            if _needs(w):
                x2 = reshape(x, (-1, w._shape[1])) if x.dim() != 2 else x
                gw = mm(transpose(g2, 0, 1), x2)
            if _needs(bias):
                gb = _sum_to(g2.sum(0) if bias.dim() == 1 and bias._shape[0] == w._shape[0]
                             else g2.sum(), bias)
        return (gx, gw, gb)
    graph.record("LinearBackward0", out, (x, w, bias), backward, (x, w))
    return out
