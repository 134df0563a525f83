"""``torch.nn.modules.container``'s path: the containers (defined in ``clnet/nn/containers.py``),
so pickles and allow-lists that name this module resolve."""
from ..containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
