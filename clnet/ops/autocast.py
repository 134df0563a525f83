"""Autocast's op entry: PyTorch's cast policies as tables, applied where a listed op is called.

An op joins autocast with ``@autocast_op("aten_name")`` on its public function. With autocast off
the wrapper costs one thread-local attribute read. With it on, the op's name is looked up in the
policy table of the active device type (torch's ``aten/src/ATen/autocast_mode.cpp`` lists, kept
below as they stand in PyTorch 2.x), its floating tensor arguments are cast with the recorded,
differentiable ``cast`` (so gradients flow back to float32 master weights in float32), and the op
runs with autocast suspended, as torch's wrappers exclude the autocast key: ops it calls inside
are not cast again. Policies (torch's CastPolicy):

- ``lower``: float32/16-bit inputs to the autocast dtype (float64 and integer inputs untouched);
  float32 leaf weights that require grad are cast once per autocast region (the weight cache);
- ``fp32``: 16-bit inputs to float32;
- ``fp32_dtype``: run in float32 by passing ``dtype=float32`` when the caller gave no dtype and
  the first input is eligible (torch's fp32_set_opt_dtype and fp32_append_dtype);
- ``promote``: every eligible input to the widest floating type among them.

The state (per thread, as torch's) is here rather than in clnet.amp so the ops can read it
without importing upward; clnet.amp's ``autocast`` sets it.
"""
import functools
import inspect
import threading
import types

from .. import dtypes
from ..tensor import Tensor
from .copy import cast

LOWER, FP32, FP32_DTYPE, PROMOTE, BANNED = "lower", "fp32", "fp32_dtype", "promote", "banned"

_CUDA_LOWER = ("_convolution conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d "
               "conv_transpose3d convolution prelu addmm addmv addr matmul einsum mm mv "
               "linalg_vecdot linear addbmm baddbmm bmm chain_matmul linalg_multi_dot "
               "lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell scaled_dot_product_attention")
_CUDA_FP32 = ("acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan "
              "pow softplus layer_norm native_layer_norm group_norm frobenius_norm nuclear_norm "
              "cosine_similarity poisson_nll_loss cosine_embedding_loss nll_loss nll_loss2d "
              "hinge_embedding_loss kl_div l1_loss smooth_l1_loss huber_loss mse_loss "
              "margin_ranking_loss multilabel_margin_loss soft_margin_loss triplet_margin_loss "
              "multi_margin_loss binary_cross_entropy_with_logits dist pdist cdist renorm "
              "logsumexp")
_CUDA_FP32_DTYPE = ("prod softmax log_softmax cumprod cumsum linalg_vector_norm "
                    "linalg_matrix_norm sum norm")
_CUDA_PROMOTE = ("addcdiv addcmul atan2 bilinear cross dot grid_sampler index_put tensordot "
                 "scatter_add")

_CPU_LOWER = ("conv1d conv2d conv3d bmm mm linalg_vecdot baddbmm addmm _addmm_activation addbmm "
              "linear _convolution matmul conv_tbc mkldnn_rnn_layer conv_transpose1d "
              "conv_transpose2d conv_transpose3d prelu scaled_dot_product_attention "
              "_native_multi_head_attention")
_CPU_FP32 = ("avg_pool3d binary_cross_entropy grid_sampler polar prod quantile nanquantile stft "
             "cdist grid_sampler_2d grid_sampler_3d trace view_as_complex cholesky "
             "cholesky_inverse cholesky_solve inverse lu_solve orgqr ormqr pinverse max_pool3d "
             "max_unpool2d max_unpool3d adaptive_avg_pool3d reflection_pad1d reflection_pad2d "
             "replication_pad1d replication_pad2d replication_pad3d mse_loss "
             "cosine_embedding_loss nll_loss nll_loss2d hinge_embedding_loss poisson_nll_loss "
             "smooth_l1_loss cross_entropy_loss l1_loss huber_loss margin_ranking_loss "
             "soft_margin_loss triplet_margin_loss multi_margin_loss ctc_loss kl_div "
             "multilabel_margin_loss binary_cross_entropy_with_logits fft_fft fft_ifft fft_fft2 "
             "fft_ifft2 fft_fftn fft_ifftn fft_rfft fft_irfft fft_rfft2 fft_irfft2 fft_rfftn "
             "fft_irfftn fft_hfft fft_ihfft linalg_cond linalg_matrix_rank linalg_solve "
             "linalg_cholesky linalg_svdvals linalg_eigvals linalg_eigvalsh linalg_inv "
             "linalg_householder_product linalg_tensorinv linalg_tensorsolve "
             "fake_quantize_per_tensor_affine geqrf _lu_with_info qr svd triangular_solve "
             "fractional_max_pool2d fractional_max_pool3d adaptive_max_pool3d linalg_qr "
             "linalg_cholesky_ex linalg_svd linalg_eig linalg_eigh linalg_lstsq linalg_inv_ex")
