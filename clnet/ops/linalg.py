"""Matrix products: mm, matmul, bmm, addmm, baddbmm, mv, addmv, outer, dot, inner, linear.

Every product is one call of the strided, batched GEMM of the launch floor (clnet/kernels/gemm.py,
cl_kernels/gemm.cl): ``C = alpha * A @ B + beta * X``, each operand given by its storage offset,
batch strides (0 where broadcast) and row and column strides, so transposed views, step slices,
expanded batches and 1-D vectors go to the kernel without a copy. Each op's backward rule sits
right after it (``_record_*``), written with the products themselves so gradients of gradients
work.
"""
import math

from .. import dtypes, graph
from ..kernels.gemm import gemm
from ..kernels.layout import broadcast_strides, collapse, same_device
from ..tensor import Tensor
from .activations import (_gelu_backward, _gelu_tanh_backward, _sigmoid_backward,
                          _threshold_backward)
from .copy import cast, contiguous
from .unary_math import _tanh_backward
from .views import reduce_sum_to_shape, reshape, transpose, unsqueeze

__all__ = ["mm", "matmul", "bmm", "addmm", "baddbmm", "mv", "addmv", "outer", "ger", "dot",
           "inner"]

# ---------------------------------------------------------------------------------------- checks
def _check(op, *tensors):
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensor arguments, got {type(t).__name__}")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        if t.dtype is not dt:
            raise TypeError(f"{op}: expected all operands to have the same dtype, got "
                            f"{', '.join(str(x.dtype.name) for x in tensors)}")
    if dt is dtypes.bool_:
        raise TypeError(f"{op}: not supported for bool tensors; convert with .int() or .float()")
    return same_device(op, *tensors), dt


def _check_dims(op, name, t, dims):
    if t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{op}: expected {name} to be {want}, got shape {list(t._shape)}")


def _scalars(op, dt, alpha, beta):
    if not dt.is_floating_point:
        for name, v in (("alpha", alpha), ("beta", beta)):
            if isinstance(v, float) and not float(v).is_integer():
                raise TypeError(f"{op}: for integer tensors, {name} must be an integer, got {v}")
    return alpha, beta


def _mismatch(op, a, b, ka, kb):
    raise ValueError(f"{op}: shapes {list(a._shape)} and {list(b._shape)} cannot be multiplied "
                     f"({ka} != {kb})")


def _addend(op, x, out_shape):
    """Element strides of ``x`` broadcast to ``out_shape`` (0 where broadcast); the error names
    the op and both shapes."""
    nd = len(out_shape)
    if x.dim() > nd or any(s != 1 and s != o for s, o in zip(reversed(x._shape),
                                                               reversed(out_shape))):
        raise ValueError(f"{op}: input of shape {list(x._shape)} cannot be broadcast to the "
                         f"result shape {list(out_shape)}")
    return broadcast_strides(out_shape, x._shape, x._stride)


# ------------------------------------------------------------------------------ backward helpers
def _sum_to(g, t):
    return reduce_sum_to_shape(g, t._shape) if g._shape != t._shape else g


def _needs(t):
    return t is not None and t.requires_grad


# ---------------------------------------------------------------------------------------- ops
def mm(input, mat2):
    dev, dt = _check("mm", input, mat2)
    _check_dims("mm", "self", input, (2,))
    _check_dims("mm", "mat2", mat2, (2,))
    (M, K), (K2, N) = input._shape, mat2._shape
    if K != K2:
        _mismatch("mm", input, mat2, K, K2)
    out = Tensor._empty((M, N), dt, dev)
    gemm("mm", (), M, N, K, (input, input._offset, (), *input._stride),
         (mat2, mat2._offset, (), *mat2._stride), (out, 0, (), N, 1))
    return _record_mm("MmBackward0", input, mat2, out)


def _record_mm(name, a, b, out, batched=False):
    """mm / bmm: ga = g @ b^T, gb = a^T @ g."""
    if not graph.recording(a, b):
        return out
    prod = bmm if batched else mm

    def backward(g):
        return (prod(g, transpose(b, -2, -1)) if _needs(a) else None,
                prod(transpose(a, -2, -1), g) if _needs(b) else None)
    graph.record(name, out, (a, b), backward, (a, b))
    return out


