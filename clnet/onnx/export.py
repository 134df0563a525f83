"""``clnet.onnx.export``: torch.onnx.export's arguments, one tracing exporter.

The model runs once on the example inputs in eval mode (its modes are restored after) while the
tracer (tracer.py) turns each op into ONNX nodes; parameters and buffers become initializers named
by their qualified names. The graph is checked with ``onnx.checker`` before anything is written.
"""
import enum
import inspect
import os
import sys

import onnx
from onnx import helper

from .. import graph
from .._version import __version__
from ..nn import functional
from ..nn.module import Module
from ..tensor import Tensor
from . import (convert_nn, convert_ops, convert_pointwise, convert_rnn,  # noqa: F401 (registry)
               convert_shape)
from .builder import GraphBuilder, output_info
from .errors import OnnxExporterError
from .tracer import Patches, Tracer, active, tensors_in, tracing

DEFAULT_OPSET = 17
OPSETS = range(17, 22)


class TrainingMode(enum.IntEnum):
    """torch.onnx.TrainingMode: the mode the model is exported in."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def is_in_onnx_export():
    """True while ``export`` runs the model's forward (in this thread)."""
    return active() is not None


def _namespaces():
    # The facade (clnet/__init__.py) sits above this package, which must not import it; it is
    # always loaded already, since importing clnet.onnx imports the clnet package first.
    return [("clnet", sys.modules["clnet"]), ("clnet.nn.functional", functional)]


def _split_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        raise TypeError(f"clnet.onnx.export: args must be a tuple of inputs or a Tensor, got "
                        f"{type(args).__name__}")
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):       # torch's convention: a last dict is kwargs
        kwargs = {**args[-1], **kwargs}
        args = args[:-1]
    return args, kwargs


def _input_labels(model, args, kwargs):
    """A default name per argument: the forward's parameter names (as PyTorch's exporter)."""
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    labels = [params[i] if i < len(params) else f"input_{i}" for i in range(len(args))]
    return labels + list(kwargs)


def _trace_copies(obj, label, out):
    """Replace every tensor in ``obj`` by a fresh copy the tracer can follow; ``out`` collects
    (name, copy). Float inputs require grad (a non-leaf, so in-place ops on them still work):
    every float op on them then records an autograd node, which the tracer watches."""
    if isinstance(obj, Tensor):
        src = obj.detach()
        if src.dtype.is_floating_point:
            with graph_enabled():
                copy = src.requires_grad_(True).clone()
        else:
            copy = src.clone()
        out.append((label, copy))
        return copy
    if isinstance(obj, (tuple, list)):
        items = [_trace_copies(x, f"{label}_{i}", out) for i, x in enumerate(obj)]
        return type(obj)(items) if not hasattr(obj, "_fields") else type(obj)(*items)
    if isinstance(obj, dict):
        return {k: _trace_copies(v, f"{label}_{k}", out) for k, v in obj.items()}
    return obj


class graph_enabled:
    def __enter__(self):
        self.prev = graph.set_grad_enabled_flag(True)

    def __exit__(self, *exc):
        graph.set_grad_enabled_flag(self.prev)


def _axes(spec, where, name, rank):
    """dynamic_axes[name] as {axis: symbolic name}."""
    if isinstance(spec, dict):
        axes = {int(k): str(v) for k, v in spec.items()}
    elif isinstance(spec, (list, tuple)):
        axes = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(spec)}
    else:
        raise TypeError(f"clnet.onnx.export: dynamic_axes[{name!r}] must be a list of axes or "
                        f"a dict axis -> name, got {type(spec).__name__}")
    for a in axes:
        if not 0 <= a < rank:
            raise ValueError(f"clnet.onnx.export: dynamic_axes[{name!r}] names axis {a}, but "
                             f"{where} {name!r} has {rank} dimensions")
    return axes


