"""The collectives, DistributedDataParallel and DistributedSampler under ``mpiexec -n 2``: one
job runs every check of mpi_checks.py on both ranks (PoCL builds its programs once per process);
each check is one test here, failing with the rank's traceback."""
import ast
import json
import os

import pytest

import mpi_run

WORKER = os.path.join(mpi_run.HERE, "mpi_checks.py")


def _check_names():
    tree = ast.parse(open(WORKER, encoding="utf-8").read())
    return [f.name for f in tree.body if isinstance(f, ast.FunctionDef)
            and any(isinstance(d, ast.Name) and d.id == "check" for d in f.decorator_list)]


NAMES = _check_names()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi_checks")
    proc = mpi_run.run([WORKER, str(out)], n=2, timeout=180)
    assert proc.returncode == 0, \
        f"mpiexec failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    per_rank = []
    for r in range(2):
        with open(out / f"rank{r}.json", encoding="utf-8") as f:
            per_rank.append(json.load(f))
    return per_rank


def test_every_check_ran_on_every_rank(results):
    assert len(NAMES) >= 20
    for r, res in enumerate(results):
        assert list(res) == NAMES, f"rank {r} ran {list(res)}"


@pytest.mark.parametrize("name", NAMES)
def test_check(results, name):
    for r, res in enumerate(results):
        assert res[name] == "ok", f"rank {r}:\n{res[name]}"
