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
import io
import itertools
import json
import math
import os
import re
import stat
import struct
import tempfile
import zlib
from collections import OrderedDict

import numpy as np

from . import dtypes
from .errors import CheckpointError
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT_VERSION = "2"
_READ_VERSIONS = ("1", "2")          # "1": before the checksum
_MAX_HEADER = 100 * 1024 * 1024      # the limit the safetensors package enforces too
_MAX_DEPTH = 100                     # containers below the root: save writes, load reads
_MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32      # numpy's limit
_MAX_NBYTES = 2 ** 62                # numpy's bound on the extent of a shape, even an empty one
_CHUNK = 16 * 1024 * 1024            # reads and checksums go this many bytes at a time
_CRC_KEY = "crc32"
_CRC_ZERO = b"00000000"
_CRC_DIGITS = re.compile(r"[0-9a-f]{8}")
_DTYPE_CODES = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "bool": "BOOL"}
_CODE_DTYPES = {code: getattr(dtypes, {"bool": "bool_"}.get(name, name))
                for name, code in _DTYPE_CODES.items()}
_NAMED_DTYPES = {d.name: d for d in dtypes.ALL}


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

    def encode(self, obj, path=(), depth=0):
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
        if isinstance(obj, (dict, list, tuple)) and depth > _MAX_DEPTH:
            where = "/".join(path)
            raise ValueError(f"clnet.save: the object is nested deeper than {_MAX_DEPTH} levels "
                             f"at {where[:200]}; clnet.load reads at most {_MAX_DEPTH}")
        if isinstance(obj, dict):
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {kind: [[self.encode_key(k, path, depth + 1),
                            self.encode(v, path + (str(k),), depth + 1)]
                           for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.encode(v, path + (str(i),), depth + 1)
                           for i, v in enumerate(obj)]}
        if isinstance(obj, dtypes.dtype):
            return {"dtype": obj.name}
        where = "/".join(path) or "<root>"
        raise TypeError(f"clnet.save: cannot save an object of type {type(obj).__name__} at "
                        f"{where}; checkpoints hold tensors, numbers, strings, bools, None and "
                        "dicts/lists/tuples of them")

    def encode_key(self, key, path, depth):
        if isinstance(key, Tensor) or isinstance(key, (dict, list)):
            raise TypeError(f"clnet.save: dict key {key!r} at {'/'.join(path) or '<root>'} "
                            "is not a number, string, bool, None or tuple of them")
        return self.encode(key, path, depth)


def _brief(value, depth=2):
    """A short repr of a JSON value from a file, at bounded cost however big or deep it is."""
    if isinstance(value, (list, dict)):
        if depth == 0:
            return "[...]" if isinstance(value, list) else "{...}"
        if isinstance(value, list):
            items = [_brief(v, depth - 1) for v in value[:6]]
        else:
            items = [f"{_brief(k)}: {_brief(v, depth - 1)}"
                     for k, v in itertools.islice(value.items(), 6)]
        items += ["..."] if len(value) > 6 else []
        return ("[%s]" if isinstance(value, list) else "{%s}") % ", ".join(items)
    text = repr(value[:60] if isinstance(value, str) else value)
    return text if len(text) <= 60 else text[:60] + "..."


def _decode(node, get, fail, depth=0):
    """The object a JSON structure ``node`` stands for, checking every node: ``get(name,
    parameter)`` gives the tensor an entry refers to, ``fail(problem)`` the error to raise."""
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, dict) and "tensor" in node:
        name, parameter = node["tensor"], node.get("parameter")
        if isinstance(name, str) and node.keys() <= {"tensor", "parameter"} and \
                (parameter is None or isinstance(parameter, bool)):
            return get(name, parameter)
    elif isinstance(node, dict) and len(node) == 1:
        (kind, items), = node.items()
        if kind in ("dict", "odict", "list", "tuple") and isinstance(items, list):
            if depth > _MAX_DEPTH:
                raise fail(f"the structure is nested deeper than {_MAX_DEPTH} levels, more "
                           "than clnet.save writes")
            if kind == "list":
                return [_decode(v, get, fail, depth + 1) for v in items]
            if kind == "tuple":
                return tuple(_decode(v, get, fail, depth + 1) for v in items)
            if all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                out = OrderedDict() if kind == "odict" else {}
                for k, v in items:
                    key = _decode_key(k, get, fail, depth + 1)
                    if key in out:
                        raise fail(f"the structure lists dict key {_brief(key)} twice")
                    out[key] = _decode(v, get, fail, depth + 1)
                return out
        elif kind == "float" and items in ("inf", "-inf", "nan"):
            return float(items)
        elif kind == "dtype" and isinstance(items, str) and items in _NAMED_DTYPES:
            return _NAMED_DTYPES[items]
    raise fail(f"unrecognised entry in the checkpoint structure: {_brief(node)}")


