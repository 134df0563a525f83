"""One training step of each model of clnet/benchmarks/train_models.py (MLP, tiny MLP, LeNet, LSTM,
GRU, tiny GPT), clnet eager and captured beside PyTorch CPU (same as ``clnet bench train``).
Run: python benchmarks/bench_train.py [--steps N] [--repeats N] [--model NAME] [--mode MODE]"""
import sys

from clnet.cli.main import main

if __name__ == "__main__":
    main(["bench", "train"] + sys.argv[1:])
