"""Reading PyTorch's own files (``torch.save``'s zip format, and the legacy pickle format of
``_use_new_zipfile_serialization=False``) without torch.

Zip format: ``<root>/data.pkl`` (the pickled object, its tensors as persistent ids
``("storage", <storage type>, key, location, numel)``), ``<root>/data/<key>`` (each storage's
bytes), ``<root>/byteorder``, ``<root>/version`` and a few other records. Legacy format: three
pickles (a magic number, the protocol version, system info), the object's pickle, the pickled
list of storage keys, then for each key an int64 element count and the storage's bytes.

Nothing in the file is trusted: the zip's members must lie inside the file, be disjoint and
stored (or deflated within a bounded ratio), their CRC-32s must match, storages must have
exactly the bytes their records claim (in all at most the file's size, so device memory is
bounded by it), every tensor must lie inside its storage, and the pickle goes through the
allow-list unpickler unless ``weights_only=False``. Every fault is a ``CheckpointError`` naming
the file; a refused global is also a ``pickle.UnpicklingError``, as in PyTorch.
"""
import io
import pickle
import struct
import zipfile

from ..errors import CheckpointError, DeviceError
from .torch_names import (UNTYPED, DtypeSpec, FileFault, LoadedStorage, LoadedStorageView)
from .unpickler import WeightsUnpickler, full_unpickler

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001
MAX_RATIO = 200             # uncompressed : compressed, per deflated member and in all
MAX_RECORD = 1 << 16        # the small text records (byteorder, version)
UNSAFE_MESSAGE = (
    "Re-running `clnet.load` with `weights_only` set to `False` will likely succeed, but it "
    "can result in arbitrary code execution. Do it only if you got the file from a trusted "
    "source.")


class WeightsOnlyError(CheckpointError, pickle.UnpicklingError):
    """A ``weights_only`` load met a global that is not allowed: a ``pickle.UnpicklingError``
    as in PyTorch, and a ``clnet.CheckpointError`` naming the file."""


def is_zip(head):
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def is_pickle(head):
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")


class _Loader:
    def __init__(self, where, size, device, weights_only, pickle_module, load_args):
        self.where, self.size, self.device = where, size, device
        self.weights_only, self.pickle_module = weights_only, pickle_module
        self.load_args = load_args
        self.storages = {}
        self.claimed = 0
        self.byteorder = "little"

    def error(self, problem):
        return CheckpointError(self.where, problem)

    def unpickle(self, file, persistent_load, what):
        """One pickle from ``file``, every fault a CheckpointError naming ``what``."""
        if self.weights_only:
            unpickler = WeightsUnpickler(file, persistent_load, **self.load_args)
        else:
            base = (self.pickle_module or pickle).Unpickler
            unpickler = full_unpickler(base)(file, persistent_load, **self.load_args)
        try:
            return unpickler.load()
        except (CheckpointError, DeviceError):
            raise
        except FileFault as e:
            raise self.error(str(e)) from None
        except pickle.UnpicklingError as e:
            if not self.weights_only:
                raise self.error(f"{what} is not a valid pickle: {e}") from None
            raise WeightsOnlyError(self.where, _weights_only_message(str(e))) from None
        except (EOFError, KeyError, IndexError, TypeError, ValueError, AttributeError,
                struct.error, OverflowError, RecursionError, UnicodeError) as e:
            if not self.weights_only and not isinstance(e, (EOFError, struct.error)):
                raise               # an error of the code a full unpickle ran: the caller's
            raise self.error(f"{what} is damaged or not a pickle ({type(e).__name__}: "
                             f"{str(e)[:200]})") from None

    def storage(self, pid, numel, spec, read):
        """The LoadedStorage of a storage record (once per key), its bytes from ``read``."""
        key = pid[2]
        if type(key) is not str or type(numel) is not int or numel < 0:
            raise FileFault(f"invalid storage record {pid!r:.120}")
        if not (spec is UNTYPED or (isinstance(spec, DtypeSpec) and spec.storage)):
            raise FileFault(f"a storage record names {spec!r:.60} as its storage type")
        typed = None if spec is UNTYPED else spec
        nbytes = numel * (typed.file_np.itemsize if typed else 1)
        st = self.storages.get(key)
        if st is None:
            self.claimed += nbytes
            if self.claimed > self.size:
                raise FileFault(f"the storages claim {self.claimed} bytes, more than the file's "
                                f"{self.size}: a damaged or forged file")
            st = LoadedStorage(nbytes, self.device, self.byteorder, typed)
            read(st, key)
            self.storages[key] = st
        elif st.nbytes != nbytes or st.typed_spec is not typed:
            raise FileFault(f"storage {key!r:.40} is referred to with two sizes or types")
        return st, LoadedStorageView(st, 0, numel, typed)