def _decode_key(node, get, fail, depth):
    problem = f"{_brief(node)} cannot be a dict key (clnet.save writes none like it)"
    if isinstance(node, dict) and ("tensor" in node or node.keys() & {"dict", "odict", "list"}):
        raise fail(problem)
    key = _decode(node, get, fail, depth)
    try:
        hash(key)
    except TypeError:
        raise fail(problem) from None
    return key


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
                              _CRC_KEY: _CRC_ZERO.decode(),     # filled in once it is known
                              "structure": json.dumps(structure, separators=(",", ":"),
                                                      allow_nan=False)}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(len(raw) + 8) % 8)    # the data starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _host_bytes(t):
    host = t.numpy()         # contiguous copy of any view (a host round trip per tensor)
    host = np.ascontiguousarray(host, dtype=host.dtype.newbyteorder("<"))
    return host.reshape(-1).view(np.uint8)


def _write(out, enc, structure, digits=_CRC_ZERO):
    """Write the checkpoint to ``out`` (None: only checksum it) with ``digits`` as the
    checksum; return the checksum and the offset of its digits in the file."""
    head = _header_bytes(enc, structure)
    field = b'"%s":"%s"' % (_CRC_KEY.encode(), _CRC_ZERO)
    at = head.index(field) + len(field) - 9   # once: any other quote in the JSON is escaped
    crc = zlib.crc32(head)
    if out is not None:
        out.write(head[:at] + digits + head[at + 8:])
    for t in enc.tensors.values():
        if t.numel():
            data = _host_bytes(t)
            crc = zlib.crc32(data, crc)
            if out is not None:
                out.write(data.data)
    return crc, at


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
        # a stream cannot be patched afterwards: one pass for the checksum, one to write
        crc, _ = _write(None, enc, structure)
        _write(f, enc, structure, b"%08x" % crc)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            crc, at = _write(out, enc, structure)
            out.seek(at)
            out.write(b"%08x" % crc)
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
def _require_regular(mode, where):
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else
            "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "something else")
    raise CheckpointError(where, f"is {kind}, not a regular file: clnet.load reads checkpoint "
                                 "files only (a pipe or a device could block or never end)")


