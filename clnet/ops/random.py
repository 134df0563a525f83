"""Random numbers on the device: sampling functions and in-place fills.
Kernels: cl_kernels/random.cl (Philox4x32-10, counter-based), launched by kernels/random.py;
generators: ops/generator.py.

Every launch takes its counters from a Generator (the default one of the tensor's device unless
``generator=`` is given) and never reads anything back, except ``multinomial``, which validates
its weights on the host. Values depend only on their row-major linear index, not on the layout:
``t.uniform_()`` on a non-contiguous view writes exactly what ``rand(t.shape)`` would hold under
the same generator state.
"""
import sys
import warnings

import numpy as np

from .. import dtypes, graph
from ..backend.devices import device as _device
from ..kernels import random as random_kernels
from ..errors import DeviceError
from ..tensor import Tensor
from .generator import (Generator, fork_rng, generator_for as _generator_for, get_rng_state,
                        initial_seed, manual_seed, philox4x32_10_host, seed, set_rng_state)
from ..kernels.layout import broadcast_shapes, check_index_range
from .copy import cast, clone, contiguous, copy_into, from_numpy_to
from .creation import _finish, _sizes, full

# ``from .ops.random import *`` also binds ``clnet.random`` to this module, so that PyTorch's
# ``torch.random.manual_seed`` / ``torch.random.fork_rng`` spellings work.
random = sys.modules[__name__]

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "fork_rng", "rand", "randn", "randint", "rand_like", "randn_like", "randint_like",
           "randperm", "normal", "bernoulli", "multinomial", "dropout_mask", "random"]

_U64, _I64, _F32 = np.uint64, np.int64, np.float32
_MASK64 = (1 << 64) - 1
_FP = (dtypes.float32, dtypes.float64)


