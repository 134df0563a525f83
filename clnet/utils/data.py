"""``torch.utils.data`` for code written as ``import clnet as torch``: the same objects as
``clnet.data``."""
from ..data import *  # noqa: F401,F403
from ..data import __all__  # noqa: F401
