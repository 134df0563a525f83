"""Tensor element types, their OpenCL C names, and PyTorch's type-promotion rules."""
import builtins

import numpy as np


class dtype:
    """A tensor element type (``clnet.float32``...). Compare by identity, as PyTorch does."""

    __slots__ = ("name", "np", "cl", "itemsize", "is_floating_point", "is_signed", "_rank")

    def __init__(self, name, np_dtype, cl_name, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.cl = cl_name
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "if"
        self._rank = rank  # position in the promotion lattice bool < int32 < int64 < float32 < float64

    @property
    def is_complex(self):
        return False

    def __repr__(self):
        return f"clnet.{self.name}"

    def __reduce__(self):
        # by name through to_dtype: the module attribute of bool is bool_, not bool, so the
        # global-name form (returning self.name) could not be unpickled for it
        return (to_dtype, (self.name,))


bool_ = dtype("bool", np.bool_, "uchar", 0)
int32 = dtype("int32", np.int32, "int", 1)
int64 = dtype("int64", np.int64, "long", 2)
float32 = dtype("float32", np.float32, "float", 3)
float64 = dtype("float64", np.float64, "double", 4)

ALL = (bool_, int32, int64, float32, float64)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "int": int32, "long": int64,
                 "bool_": bool_})

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are allowed, got {d}")
    _default_float = d


def to_dtype(d):
    """Accept a clnet dtype, numpy dtype, Python type or name; return a clnet dtype."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        npd = np.dtype(d)
    except TypeError:
        npd = None
    if npd is not None:
        if npd in _BY_NP:
            return _BY_NP[npd]
        # numpy types we do not store natively map to the nearest supported one
        if npd.kind == "f":
            return float32 if npd.itemsize <= 4 else float64
        if npd.kind in "iu":
            return int32 if npd.itemsize < 4 or (npd.itemsize == 4 and npd.kind == "i") else int64
        if npd.kind == "b":
            return bool_
    raise TypeError(f"unsupported dtype {d!r}; clnet supports "
                    f"{', '.join(x.name for x in ALL)}")


def promote_types(a, b):
    """PyTorch's promotion of two tensor dtypes (our lattice is a chain)."""
    return a if a._rank >= b._rank else b


def _category(d):
    return 2 if d.is_floating_point else (0 if d is bool_ else 1)


def scalar_dtype(x):
    if isinstance(x, builtins.bool) or isinstance(x, np.bool_):
        return bool_
    if isinstance(x, (builtins.int, np.integer)):
        return int64
    if isinstance(x, (builtins.float, np.floating)):
        return _default_float
    raise TypeError(f"expected a Python number, got {type(x).__name__}")


def result_type_scalar(tensor_dtype, scalar):
    """dtype of ``tensor op scalar``: the scalar only raises the category (bool < int < float)."""
    sd = scalar_dtype(scalar)
    if _category(sd) > _category(tensor_dtype):
        return sd if sd.is_floating_point else int64
    return tensor_dtype


def finfo_eps(d):
    return float(np.finfo(d.np).eps)
