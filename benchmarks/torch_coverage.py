"""Which PyTorch names do real programs use that clnet lacks? Found here before a user finds them.

    python benchmarks/torch_coverage.py            # static report over tests/programs/corpus
    python benchmarks/torch_coverage.py --run      # also run every program under clnet and torch:
                                                   # pass/fail, the error, seconds under each
    python benchmarks/torch_coverage.py --json     # the same as JSON rows

Static part (``ast``, no program is run): every file of the corpus is parsed; its imports give
the local names bound to torch modules (``import torch.nn as nn``, ``from torch.nn import
functional as F``, ``from torch.utils.data import DataLoader``), and every attribute chain rooted
at one of them (``torch.nn.functional.relu``, ``nn.LSTM``, ``F.log_softmax``) is resolved in real
torch and, through the same ``torch`` -> clnet module map the corpus runs under
(``tests/programs/corpus_harness.py``), in clnet. It reports
- torch names clnet lacks (with the programs and lines that use them);
- keyword arguments a program passes that clnet's function or class does not take
  (``torch.matmul(..., out=)``);
- method and attribute names used on objects (``x.is_cuda``, ``h.detach()``) that torch's
  ``Tensor``, ``nn.Module`` or ``optim.Optimizer`` has and clnet's counterpart lacks (names
  are matched by spelling, since the type of ``x`` is not known without running: a name both
  a Tensor and, say, a str have can be counted for the wrong one, which only ever adds a name
  to check, never hides one).
Names reached only through ``getattr(nn, name)`` are invisible to it.

Dynamic part (``--dynamic``): every program runs under real torch (which runs each to its end)
with its torch modules swapped for recording proxies and ``Tensor``, ``nn.Module`` and
``Optimizer`` attribute reads recorded when they come from the program's own lines; the names
reached are then looked up in clnet. This one knows types (``x.index`` on a str is not counted)
and sees ``getattr(nn, rnn_type)``. ``--run`` runs each program under clnet and torch: pass or
the first error, and the seconds under each.
"""
import argparse
import ast
import importlib
import inspect
import json
import sys
import time
import types
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "programs"))

from corpus_harness import CORPUS, clnet_modules, run_program  # noqa: E402
from corpus_list import PROGRAMS  # noqa: E402

_MISSING = object()


def corpus_files():
    # the programs, not the stand-ins or the script that wrote the shipped text data
    return sorted(p for p in CORPUS.rglob("*.py")
                  if p.name != "_standins.py" and "data" not in p.relative_to(CORPUS).parts)


# ---------------------------------------------------------------------------- static analysis

def _torch_aliases(tree):
    """Local name -> torch dotted path, from the file's import statements."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "torch" or a.name.startswith("torch."):
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases["torch"] = "torch"  # `import torch.nn` binds `torch`
                        aliases[f"<import {a.name}>"] = a.name  # but names torch.nn as used
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "torch" or node.module.startswith("torch."):
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _other_imports(tree):
    """Local names bound to modules other than torch's (``np``, ``math``, ``F`` is not one)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if not (a.name == "torch" or a.name.startswith("torch.")):
                    bound.add(a.asname or a.name.split(".")[0])
    return bound


