"""The ops layer: one module per family (docs/architecture.md gives their order). Every Tensor
method they provide is listed in ONE table, tensor_methods.py, installed on ``Tensor`` here, so
tensor.py never imports ops."""
from ..tensor import Tensor
from . import copy, creation, pointwise, pointwise_methods, random, views
from . import index, subscripts, join, sort
from . import linalg
from . import reduce, scan
from . import conv, pool
from . import softmax
from . import norm, dropout, embedding
from . import inplace_views   # installs graph.view_hooks (autograd of in-place ops on views)
from . import numeric, tensor_algebra
from . import activations, arithmetic, numeric_pointwise, opmath, rnn, tensor_shape, unary_math

# float16/bfloat16 compute in float32, rounded once per op (opmath.py): every public function of
# the families, rebound here before tensor_methods.py, the facade and nn take them
_WRAPPED = [activations, arithmetic, unary_math, pointwise, pointwise_methods, random, views,
            index, subscripts, join, sort, linalg, reduce, scan, conv, pool, softmax, norm,
            dropout, embedding, numeric, numeric_pointwise, tensor_algebra, tensor_shape, rnn]
for _mod in _WRAPPED:
    opmath.wrap_module(_mod, {m.__name__ for m in _WRAPPED})
from . import activations, arithmetic, numeric_pointwise, rnn, unary_math
from . import autocast as _autocast

# autocast (autocast.py): torch's listed ops cast their inputs at entry; wrapped after the rest
# so its casts come first, and before tensor_methods.py, the facade and nn take the functions
for _mod in (activations, arithmetic, unary_math, pointwise, numeric_pointwise, index, join,
             linalg, reduce, scan, conv, softmax, norm, numeric, tensor_algebra, rnn):
    _autocast.wrap_module(_mod)
from .tensor_methods import TENSOR_METHODS

for _name, _method in TENSOR_METHODS.items():
    _wrapped = opmath.wrap_method(_name, _method)
    if hasattr(_method, "fast_op"):     # x + y: the float32 fast path before any wrapper
        _wrapped = pointwise_methods.fast_front(_method.fast_op, _wrapped)
    setattr(Tensor, _name, _wrapped)

# the listed ops' Tensor methods (x.matmul, x @ w, x.softmax, x.sum...) join autocast too
for _name in _autocast.FUNCTION_OPS:
    if isinstance(Tensor.__dict__.get(_name), type(_autocast.wrap_function)):
        setattr(Tensor, _name, _autocast.wrap_function(Tensor.__dict__[_name], _name))
