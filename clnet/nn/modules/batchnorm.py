"""``torch.nn.modules.batchnorm``'s path: the batch norms (defined in ``normalization.py``), so
pickles and allow-lists that name this module resolve."""
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
