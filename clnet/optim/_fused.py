"""Launching the fused update kernels of ``cl_kernels/optim.cl``: one launch per parameter.

The kernels address the parameter and gradient as contiguous runs (element offset + n) and the
state buffers as contiguous tensors allocated here. A non-contiguous parameter (rare: parameters
are created contiguous) is updated through a contiguous copy that is written back; a
non-contiguous gradient is made contiguous first. Nothing here waits for the device.
"""
import numpy as np

from ..backend.programs import CL_SCALAR, get_program
from ..ops._layout import buf, check_index_range, launch_1d, same_device
from ..ops.copy import clone, contiguous, copy_into
from ..ops.creation import full, zeros

# flag bits, as in optim.cl
MAXIMIZE, NESTEROV, FIRST, MOMENTUM, AMSGRAD, CENTERED = 1, 2, 4, 8, 16, 32

# number of state buffers and of floating scalars each kernel takes (after n, param, grad)
_SIGNATURES = {"sgd": (1, 4), "adam": (3, 8), "rmsprop": (3, 6), "adagrad": (1, 3),
               "adadelta": (2, 5)}


def state_buffer(p, fill=0.0):
    """A contiguous state tensor shaped, typed and placed like parameter ``p``."""
    dev = p._storage.device
    if fill == 0.0:
        return zeros(p._shape, dtype=p.dtype, device=dev)
    return full(p._shape, fill, dtype=p.dtype, device=dev)


def _kernel(dev, family_kernel, dt):
    n_state, n_scalars = _SIGNATURES[family_kernel]
    scalar = CL_SCALAR[dt.cl]
    arg_types = ([np.int32, None, np.int32, None, np.int32] + [None] * n_state
                 + [scalar] * n_scalars + [np.int32])
    return get_program(dev, "optim").kernel(f"{family_kernel}_{dt.cl}", arg_types), scalar


def fused_update(opt_name, kernel_name, p, states, scalars, flags):
    """Run ``kernel_name`` on parameter ``p`` (its ``.grad``), the state tensors ``states`` (None
    for a buffer this configuration does not use) and the host-computed ``scalars``."""
    grad = p.grad
    dev = same_device(opt_name, p, grad, *[s for s in states if s is not None])
    n = p.numel()
    if n == 0:
        return
    check_index_range(opt_name, p, grad)
    if not grad.is_contiguous():
        grad = contiguous(grad)
    target = p if p.is_contiguous() else contiguous(p)
    # the kernels read state buffers from element 0 (optim.cl): a state that is a view (one a
    # user assigned, say) is updated through a dense copy that is written back
    dense = [s if s is None or (s.is_contiguous() and s._offset == 0) else clone(s)
             for s in states]
    kernel, scalar = _kernel(dev, kernel_name, p.dtype)
    placeholder = buf(target)
    launch_1d(dev, kernel, n, np.int32(n), buf(target), np.int32(target._offset), buf(grad),
              np.int32(grad._offset), *[placeholder if s is None else buf(s) for s in dense],
              *[scalar(x) for x in scalars], np.int32(flags))
    if target is not p:
        copy_into(p, target)
    for s, d in zip(states, dense):
        if d is not s:
            copy_into(s, d)
    p._bump_version()

