"""Type aliases of the public API's annotations, with ``torch.types``' names (``_size``,
``Number``, ``Device``...), so signatures read as PyTorch's do. Typing only: nothing here
is used at run time beyond building the aliases.
"""
import os
from typing import Any, Dict, Iterable, Optional, Tuple, Union

from .backend.devices import Device as _device
from .dtypes import dtype as _dtype
from .tensor import Tensor

__all__ = ["Device", "Number", "PathLike", "ParamsT", "_device", "_dtype", "_size"]

# torch.types: a size is a tuple of ints (clnet.Size is a tuple subclass)
_size = Tuple[int, ...]
Number = Union[int, float, bool]
# where a tensor goes: a clnet.device, a name ("cpu", "cuda:0", "opencl:1"), an index, or None
# for the default device (torch.types.Device also includes None)
Device = Optional[Union[_device, str, int]]
# file paths the library reads and writes (datasets, checkpoints, configs)
PathLike = Union[str, "os.PathLike[str]"]
# torch.optim.optimizer.ParamsT: tensors, parameter groups (dicts with a "params" entry), or
# named parameters
ParamsT = Union[Iterable[Tensor], Iterable[Dict[str, Any]], Iterable[Tuple[str, Tensor]]]
