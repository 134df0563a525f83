"""The ops layer: one module per family. Each module lists the Tensor methods it provides in
``TENSOR_METHODS``; they are attached to ``Tensor`` here, so tensor.py never imports ops."""
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

_FAMILIES = [copy, creation, views, pointwise_methods, random, subscripts, index, join, sort, linalg, softmax, reduce, scan]
_FAMILIES += [conv, pool]
_FAMILIES += [norm, dropout, embedding]
_FAMILIES += [numeric, tensor_algebra]


def _install():
    for mod in _FAMILIES:
        for name, fn in getattr(mod, "TENSOR_METHODS", {}).items():
            setattr(Tensor, name, fn)


_install()
