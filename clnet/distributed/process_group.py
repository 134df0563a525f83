"""The process group: who this process is (rank, world size), the MPI communicators behind the
default group and ``new_group`` subsets, and how a distributed job fails.

Failure policy (a job must never hang silently):
- an exception that reaches the top of a rank (``sys.excepthook``) prints the rank, the
  traceback, then calls ``MPI_Abort`` on the world: the launcher ends every rank;
- every collective waits by polling its non-blocking MPI request against the group's timeout
  (``init_process_group(timeout=...)``, 30 minutes by default as in PyTorch); past it a
  ``DistBackendError`` names the collective, the rank and the group, and, unhandled, aborts;
- a rank killed by a signal is seen by the launcher (mpiexec ends the others at once).
"""
import datetime
import os
import sys
import time
import traceback

__all__ = ["Backend", "ReduceOp", "ProcessGroup", "DistError", "DistBackendError",
           "is_available", "is_initialized", "is_mpi_available", "init_process_group",
           "destroy_process_group", "get_rank", "get_world_size", "get_backend", "new_group",
           "default_pg_timeout"]

default_pg_timeout = datetime.timedelta(minutes=30)


class DistError(RuntimeError):
    """torch.distributed.DistError: an error of the distributed package."""


class DistBackendError(DistError):
    """A collective failed or did not complete within the group's timeout."""


class Backend(str):
    """Backend names, as ``torch.distributed.Backend``; clnet has one, ``"mpi"``."""
    MPI = "mpi"
    UNDEFINED = "undefined"

    def __new__(cls, name):
        value = str(name).lower()
        if value != "mpi":
            raise ValueError(f"clnet.distributed: backend {name!r} is not available; clnet "
                             "communicates over MPI only (backend='mpi')")
        return str.__new__(cls, value)


class ReduceOp:
    """Reduction operations, with torch.distributed.ReduceOp's names. ``AVG`` is a sum divided by
    the group's size (floating-point tensors only)."""

    class RedOpType:
        __slots__ = ("name",)

        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"<RedOpType.{self.name}>"

    SUM = RedOpType("SUM")
    AVG = RedOpType("AVG")
    PRODUCT = RedOpType("PRODUCT")
    MIN = RedOpType("MIN")
    MAX = RedOpType("MAX")
    BAND = RedOpType("BAND")
    BOR = RedOpType("BOR")
    BXOR = RedOpType("BXOR")


def is_available():
    """True: clnet.distributed is built in; MPI itself is needed to initialise (mpi4py)."""
    return True


def is_mpi_available():
    try:
        import mpi4py  # noqa: F401  (optional dependency: only probed, here)
    except ImportError:
        return False
    return True


def mpi_module():
    try:
        # optional dependency (clnet[distributed]), imported on first use with a clear error
        from mpi4py import MPI
    except ImportError as e:
        raise DistError(
            "clnet.distributed needs MPI: install it with pip install 'clnet[distributed]' "
            "(mpi4py and the MPICH wheel), or on a cluster build mpi4py against the system MPI "
            f"(pip install mpi4py with its mpicc on PATH); import failed: {e}") from None
    return MPI


class ProcessGroup:
    """A set of ranks and the MPI communicator that joins them. ``rank()`` and ``size()`` are
    this process's place in the group (torch's ProcessGroup methods)."""

    def __init__(self, comm, ranks, timeout, name):
        self.comm = comm               # None on a process that is not a member
        self.ranks = list(ranks)       # global ranks, in group-rank order
        self.timeout = timeout
        self.name = name

    def rank(self):
        return self.comm.Get_rank() if self.comm is not None else -1

    def size(self):
        return len(self.ranks)

    def __repr__(self):
        return f"<clnet.distributed.ProcessGroup {self.name} ranks={self.ranks}>"


class _State:
    world = None           # the default ProcessGroup
    groups = []            # new_group results, freed by destroy_process_group
    excepthook = None      # the hook replaced by ours


def is_initialized():
    return _State.world is not None


