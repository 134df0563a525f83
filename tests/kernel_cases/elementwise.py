"""cl_kernels/elementwise.cl: every unary, binary and ternary op of every dtype, contiguous
(``_c``, vectorised with tails) and strided (``_n``), broadcasting and scalar operands.

Ops a dtype does not support must refuse in Python (TypeError/ValueError) before any launch; the
coverage check then shows whether each dtype's program had all its kernels launched.

The float ops with a transcendental call also have ``_v`` kernels (one 256-bit vector per
work-item, the form CPU drivers get); ``dev.tuning["elementwise.vec"]`` is forced to 0 for the
``_c`` cases and to 1 for ``vector_forms`` (Oclgrind reports a GPU, so the default would be 0)."""
import contextlib
import functools
import importlib
import pkgutil

import numpy as np

import clnet
import clnet.ops

from ._util import dtype_names, host, layouts

SHAPES = [(65,), (5, 13)]
FLOAT_UNARY = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
               "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
               "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "digamma", "sigmoid",
               "logsigmoid", "silu", "mish", "softsign", "hardsigmoid", "hardswish", "selu",
               "frac", "trigamma"]
ANY_UNARY = ["neg", "abs", "sign", "square", "relu", "floor", "ceil", "round", "trunc",
             "logical_not", "bitwise_not", "isnan", "isinf", "isfinite", "signbit", "nan_to_num"]


def op(name):
    """An op by name: from the clnet namespace, else from whichever clnet.ops module defines it
    (activation-style ops such as leaky_relu are not exported as clnet.<name>)."""
    if name == "trigamma":      # digamma's derivative: a kernel without a public function
        from clnet.ops.elementwise import unary
        return lambda x: unary("trigamma", x)
    fn = getattr(clnet, name, None)
    if fn is None:
        for info in pkgutil.iter_modules(clnet.ops.__path__):
            fn = getattr(importlib.import_module(f"clnet.ops.{info.name}"), name, None)
            if callable(fn):
                break
    assert callable(fn), f"no op named {name!r} in clnet or clnet.ops"
    return fn


PARAM_UNARY = [lambda x: op("leaky_relu")(x, 0.1), lambda x: op("elu")(x, 0.5),
               lambda x: op("celu")(x, 0.7), lambda x: op("gelu")(x),
               lambda x: op("gelu")(x, approximate="tanh"), lambda x: op("softplus")(x, 2.0, 3.0),
               lambda x: op("hardtanh")(x, -0.5, 0.5), lambda x: op("relu6")(x),
               lambda x: op("threshold")(x, 0.5, -1.0), lambda x: clnet.clamp(x, -1, 1),
               lambda x: clnet.clamp(x, min=0), lambda x: clnet.clamp(x, max=0),
               lambda x: clnet.pow(x, 2), lambda x: clnet.pow(x, 0.5),
               lambda x: clnet.pow(x, 3), lambda x: clnet.pow(x, -1), lambda x: clnet.pow(x, -2),
               lambda x: clnet.pow(x, -0.5), lambda x: x + 2,
               lambda x: 3 - x, lambda x: x * 2.5, lambda x: x / 2, lambda x: x // 2,
               lambda x: x % 3, lambda x: 2 ** x]
BINARY = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum",
          "minimum", "fmax", "fmin", "atan2", "hypot", "copysign", "eq", "ne", "lt", "le", "gt",
          "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
          "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]


def _try(fn, *args, **kwargs):
    """Run an op; an op refused for this dtype must raise TypeError/ValueError before launching
    (a KernelBuildError for a kernel missing from the program is a bug, and propagates)."""
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError):
        return None


def _small(name, shape, seed):
    if name in ("int32", "int64"):
        return host(name, shape, seed=seed, low=0, high=5, nonzero=True)   # shifts, pow stay small
    return host(name, shape, seed=seed, low=0.1 if seed else -0.9, high=0.9, nonzero=True)


@contextlib.contextmanager
def tuned(dev, key, value):
    """``dev.tuning[key]`` set to ``value`` for the block, then restored (or removed)."""
    had, saved = key in dev.tuning, dev.tuning.get(key)
    dev.tuning[key] = value
    try:
        yield
    finally:
        if had:
            dev.tuning[key] = saved
        else:
            dev.tuning.pop(key, None)


def vec_form(dev, on):
    """Force the *_v (on=1) or *_c (on=0) form of the contiguous float kernels."""
    return tuned(dev, "elementwise.vec", on)


def unary_ops(dev):
    with vec_form(dev, 0):
        _unary_ops(dev)