# ================================================================== launches
def _launch_fill(op, t, dist, values_per_counter, a, b, arg_types, generator):
    """Fill tensor ``t`` (any layout) with kernel family ``<dist>_<type>``; parameters a, b."""
    n = t.numel()
    if n == 0:
        return t
    gen = _generator_for(op, generator, t._storage.device)
    random_kernels.fill(op, t, dist, -(-n // values_per_counter), gen, a, b, arg_types)
    return t


def _float_params(t):
    """(values per counter, scalar arg type) of the float distributions for t's dtype."""
    return (4, _F32) if t.dtype is dtypes.float32 else (2, np.float64)


def _require_float(op, t):
    if t.dtype not in _FP:
        raise TypeError(f"{op}: expected a floating-point tensor, got {t.dtype} "
                        "(use random_ for integer tensors)")


def _number(op, name, x):
    if isinstance(x, Tensor):
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(x).__name__}")
    return x


# ================================================================== in-place fills (Tensor methods)
def _overwrite(t, node_name, fill):
    """Run ``fill()`` (which overwrites every element of t), bump t's version, and under autograd
    give t a node whose gradient to the old value is zero, as PyTorch does. A leaf that requires
    grad is refused outside ``no_grad()`` (nn.init fills parameters under no_grad)."""
    rec = graph.mode.grad_enabled and graph.tracks(t)
    if rec:
        graph.check_inplace(t)
        edges = (graph.edge(t),)
    fill()
    t._bump_version()
    if rec:
        graph.rebase_history(t, node_name, edges, lambda g: (
            full(g._shape, 0, dtype=g.dtype, device=g._storage.device),))
    return t


def uniform_(t, from_=0.0, to=1.0, *, generator=None, **kw):
    """Uniform on [from, to) (the value is ``from + (to - from) * u``, u in [0, 1))."""
    from_ = _number("uniform_", "from", kw.pop("from", from_))
    to = _number("uniform_", "to", to)
    _no_extra("uniform_", kw)
    _require_float("uniform_", t)
    if from_ > to:
        raise ValueError(f"uniform_ expects to return a [from, to) range, but found "
                         f"from={from_} > to={to}")
    v, ty = _float_params(t)
    return _overwrite(t, "UniformBackward0", lambda: _launch_fill(
        "uniform_", t, "uniform", v, from_, to - from_, (ty, ty), generator))


def normal_(t, mean=0.0, std=1.0, *, generator=None):
    mean, std = _number("normal_", "mean", mean), _number("normal_", "std", std)
    _require_float("normal_", t)
    if std < 0:
        raise ValueError(f"normal expects std >= 0.0, but found std {std}")
    v, ty = _float_params(t)
    return _overwrite(t, "NormalBackward0", lambda: _launch_fill(
        "normal_", t, "normal", v, mean, std, (ty, ty), generator))


def exponential_(t, lambd=1.0, *, generator=None):
    lambd = _number("exponential_", "lambd", lambd)
    _require_float("exponential_", t)
    if not lambd > 0:
        raise ValueError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    v, ty = _float_params(t)
    return _overwrite(t, "ExponentialBackward0", lambda: _launch_fill(
        "exponential_", t, "exponential", v, lambd, 0.0, (ty, ty), generator))


_INT_LIMITS = {dtypes.bool_: (0, 1), dtypes.int32: (-(1 << 31), (1 << 31) - 1),
               dtypes.int64: (-(1 << 63), (1 << 63) - 1)}
_FLOAT_DIGITS = {dtypes.float32: 24, dtypes.float64: 53}


def _int_range(op, dt, low, high):
    """Validated (low, count) of the integers [low, high) for dtype ``dt``; high None = up to the
    largest value of dt (2**digits for floats), inclusive, as PyTorch's random_(from)."""
    if high is None:
        high = (_INT_LIMITS[dt][1] if dt in _INT_LIMITS else 1 << _FLOAT_DIGITS[dt]) + 1
    elif low >= high:
        raise ValueError(f"random_ expects 'from' to be less than 'to', but got "
                         f"from={low} >= to={high}")
    if dt in _INT_LIMITS:
        lo, hi = _INT_LIMITS[dt]
        if not lo <= low <= hi:
            raise ValueError(f"{op}: from is out of bounds for {dt.name} (got {low})")
        if not lo <= high - 1 <= hi:
            raise ValueError(f"{op}: to - 1 is out of bounds for {dt.name} (got {high - 1})")
    else:
        bound = 1 << _FLOAT_DIGITS[dt]
        if not (-bound <= low <= bound and -bound <= high - 1 <= bound):
            warnings.warn(f"{op}: [{low}, {high}) is outside [-(2^{_FLOAT_DIGITS[dt]}), "
                          f"2^{_FLOAT_DIGITS[dt]}]: {dt.name} cannot hold every integer there",
                          stacklevel=3)
    return low, high - low


def _fill_ints(op, t, low, count, generator):
    # count == 2**64 (every int64) is passed as 0, which the kernel reads as "no modulo"
    return _launch_fill(op, t, "random", 2, low, count & _MASK64, (_I64, _U64), generator)


def _int_arg(op, name, x):
    if isinstance(x, Tensor):
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {type(x).__name__}")
    return int(x)


def random_(t, *args, generator=None, **kw):
    """``random_()`` (0 .. the dtype's max), ``random_(to)`` ([0, to)), ``random_(from, to)``
    (to=None: up to the dtype's max), PyTorch's overloads."""
    if len(args) > 2:
        raise TypeError(f"random_() takes at most 2 positional arguments, got {len(args)}")
    if len(args) == 1 and "to" not in kw and "from" not in kw:
        low, high = 0, args[0]
    else:
        names = ["from", "to"]
        vals = dict(zip(names, args))
        for k in list(kw):
            if k in names:
                if k in vals:
                    raise TypeError(f"random_() got multiple values for argument {k!r}")
                vals[k] = kw.pop(k)
        low, high = vals.get("from", 0), vals.get("to")
    _no_extra("random_", kw)
    low = _int_arg("random_", "from", low)
    high = None if high is None else _int_arg("random_", "to", high)
    low, count = _int_range("random_", t.dtype, low, high)
    return _overwrite(t, "RandomBackward0",
                      lambda: _fill_ints("random_", t, low, count, generator))


def bernoulli_(t, p=0.5, *, generator=None):
    """Each element becomes 1 with probability p (a number, or a tensor broadcast to t)."""
    if isinstance(p, Tensor):
        return _overwrite(t, "BernoulliBackward1",
                          lambda: _bernoulli_tensor_into("bernoulli_", t, p, generator))
    p = _number("bernoulli_", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return _overwrite(t, "BernoulliBackward0", lambda: _launch_fill(
        "bernoulli_", t, "bernoulli", 4, p, 0.0, (_F32, _F32), generator))


def _bernoulli_tensor_into(op, out, p, generator):
    """out[i] = (u_i < p[i]) with p broadcast to out. Probabilities outside [0, 1] act as
    clamped (checking them would need a read-back)."""
    if p.dtype not in _FP:
        raise TypeError(f"{op}: probabilities must be floating point, got {p.dtype}")
    if tuple(broadcast_shapes(op, out._shape, p._shape)) != tuple(out._shape):
        raise ValueError(f"{op}: probability shape {list(p._shape)} cannot be broadcast to "
                         f"shape {list(out._shape)}")
    n = out.numel()
    if n == 0:
        return out
    dev = out._storage.device
    if p._storage.device is not dev:
        raise DeviceError(f"{op}: probabilities are on {p._storage.device}, the tensor on {dev}")
    p = cast(p, dtypes.float32)   # draws compare 24-bit uniforms: float32 probabilities suffice
    gen = _generator_for(op, generator, dev)
    random_kernels.bernoulli_p(op, out, p, -(-n // 4), gen)
    return out


# ================================================================== new tensors
def _no_extra(op, kw):
    for k in ("layout", "pin_memory", "memory_format"):
        kw.pop(k, None)
    if kw:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(kw)}")


def _result_device(op, device, generator):
    """``device``, else the generator's device, else the default device."""
    if device is not None:
        return _device(device)
    if generator is not None:
        return _generator_for(op, generator, None).device
    return _device(None)


def _target(op, size, kw, dtype, device, generator, out, default_dtype=None):
    """(shape, dtype, device) of a new result, or ``out`` checked against them."""
    if not size and "size" in kw:
        size = (kw.pop("size"),)
    _no_extra(op, kw)
    shape = _sizes(size, op)
    if out is not None:
        if tuple(out._shape) != shape:
            raise ValueError(f"{op}: out has shape {list(out._shape)}, expected {list(shape)}")
        if dtype is not None and dtypes.to_dtype(dtype) is not out.dtype:
            raise TypeError(f"{op}: out has dtype {out.dtype}, dtype={dtype} was asked")
        return out
    dt = dtypes.to_dtype(dtype) if dtype is not None else (default_dtype or
                                                           dtypes.get_default_dtype())
    return Tensor._empty(shape, dt, _result_device(op, device, generator))


def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, **kw):
    t = _target("rand", size, kw, dtype, device, generator, out)
    _require_float("rand", t)
    v, ty = _float_params(t)
    _launch_fill("rand", t, "uniform", v, 0.0, 1.0, (ty, ty), generator)
    return _finish(t, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, **kw):
    t = _target("randn", size, kw, dtype, device, generator, out)
    _require_float("randn", t)
    v, ty = _float_params(t)
    _launch_fill("randn", t, "normal", v, 0.0, 1.0, (ty, ty), generator)
    return _finish(t, requires_grad)


def randint(*args, size=None, low=None, high=None, generator=None, out=None, dtype=None,
            device=None, requires_grad=False, **kw):
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high), int64 by
    default."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if len(args) == 2:
        if low is not None or high is not None:
            raise TypeError("randint() got low/high both positionally and by keyword")
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    elif args:
        raise TypeError(f"randint() takes (high, size) or (low, high, size), got {len(args)} "
                        "positional arguments besides size")
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: expected (high, size) or "
                        "(low, high, size)")
    low = 0 if low is None else _int_arg("randint", "low", low)
    high = _int_arg("randint", "high", high)
    t = _target("randint", (size,), kw, dtype, device, generator, out, dtypes.int64)
    lo, count = _int_range("randint", t.dtype, low, high)
    _fill_ints("randint", t, lo, count, generator)
    return _finish(t, requires_grad)


