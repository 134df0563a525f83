"""Converters of shape ops: view/reshape/flatten/squeeze/unsqueeze, permutes and transposes,
indexing with ints, slices, None and Ellipsis, narrow/select, cat/stack, split/chunk/unbind,
expand.

Reshape-like ops are converted from the shapes clnet produced, not from their arguments, so every
spelling (``view(x.size(0), -1)``, ``flatten(1)``, ``unsqueeze(0)``) gives the same node. Where a
size follows a dynamic axis of an input, the target shape says so with ONNX's 0 (copy the input's
size at the same axis) or -1 (infer); one reshape can leave only one size to -1, and a reshape
that needs two is refused rather than exported with one size frozen."""
from ..ops import join as J
from ..ops import views as V
from ..tensor import Tensor
from .convert_util import INT64_MAX, cast, tensor_attr, wrap_dim
from .tracer import converts


# ------------------------------------------------------------------- reshape
def _groups(src, dst):
    """Pair runs of axes of ``src`` and ``dst`` whose sizes multiply to the same number."""
    groups, i, j = [], 0, 0
    while i < len(src) or j < len(dst):
        gi, gj, pi, pj = [], [], 1, 1
        if i < len(src):
            gi.append(i)
            pi *= src[i]
            i += 1
        if j < len(dst):
            gj.append(j)
            pj *= dst[j]
            j += 1
        while pi != pj:
            if (pi < pj and i < len(src)) or j >= len(dst):
                if i >= len(src):
                    break
                gi.append(i)
                pi *= src[i]
                i += 1
            else:
                gj.append(j)
                pj *= dst[j]
                j += 1
        groups.append((gi, gj))
    return groups


def reshape_target(ctx, x, shape):
    """The Reshape target of ``x`` -> ``shape`` and the result's dynamic axes."""
    src, dst, dyn = list(x._shape), list(shape), ctx.dyn(x)
    target, out_dyn = list(dst), set()
    if not dyn or 0 in src:
        return target, out_dyn
    inferred = False
    for gi, gj in _groups(src, dst):
        dyn_in = [a for a in gi if a in dyn]
        if not dyn_in or not gj:
            continue
        if len(gi) == 1 and len(gj) == 1 and gi == gj:
            target[gj[0]] = 0
            out_dyn.add(gj[0])
            continue
        if inferred:
            ctx.unsupported(
                f"a reshape of {src} to {dst} that merges or splits two dynamic axes",
                "export with fewer dynamic_axes, or reshape with an explicit -1")
        pick = [j for j in gj if dst[j] == src[dyn_in[0]]] if len(dyn_in) == 1 else []
        j = pick[0] if pick else gj[0]
        target[j] = -1
        out_dyn.add(j)
        inferred = True
    return target, out_dyn


def reshape_to(ctx, x, shape):
    target, out_dyn = reshape_target(ctx, x, shape)
    return ctx.node("Reshape", [ctx.name(x), ctx.b.const(target)]), out_dyn


def _reshape_like(ctx, out, x, *rest):
    name, dyn = reshape_to(ctx, x, out._shape)
    ctx.out(out, name, dyn=dyn)


converts(V.view, V.reshape, V.view_as, V.reshape_as, V.flatten, V.unflatten)(_reshape_like)


@converts(V.squeeze)
def _squeeze(ctx, out, x, dim=None):
    n = len(x._shape)
    if dim is None:
        axes = [a for a in range(n) if x._shape[a] == 1]
    else:
        dims = dim if isinstance(dim, (tuple, list)) else [dim]
        axes = sorted(a for a in (wrap_dim(d, n) for d in dims) if x._shape[a] == 1)
    dyn, kept = ctx.dyn(x), [a for a in range(n) if a not in axes]
    out_dyn = {j for j, a in enumerate(kept) if a in dyn}
    if not axes:
        ctx.out(out, ctx.name(x), dyn=out_dyn)
        return
    ctx.out(out, ctx.node("Squeeze", [ctx.name(x), ctx.b.const(axes)]), dyn=out_dyn)


