"""PixelShuffle and PixelUnshuffle (torch.nn.modules.pixelshuffle): sub-pixel convolution's
rearrangement of channels into space and back, over clnet.pixel_shuffle / pixel_unshuffle."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...ops.tensor_shape import pixel_shuffle, pixel_unshuffle
from ..module import Module

if TYPE_CHECKING:
    from ...tensor import Tensor

__all__ = ["PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(Module):
    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
