"""A distributed job never hangs silently: a rank killed by a signal, a rank that raises, and a
collective whose peer never comes each end the whole job, within a bounded time, with an error
that names the rank."""
import re
import time

import mpi_run

BOUND_S = 30        # each job below ends in ~1-3 s; a hang would run into the test's timeout

PRELUDE = """
import datetime, os, signal, sys, time
import clnet, clnet.distributed as dist
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds={timeout}))
rank = dist.get_rank()
os.write(1, f"rank {{rank}} pid {{os.getpid()}}\\n".encode())   # one write: no interleaving
dist.barrier()
"""
LOOP = """
while True:
    dist.all_reduce(clnet.ones(4))
"""


def _job(body, timeout=600):
    t0 = time.monotonic()
    proc = mpi_run.run(["-c", PRELUDE.format(timeout=timeout) + body], n=2,
                       timeout=BOUND_S + 30)
    return proc, time.monotonic() - t0, proc.stdout + proc.stderr


def test_a_killed_rank_ends_the_job():
    proc, took, out = _job("if rank == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\n" + LOOP)
    assert proc.returncode != 0
    assert took < BOUND_S
    pid = re.search(r"rank 1 pid (\d+)", out).group(1)
    # the launcher reports the dead process by pid; the ranks printed which pid is which rank
    assert f"PID {pid}" in out and "signal 9" in out, out


def test_a_rank_that_raises_aborts_the_job_naming_it():
    proc, took, out = _job("if rank == 1:\n    raise ValueError('boom on purpose')\n" + LOOP)
    assert proc.returncode != 0
    assert took < BOUND_S
    assert "Error: rank 1 of 2: ValueError: boom on purpose; aborting the job" in out, out
    assert "Traceback" in out


def test_a_collective_timeout_aborts_instead_of_hanging():
    proc, took, out = _job("if rank == 1:\n    time.sleep(60)\n" + LOOP, timeout=1)
    assert proc.returncode != 0
    assert took < BOUND_S
    assert ("Error: rank 0 of 2: DistBackendError: clnet.distributed.all_reduce did not "
            "complete within 1 s on rank 0 of 2") in out, out


def test_init_refuses_a_world_size_mpi_does_not_have():
    # each rank writes its line with one os.write: the launcher may interleave the two ranks'
    # output at any write boundary, and print() can write a line in pieces
    proc = mpi_run.run(["-c", "import os, clnet.distributed as d\n"
                              "try:\n    d.init_process_group('mpi', world_size=3)\n"
                              "except d.DistError as e:\n"
                              "    os.write(1, f'refused: {e}\\n'.encode())\n"], n=2,
                       timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("refused: clnet.distributed: world_size 3 (from the argument) but "
                             "MPI has 2 processes") == 2, proc.stdout
