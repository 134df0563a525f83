"""The elementwise family's public API, PyTorch-named, gathered from the files that define each
op beside its backward rule:

  arithmetic.py   + - * / pow, comparisons, logical/bitwise, where, lerp, clamp, neg/abs/sign
  unary_math.py   exp/log, roots, trigonometric/hyperbolic, erf, lgamma/digamma, rounding,
                  isnan/isinf/isfinite, nan_to_num
  activations.py  relu, sigmoid, tanh-based and smooth activations (gelu, silu, mish, softplus)

all three over the engine in elementwise.py (promotion, broadcasting, recording) and the launches
in clnet/kernels/elementwise.py. ``clnet.ops.pointwise`` is what clnet's facade, nn.functional
and the other packages import; the Tensor methods and operators are pointwise_methods.py's.
"""
from . import activations, arithmetic, unary_math
from .activations import *  # noqa: F401,F403
from .activations import celu, elu, gelu, hardtanh, leaky_relu, relu6, softplus  # noqa: F401
from .activations import threshold  # noqa: F401 (F-only activations: nn.functional's)
from .arithmetic import *  # noqa: F401,F403
from .unary_math import *  # noqa: F401,F403

# the floating-point unary ops, each also a Tensor method with an in-place form (x.exp_())
_FLOAT_UNARY = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
                "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "digamma", "sigmoid",
                "logsigmoid", "silu", "mish", "softsign", "hardsigmoid", "hardswish", "selu",
                "frac"]

__all__ = arithmetic.__all__ + unary_math.__all__ + activations.__all__