def bmm(input, mat2):
    dev, dt = _check("bmm", input, mat2)
    _check_dims("bmm", "batch1", input, (3,))
    _check_dims("bmm", "batch2", mat2, (3,))
    (nb, M, K), (nb2, K2, N) = input._shape, mat2._shape
    if nb != nb2:
        raise ValueError(f"bmm: batch sizes differ in shapes {list(input._shape)} and "
                         f"{list(mat2._shape)} ({nb} != {nb2})")
    if K != K2:
        _mismatch("bmm", input, mat2, K, K2)
    out = Tensor._empty((nb, M, N), dt, dev)
    gemm("bmm", (nb,), M, N, K, _op3(input), _op3(mat2), (out, 0, (M * N,), N, 1))
    return _record_mm("BmmBackward0", input, mat2, out, batched=True)


def _op3(t):
    """Operand tuple of a tensor with batch dims: (t, offset, batch_strides, row, col)."""
    return (t, t._offset, tuple(t._stride[:-2]), t._stride[-2], t._stride[-1])


def matmul(input, other):
    """torch.matmul: 1-D operands are promoted to matrices (a row for the first, a column for the
    second) and the added dimension removed; batch dimensions broadcast."""
    dev, dt = _check("matmul", input, other)
    da, db = input.dim(), other.dim()
    if da == 0 or db == 0:
        raise ValueError(f"matmul: both arguments need to be at least 1-D, but they are {da}-D "
                         f"and {db}-D (shapes {list(input._shape)} and {list(other._shape)})")
    if da == 1 and db == 1:
        return _record_dot(input, other, _dot("matmul", input, other, dev, dt))
    # a 1-D first operand is a row (M=1), a 1-D second one a column (N=1): stride 0 on the new dim
    if da == 1:
        a_batch, M, K, sam, sak = (), 1, input._shape[0], 0, input._stride[0]
    else:
        a_batch, (M, K), (sam, sak) = input._shape[:-2], input._shape[-2:], input._stride[-2:]
    if db == 1:
        b_batch, K2, N, sbk, sbn = (), other._shape[0], 1, other._stride[0], 0
    else:
        b_batch, (K2, N), (sbk, sbn) = other._shape[:-2], other._shape[-2:], other._stride[-2:]
    if K != K2:
        _mismatch("matmul", input, other, K, K2)
    batch = _broadcast_batch("matmul", input, other, a_batch, b_batch)
    out_shape = batch + ((M,) if da > 1 else ()) + ((N,) if db > 1 else ())
    out = Tensor._empty(out_shape, dt, dev)
    a_bst = broadcast_strides(batch, a_batch, input._stride[:len(a_batch)])
    b_bst = broadcast_strides(batch, b_batch, other._stride[:len(b_batch)])
    c_bst = out._stride[:len(batch)]
    gemm("matmul", batch, M, N, K, (input, input._offset, tuple(a_bst), sam, sak),
         (other, other._offset, tuple(b_bst), sbk, sbn), (out, 0, tuple(c_bst), N, 1))
    return _record_matmul(input, other, out)


def _record_matmul(a, b, out):
    """torch.matmul with 1-D promotion and batch broadcasting: promote, multiply the gradient,
    sum the broadcast batch dims away, and drop the promoted dims."""
    if not graph.recording(a, b):
        return out

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


