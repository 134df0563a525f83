"""One training step of an MLP, a LeNet-style ConvNet and an LSTM in clnet beside PyTorch CPU
(same as ``clnet bench train``). Run: python benchmarks/bench_train.py [--steps N]"""
import sys

from clnet.cli.main import main

if __name__ == "__main__":
    main(["bench", "train"] + sys.argv[1:])
