"""TensorDataset holds tensors and returns tensors, as torch's; the DataLoader batches it with one
gather per field per batch."""
import numpy as np
import pytest
import torch

import clnet
from clnet.data import DataLoader, Subset, TensorDataset, random_split
from helpers import assert_close


def _pair(rng, n=11):
    x = rng.standard_normal((n, 3, 2)).astype(np.float32)
    y = rng.integers(0, 5, n)
    return (x, y), TensorDataset(clnet.tensor(x), clnet.tensor(y)), \
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))


@pytest.mark.parametrize("index", [0, 5, -1, slice(2, 7), slice(None, None, 3), [0, 4, 4],
                                   range(1, 9, 2), np.int64(3)])
def test_items_and_slices_are_tensors_like_torch(rng, index):
    _, ds, ref = _pair(rng)
    got, want = ds[index], ref[index]
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        assert isinstance(g, clnet.Tensor)
        assert tuple(g.shape) == tuple(w.shape)
        assert_close(g, w.numpy())
    assert got[1].dtype == clnet.int64 and got[0].dtype == clnet.float32


def test_tensors_are_kept_as_given(rng):
    (x, y), _, _ = _pair(rng)
    tx, ty = clnet.tensor(x), clnet.tensor(y)
    ds = TensorDataset(tx, ty)
    assert ds.tensors[0] is tx and ds.tensors[1] is ty and len(ds) == len(x)
    with pytest.raises(ValueError, match=r"Size mismatch between tensors.*sizes \[11, 10\]"):
        TensorDataset(tx, ty[:10])
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(clnet.tensor(3.0))


def test_numpy_fields_become_tensors(rng):
    (x, y), _, _ = _pair(rng)
    ds = TensorDataset(x, y)
    assert all(isinstance(t, clnet.Tensor) for t in ds.tensors)
    original = x.copy()
    x[0] = 100.0            # the dataset copied the array when it was built
    assert_close(ds[0][0], original[0])
    assert_close(next(iter(DataLoader(ds, batch_size=11)))[0], original)
    assert ds.tensors[1].dtype == clnet.int64


@pytest.mark.parametrize("shuffle", [False, True])
def test_loader_batches_match_torchs(rng, shuffle):
    (x, y), ds, ref = _pair(rng, n=23)
    if shuffle:     # same order for both: a sampler list
        order = rng.permutation(23).tolist()
        ours = DataLoader(ds, batch_size=5, sampler=order)
        theirs = torch.utils.data.DataLoader(ref, batch_size=5, sampler=order)
    else:
        ours = DataLoader(ds, batch_size=5)
        theirs = torch.utils.data.DataLoader(ref, batch_size=5)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want) == 5
    for (gx, gy), (wx, wy) in zip(got, want):
        assert isinstance(gx, clnet.Tensor) and gx.device is clnet.default_device()
        assert_close(gx, wx.numpy())
        assert_close(gy, wy.numpy())


def test_loader_sees_changes_to_the_tensors(rng):
    (x, y), ds, _ = _pair(rng, n=6)
    loader = DataLoader(ds, batch_size=6)
    first = next(iter(loader))[0].numpy()
    ds.tensors[0].mul_(2.0)             # in place: the next epoch reads the new values
    assert_close(next(iter(loader))[0], first * 2)
    ds.tensors[1][0] = 4               # through a view of the same storage
    assert next(iter(loader))[1].tolist()[0] == 4
    ds.tensors[0].data = clnet.zeros(6, 3, 2)     # a new storage behind the same tensor
    assert_close(next(iter(loader))[0], np.zeros((6, 3, 2), np.float32))


def test_non_contiguous_fields_and_subsets(rng):
    base = rng.standard_normal((4, 9)).astype(np.float32)
    xt = clnet.tensor(base).t()         # (9, 4), transposed
    ds = TensorDataset(xt, clnet.arange(9))
    assert_close(ds[2][0], base.T[2])
    part, rest = random_split(ds, [6, 3], generator=0)
    got = list(DataLoader(part, batch_size=4))
    assert_close(got[0][0], base.T[part.indices[:4]])
    assert got[1][1].tolist() == part.indices[4:]
    batch = list(DataLoader(Subset(ds, [8, 0]), batch_size=2, as_numpy=True))[0]
    assert isinstance(batch[0], np.ndarray)
    np.testing.assert_array_equal(batch[0], base.T[[8, 0]])


def test_the_per_item_path_collates_tensor_items(rng):
    (x, y), ds, _ = _pair(rng, n=7)
    # a collate_fn takes the per-item path: the items are tensors, as in torch
    seen = []

    def collate(items):
        seen.append(type(items[0][0]))
        return [np.stack([i[0].numpy() for i in items]), np.stack([i[1].numpy() for i in items])]
    xb, yb = next(iter(DataLoader(ds, batch_size=7, collate_fn=collate)))
    assert seen == [clnet.Tensor]
    assert_close(xb, x)
    assert yb.tolist() == y.tolist()