_CPU_PROMOTE = "stack cat index_copy"


def _table(*groups):
    table = {}
    for names, policy in groups:
        for name in names.split():
            table[name] = policy
    return table


# op name (ATen's) -> policy, per autocast device type
POLICIES = {
    "cuda": _table((_CUDA_LOWER, LOWER), (_CUDA_FP32, FP32), (_CUDA_FP32_DTYPE, FP32_DTYPE),
                   (_CUDA_PROMOTE, PROMOTE), ("binary_cross_entropy", BANNED)),
    "cpu": _table((_CPU_LOWER, LOWER), (_CPU_FP32, FP32), (_CPU_PROMOTE, PROMOTE)),
}
DEFAULT_DTYPES = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}

_BCE_BANNED = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional."
    "binary_cross_entropy_with_logits\nor torch.nn.BCEWithLogitsLoss.  "
    "binary_cross_entropy_with_logits and BCEWithLogits are\nsafe to autocast.")


class _State(threading.local):
    """Autocast's thread-local state: torch keeps it per thread too."""

    def __init__(self):
        # (policy table, autocast dtype, device type) of the innermost enabled device type, or
        # None: the one attribute every listed op reads
        self.active = None
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = dict(DEFAULT_DTYPES)
        self.order = []             # enabled device types, the most recently enabled last
        self.nesting = 0
        self.cache_enabled = True
        self.cache = {}             # id(weight) -> (weight, its version, its cast)


state = _State()


def _refresh():
    s = state
    s.active = (POLICIES[s.order[-1]], s.dtype[s.order[-1]], s.order[-1]) if s.order else None


def set_enabled(device_type, enabled):
    s = state
    s.enabled[device_type] = bool(enabled)
    if device_type in s.order:
        s.order.remove(device_type)
    if enabled:
        s.order.append(device_type)
    _refresh()


def set_dtype(device_type, dtype):
    state.dtype[device_type] = dtype
    _refresh()


def clear_cache():
    state.cache.clear()


def _eligible(t):
    return isinstance(t, Tensor) and t.dtype.is_floating_point and t.dtype is not dtypes.float64


def _cached_cast(t, to, lower):
    if not _eligible(t) or t.dtype is to:
        return t
    s = state
    if lower is to and t.dtype is dtypes.float32 and t.requires_grad and t.grad_fn is None \
            and t._base is None and s.cache_enabled:
        hit = s.cache.get(id(t))
        # the version check keeps an in-place update inside the region from reading stale data
        if hit is not None and hit[0] is t and hit[1] == t._storage.version:
            return hit[2]
        out = cast(t, to)
        s.cache[id(t)] = (t, t._storage.version, out)
        return out
    return cast(t, to)


def _map_args(fn, args, kwargs):
    def one(a):
        if isinstance(a, (list, tuple)) and a and all(isinstance(e, Tensor) for e in a):
            return type(a)(fn(e) for e in a)
        return fn(a)
    return [one(a) for a in args], {k: one(v) for k, v in kwargs.items()}


