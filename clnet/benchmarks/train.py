"""Training-step benchmark (issues 4 and 14): one optimizer step of each model of
:mod:`clnet.benchmarks.train_models` in clnet and in PyTorch CPU on the same machine, same code,
same shapes, same kind of optimizer, timed in turns within each round.

A step is ``zero_grad``, forward, cross-entropy, backward, optimizer step. Two modes:

- ``eager``: the step's Python runs every time.
- ``captured``: clnet runs the step through ``clnet.graphs.graphed_step`` (captured once,
  replayed after); PyTorch CPU has no CUDA graphs, so its figure in this mode is its eager step.

Per model and mode: clnet's and torch's milliseconds per step (``steps`` steps and one
synchronisation, ``loss.item()``, what a training loop waits for when it prints, so the figure
includes all device work), speed = torch ms / clnet ms (above 1: clnet is faster), clnet's kernel
launches per step (``dev.launches``, counted by ``clnet/backend/launch.py``) and host
microseconds per launch: the time to issue the ``steps`` steps before the final synchronisation,
per step, divided by the launches per step. Each figure is the median over ``repeats`` rounds
after warm-up; the runners take turns within a round (the order rotates from round to round) and
sleep ``settle`` seconds before each timed call so the other framework's worker threads idle, then
run one untimed step so the timed ones find warm caches and awake threads of their own.
``best_speed`` is torch's fastest round over clnet's fastest: on a shared machine the least
disturbed rounds, a check on the medians when other processes load the cores.
"""
import importlib
import math
import os
import statistics
import time

import numpy as np

import clnet
from .train_models import DESCRIPTIONS, MODELS, build_model, build_optimizer, make_data

MODES = ("eager", "captured")
FIELDS = ("model", "mode", "description", "clnet_ms", "torch_ms", "speed", "best_speed",
          "launches_per_step", "host_us_per_launch", "note")
SETTLE_S = 0.3
TORCH_CAPTURED_NOTE = ("captured: the torch column is PyTorch's eager step "
                       "(PyTorch has no CUDA graphs on CPU)")


def _torch():
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _graphs():
    """clnet.graphs, or None in a tree that does not have it yet (its captured rows say so)."""
    try:
        return importlib.import_module("clnet.graphs")
    except ModuleNotFoundError as e:
        if e.name != "clnet.graphs":
            raise
        return None


