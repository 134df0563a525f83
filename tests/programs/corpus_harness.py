"""Run a corpus program as PyTorch would, under real torch or under clnet posing as torch.

The programs in ``corpus/`` say ``import torch`` (and ``import torch.nn as nn``, ``from
torch.utils.data import DataLoader``, ...), exactly as their originals do. ``run_program`` runs
one of them in this process with ``runpy``; with ``backend="clnet"`` it first points
``sys.modules["torch"]`` and the ``torch.*`` submodule names at clnet's modules, so the program's
imports find clnet, and afterwards puts every entry back as it was, so real torch (the oracle of
the other tests) is untouched. In-process rather than a subprocess because a new process costs
clnet's kernel builds again (seconds on PoCL); the restore is what makes that safe.

What is swapped, and why each piece:
- ``torch`` and every ``torch.<sub>`` name clnet has a module for (``TORCH_MODULES``); a name
  clnet lacks is left out, so ``import torch.backends`` fails with Python's own
  ``No module named 'torch.backends'``: the missing piece, named.
- every real ``torch.*`` entry is taken out for the run (else ``import torch.fx`` would quietly
  hand back real torch's module) and put back after.
- modules the program imports from its own folder (``model``, ``data``, ``_standins``) are
  dropped after the run: they were bound to this run's ``torch`` and must be imported afresh
  by the next run, which may use the other backend.
- ``sys.argv``, ``sys.path`` and the working directory (a scratch folder: programs write
  checkpoints and images) are restored too.
"""
import contextlib
import importlib
import io
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"

# torch name -> clnet module that stands for it
TORCH_MODULES = {
    "torch": "clnet",
    "torch.nn": "clnet.nn",
    "torch.nn.functional": "clnet.nn.functional",
    "torch.nn.init": "clnet.nn.init",
    "torch.nn.utils": "clnet.nn.utils",
    "torch.nn.parameter": "clnet.nn.parameter",
    "torch.nn.modules": "clnet.nn.modules",
    "torch.optim": "clnet.optim",
    "torch.optim.lr_scheduler": "clnet.optim.lr_scheduler",
    "torch.utils": "clnet.utils",
    "torch.utils.data": "clnet.utils.data",
    "torch.utils.tensorboard": "clnet.utils.tensorboard",
    "torch.autograd": "clnet.autograd",
    "torch.cuda": "clnet.cuda",
    "torch.backends": "clnet.backends",
    "torch.accelerator": "clnet.accelerator",
    "torch.onnx": "clnet.onnx",
    "torch.serialization": "clnet.serialization",
    "torch.nn.parallel": "clnet.nn.parallel",
    "torch.linalg": "clnet.linalg",
    "torch.fft": "clnet.fft",
    "torch.sparse": "clnet.sparse",
    "torch.distributions": "clnet.distributions",
    "torch.amp": "clnet.amp",
    "torch.xpu": "clnet.xpu",
    "torch.mps": "clnet.mps",
    "torch.jit": "clnet.jit",
    "torch.testing": "clnet.testing",
}


def _is_torch_name(name):
    return name == "torch" or name.startswith("torch.")


def clnet_modules():
    """The ``torch.*`` -> clnet module map for the clnet in this process (names clnet lacks are
    left out, so importing them fails naming them)."""
    found = {}
    for torch_name, clnet_name in TORCH_MODULES.items():
        try:
            found[torch_name] = importlib.import_module(clnet_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not clnet_name.startswith(exc.name):
                raise  # a clnet module that exists but fails to import is a bug to see
    return found


@contextlib.contextmanager
def torch_is(backend):
    """Inside the block, ``import torch`` gives real torch (``"torch"``) or clnet (``"clnet"``)."""
    # clnet's modules are imported before real torch's entries are saved and taken out: a
    # library a clnet module imports may itself `import torch` (tensorboardX's writer does);
    # with the entries gone, or loaded but not saved (then dropped after the run), a later
    # `import torch` would load torch's C extension a second time (SystemError, then a crash)
    aliases = clnet_modules() if backend == "clnet" else None
    saved = {k: v for k, v in sys.modules.items() if _is_torch_name(k)}
    if backend == "clnet":
        for k in saved:
            del sys.modules[k]
        sys.modules.update(aliases)
    elif backend == "torch":
        importlib.import_module("torch")
        if sys.modules["torch"].__name__ != "torch":
            raise RuntimeError("torch_is('torch') nested inside torch_is('clnet')")
    else:
        raise ValueError(f"backend must be 'torch' or 'clnet', not {backend!r}")
    try:
        yield sys.modules["torch"]
    finally:
        for k in [k for k in sys.modules if _is_torch_name(k)]:
            if k not in saved:
                # a real torch submodule loaded lazily during a torch run stays loaded (torch
                # itself keeps a reference); anything else (clnet aliases) goes
                if backend == "clnet":
                    del sys.modules[k]
        sys.modules.update(saved)


def program_path(name):
    p = CORPUS / name
    if p.is_dir():
        p = p / "main.py"
    elif not p.suffix:
        p = p.with_suffix(".py")
    if not p.is_file():
        raise FileNotFoundError(f"no corpus program {name!r} at {p}")
    return p


def run_program(name, backend, argv=(), quiet=True):
    """Run corpus program ``name`` under ``backend``; return (its globals, seconds, stdout)."""
    path = program_path(name)
    folders = [str(path.parent), str(CORPUS)]
    before = set(sys.modules)
    old_argv, old_path, old_cwd = sys.argv, list(sys.path), os.getcwd()
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="clnet-corpus-") as scratch:
        try:
            sys.argv = [str(path), *argv]
            sys.path[:0] = folders
            os.chdir(scratch)
            with torch_is(backend):
                redirect = contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext()
                with redirect:
                    t0 = time.perf_counter()
                    result = runpy.run_path(str(path), run_name="__main__")
                    if backend == "clnet":
                        sys.modules["clnet"].synchronize()
                    seconds = time.perf_counter() - t0
        finally:
            os.chdir(old_cwd)
            sys.argv, sys.path[:] = old_argv, old_path
            for k in set(sys.modules) - before:
                f = getattr(sys.modules[k], "__file__", None) or ""
                if f and Path(f).resolve().is_relative_to(CORPUS):
                    del sys.modules[k]
    return result, seconds, out.getvalue()
