"""``clnet.save`` / ``clnet.load``: checkpoints in the safetensors layout, with no pickle.

File layout (readable by the ``safetensors`` package):

    8 bytes      little-endian u64 N, the header length
    N bytes      JSON header (UTF-8, space-padded to a multiple of 8):
                   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                    ...,
                    "__metadata__": {"format": "clnet", "version": "1", "structure": "<JSON>"}}
    data         each tensor's elements, C order, little-endian, back to back

``structure`` is the saved object as JSON, with every tensor replaced by a reference to its
entry: nested dicts (any JSON-able keys, e.g. the int keys of optimizer state), OrderedDicts,
lists, tuples, numbers, strings, bools and None round-trip with their types and order. Loading
parses JSON and copies bytes: nothing in a file can make it run code. A safetensors file
written by another tool (no ``structure``) loads as a dict of its tensors.
"""
import json
import math
import os
import struct
import tempfile
from collections import OrderedDict

import numpy as np

from . import dtypes
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT_VERSION = "1"
_MAX_HEADER = 100 * 1024 * 1024    # the limit the safetensors package enforces too
_DTYPE_CODES = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "bool": "BOOL"}
_CODE_DTYPES = {code: getattr(dtypes, {"bool": "bool_"}.get(name, name))
                for name, code in _DTYPE_CODES.items()}


# ------------------------------------------------------------------ object <-> JSON structure
class _Encoder:
    """Turns the object into JSON-able structure and collects its tensors (each object once)."""

    def __init__(self):
        self.tensors = OrderedDict()   # name -> Tensor
        self.by_id = {}                # id(tensor) -> name, so a shared tensor is stored once

    def _name(self, path):
        base = "/".join(path) or "tensor"
        name, n = base, 1
        while name in self.tensors or name == "__metadata__":
            name, n = f"{base}#{n}", n + 1
        return name

    def encode(self, obj, path=()):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            name = self.by_id.get(id(obj))
            if name is None:
                name = self._name(path)
                self.tensors[name] = obj
                self.by_id[id(obj)] = name
            ref = {"tensor": name}
            if type(obj) is not Tensor:    # an nn.Parameter comes back as one
                ref["parameter"] = bool(obj.requires_grad)
            return ref
        if isinstance(obj, dict):
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {kind: [[self.encode_key(k, path), self.encode(v, path + (str(k),))]
                           for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]}
        if isinstance(obj, dtypes.dtype):
            return {"dtype": obj.name}
        where = "/".join(path) or "<root>"
        raise TypeError(f"clnet.save: cannot save an object of type {type(obj).__name__} at "
                        f"{where}; checkpoints hold tensors, numbers, strings, bools, None and "
                        "dicts/lists/tuples of them")

    def encode_key(self, key, path):
        if isinstance(key, Tensor) or isinstance(key, (dict, list)):
            raise TypeError(f"clnet.save: dict key {key!r} at {'/'.join(path) or '<root>'} "
                            "is not a number, string, bool, None or tuple of them")
        return self.encode(key, path)


def _decode(node, tensors, where):
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, dict) and "tensor" in node:
        name = node["tensor"]
        if name not in tensors:
            raise ValueError(f"{where}: the structure refers to tensor {name!r}, which the "
                             "header does not list")
        if "parameter" not in node:
            return tensors[name]
        key = ("parameter", name)    # a Parameter referenced twice comes back as one object
        if key not in tensors:
            from .nn.parameter import Parameter
            tensors[key] = Parameter(tensors[name], requires_grad=bool(node["parameter"]))
        return tensors[key]
    if isinstance(node, dict) and len(node) == 1:
        (kind, items), = node.items()
        if kind in ("dict", "odict"):
            out = OrderedDict() if kind == "odict" else {}
            for k, v in items:
                out[_hashable(_decode(k, tensors, where))] = _decode(v, tensors, where)
            return out
        if kind == "list":
            return [_decode(v, tensors, where) for v in items]
        if kind == "tuple":
            return tuple(_decode(v, tensors, where) for v in items)
        if kind == "float":
            return float(items)
        if kind == "dtype":
            return dtypes.to_dtype(items)
    raise ValueError(f"{where}: unrecognised entry in the checkpoint structure: {node!r:.200}")


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


# ------------------------------------------------------------------ save
def _header_bytes(enc, structure):
    header = OrderedDict()
    offset = 0
    for name, t in enc.tensors.items():
        code = _DTYPE_CODES.get(t.dtype.name)
        if code is None:
            raise TypeError(f"clnet.save: tensor {name!r} has dtype {t.dtype}, which the "
                            "checkpoint format does not store")
        nbytes = t.numel() * t.dtype.itemsize
        header[name] = {"dtype": code, "shape": list(t._shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "clnet", "version": FORMAT_VERSION,
                              "structure": json.dumps(structure, separators=(",", ":"),
                                                      allow_nan=False)}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(len(raw) + 8) % 8)    # the data starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _write(f, enc, structure):
    f.write(_header_bytes(enc, structure))
    for t in enc.tensors.values():
        if t.numel():
            host = t.numpy()     # contiguous copy of any view (a host round trip per tensor)
            f.write(np.ascontiguousarray(host, dtype=host.dtype.newbyteorder("<")).tobytes())


def fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return   # platforms without directory handles (Windows): the rename is all we get
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` (nested dicts/lists/tuples of tensors, numbers, strings, bools, None) to a
    path or a binary file object. A path is written atomically: a temporary file in the same
    folder, flushed and fsync'ed, then renamed over the target, and the folder fsync'ed; a crash
    leaves either the old file or the new one, never a torn one."""
    if pickle_module is not None:
        raise TypeError("clnet.save does not use pickle; drop pickle_module")
    enc = _Encoder()
    structure = enc.encode(obj)
    if hasattr(f, "write"):
        _write(f, enc, structure)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            _write(out, enc, structure)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


# ------------------------------------------------------------------ load
def _read_all(f):
    if hasattr(f, "read"):
        return f.read(), getattr(f, "name", "<file object>")
    path = os.fspath(f)
    with open(path, "rb") as fh:
        return fh.read(), path


def _parse_header(buf, where):
    if len(buf) < 8:
        raise ValueError(f"{where}: file is {len(buf)} bytes, too short for a checkpoint "
                         "(truncated, or not a clnet/safetensors file)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8 or n > _MAX_HEADER:
        if buf[:4] == b"PK\x03\x04" or buf[:2] == b"\x80\x02":
            raise ValueError(f"{where}: this is a PyTorch pickle/zip checkpoint, not a clnet one;"
                             " clnet does not unpickle (a pickle can run code). Convert it in "
                             "PyTorch with safetensors.torch.save_file(state_dict, path).")
        raise ValueError(f"{where}: header length {n} is beyond the file size {len(buf)} "
                         "(truncated, or not a clnet/safetensors file: bad magic)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{where}: header is not valid JSON ({e}); not a clnet/safetensors "
                         "checkpoint, or a corrupted one") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: header is not a JSON object; not a clnet/safetensors "
                         "checkpoint")
    return header, 8 + n


def _tensor_entries(header, data_len, where):
    """Validated (name, dtype, shape, begin, end) per tensor, in file order."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise ValueError(f"{where}: tensor {name!r} has a malformed header entry {info!r:.200}")
        dt = _CODE_DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{where}: tensor {name!r} has unknown or unsupported dtype "
                             f"{info['dtype']!r} (clnet reads {sorted(_CODE_DTYPES)})")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise ValueError(f"{where}: tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets)):
            raise ValueError(f"{where}: tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise ValueError(f"{where}: tensor {name!r} has data offsets [{begin}, {end}] outside"
                             f" the data section ({data_len} bytes): the file is truncated or "
                             "corrupted")
        numel = int(np.prod(shape, dtype=np.int64))
        if end - begin != numel * dt.itemsize:
            raise ValueError(f"{where}: tensor {name!r} of shape {shape} and dtype "
                             f"{info['dtype']} needs {numel * dt.itemsize} bytes but its offsets "
                             f"span {end - begin}")
        entries.append((name, dt, tuple(shape), begin, end))
    entries.sort(key=lambda e: e[3])
    return entries


def _target_device(map_location):
    from .backend.devices import Device, default_device, device
    if map_location is None:
        return default_device()
    if isinstance(map_location, (str, Device)):
        return device(map_location)
    raise TypeError(f"clnet.load: map_location must be None, a device or a device name, got "
                    f"{type(map_location).__name__}")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load what ``save`` wrote (or any safetensors file, as a dict of tensors) onto
    ``map_location`` (a device or name; None: the default device, whatever device the tensors
    were saved from). Only data is read: ``weights_only`` is accepted and always true."""
    if pickle_module is not None:
        raise TypeError("clnet.load does not use pickle; drop pickle_module")
    from .ops.copy import from_numpy_to
    dev = _target_device(map_location)
    buf, where = _read_all(f)
    header, data_start = _parse_header(buf, where)
    data = memoryview(buf)[data_start:]
    tensors = {}
    for name, dt, shape, begin, end in _tensor_entries(header, len(data), where):
        host = np.frombuffer(data[begin:end], dtype=np.dtype(dt.np).newbyteorder("<"))
        host = host.reshape(shape).astype(dt.np, copy=False)
        tensors[name] = from_numpy_to(host, dev, dt)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or "structure" not in meta:
        return OrderedDict(tensors)    # a plain safetensors file
    if meta.get("format") != "clnet" or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{where}: checkpoint format {meta.get('format')!r} version "
                         f"{meta.get('version')!r} is not one this clnet reads (clnet, "
                         f"{FORMAT_VERSION})")
    try:
        structure = json.loads(meta["structure"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: the structure in __metadata__ is not valid JSON ({e})") from None
    return _decode(structure, tensors, where)
