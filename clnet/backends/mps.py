"""``torch.backends.mps``: Apple's Metal backend; clnet runs Apple GPUs through OpenCL ("cuda")."""


def is_available():
    return False


def is_built():
    return False