class _Reader:
    """The bytes of a checkpoint, read only as far as the checks need them, in bounded chunks:
    memory follows what the file holds, never what its header claims. A path is opened only if
    it is a regular file, so a named pipe never blocks and /dev/zero is never read."""

    def __init__(self, f):
        self.f, self.owned = f, False
        if hasattr(f, "read"):
            if isinstance(f, io.TextIOBase):
                raise TypeError("clnet.load needs a binary file object: open(path, 'rb')")
            name = getattr(f, "name", None)
            self.where = os.fsdecode(name) if isinstance(name, (str, bytes)) else \
                f"<{type(f).__name__}>"
            try:
                fd = f.fileno()
            except (AttributeError, OSError, ValueError):    # BytesIO and other streams
                fd = None
            if fd is not None:
                _require_regular(os.fstat(fd).st_mode, self.where)
            self.left = self._remaining(f)
            return
        path = os.fspath(f)
        self.where = os.fsdecode(path)
        _require_regular(os.stat(path).st_mode, self.where)  # (FileNotFoundError as torch's)
        # O_NONBLOCK: should the path become a FIFO between the two checks, open returns at once
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            st = os.fstat(fd)
            _require_regular(st.st_mode, self.where)
            self.f = os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise
        self.owned, self.left = True, st.st_size

    @staticmethod
    def _remaining(f):
        """Bytes from the position to the end of a seekable stream; None if it cannot say."""
        try:
            if not f.seekable():
                return None
            pos = f.tell()
            end = f.seek(0, os.SEEK_END)
            f.seek(pos)
            return max(end - pos, 0)
        except (AttributeError, OSError, ValueError):
            return None

    def close(self):
        if self.owned:
            self.f.close()

    def error(self, problem):
        return CheckpointError(self.where, problem)

    def read_upto(self, n):
        """Up to ``n`` bytes (fewer only at the end of the file)."""
        if self.left is not None:       # the size is known: n bytes are there (or were)
            n = min(n, self.left)
            out, got = bytearray(n), 0
            view = memoryview(out)
            readinto = getattr(self.f, "readinto", None)
            while got < n:
                if readinto is not None:
                    k = readinto(view[got:got + _CHUNK])
                else:
                    chunk = self.f.read(min(_CHUNK, n - got))
                    k = len(chunk)
                    view[got:got + k] = chunk
                if not k:
                    del view
                    del out[got:]
                    break
                got += k
            self.left -= got
            return out
        out = bytearray()       # a stream of unknown size: chunks grow with what arrives
        while len(out) < n:
            chunk = self.f.read(min(max(len(out), 1 << 16), _CHUNK, n - len(out)))
            if not chunk:
                break
            out += chunk
        return out

    def read(self, n, what):
        """Exactly ``n`` bytes, or CheckpointError: the file ends first."""
        if self.left is not None and n > self.left:
            raise self.error(f"{what} needs {n} bytes but only {self.left} remain: the file is "
                             "truncated, or its header is damaged")
        out = self.read_upto(n)
        if len(out) < n:
            raise self.error(f"the file ends {len(out)} bytes into {what} of {n} bytes: it is "
                             "truncated, or its header is damaged")
        return out

    def expect_end(self):
        extra = self.left or 0
        if not extra and not self.f.read(1):
            return
        count = _nbytes(extra) if extra else "bytes"
        raise self.error(f"the file has {count} after the data of its last tensor (appended "
                         "garbage, or a damaged header)")


def _nbytes(n):
    return f"{n} byte" if n == 1 else f"{n} bytes"


