"""Collectives on clnet tensors over MPI (torch.distributed's functions and arguments).

Each collective stages its tensors through host memory: one device read of the input (a single
copy of a contiguous tensor; lists are concatenated on the host), the non-blocking MPI call on
numpy buffers, then one upload per output tensor when the work is waited. A GPU-aware MPI could
take device pointers and skip the staging copies, but OpenCL buffers are not pointers MPI
libraries understand (CUDA-aware MPI reads CUDA allocations only).

``async_op=True`` returns a ``Work`` (``wait()``, ``is_completed()``); the outputs hold the
result once it has been waited. ``src``/``dst`` are global ranks, as in PyTorch.
"""
import pickle
import time

import numpy as np
import pyopencl as cl

from ..autograd.grad_mode import no_grad
from .. import dtypes
from ..ops.copy import upload_stored
from ..ops.join import cat
from ..tensor import Tensor
from .process_group import (DistBackendError, ReduceOp, group_rank_of, member_comm, mpi_module,
                            wait_request)

__all__ = ["Work", "barrier", "all_reduce", "broadcast", "reduce", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "gather", "scatter",
           "all_gather_object", "broadcast_object_list", "gather_object"]


class Work:
    """A collective in flight (torch.distributed.Work): ``wait()`` completes it (bounded by the
    group's timeout) and writes the outputs; ``is_completed()`` asks without blocking."""

    def __init__(self, group, name, requests, finish=None, result=None):
        self._group = group
        self._name = name
        self._requests = requests
        self._finish = finish
        self._result = result if result is not None else []
        self._deadline = time.monotonic() + group.timeout
        self._done = False
        self._exception = None

    def _complete(self):
        self._done = True
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()

    def wait(self, timeout=None):
        if self._done:
            return True
        deadline = self._deadline if timeout is None else time.monotonic() + (
            timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout))
        try:
            for req in self._requests:
                wait_request(req, self._group, self._name, deadline)
        except DistBackendError as e:
            self._exception = e
            raise
        self._complete()
        return True

    def is_completed(self):
        if not self._done and all(req.Test() for req in self._requests):
            self._complete()
        return self._done

    def is_success(self):
        return self._done and self._exception is None

    def exception(self):
        return self._exception

    def result(self):
        return self._result

    def __repr__(self):
        return f"<clnet.distributed.Work {self._name} completed={self._done}>"


# ---------------------------------------------------------------------- staging
def _check(t, what, arg="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"clnet.distributed.{what}: {arg} must be a clnet Tensor, got "
                        f"{type(t).__name__}")
    return t


def _host(t):
    """The tensor's data as a contiguous numpy array (one device read); bool as uint8 for MPI,
    float16/bfloat16 as float32 (MPI has no 16-bit float; the values are exact in float32)."""
    if t.dtype.compute is not t.dtype:
        return np.ascontiguousarray(t._host_values(), dtype=np.float32)
    a = np.ascontiguousarray(t.numpy())
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def write_host(t, host):
    """Write ``host`` (t's element count) into tensor ``t`` on its device: one non-blocking
    upload for a contiguous tensor, else an upload and a strided copy."""
    host = np.ascontiguousarray(host).reshape(t.shape)
    if host.dtype == np.uint8 and t.dtype.np == np.bool_:
        host = host.view(np.bool_)
    if t.dtype.compute is not t.dtype:      # 16-bit: float32 values rounded to its bits
        host = dtypes.from_host_values(host, t.dtype)
    elif host.dtype != t.dtype.np:
        host = host.astype(t.dtype.np)
    if not host.size:
        return
    if t.is_contiguous():
        cl.enqueue_copy(t.device.queue, t._storage.buffer, host,
                        dst_offset=t._offset * t.dtype.itemsize, is_blocking=False)
        t._bump_version()
    else:
        with no_grad():
            t.copy_(upload_stored(host, t.device, t.dtype))


_BOOL_OPS = {"SUM": "LOR", "MAX": "LOR", "BOR": "LOR", "PRODUCT": "LAND", "MIN": "LAND",
             "BAND": "LAND", "BXOR": "LXOR"}
_OPS = {"SUM": "SUM", "AVG": "SUM", "PRODUCT": "PROD", "MIN": "MIN", "MAX": "MAX",
        "BAND": "BAND", "BOR": "BOR", "BXOR": "BXOR"}