def _chain(node):
    """``a.b.c`` -> ['a', 'b', 'c'] when the chain is rooted at a Name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def scan(files):
    """Returns (names, kwargs, members): each maps a key to a set of 'file:line' uses.

    names:   torch dotted names ('torch.nn.LSTM')
    kwargs:  (torch dotted callable, keyword) pairs
    members: (attribute name, keyword or None) used on objects not known to be modules, less
             the names the corpus assigns itself (``self.name = name``)
    """
    names, kwargs, members = defaultdict(set), defaultdict(set), defaultdict(set)
    own = set()
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(CORPUS) if path.is_relative_to(CORPUS) else path.name
        aliases = _torch_aliases(tree)
        other_modules = _other_imports(tree) - set(aliases)
        for dotted in set(aliases.values()):
            names[dotted].add(f"{rel}:import")
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                if isinstance(node.ctx, ast.Store):
                    own.add(node.attr)  # `self.name = ...`: the program's own attribute
                parent = parents.get(node)
                if isinstance(parent, ast.Attribute) and parent.value is node:
                    continue  # only the longest chain
                parts = _chain(node)
                where = f"{rel}:{node.lineno}"
                if parts and parts[0] in aliases:
                    names[".".join([aliases[parts[0]]] + parts[1:])].add(where)
                elif not (parts and parts[0] in other_modules):  # np.indices is numpy's
                    members[(node.attr, None)].add(where)
            elif isinstance(node, ast.Name) and node.id in aliases and isinstance(
                    parents.get(node), ast.Call) and parents[node].func is node:
                names[aliases[node.id]].add(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Call) and node.keywords:
                where = f"{rel}:{node.lineno}"
                parts = _chain(node.func)
                if parts and parts[0] in aliases:
                    target = ".".join([aliases[parts[0]]] + parts[1:])
                    for k in node.keywords:
                        if k.arg:
                            kwargs[(target, k.arg)].add(where)
                elif isinstance(node.func, ast.Attribute) and not (
                        parts and parts[0] in other_modules):
                    for k in node.keywords:
                        if k.arg:
                            members[(node.func.attr, k.arg)].add(where)
    for key in [k for k in members if k[0] in own]:
        del members[key]
    return names, kwargs, members


def resolve(dotted, modules):
    """Look ``torch.a.b`` up where ``torch``'s modules are ``modules`` (name -> module)."""
    parts = dotted.split(".")
    obj = modules.get(parts[0], _MISSING)
    if obj is _MISSING:
        return _MISSING
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i + 1])
        nxt = getattr(obj, parts[i], _MISSING)
        if nxt is _MISSING:
            nxt = modules.get(prefix, _MISSING)
        if nxt is _MISSING:
            return _MISSING
        obj = nxt
    return obj


def _accepts(fn, keyword):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: cannot tell
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return True
    return keyword in sig.parameters


def torch_module_map():
    import torch
    out = {}
    for name in ["torch"] + [k for k in clnet_modules() if k != "torch"] + [
            "torch.nn.parallel", "torch.xpu", "torch.backends", "torch.accelerator"]:
        try:
            out[name] = importlib.import_module(name)
        except ImportError:
            pass
    out["torch"] = torch
    return out


def static_report(files):
    import clnet
    import torch
    names, kwargs, members = scan(files)
    tmods, cmods = torch_module_map(), clnet_modules()
    rows = {"missing_names": [], "missing_kwargs": [], "missing_members": [], "stats": {}}
    used = {n for n in names if resolve(n, tmods) is not _MISSING}
    for n in sorted(used):
        if resolve(n, cmods) is _MISSING:
            rows["missing_names"].append({"name": n, "uses": sorted(names[n])})
    for (target, kw), uses in sorted(kwargs.items()):
        t, c = resolve(target, tmods), resolve(target, cmods)
        if t is _MISSING or c is _MISSING or not callable(c):
            continue
        if _accepts(t, kw) is False:
            continue  # not a torch keyword either (the program's own, or a typo torch refuses)
        if _accepts(c, kw) is False:
            rows["missing_kwargs"].append({"name": f"{target}({kw}=)", "uses": sorted(uses)})
    # members: compare torch's classes with clnet's
    pairs = [("Tensor", torch.Tensor, clnet.Tensor),
             ("nn.Module", torch.nn.Module, clnet.nn.Module),
             ("optim.Optimizer", torch.optim.Optimizer, clnet.optim.Optimizer)]
    member_uses = defaultdict(set)
    for (attr, kw), uses in members.items():
        member_uses[attr] |= uses
    seen = set()
    for attr, uses in sorted(member_uses.items()):
        if _plain_python_or_numpy(attr):
            continue
        for label, tcls, ccls in pairs:
            if attr.startswith("__") or not hasattr(tcls, attr):
                continue
            if not hasattr(ccls, attr) and (label, attr) not in seen:
                # an instance attribute clnet sets in __init__ (Module.training) is not missing
                if not _instance_has(ccls, attr):
                    seen.add((label, attr))
                    rows["missing_members"].append({"name": f"{label}.{attr}",
                                                    "uses": sorted(uses)})
    for (attr, kw), uses in sorted(members.items(),
                                   key=lambda item: (item[0][0], item[0][1] or "")):
        if kw is None or _plain_python_or_numpy(attr):
            continue
        for label, tcls, ccls in pairs:
            tf, cf = getattr(tcls, attr, None), getattr(ccls, attr, None)
            if tf is None or cf is None or not callable(cf) or attr.startswith("__"):
                continue
            if _accepts(tf, kw) is False:
                continue
            if _accepts(cf, kw) is False:
                rows["missing_kwargs"].append({"name": f"{label}.{attr}({kw}=)",
                                               "uses": sorted(uses)})
    rows["stats"] = {"files": len(files), "torch_names_used": len(used),
                     "torch_names_missing": len(rows["missing_names"]),
                     "member_names_used": len(member_uses)}
    return rows


