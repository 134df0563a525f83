"""cl_kernels/check.cl: value checks on device data (binary_cross_entropy's inputs in [0, 1]),
for every float dtype, at edge sizes and at a storage offset; and the error flag's raise path
(error_flag.h), taken by the check here and by the gather and cross-entropy kernels, so the
atomics that record a device-side error run under Oclgrind too."""
import numpy as np
import pytest

import clnet
import clnet.nn.functional as F

from ._util import EDGE_SHAPES, dtype_names


def _float_dtypes(dev):
    return [n for n in dtype_names(dev, include_bool=False) if n.startswith("float")]


def unit_interval_checks(dev):
    for name in _float_dtypes(dev):
        dt = getattr(clnet, name)
        for shape in EDGE_SHAPES:
            n = int(np.prod(shape))
            a = np.linspace(0.0, 1.0, n + 2)[1:-1].reshape(shape)
            x = clnet.tensor(np.concatenate([[7.0], a.ravel()]), dtype=dt, device=dev)[1:]
            x = x.reshape(shape)                       # at an offset, past an invalid value
            loss = F.binary_cross_entropy(x, x.detach().clone(), reduction="sum")
            assert np.isfinite(loss.item())
        bad = clnet.tensor([0.5, 1.5, 0.25], dtype=dt, device=dev)
        with pytest.raises(RuntimeError, match="between 0 and 1"):
            F.binary_cross_entropy(bad, clnet.zeros(3, dtype=dt, device=dev)).item()


def error_flag_from_other_kernels(dev):
    x = clnet.tensor([[1.0, 2.0, 3.0]], device=dev)
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        x.gather(1, clnet.tensor([[0, 5]], device=dev)).numpy()
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, clnet.tensor([4], device=dev)).item()
    assert x.gather(1, clnet.tensor([[2]], device=dev)).item() == 3.0    # cleared after


CASES = [unit_interval_checks, error_flag_from_other_kernels]