def _mpi_op(op, t, what):
    if not isinstance(op, ReduceOp.RedOpType):
        raise TypeError(f"clnet.distributed.{what}: op must be a clnet.distributed.ReduceOp, got "
                        f"{op!r}")
    MPI = mpi_module()
    name = op.name
    if t.dtype.np == np.bool_:
        if name == "AVG":
            raise TypeError(f"clnet.distributed.{what}: ReduceOp.AVG needs a floating-point "
                            "tensor, got bool")
        return getattr(MPI, _BOOL_OPS[name])
    if name == "AVG" and not t.dtype.is_floating_point:
        raise TypeError(f"clnet.distributed.{what}: ReduceOp.AVG needs a floating-point tensor, "
                        f"got {t.dtype.name}")
    if name in ("BAND", "BOR", "BXOR") and t.dtype.is_floating_point:
        raise TypeError(f"clnet.distributed.{what}: ReduceOp.{name} needs an integer or bool "
                        f"tensor, got {t.dtype.name}")
    return getattr(MPI, _OPS[name])


def _average(host, op, g):
    if op.name == "AVG":
        np.divide(host, g.size(), out=host)


def _run(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def _same_dtype(tensors, ref, what, arg):
    for i, x in enumerate(tensors):
        _check(x, what, f"{arg}[{i}]")
        if x.dtype is not ref.dtype:
            raise TypeError(f"clnet.distributed.{what}: {arg}[{i}] is {x.dtype.name}, the input "
                            f"is {ref.dtype.name}")


def _list_len(lst, g, what, arg):
    if len(lst) != g.size():
        raise ValueError(f"clnet.distributed.{what}: {arg} has {len(lst)} tensors; the group has "
                         f"{g.size()} ranks")


# ---------------------------------------------------------------------- collectives
def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over the group; every rank gets the result in ``tensor``."""
    what = "all_reduce"
    _check(tensor, what)
    g = member_comm(group, what)
    mop = _mpi_op(op, tensor, what)
    host = _host(tensor)
    req = g.comm.Iallreduce(mpi_module().IN_PLACE, host, mop)

    def finish():
        _average(host, op, g)
        write_host(tensor, host)
    return _run(Work(g, what, [req], finish, [tensor]), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every rank of the group."""
    what = "broadcast"
    _check(tensor, what)
    g = member_comm(group, what)
    root = _root(g, src, group_src, what, "src")
    if g.rank() == root:
        host = _host(tensor)
    else:
        host = np.empty(tensor.shape, _wire(tensor))
    req = g.comm.Ibcast(host, root=root)
    finish = None if g.rank() == root else (lambda: write_host(tensor, host))
    return _run(Work(g, what, [req], finish, [tensor]), async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` over the group into ``tensor`` of rank ``dst`` (the others keep theirs)."""
    what = "reduce"
    _check(tensor, what)
    g = member_comm(group, what)
    root = _root(g, dst, group_dst, what, "dst")
    mop = _mpi_op(op, tensor, what)
    send = _host(tensor)
    recv = np.empty_like(send) if g.rank() == root else None
    req = g.comm.Ireduce(send, recv, mop, root=root)

    def finish():
        if recv is not None:
            _average(recv, op, g)
            write_host(tensor, recv)
    return _run(Work(g, what, [req], finish, [tensor]), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank's ``tensor`` into ``tensor_list`` (one per rank, in rank order)."""
    what = "all_gather"
    _check(tensor, what)
    g = member_comm(group, what)
    _list_len(tensor_list, g, what, "tensor_list")
    _same_dtype(tensor_list, tensor, what, "tensor_list")
    for i, x in enumerate(tensor_list):
        if x.numel() != tensor.numel():
            raise ValueError(f"clnet.distributed.{what}: tensor_list[{i}] has shape "
                             f"{list(x.shape)}, the input {list(tensor.shape)}")
    send = _host(tensor)
    recv = np.empty((g.size(), send.size), send.dtype)
    req = g.comm.Iallgather(send, recv)

    def finish():
        for i, x in enumerate(tensor_list):
            write_host(x, recv[i])
    return _run(Work(g, what, [req], finish, tensor_list), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor`` into ``output_tensor``: concatenated along dim 0 (shape
    (world * n, ...)) or stacked (shape (world, n, ...))."""
    what = "all_gather_into_tensor"
    _check(output_tensor, what, "output_tensor")
    _check(input_tensor, what, "input_tensor")
    g = member_comm(group, what)
    _same_dtype([output_tensor], input_tensor, what, "output_tensor")
    if output_tensor.numel() != g.size() * input_tensor.numel():
        raise ValueError(f"clnet.distributed.{what}: output_tensor has shape "
                         f"{list(output_tensor.shape)}; it must hold {g.size()} x the input's "
                         f"shape {list(input_tensor.shape)}")
    send = _host(input_tensor)
    recv = np.empty((g.size(), send.size), send.dtype)
    req = g.comm.Iallgather(send, recv)
    return _run(Work(g, what, [req], lambda: write_host(output_tensor, recv),
                     [output_tensor]), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list`` elementwise over the group; rank i gets the i-th reduced tensor."""
    what = "reduce_scatter"
    _check(output, what, "output")
    g = member_comm(group, what)
    _list_len(input_list, g, what, "input_list")
    _same_dtype(input_list, output, what, "input_list")
    mop = _mpi_op(op, output, what)
    counts = [x.numel() for x in input_list]
    if counts[g.rank()] != output.numel():
        raise ValueError(f"clnet.distributed.{what}: output has shape {list(output.shape)}, "
                         f"input_list[{g.rank()}] {list(input_list[g.rank()].shape)}")
    send = np.concatenate([_host(x).reshape(-1) for x in input_list])
    recv = np.empty(output.numel(), send.dtype)
    req = g.comm.Ireduce_scatter(send, recv, counts, mop)

    def finish():
        _average(recv, op, g)
        write_host(output, recv)
    return _run(Work(g, what, [req], finish, [output]), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``input`` (world x output's size, concatenated or stacked) reduced over the group; rank i
    gets block i in ``output``."""
    what = "reduce_scatter_tensor"
    _check(output, what, "output")
    _check(input, what, "input")
    g = member_comm(group, what)
    _same_dtype([input], output, what, "input")
    if input.numel() != g.size() * output.numel():
        raise ValueError(f"clnet.distributed.{what}: input has shape {list(input.shape)}; it "
                         f"must hold {g.size()} x the output's shape {list(output.shape)}")
    mop = _mpi_op(op, output, what)
    send = _host(input).reshape(-1)
    recv = np.empty(output.numel(), send.dtype)
    req = g.comm.Ireduce_scatter_block(send, recv, mop)

    def finish():
        _average(recv, op, g)
        write_host(output, recv)
    return _run(Work(g, what, [req], finish, [output]), async_op)


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (None on the others)."""
    what = "gather"
    _check(tensor, what)
    g = member_comm(group, what)
    root = _root(g, dst, group_dst, what, "dst")
    if g.rank() == root:
        if gather_list is None:
            raise ValueError(f"clnet.distributed.{what}: gather_list is required on the "
                             "destination rank")
        _list_len(gather_list, g, what, "gather_list")
        _same_dtype(gather_list, tensor, what, "gather_list")
    elif gather_list:
        raise ValueError(f"clnet.distributed.{what}: gather_list must be None on ranks other "
                         "than dst")
    send = _host(tensor)
    recv = np.empty((g.size(), send.size), send.dtype) if g.rank() == root else None
    req = g.comm.Igather(send, recv, root=root)

    def finish():
        if recv is not None:
            for i, x in enumerate(gather_list):
                write_host(x, recv[i])
    return _run(Work(g, what, [req], finish, gather_list or []), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank ``src``'s ``scatter_list[i]`` into ``tensor`` of rank i."""
    what = "scatter"
    _check(tensor, what)
    g = member_comm(group, what)
    root = _root(g, src, group_src, what, "src")
    if g.rank() == root:
        if scatter_list is None:
            raise ValueError(f"clnet.distributed.{what}: scatter_list is required on the source "
                             "rank")
        _list_len(scatter_list, g, what, "scatter_list")
        _same_dtype(scatter_list, tensor, what, "scatter_list")
        for i, x in enumerate(scatter_list):
            if x.numel() != tensor.numel():
                raise ValueError(f"clnet.distributed.{what}: scatter_list[{i}] has shape "
                                 f"{list(x.shape)}, the output {list(tensor.shape)}")
        send = np.stack([_host(x).reshape(-1) for x in scatter_list])
    else:
        if scatter_list:
            raise ValueError(f"clnet.distributed.{what}: scatter_list must be None on ranks "
                             "other than src")
        send = None
    recv = np.empty(tensor.numel(), _wire(tensor))
    req = g.comm.Iscatter(send, recv, root=root)
    return _run(Work(g, what, [req], lambda: write_host(tensor, recv), [tensor]), async_op)


# ---------------------------------------------------------------------- objects
def all_gather_object(object_list, obj, group=None):
    """Every rank's picklable ``obj`` into ``object_list`` (as torch, through pickle: only use
    it with objects from the job's own ranks)."""
    what = "all_gather_object"
    g = member_comm(group, what)
    if len(object_list) != g.size():
        raise ValueError(f"clnet.distributed.{what}: object_list has {len(object_list)} "
                         f"entries; the group has {g.size()} ranks")
    data = np.frombuffer(pickle.dumps(obj), np.uint8)
    sizes = np.empty(g.size(), np.int64)
    Work(g, what, [g.comm.Iallgather(np.array([data.size], np.int64), sizes)]).wait()
    recv = np.empty(int(sizes.sum()), np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    Work(g, what, [g.comm.Iallgatherv(data, [recv, (sizes, offsets)])]).wait()
    for i in range(g.size()):
        object_list[i] = pickle.loads(recv[offsets[i]:offsets[i] + sizes[i]].tobytes())


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Every rank's picklable ``obj`` into ``object_gather_list`` on rank ``dst``."""
    what = "gather_object"
    g = member_comm(group, what)
    root = _root(g, dst, group_dst, what, "dst")
    gathered = [None] * g.size()
    all_gather_object(gathered, obj, group)
    if g.rank() == root:
        if object_gather_list is None or len(object_gather_list) != g.size():
            raise ValueError(f"clnet.distributed.{what}: object_gather_list must have one entry "
                             f"per rank ({g.size()}) on the destination rank")
        object_gather_list[:] = gathered


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Rank ``src``'s ``object_list`` entries (picklable) into ``object_list`` on every rank."""
    what = "broadcast_object_list"
    g = member_comm(group, what)
    root = _root(g, src, group_src, what, "src")
    size = np.zeros(1, np.int64)
    if g.rank() == root:
        data = np.frombuffer(pickle.dumps(list(object_list)), np.uint8).copy()
        size[0] = data.size
    Work(g, what, [g.comm.Ibcast(size, root=root)]).wait()
    if g.rank() != root:
        data = np.empty(int(size[0]), np.uint8)
    Work(g, what, [g.comm.Ibcast(data, root=root)]).wait()
    if g.rank() != root:
        objs = pickle.loads(data.tobytes())
        if len(objs) != len(object_list):
            raise ValueError(f"clnet.distributed.{what}: rank {root} sent {len(objs)} objects; "
                             f"this rank's object_list has {len(object_list)} entries")
        object_list[:] = objs


# ---------------------------------------------------------------------- helpers
def _root(g, global_rank, group_rank, what, arg):
    if global_rank is not None and group_rank is not None:
        raise ValueError(f"clnet.distributed.{what}: give {arg} or group_{arg}, not both")
    if group_rank is not None:
        if not 0 <= int(group_rank) < g.size():
            raise ValueError(f"clnet.distributed.{what}: group_{arg}={group_rank} is not a rank "
                             f"of {g.name} (0 to {g.size() - 1})")
        return int(group_rank)
    return group_rank_of(g, 0 if global_rank is None else global_rank, what, arg)


def _wire(t):
    """The numpy dtype a tensor travels as (bool as uint8)."""
    return np.uint8 if t.dtype.np == np.bool_ else t.dtype.compute.np    # 16-bit as float32


def _broadcast_coalesced(tensors, src=0, group=None):
    """Broadcast many tensors from rank ``src`` with one MPI broadcast per dtype: the source
    concatenates them on its device and reads them once; the others upload the slices without
    waiting (DistributedDataParallel's parameters and buffers)."""
    what = "broadcast"
    g = member_comm(group, what)
    root = group_rank_of(g, src, what, "src")
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for ts in by_dtype.values():
        total = sum(t.numel() for t in ts)
        if not total:
            continue
        if g.rank() == root:
            with no_grad():
                host = _host(cat([t.detach().reshape(-1) for t in ts]))
        else:
            host = np.empty(total, _wire(ts[0]))
        Work(g, what, [g.comm.Ibcast(host, root=root)]).wait()
        if g.rank() != root:
            offset = 0
            for t in ts:
                write_host(t, host[offset:offset + t.numel()])
                offset += t.numel()


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of ``group`` reaches this call."""
    g = member_comm(group, "barrier")
    work = Work(g, "barrier", [g.comm.Ibarrier()])
    if async_op:
        return work
    work.wait()
    return None
