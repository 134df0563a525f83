"""Writing PyTorch's file formats: ``clnet.save``'s zip format (``torch.save``'s default) and
the legacy pickle format (``_use_new_zipfile_serialization=False``).

Objects are pickled as ``torch.save`` pickles them, so ``torch.load(path, weights_only=True)``
reads a clnet file: a tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, OrderedDict())`` with its storage a persistent id ``("storage",
torch.FloatStorage, key, "cpu", numel)`` whose bytes are the record ``data/<key>`` (the whole
storage, once, however many views of it are saved, as PyTorch does); a Parameter is
``torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict())``; a clnet dtype is
``torch.<name>``, a ``clnet.Size`` ``torch.Size`` and a device ``torch.device(<name>)``.
Everything else (modules, numpy arrays, your classes) is pickled by Python's pickle, naming
clnet's classes: only ``clnet.load(..., weights_only=False)`` (or an allow-list) reads those.

The pickler is Python's own (``pickle._Pickler``): its dispatch table can write the
``torch.*`` globals without torch installed.
"""
import io
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np

from .. import dtypes
from ..backend.devices import Device
from ..tensor import Size, Tensor
from .torch_names import SAVE_SPECS

DEFAULT_PROTOCOL = 2            # torch.save's
MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001
ALIGNMENT = 64                  # storages start 64-byte aligned in the zip, as torch writes them
ARCHIVE = "archive"


class TorchGlobal:
    """A global of PyTorch's (``torch._utils._rebuild_tensor_v2``...) written by name, so
    the file names it without torch installed."""

    _cache = {}
    __slots__ = ("module", "name")

    def __new__(cls, module, name):
        key = (module, name)
        obj = cls._cache.get(key)
        if obj is None:
            obj = object.__new__(cls)
            obj.module, obj.name = module, name
            cls._cache[key] = obj
        return obj

    def __call__(self, *args):
        # pickle's save_reduce asks for a callable; this one only stands for a name in a file
        raise TypeError(f"{self.module}.{self.name} is PyTorch's, named in a file clnet writes; "
                        "clnet does not call it")


_REBUILD_TENSOR = TorchGlobal("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = TorchGlobal("torch._utils", "_rebuild_parameter")
_SIZE = TorchGlobal("torch", "Size")
_DEVICE = TorchGlobal("torch", "device")


class _Storages:
    """The storages of the saved tensors, keyed "0", "1"... in order of first use."""

    def __init__(self):
        self.by_id = {}        # id(storage) -> (key, storage, dtype)

    def record(self, t):
        entry = self.by_id.get(id(t._storage))
        if entry is None:
            entry = (str(len(self.by_id)), t._storage, t.dtype)
            self.by_id[id(t._storage)] = entry
        elif entry[2] is not t.dtype:
            raise RuntimeError("Cannot save multiple tensors or storages that view the same "
                               "data as different types")
        return entry

    def items(self):
        return [entry for entry in self.by_id.values()]


def storage_bytes(storage, dt):
    """The whole storage's bytes, little-endian (a host round trip)."""
    n = storage.nbytes // dt.itemsize
    host = Tensor._make(storage, (n,), (1,), 0, dt)._host_array()   # bfloat16: its bits
    return np.ascontiguousarray(host, dtype=host.dtype.newbyteorder("<")).view(np.uint8)


class _StorageRef:
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key, dt, numel):
        self.key, self.dtype, self.numel = key, dt, numel


