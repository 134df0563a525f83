"""``DataLoader``: batches of a dataset as clnet tensors, shuffled reproducibly, prepared on the
host by a background thread while the device works, and resumable mid-epoch.

One epoch, in order:
1. the epoch plan: the sample order (a permutation drawn from the loader's numpy Generator when
   ``shuffle``) cut into index batches, and an epoch seed drawn from the same Generator;
2. host batches: batch b is fetched (``dataset.get_batch(indices)`` when the dataset has that
   fast path and no ``collate_fn`` is given, else ``collate_fn([dataset[i] ...])``) with random
   transforms drawing from a Generator seeded by (epoch seed, b), so results do not depend on
   thread timing and a resumed epoch sees the same augmentations;
3. upload: each numpy field becomes a clnet tensor with one non-blocking copy, in the caller's
   thread, just before the batch is returned.

With ``prefetch`` (the default) step 2 runs in a daemon thread that stays up to 2 batches ahead
(numpy and gzip release the GIL for most of the work). The thread stops when the epoch ends, when
the iterator is closed or garbage-collected (``break`` out of a for loop drops it), and an
exception raised while loading is raised again in the caller with the thread's traceback text.

``state_dict()`` holds (epoch, batches delivered in it, the RNG state at the epoch's start):
``load_state_dict`` then makes the next ``iter(loader)`` replay that epoch's plan and continue
from the next batch, exactly as the uninterrupted run would have.
"""
from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Union)
import math
import queue
import threading
import traceback
import weakref

import numpy as np

from ..backend.devices import device as _resolve_device
from ._random import numpy_rng, use_rng
from .collate import default_collate, to_device
from .dataset import IterableDataset

if TYPE_CHECKING:
    from ._random import RandomSource
    from .dataset import Dataset
    from .sampler import Sampler
    from ..types import Device

__all__ = ["DataLoader"]

PREFETCH_DEPTH = 2
_POLL_S = 0.05          # how often a blocked thread re-checks the stop flag


