"""Every Tensor method of the op families, in one table.

``TENSOR_METHODS`` maps each method name to what it runs; ops/__init__.py installs it on
``Tensor`` (the class in tensor.py holds only the layout, and its docstring points here). Most
entries are the family's function itself, the tensor being its first argument. The others are
written here or in pointwise_methods.py: an adapter where the method's signature differs from the
function's (``x.float()``, ``x.new_zeros(...)``, ``x.where(cond, y)``), an operator (``x + y``:
``fast_binop``/``binop``/``rbinop``, which give NotImplemented for a foreign operand), and the
in-place forms, of two kinds: ``inplace_kernel(op)`` / ``iop(op, name)`` run the elementwise
kernel on the tensor's own storage; ``wrap_inplace(fn, name)`` computes ``fn`` out of place and
copies the result back (autograd sees fn's graph). Sparse layouts add their own methods
(clnet/sparse).
"""
from .. import dtypes
from ..tensor import Tensor
from . import (copy, creation, index, join, linalg, numeric, random, reduce, scan, softmax, sort,
               subscripts, tensor_algebra, tensor_shape, views)
from . import pointwise as P
from .pointwise_methods import (add_, binop, clamp_, copy_, div_, eq_method, fast_binop, fill_,
                                inplace_kernel, invert, iop, ne_method, pos, rbinop, sub_,
                                wrap_inplace, zero_)


def _new(make):
    """``x.new_zeros(*size, ...)`` and friends: ``make`` with x's dtype and device by default."""
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return make(*size, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)
    method.__name__ = method.__qualname__ = "new_" + make.__name__
    return method


def _matmul_method(self, other):
    # x @ y; NotImplemented for a foreign operand (a sparse tensor answers with __rmatmul__)
    return linalg.matmul(self, other) if isinstance(other, Tensor) else NotImplemented


def _rmatmul_method(self, other):
    return linalg.matmul(other, self) if isinstance(other, Tensor) else NotImplemented


