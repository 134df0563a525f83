"""What the globals of a ``torch.save`` pickle stand for in clnet: storage types, dtypes,
``torch.Size``, ``torch.device``, ``Parameter`` and the ``torch._utils._rebuild_*`` functions,
which here build clnet tensors on the load's device. These are the globals PyTorch's
``weights_only`` unpickler allows (``torch/_weights_only_unpickler.py``), less the kinds of
tensor clnet does not have, which are refused naming the kind.

A file's storages arrive as ``LoadedStorage`` objects (see ``torch_zip``); a tensor is a view
of its storage's device copy with the file's offset, sizes and strides, checked to stay inside
the storage, so views saved from a transposed or sliced tensor share one device buffer as
they did when saved."""
import codecs
import math
from collections import Counter, OrderedDict

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..backend.devices import device
from ..errors import DeviceError
from ..ops.copy import from_numpy_to
from ..ops.creation import empty
from ..tensor import Size, Tensor
from .parameter_type import parameter_class


class FileFault(Exception):
    """A fault in the file's contents; the loader turns it into a CheckpointError naming it."""


class DtypeSpec:
    """An element type as a torch file stores it: the bytes' numpy type (little-endian) and the
    clnet dtype it loads as (its own, or the nearest one that holds every value: int8/uint8/
    int16/uint16 as int32, uint32 as int64)."""

    def __init__(self, torch_name, file_np, dtype, storage=None):
        self.torch_name, self.file_np, self.dtype = torch_name, np.dtype(file_np), dtype
        self.storage = storage          # torch's typed storage class name, e.g. FloatStorage

    def __repr__(self):
        return f"torch.{self.torch_name}"

    def to_clnet(self, raw, byteorder):
        """The host array of a storage's values in its clnet dtype (bfloat16's as float32: they
        are exact, and the upload rounds nothing)."""
        file_np = self.file_np.newbyteorder(">" if byteorder == "big" else "<") \
            if self.file_np.itemsize > 1 else self.file_np
        host = np.frombuffer(raw, file_np)
        if self.torch_name == "bfloat16":     # the top half of a float32
            return (host.astype(np.uint32) << 16).view(np.float32)
        if self.dtype is dtypes.bool_ and host.size and host.view(np.uint8).max() > 1:
            raise FileFault("a bool storage holds bytes other than 0 and 1: a damaged file")
        return host.astype(self.dtype.np)


_SPECS = [
    DtypeSpec("float32", "<f4", dtypes.float32, "FloatStorage"),
    DtypeSpec("float64", "<f8", dtypes.float64, "DoubleStorage"),
    DtypeSpec("float16", "<f2", dtypes.float16, "HalfStorage"),
    DtypeSpec("bfloat16", "<u2", dtypes.bfloat16, "BFloat16Storage"),
    DtypeSpec("int64", "<i8", dtypes.int64, "LongStorage"),
    DtypeSpec("int32", "<i4", dtypes.int32, "IntStorage"),
    DtypeSpec("int16", "<i2", dtypes.int32, "ShortStorage"),
    DtypeSpec("int8", "i1", dtypes.int32, "CharStorage"),
    DtypeSpec("uint8", "u1", dtypes.int32, "ByteStorage"),
    DtypeSpec("bool", "u1", dtypes.bool_, "BoolStorage"),
    DtypeSpec("uint16", "<u2", dtypes.int32),
    DtypeSpec("uint32", "<u4", dtypes.int64),
]
SPECS = {s.torch_name: s for s in _SPECS}
STORAGE_SPECS = {s.storage: s for s in _SPECS if s.storage}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32", "short": "int16"}
# what clnet writes: each clnet dtype as the torch dtype / storage of the same name
SAVE_SPECS = {spec.dtype: spec for spec in _SPECS if spec.torch_name == spec.dtype.name}
_NO_CLNET_DTYPE = ("complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf",
                   "uint64", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
                   "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                   "float8_e8m0fnu", "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8",
                   "bits2x4", "bits4x2")
_NO_CLNET_STORAGE = ("ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage",
                     "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage")


class UntypedStorageType:
    """``torch.UntypedStorage`` in a pickle: a storage of raw bytes whose tensor names its
    dtype (``_rebuild_tensor_v3``)."""

    def __repr__(self):
        return "torch.UntypedStorage"


UNTYPED = UntypedStorageType()


class Refused:
    """A torch global clnet has no counterpart for: naming it in a file is a FileFault."""

    def __init__(self, problem):
        self.problem = problem


def _no_dtype(name):
    return Refused(f"the file holds torch.{name} data, which clnet has no dtype for (clnet has "
                   f"{', '.join(d.name for d in dtypes.ALL)})")


def _no_kind(kind):
    return Refused(f"the file holds a {kind}, which clnet does not have (clnet reads dense "
                   "tensors and Parameters)")


