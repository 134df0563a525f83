"""DataLoader: batching, shuffling, collate, uploads, reproducibility, resume, prefetch thread."""
import collections
import json
import pickle
import threading
import time

import numpy as np
import pytest

import clnet
from clnet.data import (ConcatDataset, DataLoader, Dataset, IterableDataset, Subset,
                        TensorDataset, default_collate, random_split)
from clnet.data import transforms as T


def _ds(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32).reshape(n, 1) * 2,
                         np.arange(n, dtype=np.int64))


def _labels(loader):
    return [b[1].tolist() for b in loader]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "clnet-DataLoader-prefetch"]


def _wait_no_threads(timeout=2.0):
    end = time.time() + timeout
    while _prefetch_threads() and time.time() < end:
        time.sleep(0.02)
    return not _prefetch_threads()


# ---------------------------------------------------------------- batching
@pytest.mark.parametrize("prefetch", [True, False])
def test_batches_in_order_with_last_partial_batch(prefetch):
    loader = DataLoader(_ds(10), batch_size=3, prefetch=prefetch)
    batches = list(loader)
    assert len(loader) == 4 and len(batches) == 4
    x, y = batches[0]
    assert isinstance(x, clnet.Tensor) and x.dtype == clnet.float32 and tuple(x.shape) == (3, 1)
    assert y.dtype == clnet.int64
    np.testing.assert_array_equal(x.numpy(), [[0], [2], [4]])
    assert [b[1].numpy().tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_drop_last():
    loader = DataLoader(_ds(10), batch_size=3, drop_last=True, as_numpy=True)
    assert len(loader) == 3
    assert _labels(loader) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(DataLoader(_ds(2), batch_size=3, drop_last=True)) == 0
    assert list(DataLoader(_ds(2), batch_size=3, drop_last=True)) == []


def test_shuffle_covers_every_sample_once_and_is_reproducible():
    a = _labels(DataLoader(_ds(50), batch_size=8, shuffle=True, generator=7, as_numpy=True))
    b = _labels(DataLoader(_ds(50), batch_size=8, shuffle=True, generator=7, as_numpy=True))
    c = _labels(DataLoader(_ds(50), batch_size=8, shuffle=True, generator=8, as_numpy=True))
    flat = sum(a, [])
    assert sorted(flat) == list(range(50)) and flat != list(range(50))
    assert a == b and a != c


def test_epochs_differ_but_runs_repeat():
    def two_epochs(seed):
        loader = DataLoader(_ds(20), batch_size=5, shuffle=True, generator=seed, as_numpy=True)
        return _labels(loader), _labels(loader)
    e1, e2 = two_epochs(3)
    assert e1 != e2
    assert two_epochs(3) == (e1, e2)


def test_generator_kinds():
    g = clnet.Generator().manual_seed(123)
    a = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True, generator=g, as_numpy=True))
    g2 = clnet.Generator().manual_seed(123)
    b = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True, generator=g2, as_numpy=True))
    assert a == b
    npg = np.random.default_rng(5)
    before = npg.bit_generator.state
    c = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True, generator=npg, as_numpy=True))
    assert npg.bit_generator.state == before          # the caller's Generator is not advanced
    assert sorted(sum(c, [])) == list(range(30))
    clnet.manual_seed(99)
    d = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True, as_numpy=True))
    clnet.manual_seed(99)
    e = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True, as_numpy=True))
    assert d == e
    with pytest.raises(TypeError, match="int seed"):
        DataLoader(_ds(3), generator="abc")


def test_sampler_and_batch_sampler():
    loader = DataLoader(_ds(10), batch_size=2, sampler=[9, 8, 7, 1, 0], as_numpy=True)
    assert len(loader) == 3 and _labels(loader) == [[9, 8], [7, 1], [0]]
    loader = DataLoader(_ds(10), batch_sampler=[[1, 2, 3], [5]], as_numpy=True)
    assert len(loader) == 2 and _labels(loader) == [[1, 2, 3], [5]]


def test_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_ds(), sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_ds(), batch_sampler=[[0]], batch_size=4)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(_ds(), num_workers=-1)


# ---------------------------------------------------------------- collate and upload
Pair = collections.namedtuple("Pair", "a b")


class _DictDataset(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"image": np.full((2, 3), i, dtype=np.uint8), "label": i, "weight": 0.5 * i,
                "flag": i % 2 == 0, "name": f"item{i}",
                "pair": Pair(np.float32(i), (np.int32(i), [i, -i]))}


