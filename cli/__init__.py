"""The ``clnet`` command line (installed as ``clnet.cli``): thin wrappers that parse, call the
library and print. Each command group lives in its own module and is registered in main.py."""
