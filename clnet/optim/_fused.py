"""The fused update of one parameter (cl_kernels/optim.cl), arguments passed by name.

Optimizers name the kernel's states and scalars (``dict(exp_avg=..., lr=...)``); each kernel's
parameter list is read from cl_kernels/optim.cl itself (``kernel_params``): after the common head
``(n, param, poff, grad, goff)`` come the state buffers, then the scalars, then ``flags``. The
launch puts the named values in the kernel's order and raises naming any name the kernel does
not take or lacks, so an optimizer and its kernel cannot drift apart by position.

The kernels address the parameter and gradient as contiguous runs (element offset + n) and the
state buffers as contiguous tensors from element 0. A non-contiguous parameter (rare: parameters
are created contiguous) is updated through a contiguous copy that is written back; a
non-contiguous gradient is made contiguous first; a state that is a view is updated through a
dense copy. Nothing here waits for the device.
"""
import numpy as np

from ..backend.programs import CL_SCALAR, ProgramCache, kernel_params
from ..ops._layout import buf, check_index_range, launch_1d, same_device
from ..ops.copy import clone, contiguous, copy_into
from ..ops.creation import full, zeros

# flag bits, as in optim.cl
MAXIMIZE, NESTEROV, FIRST, MOMENTUM, AMSGRAD, CENTERED = 1, 2, 4, 8, 16, 32

_HEAD = ["n", "param", "poff", "grad", "goff"]

_programs = ProgramCache("optim")


class UpdateKernel:
    """One fused update of optim.cl (``sgd``, ``adam``...): its state and scalar names in the
    kernel's order, read from the source once."""

    __slots__ = ("name", "states", "scalars")

    def __init__(self, name):
        params = kernel_params("optim", f"{name}_##T")
        names = [p for _, p in params]
        if names[:5] != _HEAD or names[-1] != "flags":
            raise RuntimeError(f"cl_kernels/optim.cl: {name}_##T takes {names}; the launcher "
                               f"expects {_HEAD} + states + scalars + ['flags']")
        self.name = name
        self.states = tuple(p for t, p in params[5:-1] if "*" in t)
        self.scalars = tuple(p for t, p in params[5:-1] if "*" not in t)

    def _check(self, op, what, expected, given):
        if len(given) != len(expected) or any(k not in given for k in expected):
            missing = [k for k in expected if k not in given]
            extra = [k for k in given if k not in expected]
            raise TypeError(f"{op}: cl_kernels/optim.cl's {self.name}_##T takes the {what} "
                            f"{list(expected)}; missing {missing}, not taken {extra}")

    def launch(self, op, target, grad, states, scalars, flags):
        """Update ``target`` (contiguous) from ``grad`` (contiguous): ``states`` maps each state
        name to a dense tensor or None (a buffer this configuration leaves alone), ``scalars``
        each scalar name to a host float."""
        self._check(op, "states", self.states, states)
        self._check(op, "scalars", self.scalars, scalars)
        dev, dt = target._storage.device, target.dtype
        scalar = CL_SCALAR[dt.cl]
        kernel = _programs(dev).kernel(
            f"{self.name}_{dt.cl}", [np.int32, None, np.int32, None, np.int32]
            + [None] * len(self.states) + [scalar] * len(self.scalars) + [np.int32])
        n = target.numel()
        placeholder = buf(target)      # never touched: the flags say the buffer is unused
        launch_1d(dev, kernel, n, np.int32(n), buf(target), np.int32(target._offset),
                  buf(grad), np.int32(grad._offset),
                  *[placeholder if states[k] is None else buf(states[k]) for k in self.states],
                  *[scalar(scalars[k]) for k in self.scalars], np.int32(flags))


_kernels = {}


def update_kernel(name):
    """The ``UpdateKernel`` of optim.cl's ``<name>_##T`` (read once per process)."""
    k = _kernels.get(name)
    if k is None:
        k = _kernels[name] = UpdateKernel(name)
    return k


def state_buffer(p, fill=0.0):
    """A contiguous state tensor shaped, typed and placed like parameter ``p``."""
    dev = p._storage.device
    if fill == 0.0:
        return zeros(p._shape, dtype=p.dtype, device=dev)
    return full(p._shape, fill, dtype=p.dtype, device=dev)


def fused_update(opt_name, kernel_name, p, states, scalars, flags):
    """Run optim.cl's ``kernel_name`` on parameter ``p`` (its ``.grad``). ``states`` maps the
    kernel's state names to tensors (None for a buffer this configuration does not use),
    ``scalars`` its scalar names to host floats."""
    grad = p.grad
    same_device(opt_name, p, grad, *[s for s in states.values() if s is not None])
    if p.numel() == 0:
        return
    check_index_range(opt_name, p, grad)
    if not grad.is_contiguous():
        grad = contiguous(grad)
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