TENSOR_METHODS = {
    # ------------------------------------------------ copies, dtypes, devices (copy.py)
    "contiguous": lambda self, memory_format=None: copy.contiguous(self),
    "clone": lambda self, memory_format=None: copy.clone(self),
    "to": copy.to, "cpu": copy.cpu,
    "float": lambda self: copy.cast(self, dtypes.float32),
    "double": lambda self: copy.cast(self, dtypes.float64),
    "int": lambda self: copy.cast(self, dtypes.int32),
    "long": lambda self: copy.cast(self, dtypes.int64),
    "bool": lambda self: copy.cast(self, dtypes.bool_),

    # ------------------------------------------------ creation (creation.py)
    "_from_data": staticmethod(creation.tensor),   # Tensor(data), the legacy constructor
    "new_zeros": _new(creation.zeros), "new_ones": _new(creation.ones),
    "new_empty": _new(creation.empty),
    "new_full": lambda self, size, fill_value, dtype=None, device=None, requires_grad=False:
        creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad),
    "new_tensor": lambda self, data, dtype=None, device=None, requires_grad=False:
        creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                        requires_grad=requires_grad),

    # ------------------------------------------------ views (views.py); t[idx] (subscripts.py)
    "view": views.view, "view_as": views.view_as, "reshape": views.reshape,
    "reshape_as": views.reshape_as, "flatten": views.flatten, "unflatten": views.unflatten,
    "squeeze": views.squeeze, "unsqueeze": views.unsqueeze, "t": views.t,
    "transpose": views.transpose, "swapaxes": views.swapaxes, "swapdims": views.swapdims,
    "permute": views.permute, "movedim": views.movedim, "expand": views.expand,
    "expand_as": views.expand_as, "broadcast_to": views.broadcast_to, "narrow": views.narrow,
    "select": views.select, "split": views.split, "chunk": views.chunk, "unbind": views.unbind,
    "as_strided": views.as_strided,
    "T": property(lambda self: views.permute(self, list(range(self.dim()))[::-1])),
    "mT": property(lambda self: views.transpose(self, -2, -1)),
    "unsqueeze_": views.unsqueeze_, "squeeze_": views.squeeze_, "transpose_": views.transpose_,
    "t_": views.t_, "swapaxes_": views.transpose_, "swapdims_": views.transpose_,
    "__getitem__": views.getitem, "__setitem__": subscripts.setitem,
    "nonzero": subscripts.nonzero, "argwhere": subscripts.argwhere,

    # ------------------------------------------------ elementwise (pointwise.py)
    # unary math and activations, each with a kernel in-place form
    "exp": P.exp, "exp2": P.exp2, "expm1": P.expm1, "log": P.log, "log2": P.log2,
    "log10": P.log10, "log1p": P.log1p, "sqrt": P.sqrt, "rsqrt": P.rsqrt,
    "reciprocal": P.reciprocal, "sin": P.sin, "cos": P.cos, "tan": P.tan, "asin": P.asin,
    "acos": P.acos, "atan": P.atan, "sinh": P.sinh, "cosh": P.cosh, "tanh": P.tanh,
    "asinh": P.asinh, "acosh": P.acosh, "atanh": P.atanh, "erf": P.erf, "erfc": P.erfc,
    "lgamma": P.lgamma, "digamma": P.digamma, "sigmoid": P.sigmoid, "logsigmoid": P.logsigmoid,
    "silu": P.silu, "mish": P.mish, "softsign": P.softsign, "hardsigmoid": P.hardsigmoid,
    "hardswish": P.hardswish, "selu": P.selu, "frac": P.frac, "floor": P.floor, "ceil": P.ceil,
    "round": P.round, "trunc": P.trunc, "fix": P.fix,
    **{name + "_": inplace_kernel(name) for name in (
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal",
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh", "erf", "erfc", "lgamma", "digamma", "sigmoid", "logsigmoid", "silu", "mish",
        "softsign", "hardsigmoid", "hardswish", "selu", "frac", "floor", "ceil", "round",
        "trunc")},
    "relu": lambda self: P.relu(self),
    "relu_": inplace_kernel("relu", float_only=False),
    # sign-like and classifiers
    "neg": P.neg, "negative": P.negative, "abs": P.abs, "absolute": P.absolute, "sign": P.sign,
    "sgn": P.sgn, "square": P.square, "logical_not": P.logical_not,
    "bitwise_not": P.bitwise_not, "isnan": P.isnan, "isinf": P.isinf, "isfinite": P.isfinite,
    "signbit": P.signbit, "nan_to_num": P.nan_to_num,
    # binary, with a kernel in-place form where one exists
    "add": P.add, "sub": P.sub, "subtract": P.subtract, "mul": P.mul, "multiply": P.multiply,
    "div": P.div, "divide": P.divide, "true_divide": P.true_divide,
    "floor_divide": P.floor_divide, "remainder": P.remainder, "fmod": P.fmod, "pow": P.pow,
    "float_power": P.float_power, "maximum": P.maximum, "minimum": P.minimum, "fmax": P.fmax,
    "fmin": P.fmin, "atan2": P.atan2, "arctan2": P.arctan2, "hypot": P.hypot,
    "copysign": P.copysign, "bitwise_and": P.bitwise_and, "bitwise_or": P.bitwise_or,
    "bitwise_xor": P.bitwise_xor,
    "add_": add_, "sub_": sub_, "div_": div_, "mul_": iop("mul", "mul_"),
    "pow_": iop("pow", "pow_"), "remainder_": iop("remainder", "remainder_"),
    "fmod_": iop("fmod", "fmod_"), "floor_divide_": iop("floordiv", "floor_divide_"),
    "maximum_": iop("maximum", "maximum_"), "minimum_": iop("minimum", "minimum_"),
    "bitwise_and_": iop("bitwise_and", "bitwise_and_"),
    "bitwise_or_": iop("bitwise_or", "bitwise_or_"),
    "bitwise_xor_": iop("bitwise_xor", "bitwise_xor_"), "atan2_": iop("atan2", "atan2_"),
    "hypot_": iop("hypot", "hypot_"),
    # comparisons and logical ops
    "eq": P.eq, "ne": P.ne, "lt": P.lt, "le": P.le, "gt": P.gt, "ge": P.ge,
    "greater": P.greater, "greater_equal": P.greater_equal, "less": P.less,
    "less_equal": P.less_equal, "not_equal": P.not_equal, "logical_and": P.logical_and,
    "logical_or": P.logical_or, "logical_xor": P.logical_xor,
    # ternary and ranges
    "lerp": P.lerp, "clamp": P.clamp, "clip": P.clip, "clamp_min": P.clamp_min,
    "clamp_max": P.clamp_max, "tril": P.tril, "triu": P.triu,
    "where": lambda self, condition, other: P.where(condition, self, other),
    "clamp_": clamp_, "clip_": clamp_,
    # in-place forms computed out of place and copied back
    **{name + "_": wrap_inplace(getattr(P, name), name + "_") for name in (
        "neg", "abs", "sign", "square", "logical_not", "nan_to_num", "lerp", "clamp_min",
        "clamp_max", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
        "logical_xor")},
    "zero_": zero_, "fill_": fill_, "copy_": copy_,
    # operators
    "__add__": fast_binop("add", P.add), "__radd__": rbinop(P.add),
    "__sub__": fast_binop("sub", P.sub), "__rsub__": rbinop(P.sub),
    "__mul__": fast_binop("mul", P.mul), "__rmul__": rbinop(P.mul),
    "__truediv__": fast_binop("div", P.div), "__rtruediv__": rbinop(P.div),
    "__floordiv__": binop(P.floor_divide), "__rfloordiv__": rbinop(P.floor_divide),
    "__mod__": binop(P.remainder), "__rmod__": rbinop(P.remainder),
    "__pow__": binop(P.pow), "__rpow__": rbinop(P.pow),
    "__and__": binop(P.bitwise_and), "__rand__": rbinop(P.bitwise_and),
    "__or__": binop(P.bitwise_or), "__ror__": rbinop(P.bitwise_or),
    "__xor__": binop(P.bitwise_xor), "__rxor__": rbinop(P.bitwise_xor),
    "__lshift__": binop(P.bitwise_left_shift), "__rshift__": binop(P.bitwise_right_shift),
    "__lt__": binop(P.lt), "__le__": binop(P.le), "__gt__": binop(P.gt), "__ge__": binop(P.ge),
    "__eq__": eq_method, "__ne__": ne_method,
    "__neg__": P.neg, "__pos__": pos, "__abs__": P.abs, "__invert__": invert,
    "__iadd__": iop("add", "__iadd__"), "__isub__": iop("sub", "__isub__"),
    "__imul__": iop("mul", "__imul__"), "__itruediv__": iop("div", "__itruediv__"),
    "__ifloordiv__": iop("floordiv", "__ifloordiv__"),
    "__imod__": iop("remainder", "__imod__"), "__ipow__": iop("pow", "__ipow__"),
    "__iand__": iop("bitwise_and", "__iand__"), "__ior__": iop("bitwise_or", "__ior__"),
    "__ixor__": iop("bitwise_xor", "__ixor__"),

    # ------------------------------------------------ random fills and draws (random.py)
    "uniform_": random.uniform_, "normal_": random.normal_, "exponential_": random.exponential_,
    "random_": random.random_, "bernoulli_": random.bernoulli_, "bernoulli": random.bernoulli,
    "multinomial": random.multinomial,

    # ------------------------------------------------ indexing along a dim (index.py)
    "gather": index.gather, "scatter": index.scatter, "scatter_": index.scatter_,
    "scatter_add": index.scatter_add, "scatter_add_": index.scatter_add_,
    "index_select": index.index_select, "index_add": index.index_add,
    "index_add_": index.index_add_, "index_copy": index.index_copy,
    "index_copy_": index.index_copy_, "index_fill": index.index_fill,
    "index_fill_": index.index_fill_, "take_along_dim": index.take_along_dim,
    "masked_fill": index.masked_fill, "masked_fill_": index.masked_fill_,
    "masked_select": index.masked_select,

    # ------------------------------------------------ joins and repeats (join.py)
    "repeat": join.repeat, "tile": join.tile, "flip": join.flip, "fliplr": join.fliplr,
    "flipud": join.flipud, "roll": join.roll, "repeat_interleave": join.repeat_interleave,

    # ------------------------------------------------ sorting (sort.py)
    "sort": sort.sort, "argsort": sort.argsort, "msort": sort.msort, "topk": sort.topk,
    "unique": sort.unique,

    # ------------------------------------------------ matrix products (linalg.py)
    "mm": linalg.mm, "matmul": linalg.matmul, "bmm": linalg.bmm, "addmm": linalg.addmm,
    "baddbmm": linalg.baddbmm, "mv": linalg.mv, "addmv": linalg.addmv, "outer": linalg.outer,
    "ger": linalg.outer, "dot": linalg.dot, "inner": linalg.inner,
    "__matmul__": _matmul_method, "__rmatmul__": _rmatmul_method,

    # ------------------------------------------------ softmax (softmax.py)
    "softmax": lambda self, dim=None, dtype=None: softmax.softmax(self, dim, dtype),
    "log_softmax": lambda self, dim=None, dtype=None: softmax.log_softmax(self, dim, dtype),

    # ------------------------------------------------ reductions and scans (reduce.py, scan.py)
    "sum": reduce.sum, "mean": reduce.mean, "prod": reduce.prod, "max": reduce.max,
    "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin, "argmax": reduce.argmax,
    "argmin": reduce.argmin, "var": reduce.var, "std": reduce.std, "norm": reduce.norm,
    "logsumexp": reduce.logsumexp, "all": reduce.all, "any": reduce.any,
    "count_nonzero": reduce.count_nonzero,
    "cumsum": lambda self, dim, *, dtype=None: scan.cumsum(self, dim, dtype=dtype),
    "cumprod": lambda self, dim, *, dtype=None: scan.cumprod(self, dim, dtype=dtype),

    # ------------------------------------ compositions (numeric.py, numeric_pointwise.py)
    "isclose": numeric.isclose, "allclose": numeric.allclose, "equal": numeric.equal,
    "nansum": numeric.nansum, "nanmean": numeric.nanmean, "median": numeric.median,
    "nanmedian": numeric.nanmedian, "aminmax": numeric.aminmax, "cummax": numeric.cummax,
    "cummin": numeric.cummin, "diff": numeric.diff, "bincount": numeric.bincount,
    "take": numeric.take, "logaddexp": numeric.logaddexp, "logaddexp2": numeric.logaddexp2,
    "xlogy": numeric.xlogy, "sinc": numeric.sinc, "logit": numeric.logit,
    "erfinv": numeric.erfinv, "deg2rad": numeric.deg2rad, "rad2deg": numeric.rad2deg,
    "heaviside": numeric.heaviside, "addcmul": numeric.addcmul, "addcdiv": numeric.addcdiv,
    **{name + "_": wrap_inplace(getattr(numeric, name), name + "_") for name in (
        "xlogy", "sinc", "logit", "deg2rad", "rad2deg", "addcmul", "addcdiv")},
    "heaviside_": numeric.heaviside_,

    # ------------------------------------ tensor algebra (tensor_algebra.py, tensor_shape.py)
    "diagonal": tensor_algebra.diagonal, "diag": tensor_algebra.diag,
    "diag_embed": tensor_algebra.diag_embed, "trace": tensor_algebra.trace,
    "kron": tensor_algebra.kron, "cross": tensor_algebra.cross,
    "matrix_power": tensor_algebra.matrix_power, "addr": tensor_algebra.addr,
    "rot90": tensor_shape.rot90, "tensor_split": tensor_shape.tensor_split,
    "hsplit": tensor_shape.hsplit, "vsplit": tensor_shape.vsplit, "dsplit": tensor_shape.dsplit,
}
