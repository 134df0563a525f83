"""SparseCOOTensor's products, sums and arithmetic, put on the class from above.

coo.py defines the class; ops.py (mm, matmul, sum) and arith.py (add, mul, div, neg) import it,
so the methods that call them are defined here, above all three, and installed by the table at
the end (the package's __init__ imports this module, so they are there whenever the class is).
"""
from ..ops.elementwise import _is_num
from ..tensor import Tensor
from .arith import add, div, mul, neg
from .coo import SparseCOOTensor, unsupported
from .ops import matmul, mm, sum as sparse_sum


def _operand(x):
    """What the arithmetic operators take: tensors (dense or sparse) and numbers."""
    return isinstance(x, (Tensor, SparseCOOTensor)) or _is_num(x)


def _mm(self, mat2):
    return mm(self, mat2)


def _rmatmul(self, other):
    # dense @ sparse: Tensor.__matmul__ returns NotImplemented for a sparse operand
    if not isinstance(other, Tensor):
        return NotImplemented
    return matmul(other, self)


def _add(self, other, *, alpha=1):
    return add(self, other, alpha)


def _sub(self, other, *, alpha=1):
    return add(self, other, -alpha)


def _mul(self, other):
    r = mul(self, other)
    if r is NotImplemented:
        raise TypeError(f"mul: unsupported operand type {type(other).__name__}")
    return r


def _div(self, other):
    r = div(self, other)
    if r is NotImplemented:
        raise TypeError(f"div: unsupported operand type {type(other).__name__}")
    return r


def _neg(self):
    return neg(self)


def _add_op(self, other):
    return add(self, other) if _operand(other) else NotImplemented


def _radd_op(self, other):
    # a dense tensor + sparse is dense; a number + sparse is torch's add(sparse, dense) error
    if not _operand(other):
        return NotImplemented
    return add(other, self) if isinstance(other, Tensor) else add(self, other)


def _sub_op(self, other):
    return add(self, other, -1) if _operand(other) else NotImplemented


def _rsub_op(self, other):
    return add(other, self, -1) if _operand(other) else NotImplemented


def _mul_op(self, other):
    return mul(self, other)


def _truediv_op(self, other):
    return div(self, other)


def _sum(self, dim=None, keepdim=False, dtype=None):
    if keepdim:
        raise unsupported("sum(keepdim=True)")
    return sparse_sum(self, dim, dtype=dtype)


# SparseCOOTensor's method table: name -> function
METHODS = {
    "mm": _mm, "matmul": _mm, "__matmul__": _mm, "__rmatmul__": _rmatmul,
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg, "negative": _neg,
    "__add__": _add_op, "__radd__": _radd_op, "__sub__": _sub_op, "__rsub__": _rsub_op,
    "__mul__": _mul_op, "__rmul__": _mul_op, "__truediv__": _truediv_op, "__neg__": _neg,
    "sum": _sum,
}

for _name, _fn in METHODS.items():
    if _fn.__name__.startswith("_") and not _name.startswith("__"):
        _fn.__name__ = _fn.__qualname__ = _name      # the first public name it goes under
    setattr(SparseCOOTensor, _name, _fn)
del _name, _fn
