"""cl_kernels/random.cl: every generator kernel (uniform/normal/integers of each dtype,
contiguous and strided fills, bernoulli, normal with tensor parameters, multinomial)."""
import clnet

from ._util import dtype_names, host


def _try(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError):     # a dtype the op refuses, before any launch
        return None


def sampling_ops(dev):
    clnet.manual_seed(0)
    for shape in [(1,), (7,), (65,), (5, 13)]:
        for name in dtype_names(dev):
            dt = getattr(clnet, name)
            _try(clnet.rand, *shape, dtype=dt, device=dev)
            _try(clnet.randn, *shape, dtype=dt, device=dev)
            _try(clnet.randint, 0, 5, shape, dtype=dt, device=dev)
            t = clnet.zeros(shape[0], 2 * shape[-1], dtype=dt, device=dev)[..., ::2]
            for fill in ("uniform_", "normal_", "random_", "bernoulli_", "exponential_",
                         "geometric_", "log_normal_", "cauchy_"):
                if hasattr(t, fill):
                    _try(getattr(t, fill))
            if hasattr(clnet.zeros(1, device=dev), "random_"):
                _try(clnet.zeros(shape, dtype=dt, device=dev).random_, 0, 9)
        p = clnet.tensor(host("float32", shape, seed=1, low=0, high=1), device=dev)
        clnet.bernoulli(p)
        _try(clnet.bernoulli, clnet.zeros(shape, device=dev), 0.3)
        for name in dtype_names(dev):              # bernoulli_ with a tensor p, into each dtype
            t = clnet.zeros(shape, dtype=getattr(clnet, name), device=dev)
            t.bernoulli_(p)
            clnet.zeros(shape[0], 2 * shape[-1], dtype=t.dtype, device=dev)[..., ::2].bernoulli_(p)
        for name in ("float32", "float64"):
            if name not in dtype_names(dev):
                continue
            dt = getattr(clnet, name)
            clnet.normal(clnet.zeros(shape, dtype=dt, device=dev),
                         clnet.ones(shape, dtype=dt, device=dev))
            _try(clnet.normal, 0.0, clnet.ones(shape, dtype=dt, device=dev))
            _try(clnet.normal, clnet.zeros(shape, dtype=dt, device=dev), 2.0)
            clnet.dropout_mask(shape, 0.5, device=dev, dtype=dt)
    for name in ("float32", "float64"):
        if name in dtype_names(dev):
            w = clnet.tensor(host(name, (3, 7), seed=2, low=0.1, high=1), device=dev)
            clnet.multinomial(w, 4, replacement=True)
            clnet.multinomial(w, 4, replacement=False)
    clnet.randperm(13, device=dev)


CASES = [sampling_ops]
