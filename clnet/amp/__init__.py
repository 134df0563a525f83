"""``torch.amp``: automatic mixed precision. ``autocast`` runs PyTorch's listed ops in float16 or
bfloat16 inside a region (clnet/amp/autocast_mode.py, policies in clnet/ops/autocast.py), and
``GradScaler`` scales the loss so float16 gradients keep their small values
(clnet/amp/grad_scaler.py, device work in cl_kernels/amp.cl)."""
from .autocast_mode import autocast, is_autocast_available  # noqa: F401
from .grad_scaler import GradScaler  # noqa: F401

__all__ = ["autocast", "GradScaler", "is_autocast_available"]
