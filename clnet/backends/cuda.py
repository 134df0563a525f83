"""``torch.backends.cuda``: "cuda" is clnet's name for the OpenCL GPUs, so it is always built;
the cuBLAS precision flags are kept with torch's defaults and change nothing (clnet's GEMM
kernels compute in the tensors' own dtype)."""


def is_built():
    """True: clnet's "cuda" (the OpenCL GPUs) needs no build option; ``clnet.cuda.is_available``
    says whether a GPU is present."""
    return True


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: settable flags with torch's defaults."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self):
        return (f"matmul(allow_tf32={self.allow_tf32}, allow_fp16_reduced_precision_reduction="
                f"{self.allow_fp16_reduced_precision_reduction}, "
                f"allow_bf16_reduced_precision_reduction="
                f"{self.allow_bf16_reduced_precision_reduction})")


matmul = _MatmulFlags()
