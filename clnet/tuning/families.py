"""What ``clnet tune`` searches, family by family: the candidates, the cases, how a candidate is
put in place (``Device.tuning``, which the kernel-launch floor reads) and what the store keeps.

Cases are the shapes training uses: GEMM squares plus the MLP (784-256-10, batch 128) and LSTM
(hidden 128, batch 32, sequence 32) products, LeNet's two convolutions with their gradients, and
the softmax / norm / reduction shapes of the same models. ``CLNET_TUNE_TINY=1`` shrinks every case
and candidate list to a few small ones (the tests' end-to-end run stays fast).
"""
import math
import os

import clnet
from clnet.backend import tuning_defaults
from clnet.kernels import gemm as gemm_kernels, reduce as reduce_kernels

from .search import Case

F = clnet.nn.functional


def tiny():
    return os.environ.get("CLNET_TUNE_TINY", "").strip() not in ("", "0")


def _randn(dev, *shape, positive=False, grad=False):
    t = (clnet.rand if positive else clnet.randn)(*shape, device=dev)
    return t.requires_grad_() if grad else t


# ------------------------------------------------------------------------------------------ GEMM
def _cpu(TM, TN, TK, WM, WN, VW):
    return dict(style="cpu", TM=TM, TN=TN, TK=TK, WM=WM, WN=WN, VW=VW)


def _gpu(TM, TN, TK, WM, WN, VW):
    return dict(style="gpu", TM=TM, TN=TN, TK=TK, WM=WM, WN=WN, VW=VW)


