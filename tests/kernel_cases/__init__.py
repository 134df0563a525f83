"""Small-shape calls that launch every kernel of one family, for tests/test_oclgrind.py.

One module per kernel family, named after its ``cl_kernels/<family>.cl``; each defines ``CASES``,
a list of callables ``case(dev)`` that run ops on ``dev`` on small inputs (edge sizes included) and
check a few results against numpy. Inputs are always fully initialised (never ``clnet.empty`` read
back): Oclgrind reports reads of uninitialised memory. A family whose kernels are not all
launched by its cases fails the sweep, listing the kernels never launched.
"""
import importlib
import pkgutil


def all_cases():
    """{family: [case, ...]} for every module in this package (helpers start with "_")."""
    cases = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        cases[info.name] = list(mod.CASES)
    return cases
