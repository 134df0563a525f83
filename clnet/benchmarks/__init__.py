"""Benchmarks that print clnet beside numpy and PyTorch CPU in one run (``clnet bench ...``).

Every figure is the median of several timed runs after a warm-up; ratios come first."""