def _weights_only_message(message):
    return ("Weights only load failed. This file can still be loaded, to do so you have two "
            "options, do those steps only if you trust the source of the checkpoint. "
            f"(1) {UNSAFE_MESSAGE} (2) Alternatively, to load with `weights_only=True` please "
            "check the recommended steps in the following error message. WeightsUnpickler "
            f"error: {message}")


# ------------------------------------------------------------------ the zip format
def _member_checks(zf, size, loader):
    """Members inside the file, disjoint, stored or deflated within MAX_RATIO, names unique."""
    infos = zf.infolist()
    if not infos:
        raise loader.error("the zip archive is empty: not a torch.save file")
    spans, total, seen = [], 0, set()
    for zi in infos:
        name = zi.filename
        if name in seen:
            raise loader.error(f"the zip archive lists {name!r:.80} twice: a damaged or "
                               "forged file")
        seen.add(name)
        if zi.flag_bits & 0x1:
            raise loader.error(f"zip member {name!r:.80} is encrypted")
        if zi.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise loader.error(f"zip member {name!r:.80} uses compression method "
                               f"{zi.compress_type}; torch.save stores members uncompressed")
        raw_name = name.encode("utf-8" if zi.flag_bits & 0x800 else "cp437")
        begin = zi.header_offset
        end = begin + 30 + len(raw_name) + zi.compress_size
        if begin < 0 or end > size:
            raise loader.error(f"zip member {name!r:.80} (bytes [{begin}, {end})) points "
                               f"outside the file ({size} bytes): a truncated or damaged file")
        if zi.compress_type == zipfile.ZIP_STORED and zi.file_size != zi.compress_size:
            raise loader.error(f"zip member {name!r:.80} is stored but claims {zi.file_size} "
                               f"bytes in {zi.compress_size}: a damaged or forged file")
        if zi.file_size > MAX_RATIO * max(zi.compress_size, 1):
            raise loader.error(f"zip member {name!r:.80} expands {zi.compress_size} bytes to "
                               f"{zi.file_size} (over {MAX_RATIO}:1): a zip bomb is refused")
        total += zi.file_size
        spans.append((begin, end, name))
    if total > MAX_RATIO * size:
        raise loader.error(f"the zip members expand to {total} bytes, over {MAX_RATIO} times "
                           f"the file's {size}: a zip bomb is refused")
    spans.sort()
    for (b0, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise loader.error(f"zip members {n0!r:.60} and {n1!r:.60} overlap in the file (a "
                               "zip bomb or a damaged file)")
    return infos


def _read_member(zf, name, loader, what):
    try:
        return zf.read(name)
    except Exception as e:     # BadZipFile (a CRC mismatch...), zlib.error, EOFError, OSError
        raise loader.error(f"{what} ({name!r:.80}) cannot be read: {type(e).__name__}: "
                           f"{str(e)[:200]}") from None


def load_zip(f, loader):
    try:
        zf = zipfile.ZipFile(f)
    except Exception as e:      # BadZipFile, struct.error, OSError, ValueError, EOFError...
        raise loader.error(f"not a valid zip archive (torch.save's format): "
                           f"{type(e).__name__}: {str(e)[:200]}") from None
    with zf:
        infos = _member_checks(zf, loader.size, loader)
        root, _, _ = infos[0].filename.partition("/")
        names = {zi.filename: zi for zi in infos}
        if root + "/constants.pkl" in names:
            raise loader.error("this is a TorchScript archive (torch.jit.save): clnet does not "
                               "run TorchScript; load it with torch.jit.load and save its "
                               "state_dict()")
        pkl = root + "/data.pkl"
        if pkl not in names:
            raise loader.error(f"the zip archive has no {pkl!r:.80} record: not a torch.save "
                               "file")
        order = names.get(root + "/byteorder")
        if order is not None:
            value = _read_member(zf, order.filename, loader, "the byteorder record") \
                if order.file_size <= MAX_RECORD else b"?"
            if value not in (b"little", b"big"):
                raise loader.error(f"unknown byte order {value[:20]!r} in the byteorder "
                                   "record: a damaged file")
            loader.byteorder = value.decode()

        def read(st, key):
            name = f"{root}/data/{key}"
            zi = names.get(name)
            if zi is None:
                raise FileFault(f"the pickle refers to storage {key!r:.40} but the archive has "
                                f"no record {name!r:.80}")
            if zi.file_size != st.nbytes:
                raise FileFault(f"storage {key!r:.40} needs {st.nbytes} bytes but its record "
                                f"holds {zi.file_size}: a damaged or forged file")
            st.raw = _read_member(zf, name, loader, f"storage {key!r:.40}")

        def persistent_load(pid):
            if len(pid) != 5:
                raise FileFault(f"invalid storage record {pid!r:.120} (5 fields expected)")
            return loader.storage(pid, pid[4], pid[1], read)[1]

        data = _read_member(zf, pkl, loader, "the pickle")
        return loader.unpickle(io.BytesIO(data), persistent_load, "data.pkl")


# ------------------------------------------------------------------ the legacy format
def load_legacy(f, loader):
    def refuse(pid):
        raise FileFault("a persistent id before the object's pickle: a damaged file")

    try:
        magic = loader.unpickle(f, refuse, "the magic number")
    except CheckpointError:
        magic = None
    if magic != MAGIC_NUMBER:
        raise loader.error("this is a pickle but not a torch.save file (its first pickle is "
                           "not PyTorch's magic number); clnet.load reads torch.save and "
                           "clnet.save files")
    version = loader.unpickle(f, refuse, "the protocol version")
    if version != PROTOCOL_VERSION:
        raise loader.error(f"invalid protocol version {version!r:.40} (PyTorch's legacy format "
                           f"is {PROTOCOL_VERSION})")
    info = loader.unpickle(f, refuse, "the system info")
    if not isinstance(info, dict) or info.get("little_endian", True) is not True:
        if isinstance(info, dict) and info.get("little_endian") is False:
            loader.byteorder = "big"
        elif not isinstance(info, dict):
            raise loader.error("the system info record is not a dict: a damaged file")
    pending = []

    def persistent_load(pid):
        if len(pid) != 6:
            raise FileFault(f"invalid storage record {pid!r:.120} (6 fields expected)")
        st, view = loader.storage(pid, pid[4], pid[1], lambda st, key: pending.append(key))
        meta = pid[5]
        if meta is None:
            return view
        if not (isinstance(meta, tuple) and len(meta) == 3 and type(meta[1]) is int
                and type(meta[2]) is int and 0 <= meta[1] and 0 <= meta[2]
                and meta[1] + meta[2] <= view.numel):
            raise FileFault(f"invalid storage view {meta!r:.80}")
        return LoadedStorageView(st, meta[1], meta[2], view.spec)

    result = loader.unpickle(f, persistent_load, "the object's pickle")
    keys = loader.unpickle(f, refuse, "the storage keys")
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(pending) or \
            len(keys) != len(pending):
        raise loader.error("the storage key list does not match the storages of the pickle: "
                           "a damaged file")
    for key in keys:
        st = loader.storages[key]
        head = f.read(8)
        if len(head) < 8:
            raise loader.error(f"the file ends before storage {key!r:.40}: it is truncated")
        (count,) = struct.unpack("<q", head)
        itemsize = st.typed_spec.file_np.itemsize if st.typed_spec else 1
        if count * itemsize != st.nbytes:
            raise loader.error(f"storage {key!r:.40} holds {count} elements but its record "
                               f"says {st.nbytes // itemsize}: a damaged file")
        raw = f.read(st.nbytes)
        if len(raw) < st.nbytes:
            raise loader.error(f"the file ends {len(raw)} bytes into storage {key!r:.40} of "
                               f"{st.nbytes} bytes: it is truncated")
        try:
            st.fill(raw)
        except FileFault as e:
            raise loader.error(str(e)) from None
    return result


def load_torch(f, where, size, device, weights_only, pickle_module, load_args, zipped):
    """The object of a torch.save file (``zipped``: the zip format, else the legacy one);
    ``f`` is positioned at its start and holds ``size`` bytes from there."""
    loader = _Loader(where, size, device, weights_only, pickle_module, load_args)
    return load_zip(f, loader) if zipped else load_legacy(f, loader)
