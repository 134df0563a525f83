"""Samplers with torch.utils.data's names and rules: lengths, batching, index ranges, errors,
reproducibility under clnet.manual_seed, and the DataLoader taking them."""
import numpy as np
import pytest
import torch
import torch.utils.data as tud

import clnet
from clnet.data import (BatchSampler, DataLoader, RandomSampler, SequentialSampler,
                        SubsetRandomSampler, TensorDataset, WeightedRandomSampler)


def test_sequential_and_batch_samplers_match_torch():
    for n, bs, drop in ((10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False)):
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


@pytest.mark.parametrize("replacement,num_samples", [(False, None), (False, 23), (True, None),
                                                      (True, 4)])
def test_random_sampler_draws_like_torch(replacement, num_samples):
    n = 10
    ours = RandomSampler(range(n), replacement=replacement, num_samples=num_samples, generator=3)
    theirs = tud.RandomSampler(range(n), replacement=replacement, num_samples=num_samples)
    a = list(ours)
    assert len(ours) == len(theirs) == len(a) == len(list(theirs))
    assert all(0 <= i < n for i in a)
    if not replacement:       # whole permutations, then part of one
        full = (num_samples or n) // n
        for k in range(full):
            assert sorted(a[k * n:(k + 1) * n]) == list(range(n))
        assert len(set(a[full * n:])) == len(a[full * n:])
    assert list(ours) != a or n == 1          # a new order on every pass


def test_random_samplers_are_reproducible_under_manual_seed():
    clnet.manual_seed(5)
    a = list(RandomSampler(range(50))), list(SubsetRandomSampler([3, 9, 27, 81]))
    clnet.manual_seed(5)
    b = list(RandomSampler(range(50))), list(SubsetRandomSampler([3, 9, 27, 81]))
    assert a == b and sorted(a[1]) == [3, 9, 27, 81]


def test_weighted_random_sampler_follows_the_weights():
    w = [0.0, 1.0, 3.0, 0.0]
    draws = np.array(list(WeightedRandomSampler(w, 4000, generator=0)))
    assert set(draws.tolist()) <= {1, 2}
    assert abs((draws == 2).mean() - 0.75) < 0.03
    assert sorted(WeightedRandomSampler(w, 2, replacement=False, generator=1)) == [1, 2]
    # past the non-zero weights, zero-weight indices follow (torch's multinomial does the same)
    third = list(WeightedRandomSampler(w, 3, replacement=False, generator=2))
    assert sorted(third[:2]) == [1, 2] and third[2] in (0, 3)
    assert {1, 2} <= set(tud.WeightedRandomSampler(w, 3, replacement=False))
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler(w, 5, replacement=False)
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor(w), 5, replacement=False)


def test_sampler_argument_errors_like_torch():
    for make in (lambda m: m.RandomSampler(range(3), num_samples=0),
                 lambda m: m.BatchSampler(range(3), 0, False),
                 lambda m: m.BatchSampler(range(3), 2, "no"),
                 lambda m: m.WeightedRandomSampler([1.0], 0)):
        with pytest.raises(ValueError):
            make(tud)
        with pytest.raises(ValueError):
            make(clnet.data)
    with pytest.raises(TypeError):
        RandomSampler(range(3), replacement=1)


def test_dataloader_takes_a_sampler_and_a_batch_sampler():
    x = clnet.arange(10.0).reshape(10, 1)
    ds = TensorDataset(x)
    got = [b[0].numpy().ravel().tolist() for b in
           DataLoader(ds, batch_size=4, sampler=SubsetRandomSampler([1, 3, 5], generator=0))]
    assert sorted(sum(got, [])) == [1.0, 3.0, 5.0]
    got = [b[0].numpy().ravel().tolist() for b in
           DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, True))]
    assert got == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]


def test_torch_module_path():
    from clnet.utils.data.sampler import RandomSampler as R
    assert R is RandomSampler