def _not_a_checkpoint(head):
    """What a file that is no checkpoint looks like, from its first bytes (None: no idea)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") or \
            (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        return ("this looks like a PyTorch pickle checkpoint (torch.save's zip or pickle "
                "format), which clnet.load does not read: clnet never unpickles, as a pickle "
                "can run code. Convert it in PyTorch with "
                "safetensors.torch.save_file(state_dict, path)")
    if head.startswith(b"\x93NUMPY"):
        return "this is a numpy .npy file, not a checkpoint: read it with numpy.load"
    if head.startswith(b"\x89HDF"):
        return "this is an HDF5 file, not a clnet/safetensors checkpoint"
    if head and all(32 <= b < 127 or b in b"\t\n\r" for b in head):
        return (f"this looks like a text file (it starts with {bytes(head).decode()!r}), not a "
                "clnet/safetensors checkpoint")
    return None


def _header_length(r):
    head = r.read_upto(8)
    if not head:
        raise r.error("the file is empty (0 bytes): not a checkpoint")
    if len(head) < 8:
        raise r.error(_not_a_checkpoint(head) or f"the file is {len(head)} bytes, too short for "
                      "a checkpoint (it starts with an 8-byte header length)")
    (n,) = struct.unpack("<Q", head)
    why = ("but a header is at least 2 bytes ('{}')" if n < 2 else
           f"beyond the {_MAX_HEADER}-byte limit" if n > _MAX_HEADER else
           f"beyond the file size ({r.left + 8} bytes)" if r.left is not None and n > r.left
           else None)
    if why is not None:
        raise r.error(_not_a_checkpoint(head) or f"the header length {n} in its first 8 bytes "
                      f"is {why}: the file is truncated, or not a clnet/safetensors checkpoint")
    return bytes(head), n


class _Duplicate(Exception):
    pass


def _unique(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        raise _Duplicate(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def _json(text, r, what):
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except _Duplicate as e:
        raise r.error(f"{what} lists {e.args[0]!r:.80} twice: a damaged or forged file") from None
    except RecursionError:
        raise r.error(f"{what} is not valid JSON (nested too deeply)") from None
    except ValueError as e:        # JSONDecodeError, UnicodeDecodeError, an int too long
        raise r.error(f"{what} is not valid JSON ({str(e)[:200]}): not a clnet/safetensors "
                      "checkpoint, or a damaged one") from None


def _parse_header(raw, r):
    if raw[:1] != b"{":
        raise r.error("the header is not a JSON object (it must start with '{'): not a "
                      "clnet/safetensors checkpoint, or a damaged one")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise r.error(f"the header is not valid JSON (UTF-8): {e}") from None
    header = _json(text, r, "the header")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict)
                                 and all(isinstance(v, str) for v in meta.values())):
        raise r.error(f"the __metadata__ entry {_brief(meta)} does not map names to strings, as "
                      "the safetensors format requires")
    return header, meta


def _tensor_entries(header, data_len, r):
    """Checked (name, dtype, shape, begin, end) per tensor, in file order, and the size of the
    data section: entries in bounds, of dtype x shape bytes, disjoint, covering it exactly."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise r.error(f"tensor {name!r:.80} has a malformed header entry {_brief(info)}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        dt = _CODE_DTYPES.get(code) if isinstance(code, str) else None
        if dt is None:
            raise r.error(f"tensor {name!r:.80} has unknown or unsupported dtype {_brief(code)} "
                          f"(clnet reads {', '.join(sorted(_CODE_DTYPES))})")
        if not (isinstance(shape, list) and len(shape) <= _MAX_DIMS
                and all(type(s) is int and 0 <= s <= _MAX_NBYTES for s in shape)
                and math.prod(s for s in shape if s) * dt.itemsize <= _MAX_NBYTES):
            raise r.error(f"tensor {name!r:.80} has an invalid shape {_brief(shape)} (a list "
                          f"of at most {_MAX_DIMS} sizes >= 0 that an array can have)")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise r.error(f"tensor {name!r:.80} has invalid data_offsets {_brief(offsets)} "
                          "(a list [begin, end] with 0 <= begin <= end)")
        begin, end = offsets
        if data_len is not None and end > data_len:
            raise r.error(f"tensor {name!r:.80} has data offsets [{begin}, {end}] outside the "
                          f"data section ({data_len} bytes): the file is truncated or damaged")
        nbytes = math.prod(shape) * dt.itemsize
        if end - begin != nbytes:
            raise r.error(f"tensor {name!r:.80} of shape {shape} and dtype {code} needs "
                          f"{nbytes} bytes but its offsets span {end - begin}")
        entries.append((name, dt, tuple(shape), begin, end))
    entries.sort(key=lambda e: (e[3], e[4]))
    at, last = 0, None
    for name, _, _, begin, end in entries:
        if begin < at:
            raise r.error(f"tensors {last[0]!r:.80} and {name!r:.80} overlap in the data "
                          f"section (bytes [{last[1]}, {at}) and [{begin}, {end})): a damaged or "
                          "forged header")
        if begin > at:
            raise r.error(f"bytes [{at}, {begin}) of the data section belong to no tensor: a "
                          "damaged or forged header")
        at, last = end, (name, begin)
    if data_len is not None and at < data_len:
        raise r.error(f"the file has {_nbytes(data_len - at)} after the data of its last tensor "
                      "(appended garbage, or a damaged header)")
    return entries, at


def _clnet_metadata(meta, raw, r):
    """The structure of a clnet checkpoint and (checksum, offset of its digits in the header),
    checksum None for a version 1 file; (None, None) for another tool's safetensors file."""
    if not meta or not (meta.get("format") == "clnet" or "structure" in meta or _CRC_KEY in meta):
        return None, None
    fmt, version = meta.get("format"), meta.get("version")
    if fmt != "clnet" or version not in _READ_VERSIONS:
        raise r.error(f"checkpoint format {_brief(fmt)} version {_brief(version)} is not one this "
                      f"clnet reads (clnet, version {' or '.join(_READ_VERSIONS)})")
    if "structure" not in meta:
        raise r.error("the header marks a clnet checkpoint but has no structure: a damaged "
                      "header")
    checksum = None
    if version != "1" or _CRC_KEY in meta:
        digits = meta.get(_CRC_KEY)
        if digits is None:
            raise r.error(f"a version {version} clnet checkpoint carries a checksum ({_CRC_KEY}) "
                          "but this one has no checksum: a damaged header")
        if not _CRC_DIGITS.fullmatch(digits):
            raise r.error(f"the checksum {_brief(digits)} is not 8 lowercase hex digits: a "
                          "damaged header")
        field = b'"%s":"%s"' % (_CRC_KEY.encode(), digits.encode())
        at = raw.find(field)
        if at < 0 or raw.find(field, at + 1) >= 0:
            raise r.error("the checksum is not written once, as clnet.save writes it: a damaged "
                          "or hand-made header")
        checksum = (int(digits, 16), at + len(field) - 9)
    return _json(meta["structure"], r, "the structure in __metadata__"), checksum


