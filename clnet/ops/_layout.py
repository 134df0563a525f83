"""The layout helpers live in the kernel-launch floor (clnet/kernels/layout.py); the op families
and the packages above that import them from here get the same objects."""
from ..kernels.layout import (_INT32_BYTES, LOCAL_1D, MAXD, MAXOPS, broadcast_shapes,  # noqa: F401
                              broadcast_strides, buf, check_index_range, collapse, int_tuple,
                              launch_1d, numel, row_groups, row_local, same_device, strided_meta)
