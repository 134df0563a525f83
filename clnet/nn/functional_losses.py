"""Loss functions with torch.nn.functional's signatures, written with clnet ops (their gradients
come from autograd), except cross-entropy with class indices, which is one fused kernel pair
(clnet/ops/softmax.py: log-softmax + NLL in one pass, stable for large logits)."""
from __future__ import annotations

from typing import Any, Optional
import sys
import warnings

from .. import dtypes, graph
from ..ops import autocast as _autocast
from ..ops import pointwise as _pointwise
from ..ops import reduce as R
from ..ops.checks import check_unit_interval
from ..ops.copy import cast, contiguous
from ..ops.index import gather, index_select
from ..ops.softmax import cross_entropy_rows, log_softmax
from ..ops.views import movedim, reshape
from ..tensor import Tensor

# typed Any: ops/pointwise.py makes its unary functions (P.exp, P.log...) in a loop, which a type
# checker cannot see
P: Any = _pointwise

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def _reduce(loss, reduction, op):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return R.mean(loss)
    if reduction == "sum":
        return R.sum(loss)
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected one of "
                     f"{', '.join(_REDUCTIONS)}")


def _check_pair(op, input, target):
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected input and target tensors")
    if input._shape != target._shape:
        warnings.warn(f"{op}: using a target size ({list(target._shape)}) that is different to "
                      f"the input size ({list(input._shape)}); this will likely lead to incorrect "
                      "results due to broadcasting", stacklevel=3)


def mse_loss(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
             reduce: Optional[bool] = None, reduction: str = "mean",
             weight: Optional[Tensor] = None) -> Tensor:
    _check_pair("mse_loss", input, target)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "mse_loss")


