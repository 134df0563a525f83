"""Value checks on device data (cl_kernels/check.cl), reported through the device's error flag
at the next host read (backend/device_errors.py): PyTorch checks these values before running
the op; reading them back here would stall the queue on every call."""
import numpy as np

from ..backend.device_errors import error_flag
from ..backend.programs import get_program
from ._layout import check_index_range, launch_1d
from .copy import contiguous

__all__ = ["check_unit_interval"]


def check_unit_interval(op, x):
    """Record an error unless every element of the float tensor ``x`` is in [0, 1]."""
    n = x.numel()
    if n == 0:
        return
    c = contiguous(x.detach())
    check_index_range(op, c)
    dev = c.device
    k = get_program(dev, "check", (("T", c.dtype.cl),)).kernel(
        "check_unit_interval", [np.int32, None, np.int32, None])
    launch_1d(dev, k, n, n, c._storage.buffer, c._offset, error_flag(dev, op))
