"""Probability distributions with PyTorch's torch.distributions API: parameter validation,
device sampling from clnet's generator (``clnet.manual_seed`` reproduces it), and log_prob,
entropy and rsample differentiable with respect to the parameters."""
from . import constraints, kl  # noqa: F401
from .bernoulli import Bernoulli
from .categorical import Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal", "OneHotCategorical",
           "OneHotCategoricalStraightThrough", "Uniform", "constraints", "kl_divergence",
           "register_kl"]
