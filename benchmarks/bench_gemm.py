"""SGEMM and small-matrix product benchmark: clnet beside numpy and PyTorch CPU in one run.

Run from the repository root with the OpenBLAS tuning variables unset (they throttle numpy):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gemm.py \
        [--sizes 256 512 1024 2048] [--repeats 5] [--device cl:0] [--no-small]

The measuring code lives in clnet/benchmarks/gemm.py (``gemm_rows``, ``small_rows``).
"""
from clnet.benchmarks.gemm import main

if __name__ == "__main__":
    main()