def _broadcast_batch(op, a, b, a_batch, b_batch):
    n = max(len(a_batch), len(b_batch))
    pa = (1,) * (n - len(a_batch)) + tuple(a_batch)
    pb = (1,) * (n - len(b_batch)) + tuple(b_batch)
    out = []
    for d, (x, y) in enumerate(zip(pa, pb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: batch dimensions of shapes {list(a._shape)} and "
                             f"{list(b._shape)} cannot be broadcast ({x} != {y} at batch "
                             f"dimension {d})")
        out.append(y if x == 1 else x)
    return tuple(out)


def _dot(op, a, b, dev, dt):
    if a._shape[0] != b._shape[0]:
        raise ValueError(f"{op}: 1-D tensors of shapes {list(a._shape)} and {list(b._shape)} "
                         f"must have the same number of elements")
    out = Tensor._empty((), dt, dev)
    gemm(op, (), 1, 1, a._shape[0], (a, a._offset, (), 0, a._stride[0]),
         (b, b._offset, (), b._stride[0], 0), (out, 0, (), 0, 0))
    return out


def dot(input, other):
    dev, dt = _check("dot", input, other)
    if input.dim() != 1 or other.dim() != 1:
        raise ValueError(f"dot: expected 1-D tensors, got shapes {list(input._shape)} and "
                         f"{list(other._shape)}")
    return _record_dot(input, other, _dot("dot", input, other, dev, dt))


def _record_dot(a, b, out):
    if not graph.recording(a, b):
        return out

    def backward(g):
        return (g * b if _needs(a) else None, g * a if _needs(b) else None)
    graph.record("DotBackward0", out, (a, b), backward, (a, b))
    return out


def mv(input, vec):
    dev, dt = _check("mv", input, vec)
    _check_dims("mv", "the matrix", input, (2,))
    _check_dims("mv", "the vector", vec, (1,))
    M, K = input._shape
    if K != vec._shape[0]:
        _mismatch("mv", input, vec, K, vec._shape[0])
    out = Tensor._empty((M,), dt, dev)
    gemm("mv", (), M, 1, K, (input, input._offset, (), *input._stride),
         (vec, vec._offset, (), vec._stride[0], 0), (out, 0, (), 1, 0))
    return _record_mv("MvBackward0", None, input, vec, out)


def _record_mv(name, inp, mat, vec, out, beta=0, alpha=1):
    """mv / addmv: gmat = alpha * outer(g, vec), gvec = alpha * mat^T @ g."""
    if not graph.recording(inp, mat, vec):
        return out

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


def outer(input, vec2):
    for t in (input, vec2):
        if not isinstance(t, Tensor):
            raise TypeError(f"outer: expected Tensor arguments, got {type(t).__name__}")
    if input.dim() != 1 or vec2.dim() != 1:
        raise ValueError(f"outer: expected 1-D tensors, got shapes {list(input._shape)} and "
                         f"{list(vec2._shape)}")
    # outer is an elementwise product in PyTorch, so its operands promote like one
    dt = dtypes.promote_types(input.dtype, vec2.dtype)
    if dt is dtypes.bool_:
        raise TypeError("outer: not supported for bool tensors; convert with .int() or .float()")
    if input.dtype is not dt or vec2.dtype is not dt:
        input, vec2 = cast(input, dt), cast(vec2, dt)
    dev = same_device("outer", input, vec2)
    M, N = input._shape[0], vec2._shape[0]
    out = Tensor._empty((M, N), dt, dev)
    gemm("outer", (), M, N, 1, (input, input._offset, (), input._stride[0], 0),
         (vec2, vec2._offset, (), 0, vec2._stride[0]), (out, 0, (), N, 1))
    return _record_outer(input, vec2, out)


def _record_outer(a, b, out):
    if not graph.recording(a, b):
        return out

    def backward(g):
        return (mv(g, b) if _needs(a) else None, mv(transpose(g, 0, 1), a) if _needs(b) else None)
    graph.record("OuterBackward0", out, (a, b), backward, (a, b))
    return out


ger = outer


def inner(input, other):
    """Sum over the last dimension of both: result shape input.shape[:-1] + other.shape[:-1]."""
    dev, dt = _check("inner", input, other)
    if input.dim() == 0 or other.dim() == 0:
        # a scalar operand scales the other: a K=1 product of the scalar and the flattened tensor
        s, t = (input, other) if input.dim() == 0 else (other, input)
        t = contiguous(t)
        out = Tensor._empty(t._shape, dt, dev)
        gemm("inner", (), 1, t.numel(), 1, (s, s._offset, (), 0, 0), (t, t._offset, (), 0, 1),
             (out, 0, (), 0, 1))
        return _record_inner(input, other, out)
    K, K2 = input._shape[-1], other._shape[-1]
    if K != K2:
        _mismatch("inner", input, other, K, K2)
    a, b = _as_rows(input), _as_rows(other)
    M, N = a._shape[0], b._shape[0]
    out = Tensor._empty(input._shape[:-1] + other._shape[:-1], dt, dev)
    gemm("inner", (), M, N, K, (a, a._offset, (), *a._stride),
         (b, b._offset, (), b._stride[1], b._stride[0]), (out, 0, (), N, 1))
    return _record_inner(input, other, out)


def _as_rows(t):
    """``t`` viewed as a (rows, last_dim) matrix, copied only when its leading dims cannot merge."""
    lead = t._shape[:-1]
    shape, strides = collapse(list(lead) if lead else [1], [list(t._stride[:-1]) or [0]])
    if len(shape) != 1:
        t = contiguous(t)
        return Tensor._make(t._storage, (math.prod(lead), t._shape[-1]),
                            (t._shape[-1], 1), t._offset, t.dtype)
    return Tensor._make(t._storage, (math.prod(lead), t._shape[-1]),
                        (strides[0][0], t._stride[-1]), t._offset, t.dtype)


def _record_inner(a, b, out):
    """out = A2 @ B2^T on (rows, K) views: ga = g2 @ B2, gb = g2^T @ A2, reshaped back."""
    if not graph.recording(a, b):
        return out

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


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to the result; with beta == 0 the
    input is ignored (NaNs in it do not propagate), like PyTorch."""
    dev, dt = _check("addmm", input, mat1, mat2)
    _check_dims("addmm", "mat1", mat1, (2,))
    _check_dims("addmm", "mat2", mat2, (2,))
    (M, K), (K2, N) = mat1._shape, mat2._shape
    if K != K2:
        _mismatch("addmm", mat1, mat2, K, K2)
    alpha, beta = _scalars("addmm", dt, alpha, beta)
    st = _addend("addmm", input, (M, N))
    out = Tensor._empty((M, N), dt, dev)
    X = (input, input._offset, (), st[0], st[1]) if beta != 0 else None
    gemm("addmm", (), M, N, K, (mat1, mat1._offset, (), *mat1._stride),
         (mat2, mat2._offset, (), *mat2._stride), (out, 0, (), N, 1), X, alpha, beta)
    return _record_addmm("AddmmBackward0", input, mat1, mat2, out, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    dev, dt = _check("baddbmm", input, batch1, batch2)
    _check_dims("baddbmm", "batch1", batch1, (3,))
    _check_dims("baddbmm", "batch2", batch2, (3,))
    (nb, M, K), (nb2, K2, N) = batch1._shape, batch2._shape
    if nb != nb2:
        raise ValueError(f"baddbmm: batch sizes differ in shapes {list(batch1._shape)} and "
                         f"{list(batch2._shape)} ({nb} != {nb2})")
    if K != K2:
        _mismatch("baddbmm", batch1, batch2, K, K2)
    alpha, beta = _scalars("baddbmm", dt, alpha, beta)
    st = _addend("baddbmm", input, (nb, M, N))
    out = Tensor._empty((nb, M, N), dt, dev)
    X = (input, input._offset, (st[0],), st[1], st[2]) if beta != 0 else None
    gemm("baddbmm", (nb,), M, N, K, _op3(batch1), _op3(batch2), (out, 0, (M * N,), N, 1),
         X, alpha, beta)
    return _record_addmm("BaddbmmBackward0", input, batch1, batch2, out, beta, alpha,
                          batched=True)


def _record_addmm(name, inp, m1, m2, out, beta, alpha, batched=False):
    """beta * input + alpha * m1 @ m2 (addmm / baddbmm)."""
    if not graph.recording(inp, m1, m2):
        return out
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


def addmv(input, mat, vec, *, beta=1, alpha=1):
    dev, dt = _check("addmv", input, mat, vec)
    _check_dims("addmv", "the matrix", mat, (2,))
    _check_dims("addmv", "the vector", vec, (1,))
    M, K = mat._shape
    if K != vec._shape[0]:
        _mismatch("addmv", mat, vec, K, vec._shape[0])
    alpha, beta = _scalars("addmv", dt, alpha, beta)
    st = _addend("addmv", input, (M,))
    out = Tensor._empty((M,), dt, dev)
    X = (input, input._offset, (), st[0], 0) if beta != 0 else None
    gemm("addmv", (), M, 1, K, (mat, mat._offset, (), *mat._stride),
         (vec, vec._offset, (), vec._stride[0], 0), (out, 0, (), 1, 0), X, alpha, beta)
    return _record_mv("AddmvBackward0", input, mat, vec, out, beta, alpha)


def _linear_operands(op, input, weight, bias):
    """(dev, dt, batch, M, out_f, K, A, B, C, X, out) of ``input @ weight.T + bias`` after the
    checks, the GEMM operands as ``gemm`` takes them."""
    tensors = (input, weight) if bias is None else (input, weight, bias)
    dev, dt = _check(op, *tensors)
    _check_dims(op, "weight", weight, (2,))
    if input.dim() == 0:
        raise ValueError(f"{op}: input must be at least 1-D, got a 0-D tensor")
    out_f, in_f = weight._shape
    K = input._shape[-1]
    if K != in_f:
        raise ValueError(f"{op}: input shape {list(input._shape)} and weight shape "
                         f"{list(weight._shape)} cannot be multiplied ({K} != {in_f})")
    if bias is not None and (bias.dim() > 1 or (bias.dim() == 1 and bias._shape[0] not in
                                                  (1, out_f))):
        raise ValueError(f"{op}: bias of shape {list(bias._shape)} does not match "
                         f"{out_f} output features")
    if input.dim() == 1:
        batch, M, sam = (), 1, 0
    else:
        batch, M, sam = input._shape[:-2], input._shape[-2], input._stride[-2]
    out = Tensor._empty(input._shape[:-1] + (out_f,), dt, dev)
    nbd = len(batch)
    A = (input, input._offset, tuple(input._stride[:nbd]), sam, input._stride[-1])
    B = (weight, weight._offset, (0,) * nbd, weight._stride[1], weight._stride[0])
    C = (out, 0, tuple(out._stride[:nbd]), out_f if input.dim() > 1 else 0, 1)
    X = None
    if bias is not None:
        sb = bias._stride[0] if bias.dim() == 1 and bias._shape[0] == out_f else 0
        X = (bias, bias._offset, (0,) * nbd, 0, sb)
    return dev, dt, batch, M, out_f, K, A, B, C, X, out


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (torch.nn.functional.linear): the weight is read transposed in
    place and the bias is added in the GEMM's epilogue; leading dims of input fold into M."""
    _, _, batch, M, out_f, K, A, B, C, X, out = _linear_operands("linear", input, weight, bias)
    gemm("linear", batch, M, out_f, K, A, B, C, X, 1, 1)
    return _record_linear(input, weight, bias, out)


# the activations the GEMM epilogue applies (ACT_* in cl_kernels/gemm.cl)
LINEAR_ACTS = {"relu": 1, "gelu": 2, "gelu_tanh": 3, "tanh": 4, "sigmoid": 5}


def linear_act(input, weight, bias, act):
    """``act(input @ weight.T + bias)`` with the activation in the GEMM's epilogue (one launch
    instead of two, one pass over the output) and ONE backward node: the activation's derivative
    (from the output; from the saved pre-activation for the GELUs) then linear's gradients.
    ``act``: a key of LINEAR_ACTS. nn.Sequential calls it for a Linear followed by that
    activation (nn/containers.py). float32/float64 only: the caller runs the two ops otherwise."""
    code = LINEAR_ACTS[act]
    _, dt, batch, M, out_f, K, A, B, C, X, out = _linear_operands("linear", input, weight, bias)
    if dt not in (dtypes.float32, dtypes.float64):
        raise TypeError(f"linear_act: float32 or float64 tensors expected, got {dt}")
    gelu = act in ("gelu", "gelu_tanh")
    pre = Tensor._empty(out._shape, dt, out._storage.device) if gelu else None
    gemm("linear", batch, M, out_f, K, A, B, C, X, 1, 1, act=code, Z=pre)
    if not graph.recording(input, weight, bias):
        return out

    def backward(g):
        # the activations' own rules: one kernel each, or differentiable compositions under
        # create_graph
        z = pre
        if gelu and graph.mode.grad_enabled:
            z = linear(input, weight, bias)     # differentiable, for gradients of gradients
        if act == "relu":
            gz = _threshold_backward(g, out)
        elif act == "tanh":
            gz = _tanh_backward(g, None, out, None, None)
        elif act == "sigmoid":
            gz = _sigmoid_backward(g, None, out, None, None)
        elif act == "gelu":
            gz = _gelu_backward(g, z, None, None, None)
        else:
            gz = _gelu_tanh_backward(g, z, None, None, None)
        return _linear_grads(input, weight, bias, gz)
    graph.record("LinearActBackward0", out, (input, weight, bias), backward, (input, weight))
    return out


def _record_linear(x, w, bias, out):
    """y = x @ w^T + b: gx = g @ w, gw = g2^T @ x2 (leading dims flattened), gb = sum of g."""
    if not graph.recording(x, w, bias):
        return out

    def backward(g):
        return _linear_grads(x, w, bias, g)
    graph.record("LinearBackward0", out, (x, w, bias), backward, (x, w))
    return out


def _linear_grads(x, w, bias, g):
    """(gx, gw, gb) of y = x @ w^T + b from y's gradient g."""
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
