"""elementwise.cl's launches: one program per compute dtype, and the unary/binary/ternary
kernels in their three forms. ``clnet/ops/elementwise.py`` (promotion, broadcasting, autograd)
calls these; nothing here records anything.

Each op launches one kernel: ``<op>_c`` when every operand is contiguous with the output's shape
(or a Python scalar), else ``<op>_n`` with the `Strided` struct. Nothing here waits for the device.
On CPU drivers the floating-point ops with a transcendental call (exp, tanh, erf, gelu, pow...)
use ``<op>_v`` instead of ``<op>_c``: one 256-bit vector per work-item through the vector builtins
(see elementwise.cl); ``dev.tuning["elementwise.vec"]`` (1/0) selects it, tests set it to run either.
"""
import numpy as np

from .. import dtypes
from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..tensor import Tensor
from .chain import BINARY_CODES, CHAIN_TYPES, UNARY_CODES, chain_limit, queue_op
from .copy import launch_vec, strided_launch
from .layout import LOCAL_1D, broadcast_strides, check_no_partial_overlap

_I32 = np.int32
_VW = 4  # elements per work-item in the *_c kernels (VW in elementwise.cl)
_KIND = {"float": "IS_FLOAT", "double": "IS_FLOAT", "half": "IS_FLOAT", "int": "IS_INT",
         "long": "IS_INT", "uchar": "IS_BOOL"}


# the *_v kernels: elements per work-item (VW in elementwise.cl: one 256-bit vector)
_VEC_W = {"float": 8, "double": 4}
VEC_UNARY = frozenset((
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc",
    "lgamma", "sigmoid", "logsigmoid", "elu", "celu", "selu", "gelu", "gelu_tanh", "silu", "mish",
    "softplus", "softsign"))
VEC_BINARY = frozenset(("fmod", "pow", "atan2", "hypot", "sigmoid_backward", "tanh_backward",
                         "silu_backward", "gelu_backward", "gelu_tanh_backward", "mish_backward",
                         "softplus_backward"))


def _defines(dev, dt):
    defines = (("T", dt.cl), (_KIND[dt.cl], 1))
    if dt is dtypes.float16:        # native half (native_half below): the extension's pragma
        defines += (("HAS_FP16", 1),)
    if dt.cl in _VEC_W:
        defines += (("VW", _VEC_W[dt.cl]),)
    if dt.cl == "float":
        defines += (("ERF_POLY", 1),)   # the *_v kernels' erf (elementwise.cl)
    return defines


program = ProgramCache("elementwise", _defines)   # program(dev, compute dtype)


def vec_width(dev, op, ct, ops):
    """Elements per work-item of ``op``'s *_v kernel when this device uses it, else 0."""
    if op not in ops or ct.cl not in _VEC_W:
        return 0
    use = dev.tuning.get("elementwise.vec")
    if use is None:
        use = dev.tuning["elementwise.vec"] = 1 if dev.kind == "CPU" else 0
    return _VEC_W[ct.cl] if use else 0


def native_half(dev, dt):
    """True when the elementwise kernels run float16 natively on ``dev``: it reports
    cl_khr_fp16 and the half program has not failed to build there (``dev.tuning
    ["elementwise.half"]``, 0 after a failure, may also be set to 0 to force the float32 path).
    Elsewhere, and for bfloat16 always, a 16-bit op computes in float32 (ops/opmath.py)."""
    return dt is dtypes.float16 and dev.has_fp16 and dev.tuning.get("elementwise.half", 1) == 1


