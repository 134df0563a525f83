"""Op benchmarks: clnet on one OpenCL device beside numpy and PyTorch CPU on the host.

Measured (median of ``repeats`` runs after one warm-up run, each run ending with a device sync):
  * SGEMM GFLOP/s at several square sizes (2*n^3 flops),
  * elementwise ``a + b`` GB/s on float32 vectors, allocating the result (3 * 4 bytes/element),
  * reduction ``x.sum()`` GB/s (4 bytes/element read),
  * the host cost of one tiny op: ``y = y + 1`` on a 1-element tensor, 1,000 times, one sync
    (clnet, numpy and torch in turns within each round, the best of ``repeats`` rounds).
The ratio columns are speed ratios: above 1 means clnet is faster than that reference.
numpy must be measured with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they throttle its BLAS
on this kind of machine), which is why :func:`openblas_warning` exists.
"""
import importlib
import os
import statistics
import time

import numpy as np

import clnet
from .gemm import SETTLE_S

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

FULL = {"gemm_sizes": (256, 512, 1024, 2048), "vector_len": 16 * 2 ** 20, "chain": 1000,
        "repeats": 5}
QUICK = {"gemm_sizes": (256, 512), "vector_len": 2 ** 20, "chain": 1000, "repeats": 5}


def openblas_warning():
    """A warning line when OpenBLAS tuning variables that distort numpy's figures are set."""
    set_vars = [v for v in OPENBLAS_VARS if os.environ.get(v)]
    if not set_vars:
        return None
    return ("warning: " + ", ".join(f"{v}={os.environ[v]}" for v in set_vars) + " is set: numpy's "
            "BLAS figures are not representative. Run: env -u OPENBLAS_CORETYPE -u "
            "OPENBLAS_L2_SIZE clnet bench ops")