def _fits(dev, c):
    """A tile set gemm.cl can run here, and on GPUs one with enough work-items to fill a SIMD
    unit (fewer leaves most lanes idle: not worth timing)."""
    if not gemm_kernels.fits(dev, c):
        return False
    return c["style"] == "cpu" or (c["TM"] // c["WM"]) * (c["TN"] // c["WN"]) >= 16


def gemm_candidates(dev, quick):
    """Tile sets around the device's default: register blocks (the accumulators one work-item
    keeps: 16 vector registers on AVX2, 32 on AVX-512), tile extents and K steps on CPUs; the
    vendor tables and a grid of cooperative tiles on GPUs."""
    if dev.kind == "CPU":
        blocks = [(6, 32, 16), (12, 16, 16), (8, 32, 16), (4, 32, 16)]
        if not quick:
            blocks += [(8, 16, 16), (4, 16, 16), (6, 16, 8), (12, 32, 16)]
        cands = [_cpu(192 // wm * wm, 256, 256, wm, wn, vw) for wm, wn, vw in blocks]
        # the full search's winner on a 2-core Ice Lake (AVX-512: 24 accumulators fit its 32
        # registers) and a longer-K tile; on AVX2 (16 registers) they spill and lose
        cands += [_cpu(192, 512, 128, 12, 32, 16), _cpu(192, 256, 512, 6, 16, 16)]
        if not quick:
            cands += [_cpu(96, 256, 256, 6, 16, 16), _cpu(192, 128, 256, 6, 16, 16),
                      _cpu(192, 256, 128, 6, 16, 16), _cpu(384, 256, 256, 6, 16, 16),
                      _cpu(192, 512, 256, 6, 32, 16), _cpu(192, 256, 512, 6, 32, 16)]
        if tiny():
            cands = cands[:2]
    else:
        cands = [dict(t["gemm"]["float"]) for t in tuning_defaults.GPU.values()]
        cands += [_gpu(64, 64, 16, 4, 4, 4), _gpu(128, 64, 16, 8, 4, 4), _gpu(64, 128, 16, 4, 8, 4)]
        if not quick and not tiny():
            for tm in (32, 64, 128):
                for tn in (32, 64, 128):
                    for tk in (16, 32):
                        for wm, wn in ((2, 2), (4, 4), (4, 8), (8, 4), (8, 8)):
                            for vw in (2, 4):
                                cands.append(_gpu(tm, tn, tk, wm, wn, vw))
        if tiny():
            cands = cands[:3]
    seen, out = set(), []
    for c in cands:
        key = tuple(sorted(c.items()))
        if key not in seen and _fits(dev, c):
            seen.add(key)
            out.append(c)
    return out


def _mm_case(dev, label, M, N, K, b_transposed=False, a_transposed=False):
    """C = A @ B as the training layers call it: x @ W.t() (B transposed), gY.t() @ X (A)."""
    def setup():
        a = _randn(dev, *((K, M) if a_transposed else (M, K)))
        b = _randn(dev, *((N, K) if b_transposed else (K, N)))
        a2 = a.t() if a_transposed else a
        b2 = b.t() if b_transposed else b
        return lambda: [clnet.matmul(a2, b2)]
    return Case(label, setup, 2.0 * M * N * K, "GFLOP/s", tol=(1e-4, 0.1))


class GemmFamily:
    """The tile table of float32 products (kernels/gemm.py's ``dev.tuning[table]``)."""

    name = "gemm"
    table = "gemm"

    @property
    def keys(self):
        return (self.table,)

    def default(self, dev):
        return gemm_kernels.default_tuning(dev)["float"]

    def candidates(self, dev, quick):
        return gemm_candidates(dev, quick)

    def neighbours(self, dev, cfg):
        """The full search's second round: other tile extents and K steps around the first
        round's best register block (which sets how the micro-kernel uses the registers; the
        extents set how tiles meet the caches or the local memory)."""
        wm, wn = cfg["WM"], cfg["WN"]
        if cfg["style"] == "cpu":
            tms = (96, 192, 384) if not tiny() else (96,)
            extents = [(tm // wm * wm, tn, tk) for tm in tms for tn in (128, 256, 512)
                       for tk in (128, 256, 512)]
        else:
            extents = [(tm, tn, tk) for tm in (32, 64, 128) for tn in (32, 64, 128)
                       for tk in (8, 16, 32)]
        out = []
        for tm, tn, tk in extents:
            c = dict(cfg, TM=tm, TN=tn, TK=tk)
            if c != cfg and _fits(dev, c) and c not in out:
                out.append(c)
        return out[:2] if tiny() else out

    def apply(self, dev, cfg):
        dev.tuning[self.table] = {"float": dict(cfg),
                                  "double": gemm_kernels.default_tuning(dev)["double"]}

    def reset(self, dev):
        dev.tuning.pop(self.table, None)

    def params(self, dev, cfg):
        return {self.table: {"float": dict(cfg)}}

    def cases(self, dev, quick):
        if tiny():
            return [_mm_case(dev, "64x48x40", 64, 48, 40),
                    _mm_case(dev, "33x17x29 (x @ W.t())", 33, 17, 29, b_transposed=True)]
        cases = [_mm_case(dev, f"{n}x{n}x{n}", n, n, n) for n in
                 ((1024, 2048) if quick else (256, 512, 1024, 2048))]
        cases += [_mm_case(dev, "MLP fwd 128x256x784 (x @ W.t())", 128, 256, 784,
                           b_transposed=True),
                  _mm_case(dev, "LSTM proj 1024x512x128 (x @ W.t())", 1024, 512, 128,
                           b_transposed=True)]
        if not quick:
            cases += [_mm_case(dev, "MLP wgrad 256x784x128 (gY.t() @ X)", 256, 784, 128,
                               a_transposed=True),
                      _mm_case(dev, "MLP dgrad 128x784x256 (gY @ W)", 128, 784, 256),
                      _mm_case(dev, "LSTM step 32x512x128 (h @ W.t())", 32, 512, 128,
                               b_transposed=True)]
        return cases


class ConvFamily(GemmFamily):
    """The tile table of the convolutions' products (im2col GEMM, input and weight gradients)."""

    name = "conv"
    table = "conv.gemm"
    falls_back_to = "gemm"      # untuned, conv runs GEMM's tiles (kernels/gemm.py gemm_tuning)

    def cases(self, dev, quick):
        shapes = [("LeNet conv1 64x1x28x28, 6x5x5", (64, 1, 28, 28), (6, 1, 5, 5), 2),
                  ("LeNet conv2 64x6x14x14, 16x5x5", (64, 6, 14, 14), (16, 6, 5, 5), 0)]
        if tiny():
            shapes = [("4x3x12x12, 5x3x3", (4, 3, 12, 12), (5, 3, 3, 3), 1)]
        elif not quick:
            shapes.append(("3x3 64x32x16x16, 64x3x3", (64, 32, 16, 16), (64, 32, 3, 3), 1))
        cases = []
        for label, xs, ws, pad in shapes:
            def setup(xs=xs, ws=ws, pad=pad):
                x, w = _randn(dev, *xs, grad=True), _randn(dev, *ws, grad=True)

                def run():
                    y = F.conv2d(x, w, padding=pad)
                    gx, gw = clnet.autograd.grad(y, (x, w), clnet.ones_like(y))
                    return [y.detach(), gx, gw]
                return run
            oh = xs[2] + 2 * pad - ws[2] + 1
            flops = 2.0 * xs[0] * ws[0] * oh * oh * ws[1] * ws[2] * ws[3]
            cases.append(Case(label + " fwd+bwd", setup, 3 * flops, "GFLOP/s", tol=(1e-4, 0.1)))
        return cases


# ---------------------------------------------------------------------------- softmax and norms
class RowFamily:
    """Work-items per row of softmax.cl / norm.cl (kernels/layout.py's ``row_local``)."""

    def __init__(self, name, key, cases):
        self.name, self.key, self._cases = name, key, cases

    @property
    def keys(self):
        return (self.key,)

    def default(self, dev):
        return tuning_defaults.default(dev, self.key) or (1 if dev.kind == "CPU" else 64)

    def candidates(self, dev, quick):
        sizes = (1, 16, 64, 256) if quick or tiny() else (1, 8, 16, 32, 64, 128, 256, 512)
        return [s for s in sizes if s <= dev.max_work_group_size]

    def apply(self, dev, ls):
        dev.tuning[self.key] = ls

    def reset(self, dev):
        dev.tuning.pop(self.key, None)

    def params(self, dev, ls):
        return {self.key: int(ls)}

    def cases(self, dev, quick):
        return self._cases(dev, quick)


def _softmax_cases(dev, quick):
    shapes = [("softmax 4096x1000", (4096, 1000), F.softmax),
              ("log_softmax 8192x128", (8192, 128), F.log_softmax)]
    if tiny():
        shapes = [("softmax 37x19", (37, 19), F.softmax)]
    elif not quick:
        shapes.append(("softmax attention 8192x64", (8192, 64), F.softmax))
    cases = []
    for label, shape, fn in shapes:
        def setup(shape=shape, fn=fn):
            x = _randn(dev, *shape)
            return lambda: [fn(x, dim=-1)]
        cases.append(Case(label, setup, 8.0 * shape[0] * shape[1], "GB/s"))
    return cases


def _norm_cases(dev, quick):
    shapes = [("layer_norm 4096x512", (4096, 512), "layer"),
              ("batch_norm train 64x16x28x28", (64, 16, 28, 28), "batch")]
    if tiny():
        shapes = [("layer_norm 29x33", (29, 33), "layer")]
    elif not quick:
        shapes.append(("layer_norm 2048x128", (2048, 128), "layer"))
    cases = []
    for label, shape, kind in shapes:
        def setup(shape=shape, kind=kind):
            x = _randn(dev, *shape)
            if kind == "layer":
                return lambda: [F.layer_norm(x, shape[-1:])]
            return lambda: [F.batch_norm(x, None, None, training=True)]
        cases.append(Case(label, setup, 8.0 * math.prod(shape), "GB/s"))
    return cases


# ------------------------------------------------------------------------------------ reductions
class ReduceFamily:
    """The reduce.* launch parameters (kernels/reduce.py's ``tuning``)."""

    name = "reduce"
    keys = ("reduce.local", "reduce.interleave", "reduce.rows_min", "reduce.items",
            "reduce.groups", "reduce.min_chunk")

    def default(self, dev):
        return reduce_kernels.default_tuning(dev)

    def candidates(self, dev, quick):
        d = self.default(dev)
        cus = max(1, dev.cl_device.max_compute_units)
        if dev.kind == "CPU":
            grid = [dict(d, **{"reduce.items": cus * i, "reduce.min_chunk": c})
                    for i in (64, 128, 256, 512) for c in (4096, 16384, 65536)]
            quick_grid = [dict(d, **{"reduce.items": cus * 256}),
                          dict(d, **{"reduce.items": cus * 64}),
                          dict(d, **{"reduce.min_chunk": 65536}),
                          dict(d, **{"reduce.rows_min": 1 << 16})]
        else:
            grid = [dict(d, **{"reduce.local": ls, "reduce.groups": cus * g,
                               "reduce.rows_min": r})
                    for ls in (64, 128, 256, 512) if ls <= dev.max_work_group_size
                    for g in (2, 4, 8) for r in (256, 1024, 4096)]
            quick_grid = [dict(d, **{"reduce.local": ls}) for ls in (64, 128, 512)
                          if ls <= dev.max_work_group_size]
            quick_grid.append(dict(d, **{"reduce.interleave": 1 - d["reduce.interleave"]}))
        cands = quick_grid if quick or tiny() else quick_grid + grid
        out = []
        for c in cands[:2] if tiny() else cands:
            if c != d and c not in out:
                out.append(c)
        return out

    def apply(self, dev, params):
        dev.tuning.update(params)

    def reset(self, dev):
        for k in self.keys:
            dev.tuning.pop(k, None)

    def params(self, dev, params):
        d = self.default(dev)
        return {k: int(v) for k, v in params.items() if d.get(k) != v}

    def cases(self, dev, quick):
        shapes = [("x.sum() 16M", (1 << 24,), None), ("sum(dim=1) 4096x1024", (4096, 1024), 1),
                  ("sum(dim=0) 4096x1024", (4096, 1024), 0),
                  ("mean(dim=(0, 2)) 64x16x784", (64, 16, 784), (0, 2))]
        if quick:
            shapes = [("x.sum() 4M", (1 << 22,), None)] + shapes[1:3]
        if tiny():
            shapes = [("x.sum() 5000", (5000,), None), ("sum(dim=0) 70x33", (70, 33), 0)]
        cases = []
        for label, shape, dim in shapes:
            def setup(shape=shape, dim=dim):
                x = _randn(dev, *shape, positive=True)     # well-conditioned sums
                if dim == (0, 2):
                    return lambda: [x.mean(dim)]
                return lambda: [x.sum() if dim is None else x.sum(dim)]
            cases.append(Case(label, setup, 4.0 * math.prod(shape), "GB/s"))
        return cases


FAMILIES = {
    "gemm": GemmFamily(),
    "conv": ConvFamily(),
    "softmax": RowFamily("softmax", "softmax.ls", _softmax_cases),
    "norm": RowFamily("norm", "norm.ls", _norm_cases),
    "reduce": ReduceFamily(),
}


def families(op):
    """The families ``--op`` names ("all": every one, GEMM first)."""
    if op == "all":
        return list(FAMILIES.values())
    return [FAMILIES[op]]

