"""check.cl's launches: value checks on device data, reported through the device's error flag
at the next host read (backend/device_errors.py). PyTorch checks these values before running
the op; reading them back here would stall the queue on every call."""
import numpy as np

from ..backend.device_errors import error_flag
from ..backend.programs import ProgramCache
from ..tensor import Tensor
from .copy import contiguous_copy, copy_into
from .layout import check_index_range, launch_1d

_program = ProgramCache("check", lambda dev, dt: (("T", dt.cl),))   # (dev, dtype)


def check_unit_interval(op, x):
    """Record an error unless every element of the float tensor ``x`` is in [0, 1]."""
    n = x.numel()
    if n == 0:
        return
    if x.dtype.compute is not x.dtype:
        # a 16-bit float: checked on its float32 values (exact), as every 16-bit op computes
        c = copy_into(Tensor._empty(x._shape, x.dtype.compute, x._storage.device), x, op)
    else:
        c = contiguous_copy(x)
    check_index_range(op, c)
    dev = c._storage.device
    k = _program(dev, c.dtype).kernel("check_unit_interval", [np.int32, None, np.int32, None])
    launch_1d(dev, k, n, n, c._storage.buffer, c._offset, error_flag(dev, op))
