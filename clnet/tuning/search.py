"""The search behind ``clnet tune``: every candidate checked against the default, then timed.

For each kernel family (clnet/tuning/families.py) and each candidate parameter value, every case
(a shape the training workloads use) is run once with the DEFAULT parameters to get the reference
result and time, then with the candidate: a candidate that fails to build or launch on the device
is skipped (the reason is kept), one whose result differs from the default's beyond float32
rounding is refused, and the rest are timed beside the default (the two alternate, so a change of
load on a shared machine hits both alike) as medians of several runs after a warm-up, each run
ended by a device synchronize. The candidate with the lowest geometric mean time over the
cases wins when it beats the default by more than the noise margin and slows no case down by more
than WORST; the device's tuning file (backend/tuning.py) then holds it, and every later process
uses it.
"""
import math
import statistics
import sys
import time

import numpy as np
from tqdm import tqdm

from ..backend import tuning as store

MARGIN = 0.97      # a candidate must be 3% faster than the default (geometric mean) to replace it
WORST = 1.10       # ... and slow no case down by more than 10% (no regression bought by an average)


class Case:
    """One timed workload: ``setup()`` allocates the inputs and returns ``run``, a function that
    launches the work and returns the result tensors (compared across candidates); ``work`` is the
    FLOPs or bytes of one run, in ``unit`` ("GFLOP/s" or "GB/s")."""

    def __init__(self, label, setup, work, unit, tol=None):
        self.label, self.setup, self.work, self.unit = label, setup, work, unit
        self.tol = tol      # (rtol, atol scale): see close()


def close(ref, got, tol=None):
    """Whether ``got`` matches ``ref`` within float32 rounding. ``tol`` = (rtol, scale): the
    allowed error is rtol * (|ref| + scale * max|ref|) elementwise; the default (1e-4, 1e-2)
    accepts a different summation order over a few thousand terms and nothing structurally
    wrong (a wrong tile, a dropped edge or a missed K step errs by O(max|ref|))."""
    rtol, scale = tol or (1e-4, 1e-2)
    if len(ref) != len(got):
        return False
    for r, g in zip(ref, got):
        if r.shape != g.shape or not np.all(np.isfinite(g) == np.isfinite(r)):
            return False
        finite = np.isfinite(r)
        r, g = r[finite].astype(np.float64), g[finite].astype(np.float64)
        if r.size == 0:
            continue
        allowed = rtol * (np.abs(r) + scale * np.abs(r).max())
        if np.any(np.abs(r - g) > allowed):
            return False
    return True


def _host(outs):
    return [o.detach().cpu().numpy() if hasattr(o, "numpy") else np.asarray(o) for o in outs]


def time_run(dev, run, repeats, budget_s=None):
    """Median seconds of ``run`` over ``repeats`` timed calls after one warm-up, each ended by a
    device synchronize; ``budget_s`` caps the number of calls for slow cases (at least 3)."""
    run()
    dev.synchronize()
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        run()
        dev.synchronize()
        times.append(time.perf_counter() - t0)
        if budget_s is not None and i >= 2 and sum(times) > budget_s:
            break
    return statistics.median(times)


def time_pair(dev, run, use_a, use_b, repeats, budget_s=None):
    """Median seconds of ``run`` with parameters a and with b (``use_a()``/``use_b()`` put them
    in place), after a warm-up of each, timed alternately (a b, b a, a b, ...) so that a change
    of load on a shared machine hits both alike: the ratio is what decides."""
    for use in (use_a, use_b):
        use()
        run()
        dev.synchronize()
    ta, tb = [], []
    for i in range(repeats):
        order = ((use_a, ta), (use_b, tb)) if i % 2 == 0 else ((use_b, tb), (use_a, ta))
        for use, times in order:
            use()
            t0 = time.perf_counter()
            run()
            dev.synchronize()
            times.append(time.perf_counter() - t0)
        if budget_s is not None and i >= 2 and sum(ta) + sum(tb) > budget_s:
            break
    return statistics.median(ta), statistics.median(tb)


class Outcome:
    """What one family's search found: per candidate a status, per case the default's and the
    winner's time."""

    def __init__(self, family):
        self.family = family
        self.default = None
        self.best = None
        self.rows = []           # (case label, unit, work, default s, best s)
        self.skipped = []        # (candidate, reason): did not build or run
        self.refused = []        # (candidate, case label): result differed from the default's
        self.timed = []          # (candidate, geometric mean time relative to the default)

    @property
    def improved(self):
        return self.best is not None and self.best != self.default


