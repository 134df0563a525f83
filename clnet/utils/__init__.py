"""PyTorch's ``torch.utils`` names that clnet covers: ``clnet.utils.data`` is ``clnet.data``."""
from . import data  # noqa: F401