def _like_target(op, t, dtype, device, generator):
    dt = dtypes.to_dtype(dtype) if dtype is not None else t.dtype
    dev = _device(device) if device is not None else t._storage.device
    return Tensor._empty(t._shape, dt, dev)


def rand_like(t, *, dtype=None, device=None, requires_grad=False, generator=None, **kw):
    _no_extra("rand_like", kw)
    out = _like_target("rand_like", t, dtype, device, generator)
    return rand(t._shape, generator=generator, out=out, requires_grad=requires_grad)


def randn_like(t, *, dtype=None, device=None, requires_grad=False, generator=None, **kw):
    _no_extra("randn_like", kw)
    out = _like_target("randn_like", t, dtype, device, generator)
    return randn(t._shape, generator=generator, out=out, requires_grad=requires_grad)


def randint_like(t, *args, low=None, high=None, dtype=None, device=None, requires_grad=False,
                 generator=None, **kw):
    """``randint_like(input, high)`` or ``randint_like(input, low, high)``; input's dtype."""
    _no_extra("randint_like", kw)
    out = _like_target("randint_like", t, dtype, device, generator)
    return randint(*args, t._shape, low=low, high=high, generator=generator, out=out,
                   requires_grad=requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, device=None, requires_grad=False, **kw):
    """A uniformly random permutation of 0..n-1, int64 by default: the stable argsort of n
    64-bit Philox keys (ceil(n/2) counters). Equal keys (probability ~ n^2 / 2^65) keep index
    order, so the result is always a permutation.

    On GPUs the keys are drawn and sorted on the device; elsewhere (PoCL) the keys are computed
    on the host from the same counters and the permutation is uploaded once, which is ~3x faster
    there than the device's bitonic sort (except inside a graph capture). Both paths give
    identical permutations."""
    n = _int_arg("randperm", "n", n)
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    if out is not None:
        t = _target("randperm", ((n,),), kw, dtype, device, generator, out)
        dt, dev = t.dtype, t._storage.device
    else:
        _no_extra("randperm", kw)
        dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64
        dev = _result_device("randperm", device, generator)
    if dt is dtypes.bool_ or (dt in _INT_LIMITS and n - 1 > _INT_LIMITS[dt][1]):
        raise TypeError(f"randperm: {dt} cannot hold values up to {n - 1}")
    gen = _generator_for("randperm", generator, dev)
    if n == 0:
        perm = Tensor._empty((0,), dt, dev)
    elif dev.kind == "GPU" or dev.capture is not None:
        # a captured step (clnet.graphs) must draw a new permutation at each replay: the
        # device path reserves its counters as it launches; the host path's upload would not
        perm = cast(_randperm_device(n, gen, dev), dt)
    else:
        perm = _randperm_host(n, gen, dev, dt)
    if out is not None:
        return _into_out("randperm", perm, out)
    return _finish(perm, requires_grad)


