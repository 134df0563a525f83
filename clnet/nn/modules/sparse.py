"""``torch.nn.modules.sparse``'s path: Embedding (defined in ``dropout.py`` beside the other
index-driven layers), so pickles and allow-lists that name this module resolve."""
from .dropout import Embedding

__all__ = ["Embedding"]
