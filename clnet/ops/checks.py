"""Value checks on device data for the op families and losses (the BCE input check of
``nn/functional_losses.py``); the launch is clnet/kernels/check.py (cl_kernels/check.cl)."""
from ..kernels.check import check_unit_interval

__all__ = ["check_unit_interval"]
