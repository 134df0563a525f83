"""``clnet train`` as one rank of an MPI job (``mpiexec -n K clnet train config.yaml``).

A process started by an MPI launcher (MPICH's Hydra, Open MPI, Slurm's srun with PMI) joins the
job through clnet.distributed; a lone process stays single. Per rank:

- device: ``device: auto`` (or unset) takes GPU ``local_rank % n`` when OpenCL GPUs exist, else
  the CPU device; any other value is used as written on every rank;
- PoCL threads: ranks sharing a node split its CPUs (``POCL_MAX_PTHREAD_COUNT`` = CPUs of the
  process's affinity // ranks on the node, set before OpenCL starts unless already set: PoCL
  starts one worker thread per CPU otherwise, and K ranks would each start as many);
- data: a DistributedSampler shard of the training split (effective batch = K x batch_size);
  validation and test metrics are sums over disjoint shards, reduced across the ranks;
- files and output: rank 0 prints, writes the run folder, metrics and checkpoints; the run
  folder and run id are rank 0's, so every rank names the same checkpoint files.
"""
import os
import socket

from ..backend import device
from ..backend import devices as _devices

# Environment variables the MPI launchers set in each process they start.
_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID")


def launched_by_mpi():
    return any(v in os.environ for v in _LAUNCHER_VARS)


class DistContext:
    """This process's place in the job (rank, world size, rank and count on its node)."""

    def __init__(self, rank, world_size, local_rank, local_size, dist):
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.local_size = local_size
        self.dist = dist

    @property
    def is_main(self):
        return self.rank == 0

    def broadcast(self, value):
        """Rank 0's value of a picklable ``value`` on every rank."""
        box = [value]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value):
        out = [None] * self.world_size
        self.dist.all_gather_object(out, value)
        return out

    def barrier(self):
        self.dist.barrier()

    def describe(self):
        procs = self.gather((os.getpid(), socket.gethostname()))
        return (f"distributed: {self.world_size} processes over MPI (" + ", ".join(
            f"rank {r} pid {pid} on {host}" for r, (pid, host) in enumerate(procs)) + ")")


def setup():
    """Join the MPI job this process was launched in (None when it runs alone). Sets the PoCL
    thread count before OpenCL starts, so call it before any device is touched."""
    if not launched_by_mpi():
        return None
    # mpi4py is an optional extra (clnet[distributed]): only a process mpiexec started needs it
    from .. import distributed as dist
    from mpi4py import MPI  # (the optional extra, as above)
    if not dist.is_initialized():
        if MPI.COMM_WORLD.Get_size() == 1:
            return None
        dist.init_process_group("mpi")
    node = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
    local_rank, local_size = node.Get_rank(), node.Get_size()
    node.Free()
    if local_size > 1 and "POCL_MAX_PTHREAD_COUNT" not in os.environ:
        os.environ["POCL_MAX_PTHREAD_COUNT"] = str(threads_per_rank(local_size))
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, local_size, dist)


def threads_per_rank(ranks_on_node):
    return max(1, len(os.sched_getaffinity(0)) // max(1, ranks_on_node))


def pick_device(spec, ctx):
    """The device of this rank for the config's ``device`` value."""
    if spec not in (None, "auto"):
        return device(spec)
    if ctx is None:
        return device(None)
    gpus = _devices.gpus()
    if gpus:
        return gpus[ctx.local_rank % len(gpus)]
    return device("cpu")
