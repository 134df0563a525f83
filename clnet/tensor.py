"""Tensor: a device buffer + dtype + shape + strides (in elements) + offset.

The class holds the data layout and host-side conveniences only, and this file imports nothing
above it. Where the other Tensor methods are defined:

- every computation (``t.exp()``, ``t + u``, ``t[i]``, ``t.sum()``...): the op families of
  ``clnet/ops``; ONE table, ``clnet/ops/tensor_methods.py``, lists each method and the function
  it runs, and ``ops/__init__.py`` installs it here;
- ``Tensor(data)`` (the legacy constructor from data): ``ops/creation.py``'s ``tensor``,
  installed as ``Tensor._from_data`` by the same table;
- ``pickle`` and ``copy.deepcopy`` (``__reduce_ex__``, ``__deepcopy__``):
  ``clnet/serialization/host_pickle.py``;
- sparse layouts (``is_sparse``, ``to_sparse``...): ``clnet/sparse``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Tuple, Union, overload

import numpy as np
import pyopencl as cl

from . import dtypes
from ._format import format_tensor
from .backend.device_errors import check_device_errors
from .backend.devices import cuda_device
from .backend.devices import device as _resolve_device
from .backend.launch import refuse_in_capture
from .backend.memory import allocate
from .errors import DeviceError

if TYPE_CHECKING:
    from .backend.devices import Device as _Device


class Size(tuple):
    """``clnet.Size``: a tuple of ints, printed like ``torch.Size``."""

    def __repr__(self) -> str:
        return f"clnet.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


class Storage:
    """A device buffer shared by a tensor and all its views, with the views' shared version."""

    __slots__ = ("buffer", "device", "nbytes", "version", "__weakref__")

    def __init__(self, device: _Device, nbytes: int) -> None:
        self.device = device
        self.nbytes = nbytes
        self.buffer = allocate(device, nbytes)
        self.version = 0


