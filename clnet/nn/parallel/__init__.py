"""``torch.nn.parallel``: ``DataParallel`` over several OpenCL devices in one process, and the
scatter / replicate / parallel_apply / gather steps it is made of."""
from .comm import gather, parallel_apply, replicate, scatter, scatter_kwargs
from .data_parallel import DataParallel, data_parallel

__all__ = ["DataParallel", "data_parallel", "gather", "parallel_apply", "replicate", "scatter",
           "scatter_kwargs"]