# ------------------------------------------------------------------ rebuilding tensors
def _check_layout(storage, offset, size, stride):
    ints = (lambda v: isinstance(v, (tuple, list)) and
            all(type(x) is int for x in v))
    if type(offset) is not int or not ints(size) or not ints(stride) or \
            len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride) \
            or offset < 0:
        raise FileFault(f"a tensor has an invalid layout (offset {offset!r:.40}, size "
                        f"{size!r:.80}, stride {stride!r:.80}): a damaged or forged file")
    if len(size) > 64:
        raise FileFault(f"a tensor has {len(size)} dimensions; clnet reads at most 64")
    if not isinstance(storage, LoadedStorageView):
        raise FileFault(f"a tensor's storage is {type(storage).__name__}, not a storage record "
                        "of the file: a damaged or forged file")
    if math.prod(size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise FileFault(f"a tensor of size {list(size)} and stride {list(stride)} at offset "
                            f"{offset} reaches element {last} of a storage of "
                            f"{storage.numel}: a damaged or forged file")


def rebuild_tensor(storage, storage_offset, size, stride):
    """``torch._utils._rebuild_tensor``: a view of the storage's device copy."""
    _check_layout(storage, storage_offset, size, stride)
    flat = storage.device_flat()
    return Tensor._make(flat._storage, tuple(size), tuple(stride),
                        storage.base + storage_offset, flat.dtype)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                      metadata=None):
    t = rebuild_tensor(storage, storage_offset, size, stride)
    if requires_grad:
        if not t.dtype.is_floating_point:
            raise FileFault(f"a {t.dtype.name} tensor is marked requires_grad, which only a "
                            "floating point tensor can be: a damaged or forged file")
        t.requires_grad = True
    return t


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                      dtype, metadata=None):
    if not isinstance(storage, LoadedStorageView) or not isinstance(dtype, DtypeSpec):
        raise FileFault(f"_rebuild_tensor_v3 got a storage {type(storage).__name__} and dtype "
                        f"{dtype!r:.40}: a damaged or forged file")
    storage = storage.as_dtype(dtype)
    return rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                             backward_hooks, metadata)


def rebuild_parameter(data, requires_grad, backward_hooks):
    Parameter = parameter_class()
    if not isinstance(data, Tensor):
        raise FileFault(f"a Parameter's data is {type(data).__name__}, not a tensor")
    if requires_grad and not data.dtype.is_floating_point:
        raise FileFault(f"a {data.dtype.name} Parameter requires grad, which only a floating "
                        "point tensor can: a damaged or forged file")
    return Parameter(data, requires_grad=bool(requires_grad))


def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise FileFault(f"a Parameter carries Python attributes {sorted(map(str, state))!r:.120}, "
                        "which a clnet Parameter cannot hold")
    return rebuild_parameter(data, requires_grad, backward_hooks)


def rebuild_from_type_v2(func, new_type, args, state):
    """``torch._tensor._rebuild_from_type_v2``: a tensor (or Parameter) rebuilt by ``func``;
    only plain clnet tensor types without extra Python attributes are accepted."""
    Parameter = parameter_class()
    if func not in (rebuild_tensor, rebuild_tensor_v2, rebuild_tensor_v3) or \
            new_type not in (Tensor, Parameter) or not isinstance(args, tuple):
        raise FileFault(f"a tensor of type {getattr(new_type, '__name__', new_type)!r:.60} "
                        "rebuilt by a function clnet does not read: a tensor subclass")
    t = func(*args)
    if state:
        raise FileFault(f"a tensor carries Python attributes {sorted(map(str, state))!r:.120}, "
                        "which a clnet tensor cannot hold")
    return t if new_type is Tensor else Parameter(t, requires_grad=t.requires_grad)


class LoadedStorage:
    """One storage record of a file: its raw bytes (read when the pickle first names it in a
    zip file, after the pickle in a legacy file) and its device copy per element type, made
    once and shared by every tensor that views it."""

    def __init__(self, nbytes, device, byteorder, typed_spec=None):
        self.nbytes, self.device, self.byteorder = nbytes, device, byteorder
        self.typed_spec = typed_spec
        self.raw = None
        self.flats = {}

    def device_flat(self, spec):
        flat = self.flats.get(spec.torch_name)
        if flat is None:
            if self.raw is not None:
                flat = from_numpy_to(spec.to_clnet(self.raw, self.byteorder), self.device,
                                     spec.dtype)
                if spec is self.typed_spec:
                    self.raw = None         # a typed storage has no other reading
            else:       # a legacy file: the bytes come after the pickle (see fill)
                flat = empty(self.nbytes // spec.file_np.itemsize, dtype=spec.dtype,
                             device=self.device)
            self.flats[spec.torch_name] = flat
        return flat

    def fill(self, raw):
        """The bytes of a legacy file's storage, into the device copies made so far."""
        self.raw = raw
        for name, flat in self.flats.items():
            spec = SPECS[name]
            with no_grad():
                flat.copy_(from_numpy_to(spec.to_clnet(raw, self.byteorder), self.device,
                                         spec.dtype))


