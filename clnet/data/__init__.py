"""clnet.data: datasets and the DataLoader (PyTorch's ``torch.utils.data`` names), host-side
transforms, and built-in real datasets that need no download at run time.

    from clnet.data import DataLoader, get_dataset
    train = get_dataset("digits", "train")
    for x, y in DataLoader(train, batch_size=64, shuffle=True, generator=0):
        ...   # x: float32 (64, 1, 8, 8) and y: int64 (64,) clnet tensors
"""
from . import transforms
from .collate import default_collate, to_device
from .dataloader import DataLoader
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .dataset import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                      random_split)
from .datasets import (EMNIST, KMNIST, MNIST, CharText, CsvDataset, Digits, FashionMNIST,
                       IdxDataset, NpzDataset, Synthetic, dataset_names, get_dataset,
                       register_dataset)
from .download import DatasetNotFoundError, DownloadError

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split", "DataLoader", "DistributedSampler", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "default_collate", "to_device", "transforms",
           "get_dataset", "dataset_names", "register_dataset", "Digits", "IdxDataset", "MNIST",
           "FashionMNIST", "KMNIST", "EMNIST", "CharText", "NpzDataset", "CsvDataset",
           "Synthetic", "DatasetNotFoundError", "DownloadError"]
