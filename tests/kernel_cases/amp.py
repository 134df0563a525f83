"""cl_kernels/amp.cl: GradScaler's unscale-and-check (every float dtype, edge sizes, a gradient at
a storage offset, inf/NaN anywhere or nowhere, the inv_scale == 1 pass-through) and its scale
update (back-off, growth, growth kept finite), with every buffer at an offset."""
import math

import numpy as np

import clnet
from clnet.kernels import amp as amp_kernels

from ._util import EDGE_SHAPES, dtype_names


def _at_offset(values, dtype, dev):
    """A tensor holding ``values`` from element 1 of its storage (a 9.0 sentinel before it)."""
    flat = np.concatenate([[9.0], np.asarray(values, np.float64).ravel()])
    return clnet.tensor(flat, dtype=dtype, device=dev)[1:]


def unscale_checks(dev):
    for name in [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]:
        dt = getattr(clnet, name)
        for shape in EDGE_SHAPES:
            n = int(np.prod(shape))
            a = np.linspace(-4.0, 4.0, n)
            for bad in (None, 0, n - 1):
                vals = a.copy()
                if bad is not None:
                    vals[bad] = math.inf if bad == 0 else math.nan
                g = _at_offset(vals, dt, dev)
                inv = _at_offset([0.25], clnet.float32, dev)
                found = _at_offset([0.0], clnet.float32, dev)
                amp_kernels.unscale_and_check(g, inv, found)
                np.testing.assert_allclose(g.numpy(), vals * 0.25, rtol=1e-6)
                assert found.item() == (0.0 if bad is None else 1.0)
        g = _at_offset([3.0, -1.5], dt, dev)
        found = _at_offset([0.0], clnet.float32, dev)
        amp_kernels.unscale_and_check(g, _at_offset([1.0], clnet.float32, dev), found)
        assert g.tolist() == [3.0, -1.5] and found.item() == 0.0


def update_scale_checks(dev):
    cases = [  # (scale, tracker, found_inf, growth, backoff, interval) -> (scale, tracker)
        ((1024.0, 5, 1.0, 2.0, 0.5, 3), (512.0, 0)),
        ((1024.0, 1, 0.0, 2.0, 0.5, 3), (1024.0, 2)),
        ((1024.0, 2, 0.0, 2.0, 0.5, 3), (2048.0, 0)),
        ((2.0 ** 127, 0, 0.0, 4.0, 0.5, 1), (2.0 ** 127, 0)),
        ((3.0, 0, 2.0, 2.0, 0.25, 10), (0.75, 0)),
    ]
    for (scale, tracker, found, growth, backoff, interval), expected in cases:
        s = _at_offset([scale], clnet.float32, dev)
        t = clnet.tensor([7, tracker], dtype=clnet.int32, device=dev)[1:]
        f = _at_offset([found], clnet.float32, dev)
        amp_kernels.update_scale(s.reshape(()), t.reshape(()), f, growth, backoff, interval)
        assert (s.item(), t.item()) == expected


CASES = [unscale_checks, update_scale_checks]