class LoadedStorageView:
    """A storage of the file (or a window of one, legacy format) as tensors see it."""

    def __init__(self, storage, base, numel, spec):
        self.storage, self.base, self.numel, self.spec = storage, base, numel, spec

    def device_flat(self):
        # an untyped storage read without a dtype is bytes: uint8, loaded as int32
        return self.storage.device_flat(self.spec or SPECS["uint8"])

    def as_dtype(self, spec):
        """An untyped storage read as ``spec`` elements (``_rebuild_tensor_v3``)."""
        if self.spec is not None:
            raise FileFault("_rebuild_tensor_v3 names a dtype for a typed storage: a damaged "
                            "or forged file")
        if self.numel % spec.file_np.itemsize:
            raise FileFault(f"an untyped storage of {self.numel} bytes cannot hold {spec!r} "
                            f"elements of {spec.file_np.itemsize} bytes")
        return LoadedStorageView(self.storage, 0, self.numel // spec.file_np.itemsize, spec)


# ------------------------------------------------------------------ the allow-list
def _encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as protocol 2 pickles use it for bytes: a text codec only."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1", "utf-8",
                                                  "utf8", "ascii"):
        raise FileFault(f"_codecs.encode with codec {encoding!r:.40}: pickles of bytes use "
                        "latin1")
    return codecs.encode(obj, encoding, errors)


def _bytearray(source=b"", *args):
    """``bytearray`` as pickles use it (from bytes or text); never ``bytearray(n)``, which
    would allocate whatever the file asks."""
    if not isinstance(source, (bytes, bytearray, str)):
        raise FileFault(f"bytearray({type(source).__name__}) is not how a pickle stores bytes")
    return bytearray(source, *args)


def _size(sizes=()):
    if not isinstance(sizes, (tuple, list)) or not all(type(s) is int for s in sizes):
        raise FileFault(f"torch.Size({sizes!r:.60}) is not a size")
    return Size(sizes)


def _device(kind, index=None):
    """``torch.device`` in a file: the clnet device of that name where there is one, else the
    name itself (a string works wherever clnet takes a device)."""
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise FileFault(f"torch.device({kind!r:.40}, {index!r:.20}) is not a device")
    name = kind if index is None else f"{kind}:{index}"
    try:
        return device(name)
    except (DeviceError, TypeError, ValueError):
        return name


_TABLE = None


def allowed_globals():
    """``{"module.name": object}``: PyTorch's default ``weights_only`` allow-list in clnet's
    terms (and clnet's own names for the same things)."""
    global _TABLE
    if _TABLE is None:
        Parameter = parameter_class()
        table = {
            "collections.OrderedDict": OrderedDict, "collections.Counter": Counter,
            "builtins.set": set, "builtins.bytearray": _bytearray, "builtins.complex": complex,
            "_codecs.encode": _encode,
            "torch.Size": _size, "torch.device": _device, "torch.Tensor": Tensor,
            "torch.nn.parameter.Parameter": Parameter, "clnet.tensor.Tensor": Tensor,
            "clnet.nn.parameter.Parameter": Parameter,
            "torch._utils._rebuild_tensor": rebuild_tensor,
            "torch._utils._rebuild_tensor_v2": rebuild_tensor_v2,
            "torch._utils._rebuild_tensor_v3": rebuild_tensor_v3,
            "torch._utils._rebuild_parameter": rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": rebuild_parameter_with_state,
            "torch._tensor._rebuild_from_type_v2": rebuild_from_type_v2,
            "torch.tensor._rebuild_from_type_v2": rebuild_from_type_v2,
            "torch.UntypedStorage": UNTYPED, "torch.storage.UntypedStorage": UNTYPED,
        }
        for name, spec in SPECS.items():
            # a dtype in a file is the clnet dtype it loads as; a v3-only one stays a spec
            table[f"torch.{name}"] = spec if spec.storage is None else spec.dtype
            table[f"clnet.dtypes.{name}"] = spec.dtype
        for alias, name in _ALIASES.items():
            table[f"torch.{alias}"] = table[f"torch.{name}"]
        for name, spec in STORAGE_SPECS.items():
            table[f"torch.{name}"] = spec
        for name in _NO_CLNET_DTYPE:
            table[f"torch.{name}"] = _no_dtype(name)
        for name in _NO_CLNET_STORAGE:
            table[f"torch.{name}"] = _no_dtype(name)
        for fn, kind in (("_rebuild_qtensor", "quantized tensor"),
                         ("_rebuild_sparse_tensor", "sparse tensor"),
                         ("_rebuild_nested_tensor", "nested tensor"),
                         ("_rebuild_meta_tensor_no_storage", "meta tensor"),
                         ("_rebuild_wrapper_subclass", "tensor subclass"),
                         ("_rebuild_device_tensor_from_numpy", "tensor saved through numpy"),
                         ("_rebuild_device_tensor_from_cpu_tensor", "tensor subclass")):
            table[f"torch._utils.{fn}"] = _no_kind(kind)
        table["torch.serialization._get_layout"] = _no_kind("sparse tensor layout")
        _TABLE = table
    return _TABLE
