"""``clnet.load``: a checkpoint read in bounded chunks and checked whole (header, entries,
structure, checksum) before anything is allocated on a device."""
import io
import json
import math
import os
import stat
import struct
import zlib
from collections import OrderedDict

import numpy as np

from .. import dtypes
from ..backend.devices import Device, default_device, device
from ..errors import CheckpointError
from ..ops.copy import from_numpy_to
from .layout import (CHUNK, CRC_DIGITS, CRC_KEY, CRC_ZERO, MAX_DIMS, MAX_HEADER, MAX_NBYTES,
                     READ_CODES, READ_VERSIONS, host_array)
from .parameter_type import parameter_class
from .structure import brief, decode
from .torch_zip import is_pickle, is_zip, load_torch


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
            self.start = None
            self.left = self._remaining(f)
            if self.left is not None:
                self.start = f.tell()
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
        self.owned, self.left, self.start = True, st.st_size, 0

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
                    k = readinto(view[got:got + CHUNK])
                else:
                    chunk = self.f.read(min(CHUNK, n - got))
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
            chunk = self.f.read(min(max(len(out), 1 << 16), CHUNK, n - len(out)))
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
    if head.startswith(b"\x93NUMPY"):
        return "this is a numpy .npy file, not a checkpoint: read it with numpy.load"
    if head.startswith(b"\x89HDF"):
        return "this is an HDF5 file, not a clnet/safetensors checkpoint"
    if head and all(32 <= b < 127 or b in b"\t\n\r" for b in head):
        return (f"this looks like a text file (it starts with {bytes(head).decode()!r}), not a "
                "clnet/safetensors checkpoint")
    return None