def _plain_python_or_numpy(attr):
    # `names.index(x)`, `line.split()`, `a.mean(axis=1)` on a numpy array: by spelling alone these
    # cannot be told from Tensor methods, and the corpus uses them on str/list/ndarray, so a name
    # that str, list, dict or numpy's ndarray also has is left to --run
    import numpy as np
    return any(hasattr(t, attr) for t in (str, list, dict, tuple, np.ndarray))


def _instance_has(cls, attr):
    try:
        if cls.__name__ == "Module":
            return hasattr(cls(), attr)
    except Exception:
        return False
    return False


# ---------------------------------------------------------------------------- dynamic record

_PROXIED = {}  # id(proxy) -> (real module, torch name, recorder)


class _ModuleProxy(types.ModuleType):
    """Stands in sys.modules for a torch module while a program runs under real torch: every
    attribute the program's own code reads through it is recorded (``getattr(nn, 'LSTM')``
    included), then the real attribute is handed back (a module as its proxy, so
    ``torch.nn.functional.relu`` is recorded whole). A real module object holding a copy of
    the real one's namespace, since torch's C++ side checks what it imports is a module and may
    read its dict directly."""

    def __getattribute__(self, attr):
        info = _PROXIED.get(id(self))
        if info is None or attr.startswith("__"):
            return types.ModuleType.__getattribute__(self, attr)
        real, name, rec = info
        value = getattr(real, attr)
        # torch.storage.* is looked up by pickle inside torch.save/torch.load of a whole model
        # (the nearest Python frame is then still the program's): not a name a program writes
        if rec.from_program(sys._getframe(1)) and name != "torch.storage":
            rec.names.add(f"{name}.{attr}")
        return rec.proxies.get(id(value), value)


class _Recorder:
    def __init__(self):
        self.names, self.members, self.proxies = set(), defaultdict(set), {}

    @staticmethod
    def from_program(frame):
        f = frame.f_code.co_filename
        return f.startswith(str(CORPUS)) and not f.endswith("_standins.py")


def dynamic_record(programs):
    """Run each program under real torch with its torch modules proxied and the attribute reads
    of Tensor, nn.Module and Optimizer objects from the program's own lines recorded. Returns
    (recorder, failures). Real torch runs every program to its end, so this sees every name a
    run reaches, where a clnet run stops at the first missing one."""
    import torch
    rec = _Recorder()
    for name in [n for n in list(sys.modules) if n == "torch" or n.startswith("torch.")]:
        mod = sys.modules[name]
        if mod is not None and not isinstance(mod, _ModuleProxy):
            proxy = _ModuleProxy(name)
            proxy.__dict__.update(mod.__dict__)
            _PROXIED[id(proxy)] = (mod, name, rec)
            rec.proxies[id(mod)] = proxy
    classes = {"Tensor": torch.Tensor, "nn.Module": torch.nn.Module,
               "optim.Optimizer": torch.optim.Optimizer}

    def watcher(label, cls):
        base = cls.__getattribute__

        def __getattribute__(obj, attr):
            if not attr.startswith("__") and rec.from_program(sys._getframe(1)):
                rec.members[label].add(attr)
            return base(obj, attr)
        return __getattribute__

    failures = {}
    saved = dict(sys.modules)
    try:
        for cls_label, cls in classes.items():
            assert "__getattribute__" not in cls.__dict__
            cls.__getattribute__ = watcher(cls_label, cls)
        for p in programs:
            for name, mod in list(sys.modules.items()):
                if id(mod) in rec.proxies:
                    sys.modules[name] = rec.proxies[id(mod)]
            try:
                run_program(p.name, "torch", p.argv)
            except BaseException as exc:  # noqa: BLE001 (reported, the record goes on)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures[p.id] = f"{type(exc).__name__}: {exc}"
            finally:
                sys.modules.update({k: v for k, v in saved.items()})
    finally:
        for cls in classes.values():
            del cls.__getattribute__
        sys.modules.update(saved)
        for proxy in rec.proxies.values():
            _PROXIED.pop(id(proxy), None)
    return rec, failures


