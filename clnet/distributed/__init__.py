"""``clnet.distributed``: torch.distributed's process groups and collectives, over MPI.

    mpiexec -n 2 python train.py        # or: clnet train config.yaml --nproc 2

    import clnet.distributed as dist
    dist.init_process_group("mpi")
    dist.all_reduce(t)                  # t summed over the ranks, in place

Needs mpi4py (``pip install 'clnet[distributed]'``). See the README's "Data-parallel training
over MPI" for DistributedDataParallel and ``clnet train`` under mpiexec.
"""
from .collectives import (Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce,
                          barrier, broadcast, broadcast_object_list, gather, gather_object, reduce,
                          reduce_scatter, reduce_scatter_tensor, scatter)
from .process_group import (Backend, DistBackendError, DistError, ProcessGroup, ReduceOp,
                            default_pg_timeout, destroy_process_group, get_backend, get_rank,
                            get_world_size, init_process_group, is_available, is_initialized,
                            is_mpi_available, new_group)

__all__ = ["Backend", "DistBackendError", "DistError", "ProcessGroup", "ReduceOp", "Work",
           "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier",
           "broadcast", "broadcast_object_list", "default_pg_timeout", "destroy_process_group",
           "gather", "gather_object", "get_backend", "get_rank", "get_world_size",
           "init_process_group", "is_available", "is_initialized", "is_mpi_available",
           "new_group", "reduce", "reduce_scatter", "reduce_scatter_tensor", "scatter"]
