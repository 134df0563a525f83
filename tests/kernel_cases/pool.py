"""cl_kernels/pool.cl: max/avg/adaptive pooling forward and backward, the gather at max-pool
indices (double backward), nearest interpolate forward and backward, in every float dtype on
small odd shapes (padding, ceil_mode, dilation) and a non-contiguous input; the tiled max-pool
kernels (stride == kernel) on a 5 x 7 image, whose last row and column no window covers."""
import numpy as np
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import pool as P

from ._util import check

CALLS = [
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)),
    ("max_pool2d", dict(kernel_size=2, dilation=2)),
    ("max_pool2d", dict(kernel_size=2)),          # tiled: the POOL_KH/POOL_KW program
    ("adaptive_max_pool2d", dict(output_size=(2, 3))),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ("adaptive_avg_pool2d", dict(output_size=(3, 2))),
    ("interpolate", dict(scale_factor=(1.5, 2))),
]


def _float_types(dev):
    return [np.float32] + ([np.float64] if dev.has_fp64 else [])


def pools_forward_backward_double_backward(dev):
    for dt in _float_types(dev):
        x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(dt)
        for name, kw in CALLS:
            cx = clnet.tensor(x, device=dev, requires_grad=True)
            tx = torch.tensor(x, requires_grad=True)
            out = getattr(P, name)(cx.transpose(2, 3).transpose(2, 3), **kw) ** 2
            want = getattr(F, name)(tx, **kw) ** 2
            check(out.detach(), want.detach().numpy())
            (g,) = clnet.autograd.grad([out], [cx], [clnet.ones(out.shape, dtype=out.dtype,
                                                                  device=dev)],
                                       create_graph=True)
            (tg,) = torch.autograd.grad([want], [tx], [torch.ones(want.shape, dtype=want.dtype)],
                                        create_graph=True)
            check(g.detach(), tg.detach().numpy())
            v = np.random.default_rng(1).standard_normal(x.shape).astype(dt)
            (g2,) = clnet.autograd.grad([g], [cx], [clnet.tensor(v, device=dev)])
            (tg2,) = torch.autograd.grad([tg], [tx], [torch.tensor(v)])
            check(g2, tg2.numpy(), atol=1e-4)


CASES = [pools_forward_backward_double_backward]