def median_seconds(fn, repeats, warmup=1):
    """Median wall time of ``fn()`` (which must finish its own work) over ``repeats`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(repeats, 1)):
        time.sleep(SETTLE_S)       # let the previous framework's spinning worker threads idle
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch():
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


class Row:
    """One benchmark line: its value per framework (None = not measured) and its unit."""

    def __init__(self, name, unit, higher_is_better, note=""):
        self.name, self.unit, self.higher_is_better, self.note = name, unit, higher_is_better, note
        self.values = {"clnet": None, "numpy": None, "torch": None}

    def ratio(self, ref):
        a, b = self.values["clnet"], self.values[ref]
        if not a or not b:
            return None
        return a / b if self.higher_is_better else b / a

    def as_dict(self):
        return {"name": self.name, "unit": self.unit, "higher_is_better": self.higher_is_better,
                "note": self.note, **self.values,
                "clnet_vs_numpy": self.ratio("numpy"), "clnet_vs_torch": self.ratio("torch")}


def _has_op(*names):
    return all(hasattr(clnet, n) or hasattr(clnet.Tensor, n) for n in names)


# -- SGEMM -------------------------------------------------------------------------------------
def _gemm_rows_from_helper(sizes, repeats, dev):
    """Rows from clnet.benchmarks.gemm.gemm_rows when that module exists (it owns GEMM timing)."""
    try:
        gemm = importlib.import_module("clnet.benchmarks.gemm")
    except ImportError:
        return None
    fn = getattr(gemm, "gemm_rows", None)
    if fn is None:
        return None
    rows = []
    for r in fn(sizes=sizes, repeats=repeats, device=dev):
        row = Row(r["name"], r.get("unit", "GFLOP/s"), True, r.get("note", ""))
        for k in row.values:
            row.values[k] = r.get(k)
        rows.append(row)
    return rows


def gemm_rows(sizes, repeats, dev, torch):
    rows = _gemm_rows_from_helper(sizes, repeats, dev)
    if rows is not None:
        return rows
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        row = Row(f"sgemm {n}x{n}x{n}", "GFLOP/s", True)
        flops = 2.0 * n ** 3
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        row.values["numpy"] = flops / median_seconds(lambda: a @ b, repeats) / 1e9
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            row.values["torch"] = flops / median_seconds(lambda: ta @ tb, repeats) / 1e9
        if _has_op("mm"):
            ca, cb = clnet.tensor(a, device=dev), clnet.tensor(b, device=dev)

            def run():
                clnet.mm(ca, cb)
                dev.synchronize()
            row.values["clnet"] = flops / median_seconds(run, repeats) / 1e9
        else:
            row.note = "clnet.mm not available yet"
        rows.append(row)
    return rows


# -- memory-bound ops --------------------------------------------------------------------------
def add_row(n, repeats, dev, torch):
    row = Row(f"add a+b, {n / 2 ** 20:g}M float32", "GB/s", True)
    nbytes = 3 * 4 * n    # read a and b, write the new result
    rng = np.random.default_rng(1)
    a = rng.standard_normal(n, dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    row.values["numpy"] = nbytes / median_seconds(lambda: a + b, repeats) / 1e9
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        row.values["torch"] = nbytes / median_seconds(lambda: ta + tb, repeats) / 1e9
    if _has_op("__add__"):
        ca, cb = clnet.tensor(a, device=dev), clnet.tensor(b, device=dev)

        def run():
            ca + cb
            dev.synchronize()
        row.values["clnet"] = nbytes / median_seconds(run, repeats) / 1e9
    else:
        row.note = "clnet Tensor + not available yet"
    return row


def sum_row(n, repeats, dev, torch):
    row = Row(f"sum x.sum(), {n / 2 ** 20:g}M float32", "GB/s", True)
    nbytes = 4 * n
    x = np.random.default_rng(2).standard_normal(n, dtype=np.float32)
    row.values["numpy"] = nbytes / median_seconds(lambda: x.sum(), repeats) / 1e9
    if torch is not None:
        tx = torch.from_numpy(x)
        row.values["torch"] = nbytes / median_seconds(lambda: tx.sum(), repeats) / 1e9
    if _has_op("sum"):
        cx = clnet.tensor(x, device=dev)

        def run():
            cx.sum()
            dev.synchronize()
        row.values["clnet"] = nbytes / median_seconds(run, repeats) / 1e9
    else:
        row.note = "clnet Tensor.sum not available yet"
    return row


def tiny_op_chains(chain, dev, torch):
    """{framework: fn()} running ``y = y + 1`` ``chain`` times on a 1-element tensor; clnet's
    ends with one sync, so its figure holds all device work of the chain."""
    def np_chain():
        y = np.zeros(1, np.float32)
        for _ in range(chain):
            y = y + 1
    chains = {"numpy": np_chain}
    if torch is not None:
        def torch_chain():
            y = torch.zeros(1)
            for _ in range(chain):
                y = y + 1
        chains["torch"] = torch_chain
    if _has_op("__add__"):
        def clnet_chain():
            y = clnet.zeros(1, device=dev)
            for _ in range(chain):
                y = y + 1
            clnet.synchronize(dev)
        chains["clnet"] = clnet_chain
    return chains


def best_seconds_in_turns(fns, repeats, settle=None):
    """{name: best wall time} of each ``fns[name]()`` over ``repeats`` rounds after one warm-up
    each; within a round the functions take turns (the order rotating from round to round),
    each after a pause of ``settle`` seconds (default SETTLE_S). The best, not the median: host
    overhead only ever gets slower under load, so the fastest run is the least disturbed."""
    settle = SETTLE_S if settle is None else settle
    names = list(fns)
    for name in names:
        fns[name]()
    best = {name: float("inf") for name in names}
    for rnd in range(max(repeats, 1)):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(settle)
            t0 = time.perf_counter()
            fns[name]()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def tiny_op_row(chain, repeats, dev, torch):
    """Host cost per op: a chain of tiny dependent ops, then one sync, divided by the chain
    length; clnet, torch and numpy timed in turns in the same rounds, best of ``repeats``."""
    row = Row(f"host cost, {chain} x (y = y + 1) on 1 element, 1 sync", "us/op", False,
              f"best of {max(repeats, 1)}, in turns")
    chains = tiny_op_chains(chain, dev, torch)
    for name, seconds in best_seconds_in_turns(chains, repeats).items():
        row.values[name] = seconds / chain * 1e6
    if "clnet" not in chains:
        row.note = "clnet Tensor + not available yet"
    return row


# -- running and printing ----------------------------------------------------------------------
def run(quick=False, device=None, repeats=None):
    """Run every op benchmark; returns (header lines, rows)."""
    cfg = dict(QUICK if quick else FULL)
    if repeats is not None:
        cfg["repeats"] = max(int(repeats), 5)
    dev = clnet.device(device)
    torch = _torch()
    header = [f"clnet {clnet.__version__} on {dev} = {dev.name} [{dev.platform_name}]; "
              f"numpy {np.__version__}; "
              + (f"torch {torch.__version__} CPU ({torch.get_num_threads()} threads)" if torch
                 else "torch not installed: its column is skipped"),
              f"median of {cfg['repeats']} runs after 1 warm-up; ratio > 1 means clnet is faster"]
    warning = openblas_warning()
    if warning:
        header.insert(0, warning)
    reps = cfg["repeats"]
    rows = gemm_rows(cfg["gemm_sizes"], reps, dev, torch)
    rows.append(add_row(cfg["vector_len"], reps, dev, torch))
    rows.append(sum_row(cfg["vector_len"], reps, dev, torch))
    rows.append(tiny_op_row(cfg["chain"], reps, dev, torch))
    return header, rows


def _fmt(v, ratio=False):
    if v is None:
        return "-"
    return f"{v:.2f}x" if ratio else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def format_rows(rows):
    """A text table, ratio columns first."""
    table = [["benchmark", "vs numpy", "vs torch", "clnet", "numpy", "torch", "unit", "note"]]
    for r in rows:
        table.append([r.name, _fmt(r.ratio("numpy"), True), _fmt(r.ratio("torch"), True),
                      _fmt(r.values["clnet"]), _fmt(r.values["numpy"]), _fmt(r.values["torch"]),
                      r.unit, r.note])
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) if c in (0, 6, 7) else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
