"""cl_kernels/conv.cl: im2col (forward, weight gradient), col2im (input gradient and
conv_transpose2d, with and without bias) and channel_sum (bias gradient), in every float dtype,
on small odd shapes with stride, padding, dilation and groups, a non-contiguous input and a
non-contiguous upstream gradient."""
import numpy as np
import torch
import torch.nn.functional as F

import clnet
from clnet.ops import conv as C

from ._util import check, strided


def _float_types(dev):
    return [np.float32] + ([np.float64] if dev.has_fp64 else [])


def conv_forward_and_grads(dev):
    for dt in _float_types(dev):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 4, 5, 7)).astype(dt)
        w = rng.standard_normal((6, 2, 3, 2)).astype(dt)
        b = rng.standard_normal(6).astype(dt)
        kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
        cx = clnet.tensor(x, device=dev, requires_grad=True)
        cw = clnet.tensor(w, device=dev, requires_grad=True)
        cb = clnet.tensor(b, device=dev, requires_grad=True)
        out = C.conv2d(cx, cw, cb, **kw)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        want = F.conv2d(tx, tw, tb, **kw)
        check(out.detach(), want.detach().numpy(), atol=1e-4)
        up = rng.standard_normal(want.shape).astype(dt)
        grads = clnet.autograd.grad([out], [cx, cw, cb], [clnet.tensor(up, device=dev)],
                                   retain_graph=True)
        tgrads = torch.autograd.grad([want], [tx, tw, tb], [torch.tensor(up)])
        for g, t in zip(grads, tgrads):
            check(g, t.numpy(), atol=1e-4)
        # a strided upstream gradient: to_cnhw and channel_sum read it through its strides
        cup = clnet.tensor(np.ascontiguousarray(np.swapaxes(up, 2, 3)), device=dev)
        grads = clnet.autograd.grad([out], [cx, cw, cb], [cup.transpose(2, 3)])
        for g, t in zip(grads, tgrads):
            check(g, t.numpy(), atol=1e-4)
        # a strided (non-contiguous) input through im2col
        check(C.conv2d(strided(x[0, 0], dev).reshape(1, 1, 5, 7), clnet.tensor(w[:1, :1],
                                                                                 device=dev)),
              F.conv2d(torch.tensor(x[:1, :1]), torch.tensor(w[:1, :1])).numpy(), atol=1e-4)


def conv_transpose_with_bias(dev):
    for dt in _float_types(dev):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((1, 3, 3, 4)).astype(dt)
        w = rng.standard_normal((3, 2, 3, 3)).astype(dt)
        b = rng.standard_normal(2).astype(dt)
        got = C.conv_transpose2d(clnet.tensor(x, device=dev), clnet.tensor(w, device=dev),
                                 clnet.tensor(b, device=dev), stride=2, padding=1,
                                 output_padding=1)
        want = F.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2,
                                  padding=1, output_padding=1)
        check(got, want.numpy(), atol=1e-4)


CASES = [conv_forward_and_grads, conv_transpose_with_bias]
