"""``torch.nn.modules.upsampling``'s path: Upsample (defined in ``pooling.py``), so pickles and
allow-lists that name this module resolve."""
from .pooling import Upsample

__all__ = ["Upsample"]