def _train_fn(m, name, model):
    """The step function, PyTorch's way: fn(x, y) -> loss."""
    opt = build_optimizer(m, name, model.parameters())
    loss_fn = m.nn.CrossEntropyLoss()

    def fn(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return fn


class Runner:
    """Times ``steps`` calls of ``step()`` and one ``loss.item()``; counts ``dev``'s launches."""

    def __init__(self, step, dev=None):
        self.step, self.dev = step, dev

    def __call__(self, steps, warm=1):
        """(seconds per step, issuing seconds per step, launches per step or None) of ``steps``
        steps after ``warm`` untimed ones (synchronised: after the pause between runners, the
        first step pays for cold caches and sleeping worker threads, in either framework)."""
        if warm:
            for _ in range(warm):
                loss = self.step()
            loss.item()
        launches0 = self.dev.launches if self.dev is not None else 0
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = self.step()
        t1 = time.perf_counter()          # every step issued; the device may still be working
        loss.item()
        t2 = time.perf_counter()
        launches = (self.dev.launches - launches0) / steps if self.dev is not None else None
        return (t2 - t0) / steps, (t1 - t0) / steps, launches


def _clnet_runner(name, mode, data, dev, warmup):
    """(Runner, note): the note says why there is no runner (captured, no clnet.graphs)."""
    clnet.manual_seed(0)
    model = build_model(clnet, name).to(dev)
    fn = _train_fn(clnet, name, model)
    x, y = (clnet.tensor(a, device=dev) for a in data)
    if mode == "eager":
        runner = Runner(lambda: fn(x, y), dev)
    else:
        graphs = _graphs()
        if graphs is None:
            return None, "clnet.graphs is not in this tree: no captured clnet figure"
        step = graphs.graphed_step(fn, warmup=2)
        runner = Runner(lambda: step(x, y), dev)
    runner(max(warmup, 1), warm=0)
    return runner, ""


def _torch_runner(torch, name, data, warmup):
    torch.manual_seed(0)
    model = build_model(torch, name)
    fn = _train_fn(torch, name, model)
    x, y = (torch.from_numpy(a) for a in data)
    runner = Runner(lambda: fn(x, y))
    runner(max(warmup, 1), warm=0)
    return runner


def geomean(values):
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(models=MODELS, modes=MODES, steps=5, repeats=5, warmup=3, settle=None, device=None):
    """Rows (dicts with :data:`FIELDS`) per model and mode, then one geomean row per mode.

    ``settle``: seconds of pause before each timed call (default :data:`SETTLE_S`)."""
    settle = SETTLE_S if settle is None else settle
    for name in models:
        if name not in MODELS:
            raise ValueError(f"clnet bench train: unknown model {name!r}; choose from "
                             f"{', '.join(MODELS)}")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"clnet bench train: unknown mode {mode!r}; choose from "
                             f"{', '.join(MODES)}")
    dev = clnet.device(device)
    torch = _torch()
    rng = np.random.default_rng(0)
    rows = []
    for name in models:
        data = make_data(name, rng)
        runners, notes = {}, {}
        for mode in modes:
            runners[mode], notes[mode] = _clnet_runner(name, mode, data, dev, warmup)
        if torch is not None:
            runners["torch"] = _torch_runner(torch, name, data, warmup)
        order = [k for k, r in runners.items() if r is not None]
        samples = {k: [] for k in order}
        for rnd in range(repeats):
            shift = rnd % len(order)
            for key in order[shift:] + order[:shift]:
                time.sleep(settle)
                samples[key].append(runners[key](steps))
        med = {k: tuple(_median([s[i] for s in v]) for i in range(3)) for k, v in samples.items()}
        torch_s = med["torch"][0] if "torch" in med else None
        # the fastest round of each: on a shared machine the least disturbed one
        best = {k: min(s[0] for s in v) for k, v in samples.items()}
        for mode in modes:
            total, issue, launches = med.get(mode, (None, None, None))
            rows.append({
                "model": name, "mode": mode, "description": DESCRIPTIONS[name],
                "clnet_ms": total * 1e3 if total is not None else None,
                "torch_ms": torch_s * 1e3 if torch_s is not None else None,
                "speed": torch_s / total if total and torch_s else None,
                "best_speed": (best["torch"] / best[mode] if mode in best and "torch" in best
                               else None),
                "launches_per_step": launches,
                "host_us_per_launch": issue / launches * 1e6 if launches else None,
                "note": notes[mode] or (TORCH_CAPTURED_NOTE if mode == "captured" else ""),
            })
    for mode in modes:
        speeds = [r["speed"] for r in rows if r["mode"] == mode]
        best_speeds = [r["best_speed"] for r in rows if r["mode"] == mode]
        rows.append({"model": "geomean", "mode": mode, "description": "geometric mean of speed",
                     "clnet_ms": None, "torch_ms": None, "speed": geomean(speeds),
                     "best_speed": geomean(best_speeds),
                     "launches_per_step": None, "host_us_per_launch": None,
                     "note": "" if None not in speeds else "over the models with both figures"})
    return rows


def header_lines(steps, repeats, device=None, load_before=None):
    """What the figures are and where they were measured, with the load average now and
    ``load_before`` (``os.getloadavg()`` taken before the run): on a shared machine other
    processes' work shows there, and PyTorch's threads slow down most when cores are busy."""
    dev = clnet.device(device)
    torch = _torch()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    if load_before is not None:
        load = " ".join(f"{v:.2f}" for v in load_before) + " before, " + load + " after"
    lines = []
    # before the run, the load is other processes' (this run's own threads raise it after)
    busy = (load_before if load_before is not None else os.getloadavg())[0]
    cores = os.cpu_count() or 1
    if busy > 0.5 * cores:
        lines.append(f"warning: load average {busy:.2f} on {cores} cores: other processes compete "
                     "for the cores (PyTorch's threads suffer most); the figures are unreliable")
    return lines + [f"clnet {clnet.__version__} on {dev} = {dev.name} [{dev.platform_name}]; "
            + (f"torch {torch.__version__} CPU ({torch.get_num_threads()} threads)" if torch
               else "torch not installed: its column is empty"),
            f"median of {repeats} rounds of {steps} steps, frameworks in turns; load average "
            f"{load} (1, 5, 15 min)",
            "speed = torch ms / clnet ms (above 1: clnet is faster; best speed: fastest rounds); "
            "host us/launch = time to issue a step before the sync / launches",
            TORCH_CAPTURED_NOTE]


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def format_rows(rows):
    """A text table: one line per model and mode, the geomean row closing each mode."""
    table = [["mode", "model", "clnet ms/step", "torch ms/step", "speed", "best speed",
              "launches/step", "host us/launch", "note"]]
    for r in rows:
        note = "" if r["note"] == TORCH_CAPTURED_NOTE else r["note"]
        table.append([r["mode"], r["model"], _fmt(r["clnet_ms"], ".2f"),
                      _fmt(r["torch_ms"], ".2f"),
                      "-" if r["speed"] is None else f"{r['speed']:.2f}x",
                      "-" if r["best_speed"] is None else f"{r['best_speed']:.2f}x",
                      _fmt(r["launches_per_step"], ".0f"), _fmt(r["host_us_per_launch"], ".1f"),
                      note])
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) if c in (0, 1, 8) else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
