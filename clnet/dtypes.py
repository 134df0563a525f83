"""Tensor element types, their OpenCL C names, and PyTorch's type-promotion rules.

float16 and bfloat16 are stored in 16 bits on every device: float16 as OpenCL's ``half``
(read and written with the core ``vload_half``/``vstore_half_rte``), bfloat16 as a ``ushort``
holding the top half of a float32. Their ``compute`` dtype is float32: ops compute in float32
and round each result once (PyTorch CPU's "opmath"), see clnet/ops/opmath.py."""
import builtins

import numpy as np


class dtype:
    """A tensor element type (``clnet.float32``...). Compare by identity, as PyTorch does."""

    __slots__ = ("name", "np", "cl", "itemsize", "is_floating_point", "is_signed", "_rank",
                 "compute")

    def __init__(self, name, np_dtype, cl_name, rank, floating=None):
        self.name = name
        # the numpy dtype of the stored bits: bfloat16's is uint16 (numpy has no bfloat16), so
        # its values go through to_host_values/from_host_values, never a plain astype
        self.np = np.dtype(np_dtype)
        self.cl = cl_name
        self.itemsize = self.np.itemsize
        self.is_floating_point = self.np.kind == "f" if floating is None else floating
        self.is_signed = self.np.kind in "if" or self.is_floating_point
        # position in the promotion lattice bool < int32 < int64 < float16 = bfloat16 < float32
        # < float64 (float16 and bfloat16 tie: together they promote to float32)
        self._rank = rank
        self.compute = self   # the dtype kernels compute in (float32 for the 16-bit floats)

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
float16 = dtype("float16", np.float16, "half", 3)
bfloat16 = dtype("bfloat16", np.uint16, "bfloat16", 3, floating=True)
float32 = dtype("float32", np.float32, "float", 4)
float64 = dtype("float64", np.float64, "double", 5)
half = float16
float16.compute = bfloat16.compute = float32
HALF_TYPES = (float16, bfloat16)

ALL = (bool_, int32, int64, float16, bfloat16, float32, float64)
_BY_NP = {d.np: d for d in ALL if d is not bfloat16}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "int": int32, "long": int64,
                 "bool_": bool_, "half": float16})

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
        if npd.name == "bfloat16":      # ml_dtypes' numpy bfloat16, where it is installed
            return bfloat16
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
    """PyTorch's promotion of two tensor dtypes: the higher of the chain bool < int32 < int64 <
    16-bit float < float32 < float64, except float16 with bfloat16, which gives float32."""
    if a is b:
        return a
    if a._rank == b._rank:      # float16 and bfloat16: neither holds the other
        return float32
    return a if a._rank > b._rank else b


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
    return finfo(d).eps


class finfo:
    """``torch.finfo(dtype)``: the limits of a floating-point dtype (bits, eps, max, min, tiny,
    smallest_normal, resolution)."""

    def __init__(self, type=None):
        d = get_default_dtype() if type is None else to_dtype(type)
        if not d.is_floating_point:
            raise TypeError(f"finfo: {d} is not a floating-point dtype")
        self.dtype = d.name
        if d is bfloat16:
            # 8 exponent bits like float32, 7 mantissa bits
            self.bits, self.eps, self.resolution = 16, 2.0 ** -7, 0.01
            self.max = float(np.float32(3.3895313892515355e38))
            self.tiny = self.smallest_normal = 2.0 ** -126
        else:
            info = np.finfo(d.np)
            self.bits, self.eps = info.bits, float(info.eps)
            self.resolution = 10.0 ** -info.precision    # float16's 0.001, not 0.0010004
            self.max, self.tiny = float(info.max), float(info.smallest_normal)
            self.smallest_normal = self.tiny
        self.min = -self.max

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:.6g}, max={self.max:.6g}, "
                f"eps={self.eps:.6g}, smallest_normal={self.smallest_normal:.6g}, "
                f"tiny={self.tiny:.6g}, dtype={self.dtype})")


# ----------------------------------------------------------------------- bfloat16 on the host
def bfloat16_bits(values):
    """uint16 bfloat16 bits of ``values`` (any real array), rounded to nearest even through
    float32 as c10::BFloat16 does; every NaN becomes the quiet NaN 0x7FC0, as in PyTorch."""
    f = np.array(values, dtype=np.float32)     # a contiguous copy (0-d stays 0-d)
    u = f.view(np.uint32).astype(np.uint64)
    bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(f), np.uint16(0x7FC0), bits).astype(np.uint16)


def bfloat16_values(bits):
    """float32 values of uint16 bfloat16 bits (exact: bfloat16 is float32's top half)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def to_host_values(stored, d):
    """The values of a tensor's stored host array: bfloat16's bits decoded to float32; every
    other dtype's array as it is."""
    return bfloat16_values(stored) if d is bfloat16 else stored


def round_scalar(value, d):
    """A Python float rounded to 16-bit dtype ``d`` (as a Python float)."""
    if d is bfloat16:
        return float(bfloat16_values(bfloat16_bits([value]))[0])
    return float(np.float16(value)) if d is float16 else value


def from_host_values(values, d):
    """The array of host ``values`` to store as dtype ``d`` (bfloat16: its bits)."""
    if d is bfloat16:
        return bfloat16_bits(values)
    return np.asarray(values, dtype=d.np)
