"""``torch.utils.data.distributed``: ``DistributedSampler`` (clnet.data.distributed's)."""
from ...data.distributed import DistributedSampler

__all__ = ["DistributedSampler"]