def export(model, args=(), f=None, export_params=True, verbose=False,
           training=TrainingMode.EVAL, input_names=None, output_names=None, opset_version=None,
           dynamic_axes=None, do_constant_folding=True, kwargs=None, dynamo=False):
    """Export ``model`` run on ``args`` to the ONNX file ``f`` (a path or a binary stream).

    PyTorch's meaning for every argument. ``dynamo`` selects nothing: clnet has one exporter, a
    tracing one, and it writes the file either way. ``do_constant_folding=False`` keeps
    computations on parameters as graph nodes instead of folding them into initializers.
    Raises ``UnsupportedOperatorError`` naming the op and the module for what has no ONNX
    conversion (README: "Exporting to ONNX" lists what converts); nothing is written then."""
    if active() is not None:
        raise OnnxExporterError("clnet.onnx.export was called while an export is tracing a "
                                "forward (from inside the model's forward)")
    if not isinstance(model, Module):
        raise TypeError(f"clnet.onnx.export: model must be a clnet.nn.Module, got "
                        f"{type(model).__name__}")
    if f is None:
        raise TypeError("clnet.onnx.export: f (a file path or a writable binary stream) is "
                        "required")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset not in OPSETS:
        raise ValueError(f"clnet.onnx.export: opset_version {opset} is not supported; clnet "
                         f"exports opsets {OPSETS.start} to {OPSETS.stop - 1}")
    if training == TrainingMode.TRAINING:
        raise ValueError("clnet.onnx.export exports inference graphs: training=TrainingMode."
                         "TRAINING is not available (use EVAL or PRESERVE)")
    args, kwargs = _split_args(args, kwargs)

    b = GraphBuilder(opset)
    seen = set()
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            b.param_names[id(t)] = name
    inputs = []
    labels = _input_labels(model, args, kwargs)
    traced_args = tuple(_trace_copies(a, labels[i], inputs) for i, a in enumerate(args))
    traced_kwargs = {k: _trace_copies(v, k, inputs) for k, v in kwargs.items()}
    names = list(input_names or [])
    if len(names) > len(inputs):
        raise ValueError(f"clnet.onnx.export: {len(names)} input_names for {len(inputs)} "
                         "tensor inputs")
    names += [label for label, _ in inputs[len(names):]]
    dynamic_axes = dict(dynamic_axes or {})
    input_axes = {}
    for name, (_, t) in zip(names, inputs):
        input_axes[name] = _axes(dynamic_axes[name], "input", name, t.dim()) \
            if name in dynamic_axes else {}
        b.add_input(t, name, input_axes[name])
    if not export_params:
        for pname, p in model.named_parameters():
            b.add_input(p, pname, {})
    elif not do_constant_folding:
        for t in list(model.parameters()) + list(model.buffers()):
            b.bind(t, b.name_of(t))

    modes = [(m, m.training) for m in model.modules()]
    if training == TrainingMode.EVAL:
        model.eval()
    tracer = Tracer(b, {id(m): name for name, m in model.named_modules()})
    try:
        with Patches(_namespaces(), model.modules()), tracing(tracer), graph_enabled():
            result = model(*traced_args, **traced_kwargs)
    finally:
        for m, mode in modes:
            m.training = mode

    outs = list(tensors_in(result))
    out_names = list(output_names or [])
    if len(out_names) > len(outs):
        raise ValueError(f"clnet.onnx.export: {len(out_names)} output_names for {len(outs)} "
                         "tensor outputs")
    out_names += [f"output_{i}" for i in range(len(out_names), len(outs))]
    known = set(names) | set(out_names)
    for name in dynamic_axes:
        if name not in known:
            raise ValueError(f"clnet.onnx.export: dynamic_axes names {name!r}, which is neither "
                             f"an input nor an output (inputs {names}, outputs {out_names})")
    b.scope = ""
    outputs = []
    for name, t in zip(out_names, outs):
        src = b.name_of(t)
        b.nodes.append(_identity(src, name))
        axes = _axes(dynamic_axes[name], "output", name, t.dim()) if name in dynamic_axes else {}
        for a in sorted(b.dyn_of(src)):
            axes.setdefault(a, f"{name}_dynamic_axes_{a + 1}")
        outputs.append(output_info(name, t, axes))

    model_proto = b.model(outputs, f"exported by clnet {__version__} from "
                          f"{type(model).__name__}", __version__)
    try:
        onnx.checker.check_model(model_proto)
    except onnx.checker.ValidationError as e:
        raise OnnxExporterError(f"clnet.onnx.export built an invalid graph (a bug in clnet): "
                                f"{e}") from e
    data = model_proto.SerializeToString()
    if verbose:
        print(onnx.helper.printable_graph(model_proto.graph))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    else:
        f.write(data)


def _identity(src, name):
    return helper.make_node("Identity", [src], [name], name=f"/Identity_{name}")

