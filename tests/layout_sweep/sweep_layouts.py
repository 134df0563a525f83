"""The memory layouts a user can hand an op, built the same way in clnet and in torch.

Every layout is a view of a leaf tensor (the "base") made with differentiable view ops, so the
gradient that reaches the base checks the op's backward *and* the view's. The base holds junk
around the values (a fixed value far from the data), so a kernel that ignores an offset or a
stride reads junk and fails the comparison instead of passing by luck.
"""
import numpy as np

LAYOUTS = ("contiguous", "offset", "transposed", "stepped", "expanded")

FLOAT_JUNK = 5.0
INT_JUNK = 0


def base_array(a, layout):
    """(base numpy array, how to view it) holding ``a`` in ``layout``; for "expanded" the base
    keeps one slice of ``a`` along the first dim of size > 1 (the view repeats it)."""
    junk = FLOAT_JUNK if a.dtype.kind == "f" else INT_JUNK
    shape = a.shape
    if layout == "offset":
        flat = np.concatenate([np.full(3, junk, a.dtype), a.ravel()])
        return flat, ("offset", shape)
    if layout == "transposed" and a.ndim >= 2:
        return np.ascontiguousarray(np.swapaxes(a, -1, -2)), ("transposed", shape)
    if layout in ("stepped", "transposed") and a.ndim >= 1:
        # (a 1-d "transposed" is a stepped view: the nearest non-contiguous 1-d layout)
        wide = np.full(shape[:-1] + (2 * shape[-1] + 1,), junk, a.dtype)
        wide[..., 1::2] = a
        return wide, ("stepped", shape)
    if layout == "expanded":
        dims = [d for d, s in enumerate(shape) if s > 1]
        if dims:
            d = dims[0]
            small = np.take(a, [0], axis=d)
            return np.ascontiguousarray(small), ("expanded", shape)
    return np.array(a, order="C"), ("contiguous", shape)   # (ascontiguousarray makes 0-d 1-d)


def view(base, how):
    """The view of ``base`` (a clnet or torch tensor) that ``how`` describes."""
    kind, shape = how
    if kind == "offset":
        return base[3:].view(shape)
    if kind == "transposed":
        return base.transpose(-1, -2)
    if kind == "stepped":
        return base[..., 1::2]
    if kind == "expanded":
        return base.expand(*shape)
    return base


def expected_values(a, layout):
    """The values the view holds (``a`` except for "expanded", which repeats one slice)."""
    base, how = base_array(a, layout)
    if how[0] == "expanded":
        return np.broadcast_to(base, a.shape).copy()
    return a