def _unary_ops(dev):
    for name in dtype_names(dev):
        for shape in SHAPES:
            for x in layouts(_small(name, shape, 1), dev):
                for name_ in FLOAT_UNARY + ANY_UNARY:
                    _try(op(name_), x)
                for fn in PARAM_UNARY:
                    _try(fn, x)
    # one checked result per path
    a = host("float32", (65,), seed=3)
    for x in layouts(a, dev):
        np.testing.assert_allclose(clnet.exp(x).numpy(), np.exp(a), rtol=1e-5)


def binary_ops(dev):
    with vec_form(dev, 0):
        _binary_ops(dev)


def _binary_ops(dev):
    for name in dtype_names(dev):
        for shape in SHAPES:
            xs = layouts(_small(name, shape, 1), dev)
            ys = layouts(_small(name, shape, 2), dev)
            for x, y in zip(xs, ys):
                for name_ in BINARY:
                    fn = op(name_)
                    _try(fn, x, y)
                    _try(fn, x, y[..., :1])          # broadcasting goes through the _n kernels
                _try(clnet.div, x, y, rounding_mode="trunc")
                _try(clnet.div, x, y, rounding_mode="floor")
                _try(clnet.add, x, y, alpha=2)
    a, b = host("int32", (65,), seed=4), host("int32", (65,), seed=5, nonzero=True)
    for x, y in zip(layouts(a, dev), layouts(b, dev)):
        np.testing.assert_array_equal((x * y).numpy(), a * b)


def ternary_and_inplace_ops(dev):
    for name in dtype_names(dev):
        for shape in SHAPES:
            cond = layouts(host("bool", shape, seed=6), dev)
            xs = layouts(_small(name, shape, 1), dev)
            ys = layouts(_small(name, shape, 2), dev)
            for c, x, y in zip(cond, xs, ys):
                _try(clnet.where, c, x, y)
                _try(clnet.where, c, x, 0)
                _try(clnet.lerp, x, y, 0.25)
                _try(clnet.lerp, x, y, y)
                z = x.clone()
                for method, args in (("add_", (y,)), ("mul_", (2,)), ("clamp_", (0, 1)),
                                     ("zero_", ())):
                    _try(getattr(z, method), *args)


def relu_backward_and_strided_forms(dev):
    """threshold_backward (ReLU's one-kernel backward) contiguous, strided and broadcast; the
    3-D NDRange form of the *_n kernels (innermost or largest dim leading) and the 1-D form
    (more than 3 collapsed dims); where_c with each scalar side."""
    from clnet.ops.elementwise import binary
    for name in dtype_names(dev, include_bool=False):
        if name.startswith("int"):
            continue
        for shape in SHAPES:
            gs = layouts(_small(name, shape, 1), dev)
            os_ = layouts(_small(name, shape, 2) - 0.5, dev)
            for g, o in zip(gs, os_):
                want = np.where(o.numpy() <= 0, 0, g.numpy())
                np.testing.assert_array_equal(binary("threshold_backward", g, o).numpy(), want)
                binary("threshold_backward", g, o[..., :1])
    for name in dtype_names(dev):
        a = _small(name, (2, 3, 4, 5), 1)
        t = clnet.tensor(a, device=dev)
        for perm in ((0, 2, 1, 3), (3, 1, 0, 2), (1, 0, 2, 3)):
            np.testing.assert_array_equal(t.permute(*perm).contiguous().numpy(),
                                          a.transpose(perm))
            _try(clnet.neg, t.permute(*perm))
            _try(clnet.add, t.permute(*perm), t.permute(*perm))
        small = clnet.tensor(_small(name, (67, 2), 2), device=dev)
        np.testing.assert_array_equal(small.t().contiguous().numpy(), small.numpy().T)
        c = clnet.tensor(host("bool", (67,), seed=3), device=dev)
        x = clnet.tensor(_small(name, (67,), 1), device=dev)
        s = True if name == "bool" else 1
        for args in ((c, x, s), (c, s, x), (c, s, s)):
            want = np.where(args[0].numpy(), *(v.numpy() if isinstance(v, clnet.Tensor) else v
                                              for v in args[1:]))
            got = clnet.where(*args).numpy()
            np.testing.assert_array_equal(got, want.astype(got.dtype))
            clnet.where(args[0][::2], *(v[::2] if isinstance(v, clnet.Tensor) else v
                                       for v in args[1:]))


VEC_BINARY = ["fmod", "pow", "atan2", "hypot"]
# one-kernel activation backwards (binary kernels: g, then the input or output)
FUSED_BACKWARD = ["sigmoid_backward", "tanh_backward", "silu_backward", "gelu_backward",
                  "gelu_tanh_backward", "mish_backward", "softplus_backward"]


