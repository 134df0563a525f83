"""``clnet.save`` (PyTorch's formats, see ``pickler``) and ``save_safetensors`` (clnet's
checkpoint format: the header, the data and the checksum), each written atomically to a path."""
import json
import os
import pickle
import struct
import tempfile
import zlib
from collections import OrderedDict

import numpy as np

from .layout import CRC_KEY, CRC_ZERO, DTYPE_CODES, FORMAT_VERSION
from .pickler import save_legacy, save_zip
from .structure import Encoder


def _header_bytes(enc, structure):
    header = OrderedDict()
    offset = 0
    for name, t in enc.tensors.items():
        code = DTYPE_CODES.get(t.dtype.name)
        if code is None:
            raise TypeError(f"clnet.save: tensor {name!r} has dtype {t.dtype}, which the "
                            "checkpoint format does not store")
        nbytes = t.numel() * t.dtype.itemsize
        header[name] = {"dtype": code, "shape": list(t._shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "clnet", "version": FORMAT_VERSION,
                              CRC_KEY: CRC_ZERO.decode(),     # filled in once it is known
                              "structure": json.dumps(structure, separators=(",", ":"),
                                                      allow_nan=False)}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(len(raw) + 8) % 8)    # the data starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _host_bytes(t):
    # contiguous copy of any view (a host round trip per tensor); bfloat16 as its uint16 bits
    host = t._host_array()
    host = np.ascontiguousarray(host, dtype=host.dtype.newbyteorder("<"))
    return host.reshape(-1).view(np.uint8)


def _write(out, enc, structure, digits=CRC_ZERO):
    """Write the checkpoint to ``out`` (None: only checksum it) with ``digits`` as the
    checksum; return the checksum and the offset of its digits in the file."""
    head = _header_bytes(enc, structure)
    field = b'"%s":"%s"' % (CRC_KEY.encode(), CRC_ZERO)
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


def _atomic(f, write):
    """Run ``write(out)`` on a binary file object ``f``, or write a path atomically: a
    temporary file in the same folder, flushed and fsync'ed, then renamed over the target, and
    the folder fsync'ed; a crash leaves either the old file or the new one, never a torn one."""
    if hasattr(f, "write"):
        write(f)
        return
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "w+b") as out:
            write(out)
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


def save_safetensors(obj, f):
    """Save ``obj`` (nested dicts/lists/tuples of tensors, numbers, strings, bools, None) in
    clnet's checkpoint format: the safetensors layout with the structure and a CRC-32 in its
    metadata (see the package docstring). Loading it never unpickles, whatever
    ``weights_only`` says; ``clnet.load`` reads it. A path is written atomically."""
    enc = Encoder()
    structure = enc.encode(obj)

    def write(out):
        if not getattr(out, "seekable", lambda: False)():
            # a stream cannot be patched afterwards: one pass for the checksum, one to write
            crc, _ = _write(None, enc, structure)
            _write(out, enc, structure, b"%08x" % crc)
            return
        start = out.tell()
        crc, at = _write(out, enc, structure)
        end = out.tell()
        out.seek(start + at)
        out.write(b"%08x" % crc)
        out.seek(end)
    _atomic(f, write)


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """``torch.save``: ``obj`` (tensors, Parameters, state dicts, optimizer state, whole
    modules, numpy arrays, nested containers, your own picklable objects) to a path or a binary
    file object, in PyTorch's zip format (``_use_new_zipfile_serialization=False``: its legacy
    format). Tensors are written as PyTorch writes them, so ``torch.load(path,
    weights_only=True)`` reads a clnet file of tensors, containers, numbers and strings as
    torch tensors. A path is written atomically (see ``_atomic``)."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("clnet.save pickles with Python's pickle (it writes PyTorch's tensor "
                        f"records itself); pickle_module must be pickle, got {pickle_module!r}")
    if not 2 <= pickle_protocol <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"clnet.save: pickle_protocol must be 2 to {pickle.HIGHEST_PROTOCOL} "
                         f"(PyTorch's files use 2), got {pickle_protocol}")
    if _use_new_zipfile_serialization:
        _atomic(f, lambda out: save_zip(obj, out, pickle_protocol,
                                        not _disable_byteorder_record))
    else:
        _atomic(f, lambda out: save_legacy(obj, out, pickle_protocol))
