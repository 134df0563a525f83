"""``nn.Parameter``: a leaf tensor that a Module registers as a learnable weight."""
from __future__ import annotations

from typing import Optional

from ..ops.creation import empty
from ..serialization.host_pickle import reduce_parameter
from ..serialization.parameter_type import register_parameter_class
from ..tensor import Tensor


class Parameter(Tensor):
    """``Parameter(data, requires_grad=True)``: shares ``data``'s storage (no copy), is a leaf,
    and is picked up by ``Module.parameters()`` when assigned as a module attribute. Ops on a
    Parameter return plain Tensors, as in PyTorch."""

    __slots__ = ()

    def __new__(cls, data: Optional[Tensor] = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor, got {type(data).__name__}")
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError(f"Only Tensors of floating point dtype can require gradients "
                               f"(got {data.dtype})")
        p = object.__new__(cls)
        p._storage, p._shape, p._stride = data._storage, data._shape, data._stride
        p._offset, p.dtype = data._offset, data.dtype
        p.requires_grad = bool(requires_grad)
        p.grad = None
        p.grad_fn = None
        p._grad_state = None
        p._base = None
        return p

    def __init__(self, data: Optional[Tensor] = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, proto):
        return reduce_parameter(self)

    def __deepcopy__(self, memo):
        """A Parameter over a copy of the data, as torch's (``copy.deepcopy(module)`` clones
        layers this way: nn.Transformer's encoder/decoder stacks); ``.grad`` is not copied."""
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        return result


# the loaders below this layer (clnet/serialization) build Parameters through this registration
register_parameter_class(Parameter)