def _randperm_host(n, gen, dev, dt=dtypes.int64):
    counters = -(-n // 2)
    key, ctr = gen._take(counters)
    words = philox4x32_10_host(int(key), int(ctr) + np.arange(counters, dtype=np.uint64))
    keys = ((words[:, 0::2] << np.uint64(32)) | words[:, 1::2]).reshape(-1)[:n]
    return from_numpy_to(np.argsort(keys, kind="stable").astype(dt.np), dev, dt)


def _randperm_device(n, gen, dev):
    from .sort import argsort   # the sort family sits beside this one; import when used
    keys = Tensor._empty((n,), dtypes.int64, dev)
    # every int64: the key is the word pair with its top bit flipped, so signed order on the
    # device equals the host path's unsigned order
    _fill_ints("randperm", keys, -(1 << 63), 1 << 64, gen)
    return argsort(keys, stable=True)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None,
           requires_grad=False, **kw):
    """``normal(mean, std, size)`` with numbers; ``normal(mean_tensor, std_tensor)`` (broadcast),
    ``normal(mean_tensor, std=1.0)``, ``normal(mean, std_tensor)``: PyTorch's forms."""
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal(): with numbers for mean and std, size is required")
        mean, std = _number("normal", "mean", mean), _number("normal", "std", std)
        if std < 0:
            raise ValueError(f"normal expects std >= 0.0, but found std {std}")
        t = _target("normal", (size,), kw, dtype, device, generator, out)
        _require_float("normal", t)
        v, ty = _float_params(t)
        _launch_fill("normal", t, "normal", v, mean, std, (ty, ty), generator)
        return _finish(t, requires_grad)
    _no_extra("normal", kw)
    ref = mean if isinstance(mean, Tensor) else std
    dt = ref.dtype
    if dt not in _FP:
        raise TypeError(f"normal expects floating-point mean and std, got {dt}")
    if isinstance(mean, Tensor) and isinstance(std, Tensor):
        dt = dtypes.promote_types(mean.dtype, std.dtype)
    dev = ref._storage.device
    if not isinstance(std, Tensor):
        std = _number("normal", "std", std)
        if std < 0:
            raise ValueError(f"normal expects std >= 0.0, but found std {std}")
    mean = mean if isinstance(mean, Tensor) else full((), _number("normal", "mean", mean),
                                                      dtype=dt, device=dev)
    std = std if isinstance(std, Tensor) else full((), std, dtype=dt, device=dev)
    if mean._storage.device is not std._storage.device:
        raise DeviceError(f"normal: mean is on {mean._storage.device}, std on "
                          f"{std._storage.device}")
    mean, std = cast(mean, dt), cast(std, dt)
    shape = broadcast_shapes("normal", mean._shape, std._shape)
    t = Tensor._empty(shape, dt, dev)
    n = t.numel()
    if n:
        gen = _generator_for("normal", generator, dev)
        v = 4 if dt is dtypes.float32 else 2
        random_kernels.normal_tensor(t, mean, std, -(-n // v), gen)
        # negative std entries are not rejected: that check would need a read-back
    return _finish(_into_out("normal", t, out), requires_grad)


def bernoulli(t, p=None, *, generator=None, out=None):
    """0/1 draws of t's shape and dtype: probability t[i], or the number ``p`` for every one."""
    if t.dtype not in _FP:
        raise TypeError(f"bernoulli: expected floating-point probabilities, got {t.dtype}")
    res = out if out is not None else Tensor._empty(t._shape, t.dtype, t._storage.device)
    if tuple(res._shape) != tuple(t._shape):
        raise ValueError(f"bernoulli: out has shape {list(res._shape)}, expected {list(t._shape)}")
    if p is None:
        _bernoulli_tensor_into("bernoulli", res, t, generator)
    else:
        bernoulli_(res, p, generator=generator)
    return res


def dropout_mask(shape, p, device=None, generator=None, dtype=None):
    """The scaled keep mask of inverted dropout, made in one kernel: each element is 1/(1-p)
    with probability 1-p, else 0 (all 0 when p == 1). ``F.dropout(x, p)`` is ``x * mask``, and
    its backward is ``grad * mask``. float32 unless ``dtype`` says float64."""
    p = _number("dropout_mask", "p", p)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    dev = _result_device("dropout_mask", device, generator)
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    if dt not in _FP:
        raise TypeError(f"dropout_mask: dtype must be float32 or float64, got {dt}")
    t = Tensor._empty(_sizes((shape,) if isinstance(shape, int) else tuple(shape), "dropout_mask"),
                      dt, dev)
    v, ty = _float_params(t)
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return _launch_fill("dropout_mask", t, "dropout", v, p, scale, (ty, ty), generator)


def multinomial(t, num_samples, replacement=False, *, generator=None, out=None):
    """Indices drawn from the categorical distributions in the rows of t (1-D or 2-D weights).

    This waits for the device once: it reads the weights back to reject negative, non-finite
    or all-zero rows with PyTorch's messages (the sampling itself runs on the device)."""
    if t.dim() not in (1, 2):
        raise ValueError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {list(t._shape)}")
    if t.dtype not in _FP:
        raise TypeError(f"multinomial only supports floating-point dtypes for input, got "
                        f"{t.dtype}")
    s = _int_arg("multinomial", "num_samples", num_samples)
    k = t._shape[-1]
    rows = t._shape[0] if t.dim() == 2 else 1
    if s <= 0:
        raise ValueError(f"multinomial: cannot sample n_sample <= 0 samples (got {s})")
    if k == 0:
        raise ValueError("multinomial: the number of categories cannot be 0")
    if not replacement and s > k:
        raise ValueError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                         f"without replacement ({s} > {k})")
    out_shape = (s,) if t.dim() == 1 else (rows, s)
    res = Tensor._empty(out_shape, dtypes.int64, t._storage.device)
    if rows == 0:
        return _into_out("multinomial", res, out)
    check_index_range("multinomial", t, res)
    host = t.numpy()   # the read-back: validation only
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError("multinomial: probability tensor contains either `inf`, `nan` or "
                         "element < 0")
    if np.any(host.reshape(rows, k).sum(axis=1) <= 0):
        raise ValueError("multinomial: invalid multinomial distribution (sum of probabilities "
                         "<= 0)")
    dev = t._storage.device
    gen = _generator_for("multinomial", generator, dev)
    # without replacement the kernel marks drawn categories in a copy
    probs = contiguous(t) if replacement else clone(t)
    random_kernels.multinomial(probs, res, rows, k, s, gen, replacement)
    return _into_out("multinomial", res, out)


def _into_out(op, res, out):
    if out is None:
        return res
    if tuple(out._shape) != tuple(res._shape):
        raise ValueError(f"{op}: out has shape {list(out._shape)}, expected {list(res._shape)}")
    copy_into(out, res, op)
    out._bump_version()
    return out
