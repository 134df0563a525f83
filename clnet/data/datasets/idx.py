"""MNIST, Fashion-MNIST, KMNIST and EMNIST from their standard IDX files, found on disk.

Files are looked for (``.gz`` or uncompressed) in, in order:
  1. ``root`` when given: ``root/``, ``root/<name>/``, ``root/<TorchvisionName>/raw/``;
  2. ``$CLNET_DATA`` and 3. ``~/.cache/clnet/datasets``: ``<dir>/<name>/`` and
     ``<dir>/<TorchvisionName>/raw/`` (the layout torchvision's ``download=True`` leaves);
  4. the system data folder ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist``
     package installs train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
     t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz under
     /usr/share/datasets/fashion-mnist).
``download=True`` fetches missing files into ``root/<name>`` (or the first of ``$CLNET_DATA``,
``~/.cache/clnet/datasets``) from the usual mirrors and checks their MD5 (see download.py).

Images are kept as uint8 (N, 1, 28, 28) and served as float32 in [0, 1]; labels are int64.
EMNIST images are served as stored in the IDX files (transposed relative to MNIST, as
torchvision leaves them too); pass ``transform=Lambda(lambda x: x.transpose(0, 2, 1))`` to
turn them upright.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple
import gzip
import os

import numpy as np

from ..download import DatasetNotFoundError, download_resources
from .base import ArrayDataset, check_split

if TYPE_CHECKING:
    from ...types import PathLike

SYSTEM_DATA_DIR = "/usr/share/datasets"

# IDX type codes (the third byte of the magic number) -> big-endian numpy dtypes
_IDX_TYPES: Dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into a numpy array of its stored shape and type."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'})")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) but "
                         f"the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in .gz)."""
    a = np.asarray(array)
    code = {v.newbyteorder("="): k for k, v in _IDX_TYPES.items()}.get(a.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"write_idx: dtype {a.dtype} has no IDX type code")
    data = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
            + a.astype(_IDX_TYPES[code]).tobytes())
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


class _IdxSpec:
    def __init__(self, name: str, folders: Sequence[str], mirrors: Sequence[str],
                 checksums: Dict[str, str], num_classes: Optional[int], file_prefix: str = "",
                 archive: Optional[Tuple[str, str, str]] = None) -> None:
        self.name = name                 # clnet's name, also the system data folder's name
        self.folders = folders           # sub-folder names used by other tools, first = ours
        self.mirrors = mirrors
        self.checksums = checksums       # file name (.gz) -> "md5:..." as published
        self.num_classes = num_classes
        self.file_prefix = file_prefix
        self.archive = archive           # (file name, checksum, folder inside) for EMNIST's zip


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

SPECS = {
    "mnist": _IdxSpec(
        "mnist", ["mnist", "MNIST"],
        ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        dict(zip((f + ".gz" for f in _MNIST_FILES),
                 ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", "md5:d53e105ee54ea40749a09fcbcd1e9432",
                  "md5:9fb629c4189551a2d022fa330f9573f3", "md5:ec29112dd5afa0611ce80d1b7f02629c"))),
        10),
    "fashion-mnist": _IdxSpec(
        "fashion-mnist", ["fashion-mnist", "FashionMNIST", "fashion_mnist"],
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
        dict(zip((f + ".gz" for f in _MNIST_FILES),
                 ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d", "md5:25c81989df183df01b3e8a0aad5dffbe",
                  "md5:bef4ecab320f06d8554ea6380940ec79", "md5:bb300cfdad3c16e7a12a480ee83cd310"))),
        10),
    "kmnist": _IdxSpec(
        "kmnist", ["kmnist", "KMNIST"], ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
        dict(zip((f + ".gz" for f in _MNIST_FILES),
                 ("md5:bdb82020997e1d708af4cf47b453dcf7", "md5:e144d726b3acfaa3e44228e80efcd344",
                  "md5:5c965bf0a639b31b8f53240b1b52f4d7", "md5:7320c461ea6c1c855c0b718fb2a4b134"))),
        10),
    "emnist": _IdxSpec(
        "emnist", ["emnist", "EMNIST"], ["https://biometrics.nist.gov/cs_links/EMNIST/"], {},
        None, archive=("gzip.zip", "md5:58c8d27c78d21e728a6bc7b3cc06412e", "gzip")),
}

