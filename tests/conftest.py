"""Shared test setup: a hypothesis profile sized for PoCL on a 2-core machine, and the device.

The whole suite runs against any device: ``CLNET_DEVICE=nvidia pytest``.
"""
import os
import tempfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=int(os.environ.get("CLNET_HYPOTHESIS_EXAMPLES", "20")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("default")

# The suite runs with the kernels' default parameters: a `clnet tune` file in the user's cache
# (~/.cache/clnet/tuning) would change layouts that tests assert. Tests of the tuning store set
# CLNET_TUNING_CACHE to their own folders; subprocesses inherit this one.
os.environ["CLNET_TUNING_CACHE"] = os.path.join(tempfile.gettempdir(),
                                                f"clnet-tests-tuning-{os.getpid()}")


@pytest.fixture(scope="session")
def dev():
    import clnet
    return clnet.default_device()


@pytest.fixture
def rng(request):
    # a per-test seed derived from its name: reproducible from run to run (crc32, not hash(),
    # which Python randomises per process), different across tests
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