def _tensors(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (e for e in a if isinstance(e, Tensor))


def _promote_type(lower, args, kwargs):
    current = lower
    for t in _tensors(args, kwargs):
        if not t.dtype.is_floating_point or t.dtype is dtypes.float64:
            continue
        if current is dtypes.float32 or t.dtype is dtypes.float32:
            current = dtypes.float32
        elif not (current is lower and t.dtype is lower):
            raise RuntimeError("Unexpected floating ScalarType in at::autocast::prioritize "
                               f"({current} with {t.dtype} under {lower} autocast)")
    return current


def _run(name, fn, sig, active, args, kwargs):
    policies, lower, _ = active
    policy = policies.get(name)
    if policy is None:
        return fn(*args, **kwargs)
    if policy is BANNED:
        raise RuntimeError(_BCE_BANNED)
    if policy is LOWER:
        args, kwargs = _map_args(lambda a: _cached_cast(a, lower, lower), args, kwargs)
    elif policy is FP32:
        args, kwargs = _map_args(lambda a: _cached_cast(a, dtypes.float32, lower), args, kwargs)
    elif policy is PROMOTE:
        to = _promote_type(lower, args, kwargs)
        args, kwargs = _map_args(lambda a: _cached_cast(a, to, lower), args, kwargs)
    else:                       # FP32_DTYPE: only when the caller left dtype out
        bound = sig.bind(*args, **kwargs)
        first = next(iter(bound.arguments.values()), None)
        if bound.arguments.get("dtype") is None and _eligible(first):
            # dtype=float32 converts the input before computing: the same as casting it first,
            # which also keeps a 16-bit input's result from rounding back to 16 bits
            bound.arguments["dtype"] = dtypes.float32
            args, kwargs = _map_args(lambda a: _cached_cast(a, dtypes.float32, lower),
                                     bound.args, bound.kwargs)
    s = state
    s.active = None             # the op's own inner calls are not autocast again (torch's guard)
    try:
        return fn(*args, **kwargs)
    finally:
        s.active = active


def autocast_op(name):
    """Decorate the public function of ATen op ``name`` so autocast's policy applies to it."""
    def decorate(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            active = state.active
            if active is None:
                return fn(*args, **kwargs)
            return _run(name, fn, sig, active, args, kwargs)
        wrapper.__autocast_op__ = name
        return wrapper
    return decorate


# clnet's function (and Tensor method) names of the listed ops -> the ATen op name of the tables
FUNCTION_OPS = {name: name for name in (
    "mm bmm matmul addmm baddbmm addbmm mv addmv dot linear chain_matmul einsum addr tensordot "
    "cross cdist trace conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d "
    "softmax log_softmax layer_norm group_norm sum prod norm logsumexp cumsum cumprod acos asin "
    "cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan pow softplus atan2 "
    "addcdiv addcmul scatter_add index_copy cat stack lstm_cell gru_cell prelu "
    "scaled_dot_product_attention bilinear cosine_similarity pdist dist renorm mse_loss l1_loss "
    "smooth_l1_loss huber_loss nll_loss kl_div binary_cross_entropy "
    "binary_cross_entropy_with_logits cosine_embedding_loss margin_ranking_loss "
    "hinge_embedding_loss soft_margin_loss poisson_nll_loss triplet_margin_loss "
    "multi_margin_loss multilabel_margin_loss quantile nanquantile").split()}
FUNCTION_OPS.update({"cross_entropy": "cross_entropy_loss", "concat": "cat",
                     "concatenate": "cat", "grid_sample": "grid_sampler",
                     "__matmul__": "matmul", "__rmatmul__": "matmul", "__pow__": "pow",
                     "__rpow__": "pow"})


def wrap_function(fn, name):
    """``fn`` under ``@autocast_op`` when ``name`` is one of the listed ops, else ``fn``."""
    op = FUNCTION_OPS.get(name)
    if op is None or not callable(fn) or getattr(fn, "__autocast_op__", None):
        return fn
    # one wrapper per function, whichever modules re-export it (opmath.wrap says why)
    key = (fn, op)
    if key not in _WRAPPERS:
        _WRAPPERS[key] = autocast_op(op)(fn)
    return _WRAPPERS[key]


_WRAPPERS = {}


def wrap_module(mod):
    """Rebind the listed ops' public functions in ``mod`` (defined there or re-exported) to their
    autocast forms, before the facade, nn and the Tensor methods take them."""
    for name in FUNCTION_OPS:
        fn = vars(mod).get(name)
        if isinstance(fn, types.FunctionType):
            setattr(mod, name, wrap_function(fn, name))


def wrap_methods(table):
    """A Tensor-method table (name -> function) with the listed ops' methods wrapped."""
    return {name: wrap_function(fn, name) if isinstance(fn, types.FunctionType) else fn
            for name, fn in table.items()}