@converts(V.unsqueeze)
def _unsqueeze(ctx, out, x, dim):
    a = wrap_dim(dim, len(x._shape) + 1)
    out_dyn = {d if d < a else d + 1 for d in ctx.dyn(x)}
    ctx.out(out, ctx.node("Unsqueeze", [ctx.name(x), ctx.b.const([a])]), dyn=out_dyn)


# ------------------------------------------------------------------- permutes
def _perm_of(x, out):
    """The permutation a transposing view applied: out axis j is x axis perm[j] (matched by
    size and stride; size-1 axes, whose strides carry no information, fill the rest)."""
    n = len(x._shape)
    perm, used = [None] * n, set()
    for j in range(n):
        if out._shape[j] == 1:
            continue
        for k in range(n):
            if k not in used and x._shape[k] == out._shape[j] and x._stride[k] == out._stride[j]:
                perm[j] = k
                used.add(k)
                break
    free = [k for k in range(n) if k not in used]
    for j in range(n):
        if perm[j] is None:
            perm[j] = free.pop(0)
    return perm


def _permute_like(ctx, out, x, *rest):
    perm = _perm_of(x, out)
    dyn = ctx.dyn(x)
    out_dyn = {j for j, k in enumerate(perm) if k in dyn}
    if perm == list(range(len(perm))):
        ctx.out(out, ctx.name(x), dyn=out_dyn)
        return
    ctx.out(out, ctx.node("Transpose", [ctx.name(x)], perm=perm), dyn=out_dyn)


converts(V.transpose, V.t, V.permute, V.movedim, V.swapaxes, V.swapdims,
         tensor_attr("T"), tensor_attr("mT"))(_permute_like)


# ------------------------------------------------------------------- indexing
def _slice(ctx, name, axes, starts, ends, steps):
    return ctx.node("Slice", [name, ctx.b.const(starts), ctx.b.const(ends), ctx.b.const(axes),
                              ctx.b.const(steps)])


@converts(V.getitem)
def _getitem(ctx, out, x, idx):
    items = list(idx) if isinstance(idx, tuple) else [idx]
    for it in items:
        if not (it is None or it is Ellipsis or isinstance(it, slice)
                or (isinstance(it, int) and not isinstance(it, bool))):
            ctx.unsupported(f"indexing with {type(it).__name__} (advanced indexing)",
                            "only ints, slices, None and ... convert")
    n = len(x._shape)
    used = sum(1 for it in items if it is not None and it is not Ellipsis)
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (n - used)
    items += [slice(None)] * (n - sum(1 for it in items if it is not None))
    dyn = ctx.dyn(x)
    name = ctx.name(x)
    axes, starts, ends, steps, picks, nones = [], [], [], [], [], []
    axis, out_axis, out_dyn = 0, 0, set()
    for it in items:
        if it is None:
            nones.append(out_axis)
            out_axis += 1
            continue
        if isinstance(it, slice):
            start, stop, step = it.start, it.stop, it.step
            if (start, stop, step) != (None, None, None) and (start, stop, step) != (0, None, 1):
                axes.append(axis)
                starts.append(0 if start is None else int(start))
                ends.append(INT64_MAX if stop is None else int(stop))
                steps.append(1 if step is None else int(step))
            if axis in dyn:
                out_dyn.add(out_axis)
            out_axis += 1
        else:
            picks.append((axis, int(it)))
        axis += 1
    if axes:
        name = _slice(ctx, name, axes, starts, ends, steps)
    for a, i in reversed(picks):        # from the last axis, so earlier axes keep their number
        name = ctx.node("Gather", [name, ctx.b.const(i)], axis=a)
    if nones:
        name = ctx.node("Unsqueeze", [name, ctx.b.const(nones)])
    ctx.out(out, name, dyn=out_dyn)


