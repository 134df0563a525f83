"""clnet: an OpenCL-portable deep learning runtime that speaks PyTorch.

``import clnet as torch`` runs PyTorch code for what clnet covers; see README.md for the list.
"""
from ._version import __version__
from .errors import CheckpointError, DeviceError, KernelBuildError, OutOfMemoryError
from .dtypes import (bool_ as bool, bfloat16, dtype, finfo, float16, float32, float64,
                     get_default_dtype, half, int32, int64, promote_types, set_default_dtype)
from .dtypes import float32 as float, float64 as double, int32 as int, int64 as long  # noqa
from .backend.devices import devices  # noqa: F401 (the function; clnet.backend.devices is the module)
from .backend import (Device, default_device, device, empty_cache,
                      get_per_process_memory_fraction, max_memory_allocated, memory_allocated,
                      memory_reserved, memory_stats, reset_peak_memory_stats, set_default_device,
                      set_per_process_memory_fraction, synchronize)
from .tensor import Size, Tensor
from . import ops as _ops
from .ops.creation import *  # noqa: F401,F403
from .ops.views import *  # noqa: F401,F403
from .ops.pointwise import *  # noqa: F401,F403
from .ops.random import *  # noqa: F401,F403
from .ops.index import *  # noqa: F401,F403
from .ops.subscripts import *  # noqa: F401,F403
from .ops.join import *  # noqa: F401,F403
from .ops.sort import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.reduce import *  # noqa: F401,F403
from .ops.scan import *  # noqa: F401,F403
from .ops.conv import *  # noqa: F401,F403
from .ops.pool import *  # noqa: F401,F403
from .ops.softmax import *  # noqa: F401,F403
from .ops.norm import *  # noqa: F401,F403
from .ops.norm import torch_batch_norm as batch_norm  # noqa: F401 (ATen's argument order)
from .ops.dropout import (torch_alpha_dropout as alpha_dropout, torch_dropout as dropout,  # noqa
                          torch_feature_alpha_dropout as feature_alpha_dropout,
                          torch_feature_dropout as feature_dropout)
from .ops.embedding import torch_embedding as embedding  # noqa: F401 (weight first, as torch)
from .ops.numeric import *  # noqa: F401,F403
from .ops.tensor_algebra import *  # noqa: F401,F403

from . import autograd
from . import nn
from .serialization import load, save
from . import optim
from . import graphs  # noqa: F401  (step capture and replay: torch.cuda's CUDA graphs)
from . import data, utils, cuda, xpu  # noqa: F401  (utils.data, cuda, xpu: PyTorch's names)
get_default_device = default_device   # torch.get_default_device: where new tensors go
from . import sparse  # noqa: F401 (sparse COO tensors; gives Tensor is_sparse/layout/to_sparse)
from .sparse import layout, sparse_coo, sparse_coo_tensor, spmm, strided  # noqa: F401
from .sparse import matmul, mm  # noqa: F401 (sparse-aware; dense operands go to ops.linalg)
from . import accelerator, backends  # noqa: F401  (torch.accelerator, torch.backends)
from . import distributions  # noqa: F401  (torch.distributions)
from . import amp  # noqa: F401  (torch.amp)
from .amp import GradScaler, autocast  # noqa: F401
from .amp.autocast_mode import (  # noqa: F401  (torch's autocast state functions)
    autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache,
    get_autocast_cpu_dtype, get_autocast_dtype, get_autocast_gpu_dtype, is_autocast_available,
    is_autocast_cache_enabled, is_autocast_cpu_enabled, is_autocast_enabled,
    set_autocast_cache_enabled, set_autocast_cpu_dtype, set_autocast_cpu_enabled,
    set_autocast_dtype, set_autocast_enabled, set_autocast_gpu_dtype)
from .autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                       set_grad_enabled)

is_tensor = lambda obj: isinstance(obj, Tensor)  # noqa: E731
is_floating_point = lambda input: input.is_floating_point()  # noqa: E731 (float16/bfloat16 too)


def __getattr__(name):
    # clnet.onnx needs the optional onnx package, so it is imported on first use
    # (``torch.onnx.export(...)`` works after ``import clnet as torch``); clnet.distributed
    # likewise, so ``torch.distributed.is_available()`` works without importing it first
    if name in ("onnx", "distributed"):
        import importlib  # here, not at the top: the namespace stays torch's
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'clnet' has no attribute {name!r}")