def fused_backward_forms(dev):
    """The *_backward kernels as _c (contiguous), _n (strided, broadcast) and _v (vector.h)."""
    from clnet.ops.elementwise import binary
    for name in dtype_names(dev):
        if not name.startswith("float"):
            continue
        for shape in SHAPES:
            gs = layouts(_small(name, shape, 1), dev)
            xs = layouts(_small(name, shape, 2) - 0.5, dev)
            for g, x in zip(gs, xs):
                for vec in (0, 1):
                    with vec_form(dev, vec):
                        for op_ in FUSED_BACKWARD:
                            binary(op_, g, x)
                            binary(op_, g, x[..., :1])
        g = clnet.tensor(_small(name, (21,), 1), device=dev)
        x = clnet.tensor(_small(name, (24,), 2), device=dev)[3:]       # unaligned start
        with vec_form(dev, 1):
            for op_ in FUSED_BACKWARD:
                binary(op_, g, x)


def vector_forms(dev):
    """The *_v kernels: sizes below, at and past one vector (a scalar tail), unaligned starts
    (views from element 1 and 3), tensor-tensor, tensor-scalar and scalar-tensor operands."""
    with vec_form(dev, 1):
        for name in dtype_names(dev):
            if not name.startswith("float"):
                continue
            for n in (3, 8, 21):
                xa, ya = _small(name, (n + 3,), 1), _small(name, (n + 3,), 2)
                big_x, big_y = clnet.tensor(xa, device=dev), clnet.tensor(ya, device=dev)
                for start in (0, 1, 3):
                    x, y = big_x[start:start + n], big_y[start:start + n]
                    for name_ in FLOAT_UNARY:
                        _try(op(name_), x)
                    for fn in PARAM_UNARY:
                        _try(fn, x)
                    for name_ in VEC_BINARY:
                        fn = op(name_)
                        fn(x, y)
                        _try(fn, x, 1.5)
                        _try(fn, 1.5, y)
                    np.testing.assert_allclose(clnet.exp(x).numpy(), np.exp(xa[start:start + n]),
                                               rtol=1e-5)
                    np.testing.assert_allclose(clnet.pow(x, y).numpy(),
                                               xa[start:start + n] ** ya[start:start + n],
                                               rtol=1e-5)


def chains(dev, limit):
    """Set the chain limit (kernels/chain.py: ops on at most ``limit`` elements are queued and
    launched together by the ``chain`` kernel; 0 launches every op on its own)."""
    return tuned(dev, "elementwise.chain", limit)


def unchained(case):
    """``case`` with chains off, so that each op's own kernel (_c, _v) is launched."""
    @functools.wraps(case)
    def run(dev):
        with chains(dev, 0):
            case(dev)
    return run


CHAIN_UNARY = ["neg", "abs", "relu", "exp", "tanh", "sigmoid", "sqrt", "log1p", "erf", "gelu"]
CHAIN_BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2", "remainder"]


def chain_forms(dev):
    """The chain kernel of each float program: unary (with parameters), binary tensor-tensor,
    tensor-scalar and scalar-tensor ops, in-place ops, operands at offsets, sizes around the
    work-group, checked against the same ops launched one by one."""
    for name in dtype_names(dev):
        if not name.startswith("float"):
            continue
        for n in (1, 7, 65, 130):
            xa, ya = _small(name, (n + 3,), 1), _small(name, (n + 3,), 2)

            def program():
                big_x = clnet.tensor(xa, device=dev)
                x, y = big_x[2:2 + n], clnet.tensor(ya, device=dev)[1:1 + n]
                outs = [op(u)(x) for u in CHAIN_UNARY]
                outs += [op(b)(x, y) for b in CHAIN_BINARY]
                outs += [x + 1.5, 2.5 - x, x * 0.5, 3.0 / y, clnet.clamp(x, -0.5, 0.5),
                         op("leaky_relu")(x, 0.1), op("elu")(x, 0.5)]
                z = y.clone()
                z.add_(x).mul_(2).clamp_(-1, 1)      # in place: read and write z at one offset
                outs.append(z)
                outs.append(clnet.maximum(big_x[1:1 + n], big_x[2:2 + n]))   # one buffer, 2 offsets
                return [o.numpy() for o in outs]

            with chains(dev, 0):
                want = program()
            with chains(dev, 1 << 20):
                got = program()
            for w, g in zip(want, got):
                np.testing.assert_array_equal(g, w)


CASES = [unchained(c) for c in (unary_ops, binary_ops, ternary_and_inplace_ops,
                                relu_backward_and_strided_forms, vector_forms,
                                fused_backward_forms)] + [chain_forms]
