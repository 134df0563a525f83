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
from .tensor_methods import TENSOR_METHODS

for _name, _method in TENSOR_METHODS.items():
    setattr(Tensor, _name, _method)