@converts(V.narrow)
def _narrow(ctx, out, x, dim, start, length):
    a = wrap_dim(dim, len(x._shape))
    start = int(start.item()) if isinstance(start, Tensor) else int(start)
    if start < 0:
        start += x._shape[a]
    name = _slice(ctx, ctx.name(x), [a], [start], [start + int(length)], [1])
    ctx.out(out, name, dyn=ctx.dyn(x) - {a})


@converts(V.select)
def _select(ctx, out, x, dim, index):
    a = wrap_dim(dim, len(x._shape))
    out_dyn = {d if d < a else d - 1 for d in ctx.dyn(x) if d != a}
    ctx.out(out, ctx.node("Gather", [ctx.name(x), ctx.b.const(int(index))], axis=a), dyn=out_dyn)


# ----------------------------------------------------------- joining, splitting
def _joined_dyn(ctx, tensors, axis):
    dyn = set()
    for t in tensors:
        dyn |= {d for d in ctx.dyn(t) if d != axis}
    return dyn


@converts(J.cat)
def _cat(ctx, out, tensors, dim=0, out_=None):
    tensors = [t for t in tensors if not (t.dim() == 1 and t._shape[0] == 0)]  # torch skips ()
    a = wrap_dim(dim, len(out._shape))
    names = [cast(ctx, ctx.name(t), t.dtype, out.dtype) for t in tensors]
    ctx.out(out, ctx.node("Concat", names, axis=a), dyn=_joined_dyn(ctx, tensors, a))


@converts(J.stack)
def _stack(ctx, out, tensors, dim=0, out_=None):
    a = wrap_dim(dim, len(out._shape))
    axis = ctx.b.const([a])
    names = [ctx.node("Unsqueeze", [cast(ctx, ctx.name(t), t.dtype, out.dtype), axis])
             for t in tensors]
    dyn = set()
    for t in tensors:
        dyn |= {d if d < a else d + 1 for d in ctx.dyn(t)}
    ctx.out(out, ctx.node("Concat", names, axis=a), dyn=dyn)


def _split_outputs(ctx, x, outs, a, squeeze=False):
    sizes = [o._shape[a] if not squeeze else 1 for o in outs]
    names = ctx.node("Split", [ctx.name(x), ctx.b.const(sizes)], n_out=len(outs), axis=a)
    names = names if isinstance(names, list) else [names]
    dyn = ctx.dyn(x) - {a}
    for o, nm in zip(outs, names):
        if squeeze:
            nm = ctx.node("Squeeze", [nm, ctx.b.const([a])])
            ctx.out(o, nm, dyn={d if d < a else d - 1 for d in dyn})
        else:
            ctx.out(o, nm, dyn=dyn)


@converts(V.split)
def _split(ctx, outs, x, split_size_or_sections, dim=0):
    _split_outputs(ctx, x, outs, wrap_dim(dim, len(x._shape)))


@converts(V.chunk)
def _chunk(ctx, outs, x, chunks, dim=0):
    _split_outputs(ctx, x, outs, wrap_dim(dim, len(x._shape)))


@converts(V.unbind)
def _unbind(ctx, outs, x, dim=0):
    _split_outputs(ctx, x, outs, wrap_dim(dim, len(x._shape)), squeeze=True)


def _expand_like(ctx, out, x, *rest):
    n, m = len(out._shape), len(x._shape)
    shape = list(out._shape)
    for j in range(n - m, n):
        if x._shape[j - (n - m)] == out._shape[j]:
            shape[j] = 1        # broadcasting keeps the input's (possibly dynamic) size
    dyn = {d + n - m for d in ctx.dyn(x)}
    ctx.out(out, ctx.node("Expand", [ctx.name(x), ctx.b.const(shape)]), dyn=dyn)


converts(V.expand, V.expand_as, V.broadcast_to)(_expand_like)
