"""``torch.utils.data`` for code written as ``import clnet as torch``: the same objects as
``clnet.data`` (``clnet.utils.data.distributed.DistributedSampler`` as in torch)."""
from ...data import *  # noqa: F401,F403
from ...data import __all__  # noqa: F401
from . import distributed, sampler  # noqa: F401
