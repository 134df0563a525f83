"""What clnet.distributed says before (and without) a process group: the names PyTorch code
checks first, and the arguments refused before MPI is touched."""
import datetime

import pytest

import clnet
import clnet.distributed as dist
from clnet.nn.parallel import DistributedDataParallel


def test_available_but_not_initialized():
    assert clnet.distributed is dist                  # lazily imported like torch.distributed
    assert dist.is_available() and dist.is_mpi_available()
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(clnet.ones(2))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedDataParallel(clnet.nn.Linear(2, 2))
    assert dist.ReduceOp.SUM.name == "SUM" and dist.default_pg_timeout == \
        datetime.timedelta(minutes=30)


@pytest.mark.parametrize("kwargs,match", [
    ({"backend": "nccl"}, "backend 'nccl' is not available; clnet communicates over MPI only"),
    ({"backend": "gloo"}, "backend 'gloo' is not available"),
    ({"backend": "mpi", "init_method": "tcp://10.0.0.1:23456"}, "init_method and store"),
    ({"timeout": datetime.timedelta(seconds=0)}, "timeout must be positive"),
])
def test_refused_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dist.init_process_group(**kwargs)
    assert not dist.is_initialized()


def test_ddp_refuses_unsupported_options():
    with pytest.raises(ValueError, match="mixed_precision is not supported by clnet"):
        DistributedDataParallel(clnet.nn.Linear(2, 2), mixed_precision=object())