def l1_loss(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
            reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    _check_pair("l1_loss", input, target)
    return _reduce(P.abs(input - target), _legacy_reduction(size_average, reduce, reduction),
                   "l1_loss")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
                   reduce: Optional[bool] = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    _check_pair("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    a = P.abs(input - target)
    if beta == 0:
        loss = a
    else:
        loss = P.where(a < beta, a * a * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Optional[Tensor] = None) -> Tensor:
    _check_pair("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    a = P.abs(input - target)
    loss = P.where(a <= delta, a * a * 0.5, (a - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


class TargetDtypeError(TypeError, RuntimeError):
    """Class-index targets of a non-integer dtype (PyTorch raises RuntimeError)."""


def _check_class_target(op, target):
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected a target tensor, got {type(target).__name__}")
    if target.dtype not in (dtypes.int64, dtypes.int32):
        raise TargetDtypeError(f"{op}: expected target dtype to be Long (int64; int32 is also "
                               f"accepted) holding class indices, but got {target.dtype}")


def _refuse_weight_grad(op, weight):
    """Like PyTorch: class weights get no gradient, so one that requires grad is refused rather
    than silently left without one."""
    if weight is not None and weight.requires_grad and graph.mode.grad_enabled:
        raise RuntimeError(f"{op}: the function is not differentiable with respect to argument "
                           "'weight' (the class weights); this input cannot have "
                           "requires_grad=True (pass weight.detach())")


def _class_layout(op, input, target):
    """(rows, C) logits and (rows,) targets from (C,)/(N, C)/(N, C, d1, ...) inputs."""
    if input.dim() == 0:
        raise ValueError(f"{op}: input must have at least one dimension (the classes)")
    if input.dim() == 1:
        if target.dim() != 0:
            raise ValueError(f"{op}: for an unbatched input of shape {list(input._shape)} the "
                             f"target must be 0-d, got shape {list(target._shape)}")
        return reshape(input, (1, input._shape[0])), reshape(target, (1,)), ()
    n, c = input._shape[0], input._shape[1]
    expected = (n,) + input._shape[2:]
    if target._shape != expected:
        raise ValueError(f"{op}: expected target of shape {list(expected)} for input of shape "
                         f"{list(input._shape)}, got {list(target._shape)}")
    x = movedim(input, 1, -1) if input.dim() > 2 else input
    return reshape(x, (-1, c)), reshape(target, (-1,)), expected


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                  size_average: Optional[bool] = None, ignore_index: int = -100,
                  reduce: Optional[bool] = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """torch.nn.functional.cross_entropy: class indices (int targets) or class probabilities
    (float targets of the input's shape), ``weight``, ``ignore_index``, ``label_smoothing``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: {reduction!r} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"cross_entropy: expected floating-point logits, got {input.dtype}")
    c = input._shape[1] if input.dim() > 1 else input._shape[0]
    if weight is not None and weight._shape != (c,):
        raise ValueError(f"cross_entropy: weight should have shape [{c}] (one per class), got "
                         f"{list(weight._shape)}")
    if target.dtype.is_floating_point and target._shape == input._shape:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, c)
    _check_class_target("cross_entropy", target)
    x2, t2, out_shape = _class_layout("cross_entropy", input, target)
    t2 = contiguous(cast(t2, dtypes.int64))
    _refuse_weight_grad("cross_entropy", weight)
    loss, wrow = cross_entropy_rows(contiguous(x2), t2, weight, ignore_index, label_smoothing)
    if reduction == "none":
        return reshape(loss, out_shape)
    if reduction == "sum":
        return R.sum(loss)
    return R.sum(loss) / R.sum(wrow)


def _cross_entropy_probs(input, target, weight, reduction, eps, c):
    if target._shape != input._shape:
        raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                         f"{list(input._shape)}, got {list(target._shape)}")
    dim = 1 if input.dim() > 1 else 0
    logp = log_softmax(input, dim)
    t = target * (1.0 - eps) + eps / c if eps else target
    if weight is not None:
        shape = [1] * input.dim()
        shape[dim] = c
        t = t * reshape(weight, shape)
    loss = -R.sum(logp * t, dim)
    if reduction == "mean":
        n = loss.numel()
        return R.sum(loss) / float(n) if n else R.sum(loss) / 0.0
    return _reduce(loss, reduction, "cross_entropy")


def nll_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
             size_average: Optional[bool] = None, ignore_index: int = -100,
             reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    """torch.nn.functional.nll_loss on log-probabilities (N, C, ...) and class indices."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_class_target("nll_loss", target)
    _refuse_weight_grad("nll_loss", weight)
    x2, t2, out_shape = _class_layout("nll_loss", input, target)
    t2 = cast(t2, dtypes.int64)
    valid = t2 != ignore_index
    safe = P.where(valid, t2, 0)
    picked = reshape(gather(x2, 1, reshape(safe, (-1, 1))), (-1,))
    # in the input's dtype: a float32 mask would promote a 16-bit loss to float32
    w = cast(P.where(valid, 1.0, 0.0), input.dtype) if weight is None else P.where(
        valid, index_select(cast(weight, input.dtype), 0, safe), 0.0)
    loss = -(picked * w)
    if reduction == "none":
        return reshape(loss, out_shape)
    if reduction == "sum":
        return R.sum(loss)
    if reduction == "mean":
        return R.sum(loss) / R.sum(w)
    raise ValueError(f"nll_loss: {reduction!r} is not a valid value for reduction")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log x + (1 - t) log(1 - x)) with each log clamped at -100, as PyTorch does."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input._shape != target._shape:
        raise ValueError(f"binary_cross_entropy: target size {list(target._shape)} must be the "
                         f"same as input size {list(input._shape)}")
    check_unit_interval("binary_cross_entropy", input)
    log_x = P.clamp(P.log(input), min=-100.0)
    log_1mx = P.clamp(P.log(1.0 - input), min=-100.0)
    loss = -(target * log_x + (1.0 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Optional[Tensor] = None,
                                     size_average: Optional[bool] = None,
                                     reduce: Optional[bool] = None, reduction: str = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    """Sigmoid + BCE in the numerically stable form PyTorch uses."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input._shape != target._shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target size {list(target._shape)} "
                         f"must be the same as input size {list(input._shape)}")
    softplus_neg = P.log1p(P.exp(-P.abs(input))) + P.clamp(-input, min=0.0)
    if pos_weight is not None:
        log_weight = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + log_weight * softplus_neg
    else:
        loss = (1.0 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
           reduce: Optional[bool] = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise; 'batchmean' divides the sum by the batch size."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = P.exp(target) * (target - input)
    else:
        # xlogy: 0 where target == 0
        safe = P.where(target > 0, target, 1.0)
        loss = P.where(target > 0, target * (P.log(safe) - input), 0.0)
    if reduction == "batchmean":
        return R.sum(loss) / float(input._shape[0] if input.dim() else 1)
    return _reduce(loss, reduction, "kl_div")


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                          reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    eps = 1e-12
    dim = input1.dim() - 1
    prod = R.sum(input1 * input2, dim)
    mag = P.sqrt((R.sum(input1 * input1, dim) + eps) * (R.sum(input2 * input2, dim) + eps))
    cos = prod / mag
    loss = P.where(target == 1, 1.0 - cos, P.clamp(cos - margin, min=0.0))
    return _reduce(loss, reduction, "cosine_embedding_loss")


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                        reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = P.clamp(-target * (input1 - input2) + margin, min=0.0)
    return _reduce(loss, reduction, "margin_ranking_loss")


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                         reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = P.where(target == 1, input, P.clamp(margin - input, min=0.0))
    return _reduce(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
                     reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(P.log1p(P.exp(-target * input)), reduction, "soft_margin_loss")


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: Optional[bool] = None, eps: float = 1e-8,
                     reduce: Optional[bool] = None, reduction: str = "mean") -> Tensor:
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_input:
        loss = P.exp(input) - target * input
    else:
        loss = input - target * P.log(input + eps)
    if full:
        safe = P.where(target > 1, target, 1.0)
        stirling = safe * P.log(safe) - safe + 0.5 * P.log(safe * 6.283185307179586)
        loss = loss + P.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    v = P.clamp(var, min=eps)
    loss = 0.5 * (P.log(v) + (input - target) ** 2 / v)
    if full:
        loss = loss + 0.9189385332046727   # 0.5 * log(2 pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


# autocast (ops/autocast.py): the listed losses (torch's float32 lists) cast their inputs at entry
_autocast.wrap_module(sys.modules[__name__])