def test_collate_dicts_namedtuples_numbers_and_strings():
    batch = next(iter(DataLoader(_DictDataset(), batch_size=4)))
    assert set(batch) == {"image", "label", "weight", "flag", "name", "pair"}
    assert batch["image"].dtype == clnet.int32 and tuple(batch["image"].shape) == (4, 2, 3)
    np.testing.assert_array_equal(batch["image"].numpy()[:, 0, 0], [0, 1, 2, 3])
    assert batch["label"].dtype == clnet.int64 and batch["label"].tolist() == [0, 1, 2, 3]
    dev = clnet.default_device()
    assert batch["weight"].dtype == (clnet.float64 if dev.has_fp64 else clnet.float32)
    np.testing.assert_allclose(batch["weight"].numpy(), [0, 0.5, 1.0, 1.5])
    assert batch["flag"].dtype == clnet.bool and batch["flag"].tolist() == [True, False, True,
                                                                            False]
    assert batch["name"] == ["item0", "item1", "item2", "item3"]
    assert isinstance(batch["pair"], Pair) and batch["pair"].a.dtype == clnet.float32
    ints, seq = batch["pair"].b
    assert ints.dtype == clnet.int32 and ints.tolist() == [0, 1, 2, 3]
    assert [s.tolist() for s in seq] == [[0, 1, 2, 3], [0, -1, -2, -3]]


def test_collate_tuples_match_torch():
    import torch
    samples = [(np.ones(2, np.float32) * i, i, 1.5 * i) for i in range(3)]
    ours, theirs = default_collate(samples), torch.utils.data.default_collate(samples)
    assert type(ours) is type(theirs) is list
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o, t.numpy())
        assert o.dtype == t.numpy().dtype


def test_collate_errors():
    with pytest.raises(ValueError, match=r"different shapes.*\(2,\).*\(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different keys"):
        default_collate([{"a": 1}, {"b": 2}])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


def test_one_upload_per_field_per_batch(monkeypatch):
    from clnet.ops import copy as copy_mod
    calls = []
    real = copy_mod.from_numpy_to
    ds = _ds(10)        # (TensorDataset uploads its numpy fields once, here)

    def counting(a, dev, dt=None):
        calls.append(a.shape)
        return real(a, dev, dt)
    monkeypatch.setattr(copy_mod, "from_numpy_to", counting)
    batches = list(DataLoader(ds, batch_size=4))
    assert len(batches) == 3 and calls == [(4, 1), (4,), (4, 1), (4,), (2, 1), (2,)]


def test_clnet_tensor_samples_are_collated():
    ds = TensorDataset(clnet.arange(6).reshape(3, 2), clnet.tensor([1.0, 2.0, 3.0]))
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    assert x.tolist() == [[0, 1], [2, 3], [4, 5]] and y.tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------- resume
class _Augmented(Dataset):
    """Items depend on the loader's per-batch RNG (a random crop of a distinct image)."""

    def __init__(self, n=37):
        self.images = np.arange(n * 36, dtype=np.float32).reshape(n, 1, 6, 6)
        self.tf = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.tf(self.images[i]), i


def _run(loader, epochs):
    return [[(x.copy(), y.copy()) for x, y in loader] for _ in range(epochs)]


@pytest.mark.parametrize("prefetch", [True, False])
def test_resume_mid_epoch_gives_the_remaining_batches(prefetch):
    def make():
        return DataLoader(_Augmented(), batch_size=5, shuffle=True, generator=11,
                          prefetch=prefetch, as_numpy=True)
    reference = _run(make(), 3)
    loader = make()
    _run(loader, 1)                                   # epoch 0 complete
    it = iter(loader)
    head = [next(it) for _ in range(3)]               # epoch 1: three batches, then "crash"
    state = json.loads(json.dumps(loader.state_dict()))
    del it
    assert state["epoch"] == 1 and state["index"] == 3 and state["in_progress"]
    resumed = make()
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    rest = [(x.copy(), y.copy()) for x, y in resumed]
    got_epoch1 = [(x, y) for x, y in head] + rest
    assert len(got_epoch1) == len(reference[1]) == 8
    for (x, y), (rx, ry) in zip(got_epoch1, reference[1]):
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(x, rx)          # same crops and flips too
    next_epoch = _run(resumed, 1)[0]
    for (x, y), (rx, ry) in zip(next_epoch, reference[2]):
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    assert resumed.state_dict()["epoch"] == 3


