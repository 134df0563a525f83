"""Stand-ins for what the corpus programs take from torchvision (not installed here) and from
the internet (datasets): the same shapes and types, built from data shipped with clnet.

Imported afresh by every run (the harness drops it after), so ``torch`` below is whichever
backend the run uses. Each program marks where it uses these with ``# clnet-port:``.

- ``datasets.MNIST`` / ``FashionMNIST``: scikit-learn's 8x8 handwritten digits (1,797 real
  images, shipped with clnet) scaled 3x and padded to 28x28 uint8: real, learnable images of
  MNIST's shape. ``train=True`` gives the first 1,500, ``train=False`` the other 297.
- ``datasets.CIFAR10``: the same digits scaled 4x to 32x32, as RGB with a per-class tint, uint8
  HWC like CIFAR's PIL images.
- ``transforms``: ``Compose``, ``ToTensor``, ``Normalize``, ``Lambda``, ``Resize`` (nearest),
  ``CenterCrop``, ``Pad``, ``RandomHorizontalFlip``, ``RandomCrop``, with torchvision's
  arguments and meaning for what the corpus uses.
- ``utils.save_image``: writes the tensor's values to a ``.npy`` file (torchvision writes PNG).
- ``names_by_language``: synthetic names for the char-RNN tutorials (they download real ones).
"""
import types

import numpy as np
import torch
from clnet.data.datasets.digits import load_digits_arrays


def _digits():
    pixels, labels = load_digits_arrays()  # clnet's copy of scikit-learn's digits
    return (pixels / 16.0).astype(np.float32).reshape(-1, 8, 8), labels


def _as_uint8(images):
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


class _ImageDataset:
    def __init__(self, images, targets, transform=None, target_transform=None):
        self.data, self.targets = images, targets
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


def _split(n, train):
    return slice(0, 1500) if train else slice(1500, n)


class MNIST(_ImageDataset):
    """28x28 grey digits, uint8 HxW (torchvision hands PIL 'L' images to the transform)."""
    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None):
        images, targets = _digits()
        big = np.kron(images, np.ones((3, 3), np.float32))  # 24x24
        big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
        sel = _split(len(targets), train)
        super().__init__(_as_uint8(big[sel]), targets[sel], transform, target_transform)


FashionMNIST = MNIST


class CIFAR10(_ImageDataset):
    """32x32 RGB digits with a per-class tint, uint8 HxWxC like CIFAR's PIL images."""
    classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None):
        images, targets = _digits()
        big = np.kron(images, np.ones((4, 4), np.float32))  # 32x32
        tint = np.random.default_rng(0).uniform(0.4, 1.0, size=(10, 3)).astype(np.float32)
        rgb = big[..., None] * tint[targets][:, None, None, :]
        sel = _split(len(targets), train)
        super().__init__(_as_uint8(rgb[sel]), targets[sel], transform, target_transform)


# ---- transforms (torchvision.transforms' meaning, on numpy HxW / HxWxC uint8 or CxHxW tensors)

class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, img):
        a = np.asarray(img, dtype=np.float32) / 255.0
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(a))


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return (t - mean) / std


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


def _hw(size):
    return (size, size) if isinstance(size, int) else tuple(size)


class Resize:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        a = np.asarray(img)
        h, w = _hw(self.size)
        rows = (np.arange(h) * a.shape[0] // h)
        cols = (np.arange(w) * a.shape[1] // w)
        return a[rows][:, cols]


class CenterCrop:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        a = np.asarray(img)
        h, w = _hw(self.size)
        top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
        return a[top:top + h, left:left + w]


class Pad:
    def __init__(self, padding):
        self.padding = padding

    def __call__(self, img):
        a = np.asarray(img)
        p = self.padding
        return np.pad(a, ((p, p), (p, p)) + ((0, 0),) * (a.ndim - 2))


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        a = np.asarray(img)
        return a[:, ::-1] if np.random.random() < self.p else a


class RandomCrop:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        a = np.asarray(img)
        h, w = _hw(self.size)
        top = np.random.randint(0, a.shape[0] - h + 1)
        left = np.random.randint(0, a.shape[1] - w + 1)
        return a[top:top + h, left:left + w]


def save_image(tensor, fp, nrow=8, **kwargs):
    np.save(str(fp) + ".npy", tensor.detach().cpu().numpy())


datasets = types.SimpleNamespace(MNIST=MNIST, FashionMNIST=FashionMNIST, CIFAR10=CIFAR10)
transforms = types.SimpleNamespace(
    Compose=Compose, ToTensor=ToTensor, Normalize=Normalize, Lambda=Lambda, Resize=Resize,
    CenterCrop=CenterCrop, Pad=Pad, RandomHorizontalFlip=RandomHorizontalFlip,
    RandomCrop=RandomCrop)
utils = types.SimpleNamespace(save_image=save_image)


def names_by_language(per_language=50, seed=0):
    """{language: [names]}: each language has its own syllables and endings, so a character
    model has something to learn (the tutorials read data/names/<Language>.txt)."""
    import random
    rng = random.Random(seed)
    styles = {
        'Italian': (['ro', 'ma', 'ti', 'no', 'ca', 'lo', 'ri', 've'], ['o', 'i', 'ini', 'etti']),
        'Japanese': (['ka', 'ta', 'shi', 'mo', 'to', 'ya', 'na', 'ku'], ['moto', 'mura', 'da']),
        'Russian': (['vo', 'lo', 'ze', 'ro', 'pa', 'ga', 'ba', 'dy'], ['ov', 'ev', 'sky', 'in']),
        'Irish': (['ken', 'nel', 'don', 'gan', 'ly', 'van', 'mul', 'hor'], ['an', 'y', 'el']),
    }
    out = {}
    for language, (syllables, endings) in styles.items():
        names = []
        for _ in range(per_language):
            stem = ''.join(rng.choice(syllables) for _ in range(rng.randint(1, 2)))
            name = (stem + rng.choice(endings)).capitalize()
            if language == 'Irish' and rng.random() < 0.5:
                name = rng.choice(["O'", 'Mc']) + name
            names.append(name)
        out[language] = names
    return out
