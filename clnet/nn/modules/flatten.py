"""``torch.nn.modules.flatten``'s path: Flatten and Unflatten (defined in
``clnet/nn/containers.py``), so pickles and allow-lists that name this module resolve."""
from ..containers import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
