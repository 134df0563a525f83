"""PyTorch-like printing of tensors: ``tensor([[1., 2.], [3., 4.]], dtype=clnet.float64)``."""
import numpy as np

from . import dtypes
from .backend.devices import default_device

_IMPLICIT = ("float32", "int64", "bool")
_THRESHOLD = 1000
_EDGE = 3


def _float_formatter(values):
    """PyTorch's float printing: integer-valued -> '1.', a wide range -> scientific, else 4
    decimals; every element padded to one width."""
    finite = values[np.isfinite(values)]
    fmt = "{:.4f}"
    if finite.size:
        amax = np.abs(finite).max()
        nonzero = np.abs(finite[finite != 0])
        amin = nonzero.min() if nonzero.size else 0.0
        if np.all(finite == np.round(finite)):
            fmt = "{:.0f}." if amax < 1e8 else "{:.4e}"
        elif amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000):
            fmt = "{:.4e}"
    width = max((len(_special(v) or fmt.format(v)) for v in values), default=0)
    return lambda x: (_special(x) or fmt.format(x)).rjust(width)


def _special(x):
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def format_tensor(t):
    a = t._host_values()       # bfloat16 printed through float32, as numpy() refuses it
    opts = {"separator": ", ", "prefix": "tensor(", "threshold": _THRESHOLD, "edgeitems": _EDGE,
            "max_line_width": 80}
    if t.dtype.is_floating_point:
        opts["formatter"] = {"float_kind": _float_formatter(a.astype(np.float64).ravel())}
    elif t.dtype is dtypes.bool_:
        opts["formatter"] = {"bool": lambda v: "True" if v else "False"}
    if a.size == 0:
        body = "[]" if a.ndim <= 1 else np.array2string(a, **opts)
    else:
        body = np.array2string(a, **opts)
    extras = []
    if a.size == 0 and a.ndim > 1:
        extras.append(f"size={tuple(t.shape)}")
    if t.device is not default_device():
        extras.append(f"device='{t.device}'")
    if t.dtype.name not in _IMPLICIT or (a.size == 0 and t.dtype.name != "float32"):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{type(t.grad_fn).__name__}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
