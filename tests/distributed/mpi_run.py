"""Starting ``mpiexec -n K`` from a test: the MPICH wheel's mpiexec beside the test's Python (CI
installs clnet[distributed]), else one on PATH. A missing mpiexec fails the test: CI installs it,
so a skip would hide a broken install."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    assert found, ("mpiexec not found: install clnet's distributed extra "
                   "(pip install -e '.[distributed,test]')")
    return found


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("POCL_MAX_PTHREAD_COUNT", "1")
    return e


def run(args, n=2, timeout=120, cwd=None):
    """``mpiexec -n n python args...``: the CompletedProcess (stdout and stderr as text)."""
    cmd = [mpiexec(), "-n", str(n), sys.executable] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(),
                          cwd=cwd)
