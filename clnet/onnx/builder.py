"""The ONNX graph being built during an export: names, nodes, initializers, graph inputs.

The tracer binds every tensor that depends on the model's inputs to an ONNX value name
(``bind``); a tensor used by a converted op but never bound is a constant of the graph (a
parameter, a buffer, or something the forward built from them or from nothing) and becomes an
initializer, named by its qualified name when it is a parameter or buffer, as PyTorch does.

Dynamic dimensions are tracked per value (``dyn``: the set of axes whose size follows a dynamic
axis of an input) because ONNX's Reshape needs to know which sizes to leave to the runtime.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .. import dtypes
from ..tensor import Tensor

_ELEM_TYPES = {
    dtypes.float32: TensorProto.FLOAT, dtypes.float64: TensorProto.DOUBLE,
    dtypes.int32: TensorProto.INT32, dtypes.int64: TensorProto.INT64,
    dtypes.bool_: TensorProto.BOOL,
}


def elem_type(dt):
    """The ONNX element type of a clnet dtype."""
    try:
        return _ELEM_TYPES[dt]
    except KeyError:
        raise TypeError(f"clnet.onnx.export: dtype {dt} has no ONNX element type") from None


class GraphBuilder:
    def __init__(self, opset):
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.graph_inputs = []     # ValueInfoProto
        self.values = {}           # id(tensor) -> value name
        self.dyn = {}              # value name -> frozenset of dynamic axes
        self.param_names = {}      # id(parameter or buffer) -> qualified name
        self._keep = []            # the bound tensors, alive so that their ids stay unique
        self._const_ids = {}       # id(constant tensor) -> initializer name
        self._used = set()
        self._counts = {}
        self.scope = ""            # "/encoder/rnn", prefixed to node names (as PyTorch does)

    # ------------------------------------------------------------------ names
    def fresh(self, base):
        """A value name not used yet: ``base``, else ``base.1``, ``base.2`` ..."""
        name = base
        n = self._counts.get(base, 0)
        while name in self._used:
            n += 1
            name = f"{base}.{n}"
        self._counts[base] = n
        self._used.add(name)
        return name

    def is_traced(self, t):
        return isinstance(t, Tensor) and id(t) in self.values

    def bind(self, t, name, dyn=()):
        self.values[id(t)] = name
        self._keep.append(t)
        self.dyn[name] = frozenset(dyn)
        return name

    def dyn_of(self, name):
        return self.dyn.get(name, frozenset())

    # ------------------------------------------------------------ constants
    def name_of(self, t):
        """The value name of a tensor: its bound name, else an initializer holding its value."""
        name = self.values.get(id(t))
        if name is not None:
            return name
        name = self._const_ids.get(id(t))
        if name is not None:
            return name
        base = self.param_names.get(id(t), "onnx::Constant")
        name = self.initializer(t.detach().numpy(), base)
        self._const_ids[id(t)] = name
        self._keep.append(t)
        return name

    def initializer(self, array, base="onnx::Constant"):
        name = self.fresh(base)
        array = np.asarray(array)       # (np.ascontiguousarray would make a 0-d array 1-d)
        self.initializers.append(numpy_helper.from_array(np.copy(array, order="C"), name))
        return name

    def const(self, values, dtype=np.int64):
        """A small constant (shapes, axes, scalars) as an initializer."""
        return self.initializer(np.asarray(values, dtype=dtype))

    def scalar(self, value, dt):
        """A 0-d constant of clnet dtype ``dt``."""
        return self.initializer(np.asarray(value, dtype=dt.np))

    # ---------------------------------------------------------------- nodes
    def node(self, op_type, inputs, n_out=1, **attrs):
        """Append a node; returns its output name (or a list of them when ``n_out`` > 1)."""
        node_name = self.fresh(f"{self.scope}/{op_type}")
        outs = [self.fresh(f"{node_name}_output_{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs[0] if n_out == 1 else outs

    def add_input(self, t, name, dyn_names):
        """A graph input with the tensor's dtype and shape; ``dyn_names`` maps axes to the names
        of their symbolic sizes."""
        shape = [dyn_names.get(i, s) for i, s in enumerate(t._shape)]
        self.graph_inputs.append(helper.make_tensor_value_info(name, elem_type(t.dtype), shape))
        self._used.add(name)
        self.bind(t, name, dyn_names.keys())

    def model(self, outputs, doc, producer_version):
        graph = helper.make_graph(self.nodes, "main_graph", self.graph_inputs, outputs,
                                  self.initializers)
        model = helper.make_model(graph, producer_name="clnet", producer_version=producer_version,
                                  doc_string=doc,
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = IR_VERSIONS[self.opset]
        return model


# the IR version each opset first appeared with (onnx/helper.py's VERSION_TABLE), so that a
# runtime that reads the opset also reads the file
IR_VERSIONS = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def output_info(name, t, dyn_names):
    shape = [dyn_names.get(i, s) for i, s in enumerate(t._shape)]
    return helper.make_tensor_value_info(name, elem_type(t.dtype), shape)

