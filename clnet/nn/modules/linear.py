"""Linear and Bilinear layers, initialised exactly as PyTorch's (kaiming_uniform_(a=sqrt(5))
for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional
import math

from ... import dtypes
from ...ops import autocast
from ...ops.creation import empty
from ...ops.linalg import linear_act
from ...tensor import Tensor as _Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

from ..containers import Identity, register_pair_fuser  # noqa: F401,E402 (torch.nn.modules.linear.Identity)

if TYPE_CHECKING:
    from ...tensor import Tensor
    from ...types import Device, _dtype

__all__ = ["Identity", "Linear", "Bilinear", "LazyLinear"]


def _factory(device, dtype):
    return {"device": device, "dtype": dtypes.to_dtype(dtype) if dtype is not None else None}


def reset_weight_and_bias(weight: Tensor, bias: Optional[Tensor]) -> None:
    """PyTorch's default init of Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) for the
    weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        if fan_in > 0:
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Device = None, dtype: Optional[_dtype] = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        kw = _factory(device, dtype)
        self.weight = Parameter(empty(out_features, in_features, **kw))
        if bias:
            self.bias = Parameter(empty(out_features, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


_MODULE_CALL = Module.__call__


def _hooked(m: Module) -> bool:
    return bool(m._forward_pre_hooks or m._forward_hooks or m._backward_hooks
                or m._backward_pre_hooks)


# the activation modules the GEMM epilogue applies, by class name in nn/modules/activation.py
# (which imports this module through attention.py: it cannot be imported back here)
_ACTIVATION_MODULE = __name__.rsplit(".", 1)[0] + ".activation"
_EPILOGUE_ACTS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}


def _act_name(m: Module) -> Optional[str]:
    t = type(m)
    if t.__module__ != _ACTIVATION_MODULE:
        return None
    if t.__name__ == "GELU":
        approximate = getattr(m, "approximate", None)
        return "gelu" if approximate == "none" else "gelu_tanh" if approximate == "tanh" else None
    return _EPILOGUE_ACTS.get(t.__name__)


def fused_linear_activation(lin: Module, act: Module, input: object) -> Optional[Tensor]:
    """``act(lin(input))`` as ONE GEMM launch with the activation in its epilogue
    (ops/linalg.py linear_act), or None when the pair must run as two calls: either module is
    not exactly Linear / ReLU, GELU, Tanh, Sigmoid (a subclass may override forward), either has
    hooks (they must see the intermediate output), autocast is on, or the input is not a
    float32/float64 tensor of the weight's dtype, or Module.__call__ is wrapped (the ONNX tracer
    converts module calls: it must see both). nn.Sequential asks for each adjacent pair."""
    if (type(lin) is not Linear or _hooked(lin) or autocast.state.active is not None
            or Module.__call__ is not _MODULE_CALL):
        return None
    name = _act_name(act)
    if name is None or _hooked(act) or not isinstance(input, _Tensor):
        return None
    w = lin.weight
    if input.dtype is not w.dtype or w.dtype not in (dtypes.float32, dtypes.float64):
        return None
    return linear_act(input, w, lin.bias, name)


register_pair_fuser(Linear, fused_linear_activation)


class LazyLinear(Linear):
    """Linear whose in_features is taken from the first input."""

    def __init__(self, out_features: int, bias: bool = True, device: Device = None,
                 dtype: Optional[_dtype] = None) -> None:
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._lazy = (bias, device, dtype)
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if self.weight is None:
            bias, device, dtype = self._lazy
            Linear.__init__(self, input._shape[-1], self.out_features, bias,
                            device or input.device, dtype or input.dtype)
        return super().forward(input)


class Bilinear(Module):
    """y = x1^T A x2 + b with A of shape (out_features, in1_features, in2_features)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device: Device = None, dtype: Optional[_dtype] = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        kw = _factory(device, dtype)
        self.weight = Parameter(empty(out_features, in1_features, in2_features, **kw))
        if bias:
            self.bias = Parameter(empty(out_features, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
