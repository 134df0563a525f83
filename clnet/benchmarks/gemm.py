"""GEMM benchmark: clnet's matrix products beside numpy and PyTorch CPU, measured in one run.

* ``gemm_rows(sizes, repeats)``: SGEMM GFLOP/s (2*n^3 flops) for square n x n products.
* ``small_rows(repeats)``: microseconds per call for the small products a training step is made
  of (MLP layers, LSTM gate products), each time taken over a chain of calls ending in one sync,
  so the per-call figure includes clnet's launch overhead but not a host round trip per call.

Every figure is the median of ``repeats`` timed runs after a warm-up run; within each round the
frameworks run in turn, so a load from other processes hits them alike. Ratios are speed
ratios: above 1 means clnet is faster. numpy must run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset (they throttle OpenBLAS on this kind of machine).
"""
import argparse
import importlib
import os
import statistics
import time

import numpy as np

import clnet
from clnet.kernels.gemm import gemm_tuning
from clnet.ops.linalg import linear

SIZES = (256, 512, 1024, 2048)
CHAIN = 20   # calls per timed run in small_rows


# Pause before each timed call: BLAS and OpenMP worker threads of the framework that ran just
# before keep spinning for a while after their call returns, and would steal the cores from the
# next one (seen: clnet's SGEMM at 1024 timed at 73 GFLOP/s right after numpy, 122 alone).
SETTLE_S = 0.15


def _interleaved_medians(fns, repeats, warmup=1):
    """Median seconds of each callable in ``fns`` (name -> fn), timed in turns within each round
    so that all frameworks see the same machine load (other processes come and go)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(max(repeats, 1)):
        for name, fn in fns.items():
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _torch():
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _ratios(row):
    for ref in ("numpy", "torch"):
        a, b = row["clnet"], row[ref]
        if row["higher_is_better"]:
            row[f"clnet_vs_{ref}"] = a / b if a and b else None
        else:
            row[f"clnet_vs_{ref}"] = b / a if a and b else None
    return row


def gemm_rows(sizes=SIZES, repeats=5, device=None):
    """SGEMM GFLOP/s per size for clnet (on ``device``), numpy and torch; a list of dicts."""
    dev = clnet.device(device)
    torch = _torch()
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        flops = 2.0 * n ** 3
        A, B = clnet.tensor(a, device=dev), clnet.tensor(b, device=dev)

        def run_clnet():
            clnet.mm(A, B)
            dev.synchronize()

        fns = {"clnet": run_clnet, "numpy": lambda: a @ b}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            fns["torch"] = lambda: ta @ tb
        med = _interleaved_medians(fns, repeats)
        row = {"name": f"sgemm {n}x{n}x{n}", "n": n, "unit": "GFLOP/s", "higher_is_better": True,
               "clnet": None, "numpy": None, "torch": None}
        row.update({name: flops / t / 1e9 for name, t in med.items()})
        rows.append(_ratios(row))
    return rows


# (name, x shape, weight shape (out, in) or bmm's second operand, kind)
SMALL_CASES = [
    ("MLP layer 64x784 @ 784x256 + bias", (64, 784), (256, 784), "linear"),
    ("MLP layer 64x256 @ 256x10 + bias", (64, 256), (10, 256), "linear"),
    ("LSTM gates 32x128 @ 128x512 + bias", (32, 128), (512, 128), "linear"),
    ("LSTM gates, 16 steps: bmm 16x(32x128 @ 128x512)", (16, 32, 128), (16, 128, 512), "bmm"),
]


def small_rows(repeats=5, device=None):
    """Microseconds per call of the small products in SMALL_CASES; a list of dicts."""
    dev = clnet.device(device)
    torch = _torch()
    rng = np.random.default_rng(1)
    rows = []
    for name, xs, ws, kind in SMALL_CASES:
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32)
        bias = rng.standard_normal((ws[0],), dtype=np.float32)
        X, W, Bias = (clnet.tensor(v, device=dev) for v in (x, w, bias))
        if kind == "linear":
            def cl_call():
                linear(X, W, Bias)

            def np_call():
                return x @ w.T + bias
            flops = 2.0 * xs[0] * xs[1] * ws[0]
        else:
            def cl_call():
                clnet.bmm(X, W)

            def np_call():
                return np.matmul(x, w)
            flops = 2.0 * xs[0] * xs[1] * xs[2] * ws[2]

        def run_clnet():
            for _ in range(CHAIN):
                cl_call()
            dev.synchronize()

        def run_np():
            for _ in range(CHAIN):
                np_call()

        fns = {"clnet": run_clnet, "numpy": run_np}
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(v) for v in (x, w, bias))
            if kind == "linear":
                def t_call():
                    return torch.nn.functional.linear(tx, tw, tb)
            else:
                def t_call():
                    return torch.bmm(tx, tw)

            def run_torch():
                for _ in range(CHAIN):
                    t_call()
            fns["torch"] = run_torch
        med = _interleaved_medians(fns, repeats)
        row = {"name": name, "unit": "us/call", "higher_is_better": False, "flops": flops,
               "clnet": None, "numpy": None, "torch": None}
        row.update({name: t / CHAIN * 1e6 for name, t in med.items()})
        rows.append(_ratios(row))
    return rows


def format_rows(rows):
    """A plain-text table: ratios first, then the figures."""
    lines = [f"{'case':52s} {'vs numpy':>9s} {'vs torch':>9s} {'clnet':>9s} {'numpy':>9s} "
             f"{'torch':>9s}  unit"]

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"
    for r in rows:
        lines.append(f"{r['name']:52s} {f(r['clnet_vs_numpy'], '9.2f')} "
                     f"{f(r['clnet_vs_torch'], '9.2f')} {f(r['clnet'], '9.1f')} "
                     f"{f(r['numpy'], '9.1f')} {f(r['torch'], '9.1f')}  {r['unit']}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--no-small", action="store_true", help="skip the small-matrix cases")
    args = p.parse_args(argv)
    if args.repeats < 5:
        p.error("--repeats must be at least 5 (figures are medians of >= 5 runs)")
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(v):
            print(f"warning: {v}={os.environ[v]} is set: numpy's BLAS figures are not "
                  "representative (run with env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)")
    dev = clnet.device(args.device)
    print(f"device: {dev} = {dev.name} [{dev.platform_name}]; gemm tiles: "
          f"{gemm_tuning(dev)['float']}")
    print(format_rows(gemm_rows(args.sizes, args.repeats, dev)))
    if not args.no_small:
        print(format_rows(small_rows(args.repeats, dev)))


if __name__ == "__main__":
    main()
