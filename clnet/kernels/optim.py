"""optim.cl: the fused optimizer updates, one launch per parameter, arguments passed by name.

Each kernel's parameter list is read from cl_kernels/optim.cl itself (``kernel_params``): after
the common head ``(n, param, poff, grad, goff)`` come the state buffers, then the scalars, then
``flags``. A caller names its states and scalars (``exp_avg=..., lr=...``); ``update`` puts them
in the kernel's order and raises naming any name the kernel does not take or lacks, so an
optimizer and its kernel cannot drift apart by position.

The kernels address the parameter and gradient as contiguous runs (element offset + n) and the
state buffers as contiguous tensors from element 0: the caller (clnet/optim/_fused.py) brings
its tensors to that layout.
"""
import numpy as np

from ..backend.programs import CL_SCALAR, ProgramCache, kernel_params
from ..backend.launch import enqueue_dynamic
from .layout import LOCAL_1D, buf

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
        each scalar name to a host float, or is a callable returning that dict at each run (a
        captured step recomputes it at every replay: ``backend.launch.enqueue_dynamic``)."""
        self._check(op, "states", self.states, states)
        if not callable(scalars):
            self._check(op, "scalars", self.scalars, scalars)
        dev, dt = target._storage.device, target.dtype
        scalar = CL_SCALAR[dt.cl]
        kernel = _programs(dev).kernel(
            f"{self.name}_{dt.cl}", [np.int32, None, np.int32, None, np.int32]
            + [None] * len(self.states) + [scalar] * len(self.scalars) + [np.int32])
        n = target.numel()
        placeholder = buf(target)      # never touched: the flags say the buffer is unused
        head = (np.int32(n), buf(target), np.int32(target._offset), buf(grad),
                np.int32(grad._offset),
                *[placeholder if states[k] is None else buf(states[k]) for k in self.states])
        tail = np.int32(flags)

        def make_args():
            given = scalars() if callable(scalars) else scalars
            self._check(op, "scalars", self.scalars, given)
            return (*head, *[scalar(given[k]) for k in self.scalars], tail)

        local = LOCAL_1D if dev.max_work_group_size >= LOCAL_1D else dev.max_work_group_size
        enqueue_dynamic(dev, kernel, (((n + local - 1) // local) * local,), (local,), make_args)


_kernels = {}


def update_kernel(name):
    """The ``UpdateKernel`` of optim.cl's ``<name>_##T`` (read once per process)."""
    k = _kernels.get(name)
    if k is None:
        k = _kernels[name] = UpdateKernel(name)
    return k