def _header_length(r, head):
    if not head:
        raise r.error("the file is empty (0 bytes): not a checkpoint")
    if len(head) < 8:
        raise r.error(_not_a_checkpoint(head) or f"the file is {len(head)} bytes, too short for "
                      "a checkpoint (it starts with an 8-byte header length)")
    (n,) = struct.unpack("<Q", head)
    why = ("but a header is at least 2 bytes ('{}')" if n < 2 else
           f"beyond the {MAX_HEADER}-byte limit" if n > MAX_HEADER else
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
        raise r.error(f"the __metadata__ entry {brief(meta)} does not map names to strings, as "
                      "the safetensors format requires")
    return header, meta


def _tensor_entries(header, data_len, r):
    """Checked (name, dtype, shape, begin, end, code) per tensor, in file order, and the size of
    the data section: entries in bounds, of dtype x shape bytes, disjoint, covering it exactly.
    ``dtype`` is the clnet dtype the entry loads as, ``code`` its safetensors dtype code."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise r.error(f"tensor {name!r:.80} has a malformed header entry {brief(info)}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        spec = READ_CODES.get(code) if isinstance(code, str) else None
        if spec is None:
            raise r.error(f"tensor {name!r:.80} has unknown or unsupported dtype {brief(code)} "
                          f"(clnet reads {', '.join(sorted(READ_CODES))})")
        itemsize, dt = spec[0].itemsize, spec[1]
        if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
                and all(type(s) is int and 0 <= s <= MAX_NBYTES for s in shape)
                and math.prod(s for s in shape if s) * itemsize <= MAX_NBYTES):
            raise r.error(f"tensor {name!r:.80} has an invalid shape {brief(shape)} (a list "
                          f"of at most {MAX_DIMS} sizes >= 0 that an array can have)")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise r.error(f"tensor {name!r:.80} has invalid data_offsets {brief(offsets)} "
                          "(a list [begin, end] with 0 <= begin <= end)")
        begin, end = offsets
        if data_len is not None and end > data_len:
            raise r.error(f"tensor {name!r:.80} has data offsets [{begin}, {end}] outside the "
                          f"data section ({data_len} bytes): the file is truncated or damaged")
        nbytes = math.prod(shape) * itemsize
        if end - begin != nbytes:
            raise r.error(f"tensor {name!r:.80} of shape {shape} and dtype {code} needs "
                          f"{nbytes} bytes but its offsets span {end - begin}")
        entries.append((name, dt, tuple(shape), begin, end, code))
    entries.sort(key=lambda e: (e[3], e[4]))
    at, last = 0, None
    for name, _, _, begin, end, _ in entries:
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
    if not meta or not (meta.get("format") == "clnet" or "structure" in meta or CRC_KEY in meta):
        return None, None
    fmt, version = meta.get("format"), meta.get("version")
    if fmt != "clnet" or version not in READ_VERSIONS:
        raise r.error(f"checkpoint format {brief(fmt)} version {brief(version)} is not one this "
                      f"clnet reads (clnet, version {' or '.join(READ_VERSIONS)})")
    if "structure" not in meta:
        raise r.error("the header marks a clnet checkpoint but has no structure: a damaged "
                      "header")
    checksum = None
    if version != "1" or CRC_KEY in meta:
        digits = meta.get(CRC_KEY)
        if digits is None:
            raise r.error(f"a version {version} clnet checkpoint carries a checksum ({CRC_KEY}) "
                          "but this one has no checksum: a damaged header")
        if not CRC_DIGITS.fullmatch(digits):
            raise r.error(f"the checksum {brief(digits)} is not 8 lowercase hex digits: a "
                          "damaged header")
        field = b'"%s":"%s"' % (CRC_KEY.encode(), digits.encode())
        at = raw.find(field)
        if at < 0 or raw.find(field, at + 1) >= 0:
            raise r.error("the checksum is not written once, as clnet.save writes it: a damaged "
                          "or hand-made header")
        checksum = (int(digits, 16), at + len(field) - 9)
    return _json(meta["structure"], r, "the structure in __metadata__"), checksum


def _read_checkpoint(r, head):
    """Everything ``load`` needs, checked, before anything is allocated on a device: the tensor
    entries, the data section, the structure (None: a plain safetensors file) and the names of
    the tensors it uses. ``head``: the file's first 8 bytes, already read."""
    prefix, n = _header_length(r, head)
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
        decode(structure, note, r.error)
    data = r.read(data_len, "the data section")
    r.expect_end()
    if checksum is not None:
        expected, at = checksum      # the file's CRC-32 with the checksum's digits as zeros
        crc = zlib.crc32(prefix)
        for part in (raw[:at], CRC_ZERO, raw[at + 8:]):
            crc = zlib.crc32(part, crc)
        with memoryview(data) as view:
            for i in range(0, len(data), CHUNK):
                crc = zlib.crc32(view[i:i + CHUNK], crc)
        if crc != expected:
            raise r.error(f"checksum mismatch: the file's CRC-32 is {crc:08x} but its header "
                          f"records {expected:08x}; the file is damaged (a flipped bit, a bad "
                          "disk or copy)")
    for name, dt, _, begin, end, _ in entries:
        if dt is dtypes.bool_ and end > begin and \
                np.frombuffer(data, np.uint8, end - begin, begin).max() > 1:
            raise r.error(f"bool tensor {name!r:.80} holds bytes other than 0 and 1: a damaged "
                          "file")
    return entries, data, structure, (used if structure is not None else names)


def _target_device(map_location):
    if map_location is None:
        return default_device()
    if isinstance(map_location, (str, Device)):
        return device(map_location)
    raise TypeError(f"clnet.load: map_location must be None, a device or a device name, got "
                    f"{type(map_location).__name__}")


def _safetensors(r, head, dev):
    """The object of a clnet/safetensors checkpoint, checked whole before any allocation."""
    entries, data, structure, used = _read_checkpoint(r, head)
    tensors = OrderedDict()
    for name, dt, shape, begin, _, code in entries:
        if name in used:
            host = host_array(code, data, math.prod(shape), begin)
            tensors[name] = from_numpy_to(host.reshape(shape), dev, dt)
    if structure is None:
        return tensors    # a plain safetensors file
    parameters = {}

    def get(name, parameter):
        if parameter is None:
            return tensors[name]
        if name not in parameters:    # a Parameter referenced twice comes back as one object
            parameters[name] = parameter_class()(tensors[name], requires_grad=parameter)
        return parameters[name]
    return decode(structure, get, r.error)


def _torch_file(r, head, dev, weights_only, pickle_module, load_args):
    if r.start is None:
        raise r.error("a torch.save file (zip or pickle) is read from a seekable file; this "
                      "stream cannot seek (read it into io.BytesIO first)")
    size = len(head) + r.left
    r.f.seek(r.start)
    f = r.f
    if r.owned:
        # the unpickler reads opcode by opcode; the file is ours, so a buffer may read ahead
        f = io.BufferedReader(f)
    return load_torch(f, r.where, size, dev, weights_only, pickle_module, load_args,
                      zipped=is_zip(head))


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """``torch.load``: the object saved in ``f`` (a path or a binary file object) by
    ``clnet.save``, ``torch.save`` (zip or legacy format) or
    ``clnet.serialization.save_safetensors`` (and any safetensors file, as a dict of its
    tensors), its tensors on ``map_location`` (a device or name; None: the default device,
    whatever device the tensors were saved from). float16 and bfloat16 tensors (F16/BF16
    safetensors entries, torch storages) keep their dtype, as in torch (``load_state_dict``
    copies them into each parameter's dtype); 8- and 16-bit integers load as int32, uint32 as
    int64.

    ``weights_only=True`` (the default, as in PyTorch): a pickle is read by an allow-list
    unpickler that builds only tensors, Parameters, containers, numbers, strings, dtypes,
    sizes and what ``clnet.serialization.add_safe_globals`` / ``safe_globals`` allow; any
    other global raises ``pickle.UnpicklingError`` naming it. A file cannot run code.

    ``weights_only=False`` unpickles anything the file names (whole modules saved with
    ``clnet.save``, numpy arrays, your own classes) with ``pickle_module`` (default
    ``pickle``): **never load such a file from an untrusted source**, it can run arbitrary
    code, exactly as ``torch.load(weights_only=False)`` can.

    Every file is checked before its bytes are trusted (see ``reader`` for the safetensors
    layout and ``torch_zip`` for PyTorch's): only a regular file is opened (a FIFO or a device
    is refused unread), sizes and offsets must lie inside the file, zip bombs are refused,
    checksums must match, and memory stays within a small multiple of the file's size. A
    missing file raises FileNotFoundError; every fault in a file ``clnet.CheckpointError``
    naming the file. ``mmap`` is accepted for PyTorch's signature: tensors are copied to the
    device either way.
    """
    if weights_only is None:
        weights_only = True
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is "
                           "specified")
    if pickle_load_args.keys() - {"encoding", "errors"}:
        raise TypeError(f"clnet.load got unexpected keyword arguments "
                        f"{sorted(pickle_load_args.keys() - {'encoding', 'errors'})}")
    pickle_load_args.setdefault("encoding", "utf-8")
    dev = _target_device(map_location)
    r = _Reader(f)
    try:
        head = bytes(r.read_upto(8))
        if is_zip(head) or is_pickle(head):
            return _torch_file(r, head, dev, weights_only, pickle_module, pickle_load_args)
        return _safetensors(r, head, dev)
    finally:
        r.close()