class TorchPickler(pickle._Pickler):
    """Pickles clnet tensors, dtypes, sizes and devices as ``torch.save`` does (see the
    module docstring); ``legacy``: the storage records of the legacy format."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, protocol, storages, legacy=False):
        super().__init__(file, protocol)
        self.storages, self.legacy = storages, legacy
        self.refs = {}

    def persistent_id(self, obj):
        if type(obj) is not _StorageRef:
            return None
        spec = SAVE_SPECS[obj.dtype]
        pid = ("storage", TorchGlobal("torch", spec.storage), obj.key, "cpu", obj.numel)
        return pid + (None,) if self.legacy else pid

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            if type(obj) is not Tensor:       # a Parameter
                return (_REBUILD_PARAMETER, (obj.detach(), bool(obj.requires_grad),
                                             _ordered_dict()))
            if obj.dtype not in SAVE_SPECS:
                raise pickle.PicklingError(f"clnet.save: a tensor of dtype {obj.dtype} has no "
                                           "torch storage type")
            key, storage, dt = self.storages.record(obj)
            ref = self.refs.get(key)
            if ref is None:
                ref = self.refs[key] = _StorageRef(key, dt, storage.nbytes // dt.itemsize)
            return (_REBUILD_TENSOR, (ref, obj._offset, tuple(obj._shape), tuple(obj._stride),
                                      bool(obj.requires_grad), _ordered_dict()))
        if type(obj) is Size:
            return (_SIZE, (tuple(obj),))
        if isinstance(obj, Device):
            return (_DEVICE, (str(obj),))
        return NotImplemented

    def save_torch_global(self, obj):
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + obj.module.encode() + b"\n" + obj.name.encode() + b"\n")
        self.memoize(obj)
    dispatch[TorchGlobal] = save_torch_global

    def save_dtype(self, obj):
        self.save_torch_global(TorchGlobal("torch", obj.name))
    dispatch[dtypes.dtype] = save_dtype


def _ordered_dict():
    """The empty backward-hooks dict PyTorch writes with every tensor."""
    return OrderedDict()


def _dump(obj, file, protocol, legacy=False):
    storages = _Storages()
    TorchPickler(file, protocol, storages, legacy).dump(obj)
    return storages


def _aligned(zf, name, nbytes):
    """A ZipInfo for ``name`` whose data starts ALIGNMENT-aligned (padding in an extra field,
    as PyTorch's writer does), so ``torch.load(mmap=True)`` can map it."""
    zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    at = getattr(zf, "start_dir", None)
    if at is not None:
        zip64 = 20 if nbytes * 1.05 > zipfile.ZIP64_LIMIT else 0
        start = at + 30 + len(name.encode()) + 4 + zip64
        pad = -start % ALIGNMENT
        zi.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    return zi


def save_zip(obj, out, protocol, byteorder_record=True):
    """``obj`` in torch.save's zip format, written to the binary file object ``out``."""
    data = io.BytesIO()
    storages = _dump(obj, data, protocol)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        records = [("data.pkl", data.getvalue()), (".format_version", b"1"),
                   (".storage_alignment", str(ALIGNMENT).encode())]
        if byteorder_record:
            records.append(("byteorder", sys.byteorder.encode()))
        for name, value in records:
            zf.writestr(_aligned(zf, f"{ARCHIVE}/{name}", len(value)), value)
        for key, storage, dt in storages.items():
            raw = storage_bytes(storage, dt)
            zf.writestr(_aligned(zf, f"{ARCHIVE}/data/{key}", raw.nbytes), memoryview(raw))
        zf.writestr(_aligned(zf, f"{ARCHIVE}/version", 2), b"3\n")


def save_legacy(obj, out, protocol):
    """``obj`` in torch.save's legacy format (``_use_new_zipfile_serialization=False``)."""
    for value in (MAGIC_NUMBER, PROTOCOL_VERSION,
                  {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                   "type_sizes": {"short": struct.calcsize("=h"), "int": struct.calcsize("=i"),
                                  "long": struct.calcsize("=l")}}):
        pickle.dump(value, out, protocol=protocol)
    storages = _dump(obj, out, protocol, legacy=True)
    entries = sorted(storages.items(), key=lambda e: e[0])
    pickle.dump([key for key, _, _ in entries], out, protocol=protocol)
    for key, storage, dt in entries:
        out.write(struct.pack("<q", storage.nbytes // dt.itemsize))
        out.write(memoryview(storage_bytes(storage, dt)))
