"""Kernel safety sweep: launch EVERY kernel of every program at least once on small shapes.

Run under the Oclgrind simulator by .ci/oclgrind.sh, which fails on any report in Oclgrind's log
(out-of-bounds accesses, data races, uninitialised reads, API misuse). The cases live in
tests/kernel_cases/<family>.py, one module per cl_kernels/<family>.cl. The last test checks
mechanically that every kernel of every program the cases built or used was launched, and that
every kernel family has cases.

On other devices the sweep is skipped (compiling every kernel of every dtype costs minutes on a
cold PoCL cache); set CLNET_KERNEL_SWEEP=1 to run it anyway.
"""
import glob
import os

import pytest

import clnet
from clnet.backend import programs as programs_module
from clnet.backend.programs import Program
from kernel_cases import all_cases

CASES = all_cases()
ALL = [(family, case) for family, cases in sorted(CASES.items()) for case in cases]


def _on_oclgrind():
    try:
        return clnet.default_device().platform_name == "Oclgrind"
    except clnet.DeviceError:
        return False


pytestmark = [
    pytest.mark.oclgrind,
    pytest.mark.skipif(not (_on_oclgrind() or os.environ.get("CLNET_KERNEL_SWEEP") == "1"),
                       reason="kernel sweep runs under Oclgrind (.ci/oclgrind.sh); "
                              "CLNET_KERNEL_SWEEP=1 runs it on this device"),
]

# id(program) -> program, and the kernel names each one handed out while the cases ran. Program.
# kernel is the only way ops get a kernel, so a name handed out is a kernel launched (ops return
# before asking for a kernel when there is nothing to do).
_used_programs = {}
_launched = {}
_cases_run = set()
_programs_before = set()


@pytest.fixture(scope="module", autouse=True)
def record_kernel_requests(dev):
    _programs_before.update(id(p) for p in dev.programs.values())
    real_kernel = Program.kernel

    def recording_kernel(self, name, arg_types):
        _used_programs[id(self)] = self
        _launched.setdefault(id(self), set()).add(name)
        return real_kernel(self, name, arg_types)

    Program.kernel = recording_kernel
    try:
        yield
    finally:
        Program.kernel = real_kernel


@pytest.mark.parametrize("family,case", ALL, ids=[f"{f}-{c.__name__}" for f, c in ALL])
def test_kernel_case(dev, family, case):
    case(dev)
    dev.synchronize()
    _cases_run.add((family, case.__name__))


def test_every_kernel_was_launched(dev):
    """Runs last (pytest keeps file order): compares launched kernels with each program's list."""
    if len(_cases_run) != len(ALL):
        pytest.skip("only part of the sweep ran (-k?): coverage is checked on a full run")
    kernel_families = sorted(os.path.splitext(os.path.basename(p))[0]
                             for p in glob.glob(os.path.join(programs_module.kernel_dir(), "*.cl")))
    problems = []
    without_cases = [f for f in kernel_families if f not in CASES]
    if without_cases:
        problems.append(f"kernel families without cases in tests/kernel_cases/: {without_cases}")

    programs = dict(_used_programs)
    for p in dev.programs.values():      # built while the cases ran, but no kernel ever taken
        if id(p) not in _programs_before:
            programs[id(p)] = p
    families_built = {p.family for p in programs.values()}
    never_built = [f for f in kernel_families if f in CASES and f not in families_built]
    if never_built:
        problems.append(f"families whose cases built no program: {never_built}")

    missing = []
    for pid, p in programs.items():
        names = {n for n in p.cl_program.kernel_names.split(";") if n}
        for name in sorted(names - _launched.get(pid, set())):
            flags = " ".join(f"{k}={v}" for k, v in p.defines)
            missing.append(f"{p.family}[{flags}]:{name}")
    if missing:
        problems.append(f"{len(missing)} kernels never launched by tests/kernel_cases/:\n  "
                        + "\n  ".join(missing))
    assert not problems, "\n".join(problems)
