"""Recurrent layers with PyTorch's names, parameter layouts, init and shapes: RNN (tanh/relu),
LSTM (with proj_size), GRU, and the single-step RNNCell, LSTMCell, GRUCell.

Formulation (per layer and direction): the input projection of ALL time steps is one GEMM
(``linear`` over the L*N rows of the sequence, the biases in its epilogue), split into per-step
views; each step then costs one GEMM (h @ W_hh^T added to that step's projection) and one
fused cell kernel (clnet/ops/rnn.py, clnet/nn/rnn_sequence.py); on CPU drivers an LSTM or GRU
step is ONE launch each way, the GEMM and the cell in one kernel (kernels/rnn.py). Every layer direction is ONE
graph node (``lstm_layer``, ``gru_layer``, ``rnn_layer``: no per-step graph bookkeeping, one
weight-gradient GEMM for the whole sequence), except LSTMs with proj_size, which record per
step (``time_steps``, ``lstm_step``). Directions and layers are assembled with ``stack``/``cat``.
Gradients come from autograd; the engine is iterative, so long sequences are fine.

LSTM folds b_hh into the input projection's bias (b_ih + b_hh, one small op: both still get
their gradient); GRU cannot (b_hn sits inside r * (h W_hn + b_hn)), so its b_hh is the addend
of the per-step GEMM; RNN folds like LSTM.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union
import math
import numbers
import warnings

from ... import dtypes
from ...ops.copy import contiguous
from ...ops.creation import empty, zeros
from ...ops.dropout import dropout as _dropout
from ...ops.join import cat, stack
from ...ops.linalg import addmm, linear, mm
from ...ops.pointwise import relu, tanh
from ...ops.rnn import gru_cell, lstm_step, time_steps
from ...tensor import Tensor
from .. import init
from ..rnn_sequence import gru_layer, lstm_layer, rnn_layer
from ..module import Module
from ..parameter import Parameter

if TYPE_CHECKING:
    from ...types import Device, _dtype

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _factory(device, dtype):
    return {"device": device, "dtype": dtypes.to_dtype(dtype) if dtype is not None else None}


def _check_sizes(input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name} must be greater than zero")


def _nonlinearity_mode(nonlinearity):
    if nonlinearity == "tanh":
        return "RNN_TANH"
    if nonlinearity == "relu":
        return "RNN_RELU"
    raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


# ------------------------------------------------------------------ one step of each kind
def _step(mode, x_part, h, c, w_hh, b_hh, w_hr_t):
    """One time step. ``x_part`` is that step's input projection (for LSTM/RNN it already holds
    both biases). Returns (h, c) (c is None except for LSTM)."""
    if mode == "LSTM":
        h, c = lstm_step(x_part, h, c, w_hh)
        if w_hr_t is not None:
            h = mm(h, w_hr_t)
        return h, c
    if mode == "GRU":
        w_hh_t = w_hh.t()
        gh = mm(h, w_hh_t) if b_hh is None else addmm(b_hh, h, w_hh_t)
        return gru_cell(x_part, gh, h), None
    pre = addmm(x_part, h, w_hh.t())
    return (tanh(pre) if mode == "RNN_TANH" else relu(pre)), None


def _input_projection(mode, x, w_ih, b_ih, b_hh):
    """x (..., H_in) @ W_ih^T plus the biases that can be folded (see the module docstring)."""
    if b_ih is None:
        return linear(x, w_ih)
    return linear(x, w_ih, b_ih if mode == "GRU" else b_ih + b_hh)


# ------------------------------------------------------------------ sequence layers
class RNNBase(Module):
    """The common machinery of RNN, LSTM and GRU (PyTorch's RNNBase)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Device = None,
                 dtype: Optional[_dtype] = None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        if (isinstance(dropout, bool) or not isinstance(dropout, numbers.Number)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: "
                            f"{type(batch_first).__name__}")
        _check_sizes(input_size, hidden_size)
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        kw = _factory(device, dtype)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(D):
                layer_input = input_size if layer == 0 else real_hidden * D
                suffix = "_reverse" if direction == 1 else ""
                params: List[Tuple[str, Tuple[int, ...]]] = [
                    ("weight_ih", (gate_size, layer_input)),
                    ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    params += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    params += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in params:
                    name = f"{base}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(*shape, **kw)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> List[List[Parameter]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN weight compaction: nothing to do here."""

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -------------------------------------------------------------- argument checks
    def _name(self):
        return "LSTM" if self.mode == "LSTM" else "GRU" if self.mode == "GRU" else "RNN"

    def _check_input(self, input):
        name = self._name()
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor "
                             f"instead (shape {list(input._shape)})")
        w = self.weight_ih_l0
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({w.dtype}). Convert input: input.to({w.dtype}), or convert "
                             f"model: model.to({input.dtype})")
        if input._shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {input._shape[-1]} (input shape "
                             f"{list(input._shape)})")

    def _state(self, state, batched, N, size, what):
        """A given initial state checked against (layers * directions, N, size); unbatched
        states are 2-D. Returns it 3-D."""
        name = self._name()
        expected = (self.num_layers * (2 if self.bidirectional else 1), N, size)
        if not isinstance(state, Tensor):
            raise TypeError(f"{name}: expected the {what} to be a Tensor, got "
                            f"{type(state).__name__}")
        if batched and state.dim() != 3:
            raise ValueError(f"{name}: For batched 3-D input, {what} should also be 3-D but got "
                             f"{state.dim()}-D tensor")
        if not batched and state.dim() != 2:
            raise ValueError(f"{name}: For unbatched 2-D input, {what} should also be 2-D but "
                             f"got {state.dim()}-D tensor")
        if not batched:
            state = state.unsqueeze(1)
        if tuple(state._shape) != expected:
            got = list(state._shape) if batched else [state._shape[0], state._shape[2]]
            exp = expected if batched else (expected[0], expected[2])
            raise ValueError(f"{name}: Expected {what} size {exp}, got {got}")
        if state.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"{name}: {what} dtype ({state.dtype}) does not match weight dtype "
                             f"({self.weight_ih_l0.dtype})")
        return state

    # -------------------------------------------------------------- forward
    def forward(self, input: Tensor, hx: Optional[Union[Tensor, Tuple[Tensor, Tensor]]] = None
                ) -> Tuple[Tensor, Union[Tensor, Tuple[Tensor, Tensor]]]:
        self._check_input(input)
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        if self.batch_first and batched:
            x = x.transpose(0, 1)
        N = x._shape[1]
        D = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        lstm = self.mode == "LSTM"
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of Tensors")
                h0 = self._state(hx[0], batched, N, real_hidden, "hidden[0]")
                c0 = self._state(hx[1], batched, N, self.hidden_size, "hidden[1]")
            else:
                h0 = self._state(hx, batched, N, real_hidden, "hidden")
        dev, dt = self.weight_ih_l0.device, self.weight_ih_l0.dtype
        h_init = time_steps(h0) if h0 is not None else None
        c_init = time_steps(c0) if c0 is not None else None

        h_list: List[Tensor] = []
        c_list: List[Optional[Tensor]] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(D):
                k = layer * D + direction
                h = h_init[k] if h_init is not None else zeros(N, real_hidden, dtype=dt,
                                                               device=dev)
                c = None
                if lstm:
                    c = c_init[k] if c_init is not None else zeros(N, self.hidden_size,
                                                                   dtype=dt, device=dev)
                # a one-direction last layer of a batch_first module writes its output in the
                # batch-first layout the caller gets (a view, no copy for what reads it next)
                bf_out = (self.batch_first and batched and D == 1
                          and layer == self.num_layers - 1)
                out, h, c = self._direction(layer_in, self._all_weights[k], h, c,
                                            reverse=direction == 1, batch_first_out=bf_out)
                outs.append(out)
                h_list.append(h)
                c_list.append(c)
            layer_in = outs[0] if D == 1 else cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = _dropout(layer_in, self.dropout, True)
        output = layer_in
        h_n = stack(h_list, 0)
        if self.batch_first and batched:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
        if lstm:
            c_n = stack(c_list, 0)
            return output, (h_n, c_n if batched else c_n.squeeze(1))
        return output, h_n

    def _direction(self, x, names, h, c, reverse, batch_first_out=False):
        """One layer in one direction over x (L, N, H_in): (output (L, N, H), h_T, c_T)."""
        w = {n.split("_l")[0]: getattr(self, n) for n in names}
        b_ih, b_hh = w.get("bias_ih"), w.get("bias_hh")
        L = x._shape[0]
        if L == 0:
            raise ValueError(f"{self._name()}: Expected sequence length to be larger than 0 in "
                             "RNN")
        proj = _input_projection(self.mode, contiguous(x), w["weight_ih"], b_ih, b_hh)
        w_hh = w["weight_hh"]
        # the whole direction as one graph node (see clnet/ops/rnn.py: lstm_layer, gru_layer)
        if self.mode == "LSTM" and "weight_hr" not in w:
            return lstm_layer(proj, h, c, w_hh, reverse, batch_first_out)
        if self.mode == "GRU":
            out, h = gru_layer(proj, h, w_hh, b_hh, reverse, batch_first_out)
            return out, h, None
        if self.mode in ("RNN_TANH", "RNN_RELU"):
            out, h = rnn_layer(proj, h, w_hh, self.mode == "RNN_RELU", reverse)
            return out, h, None
        parts = time_steps(proj)
        w_hr_t = w["weight_hr"].t() if "weight_hr" in w else None
        outs = [None] * L
        for t in (range(L - 1, -1, -1) if reverse else range(L)):
            h, c = _step(self.mode, parts[t], h, c, w_hh, b_hh, w_hr_t)
            outs[t] = h
        return stack(outs, 0), h, c


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Device = None,
                 dtype: Optional[_dtype] = None, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError(f"RNN.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        self.nonlinearity = nonlinearity
        super().__init__(_nonlinearity_mode(nonlinearity), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order (i, f, g, o) and optional projection (proj_size)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Device = None, dtype: Optional[_dtype] = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """GRU with PyTorch's gate order (r, z, n): n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Device = None, dtype: Optional[_dtype] = None, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError(f"GRU.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)


# ------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """Parameters weight_ih (G*H, H_in), weight_hh (G*H, H), bias_ih, bias_hh (G*H)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Device = None, dtype: Optional[_dtype] = None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = _factory(device, dtype)
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, **kw))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _prepare(self, input, states, what):
        """Checks; returns (2-D input, [2-D states or None], batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead "
                             f"(shape {list(input._shape)})")
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype}) does not match weight dtype "
                             f"({self.weight_ih.dtype})")
        if input._shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got "
                             f"{input._shape[-1]} expected {self.input_size} (input shape "
                             f"{list(input._shape)})")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        out = []
        for i, s in enumerate(states):
            if s is None:
                out.append(None)
                continue
            if s.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.dim()}D "
                                 "instead")
            if s.dim() != input.dim():
                raise ValueError(f"{name}: {what} has {s.dim()} dims but input has "
                                 f"{input.dim()}: both must be batched or both unbatched")
            s2 = s if batched else s.unsqueeze(0)
            if s2._shape != (x._shape[0], self.hidden_size):
                raise ValueError(f"{name}: {what}[{i}] of shape {list(s._shape)} does not match "
                                 f"batch size {x._shape[0]} and hidden_size {self.hidden_size}")
            out.append(s2)
        return x, out, batched

    def _zeros(self, x):
        return zeros(x._shape[0], self.hidden_size, dtype=x.dtype, device=x.device)


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Device = None,
                 dtype: Optional[_dtype] = None) -> None:
        self.nonlinearity = nonlinearity
        self._mode = _nonlinearity_mode(nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, (h,), batched = self._prepare(input, [hx], "hidden")
        h = self._zeros(x) if h is None else h
        xp = _input_projection(self._mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, _ = _step(self._mode, xp, h, None, self.weight_hh, self.bias_hh, None)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Device = None,
                 dtype: Optional[_dtype] = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor,
                hx: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[Tensor, Tensor]:
        states = [None, None] if hx is None else list(hx)
        if len(states) != 2:
            raise TypeError("LSTMCell: hx must be a tuple (h_0, c_0) of Tensors")
        x, (h, c), batched = self._prepare(input, states, "hidden")
        h = self._zeros(x) if h is None else h
        c = self._zeros(x) if c is None else c
        xp = _input_projection("LSTM", x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, c = _step("LSTM", xp, h, c, self.weight_hh, self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Device = None,
                 dtype: Optional[_dtype] = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x, (h,), batched = self._prepare(input, [hx], "hidden")
        h = self._zeros(x) if h is None else h
        xp = _input_projection("GRU", x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, _ = _step("GRU", xp, h, None, self.weight_hh, self.bias_hh, None)
        return h if batched else h.squeeze(0)
