"""The per-device tuning store: what ``clnet tune`` measured, one JSON file per device.

Where: ``$CLNET_TUNING_CACHE`` when set (a folder; tests point it at a temporary one), else
``$XDG_CACHE_HOME/clnet/tuning/``, else ``~/.cache/clnet/tuning/``. One file per (platform,
device) name pair; inside, the key the parameters were measured under: platform name and version,
device name, driver version and clnet version. Parameters measured under another driver or clnet
version are not used (a new driver compiles the kernels differently; a new clnet may have changed
them): such a file, or one that is not valid JSON or holds a parameter of the wrong form, is
ignored with ONE warning naming the file, and the kernels run with their defaults.

When: lazily, once per device, the first time a kernel family asks for its parameters (before
its first program build), so ``import clnet`` reads no file and every process that runs a kernel
uses the tuning. The families fill ``Device.tuning`` from ``tuned(dev, key)`` when set, else
from their defaults (``tuning_defaults.py``); tests may still force ``Device.tuning`` entries.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a reader never
sees half a file and two tuning runs leave one of the two complete results.
"""
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import warnings

from .._version import __version__

FORMAT = 1
_lock = threading.Lock()
_loaded = {}    # Device -> its validated parameters ({} when untuned or the file was ignored)


class TuningCacheError(OSError):
    """The tuning folder cannot be created or written (reported by the CLI as one line)."""


def cache_dir():
    """The folder holding the tuning files (not created here)."""
    env = os.environ.get("CLNET_TUNING_CACHE", "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "clnet", "tuning")


def device_key(dev):
    """What the parameters were measured under; a file whose key differs is not used."""
    return {"platform": dev.platform_name,
            "platform_version": dev.platform.version.strip(),
            "device": dev.name,
            "driver_version": dev.cl_device.driver_version.strip(),
            "clnet_version": __version__}


def _slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "x"


def cache_path(dev):
    """The device's tuning file: names plus a short hash of the two full names (two devices whose
    names slug alike still get two files)."""
    digest = hashlib.sha1(f"{dev.platform_name}\0{dev.name}".encode()).hexdigest()[:10]
    name = f"{_slug(dev.platform_name)}--{_slug(dev.name)}--{digest}.json"
    return os.path.join(cache_dir(), name)


# ---------------------------------------------------------------------------------- validation
_GEMM_KEYS = ("TM", "TN", "TK", "WM", "WN", "VW")


def _check_gemm_table(name, table):
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{name!r} must be an object of per-dtype tables")
    for cl_type, cfg in table.items():
        where = f"{name}.{cl_type}"
        if cl_type not in ("float", "double"):
            raise ValueError(f"{where}: the dtype must be 'float' or 'double'")
        if not isinstance(cfg, dict) or cfg.get("style") not in ("cpu", "gpu") or \
                set(cfg) != {"style", *_GEMM_KEYS}:
            raise ValueError(f"{where}: expected style ('cpu'/'gpu') and {', '.join(_GEMM_KEYS)}")
        if not all(isinstance(cfg[k], int) and not isinstance(cfg[k], bool) and 0 < cfg[k] <= 4096
                   for k in _GEMM_KEYS):
            raise ValueError(f"{where}: tile sizes must be integers in 1..4096")
        if cfg["VW"] not in (1, 2, 4, 8, 16) or cfg["TM"] % cfg["WM"] or \
                cfg["TN"] % cfg["WN"] or cfg["WN"] % cfg["VW"]:
            raise ValueError(f"{where}: needs VW in 1/2/4/8/16, TM % WM == TN % WN == WN % VW == 0")


def _check_int(name, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError(f"{name!r} must be an integer in {lo}..{hi}, got {v!r}")


def validate(params):
    """Raise ValueError naming the first parameter that is not of its family's form."""
    if not isinstance(params, dict):
        raise ValueError("'params' must be an object")
    for name, v in params.items():
        if name in ("gemm", "conv.gemm"):
            _check_gemm_table(name, v)
        elif name in ("softmax.ls", "norm.ls", "reduce.local"):
            _check_int(name, v, 1, 1 << 16)
            if v & (v - 1):
                raise ValueError(f"{name!r} must be a power of two, got {v}")
        elif name in ("reduce.interleave",):
            _check_int(name, v, 0, 1)
        elif name in ("reduce.rows_min", "reduce.items", "reduce.groups", "reduce.min_chunk"):
            _check_int(name, v, 1, 1 << 30)
        else:
            raise ValueError(f"unknown parameter {name!r}")


# ---------------------------------------------------------------------------------- load / save
def read_file(path):
    """The parsed file (a dict) or raises ValueError/OSError saying what is wrong."""
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a clnet tuning file of format {FORMAT}")
    validate(data.get("params"))
    return data


def status(dev):
    """('tuned', file data) when the device has usable tuning, ('stale', reason) when its file is
    for another key or unreadable, ('untuned', None) when there is no file. Never raises."""
    path = cache_path(dev)
    if not os.path.exists(path):
        return "untuned", None
    try:
        data = read_file(path)
    except (OSError, ValueError) as e:
        return "stale", f"{path}: {e}"
    key = device_key(dev)
    if data.get("key") != key:
        have = data.get("key") if isinstance(data.get("key"), dict) else {}
        diff = [f"{k} {have.get(k)!r} (now {v!r})" for k, v in key.items() if have.get(k) != v]
        return "stale", f"{path}: measured under another " + "; ".join(diff)
    return "tuned", data


def load(dev):
    """The device's tuned parameters (a dict, maybe empty); read once per process."""
    got = _loaded.get(dev)
    if got is not None:
        return got
    with _lock:
        got = _loaded.get(dev)
        if got is None:
            state, data = status(dev)
            if state == "stale":
                warnings.warn(f"clnet: tuning file ignored, the kernels use their defaults: "
                              f"{data}; run `clnet tune` again", RuntimeWarning, stacklevel=3)
            got = _loaded[dev] = data["params"] if state == "tuned" else {}
    return got


def tuned(dev, key):
    """The tuned value of ``key`` for ``dev``, or None (then the family uses its default)."""
    return load(dev).get(key)


def forget(dev=None):
    """Drop what was loaded (for ``dev``, or all devices): the next ``tuned`` reads the file again.
    The families' filled-in ``Device.tuning`` entries are the caller's to clear."""
    with _lock:
        if dev is None:
            _loaded.clear()
        else:
            _loaded.pop(dev, None)


def check_writable(dev):
    """Raise TuningCacheError now when the device's tuning file could not be written (so a
    search is not run for nothing)."""
    folder = os.path.dirname(cache_path(dev))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tuning-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise TuningCacheError(f"cannot write the tuning cache folder {folder}: "
                               f"{e.strerror or e} (set CLNET_TUNING_CACHE or XDG_CACHE_HOME "
                               f"to a writable folder)") from None


def save(dev, params, **extra):
    """Write ``params`` (validated) as the device's tuning, with ``extra`` fields (the search's
    results table, the mode); returns the path. Raises TuningCacheError when the folder cannot
    be created or written."""
    validate(params)
    path = cache_path(dev)
    folder = os.path.dirname(path)
    data = {"format": FORMAT, "key": device_key(dev), "params": params,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tuning-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise TuningCacheError(f"cannot write the tuning cache folder {folder}: "
                               f"{e.strerror or e} (set CLNET_TUNING_CACHE or XDG_CACHE_HOME "
                               f"to a writable folder)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise TuningCacheError(f"cannot write the tuning file {path}: {e.strerror or e}") from None
    forget(dev)
    return path