def contiguous_strides(shape: Sequence[int]) -> Tuple[int, ...]:
    strides = []
    acc = 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(strides))


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class Tensor:
    __slots__ = ("_storage", "_shape", "_stride", "_offset", "dtype", "requires_grad", "grad",
                 "grad_fn", "_grad_state", "_base", "_view_version", "__weakref__")
    # the slots' types (annotations only: no class attributes, so __slots__ is unaffected)
    dtype: "dtypes.dtype"
    requires_grad: bool
    grad: Optional["Tensor"]
    grad_fn: Any            # graph.Node (None on leaves)
    _storage: Storage
    _shape: Tuple[int, ...]
    _stride: Tuple[int, ...]
    _offset: int
    _grad_state: Any
    _base: Optional["Tensor"]
    _view_version: int

    if TYPE_CHECKING:
        # The ops layer attaches the ~380 computing methods at import time (ops/__init__.py
        # installs the table of ops/tensor_methods.py), which a type checker cannot see: to it, any
        # other attribute of a Tensor is Any, and the operators are declared here so that
        # ``a + b``, ``a @ b`` and ``a[i]`` type as Tensor.
        def __getattr__(self, name: str) -> Any: ...
        def __getitem__(self, index: Any) -> "Tensor": ...
        def __setitem__(self, index: Any, value: Any) -> None: ...
        def __add__(self, other: Any) -> "Tensor": ...
        def __radd__(self, other: Any) -> "Tensor": ...
        def __sub__(self, other: Any) -> "Tensor": ...
        def __rsub__(self, other: Any) -> "Tensor": ...
        def __mul__(self, other: Any) -> "Tensor": ...
        def __rmul__(self, other: Any) -> "Tensor": ...
        def __truediv__(self, other: Any) -> "Tensor": ...
        def __rtruediv__(self, other: Any) -> "Tensor": ...
        def __floordiv__(self, other: Any) -> "Tensor": ...
        def __rfloordiv__(self, other: Any) -> "Tensor": ...
        def __mod__(self, other: Any) -> "Tensor": ...
        def __rmod__(self, other: Any) -> "Tensor": ...
        def __pow__(self, other: Any) -> "Tensor": ...
        def __rpow__(self, other: Any) -> "Tensor": ...
        def __matmul__(self, other: Any) -> "Tensor": ...
        def __rmatmul__(self, other: Any) -> "Tensor": ...
        def __and__(self, other: Any) -> "Tensor": ...
        def __rand__(self, other: Any) -> "Tensor": ...
        def __or__(self, other: Any) -> "Tensor": ...
        def __ror__(self, other: Any) -> "Tensor": ...
        def __xor__(self, other: Any) -> "Tensor": ...
        def __rxor__(self, other: Any) -> "Tensor": ...
        def __lshift__(self, other: Any) -> "Tensor": ...
        def __rshift__(self, other: Any) -> "Tensor": ...
        def __lt__(self, other: Any) -> "Tensor": ...
        def __le__(self, other: Any) -> "Tensor": ...
        def __gt__(self, other: Any) -> "Tensor": ...
        def __ge__(self, other: Any) -> "Tensor": ...
        # elementwise, as torch's: a Tensor, not the bool that object's signature promises
        def __eq__(self, other: Any) -> "Tensor": ...  # type: ignore[override]
        def __ne__(self, other: Any) -> "Tensor": ...  # type: ignore[override]
        def __neg__(self) -> "Tensor": ...
        def __pos__(self) -> "Tensor": ...
        def __abs__(self) -> "Tensor": ...
        def __invert__(self) -> "Tensor": ...

    # ``Tensor(data)``'s builder: clnet.ops.creation.tensor, installed by ops/__init__.py (the
    # ops layer sits above this file)
    _from_data: Any = None

    # ------------------------------------------------------------------ construction
    def __new__(cls, *args: Any, device: Optional[Union[_Device, str, int]] = None,
                dtype: Optional[dtypes.dtype] = None, requires_grad: bool = False) -> Tensor:
        # ``Tensor(*sizes)`` is an uninitialised tensor, ``Tensor(data)`` copies data (PyTorch's
        # legacy constructor); both give the default float dtype.
        dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        sizes: Tuple[int, ...]
        if len(args) == 0:
            sizes = (0,)
        elif len(args) == 1 and isinstance(args[0], Size):
            sizes = tuple(args[0])
        elif all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            sizes = tuple(int(a) for a in args)
        elif len(args) == 1:
            return Tensor._from_data(args[0], dtype=dt, device=device,
                                     requires_grad=requires_grad)
        else:
            raise TypeError(f"Tensor(): expected sizes (ints) or one data argument, got {args!r}")
        t = Tensor._empty(sizes, dt, _resolve_device(device))
        t.requires_grad = requires_grad
        return t

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @staticmethod
    def _make(storage, shape, stride, offset, dt):
        """Wrap a layout around a storage (no copy, no checks): the ops layer's constructor."""
        t = object.__new__(Tensor)
        t._storage = storage
        t._shape = shape
        t._stride = stride
        t._offset = offset
        t.dtype = dt
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._grad_state = None
        t._base = None      # the tensor a view was taken of (see graph: views and in-place ops)
        t._view_version = 0  # a view's storage version when its history was last set
        return t

    @staticmethod
    def _empty(shape, dt, device):
        shape = tuple(shape)
        for s in shape:
            if s < 0:
                raise ValueError(f"negative dimension in size {list(shape)}")
        if dt is dtypes.float64 and not device.has_fp64:
            raise TypeError(f"float64 is not supported on {device} ({device.name}): the device "
                            "does not report cl_khr_fp64; use float32")
        storage = Storage(device, _numel(shape) * dt.itemsize)
        return Tensor._make(storage, shape, contiguous_strides(shape), 0, dt)

    # ------------------------------------------------------------------ layout
    @property
    def shape(self) -> Size:
        return Size(self._shape)

    @overload
    def size(self, dim: None = None) -> Size: ...

    @overload
    def size(self, dim: int) -> int: ...

    def size(self, dim: Optional[int] = None) -> Union[Size, int]:
        if dim is None:
            return Size(self._shape)
        return self._shape[self._wrap_dim(dim)]

    @overload
    def stride(self, dim: None = None) -> Tuple[int, ...]: ...

    @overload
    def stride(self, dim: int) -> int: ...

    def stride(self, dim: Optional[int] = None) -> Union[Tuple[int, ...], int]:
        if dim is None:
            return self._stride
        return self._stride[self._wrap_dim(dim)]

    def storage_offset(self) -> int:
        return self._offset

    def dim(self) -> int:
        return len(self._shape)

    ndim = property(dim)

    def ndimension(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        return _numel(self._shape)

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self.dtype.itemsize

    @property
    def device(self) -> _Device:
        return self._storage.device

    @property
    def is_cuda(self) -> bool:
        """True on an OpenCL GPU: clnet's "cuda" (see ``clnet.cuda``)."""
        return self._storage.device.kind == "GPU"

    @property
    def is_xpu(self) -> bool:
        return False    # Intel GPUs are OpenCL GPUs here: "cuda", like every GPU

    @property
    def is_mps(self) -> bool:
        return False

    def cuda(self, device: Optional[Union[_Device, str, int]] = None, non_blocking: bool = False,
             memory_format: Any = None) -> Tensor:
        """The tensor on an OpenCL GPU: ``device`` is an index among the GPUs (``cuda:N``), a
        device or a name; None is the current GPU. Raises ``clnet.DeviceError`` when there is
        no OpenCL GPU, where a CPU-only PyTorch raises 'Torch not compiled with CUDA enabled'."""
        if device is None or (isinstance(device, int) and not isinstance(device, bool)):
            dev = cuda_device(device, "cuda" if device is None else f"cuda:{device}")
        else:
            dev = _resolve_device(device)
            if dev.kind != "GPU":
                raise DeviceError(f"Invalid device, must be cuda device: {device} is a "
                                 f"{dev.kind} OpenCL device, not a GPU")
        return self.to(dev)

    @property
    def is_cpu(self) -> bool:
        return self._storage.device.kind == "CPU"

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format: Any = None) -> bool:
        expected = 1
        for s, st in zip(reversed(self._shape), reversed(self._stride)):
            if s != 1 and st != expected:
                return False
            expected *= s
        return True

    @property
    def _version(self):
        return self._storage.version

    def _bump_version(self):
        self._storage.version += 1

    def _wrap_dim(self, dim, ndim=None):
        n = len(self._shape) if ndim is None else ndim
        lo, hi = (-1, 0) if n == 0 else (-n, n - 1)
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"dim must be an int, got {type(dim).__name__}")
        if dim < lo or dim > hi:
            raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], "
                             f"but got {dim})")
        return int(dim) % max(n, 1)

    # ------------------------------------------------------------------ autograd basics
    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def detach(self) -> Tensor:
        """A view of the same data that is out of the graph (shares storage and version)."""
        return Tensor._make(self._storage, self._shape, self._stride, self._offset, self.dtype)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        return self.detach()

    @data.setter
    def data(self, other: Tensor) -> None:
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(other).__name__}")
        self._storage, self._shape = other._storage, other._shape
        self._stride, self._offset, self.dtype = other._stride, other._offset, other.dtype

    # ------------------------------------------------------------------ host side
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """A numpy copy of the data (waits for the device: a host round trip).

        Unlike PyTorch this also works on tensors that require grad (the copy is detached).
        bfloat16 has no numpy dtype: as PyTorch, it raises TypeError (``t.float().numpy()``
        gives its values)."""
        if self.dtype is dtypes.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        return self._host_array()

    def _host_array(self) -> np.ndarray:
        """The stored elements on the host: numpy()'s array, and bfloat16's raw uint16 bits."""
        refuse_in_capture(self._storage.device, "reading a tensor's values on the host "
                          "(.item(), .numpy(), .tolist(), bool()/float()/int(), printing)")
        src = self if self.is_contiguous() else self.contiguous()
        out = np.empty(self._shape, dtype=self.dtype.np)
        if out.size:
            cl.enqueue_copy(src.device.queue, out, src._storage.buffer,
                            src_offset=src._offset * self.dtype.itemsize, is_blocking=True)
        # a kernel that met bad device data (a class index out of range...) raises here
        check_device_errors(src.device)
        return out

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self) -> Union[int, float, bool]:
        if self.numel() != 1:
            raise ValueError(f"a Tensor with {self.numel()} elements cannot be converted to "
                             "Scalar (item() needs exactly one element)")
        return self._host_values().reshape(()).item()

    def tolist(self) -> Any:
        return self._host_values().tolist()

    def _host_values(self) -> np.ndarray:
        """The values on the host: numpy()'s array, bfloat16's as float32 (exact)."""
        return dtypes.to_host_values(self._host_array(), self.dtype)

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self._shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._shape[0]))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return format_tensor(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.dim() == 0:
            return format(self.item(), spec)
        return repr(self)

    # ------------------------------------------------------------------ PyTorch-style type helpers
    def type(self, dtype: Optional[Union[dtypes.dtype, str]] = None) -> Union[str, Tensor]:
        if dtype is None:
            return "clnet." + _TYPE_NAMES[self.dtype.name]
        if isinstance(dtype, str) and dtype.split(".")[-1] in _TENSOR_TYPES:
            dtype = _TENSOR_TYPES[dtype.split(".")[-1]]   # t.type("torch.HalfTensor")
        return self.to(dtype)

    def half(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.float16)

    def bfloat16(self, memory_format: Any = None) -> Tensor:
        return self.to(dtypes.bfloat16)


# Tensor.type()'s names, as torch's legacy tensor types
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int32": "IntTensor", "int64": "LongTensor",
               "bool": "BoolTensor"}
_TENSOR_TYPES = {v: dtypes.to_dtype(k) for k, v in _TYPE_NAMES.items()}
