"""``torch.amp.GradScaler``: dynamic loss scaling for float16 training, PyTorch's behaviour.

The scale and the growth tracker are one-element device tensors. ``unscale_`` multiplies every
gradient of an optimizer by 1/scale and records inf/NaN in one found_inf tensor per device, all
with kernels (cl_kernels/amp.cl); ``step`` reads found_inf back once (PyTorch reads it once too)
and skips ``optimizer.step()`` when it is set; ``update`` grows or backs off the scale on the
device, with ``_amp_update_scale_``'s arithmetic.
"""
from collections import abc, defaultdict
from enum import Enum

from ..autograd import no_grad
from ..backend import devices as _devices
from ..dtypes import float16, float32, float64, int32
from ..kernels import amp as _amp_kernels
from ..ops.creation import full
from ..tensor import Tensor

__all__ = ["GradScaler", "OptState"]

# the device types a GradScaler may name: torch's "cuda"/"cpu", and clnet's own names. The scale
# lives on the device of the first outputs scaled, as in torch; the name is kept for state checks.
_DEVICE_TYPES = ("cuda", "cpu", "cl", "opencl", "gpu", "xpu", "accelerator")


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _device_type_name(device):
    if isinstance(device, _devices.Device):
        return device.type
    if not isinstance(device, str) or device.split(":")[0].strip().lower() not in _DEVICE_TYPES:
        raise ValueError(f"GradScaler: device must be one of {', '.join(map(repr, _DEVICE_TYPES))}"
                         f" (a device type), got {device!r}")
    return device.split(":")[0].strip().lower()


class GradScaler:
    """Scales the loss so float16 gradients do not underflow, and unscales them before the step.

    ``device`` names the device type as torch's does ("cuda", "cpu", or clnet's "cl"); clnet's
    tensors are all OpenCL tensors, so any of them scales losses on whatever device they are on
    (unlike torch, "cuda" is not disabled where no GPU exists: the scaler works on PoCL's CPU).
    ``init_scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval`` and ``enabled``
    are torch's: after an inf/NaN gradient the step is skipped and the scale multiplied by
    ``backoff_factor``; after ``growth_interval`` clean steps in a row it is multiplied by
    ``growth_factor``."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        self._device = _device_type_name(device)
        self._enabled = bool(enabled)
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None              # created on the first scale(), on the outputs' device
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- scale ---------------------------------------------------------------------------------
    def _check_scale_growth_tracker(self, funcname):
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) earlier "
               "in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev):
        self._scale = full((), self._init_scale, dtype=float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=int32, device=dev)

    def _scale_on(self, dev):
        if self._scale is None:
            self._lazy_init_scale_growth_tracker(dev)
        return self._scale if self._scale.device == dev else self._scale.to(dev)

    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples/iterables of tensors) times the scale;
        returned unchanged when the scaler is disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale_on(outputs.device)

        def apply_scale(val):
            if isinstance(val, Tensor):
                return val * self._scale_on(val.device)
            if isinstance(val, abc.Iterable):
                iterable = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(iterable)
                return iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    # -- unscale and step ----------------------------------------------------------------------
    def _unscale_grads_(self, optimizer, inv_scale, found_inf, allow_fp16):
        """Unscale every gradient of ``optimizer`` in place; one found_inf tensor per device."""
        per_device_inv = {inv_scale.device: inv_scale}
        per_device_found = {}
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if not isinstance(param, Tensor):
                        raise AssertionError(f"expected param to be a Tensor, got "
                                             f"{type(param).__name__}")
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype is float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    dev = grad.device
                    if dev not in per_device_inv:
                        per_device_inv[dev] = inv_scale.to(dev)
                    if dev not in per_device_found:
                        per_device_found[dev] = (found_inf if found_inf.device == dev
                                                 else full((), 0.0, dtype=float32, device=dev))
                    _unscale_one(grad, per_device_inv[dev], per_device_found[dev])
        return per_device_found

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale in place (once per step), for work on
        the true gradients before ``step`` (``clip_grad_norm_``). No host read happens here."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # torch takes the reciprocal in double; 1/x in float32 is correctly rounded already
        inv_scale = self._scale.reciprocal()
        found_inf = full((), 0.0, dtype=float32, device=self._scale.device)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf,
                                                             False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``unscale_(optimizer)`` unless done already, then ``optimizer.step(*args, **kwargs)``
        only when no gradient held an inf or NaN (one host read of found_inf per device).
        Returns what ``optimizer.step`` returned, or None when the step was skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None):
        """Back the scale off after a skipped step, or grow it after ``growth_interval`` clean
        steps (on the device); ``new_scale`` (a float or a one-element tensor) sets it instead."""
        if not self._enabled:
            return
        _scale, _growth_tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                _scale.fill_(new_scale)
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                          "torch.FloatTensor with requires_grad=False.")
                if not isinstance(new_scale, Tensor) or new_scale.numel() != 1 \
                        or new_scale.requires_grad:
                    raise AssertionError(reason)
                with no_grad():
                    _scale.copy_(new_scale.reshape(()))
        else:
            found_infs = [f.to(_scale.device) for state in self._per_optimizer_states.values()
                          for f in state["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            found = found_infs[0]
            for f in found_infs[1:]:
                found = found + f
            _amp_kernels.update_scale(_scale, _growth_tracker, found, self._growth_factor,
                                      self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- accessors -----------------------------------------------------------------------------
    def _get_scale_async(self):
        return self._scale

    def get_scale(self):
        """The current scale as a Python float (a host read), or 1.0 when disabled."""
        if self._enabled:
            return self._init_scale if self._scale is None else float(self._scale.item())
        return 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if self._enabled:
            return (self._init_growth_tracker if self._growth_tracker is None
                    else int(self._growth_tracker.item()))
        return 0

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """torch's five entries (scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker) as Python numbers; empty when disabled. Take it after ``update()``."""
        if self._enabled:
            return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                    "backoff_factor": self._backoff_factor,
                    "growth_interval": self._growth_interval,
                    "_growth_tracker": self._get_growth_tracker()}
        return {}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        missing = [k for k in ("scale", "growth_factor", "backoff_factor", "growth_interval",
                               "_growth_tracker") if k not in state_dict]
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: the state dict lacks {missing}")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(self._init_growth_tracker)

    def __getstate__(self):
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError("A GradScaler instance may only be pickled at the beginning "
                                     "of an iteration, or at the end after scaler.update().")
            # the unpickled scaler recreates its tensors lazily, on the device it is used on
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_per_optimizer_states"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)


def _unscale_one(grad, inv_scale, found_inf):
    """One gradient through amp.cl's unscale kernel: float32/float64 contiguous gradients in
    place; others (16-bit, strided) through a contiguous float32 copy written back, all on the
    device."""
    if grad.dtype in (float32, float64) and grad.is_contiguous():
        _amp_kernels.unscale_and_check(grad, inv_scale, found_inf)
        return
    # a new tensor in every case left here (a strided or 16-bit gradient), written back below
    work = grad.contiguous() if grad.dtype is float64 else grad.to(float32).contiguous()
    _amp_kernels.unscale_and_check(work, inv_scale, found_inf)
    grad.copy_(work)
