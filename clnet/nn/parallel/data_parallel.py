"""``DataParallel``: one module run on several OpenCL devices, each on a slice of the batch.

torch's rules on clnet's devices: ``device_ids`` defaults to every OpenCL GPU (clnet's "cuda");
ints are GPU ordinals, and clnet devices or names (``"cl:1"``) may be given too. With no GPU and
no device named, it is a plain wrapper that calls the module (``device_ids == []``), as on a
CPU-only PyTorch; with one device it moves the module there and calls it. With several, each
forward scatters the inputs along ``dim``, replicates the module (parameters copied to each
device, differentiably), runs the replicas and gathers the outputs on ``output_device``.
A device may be listed twice (torch gives one replica per entry; clnet makes a separate copy on
that device), which runs the whole multi-device path on a machine with one device.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union
from itertools import chain

from ...backend import devices as _devices
from ..module import Module
from .comm import gather, parallel_apply, replicate, scatter_kwargs, to_device

if TYPE_CHECKING:
    from ...types import _device


class DataParallel(Module):

    def __init__(self, module: Module,
                 device_ids: Optional[Sequence[Union[_device, str, int]]] = None,
                 output_device: Optional[Union[_device, str, int]] = None, dim: int = 0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be a clnet.nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.dim = dim
        no_gpu = not _devices.gpus()
        named = device_ids is not None and any(
            not (isinstance(d, int) and not isinstance(d, bool)) for d in device_ids)
        if no_gpu and not named:
            # as on a CPU-only PyTorch: GPU ordinals name nothing, the module runs as it is
            self.device_ids = []
            self.output_device = None
            return
        if device_ids is None:
            device_ids = list(range(len(_devices.gpus())))
        if len(device_ids) == 0:
            raise RuntimeError("DataParallel: device_ids is empty; no available devices were "
                               "found")
        self.device_ids = [to_device(d) for d in device_ids]
        self.output_device = to_device(device_ids[0] if output_device is None else output_device)
        self.src_device_obj = self.device_ids[0]
        if len(self.device_ids) == 1:
            self.module.to(self.src_device_obj)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for t in chain(self.module.parameters(), self.module.buffers()):
            if t.device is not self.src_device_obj:
                raise RuntimeError(f"module must have its parameters and buffers on device "
                                   f"{self.src_device_obj} (device_ids[0]) but found one of "
                                   f"them on device: {t.device}")
        inputs, module_kwargs = self.scatter(inputs, kwargs, self.device_ids)
        if not inputs and not module_kwargs:
            inputs, module_kwargs = ((),), ({},)
        if len(self.device_ids) == 1:
            return self.module(*inputs[0], **module_kwargs[0])
        used = self.device_ids[:len(inputs)]
        replicas = self.replicate(self.module, used)
        outputs = self.parallel_apply(replicas, inputs, module_kwargs)
        assert self.output_device is not None   # set whenever device_ids is
        return self.gather(outputs, self.output_device)

    def replicate(self, module: Module,
                  device_ids: Sequence[Union[_device, str, int]]) -> List[Module]:
        return replicate(module, device_ids)

    def scatter(self, inputs: Tuple[Any, ...], kwargs: Optional[Dict[str, Any]],
                device_ids: Sequence[Union[_device, str, int]]
                ) -> Tuple[Tuple[Any, ...], Tuple[Dict[str, Any], ...]]:
        return scatter_kwargs(inputs, kwargs, device_ids, dim=self.dim)

    def parallel_apply(self, replicas: Sequence[Module], inputs: Sequence[Any],
                       kwargs: Sequence[Dict[str, Any]]) -> List[Any]:
        return parallel_apply(replicas, inputs, kwargs, self.device_ids[:len(replicas)])

    def gather(self, outputs: Sequence[Any], output_device: Union[_device, str, int]) -> Any:
        return gather(outputs, output_device, dim=self.dim)


def data_parallel(module: Module, inputs: Any,
                  device_ids: Optional[Sequence[Union[_device, str, int]]] = None,
                  output_device: Optional[Union[_device, str, int]] = None, dim: int = 0,
                  module_kwargs: Optional[Dict[str, Any]] = None) -> Any:
    """``module(inputs)`` run as ``DataParallel(module, device_ids, output_device, dim)`` would
    run it, without the wrapper module."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    if device_ids is None and not _devices.gpus():
        return module(*inputs, **(module_kwargs or {}))
    if device_ids is None:
        device_ids = list(range(len(_devices.gpus())))
    devs = [to_device(d) for d in device_ids]
    out_dev = to_device(device_ids[0] if output_device is None else output_device)
    src = devs[0]
    for t in chain(module.parameters(), module.buffers()):
        if t.device is not src:
            raise RuntimeError(f"module must have its parameters and buffers on device {src} "
                               f"(device_ids[0]) but found one of them on device: {t.device}")
    inputs, kwargs_tup = scatter_kwargs(inputs, module_kwargs or {}, devs, dim)
    if not inputs and not kwargs_tup:
        inputs, kwargs_tup = ((),), ({},)
    if len(devs) == 1:
        return module(*inputs[0], **kwargs_tup[0])
    used = devs[:len(inputs)]
    replicas = replicate(module, used)
    outputs = parallel_apply(replicas, inputs, kwargs_tup, used)
    return gather(outputs, out_dev, dim)
