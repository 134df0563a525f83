"""Data-parallel training on this machine: one process with 2 PoCL threads against 2 MPI
processes with 1 thread each (DistributedDataParallel), for the MLP 784-256-10, the LeNet-style
ConvNet and the tiny GPT, at the same global batch (each of the 2 ranks takes half); samples/s,
time spent in gradient communication and how much of it overlapped backward; then a model of the
step time at K = 2..64 nodes for ring allreduce on 10 and 100 Gb/s links.

    python benchmarks/bench_distributed.py [--steps 20] [--json]

Needs clnet[distributed] (mpiexec). Each configuration runs in fresh processes: a warm-up of 3
steps (PoCL builds its programs), then the median of 5 rounds of ``--steps`` steps each.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

MODELS = {                      # name: (global batch, what)
    "mlp": (128, "MLP 784-256-10, batch 128"),
    "lenet": (64, "LeNet-style ConvNet (10, 20 channels) on 28x28, batch 64"),
    "gpt": (32, "tiny GPT (2 layers, 4 heads, 128 wide, block 64, vocab 96), batch 32"),
}
ROUNDS = 5
LINKS_GBPS = (10, 100)
LATENCY_S = {10: 25e-6, 100: 3e-6}    # per message hop: TCP over 10 GbE, RDMA at 100 Gb/s
NODES = (2, 4, 8, 16, 32, 64)


# ---------------------------------------------------------------------- one process of a run
def _model(name):
    from clnet.train.models import DataInfo, TinyGPT, lenet, mlp
    if name == "mlp":
        return mlp(DataInfo((1, 28, 28), 10), hidden=(256,))
    if name == "lenet":
        return lenet(DataInfo((1, 28, 28), 10))
    return TinyGPT(DataInfo((64,), vocab_size=96), block_size=64, n_layer=2, n_head=4,
                   n_embd=128)


def _batch(name, n, rng):
    import clnet
    if name == "gpt":
        idx = rng.integers(0, 96, (n, 65))
        return clnet.tensor(idx[:, :-1]), clnet.tensor(idx[:, 1:])
    return (clnet.tensor(rng.standard_normal((n, 1, 28, 28)).astype(np.float32)),
            clnet.tensor(rng.integers(0, 10, n)))


def worker(name, steps):
    import clnet
    from clnet.nn import functional as F
    from clnet.train.distributed import launched_by_mpi
    dist = None
    if launched_by_mpi():
        import clnet.distributed as dist
        dist.init_process_group("mpi")
    world = dist.get_world_size() if dist else 1
    rank = dist.get_rank() if dist else 0
    clnet.manual_seed(0)
    model = _model(name)
    net = clnet.nn.parallel.DistributedDataParallel(model) if dist else model
    opt = clnet.optim.Adam(model.parameters(), lr=1e-3)
    per_rank = MODELS[name][0] // world
    x, y = _batch(name, per_rank, np.random.default_rng(rank))

    def step():
        out = net(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    clnet.synchronize()
    rounds, stats = [], []
    for _ in range(ROUNDS):
        if dist:
            dist.barrier()
            net.reset_comm_stats()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        clnet.synchronize()
        rounds.append(time.perf_counter() - t0)
        if dist:
            stats.append(net.comm_stats)
    if rank != 0:
        return
    params = sum(p.numel() for p in model.parameters())
    res = {"model": name, "world": world, "threads": os.environ.get("POCL_MAX_PTHREAD_COUNT"),
           "step_s": statistics.median(rounds) / steps, "params": params,
           "samples_per_s": MODELS[name][0] * steps / statistics.median(rounds)}
    if stats:
        per = steps * len(stats)
        res["comm_ms_per_step"] = 1e3 * sum(s["comm_s"] for s in stats) / per
        res["overlapped_ms_per_step"] = 1e3 * sum(s["overlapped_s"] for s in stats) / per
        res["exposed_ms_per_step"] = 1e3 * sum(s["exposed_s"] for s in stats) / per
        res["buckets"] = len(net.bucket_parameter_names())
    print("RESULT " + json.dumps(res), flush=True)


# ---------------------------------------------------------------------- the driver
def _run(name, steps, nproc):
    env = dict(os.environ)
    env["POCL_MAX_PTHREAD_COUNT"] = str(2 // nproc)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--steps", str(steps)]
    if nproc > 1:
        here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [here if os.access(here, os.X_OK) else "mpiexec", "-n", str(nproc)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def ring_allreduce_s(nbytes, k, gbps):
    """Ring allreduce: 2(K-1) steps, each sending nbytes/K per node: 2(K-1)/K x nbytes on the
    link, plus a latency per step."""
    return 2 * (k - 1) / k * nbytes / (gbps * 1e9 / 8) + 2 * (k - 1) * LATENCY_S[gbps]


def scaling(single):
    """Step time at K nodes, each node doing what the 1-process run did (its measured step time
    is the compute), without and with full overlap of the allreduce."""
    rows = []
    for r in single:
        nbytes = 4 * r["params"]
        for gbps in LINKS_GBPS:
            for k in NODES:
                comm = ring_allreduce_s(nbytes, k, gbps)
                no_overlap = r["step_s"] + comm
                overlap = max(r["step_s"], comm)
                rows.append({"model": r["model"], "gbps": gbps, "nodes": k,
                             "compute_ms": 1e3 * r["step_s"], "allreduce_ms": 1e3 * comm,
                             "step_ms_no_overlap": 1e3 * no_overlap,
                             "step_ms_full_overlap": 1e3 * overlap,
                             "efficiency_no_overlap": r["step_s"] / no_overlap})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default="mlp,lenet,gpt")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps)
        return
    measured = []
    for name in args.models.split(","):
        one = _run(name, args.steps, 1)
        two = _run(name, args.steps, 2)
        measured.append((one, two))
    model_rows = scaling([one for one, _ in measured])
    if args.json:
        print(json.dumps({"measured": measured, "model": model_rows}, indent=1))
        return
    print("| model | params | 1 proc x 2 threads (samples/s) | 2 procs x 1 thread (samples/s) | "
          "ratio | comm per step (ms) | overlapped with backward | exposed comm per step (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for one, two in measured:
        share = two["overlapped_ms_per_step"] / max(two["comm_ms_per_step"], 1e-12)
        print(f"| {MODELS[one['model']][1]} | {one['params']:,} | {one['samples_per_s']:,.0f} | "
              f"{two['samples_per_s']:,.0f} | {two['samples_per_s'] / one['samples_per_s']:.2f} | "
              f"{two['comm_ms_per_step']:.2f} ({two['buckets']} buckets) | {share:.0%} | "
              f"{two['exposed_ms_per_step']:.2f} |")
    print()
    print("| model | link | K | compute (ms) | ring allreduce (ms) | step, no overlap (ms) | "
          "step, full overlap (ms) | efficiency, no overlap |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in model_rows:
        print(f"| {r['model']} | {r['gbps']} Gb/s | {r['nodes']} | {r['compute_ms']:.1f} | "
              f"{r['allreduce_ms']:.2f} | {r['step_ms_no_overlap']:.1f} | "
              f"{r['step_ms_full_overlap']:.1f} | {r['efficiency_no_overlap']:.1%} |")


if __name__ == "__main__":
    main()
