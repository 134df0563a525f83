"""Tensor algebra built from other clnet ops: einsum, tensordot, trace, diag, diagonal,
diag_embed, kron, cross, cdist, meshgrid, cartesian_prod, block_diag, rot90, atleast_1d/2d/3d,
tensor_split, hsplit/vsplit/dsplit, column_stack, matrix_power, chain_matmul, addr.

Everything here is a composition of views (views.py), matmul (linalg.py), reductions (reduce.py),
cat/flip/roll (join.py) and elementwise ops, so autograd and every device come for free. Two
exceptions build their own layout: ``diagonal`` is a strided VIEW (like PyTorch's: writes through
it reach the base; its gradient is written back with the view-backward helpers), and
``diag_embed`` writes into the diagonal of a zero tensor and records its own node (the gradient is
the same diagonal of the incoming gradient).

einsum contracts operands left to right, each pair with ONE broadcasting batched matmul: labels in
both operands still needed later (by the output or a later operand) are batch dims, labels in both
that are not are contracted (K), the others are free (M from the left, N from the right).
Repeated labels within an operand first take a diagonal view; labels that nothing else needs are
summed away before the product. Size-1 dims broadcast against a label's size like in PyTorch.
"""
import math
import numbers
import warnings

from .. import dtypes, graph
from ..tensor import Tensor
from .copy import clone, copy_into
from .creation import eye, ones_like, zeros
from .join import cat, roll
from .linalg import matmul, mm, outer
from .reduce import norm
from .views import _slice_back, _view
# grids, splits and block layouts live in tensor_shape.py (split out for size), exported from here
from .tensor_shape import (atleast_1d, atleast_2d, atleast_3d, block_diag,  # noqa: F401
                           cartesian_prod, column_stack, dsplit, hsplit, meshgrid,
                           pixel_shuffle, pixel_unshuffle, rot90, tensor_split, vsplit)

__all__ = ["einsum", "tensordot", "trace", "diag", "diagonal", "diag_embed", "kron", "cross",
           "cdist", "meshgrid", "cartesian_prod", "block_diag", "rot90", "atleast_1d",
           "atleast_2d", "atleast_3d", "tensor_split", "hsplit", "vsplit", "dsplit",
           "column_stack", "matrix_power", "chain_matmul", "addr", "pixel_shuffle",
           "pixel_unshuffle"]


