"""Small helpers the converters share: operands as ONNX values, dims, opset-dependent forms."""
import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .builder import elem_type

INT64_MAX = np.iinfo(np.int64).max


def tensor_attr(name):
    """A Tensor method or property getter as installed by the ops layer (the key converters are
    registered under)."""
    from .. import ops  # noqa: F401  (the ops layer installs the methods)
    attr = vars(Tensor)[name]
    return attr.fget if isinstance(attr, property) else attr


def operand(ctx, x, dt):
    """An op's operand (tensor or Python number) as a value of clnet dtype ``dt``."""
    if isinstance(x, Tensor):
        name = ctx.name(x)
        return cast(ctx, name, x.dtype, dt)
    if isinstance(x, bool) and dt.is_floating_point:
        x = float(x)
    return ctx.b.scalar(x, dt)


def cast(ctx, name, src, dst):
    if src == dst:
        return name
    return ctx.node("Cast", [name], to=elem_type(dst))


def promoted(*xs):
    """The dtype two operands compute in (PyTorch's rule: a Python number takes the tensor's
    dtype unless it is a float and the tensor is not)."""
    tensor_dts = [x.dtype for x in xs if isinstance(x, Tensor)]
    dt = tensor_dts[0]
    for other in tensor_dts[1:]:
        dt = dtypes.promote_types(dt, other)
    for x in xs:
        if not isinstance(x, Tensor):
            dt = dtypes.result_type_scalar(dt, x)
    return dt


def wrap_dim(d, n):
    d = int(d)
    return d + n if d < 0 else d


def dims_arg(dim, n):
    """``dim`` (None, an int or a sequence) as a sorted list of non-negative axes."""
    if dim is None:
        return list(range(n))
    if isinstance(dim, (list, tuple)):
        return sorted(wrap_dim(d, n) for d in dim)
    return [wrap_dim(dim, n)]


def reduce_node(ctx, op, name, axes, keepdims):
    """ReduceSum takes axes as an input from opset 13, the other reductions from opset 18."""
    if op == "ReduceSum" or ctx.b.opset >= 18:
        return ctx.node(op, [name, ctx.b.const(axes)], keepdims=int(keepdims))
    return ctx.node(op, [name], axes=list(axes), keepdims=int(keepdims))


def reduced_dyn(dyn, axes, n, keepdim):
    """The dynamic axes left after reducing ``axes`` of an ``n``-D value."""
    out, j = set(), 0
    for a in range(n):
        if a in axes and not keepdim:
            continue
        if a in dyn and a not in axes:
            out.add(j)
        j += 1
    return out


def ntuple(v, n):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return [int(v[0])] * n
        return [int(x) for x in v]
    return [int(v)] * n