EMNIST_SPLITS = {"byclass": 62, "bymerge": 47, "balanced": 47, "letters": 26, "digits": 10,
                 "mnist": 10}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def search_dirs(spec: _IdxSpec, root: Optional[PathLike] = None) -> List[str]:
    """The folders looked in for ``spec``'s files, in order (existing or not)."""
    dirs = []
    if root is not None:
        root = os.path.expanduser(str(root))
        dirs.append(root)
    bases = ([root] if root is not None else []) + [
        b for b in (os.environ.get("CLNET_DATA"),
                    os.path.join(os.path.expanduser("~"), ".cache", "clnet", "datasets")) if b]
    for base in bases:
        for folder in spec.folders:
            dirs.append(os.path.join(base, folder))
        for folder in spec.folders[1:2]:          # torchvision: <Name>/raw/
            dirs.append(os.path.join(base, folder, "raw"))
    dirs.append(os.path.join(SYSTEM_DATA_DIR, spec.name))
    seen, out = set(), []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def default_download_dir(spec: _IdxSpec, root: Optional[PathLike] = None) -> str:
    if root is not None:
        return os.path.join(os.path.expanduser(str(root)), spec.name)
    base = os.environ.get("CLNET_DATA") or os.path.join(os.path.expanduser("~"), ".cache",
                                                         "clnet", "datasets")
    return os.path.join(base, spec.name)


def _find_in(folder, stems):
    """Paths of every stem (raw preferred over .gz) in ``folder``, or None if any is missing."""
    found = []
    for stem in stems:
        for candidate in (stem, stem + ".gz"):
            p = os.path.join(folder, candidate)
            if os.path.isfile(p):
                found.append(p)
                break
        else:
            return None
    return found


def find_files(spec: _IdxSpec, stems: Sequence[str],
               root: Optional[PathLike] = None) -> List[str]:
    """The first folder holding all ``stems``; raises DatasetNotFoundError listing the folders."""
    dirs = search_dirs(spec, root)
    for d in dirs:
        paths = _find_in(d, stems)
        if paths is not None:
            return paths
    raise DatasetNotFoundError(spec.name, [s + "(.gz)" for s in stems], dirs,
                               default_download_dir(spec, root),
                               debian_package="dataset-fashion-mnist"
                               if spec.name == "fashion-mnist" else None)


class IdxDataset(ArrayDataset):
    """One split of an IDX image dataset; see the module docstring for where files are found."""

    def __init__(self, name: str, split: str = "train", root: Optional[PathLike] = None,
                 transform: Optional[Callable[[Any], Any]] = None,
                 target_transform: Optional[Callable[[Any], Any]] = None, download: bool = False,
                 mirrors: Optional[Sequence[str]] = None,
                 checksums: Optional[Dict[str, str]] = None,
                 emnist_split: str = "balanced") -> None:
        if name not in SPECS:
            raise ValueError(f"unknown IDX dataset {name!r}; expected one of {sorted(SPECS)}")
        spec = SPECS[name]
        check_split(name, split, ("train", "test"))
        prefix = "train" if split == "train" else "t10k"
        if name == "emnist":
            if emnist_split not in EMNIST_SPLITS:
                raise ValueError(f"emnist: unknown emnist_split {emnist_split!r}; expected one "
                                 f"of {sorted(EMNIST_SPLITS)}")
            part = "train" if split == "train" else "test"
            stems = [f"emnist-{emnist_split}-{part}-images-idx3-ubyte",
                     f"emnist-{emnist_split}-{part}-labels-idx1-ubyte"]
            self.num_classes = EMNIST_SPLITS[emnist_split]
        else:
            stems = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
            assert spec.num_classes is not None   # only EMNIST's depends on the split
            self.num_classes = spec.num_classes
        try:
            images_path, labels_path = find_files(spec, stems, root)
        except DatasetNotFoundError:
            if not download:
                raise
            target = default_download_dir(spec, root)
            download_resources(spec, [s + ".gz" for s in stems], target, mirrors=mirrors,
                               checksums=checksums)
            images_path, labels_path = find_files(spec, stems, root)
        images = read_idx(images_path)
        labels = read_idx(labels_path).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{name}: expected images (N, H, W) and labels (N,), got "
                             f"{images.shape} in {images_path} and {labels.shape} in "
                             f"{labels_path}")
        if name == "emnist" and emnist_split == "letters":
            labels = labels - 1              # letters are labelled 1..26 in the files
        super().__init__(images[:, None, :, :], labels, transform, target_transform)
        self.name, self.split, self.files = name, split, (images_path, labels_path)
        if name == "fashion-mnist":
            self.classes = FASHION_CLASSES

    def _convert(self, x):
        return x.astype(np.float32) * np.float32(1.0 / 255.0)


def MNIST(split: str = "train", root: Optional[PathLike] = None, **kwargs: Any) -> IdxDataset:
    return IdxDataset("mnist", split, root, **kwargs)


def FashionMNIST(split: str = "train", root: Optional[PathLike] = None,
                 **kwargs: Any) -> IdxDataset:
    return IdxDataset("fashion-mnist", split, root, **kwargs)


def KMNIST(split: str = "train", root: Optional[PathLike] = None, **kwargs: Any) -> IdxDataset:
    return IdxDataset("kmnist", split, root, **kwargs)


def EMNIST(split: str = "train", root: Optional[PathLike] = None, emnist_split: str = "balanced",
           **kwargs: Any) -> IdxDataset:
    return IdxDataset("emnist", split, root, emnist_split=emnist_split, **kwargs)