def launch_w(dev, kernel, n, w, *args):
    """Launch a *_v kernel: one work-item per ``w`` elements, rounded up to whole work-groups."""
    local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size
    items = (n + w - 1) // w
    enqueue(dev, kernel, ((items + local - 1) // local * local,), (local,), *args)


# chain opcodes of the binary ops without a vector form (those may chain on every device)
_PLAIN_BINARY_CODES = {op: code for op, code in BINARY_CODES.items() if op not in VEC_BINARY}


def chain_binary(dev, prg, op, ct, n, a, aoff, b, boff, sa, sb, ostorage, ooff):
    """Queue binary ``op`` over ``n`` contiguous elements on the device's pending chain
    (chain.py) when it qualifies: a small tensor, a chained compute type, and an op this device
    does not compute with its vector form (whose last bits may differ from the chain's scalar
    one). ``a``/``b`` are buffers (None: the scalar ``sa``/``sb``). True when queued."""
    limit = dev.tuning.get("elementwise.chain")
    if limit is None:
        limit = chain_limit(dev)
    if n > limit or ct not in CHAIN_TYPES:
        return False
    code = _PLAIN_BINARY_CODES.get(op)
    if code is None:
        if op not in BINARY_CODES or vec_width(dev, op, ct, VEC_BINARY):
            return False
        code = BINARY_CODES[op]
    return queue_op(dev, prg, ct, n, code, a, aoff, b, boff, sa, sb, ostorage.buffer, ooff,
                    ostorage)


def scalar_type(dt):
    return np.uint8 if dt is dtypes.bool_ else dt.np.type


def launch_binary(op, a, b, out, ct):
    """out[...] = op(a, b) computed in ct; a or b may be a Python scalar (not both)."""
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    prg = program(dev, ct)
    st = scalar_type(ct)
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if (a_t and a._storage is out._storage) or (b_t and b._storage is out._storage):
        check_no_partial_overlap(op, out, a, b)
    mode = 0 if (a_t and b_t) else (1 if a_t else 2)
    sa = st(a) if not a_t else st(0)
    sb = st(b) if not b_t else st(0)
    ta = a if a_t else b      # buffer placeholders for the scalar side
    tb = b if b_t else a
    shape = out._shape
    if (out.is_contiguous() and (not a_t or (a._shape == shape and a.is_contiguous()))
            and (not b_t or (b._shape == shape and b.is_contiguous()))):
        if chain_binary(dev, prg, op, ct, n, a._storage.buffer if a_t else None,
                        a._offset if a_t else 0, b._storage.buffer if b_t else None,
                        b._offset if b_t else 0, sa, sb, out._storage, out._offset):
            return out
        w = vec_width(dev, op, ct, VEC_BINARY)
        k = prg.kernel(op + ("_v" if w else "_c"),
                       [_I32, None, _I32, None, _I32, st, st, None, _I32, _I32])
        launch_w(dev, k, n, w or _VW, n, ta._storage.buffer, ta._offset, tb._storage.buffer,
                  tb._offset, sa, sb, out._storage.buffer, out._offset, mode)
    else:
        k = prg.kernel(op + "_n", [_I32, None, None, st, st, None, _I32, None])
        strided_launch(op, dev, k, n, shape, [
            (out._offset, out._stride),
            (ta._offset, broadcast_strides(shape, ta._shape, ta._stride)),
            (tb._offset, broadcast_strides(shape, tb._shape, tb._stride))],
            n, ta._storage.buffer, tb._storage.buffer, sa, sb, out._storage.buffer, mode)
    return out


def launch_unary(op, a, out, ct, p0=0, p1=0):
    n = out.numel()
    if n == 0:
        return out
    if a._storage is out._storage:
        check_no_partial_overlap(op, out, a)
    dev = out._storage.device
    prg = program(dev, ct)
    st = scalar_type(ct)
    if out.is_contiguous() and a.is_contiguous() and a._shape == out._shape:
        w = vec_width(dev, op, ct, VEC_UNARY)
        if not w and n <= chain_limit(dev) and ct in CHAIN_TYPES and op in UNARY_CODES and \
                queue_op(dev, prg, ct, n, UNARY_CODES[op], a._storage.buffer, a._offset, None,
                         0, st(p0), st(p1), out._storage.buffer, out._offset, out._storage):
            return out
        k = prg.kernel(op + ("_v" if w else "_c"), [_I32, None, _I32, None, _I32, st, st])
        launch_w(dev, k, n, w or _VW, n, a._storage.buffer, a._offset, out._storage.buffer,
                  out._offset, st(p0), st(p1))
    else:
        k = prg.kernel(op + "_n", [_I32, None, None, st, st, None])
        strided_launch(op, dev, k, n, out._shape, [
            (out._offset, out._stride),
            (a._offset, broadcast_strides(out._shape, a._shape, a._stride))],
            n, a._storage.buffer, out._storage.buffer, st(p0), st(p1))
    return out


def ternary_strided(kernel, out, operands, scalars, mode, ct, arg_types):
    n = out.numel()
    if n == 0:
        return out
    if any(t._storage is out._storage for t in operands):
        check_no_partial_overlap(kernel, out, *operands)
    dev = out._storage.device
    shape = out._shape
    metas = [(out._offset, out._stride)]
    bufs = []
    for t in operands:
        metas.append((t._offset, broadcast_strides(shape, t._shape, t._stride)))
        bufs.append(t._storage.buffer)
    k = program(dev, ct).kernel(kernel, arg_types)
    strided_launch(kernel, dev, k, n, shape, metas, n, *bufs, *scalars, out._storage.buffer, mode)
    return out


def ternary_contiguous(kernel, out, operands, scalars, mode, ct, arg_types):
    """The ``*_c`` form of a ternary kernel: every operand contiguous with ``out``'s shape
    (placeholders for scalar operands included); each buffer is passed with its offset."""
    n = out.numel()
    if n == 0:
        return out
    if any(t._storage is out._storage for t in operands):
        check_no_partial_overlap(kernel, out, *operands)
    dev = out._storage.device
    args = []
    for t in operands:
        args += (t._storage.buffer, t._offset)
    k = program(dev, ct).kernel(kernel, arg_types)
    launch_vec(dev, k, n, n, *args, *scalars, out._storage.buffer, out._offset, mode)
    return out


def fast_kernel(dev, op, dt):
    """(the ``_v``/``_c`` kernel of binary ``op`` for ``dt``, local size, elements per work-item)
    for ops/elementwise.py's fast path, cached per (device, op, dtype, vector setting)."""
    key = (dev, op, dt, dev.tuning.get("elementwise.vec"))
    hit = FAST_KERNELS.get(key)
    if hit is None:
        st = dt.np.type
        w = vec_width(dev, op, dt, VEC_BINARY)
        k = program(dev, dt).kernel(op + ("_v" if w else "_c"),
                                    [_I32, None, _I32, None, _I32, st, st, None, _I32, _I32])
        hit = FAST_KERNELS[key] = (k, LOCAL_1D if dev.max_work_group_size >= LOCAL_1D
                            else dev.max_work_group_size, w or _VW)
    return hit


FAST_KERNELS = {}   # (device, op, dtype, vector setting) -> fast_kernel's answer
