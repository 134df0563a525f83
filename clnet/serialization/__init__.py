"""``clnet.save`` / ``clnet.load``: ``torch.save`` / ``torch.load`` without torch.

``save`` writes PyTorch's zip format (``pickler``), so ``torch.load`` reads a clnet file of
tensors; ``load`` reads PyTorch's zip and legacy formats (``torch_zip``) through an allow-list
unpickler unless ``weights_only=False`` (``unpickler``, ``torch_names``, ``safe_globals``), and
clnet's own checkpoint format, which ``save_safetensors`` writes and the trainer uses: a file
that holds no pickle at all.

clnet's checkpoint format (readable by the ``safetensors`` package):

    8 bytes      little-endian u64 N, the header length
    N bytes      JSON header (UTF-8, compact, space-padded to a multiple of 8):
                   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                    ...,
                    "__metadata__": {"format": "clnet", "version": "2", "crc32": "<8 hex>",
                                     "structure": "<JSON>"}}
    data         each tensor's elements, C order, little-endian, back to back

``structure`` is the saved object as JSON, with every tensor replaced by a reference to its
entry: nested dicts (any JSON-able keys, e.g. the int keys of optimizer state), OrderedDicts,
lists, tuples, numbers, strings, bools and None round-trip with their types and order. Loading
parses JSON and copies bytes: nothing in a file can make it run code. A safetensors file
written by another tool (no ``structure``) loads as a dict of its tensors.

``crc32`` is the CRC-32 (zlib's) of the whole file as written with those 8 digits read as
``00000000``: a flipped bit anywhere, in the data or in the header, fails the load. Version 1
files (written before the checksum) and other tools' safetensors files have none; they still
load, with every other check.

``load`` trusts nothing in a file: see its docstring for what it checks. Every fault is a
``clnet.CheckpointError`` naming the file and the fault.
"""
from . import host_pickle  # noqa: F401 (installs Tensor's pickle and deepcopy protocols)
from .layout import FORMAT_VERSION  # noqa: F401
from .reader import load
from .safe_globals import (add_safe_globals, clear_safe_globals, get_safe_globals,
                           safe_globals)
from .writer import fsync_dir, save, save_safetensors  # noqa: F401 (fsync_dir: the trainer's)

__all__ = ["save", "load", "save_safetensors", "add_safe_globals", "clear_safe_globals",
           "get_safe_globals", "safe_globals"]
