"""DistributedSampler against torch.utils.data.distributed.DistributedSampler (the same indices
for every size, replica count, rank, shuffle, seed, epoch and drop_last), and the DataLoader
taking it as its sampler. No MPI needed: num_replicas and rank are given."""
import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler as TorchSampler

import clnet
from clnet.data import DataLoader, TensorDataset
from clnet.data.distributed import torch_randperm
from clnet.utils.data.distributed import DistributedSampler


@pytest.mark.parametrize("n", [0, 1, 2, 5, 17, 100])
@pytest.mark.parametrize("replicas", [1, 2, 3, 8])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_partition_matches_torch(n, replicas, shuffle, drop_last):
    for rank in range(replicas):
        for epoch in (0, 3):
            ours = DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=7,
                                      drop_last=drop_last)
            theirs = TorchSampler(range(n), replicas, rank, shuffle=shuffle, seed=7,
                                  drop_last=drop_last)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs) == len(list(ours))
            assert ours.total_size == theirs.total_size


@pytest.mark.parametrize("n,seed", [(1, 0), (10, 0), (1797, 5), (70001, 2 ** 33 + 5)])
def test_randperm_is_torchs(n, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    assert torch_randperm(n, seed).tolist() == torch.randperm(n, generator=g).tolist()


def test_shards_cover_the_dataset_and_epochs_differ():
    shards = [list(DistributedSampler(range(11), 3, r, seed=1)) for r in range(3)]
    flat = sorted(i for s in shards for i in s)
    assert len(flat) == 12 and set(flat) == set(range(11))      # one index repeated as padding
    s = DistributedSampler(range(11), 3, 0, seed=1)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first


def test_bad_arguments():
    with pytest.raises(ValueError,
                       match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(4))                # no process group, nothing given


def test_dataloader_takes_it_as_sampler():
    X = np.arange(26, dtype=np.float32).reshape(13, 2)
    ds = TensorDataset(clnet.tensor(X), clnet.tensor(np.arange(13)))
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, seed=4)
    loader = DataLoader(ds, batch_size=3, sampler=sampler)
    assert len(loader) == 3
    for epoch in range(2):
        sampler.set_epoch(epoch)
        got = [i for _, y in loader for i in y.numpy().tolist()]
        theirs = TorchSampler(range(13), 2, 1, seed=4)
        theirs.set_epoch(epoch)
        assert got == list(theirs)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_size=3, sampler=sampler, shuffle=True)


def test_exported_names():
    assert clnet.data.DistributedSampler is DistributedSampler
    assert clnet.utils.data.DistributedSampler is DistributedSampler