def dynamic_report(programs):
    import clnet
    import torch
    rec, failures = dynamic_record(programs)
    cmods = clnet_modules()
    missing_names = sorted(n for n in rec.names if resolve(n, cmods) is _MISSING)
    samples = {"Tensor": (torch.Tensor, clnet.zeros(1)),
               "nn.Module": (torch.nn.Module, clnet.nn.Linear(1, 1)),
               "optim.Optimizer": (torch.optim.Optimizer,
                                   clnet.optim.SGD(clnet.nn.Linear(1, 1).parameters(), lr=0.1))}
    missing_members = []
    for label, attrs in sorted(rec.members.items()):
        tcls, cobj = samples[label]
        for attr in sorted(attrs):
            # the class's own API only: `self.fc1` or `model.encode` is the program's
            if hasattr(tcls, attr) and not hasattr(cobj, attr):
                missing_members.append(f"{label}.{attr}")
    return {"names_used": sorted(rec.names),
            "members_used": {k: sorted(v) for k, v in rec.members.items()},
            "missing_names": missing_names, "missing_members": missing_members,
            "torch_failures": failures}


# ---------------------------------------------------------------------------- dynamic runs

def run_all(programs, backends=("clnet", "torch")):
    rows = []
    for p in programs:
        row = {"program": p.id, "source": p.source, "needs": p.needs}
        for backend in backends:
            t0 = time.perf_counter()
            try:
                _, seconds, _ = run_program(p.name, backend, p.argv)
                row[backend] = {"ok": True, "seconds": round(seconds, 2)}
            except BaseException as exc:  # noqa: BLE001 (a program's failure is the data here)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                row[backend] = {"ok": False, "seconds": round(time.perf_counter() - t0, 2),
                                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                                if str(exc) else type(exc).__name__}
        rows.append(row)
        print(_run_line(row), file=sys.stderr, flush=True)
    return rows


def _run_line(row):
    c, t = row.get("clnet", {}), row.get("torch", {})
    ratio = (f"{t['seconds'] / c['seconds']:5.2f}x" if c.get("ok") and t.get("ok")
             and c["seconds"] > 0 else "     -")
    status = "ok  " if c.get("ok") else "FAIL"
    line = (f"{row['program']:38s} clnet {status} {c.get('seconds', 0):7.2f}s   "
            f"torch {'ok  ' if t.get('ok') else 'FAIL'} {t.get('seconds', 0):7.2f}s   {ratio}")
    if not c.get("ok"):
        line += f"\n{'':38s}   {c.get('error', '')}"
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run every program under clnet and torch")
    ap.add_argument("--dynamic", action="store_true",
                    help="also record the names each program reaches when run under real torch")
    ap.add_argument("--only", nargs="*", help="program ids to run (with --run/--dynamic)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    files = corpus_files()
    report = static_report(files)
    progs = [p for p in PROGRAMS if not args.only or p.id in args.only]
    if args.dynamic:
        report["dynamic"] = dynamic_report(progs)
    if args.run:
        report["runs"] = run_all(progs)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    s = report["stats"]
    print(f"corpus: {s['files']} files under {CORPUS.relative_to(ROOT)}; "
          f"{s['torch_names_used']} distinct torch names used, {s['torch_names_missing']} "
          f"missing in clnet")
    for title, key in (("torch names clnet lacks", "missing_names"),
                       ("keyword arguments clnet does not take", "missing_kwargs"),
                       ("methods/attributes (by name) clnet's classes lack", "missing_members")):
        print(f"\n{title}: {len(report[key])}")
        for r in report[key]:
            uses = r["uses"]
            more = f" (+{len(uses) - 3} more)" if len(uses) > 3 else ""
            print(f"  {r['name']:48s} {', '.join(uses[:3])}{more}")
    if args.dynamic:
        d = report["dynamic"]
        n_members = sum(len(v) for v in d["members_used"].values())
        print(f"\ndynamic (the programs run under real torch, reads from their own lines "
              f"recorded): {len(d['names_used'])} torch names and {n_members} Tensor/Module/"
              f"Optimizer members reached")
        print(f"  torch names clnet lacks: {', '.join(d['missing_names']) or 'none'}")
        print(f"  members clnet lacks: {', '.join(d['missing_members']) or 'none'}")
        for pid, err in d["torch_failures"].items():
            print(f"  (under torch {pid} failed: {err[:120]})")
    if args.run:
        runs = report["runs"]
        ok = sum(r["clnet"]["ok"] for r in runs)
        print(f"\nruns: {ok} of {len(runs)} programs run to their check under clnet "
              f"(seconds: clnet, torch; ratio = torch/clnet, above 1 clnet is faster)")
        for r in runs:
            print(_run_line(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
