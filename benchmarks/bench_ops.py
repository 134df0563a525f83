"""Op benchmarks, clnet beside numpy and PyTorch CPU (the same as ``clnet bench ops``).

Run from the repository root, with the OpenBLAS tuning variables unset so numpy's BLAS runs at
full speed (the script warns when they are set):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_ops.py [--quick]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE clnet bench ops [--quick]

Options are those of ``clnet bench ops --help``. Record results in benchmarks/RESULTS.md with the
machine they were measured on.
"""
import sys

from clnet.cli.main import main

if __name__ == "__main__":
    main(["bench", "ops", *sys.argv[1:]])
