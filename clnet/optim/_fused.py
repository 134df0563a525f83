"""The fused update of one parameter (cl_kernels/optim.cl through clnet/kernels/optim.py).

Optimizers name the kernel's states and scalars (``dict(exp_avg=..., lr=...)``): the launch
floor orders them as the kernel's signature does and refuses a name it does not know. Here the
tensors are brought to the kernels' layout: the kernels address the parameter and gradient as
contiguous runs (element offset + n) and the state buffers as contiguous tensors from element 0.
A non-contiguous parameter (rare: parameters are created contiguous) is updated through a
contiguous copy that is written back; a non-contiguous gradient is made contiguous first; a
state that is a view is updated through a dense copy. Nothing here waits for the device.

A float16/bfloat16 parameter (its states in its dtype, as torch's) is updated as PyTorch's
kernels do for them: parameter, gradient and states read as float32, the update computed in
float32, and the parameter and states written back rounded once (ops/opmath.py's rule).
"""
from .. import dtypes
from ..kernels.layout import check_index_range, same_device
from ..kernels.optim import (AMSGRAD, CENTERED, FIRST, MAXIMIZE, MOMENTUM,  # noqa: F401 (flags)
                             NESTEROV, update_kernel)
from ..ops.copy import clone, contiguous, copy_into
from ..ops.creation import empty, full, zeros


def check_not_capturing(p):
    """Optimizer state is created eagerly, never inside a captured step (``clnet.graphs``): a
    replay would not re-run the creation, and the buffers must exist before the launches that
    use them are recorded."""
    cap = p._storage.device.capture
    err = cap.refusal("creating optimizer state") if cap is not None else None
    if err is not None:     # the capture's own error type (clnet.graphs.GraphCaptureError)
        raise type(err)("optimizer state is created on the first step; run one step eagerly "
                        "before capturing")


def state_buffer(p, fill=0.0):
    """A contiguous state tensor shaped, typed and placed like parameter ``p``."""
    check_not_capturing(p)
    dev = p._storage.device
    if fill == 0.0:
        return zeros(p._shape, dtype=p.dtype, device=dev)
    return full(p._shape, fill, dtype=p.dtype, device=dev)


def _float32(t):
    """A contiguous float32 copy of ``t`` (recording nothing: optimizer steps are not graphed)."""
    return copy_into(empty(t._shape, dtype=dtypes.float32, device=t._storage.device), t)


def fused_update(opt_name, kernel_name, p, states, scalars, flags):
    """Run optim.cl's ``kernel_name`` on parameter ``p`` (its ``.grad``). ``states`` maps the
    kernel's state names to tensors (None for a buffer this configuration does not use),
    ``scalars`` its scalar names to host floats (or is a callable returning them at each run,
    for captured steps: kernels/optim.py's ``launch``)."""
    grad = p.grad
    same_device(opt_name, p, grad, *[s for s in states.values() if s is not None])
    if p.numel() == 0:
        return
    check_index_range(opt_name, p, grad)
    if not grad.is_contiguous():
        grad = contiguous(grad)
    if p.dtype.compute is not p.dtype or grad.dtype.compute is not grad.dtype:
        # 16-bit: float32 copies of all of them (contiguous, from element 0), written back below
        target = _float32(p)
        grad = _float32(grad)
        dense = {k: None if s is None else _float32(s) for k, s in states.items()}
    else:
        target = p if p.is_contiguous() else contiguous(p)
        # a state that is a view (one a user assigned, say) is updated through a dense copy
        dense = {k: s if s is None or (s.is_contiguous() and s._offset == 0) else clone(s)
                 for k, s in states.items()}
    update_kernel(kernel_name).launch(opt_name, target, grad, dense, scalars, flags)
    if target is not p:
        copy_into(p, target)
    for k, s in states.items():
        if dense[k] is not s:
            copy_into(s, dense[k])
    p._bump_version()