def test_state_at_epoch_boundary_and_early_break():
    loader = DataLoader(_ds(12), batch_size=4, shuffle=True, generator=2, as_numpy=True)
    s0 = loader.state_dict()
    assert (s0["epoch"], s0["index"], s0["in_progress"]) == (0, 0, False)
    first = _labels(loader)
    s1 = loader.state_dict()
    assert (s1["epoch"], s1["index"], s1["in_progress"]) == (1, 0, False)
    for _ in loader:                                   # abandoned after one batch
        break
    assert loader.state_dict()["index"] == 1
    third = _labels(loader)                            # a fresh epoch, not the rest of epoch 1
    assert len(third) == 3 and loader.epoch == 3
    uninterrupted = DataLoader(_ds(12), batch_size=4, shuffle=True, generator=2, as_numpy=True)
    assert _labels(uninterrupted) == first
    second = _labels(uninterrupted)
    replay = DataLoader(_ds(12), batch_size=4, shuffle=True, generator=2, as_numpy=True)
    replay.load_state_dict(s1)                         # at an epoch boundary: the next epoch
    assert _labels(replay) == second
    again = DataLoader(_ds(12), batch_size=4, shuffle=True, generator=2, as_numpy=True)
    again.load_state_dict(s0)
    assert _labels(again) == first
    with pytest.raises(KeyError, match="missing"):
        loader.load_state_dict({"epoch": 0})


# ---------------------------------------------------------------- prefetch thread
class _Failing(Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        if i == 9:
            raise_from_dataset(i)
        return np.float32(i)


def raise_from_dataset(i):
    raise ValueError(f"bad sample {i}")


def test_exception_in_thread_is_reraised_with_its_traceback():
    loader = DataLoader(_Failing(), batch_size=4)
    got = []
    with pytest.raises(ValueError) as info:
        for b in loader:
            got.append(b.tolist())
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]]
    msg = str(info.value)
    assert "prefetch thread" in msg and "bad sample 9" in msg
    assert "raise_from_dataset" in msg and "Traceback" in msg
    assert isinstance(info.value.__cause__, ValueError)
    assert _wait_no_threads()


def test_exception_without_prefetch_is_the_original():
    with pytest.raises(ValueError, match="^bad sample 9$"):
        list(DataLoader(_Failing(), batch_size=4, prefetch=False))


class _Counting(Dataset):
    def __init__(self, n=400):
        self.n, self.fetched = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.fetched += 1
        return np.float32(i)


def test_thread_stays_two_batches_ahead_and_stops_on_break():
    ds = _Counting()
    loader = DataLoader(ds, batch_size=10, as_numpy=True)
    for i, _ in enumerate(loader):
        if i == 0:
            time.sleep(0.3)                            # let the thread run ahead
            # one delivered + two queued + at most one being put
            assert 30 <= ds.fetched <= 40, ds.fetched
        if i == 2:
            break
    assert _wait_no_threads(), "prefetch thread still running after break"
    fetched = ds.fetched
    time.sleep(0.2)
    assert ds.fetched == fetched and fetched < 100


def test_thread_stops_when_iterator_is_garbage_collected():
    loader = DataLoader(_Counting(), batch_size=10)
    it = iter(loader)
    next(it)
    assert _prefetch_threads()
    del it
    assert _wait_no_threads()
    it = iter(loader)
    next(it)
    it.close()
    assert _wait_no_threads()


# ---------------------------------------------------------------- iterable datasets
class _Stream(IterableDataset):
    def __iter__(self):
        return iter(range(11))


def test_iterable_dataset_batches_and_resume():
    loader = DataLoader(_Stream(), batch_size=4, as_numpy=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert [b.tolist() for b in DataLoader(_Stream(), batch_size=4, drop_last=True,
                                           as_numpy=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    resumed = DataLoader(_Stream(), batch_size=4, as_numpy=True)
    resumed.load_state_dict(state)
    assert [b.tolist() for b in resumed] == [[4, 5, 6, 7], [8, 9, 10]]
    with pytest.raises(TypeError, match="__len__"):
        len(loader)
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(_Stream(), shuffle=True)


# ---------------------------------------------------------------- dataset utilities
def test_subset_concat_and_random_split():
    ds = _ds(10)
    sub = Subset(ds, [7, 3])
    assert len(sub) == 2 and sub[1][1] == 3
    assert _labels(DataLoader(sub, batch_size=2, as_numpy=True)) == [[7, 3]]
    cat = ConcatDataset([_ds(3), Subset(ds, [9])])
    assert len(cat) == 4 and [cat[i][1] for i in range(4)] == [0, 1, 2, 9] and cat[-1][1] == 9
    with pytest.raises(IndexError):
        cat[4]
    assert _labels(DataLoader(cat, batch_size=4, as_numpy=True)) == [[0, 1, 2, 9]]
    a, b = random_split(ds, [7, 3], generator=1)
    assert len(a) == 7 and len(b) == 3 and sorted(a.indices + b.indices) == list(range(10))
    a2, _ = random_split(ds, [7, 3], generator=1)
    assert a2.indices == a.indices
    parts = random_split(_ds(11), [0.5, 0.3, 0.2], generator=0)
    assert [len(p) for p in parts] == [6, 3, 2]      # torch's rounding of 5.5/3.3/2.2
    with pytest.raises(ValueError, match="sum of lengths"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
