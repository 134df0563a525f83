"""Copies between layouts, dtypes and devices, with their backward: contiguous, clone, cast,
to(device/dtype), and ``write_out`` for out= arguments. The launches (and ``copy_into``,
``fill_into``, ``from_numpy_to``, re-exported here for the families above) are in
clnet/kernels/copy.py; kernels: cl_kernels/copy.cl."""
import numpy as np

from .. import dtypes, graph
from ..backend.devices import device as _resolve_device
from ..kernels.copy import (copy_into, fill_into, from_numpy_to, launch_vec,  # noqa: F401
                            strided_launch, upload_stored)
from ..tensor import Tensor


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


def to_device(t, dev):
    dev = _resolve_device(dev)
    if t._storage.device is dev:
        return t
    out = upload_stored(t._host_array(), dev, t.dtype)
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


def write_out(op, result, out):
    """``result`` written into a user's ``out=`` tensor (returned), as PyTorch's out= variants:
    same shape, a dtype the result can be cast to, and no autograd through out=."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if tuple(out._shape) != tuple(result._shape):
        raise ValueError(f"{op}(): out= has shape {list(out._shape)} but the result has shape "
                         f"{list(result._shape)}")
    if out.dtype is not result.dtype:
        raise TypeError(f"{op}(): expected out tensor to have dtype {result.dtype.name}, but got "
                        f"{out.dtype.name} instead")
    if graph.mode.grad_enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    copy_into(out, result, op)
    out._bump_version()
    return out
