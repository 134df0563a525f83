"""``DistributedDataParallel``: one replica of a module per process, gradients averaged over MPI.

At wrap time every rank checks that all ranks hold the same parameter and buffer shapes (an error
names the rank and the parameter) and takes rank 0's values. Each forward (``broadcast_buffers``)
takes rank 0's buffers. During backward, gradients are averaged in buckets, PyTorch's way:

- parameters are grouped in reverse order (the order their gradients are produced), the first
  bucket capped at 1 MiB, the others at ``bucket_cap_mb`` (25 MiB);
- a parameter's post-accumulate-grad hook marks it ready; when a bucket's last gradient is ready
  its gradients are copied into one flat device buffer and read to a host staging buffer without
  waiting (one device read per bucket, never one per tensor);
- a reducer thread starts each bucket's non-blocking ``MPI_Iallreduce`` in bucket order (MPI
  needs the same order on every rank) as soon as its staging read has landed, and polls it, so
  the reduction runs while the device goes on with the backward (the host enqueues the whole
  backward long before the device has run it, so the hooks themselves come too early to help);
- a callback queued on the autograd engine runs when backward ends: it waits for the remaining
  reductions (bounded by the process group's timeout), divides by the world size and uploads
  each bucket once, copying the averages into ``.grad`` before the optimizer can see them.

``no_sync()`` skips the reduction (gradients accumulate locally; the first backward outside it
reduces the sum). With ``find_unused_parameters=True`` the forward's output graph is walked to
find the parameters it does not use; they count as ready (zeros) so the buckets can complete,
and a parameter no rank used keeps its ``.grad`` unchanged, as in PyTorch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union
import threading
import time
from contextlib import contextmanager

import numpy as np
import pyopencl as cl

from ... import graph
from ... import distributed as dist
from ...distributed import DistBackendError
from ...ops.creation import zeros
from ...autograd.engine import queue_callback
from ...autograd.grad_mode import no_grad
from ...backend.launch import refuse_in_capture
from ...tensor import Tensor
from ..module import Module
from .comm import to_device

if TYPE_CHECKING:
    from ...types import _device

_FIRST_BUCKET_BYTES = 1024 * 1024       # torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES
_DEFAULT_BUCKET_CAP_MB = 25


class _Bucket:
    __slots__ = ("index", "params", "offsets", "numel", "dtype", "device", "flat", "host",
                 "pending", "marked", "event", "request", "t_read", "t_launch", "t_done")

    def __init__(self, index, params):
        self.index = index
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.numel()
        self.numel = n
        self.dtype = params[0].dtype
        self.device = params[0].device
        # float16/bfloat16 gradients travel and sum as float32 (MPI has no 16-bit float, and a
        # sum of bfloat16 bits as integers would be garbage); _write_grads rounds them back
        self.flat = zeros(n, dtype=self.dtype.compute, device=self.device)
        self.host = np.empty(n, self.dtype.compute.np)
        self.reset()

    def reset(self):
        self.pending = len(self.params)
        self.marked = [False] * len(self.params)
        self.event = None
        self.request = None
        self.t_read = self.t_launch = self.t_done = None


def _assign_buckets(params, cap_bytes):
    """Parameter indices per bucket: torch's _compute_bucket_assignment_by_size on the reversed
    parameter list, one open bucket per (dtype, device), the first capped at 1 MiB."""
    order = list(range(len(params)))[::-1]
    open_, limits, done = {}, {}, []
    for i in order:
        p = params[i]
        key = (p.dtype, p.device)
        ids, size = open_.get(key, ([], 0))
        ids.append(i)
        size += p.numel() * p.dtype.itemsize
        limit = limits.setdefault(key, _FIRST_BUCKET_BYTES if cap_bytes > _FIRST_BUCKET_BYTES
                                  else cap_bytes)
        if size >= limit:
            done.append(ids)
            open_.pop(key, None)
            limits[key] = cap_bytes
        else:
            open_[key] = (ids, size)
    done.extend(ids for ids, _ in open_.values() if ids)
    # buckets ordered by the first gradient they hold (the position in the reversed list)
    done.sort(key=lambda ids: min(order.index(i) for i in ids))
    return done


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel over clnet.distributed (MPI). Call
    ``clnet.distributed.init_process_group("mpi")`` first; one process per replica."""

    def __init__(self, module: Module,
                 device_ids: Optional[Sequence[Union[_device, str, int]]] = None,
                 output_device: Optional[Union[_device, str, int]] = None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True,
                 process_group: Optional[Any] = None, bucket_cap_mb: Optional[float] = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params: Optional[Any] = None,
                 param_to_hook_all_reduce: Optional[Any] = None,
                 mixed_precision: Optional[Any] = None, device_mesh: Optional[Any] = None,
                 skip_all_reduce_unused_params: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a clnet.nn.Module, got "
                            f"{type(module).__name__}")
        for name, value in (("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("mixed_precision", mixed_precision), ("device_mesh", device_mesh)):
            if value is not None:
                raise ValueError(f"DistributedDataParallel: {name} is not supported by clnet; "
                                 "leave it None")
        if not dist.is_initialized():
            raise ValueError("DistributedDataParallel: Default process group has not been "
                             "initialized, please make sure to call init_process_group.")
        self.module = module
        self.process_group = process_group
        group = dist.process_group.member_comm(process_group, "DistributedDataParallel")
        object.__setattr__(self, "_group", group)
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have "
                               "any parameter that requires a gradient.")
        self._param_names = [n for n, _ in named]
        params = [p for _, p in named]
        self.device_ids = self._check_devices(params, device_ids)
        self.output_device = output_device
        self._check_shapes(module)
        if init_sync:
            dist.collectives._broadcast_coalesced(
                [p for p in module.parameters()] + [b for b in module.buffers()], 0,
                process_group)
        cap_mb = _DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb
        if not cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb!r}")
        self.bucket_bytes_cap = int(cap_mb * 1024 * 1024)
        buckets = [_Bucket(i, [params[j] for j in ids])
                   for i, ids in enumerate(_assign_buckets(params, self.bucket_bytes_cap))]
        where = {}
        for b in buckets:
            for k, p in enumerate(b.params):
                where[id(p)] = (b, k)
        names = {id(p): n for n, p in named}
        state = {"buckets": buckets, "where": where, "params": params, "names": names,
                 "syncing": False,
                 "started": False, "unused": (), "stats": _new_stats()}
        object.__setattr__(self, "_ddp", state)
        handles = []
        for p in params:
            handles.append(p.register_post_accumulate_grad_hook(self._grad_ready))
        object.__setattr__(self, "_hook_handles", handles)

    # ------------------------------------------------------------------ wrap-time checks
    def _check_devices(self, params, device_ids):
        devices = {p.device for p in params}
        if len(devices) > 1:
            raise ValueError("DistributedDataParallel: the module's parameters are on "
                             f"{len(devices)} devices ({', '.join(map(str, devices))}); clnet's "
                             "DistributedDataParallel takes a module on one device per process")
        if device_ids is None:
            return None
        if len(device_ids) != 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        dev = to_device(device_ids[0])
        if dev is not next(iter(devices)):
            raise ValueError(f"DistributedDataParallel: device_ids[0] is {dev} but the module's "
                             f"parameters are on {next(iter(devices))}; move the module there "
                             "first (module.to(device))")
        return [dev]

    def _check_shapes(self, module):
        mine = [(n, tuple(t.shape), t.dtype.name) for n, t in
                list(module.named_parameters()) + list(module.named_buffers())]
        group = self.process_group
        everyone = [None] * self._group.size()
        dist.all_gather_object(everyone, mine, group=group)
        ref = everyone[0]
        for r, theirs in enumerate(everyone[1:], start=1):
            for (n0, s0, d0), (n1, s1, d1) in zip(ref, theirs):
                if n0 != n1:
                    raise RuntimeError(
                        f"DistributedDataParallel: rank {self._group.ranks[r]} has parameter or "
                        f"buffer {n1!r} where rank {self._group.ranks[0]} has {n0!r}: every "
                        "rank must wrap the same model")
                if s0 != s1 or d0 != d1:
                    raise RuntimeError(
                        f"DistributedDataParallel: parameter {n1!r} has shape {list(s1)} "
                        f"({d1}) on rank {self._group.ranks[r]} but {list(s0)} ({d0}) on rank "
                        f"{self._group.ranks[0]}: every rank must wrap the same model")
            if len(theirs) != len(ref):
                extra = (theirs if len(theirs) > len(ref) else ref)[min(len(ref), len(theirs))]
                raise RuntimeError(
                    f"DistributedDataParallel: rank {self._group.ranks[r]} has "
                    f"{len(theirs)} parameters and buffers, rank {self._group.ranks[0]} "
                    f"{len(ref)} (first unmatched: {extra[0]!r}): every rank must wrap the same "
                    "model")

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        state = self._ddp
        if state["started"]:
            raise RuntimeError(
                "DistributedDataParallel: the previous backward pass did not finish its gradient "
                "reduction (it raised); call zero_grad and run forward again only after a "
                "successful backward")
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers and self._group.size() > 1:
                dist.collectives._broadcast_coalesced(buffers, 0, self.process_group)
        out = self.module(*inputs, **kwargs)
        state["syncing"] = graph.is_grad_enabled() and self.require_backward_grad_sync
        if state["syncing"]:
            for b in state["buckets"]:
                b.reset()
            state["unused"] = self._unused(out) if self.find_unused_parameters else ()
        return out

    def _unused(self, out):
        """Parameters the output's graph does not reach (find_unused_parameters)."""
        roots, stack = set(), [out]
        leaves = set()
        while stack:
            x = stack.pop()
            if isinstance(x, Tensor):
                if x.grad_fn is not None:
                    roots.add(x.grad_fn)
                elif x.requires_grad:
                    leaves.add(id(x))
            elif isinstance(x, (list, tuple)):
                stack.extend(x)
            elif isinstance(x, dict):
                stack.extend(x.values())
        seen, todo = set(roots), list(roots)
        while todo:
            node = todo.pop()
            if isinstance(node, graph.AccumulateGrad):
                leaves.add(id(node.variable))
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return [p for p in self._ddp["params"] if id(p) not in leaves]

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, forward/backward accumulate gradients locally without reducing them; the
        first backward after it reduces the accumulated sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ------------------------------------------------------------------ backward
    def _grad_ready(self, p):
        state = self._ddp
        if not state["syncing"]:
            return
        if not state["started"]:
            state["started"] = True
            state["reducer"] = _Reducer(self._group, state["buckets"])
            queue_callback(self._finish_reduction)
            for q in state["unused"]:
                self._mark(q)
        self._mark(p)

    def _mark(self, p):
        b, k = self._ddp["where"][id(p)]
        if b.marked[k]:
            raise RuntimeError(
                f"DistributedDataParallel: Expected to mark a variable ready only once. "
                f"Parameter {self._ddp['names'][id(p)]!r} got its "
                "gradient twice in one iteration (a backward through the same graph twice, or "
                "two backward calls after one forward); run forward again before each backward")
        b.marked[k] = True
        b.pending -= 1
        if b.pending == 0:
            self._stage(b)

    def _stage(self, b):
        """Flatten the bucket's gradients on the device and start their read to host memory."""
        with no_grad():
            for p, off in zip(b.params, b.offsets):
                view = b.flat[off:off + p.numel()]
                if p.grad is None:
                    view.zero_()
                else:
                    view.copy_(p.grad.reshape(-1))
        refuse_in_capture(b.device, "DistributedDataParallel's gradient all-reduce (an MPI "
                          "exchange through host memory)")
        queue = b.device.queue
        b.event = cl.enqueue_copy(queue, b.host, b.flat._storage.buffer, is_blocking=False)
        queue.flush()
        self._ddp["reducer"].staged(b)

    def _finish_reduction(self):
        """The backward-end callback: wait for every bucket, average, write ``.grad``."""
        state = self._ddp
        state["started"] = False
        state["syncing"] = False
        t_end = time.perf_counter()
        missing = [state["names"][id(p)] for b in state["buckets"]
                   for p, m in zip(b.params, b.marked) if not m]
        if missing:
            state.pop("reducer").cancel()
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior "
                "iteration before starting a new one. This error indicates that your module has "
                "parameters that were not used in producing loss: "
                f"{', '.join(missing)}. Pass find_unused_parameters=True to "
                "DistributedDataParallel, or make sure every parameter takes part in the loss")
        state.pop("reducer").join()
        used = None
        if self.find_unused_parameters:
            unused = {id(p) for p in state["unused"]}
            flags = np.array([0 if id(p) in unused else 1 for p in state["params"]], np.int32)
            MPI = dist.process_group.mpi_module()
            dist.process_group.wait_request(
                self._group.comm.Iallreduce(MPI.IN_PLACE, flags, MPI.MAX), self._group,
                "DistributedDataParallel find_unused_parameters all_reduce")
            used = {id(p) for p, f in zip(state["params"], flags) if f}
        self._write_grads(used)
        self._record(state, t_end)

    def _write_grads(self, used):
        world = self._group.size()
        for b in self._ddp["buckets"]:
            np.divide(b.host, world, out=b.host)
            cl.enqueue_copy(b.device.queue, b.flat._storage.buffer, b.host, is_blocking=False)
            with no_grad():
                for p, off in zip(b.params, b.offsets):
                    if used is not None and id(p) not in used:
                        continue              # no rank used it: .grad stays as it was
                    view = b.flat[off:off + p.numel()].view(p.shape)
                    if view.dtype is not p.dtype:       # a 16-bit parameter: no alias
                        view = view.to(p.dtype)
                        if p.grad is None or self.gradient_as_bucket_view:
                            p.grad = view
                        else:
                            p.grad.copy_(view)
                    elif self.gradient_as_bucket_view:
                        p.grad = view
                    elif p.grad is None:
                        p.grad = view.clone()
                    else:
                        p.grad.copy_(view)

    def _record(self, state, t_end):
        """The device's backward is done when the last bucket's staging read has landed (the
        host runs ahead of an in-order queue, so the end of the host's backward says little)."""
        s = state["stats"]
        s["backwards"] += 1
        device_end = max(b.t_read for b in state["buckets"])
        for b in state["buckets"]:
            s["comm_s"] += b.t_done - b.t_launch
            s["overlapped_s"] += max(0.0, min(b.t_done, device_end) - b.t_launch)
        s["exposed_s"] += max(b.t_done for b in state["buckets"]) - device_end
        s["finish_s"] += time.perf_counter() - t_end
        s["bytes"] += sum(b.host.nbytes for b in state["buckets"])

    # ------------------------------------------------------------------ introspection
    @property
    def comm_stats(self) -> Dict[str, float]:
        """Totals since wrap (or the last reset_comm_stats()): backward passes reduced, seconds
        from each bucket's Iallreduce launch to its completion being seen (``comm_s``, which
        includes waiting for slower ranks), the part of that while the device was still running
        the backward (``overlapped_s``), seconds from the device's end of backward to the last
        reduction's end (``exposed_s``: what communication adds to the step), seconds the
        end-of-backward callback took in all (``finish_s``: it first waits for the device), and
        bytes reduced. clnet's own figures (benchmarks/bench_distributed.py), not a PyTorch API."""
        return dict(self._ddp["stats"])

    def reset_comm_stats(self) -> None:
        self._ddp["stats"] = _new_stats()

    def bucket_parameter_names(self) -> List[List[str]]:
        """The parameter names of each bucket, in the order buckets are reduced."""
        return [[self._ddp["names"][id(p)] for p in b.params]
                for b in self._ddp["buckets"]]

    def extra_repr(self) -> str:
        return (f"world_size={self._group.size()}, buckets={len(self._ddp['buckets'])}, "
                f"bucket_cap_mb={self.bucket_bytes_cap / 2 ** 20:g}")