def _require(what):
    if _State.world is None:
        raise ValueError(f"clnet.distributed.{what}: Default process group has not been "
                         "initialized, please make sure to call init_process_group.")
    return _State.world


def _group(group, what):
    world = _require(what)
    g = world if group is None else group
    if not isinstance(g, ProcessGroup):
        raise TypeError(f"clnet.distributed.{what}: group must be a ProcessGroup from new_group, "
                        f"got {type(group).__name__}")
    return g


def _env_int(name):
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"clnet.distributed: environment variable {name}={value!r} is not an "
                         "integer") from None


def _as_timeout(timeout):
    if timeout is None:
        return default_pg_timeout.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise TypeError(f"clnet.distributed: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    if not seconds > 0:
        raise ValueError(f"clnet.distributed: timeout must be positive, got {timeout!r}")
    return seconds


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the job's processes (torch.distributed.init_process_group).

    The rank and world size come from MPI (``mpiexec -n K``, ``srun``). ``rank``/``world_size``
    arguments, or ``RANK``/``WORLD_SIZE`` in the environment (torchrun's variables), are checked
    against MPI's: processes started by another launcher cannot exchange data without MPI, so a
    mismatch is refused with what to run instead. ``init_method`` and ``store`` (rendezvous of
    torch's TCP-based backends) are refused when given: MPI's launcher does the rendezvous."""
    if _State.world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is not None:
        Backend(backend)
    if init_method not in (None, "env://") or store is not None:
        raise ValueError("clnet.distributed: init_method and store are rendezvous mechanisms of "
                         "torch's TCP backends; with backend='mpi' the launcher (mpiexec, srun) "
                         "connects the processes: leave them unset")
    seconds = _as_timeout(timeout)
    want_size = world_size if world_size not in (None, -1) else _env_int("WORLD_SIZE")
    want_rank = rank if rank not in (None, -1) else _env_int("RANK")
    MPI = mpi_module()
    comm = MPI.COMM_WORLD
    size, me = comm.Get_size(), comm.Get_rank()
    if want_size is not None and want_size != size:
        raise DistError(
            f"clnet.distributed: world_size {want_size} (from "
            f"{'the argument' if world_size not in (None, -1) else 'WORLD_SIZE'}) but MPI has "
            f"{size} process{'es' if size != 1 else ''}: clnet's collectives run over MPI, so "
            f"start the {want_size} processes with MPI's launcher (mpiexec -n {want_size} ..., "
            "srun, or clnet train --nproc), not torchrun or separate commands")
    if want_rank is not None and want_rank != me:
        raise DistError(f"clnet.distributed: rank {want_rank} was asked for but MPI gave this "
                        f"process rank {me}; start the processes with MPI's launcher")
    world_comm = comm.Dup()
    _State.world = ProcessGroup(world_comm, range(size), seconds, group_name or "world")
    _install_excepthook()


def destroy_process_group(group=None):
    """Free a group's communicator; with no argument, every group and the default one."""
    if group is not None and group is not _State.world:
        if group.comm is not None:
            group.comm.Free()
            group.comm = None
        if group in _State.groups:
            _State.groups.remove(group)
        return
    _require("destroy_process_group")
    for g in _State.groups:
        if g.comm is not None:
            g.comm.Free()
            g.comm = None
    _State.groups = []
    _State.world.comm.Free()
    _State.world = None
    if _State.excepthook is not None:
        sys.excepthook = _State.excepthook
        _State.excepthook = None


def get_rank(group=None):
    """This process's rank in ``group`` (the default group: its global rank); -1 outside it."""
    return _group(group, "get_rank").rank()


def get_world_size(group=None):
    return _group(group, "get_world_size").size()


def get_backend(group=None):
    _group(group, "get_backend")
    return Backend("mpi")


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None):
    """A group of a subset of the ranks (an MPI sub-communicator). Every rank of the default group
    must call it, with the same ``ranks``, as in PyTorch; a rank outside the group gets a group
    object whose collectives it must not call (``get_rank(group)`` is -1)."""
    world = _require("new_group")
    if backend is not None:
        Backend(backend)
    size = world.size()
    ranks = list(range(size)) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(ranks)) != len(ranks) or any(r < 0 or r >= size for r in ranks):
        raise ValueError(f"clnet.distributed.new_group: ranks {ranks} must be distinct ranks of "
                         f"the default group (0 to {size - 1})")
    me = world.rank()
    MPI = mpi_module()
    color = 0 if me in ranks else MPI.UNDEFINED
    key = ranks.index(me) if me in ranks else 0
    comm = world.comm.Split(color, key)
    comm = None if comm == MPI.COMM_NULL else comm
    seconds = world.timeout if timeout is None else _as_timeout(timeout)
    g = ProcessGroup(comm, ranks, seconds, group_desc or f"group{len(_State.groups) + 1}")
    _State.groups.append(g)
    return g


def member_comm(group, what):
    """The communicator of ``group`` (default: the world) for a collective ``what``."""
    g = _group(group, what)
    if g.comm is None:
        raise ValueError(f"clnet.distributed.{what}: rank {_State.world.rank()} is not a member "
                         f"of {g.name} (ranks {g.ranks})")
    return g


def group_rank_of(g, global_rank, what, arg):
    """The rank in group ``g`` of a global rank (torch's src/dst arguments are global ranks)."""
    try:
        return g.ranks.index(int(global_rank))
    except ValueError:
        raise ValueError(f"clnet.distributed.{what}: {arg}={global_rank} is not a rank of "
                         f"{g.name} (ranks {g.ranks})") from None


_SPIN_S = 0.005      # poll without sleeping this long: MPI progresses only inside Test()


def wait_request(req, g, what, deadline=None):
    """Complete an MPI request by polling it, so a peer that never arrives is reported within
    the group's timeout instead of hanging. MPI moves a non-blocking collective on only while
    it is polled, so the first 5 ms poll back to back (a 1 MB allreduce on one node takes
    ~0.2 ms of many rounds once both ranks are there); after that the sleeps grow to 1 ms, so a
    rank waiting for a slower one does not take the core that one computes on."""
    now = time.monotonic()
    if deadline is None:
        deadline = now + g.timeout
    spin_until = now + _SPIN_S
    pause = 0.0
    while not req.Test():
        now = time.monotonic()
        if now < spin_until:
            continue
        if now > deadline:
            raise DistBackendError(
                f"clnet.distributed.{what} did not complete within {g.timeout:g} s on rank "
                f"{_State.world.rank()} of {_State.world.size()} ({g.name}, ranks {g.ranks}): a "
                "rank has stopped, is stuck, or called a different collective")
        time.sleep(pause)
        pause = min(pause * 2 + 1e-5, 1e-3)


def _install_excepthook():
    """Abort the whole job when an exception reaches the top of any rank: the others may be
    waiting in a collective this rank will never join."""
    if _State.excepthook is not None:
        return
    _State.excepthook = sys.excepthook
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        world = _State.world
        if world is None or world.size() == 1:
            previous(exc_type, exc, tb)
            return
        abort_job(f"{exc_type.__name__}: {exc}", 1,
                  "".join(traceback.format_exception(exc_type, exc, tb)))

    sys.excepthook = hook


_ABORT_GRACE_S = 0.5       # seconds between printing the error and MPI_Abort


def abort_job(message, code=1, details=None):
    """Print ``message`` naming this rank, then MPI_Abort the world (every rank ends)."""
    world = _State.world
    rank = world.rank() if world is not None else "?"
    size = world.size() if world is not None else "?"
    if details:
        sys.stderr.write(details if details.endswith("\n") else details + "\n")
    sys.stderr.write(f"Error: rank {rank} of {size}: {message}; aborting the job\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # the launcher forwards a rank's output from a pipe; MPI_Abort tears the job down at once,
    # and on a loaded machine the message was lost before it was forwarded: give it a moment
    time.sleep(_ABORT_GRACE_S)
    mpi_module().COMM_WORLD.Abort(code)
