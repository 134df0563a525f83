"""``DistributedSampler`` (torch.utils.data.distributed): each rank's share of a dataset.

PyTorch's partitioning exactly: the epoch's order (a permutation drawn from seed + epoch with
PyTorch's CPU generator, Mersenne Twister and its Fisher-Yates loop, so the same indices as
torch's sampler) is padded by repeating its start up to a multiple of the number of replicas
(or cut down with ``drop_last``), then rank r takes every num_replicas-th index from r.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sized
import math

import numpy as np

from .. import distributed as dist

__all__ = ["DistributedSampler"]


def torch_randperm(n: int, seed: int) -> np.ndarray:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` without torch: the
    CPU generator is MT19937 seeded with the seed's low 32 bits, and randperm swaps element i
    with i + (32-bit draw mod (n - i)) (checked against torch in the tests)."""
    bits = np.random.MT19937(0)
    bits._legacy_seeding(int(seed) & 0xFFFFFFFF)
    out = np.arange(n, dtype=np.int64)
    if n < 2:
        return out
    offsets = (bits.random_raw(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64)
    for i, z in enumerate(offsets.tolist()):
        j = i + z
        out[i], out[j] = out[j], out[i]
    return out


class DistributedSampler:
    """Restricts data loading to this rank's subset of the dataset; pass it as the DataLoader's
    ``sampler`` and call ``set_epoch(epoch)`` before each epoch so the shuffle changes."""

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) \
                or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got "
                             f"{num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = torch_randperm(n, self.seed + self.epoch).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            elif indices:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose shuffle ``__iter__`` draws (seed + epoch): the same on every rank."""
        self.epoch = int(epoch)
