"""The exporter's errors, under torch.onnx's names (``torch.onnx.errors``)."""


class OnnxExporterError(RuntimeError):
    """An export failed (torch.onnx.OnnxExporterError)."""


class UnsupportedOperatorError(OnnxExporterError):
    """The forward used an op the exporter has no ONNX mapping for. The message names the op and
    the module it ran in; nothing is written."""
