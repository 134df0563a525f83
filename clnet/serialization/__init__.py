"""``clnet.save`` / ``clnet.load``: checkpoints in the safetensors layout, with no pickle.

File layout (readable by the ``safetensors`` package):

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
from .layout import FORMAT_VERSION  # noqa: F401
from .reader import load
from .writer import fsync_dir, save  # noqa: F401 (fsync_dir: the trainer's checkpoints)

__all__ = ["save", "load"]
