"""Page-aligned read buffers (they make the kernel's page-cache copies fast)."""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.common.aligned import PAGE, aligned_empty


@pytest.mark.parametrize("dtype", ["u1", "<u2", "f4", "c16"])
@pytest.mark.parametrize("shape", [(1,), (3, 5), (7, 64, 64)])
def test_aligned_empty(shape, dtype):
    arr = aligned_empty(shape, dtype)
    assert arr.shape == shape and arr.dtype == np.dtype(dtype)
    assert arr.ctypes.data % PAGE == 0
    assert arr.flags.c_contiguous and arr.flags.writeable
    arr[...] = 1
    assert np.all(arr == 1)