class _Reducer(threading.Thread):
    """One backward's gradient reduction, off the main thread: while the main thread goes on
    enqueueing backward kernels (the device runs behind it), this thread waits for each bucket's
    staging read to land (the device has reached it), starts its Iallreduce in bucket order and
    polls the reductions in flight (MPI progresses a non-blocking collective only inside a call).
    ``join()`` waits for all of them within the process group's timeout and raises what failed."""

    def __init__(self, group, buckets):
        super().__init__(name="clnet-DDP-reducer", daemon=True)
        self.group = group
        self.buckets = buckets
        self.ready = set()                  # indices of staged buckets
        self.cv = threading.Condition()
        self.error = None
        self.deadline = None
        self.cancelled = False
        self.start()

    def staged(self, b):
        with self.cv:
            self.ready.add(b.index)
            self.cv.notify()

    def run(self):
        MPI = dist.process_group.mpi_module()
        try:
            pending = []
            nxt = 0
            spin_until = None
            pause = 0.0
            while nxt < len(self.buckets) or pending:
                with self.cv:
                    while nxt < len(self.buckets) and nxt not in self.ready and not pending \
                            and not self.cancelled:
                        self.cv.wait(0.5)
                    if self.cancelled:
                        return
                    launch = nxt < len(self.buckets) and nxt in self.ready
                if launch:
                    b = self.buckets[nxt]
                    b.event.wait()              # the device has written the staging buffer
                    b.t_read = time.perf_counter()
                    b.request = self.group.comm.Iallreduce(MPI.IN_PLACE, b.host, MPI.SUM)
                    b.t_launch = time.perf_counter()
                    pending.append(b)
                    nxt += 1
                    spin_until, pause = b.t_launch + 0.002, 0.0
                for b in [b for b in pending if b.request.Test()]:
                    b.t_done = time.perf_counter()
                    pending.remove(b)
                if pending and not launch:
                    now = time.perf_counter()
                    if self.deadline is not None and now > self.deadline:
                        raise dist.DistBackendError(
                            f"DistributedDataParallel: the gradient all_reduce of bucket "
                            f"{pending[0].index} did not complete within {self.group.timeout:g} "
                            f"s on rank {dist.get_rank()} of {dist.get_world_size()}: a rank has "
                            "stopped, is stuck, or runs a different model or graph")
                    if now > spin_until:        # a slower rank: stop spinning on its core
                        time.sleep(pause)
                        pause = min(pause * 2 + 1e-5, 2e-4)
        except BaseException as e:  # noqa: BLE001 - raised again in the main thread by join()
            self.error = e

    def cancel(self):
        """Stop without waiting (a bucket will never be complete: the backward raised)."""
        with self.cv:
            self.cancelled = True
            self.cv.notify()

    def join(self):
        """Wait for every bucket (bounded by the group's timeout); re-raise the thread's error."""
        self.deadline = time.perf_counter() + self.group.timeout
        super().join(self.group.timeout + 5)
        if self.is_alive():
            raise DistBackendError("DistributedDataParallel: the gradient reduction did not "
                                   f"finish within {self.group.timeout:g} s")
        if self.error is not None:
            raise self.error


def _new_stats():
    return {"backwards": 0, "comm_s": 0.0, "overlapped_s": 0.0, "exposed_s": 0.0,
            "finish_s": 0.0, "bytes": 0}
