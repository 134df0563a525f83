"""``torch.nn.parallel``: ``DataParallel`` over several OpenCL devices in one process, and the
scatter / replicate / parallel_apply / gather steps it is made of; ``DistributedDataParallel``,
one process per replica over MPI (clnet.distributed)."""
from .comm import gather, parallel_apply, replicate, scatter, scatter_kwargs
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel", "gather", "parallel_apply", "replicate", "scatter",
           "scatter_kwargs"]
