"""Uploads from the host (clnet.tensor, torch-style creation from numpy) go through a staging
buffer and a device-side copy below 16 MB and a direct write above: the values arrive, in order
with the work already queued, for every size and dtype."""
import numpy as np
import pytest

import clnet
import clnet.kernels.copy as kcopy


@pytest.mark.parametrize("n", [1, 3, 1000, (16 << 20) // 4 + 5])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_upload_roundtrip_while_work_is_queued(n, dtype):
    rng = np.random.default_rng(n)
    host = (rng.standard_normal(n) * 100).astype(dtype)
    a = clnet.randn(256, 256)
    busy = a @ a                        # queued work the upload must not wait for, nor pass
    t = clnet.tensor(host)
    np.testing.assert_array_equal(t.numpy(), host)
    assert busy.shape == (256, 256)


def test_the_staging_threshold_is_what_the_note_says():
    assert kcopy._STAGE_MAX == 16 << 20


def test_an_upload_then_overwritten_host_array_keeps_the_uploaded_values():
    host = np.arange(10, dtype=np.float32)
    t = clnet.tensor(host)
    host[:] = -1                        # the staging copy was taken at upload time
    assert t.tolist() == list(range(10))