def _read_checkpoint(r):
    """Everything ``load`` needs, checked, before anything is allocated on a device: the tensor
    entries, the data section, the structure (None: a plain safetensors file) and the names of
    the tensors it uses."""
    prefix, n = _header_length(r)
    raw = r.read(n, "the header")
    header, meta = _parse_header(raw, r)
    entries, data_len = _tensor_entries(header, r.left, r)
    structure, checksum = _clnet_metadata(meta, raw, r)
    names = {e[0]: e[1] for e in entries}
    used = set()
    if structure is not None:
        def note(name, parameter):
            if name not in names:
                raise r.error(f"the structure refers to tensor {name!r:.80}, which the header "
                              "does not list")
            if parameter and not names[name].is_floating_point:
                raise r.error(f"the structure makes tensor {name!r:.80} of dtype "
                              f"{names[name].name} a Parameter that requires grad, which only "
                              "a floating point tensor can be")
            used.add(name)
        _decode(structure, note, r.error)
    data = r.read(data_len, "the data section")
    r.expect_end()
    if checksum is not None:
        expected, at = checksum      # the file's CRC-32 with the checksum's digits as zeros
        crc = zlib.crc32(prefix)
        for part in (raw[:at], _CRC_ZERO, raw[at + 8:]):
            crc = zlib.crc32(part, crc)
        with memoryview(data) as view:
            for i in range(0, len(data), _CHUNK):
                crc = zlib.crc32(view[i:i + _CHUNK], crc)
        if crc != expected:
            raise r.error(f"checksum mismatch: the file's CRC-32 is {crc:08x} but its header "
                          f"records {expected:08x}; the file is damaged (a flipped bit, a bad "
                          "disk or copy)")
    for name, dt, _, begin, end in entries:
        if dt is dtypes.bool_ and end > begin and \
                np.frombuffer(data, np.uint8, end - begin, begin).max() > 1:
            raise r.error(f"bool tensor {name!r:.80} holds bytes other than 0 and 1: a damaged "
                          "file")
    return entries, data, structure, (used if structure is not None else names)


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
    were saved from). Only data is read: ``weights_only`` is accepted and always true.

    The whole file is checked before anything is allocated on the device: only a regular file
    is opened (a FIFO or a device is refused unread); the header is a JSON object of at most
    100 MiB; each tensor's dtype x shape matches its byte range; the ranges are disjoint and
    cover the data exactly, with nothing after it; the structure is well-formed, at most 100
    containers deep and refers only to listed tensors; clnet's checksum matches. Memory stays
    within a small multiple of the file's size, whatever the header claims. A missing file
    raises FileNotFoundError; every fault in a file raises ``clnet.CheckpointError``.
    """
    if pickle_module is not None:
        raise TypeError("clnet.load does not use pickle; drop pickle_module")
    from .ops.copy import from_numpy_to
    dev = _target_device(map_location)
    r = _Reader(f)
    try:
        entries, data, structure, used = _read_checkpoint(r)
    finally:
        r.close()
    tensors = OrderedDict()
    for name, dt, shape, begin, end in entries:
        if name in used:
            host = np.frombuffer(data, np.dtype(dt.np).newbyteorder("<"), math.prod(shape),
                                 begin)
            tensors[name] = from_numpy_to(host.reshape(shape).astype(dt.np, copy=False), dev, dt)
    if structure is None:
        return tensors    # a plain safetensors file
    parameters = {}

    def get(name, parameter):
        if parameter is None:
            return tensors[name]
        if name not in parameters:    # a Parameter referenced twice comes back as one object
            from .nn.parameter import Parameter
            parameters[name] = Parameter(tensors[name], requires_grad=parameter)
        return parameters[name]
    return _decode(structure, get, r.error)