def _tensor_arg(op, t, name="input"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    return t


def _same_dtype(op, *ts):
    dt = ts[0].dtype
    if any(t.dtype is not dt for t in ts[1:]):
        raise TypeError(f"{op}(): expected all operands to have the same dtype, got "
                        f"{', '.join(t.dtype.name for t in ts)}")
    return dt


def _broadcast_shapes(op, *shapes):
    n = max((len(s) for s in shapes), default=0)
    out = [1] * n
    for s in shapes:
        for i, x in enumerate((1,) * (n - len(s)) + tuple(s)):
            if x != 1 and out[i] != 1 and x != out[i]:
                raise ValueError(f"{op}(): shapes {', '.join(str(list(s)) for s in shapes)} "
                                 "cannot be broadcast together")
            if x != 1:
                out[i] = x
    return tuple(out)


# ------------------------------------------------------------------- diagonals
def diagonal(input, offset=0, dim1=0, dim2=1):
    """A view of the diagonal of ``input`` over (dim1, dim2), appended as the last dim."""
    _tensor_arg("diagonal", input)
    d1, d2 = input._wrap_dim(dim1), input._wrap_dim(dim2)
    if d1 == d2:
        raise ValueError(f"diagonal(): diagonal dimensions cannot be identical {dim1}, {dim2} "
                         f"(input shape {list(input._shape)})")
    offset = int(offset)
    n1, n2 = input._shape[d1], input._shape[d2]
    n = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    start = 0 if n == 0 else (offset * input._stride[d2] if offset >= 0
                              else -offset * input._stride[d1])
    keep = [i for i in range(input.dim()) if i not in (d1, d2)]
    shape = [input._shape[i] for i in keep] + [n]
    stride = [input._stride[i] for i in keep] + [input._stride[d1] + input._stride[d2]]
    return _slice_back(_view(input, shape, stride, input._offset + start), input,
                       "DiagonalBackward0", lambda z: diagonal(z, offset, d1, d2))


_diagonal = diagonal


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (dim1, dim2) diagonals (shifted by ``offset``) hold the last dim of input."""
    _tensor_arg("diag_embed", input)
    nd = input.dim() + 1
    d1, d2 = input._wrap_dim(dim1, nd), input._wrap_dim(dim2, nd)
    if d1 == d2:
        raise ValueError(f"diag_embed(): diagonal dimensions cannot be identical {dim1}, {dim2}")
    if input.dim() == 0:
        raise ValueError("diag_embed(): input must be at least 1-D, got a 0-d tensor")
    offset = int(offset)
    n = input._shape[-1] + abs(offset)
    shape = list(input._shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, n)
    out = zeros(tuple(shape), dtype=input.dtype, device=input.device)
    prev = graph.set_grad_enabled_flag(False)
    try:
        if input.numel():
            copy_into(diagonal(out, offset, d1, d2), input, "diag_embed")
    finally:
        graph.set_grad_enabled_flag(prev)
    if graph.recording(input) and input.dtype.is_floating_point:
        graph.record("DiagEmbedBackward0", out, (input,),
                     lambda g: (diagonal(g, offset, d1, d2),))
    return out


def diag(input, diagonal=0):
    """1-D input: a square matrix with it on the ``diagonal``-th diagonal; 2-D: that diagonal."""
    _tensor_arg("diag", input)
    if input.dim() == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.dim() == 2:
        return clone(_diagonal(input, diagonal))
    raise ValueError(f"diag(): Supports 1D or 2D tensors. Got {input.dim()}D "
                     f"(shape {list(input._shape)})")


def trace(input):
    _tensor_arg("trace", input)
    if input.dim() != 2:
        raise ValueError(f"trace(): expected a matrix, but got tensor with shape "
                         f"{list(input._shape)}")
    return diagonal(input).sum()


# ------------------------------------------------------------------- einsum
def _label_of_int(i):
    if not isinstance(i, numbers.Integral) or not 0 <= i < 52:
        raise ValueError(f"einsum(): subscript in subscript list is not within the valid range "
                         f"[0, 52), got {i!r}")
    return chr(ord("A") + i) if i < 26 else chr(ord("a") + i - 26)


def _sublist_equation(args):
    """einsum(op1, sublist1, op2, sublist2, ..., [out]) -> (equation, operands)."""
    def subs(lst):
        return "".join("..." if x is Ellipsis else _label_of_int(x) for x in lst)
    n = len(args) // 2
    eq = ",".join(subs(s) for s in args[1:2 * n:2])
    if len(args) % 2:
        eq += "->" + subs(args[-1])
    return eq, list(args[0:2 * n:2])


def _parse_operand(sub, t, i):
    if sub.count("...") > 1 or "." in sub.replace("...", "", 1):
        raise ValueError(f"einsum(): found '.' for operand {i} that is not part of any ellipsis "
                         f"or has more than one ellipsis ({sub!r})")
    letters = sub.replace("...", "")
    for c in letters:
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise ValueError(f"einsum(): invalid subscript given at index {sub.index(c)} in the "
                             f"equation string, subscripts must be in [a-zA-Z] (got {c!r})")
    if "..." not in sub:
        if len(sub) != t.dim():
            raise ValueError(f"einsum(): the number of subscripts in the equation ({len(sub)}) "
                             f"does not match the number of dimensions ({t.dim()}) for operand "
                             f"{i} and no ellipsis was given (shape {list(t._shape)})")
        return list(sub), 0
    n_ell = t.dim() - len(letters)
    if n_ell < 0:
        raise ValueError(f"einsum(): the number of subscripts in the equation ({len(letters)}) "
                         f"is more than the number of dimensions ({t.dim()}) for operand {i} "
                         f"(shape {list(t._shape)})")
    pre, post = sub.split("...")
    # ellipsis dims are labelled -n..-1, aligned from the right across operands (broadcasting)
    return list(pre) + list(range(-n_ell, 0)) + list(post), n_ell


def _take_diagonals(t, labels):
    while len(set(labels)) != len(labels):
        lab = next(x for x in labels if labels.count(x) > 1)
        p = labels.index(lab)
        q = labels.index(lab, p + 1)
        if t._shape[p] != t._shape[q]:
            raise ValueError(f"einsum(): subscript {lab} is repeated for operand but the sizes "
                             f"don't match, {t._shape[q]} != {t._shape[p]}")
        t = diagonal(t, 0, p, q)
        labels = [x for k, x in enumerate(labels) if k not in (p, q)] + [lab]
    return t, labels


def _sum_labels(t, labels, drop):
    dims = [k for k, x in enumerate(labels) if x in drop]
    if not dims:
        return t, labels
    return t.sum(dims), [x for x in labels if x not in drop]


def _contract(a, la, b, lb, keep):
    """One batched matmul: (batch, M, K) @ (batch, K, N), batch dims broadcasting."""
    for lab in [x for x in la if x in lb and x not in keep]:   # a size-1 contracted dim
        sa, sb = a._shape[la.index(lab)], b._shape[lb.index(lab)]
        if sa != sb:
            if sa == 1:
                b = b.sum(lb.index(lab), keepdim=True)
            else:
                a = a.sum(la.index(lab), keepdim=True)
    batch = [x for x in la if x in lb and x in keep]
    con = [x for x in la if x in lb and x not in keep]
    fa = [x for x in la if x not in lb]
    fb = [x for x in lb if x not in la]
    sa = {x: a._shape[k] for k, x in enumerate(la)}
    sb = {x: b._shape[k] for k, x in enumerate(lb)}
    M, K, N = (math.prod(sa[x] for x in fa), math.prod(sa[x] for x in con),
               math.prod(sb[x] for x in fb))
    pa = a.permute([la.index(x) for x in batch + fa + con])
    pb = b.permute([lb.index(x) for x in batch + con + fb])
    out = matmul(pa.reshape(tuple(sa[x] for x in batch) + (M, K)),
                 pb.reshape(tuple(sb[x] for x in batch) + (K, N)))
    shape = tuple(out._shape[:len(batch)]) + tuple(sa[x] for x in fa) + tuple(sb[x] for x in fb)
    return out.reshape(shape), batch + fa + fb


def einsum(*args):
    """torch.einsum(equation, *operands): also einsum(eq, [a, b]) and the sublist form."""
    if not args:
        raise TypeError("einsum(): missing the equation argument")
    if isinstance(args[0], Tensor):
        equation, operands = _sublist_equation(args)
    else:
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): the equation must be a str, got {type(equation).__name__}")
    for i, t in enumerate(operands):
        _tensor_arg("einsum", t, f"operand {i}")
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) > len(operands):
        raise ValueError(f"einsum(): fewer operands were provided than specified in the equation "
                         f"{equation!r} ({len(operands)} operands)")
    if len(subs) < len(operands):
        raise ValueError(f"einsum(): more operands were provided than specified in the equation "
                         f"{equation!r} ({len(operands)} operands)")
    dt = _same_dtype("einsum", *operands)
    if dt is dtypes.bool_ and len(operands) > 1:
        raise TypeError("einsum(): not supported for bool tensors; convert with .int() or .float()")
    parsed = [_parse_operand(s, t, i) for i, (s, t) in enumerate(zip(subs, operands))]
    max_ell = max(n for _, n in parsed)
    sizes = {}
    for i, ((labels, _), t) in enumerate(zip(parsed, operands)):
        for lab, s in zip(labels, t._shape):
            prev = sizes.get(lab, 1)
            if s != 1 and prev != 1 and s != prev:
                name = "..." if isinstance(lab, int) else lab
                raise ValueError(f"einsum(): subscript {name} has size {s} for operand {i} which "
                                 f"does not broadcast with previously seen size {prev}")
            sizes[lab] = max(prev, s) if s != 1 else prev
    if arrow:
        out = _parse_output(rhs, sizes, max_ell)
    else:
        counts = {}
        for labels, _ in parsed:
            for lab in labels:
                if not isinstance(lab, int):
                    counts[lab] = counts.get(lab, 0) + 1
        out = list(range(-max_ell, 0)) + sorted(x for x, c in counts.items() if c == 1)
    ops = [_take_diagonals(t, list(labels)) for (labels, _), t in zip(parsed, operands)]

    def needed(start):   # labels used by the output or operands from ``start`` on
        s = set(out)
        for _, labels in ops[start:]:
            s.update(labels)
        return s
    t, labels = _sum_labels(*ops[0], set(ops[0][1]) - needed(1))
    for i in range(1, len(ops)):
        keep = needed(i + 1)
        b, lb = _sum_labels(*ops[i], set(ops[i][1]) - keep - set(labels))
        t, labels = _sum_labels(t, labels, set(labels) - keep - set(lb))
        t, labels = _contract(t, labels, b, lb, keep)
    t, labels = _sum_labels(t, labels, set(labels) - set(out))
    return t.permute([labels.index(x) for x in out])


def _parse_output(rhs, sizes, max_ell):
    if rhs.count("...") > 1 or "." in rhs.replace("...", "", 1):
        raise ValueError(f"einsum(): found '.' for output that is not part of any ellipsis "
                         f"({rhs!r})")
    out = []
    for c in rhs.replace("...", "\0"):
        if c == "\0":
            out += list(range(-max_ell, 0))
            continue
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise ValueError(f"einsum(): invalid subscript {c!r} in the output, subscripts must "
                             "be in [a-zA-Z]")
        if c in out:
            raise ValueError(f"einsum(): output subscript {c} appears more than once in the "
                             "output")
        if c not in sizes:
            raise ValueError(f"einsum(): output subscript {c} does not appear in the equation "
                             "for any input operand")
        out.append(c)
    return out


def tensordot(a, b, dims=2, out=None):
    """Contract ``dims`` of a with those of b (an int: the last n of a with the first n of b)."""
    if out is not None:
        raise TypeError("tensordot(): out= is not supported; use the returned tensor")
    _tensor_arg("tensordot", a, "a")
    _tensor_arg("tensordot", b, "b")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, numbers.Integral):
        n = int(dims)
        if n < 0:
            raise ValueError(f"tensordot(): expects dims >= 0, but got dims={n}")
        if n > a.dim() or n > b.dim():
            raise ValueError(f"tensordot(): dims={n} exceeds the dimensions of shapes "
                             f"{list(a._shape)} and {list(b._shape)}")
        da, db = list(range(a.dim() - n, a.dim())), list(range(n))
    else:
        if len(dims) != 2:
            raise ValueError(f"tensordot(): dims must be an int or two lists of dims, got {dims}")
        if any(isinstance(d, numbers.Integral) for d in dims):
            raise TypeError(f"tensordot(): dims must be an int or two lists of dims, got {dims}")
        da, db = (list(d) for d in dims)
        if len(da) != len(db):
            raise ValueError(f"tensordot(): both dimension lists should have same length, got "
                             f"{da} and {db}")
        da, db = [a._wrap_dim(d) for d in da], [b._wrap_dim(d) for d in db]
    if a.dtype is not b.dtype:
        raise TypeError(f"tensordot(): both inputs should have same dtype, got {a.dtype.name} "
                        f"and {b.dtype.name}")
    for x, y in zip(da, db):
        if a._shape[x] != b._shape[y]:
            raise ValueError(f"tensordot(): contracted dimensions need to match, but first has "
                             f"size {a._shape[x]} in dim {x} and second has size {b._shape[y]} "
                             f"in dim {y} (shapes {list(a._shape)} and {list(b._shape)})")
    fa = [d for d in range(a.dim()) if d not in da]
    fb = [d for d in range(b.dim()) if d not in db]
    K = math.prod(a._shape[d] for d in da)
    A = a.permute(fa + da).reshape(math.prod(a._shape[d] for d in fa), K)
    B = b.permute(db + fb).reshape(K, math.prod(b._shape[d] for d in fb))
    return mm(A, B).reshape(tuple(a._shape[d] for d in fa) + tuple(b._shape[d] for d in fb))


# ------------------------------------------------------------------- products
def kron(input, other):
    _tensor_arg("kron", input)
    _tensor_arg("kron", other, "other")
    nd = max(input.dim(), other.dim())
    sa = (1,) * (nd - input.dim()) + tuple(input._shape)
    sb = (1,) * (nd - other.dim()) + tuple(other._shape)
    a = input.reshape(tuple(x for s in sa for x in (s, 1)))
    b = other.reshape(tuple(x for s in sb for x in (1, s)))
    return (a * b).reshape(tuple(x * y for x, y in zip(sa, sb)))


def cross(input, other, dim=None):
    """torch.cross: dim=None (deprecated) picks the first dim of size 3."""
    _tensor_arg("cross", input)
    _tensor_arg("cross", other, "other")
    _same_dtype("cross", input, other)
    if input.dim() != other.dim():
        raise ValueError(f"cross(): inputs must have the same number of dimensions, got shapes "
                         f"{list(input._shape)} and {list(other._shape)}")
    shape = _broadcast_shapes("cross", input._shape, other._shape)
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        if 3 not in shape:
            raise ValueError(f"cross(): no dimension of size 3 in input (shape {list(shape)})")
        d = shape.index(3)
    else:
        d = input._wrap_dim(dim)
        if input._shape[d] != 3 or other._shape[d] != 3:
            raise ValueError(f"cross(): inputs dimension {dim} must have length 3, got shapes "
                             f"{list(input._shape)} and {list(other._shape)}")
    a, b = input.expand(shape), other.expand(shape)
    return roll(a, -1, d) * roll(b, -2, d) - roll(a, -2, d) * roll(b, -1, d)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    _tensor_arg("cdist", x1, "x1")
    _tensor_arg("cdist", x2, "x2")
    if x1.dim() < 2 or x2.dim() < 2:
        raise ValueError(f"cdist only supports at least 2D tensors, got shapes {list(x1._shape)} "
                         f"and {list(x2._shape)}")
    if x1._shape[-1] != x2._shape[-1]:
        raise ValueError(f"cdist(): X1 and X2 must have the same number of columns. X1: "
                         f"{x1._shape[-1]} X2: {x2._shape[-1]}")
    for name, x in (("X1", x1), ("X2", x2)):
        if not x.dtype.is_floating_point:
            raise TypeError(f"cdist only supports floating-point dtypes, {name} got: "
                            f"{x.dtype.name}")
    _same_dtype("cdist", x1, x2)
    if p < 0:
        raise ValueError(f"cdist only supports non-negative p values, got {p}")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
             "donot_use_mm_for_euclid_dist", None)
    if compute_mode not in modes:
        raise ValueError(f"cdist(): {compute_mode!r} is not a valid value for compute_mode")
    batch = _broadcast_shapes("cdist", x1._shape[:-2], x2._shape[:-2])
    P, R, M = x1._shape[-2], x2._shape[-2], x1._shape[-1]
    a = x1.expand(batch + x1._shape[-2:])
    b = x2.expand(batch + x2._shape[-2:])
    if M == 0 or P == 0 or R == 0:
        return zeros(batch + (P, R), dtype=x1.dtype, device=x1.device)
    use_mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode in (None, modes[0]) and (P > 25 or R > 25)))
    if use_mm:   # PyTorch's _euclidean_dist: one matmul of augmented rows
        an = (a * a).sum(-1, keepdim=True)
        bn = (b * b).sum(-1, keepdim=True)
        a_ = cat([a * -2, an, ones_like(an)], -1)
        b_ = cat([b, ones_like(bn), bn], -1)
        return matmul(a_, b_.transpose(-1, -2)).clamp_min(1e-30).sqrt()
    return norm(a.unsqueeze(-2) - b.unsqueeze(-3), float(p), -1)


def matrix_power(input, n):
    """input @ input @ ... (n times) by repeated squaring; n == 0 gives identity matrices."""
    _tensor_arg("matrix_power", input)
    if input.dim() < 2 or input._shape[-1] != input._shape[-2]:
        raise ValueError(f"matrix_power(): expected a tensor of square matrices, but got shape "
                         f"{list(input._shape)}")
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(
            f"matrix_power(): negative powers (n={n}) need a matrix inverse, which clnet does not "
            "provide; compute the inverse elsewhere and pass n >= 0")
    if n == 0:
        e = eye(input._shape[-1], dtype=input.dtype, device=input.device)
        return clone(e.expand(input._shape))
    result, base = None, input
    while True:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if not n:
            break
        base = matmul(base, base)
    return clone(result) if result is input else result


def chain_matmul(*matrices, out=None):
    """Deprecated torch.chain_matmul: the product of 2-D matrices (multiplied left to right)."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                  "release. Use torch.linalg.multi_dot instead, which accepts a list of two or "
                  "more tensors rather than multiple parameters.", UserWarning, stacklevel=2)
    if out is not None:
        raise TypeError("chain_matmul(): out= is not supported; use the returned tensor")
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise ValueError("chain_matmul(): Expected one or more matrices")
    for i, m in enumerate(matrices):
        _tensor_arg("chain_matmul", m, f"matrices[{i}]")
        if m.dim() != 2:
            raise ValueError(f"chain_matmul(): Tensor dimension is {m.dim()}, expected 2 instead "
                             f"(matrix {i}, shape {list(m._shape)})")
    if len(matrices) == 1:
        return clone(matrices[0])
    result = matrices[0]
    for m in matrices[1:]:
        result = mm(result, m)
    return result


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * outer(vec1, vec2); with beta == 0 the input is ignored (NaNs in it
    do not propagate) but still broadcast to the result, like PyTorch."""
    if out is not None:
        raise TypeError("addr(): out= is not supported; use the returned tensor")
    for name, t in (("input", input), ("vec1", vec1), ("vec2", vec2)):
        _tensor_arg("addr", t, name)
    if vec1.dim() != 1 or vec2.dim() != 1:
        raise ValueError(f"addr(): vec1 and vec2 must be 1-D, got shapes {list(vec1._shape)} and "
                         f"{list(vec2._shape)}")
    dt = dtypes.promote_types(dtypes.promote_types(input.dtype, vec1.dtype), vec2.dtype)
    if not dt.is_floating_point:
        for name, v in (("beta", beta), ("alpha", alpha)):
            if isinstance(v, float):
                raise TypeError(f"addr(): for integral input tensors, argument {name} must not "
                                f"be a floating point number (got {v})")
    o = outer(vec1, vec2)
    shape = o._shape
    if input.dim() > 2 or any(s not in (1, t) for s, t in zip(reversed(input._shape),
                                                               reversed(shape))):
        raise ValueError(f"addr(): input of shape {list(input._shape)} cannot be broadcast to "
                         f"the result shape {list(shape)}")
    if alpha != 1:
        o = o * alpha
    if beta == 0:
        return o.to(dt) if o.dtype is not dt else o
    return (input if beta == 1 else input * beta) + o
