"""``torch.backends`` for code written as ``import clnet as torch``: the flags programs set.

clnet's kernels are its own OpenCL C, so no cuDNN, cuBLAS or MPS runs under it: ``cudnn`` and
``mps`` report themselves unavailable, as on a CPU-only PyTorch, and the flags below (cuDNN's
``benchmark``/``deterministic``/``allow_tf32``, ``cuda.matmul.allow_tf32``) are kept with torch's
defaults so programs that set them run, but they change nothing (clnet never computes in TF32).
"""
from . import cuda, cudnn, mps  # noqa: F401
