"""``torch.backends.cudnn``: cuDNN is never used by clnet (see the package's note).

``enabled``, ``benchmark``, ``deterministic`` and ``allow_tf32`` are plain module attributes with
torch's defaults; setting them is allowed and has no effect.
"""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    """False: clnet runs no cuDNN, whatever the device (a CPU-only PyTorch answers the same)."""
    return False


def version():
    """None, as torch answers when cuDNN is not available."""
    return None
