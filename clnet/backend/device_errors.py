"""Errors that kernels find in device data, raised at the host's next read.

Some bad input can only be seen by reading data that lives on the device: a class index in a
target tensor, a gather index, a probability outside [0, 1]. Reading it back before every launch
would stall the queue on every training step, so the kernels that can meet such data record the
first error in a small per-device flag buffer (cl_kernels/error_flag.h) and go on with a harmless
value; the host reads the flag whenever it reads anything back anyway (``Tensor.numpy()``,
``.item()``, ``.tolist()``, ``clnet.synchronize()``) and raises the error there, the way CUDA
reports a device-side assert at the next synchronising call. Nothing is ever read or written
outside a tensor meanwhile.

Only devices that ran such a kernel since the last check pay for the extra 16-byte read.
"""
import numpy as np
import pyopencl as cl

from .launch import refuse_in_capture

__all__ = ["error_flag", "check_device_errors", "ERR_TARGET_OUT_OF_BOUNDS",
           "ERR_INDEX_OUT_OF_BOUNDS", "ERR_INPUT_OUTSIDE_0_1"]

# the codes of cl_kernels/error_flag.h
ERR_TARGET_OUT_OF_BOUNDS = 1
ERR_INDEX_OUT_OF_BOUNDS = 2
ERR_INPUT_OUTSIDE_0_1 = 3


class DeviceIndexError(IndexError, RuntimeError):
    """An index held on the device was out of range (PyTorch raises IndexError or RuntimeError
    for these depending on the op; this is both)."""


class DeviceValueError(ValueError, RuntimeError):
    """A value held on the device was outside the op's domain (RuntimeError in PyTorch)."""


def _message(code, detail, what):
    where = f" (in {what})" if what else ""
    if code == ERR_TARGET_OUT_OF_BOUNDS:
        return DeviceIndexError(f"Target {detail} is out of bounds{where}.")
    if code == ERR_INDEX_OUT_OF_BOUNDS:
        return DeviceIndexError(f"index {detail} is out of bounds{where}: an index tensor on the "
                                "device held a value outside the indexed dimension")
    if code == ERR_INPUT_OUTSIDE_0_1:
        return DeviceValueError(f"all elements of input should be between 0 and 1{where}")
    return RuntimeError(f"a kernel reported device-side error code {code} (detail {detail})")


def error_flag(dev, what):
    """The device's flag buffer, to pass to a kernel that may record an error. ``what`` names
    the op for the message; every op that asked since the last check is named in it."""
    buf = getattr(dev, "_error_flag", None)
    if buf is None:
        buf = cl.Buffer(dev.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                        hostbuf=np.zeros(4, np.int32))
        dev._error_flag = buf
        dev._error_flag_ops = ()
    if what not in dev._error_flag_ops:
        dev._error_flag_ops += (what,)
    return buf


def check_device_errors(dev):
    """Raise the first error a kernel recorded on ``dev`` since the last check (then clear it).
    Waits for the device's queue only if such a kernel ran since the last check."""
    ops = getattr(dev, "_error_flag_ops", ())
    if not ops:
        return
    refuse_in_capture(dev, "a check of the device's error flag")
    dev._error_flag_ops = ()
    host = np.empty(4, np.int32)
    cl.enqueue_copy(dev.queue, host, dev._error_flag, is_blocking=True)
    if host[0] == 0:
        return
    cl.enqueue_copy(dev.queue, dev._error_flag, np.zeros(4, np.int32), is_blocking=True)
    detail = int(np.array([host[1], host[2]], np.int32).view(np.int64)[0])
    raise _message(int(host[0]), detail, " or ".join(ops))
