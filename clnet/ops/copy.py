"""Copies between layouts, dtypes and devices; fills. Kernels: cl_kernels/copy.cl."""
import numpy as np
import pyopencl as cl

from .. import dtypes, graph
from ..backend.devices import device as _resolve_device
from ..backend.programs import get_program
from ..tensor import Tensor
from ._layout import broadcast_shapes, broadcast_strides, check_index_range, launch_1d, strided_meta

_I32 = np.int32


def _program(dev):
    return get_program(dev, "copy")


def copy_into(dst, src, op="copy_"):
    """Write ``src`` (broadcast to dst's shape, cast to dst's dtype) into ``dst`` on the device."""
    if src._storage.device is not dst._storage.device:
        src = to_device(src, dst._storage.device)
    shape = dst._shape
    if tuple(broadcast_shapes(op, shape, src._shape)) != tuple(shape):
        raise ValueError(f"{op}: source shape {list(src._shape)} cannot be broadcast to "
                         f"destination shape {list(shape)}")
    n = dst.numel()
    if n == 0:
        return dst
    check_index_range(op, dst, src)
    dev = dst._storage.device
    prg = _program(dev)
    s, d = src.dtype.cl, dst.dtype.cl
    src_st = broadcast_strides(shape, src._shape, src._stride)
    if dst.is_contiguous() and src._shape == shape and src.is_contiguous():
        k = prg.kernel(f"copy_{s}_{d}_c", [_I32, None, _I32, None, _I32])
        launch_1d(dev, k, n, n, src._storage.buffer, src._offset, dst._storage.buffer, dst._offset)
    else:
        m = strided_meta(op, shape, [(dst._offset, dst._stride), (src._offset, src_st)])
        k = prg.kernel(f"copy_{s}_{d}_n", [_I32, None, None, None])
        launch_1d(dev, k, n, n, src._storage.buffer, dst._storage.buffer, m)
    return dst


def fill_into(dst, value):
    n = dst.numel()
    if n == 0:
        return dst
    check_index_range("fill_", dst)
    dev = dst._storage.device
    t = dst.dtype.cl
    vtype = np.uint8 if dst.dtype is dtypes.bool_ else dst.dtype.np.type
    value = vtype(bool(value)) if dst.dtype is dtypes.bool_ else vtype(value)
    prg = _program(dev)
    if dst.is_contiguous():
        k = prg.kernel(f"fill_{t}_c", [_I32, None, _I32, vtype])
        launch_1d(dev, k, n, n, dst._storage.buffer, dst._offset, value)
    else:
        m = strided_meta("fill_", dst._shape, [(dst._offset, dst._stride)])
        k = prg.kernel(f"fill_{t}_n", [_I32, None, vtype, None])
        launch_1d(dev, k, n, n, dst._storage.buffer, value, m)
    return dst


def _identity_backward(g):
    return (g,)


def contiguous(t):
    if t.is_contiguous():
        return t
    out = copy_into(Tensor._empty(t._shape, t.dtype, t._storage.device), t, "contiguous")
    if graph.recording(t):
        graph.record("CloneBackward0", out, (t,), _identity_backward)
    return out


def clone(t):
    out = copy_into(Tensor._empty(t._shape, t.dtype, t._storage.device), t, "clone")
    if graph.recording(t):
        graph.record("CloneBackward0", out, (t,), _identity_backward)
    return out


def cast(t, dt):
    dt = dtypes.to_dtype(dt)
    if dt is t.dtype:
        return t
    out = copy_into(Tensor._empty(t._shape, dt, t._storage.device), t, f"to({dt})")
    if graph.recording(t) and dt.is_floating_point:
        src_dt = t.dtype
        graph.record("ToCopyBackward0", out, (t,), lambda g: (cast(g, src_dt),))
    return out


def from_numpy_to(a, dev, dt=None):
    """Upload a numpy array (any layout) as a new contiguous tensor."""
    dt = dtypes.to_dtype(a.dtype) if dt is None else dt
    host = np.asarray(a, dtype=dt.np)
    if not host.flags.c_contiguous:
        host = np.array(host, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
    out = Tensor._empty(host.shape, dt, dev)
    if host.size:
        # the buffer is new, so the in-order queue has nothing pending on it: a non-blocking
        # write keeps the host array alive through pyopencl's event until the copy is done
        cl.enqueue_copy(dev.queue, out._storage.buffer, host, is_blocking=False)
    return out


def to_device(t, dev):
    dev = _resolve_device(dev)
    if t._storage.device is dev:
        return t
    out = from_numpy_to(t.numpy(), dev, t.dtype)
    if graph.recording(t):
        src_dev = t._storage.device
        graph.record("ToCopyBackward0", out, (t,), lambda g: (to_device(g, src_dev),))
    return out


def to(t, *args, **kwargs):
    """``t.to(device)``, ``t.to(dtype)``, ``t.to(device, dtype)``, ``t.to(other)``, PyTorch-style."""
    dev = kwargs.pop("device", None)
    dt = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, dtypes.dtype) or a in (float, int, bool) or isinstance(a, np.dtype):
            dt = a
        elif a is None:
            continue
        else:
            dev = a
    out = t
    if dev is not None:
        out = to_device(out, dev)
    if dt is not None:
        out = cast(out, dt)
    if copy and out is t:
        out = clone(t)
    return out


def cpu(t):
    """The tensor on the first CPU OpenCL device (PoCL); unchanged where there is none."""
    try:
        dev = _resolve_device("cpu")
    except Exception:
        return t
    return to_device(t, dev)


TENSOR_METHODS = {
    "contiguous": lambda self, memory_format=None: contiguous(self),
    "clone": lambda self, memory_format=None: clone(self),
    "to": to,
    "cpu": cpu,
    "float": lambda self: cast(self, dtypes.float32),
    "double": lambda self: cast(self, dtypes.float64),
    "int": lambda self: cast(self, dtypes.int32),
    "long": lambda self: cast(self, dtypes.int64),
    "bool": lambda self: cast(self, dtypes.bool_),
}
