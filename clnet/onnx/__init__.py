"""``clnet.onnx``: export a model to ONNX, like ``torch.onnx`` (``import clnet as torch`` then
``torch.onnx.export(model, args, "model.onnx")``).

Needs the ``onnx`` package (``pip install clnet[onnx]``). Layout: ``tracer`` runs the forward and
dispatches each op to a converter (``convert_pointwise``, ``convert_shape``, ``convert_nn``,
``convert_rnn``), ``builder`` holds the graph being built, ``export`` is the entry point.
"""
try:
    import onnx as _onnx  # noqa: F401
except ImportError as e:          # clnet itself imports without onnx; this module needs it
    raise ImportError("clnet.onnx needs the onnx package: pip install onnx (or clnet[onnx])") \
        from e

from .errors import OnnxExporterError, UnsupportedOperatorError
from .export import TrainingMode, export, is_in_onnx_export

__all__ = ["export", "is_in_onnx_export", "TrainingMode", "OnnxExporterError",
           "UnsupportedOperatorError"]
