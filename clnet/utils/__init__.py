"""PyTorch's ``torch.utils`` names that clnet covers: ``clnet.utils.data`` is ``clnet.data``."""
from . import data  # noqa: F401


def __getattr__(name):
    # torch.utils.tensorboard: imported on first use (it loads tensorboardX and protobuf)
    if name == "tensorboard":
        import importlib  # here, not at the top: the package namespace stays torch.utils's
        return importlib.import_module(".tensorboard", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
