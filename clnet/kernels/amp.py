"""amp.cl's launches: GradScaler's unscale-and-check of one gradient and its scale update, all on
the device (the scaler reads found_inf back once per step, never once per parameter)."""
import numpy as np

from ..backend.programs import ProgramCache
from ..backend.launch import enqueue
from ..dtypes import float32, float64, int32
from .layout import buf, check_index_range, launch_1d, same_device

_program = ProgramCache("amp", lambda dev, dt: (("T", dt.cl),))   # (dev, gradient dtype)
_update_program = ProgramCache("amp", lambda dev: (("AMP_SCALE_UPDATE", None),))   # (dev)
_UNSCALE_ARGS = [np.int32, None, np.int32, None, np.int32, None, np.int32]
_UPDATE_ARGS = [None, np.int32, None, np.int32, None, np.int32, np.float32, np.float32, np.int32]


def _one_element(op, name, t, dtype):
    if t.dtype is not dtype or t.numel() != 1:
        raise ValueError(f"{op}: {name} must be a one-element {dtype.name} tensor, got "
                         f"{t.dtype.name} of shape {list(t.shape)}")


def unscale_and_check(grad, inv_scale, found_inf):
    """``grad *= inv_scale`` in place, and ``found_inf = 1`` when an element of ``grad`` was inf or
    NaN. ``grad`` is a contiguous float32/float64 tensor (at any storage offset); ``inv_scale``
    and ``found_inf`` are one-element float32 tensors on its device."""
    op = "_amp_foreach_non_finite_check_and_unscale_"
    if grad.dtype not in (float32, float64) or not grad.is_contiguous():
        raise ValueError(f"{op}: expected a contiguous float32/float64 gradient, got "
                         f"{grad.dtype.name} with strides {grad.stride()}")
    _one_element(op, "inv_scale", inv_scale, float32)
    _one_element(op, "found_inf", found_inf, float32)
    same_device(op, grad, inv_scale, found_inf)
    n = grad.numel()
    if n == 0:
        return
    check_index_range(op, grad)
    dev = grad._storage.device
    k = _program(dev, grad.dtype).kernel("amp_unscale", _UNSCALE_ARGS)
    launch_1d(dev, k, n, n, buf(grad), grad._offset, buf(inv_scale), inv_scale._offset,
              buf(found_inf), found_inf._offset)


def update_scale(scale, growth_tracker, found_inf, growth_factor, backoff_factor,
                 growth_interval):
    """PyTorch's ``_amp_update_scale_`` in place on the device: ``scale`` (float32) and
    ``growth_tracker`` (int32) one-element tensors, ``found_inf`` the step's float32 flag."""
    op = "_amp_update_scale_"
    _one_element(op, "scale", scale, float32)
    _one_element(op, "growth_tracker", growth_tracker, int32)
    _one_element(op, "found_inf", found_inf, float32)
    same_device(op, scale, growth_tracker, found_inf)
    dev = scale._storage.device
    k = _update_program(dev).kernel("amp_update_scale", _UPDATE_ARGS)
    enqueue(dev, k, (1,), None, buf(scale), scale._offset, buf(growth_tracker),
            growth_tracker._offset, buf(found_inf), found_inf._offset, growth_factor,
            backoff_factor, int(growth_interval))