def _describe(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def _try(dev, family, out, cand, default, prepared, refs, repeats, budget, bar):
    """Check ``cand`` against the reference results, then time it beside the default on every
    case: (geometric mean of the time ratios, [(default s, candidate s)]), or (None, None) when
    it was skipped or refused (recorded in ``out``)."""
    pairs = []
    try:
        family.apply(dev, cand)
        for (case, run), ref in zip(prepared, refs):
            got = _host(run())
            if not close(ref, got, case.tol):
                out.refused.append((cand, case.label))
                return None, None
            pairs.append(time_pair(dev, run, lambda: family.apply(dev, default),
                                   lambda: family.apply(dev, cand), repeats, 2 * budget))
            bar.update()
    except Exception as e:      # noqa: BLE001 - a candidate this device cannot build or launch
        # (a compiler error, too many registers or work-items, out of resources) is a candidate
        # to skip, never a failed run
        out.skipped.append((cand, _describe(e)))
        family.apply(dev, default)
        dev.synchronize()
        return None, None
    finally:
        bar.update(len(prepared) - len(pairs))
    score = math.exp(sum(math.log(c / d) for d, c in pairs) / len(pairs))
    out.timed.append((cand, score))
    return score, pairs


def search_family(dev, family, quick=False, repeats=None, progress=True):
    """Search ``family``'s candidates on ``dev``; returns an Outcome. ``dev.tuning`` is left with
    the family's keys removed, so the next launch reads the tuning store again."""
    out = Outcome(family.name)
    cases = family.cases(dev, quick)
    default = family.default(dev)
    candidates = [c for c in family.candidates(dev, quick) if c != default]
    repeats = repeats or (5 if quick else 7)
    budget = 1.0 if quick else 3.0
    bar = tqdm(total=len(cases) * (len(candidates) + 1), desc=f"tune {family.name}",
               unit="run", file=sys.stderr, leave=False, disable=None if progress else True)
    out.default = default
    try:
        prepared = [(case, case.setup()) for case in cases]
        family.apply(dev, default)
        refs, base = [], []
        for case, run in prepared:
            refs.append(_host(run()))
            base.append(time_run(dev, run, repeats, budget))
            bar.update()
        best, best_score, best_rows = default, 1.0, list(zip(base, base))
        tried = []
        # a second round (full searches of families that offer it): the neighbours of the
        # first round's winner, e.g. other tile extents around the best register block
        for round_ in (1, 2):
            if round_ == 2:
                more = getattr(family, "neighbours", None)
                if quick or more is None or best is default:
                    break
                candidates = [c for c in more(dev, best) if c != default and c not in tried]
                bar.total += len(cases) * len(candidates)
                bar.refresh()
            for cand in candidates:
                tried.append(cand)
                score, pairs = _try(dev, family, out, cand, default, prepared, refs, repeats,
                                    budget, bar)
                if score is not None and score < best_score and \
                        max(c / d for d, c in pairs) <= WORST:
                    best, best_score, best_rows = cand, score, pairs
        if best_score > MARGIN:
            best, best_rows = default, list(zip(base, base))   # within the noise: the default
        out.best = best
        out.rows = [(case.label, case.unit, case.work, d, c)
                    for (case, _), (d, c) in zip(prepared, best_rows)]
    finally:
        bar.close()
        family.reset(dev)
    return out


def tune(dev, families, quick=False, repeats=None, progress=True):
    """Search each family and write the device's tuning file, keeping the parameters of families
    not searched now. Returns (outcomes, path of the file)."""
    outcomes = [search_family(dev, f, quick, repeats, progress) for f in families]
    state, data = store.status(dev)
    params = dict(data["params"]) if state == "tuned" else {}
    results = dict(data.get("results", {})) if state == "tuned" else {}
    for f, o in zip(families, outcomes):
        for key in f.keys:
            params.pop(key, None)
        if o.improved:
            params.update(f.params(dev, o.best))
    for f, o in zip(families, outcomes):
        # a family whose untuned value falls back to another's (conv's tiles to GEMM's) keeps
        # the default it was measured best with, rather than the other family's tuned value
        if not o.improved and getattr(f, "falls_back_to", None) in params:
            params.update(f.params(dev, o.default))
        results[f.name] = [dict(case=r[0], unit=r[1], default_s=r[3], tuned_s=r[4])
                           for r in o.rows]
    path = store.save(dev, params, results=results, quick=bool(quick))
    for f in families:
        f.reset(dev)
    return outcomes, path


def _rate(work, seconds):
    return work / seconds / 1e9


def format_outcomes(outcomes):
    """The before/after table: per family and case, the default's and the tuned figure."""
    header = ("op", "case", "default", "tuned", "unit", "speedup")
    rows = []
    for o in outcomes:
        for label, unit, work, b, t in o.rows:
            rows.append((o.family, label, f"{_rate(work, b):.2f}", f"{_rate(work, t):.2f}", unit,
                         f"{b / t:.2f}x"))
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def describe(value, default=None):
    """A parameter value in one short line: a GEMM tile set as 'cpu TM=192 TN=256 ...', a dict of
    launch parameters as the entries that differ from ``default``."""
    if isinstance(value, dict):
        if "style" in value:
            return value["style"] + " " + " ".join(f"{k}={value[k]}" for k in
                                                   ("TM", "TN", "TK", "WM", "WN", "VW"))
        diff = {k: v for k, v in value.items() if default is None or default.get(k) != v}
        return " ".join(f"{k}={v}" for k, v in diff.items()) or "the defaults"
    return str(value)


def format_choices(outcomes):
    """One line per family: what was kept and why, and what was skipped or refused."""
    lines = []
    for o in outcomes:
        if o.improved:
            lines.append(f"{o.family}: tuned {describe(o.best, o.default)} "
                         f"(default {describe(o.default, o.best)})")
        else:
            lines.append(f"{o.family}: the default stays, {describe(o.default)} (no candidate "
                         f"was {100 * (1 - MARGIN):.0f}% faster without a case "
                         f"{100 * (WORST - 1):.0f}% slower)")
        lines += [f"  skipped {describe(c, o.default)}: {why}" for c, why in o.skipped]
        lines += [f"  refused {describe(c, o.default)}: its result differs from the default's "
                  f"on {label}" for c, label in o.refused]
    return "\n".join(lines)