class DataLoader:
    """PyTorch's DataLoader arguments, plus:

    - ``generator``: int seed, clnet Generator or numpy Generator for shuffling and random
      transforms (None: derived from clnet's default generator, so ``clnet.manual_seed`` fixes it).
    - ``prefetch``: prepare the next host batches in a background thread (depth 2).
    - ``device``: where batches are uploaded (None: the default device at iteration time).
    - ``as_numpy``: yield the host batches (numpy) instead of uploading them.

    ``num_workers``, ``pin_memory``, ``timeout``, ``worker_init_fn``, ``prefetch_factor`` and
    ``persistent_workers`` are accepted so PyTorch code runs unchanged; clnet loads in one
    background thread whatever their values (no worker processes).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 sampler: Optional[Union[Sampler, Iterable[int]]] = None,
                 batch_sampler: Optional[Union[Sampler, Iterable[List[int]]]] = None,
                 num_workers: int = 0, collate_fn: Optional[Callable[[List[Any]], Any]] = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Optional[Callable[[int], None]] = None,
                 generator: RandomSource = None, prefetch_factor: Optional[int] = None,
                 persistent_workers: bool = False, *, prefetch: bool = True, device: Device = None,
                 as_numpy: bool = False) -> None:
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, "
                             "shuffle, sampler and drop_last")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle")
        if batch_sampler is None and (isinstance(batch_size, bool)
                                      or not isinstance(batch_size, (int, np.integer))
                                      or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if isinstance(dataset, IterableDataset) and (shuffle or sampler is not None
                                                     or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset is read in order; shuffle, sampler "
                             "and batch_sampler do not apply to it")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got "
                             f"{num_workers!r}")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        self.prefetch = bool(prefetch)
        self.device = device
        self.as_numpy = bool(as_numpy)
        self.generator = generator
        self._rng = numpy_rng(generator)
        if self._rng is generator:         # never advance a Generator the caller also uses
            self._rng = np.random.Generator(type(generator.bit_generator)())
            self._rng.bit_generator.state = generator.bit_generator.state
        self._epoch = 0
        self._index = 0                    # batches delivered in the current epoch
        self._in_progress = False
        self._epoch_start_state = self._rng.bit_generator.state
        self._resume = False
        self._active = None                # token of the iterator that owns the position

    # ------------------------------------------------------------------ size
    def _num_samples(self):
        if self.sampler is not None:
            return len(self.sampler)
        return len(self.dataset)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]  # raises when it has none
        if isinstance(self.dataset, IterableDataset) and not hasattr(self.dataset, "__len__"):
            raise TypeError("DataLoader: the IterableDataset has no __len__, so the number of "
                            "batches is unknown")
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # ------------------------------------------------------------------ position
    def state_dict(self) -> Dict[str, Any]:
        """The loader's position: epoch, batches delivered in it and the RNG state to replay it."""
        rng_state = self._epoch_start_state if self._in_progress else self._rng.bit_generator.state
        return {"epoch": self._epoch, "index": self._index, "in_progress": self._in_progress,
                "rng_state": _copy_state(rng_state)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"epoch", "index", "in_progress", "rng_state"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        self._epoch, self._index = int(state["epoch"]), int(state["index"])
        self._in_progress = bool(state["in_progress"])
        self._epoch_start_state = _copy_state(state["rng_state"])
        self._rng.bit_generator.state = _copy_state(state["rng_state"])
        self._resume = self._in_progress
        if not self._in_progress:
            self._index = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    # ------------------------------------------------------------------ one epoch
    def _begin_epoch(self):
        """Fix the epoch's plan; returns (index batches or None for iterable datasets, epoch
        seed, first batch to load)."""
        if self._resume:
            self._resume = False
        else:
            if self._in_progress:           # the previous iteration was abandoned early
                self._epoch += 1
            self._index = 0
            self._epoch_start_state = self._rng.bit_generator.state
        self._rng.bit_generator.state = _copy_state(self._epoch_start_state)
        self._in_progress = True
        batches = None
        if not isinstance(self.dataset, IterableDataset):
            batches = self._index_batches()
        epoch_seed = int(self._rng.integers(0, 2 ** 63))
        return batches, epoch_seed, self._index

    def _index_batches(self):
        if self.batch_sampler is not None:
            return [list(b) for b in self.batch_sampler]
        if self.sampler is not None:
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        elif self.shuffle:
            order = self._rng.permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        return [order[i:i + bs] for i in range(0, stop, bs)]

    def _end_epoch(self):
        self._epoch += 1
        self._index = 0
        self._in_progress = False

    def __iter__(self) -> Iterator[Any]:
        return _LoaderIter(self)

    def __repr__(self) -> str:
        return (f"<clnet.data.DataLoader batch_size={self.batch_size} shuffle={self.shuffle} "
                f"drop_last={self.drop_last} epoch={self._epoch} index={self._index}>")


def _copy_state(state):
    """A deep copy of a numpy bit generator state (nested dicts of ints)."""
    if isinstance(state, dict):
        return {k: _copy_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return state.copy()
    return state


# ====================================================================== host batches
def _host_batches(dataset, collate_fn, batches, epoch_seed, start, batch_size, drop_last):
    """Generator of the epoch's host batches from batch number ``start`` on."""
    if batches is None:
        yield from _iterable_batches(dataset, collate_fn, epoch_seed, start, batch_size,
                                     drop_last)
        return
    fast = getattr(dataset, "get_batch", None) if collate_fn is None else None
    collate = collate_fn or default_collate
    for b in range(start, len(batches)):
        with use_rng(np.random.default_rng([epoch_seed, b])):
            if fast is not None:
                yield list(fast(batches[b]))
            else:
                yield collate([dataset[int(i)] for i in batches[b]])


def _iterable_batches(dataset, collate_fn, epoch_seed, start, batch_size, drop_last):
    collate = collate_fn or default_collate
    it = iter(dataset)
    b = 0
    while True:
        with use_rng(np.random.default_rng([epoch_seed, b])):
            items = []
            for item in it:
                items.append(item)
                if len(items) == batch_size:
                    break
            if not items or (drop_last and len(items) < batch_size):
                return
            if b >= start:                  # earlier batches were delivered before a resume
                yield collate(items)
        b += 1


# ====================================================================== prefetch thread
def _put(q, item, stop):
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _prefetch_worker(source, q, stop):
    # holds no reference to the iterator, so dropping the iterator can stop this thread
    try:
        for host_batch in source:
            if not _put(q, ("batch", host_batch), stop):
                return
        _put(q, ("end", None), stop)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
        _put(q, ("error", (exc, traceback.format_exc())), stop)
    finally:
        source.close()


def _stop_thread(stop, thread):
    stop.set()
    if thread is not threading.current_thread():
        thread.join(timeout=5 * _POLL_S)


def _reraise(exc, tb_text):
    msg = (f"Caught {type(exc).__name__} in the DataLoader prefetch thread.\n"
           f"Original traceback:\n{tb_text}")
    try:
        new = type(exc)(msg)
    except Exception:  # noqa: BLE001 - exception types whose constructor needs other arguments
        new = RuntimeError(msg)
    raise new from exc


class _LoaderIter:
    """One pass over the loader (an epoch, or its rest after ``load_state_dict``)."""

    def __init__(self, loader):
        self._loader = loader
        self._token = object()
        loader._active = self._token
        batches, seed, start = loader._begin_epoch()
        self._device = None if loader.as_numpy else _resolve_device(loader.device)
        self._source = _host_batches(loader.dataset, loader.collate_fn, batches, seed, start,
                                     loader.batch_size, loader.drop_last)
        self._done = False
        self._thread = None
        if loader.prefetch:
            self._queue = queue.Queue(maxsize=PREFETCH_DEPTH)
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=_prefetch_worker, args=(self._source, self._queue, self._stop),
                name="clnet-DataLoader-prefetch", daemon=True)
            self._thread.start()
            self._finalizer = weakref.finalize(self, _stop_thread, self._stop, self._thread)

    def __iter__(self):
        return self

    def _next_host(self):
        if self._thread is None:
            return next(self._source)
        while True:
            try:
                kind, payload = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("DataLoader: the prefetch thread stopped without "
                                       "finishing the epoch") from None
        if kind == "end":
            raise StopIteration
        if kind == "error":
            self.close()
            _reraise(*payload)
        return payload

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            host = self._next_host()
        except StopIteration:
            self._done = True
            self.close()
            if self._loader._active is self._token:
                self._loader._end_epoch()
            raise
        except BaseException:
            self._done = True
            self.close()
            raise
        if self._loader._active is self._token:
            self._loader._index += 1
        return host if self._device is None else to_device(host, self._device)

    def __len__(self):
        return len(self._loader)

    def close(self):
        """Stop loading (the background thread exits within a fraction of a second)."""
        if self._thread is not None:
            self._finalizer()
        else:
            self._source.close()
