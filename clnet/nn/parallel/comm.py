"""The steps of data parallelism, with torch.nn.parallel's names and rules: ``scatter`` splits
tensors along a dimension into one chunk per device (``Tensor.chunk``'s sizes, so a small batch
may use fewer devices) and repeats everything else; ``replicate`` copies a module onto each
device; ``parallel_apply`` runs the replicas; ``gather`` joins their outputs on one device.

Every move is a differentiable ``Tensor.to`` (or ``clone``), so gradients flow from the gathered
output back through the replicas to the original parameters. The replicas run one after the
other from this thread: each op only enqueues kernels on its device's queue, so the devices still
work at the same time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union
import warnings

from ...backend import devices as _devices
from ...ops.join import cat
from ...tensor import Tensor
from ..module import Module

if TYPE_CHECKING:
    from ...types import _device


def to_device(d: Union[_device, str, int]) -> _device:
    """A device as DataParallel takes it: an int is a GPU ordinal (``cuda:N``, as in torch), a
    clnet device or a name (``"cl:1"``, ``"cuda:0"``) is resolved as ``clnet.device`` does."""
    if isinstance(d, int) and not isinstance(d, bool):
        return _devices.cuda_device(d, f"cuda:{d}")
    return _devices.device(d)


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def scatter(inputs: Any, target_gpus: Sequence[Union[_device, str, int]], dim: int = 0) -> Any:
    """Slice tensors into (about) equal chunks along ``dim``, one per device, each moved to its
    device; other objects are repeated by reference. Returns one entry per chunk."""
    devices = [to_device(d) for d in target_gpus]

    def scatter_map(obj):
        if isinstance(obj, Tensor):
            return tuple(c.to(dev) for c, dev in zip(obj.chunk(len(devices), dim), devices))
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and len(obj) > 0:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and len(obj) > 0:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and len(obj) > 0:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in devices]
    return scatter_map(inputs)


def scatter_kwargs(inputs: Tuple[Any, ...], kwargs: Optional[Dict[str, Any]],
                   target_gpus: Sequence[Union[_device, str, int]],
                   dim: int = 0) -> Tuple[Tuple[Any, ...], Tuple[Dict[str, Any], ...]]:
    """``scatter`` for positional and keyword arguments together, padded to the same length."""
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(scattered_inputs) < len(scattered_kwargs):
        scattered_inputs.extend(() for _ in range(len(scattered_kwargs) - len(scattered_inputs)))
    elif len(scattered_kwargs) < len(scattered_inputs):
        scattered_kwargs.extend({} for _ in range(len(scattered_inputs) - len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def replicate(network: Module, devices: Sequence[Union[_device, str, int]],
              detach: bool = False) -> List[Module]:
    """One module per device. The first replica on the parameters' own device uses them as they
    are (as torch's replica on device_ids[0] shares their storage); every other replica holds
    copies made with differentiable ``to``/``clone`` (``detach=True``: detached copies).
    Buffers are copied without gradient; their in-place updates on the copies are lost, as in
    torch."""
    devices = [to_device(d) for d in devices]
    tensors = list(network.parameters()) + list(network.buffers())
    src = tensors[0].device if tensors else None
    replicas = []
    for k, dev in enumerate(devices):
        share = dev is src and devices.index(dev) == k      # the first use of the source device
        memo = {}

        def copy_tensor(t, grad):
            if share:
                return t
            if id(t) not in memo:
                c = t.to(dev) if t.device is not dev else t.clone()
                memo[id(t)] = c.detach() if (detach or not grad) else c
            return memo[id(t)]
        replicas.append(_replicate_module(network, copy_tensor, {}))
    return replicas


def _replicate_module(module, copy_tensor, seen):
    if id(module) in seen:                  # a submodule used twice stays shared
        return seen[id(module)]
    r = object.__new__(type(module))
    seen[id(module)] = r
    d = dict(module.__dict__)
    d["_parameters"] = {k: None if p is None else copy_tensor(p, True)
                        for k, p in module._parameters.items()}
    d["_buffers"] = {k: None if b is None else copy_tensor(b, b.requires_grad)
                     for k, b in module._buffers.items()}
    d["_modules"] = {k: None if m is None else _replicate_module(m, copy_tensor, seen)
                     for k, m in module._modules.items()}
    r.__dict__.update(d)
    return r


def parallel_apply(modules: Sequence[Module], inputs: Sequence[Any],
                   kwargs_tup: Optional[Sequence[Dict[str, Any]]] = None,
                   devices: Optional[Sequence[Union[_device, str, int]]] = None) -> List[Any]:
    """``modules[i](*inputs[i], **kwargs_tup[i])`` for every i, in order (see the module note)."""
    if len(modules) != len(inputs):
        raise ValueError(f"parallel_apply: {len(modules)} modules but {len(inputs)} inputs")
    if kwargs_tup is None:
        kwargs_tup = ({},) * len(modules)
    elif len(kwargs_tup) != len(modules):
        raise ValueError(f"parallel_apply: {len(modules)} modules but {len(kwargs_tup)} kwargs")
    if devices is not None and len(devices) != len(modules):
        raise ValueError(f"parallel_apply: {len(modules)} modules but {len(devices)} devices")
    outputs = []
    for m, inp, kw in zip(modules, inputs, kwargs_tup):
        if not isinstance(m, Module) and not callable(m):
            raise TypeError(f"parallel_apply: {type(m).__name__} is not callable")
        if not isinstance(inp, (list, tuple)):
            inp = (inp,)
        outputs.append(m(*inp, **kw))
    return outputs


def gather(outputs: Sequence[Any], target_device: Union[_device, str, int], dim: int = 0) -> Any:
    """Join the replicas' outputs on ``target_device``: tensors concatenated along ``dim``
    (0-d tensors become a vector, with torch's warning), containers gathered item by item."""
    dev = to_device(target_device)

    def gather_map(outs):
        out = outs[0]
        if isinstance(out, Tensor):
            if all(o.dim() == 0 for o in outs):
                warnings.warn("Was asked to gather along dimension 0, but all input tensors "
                              "were scalars; will instead unsqueeze and return a vector.",
                              UserWarning, stacklevel=4)
                outs = [o.reshape(1) for o in outs]
                return _cat([o.to(dev) for o in outs], 0)
            return _cat([o.to(dev) for o in outs], dim)
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outs)))
        return type(out)(map(gather_map, zip(*outs)))
    return gather_map(outputs)


def _cat(tensors, dim):
    return cat(tensors, dim)
