"""``torch.nn.modules.padding``'s path: the padding layers (defined in ``pooling.py``), so
pickles and allow-lists that name this module resolve."""
from .pooling import ConstantPad1d, ConstantPad2d, ZeroPad2d

__all__ = ["ConstantPad1d", "ConstantPad2d", "ZeroPad2d"]
