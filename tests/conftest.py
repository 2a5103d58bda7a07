"""Shared test setup: the CUDA simulator where there is no GPU, and Hypothesis settings.

CI runs one ``pytest`` command in one process, so the choice between a real GPU
and Numba's CUDA simulator is made here, before any test module (or pooledu)
imports ``numba.cuda``: Numba reads NUMBA_ENABLE_CUDASIM when ``numba.cuda`` is
first imported, and it cannot be changed afterwards. The simulator only
affects ``numba.cuda``; the CPU kernels are compiled as usual.
"""

import ctypes
import os
import sys


def cuda_device_count():
    """GPUs the CUDA driver sees, asked through the driver library itself (0 without one).

    Asking ``numba.cuda`` instead would import it, fixing the simulator
    choice before we have made it.
    """
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib"):
        try:
            driver = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


HAS_GPU = cuda_device_count() > 0
if not HAS_GPU:
    # setdefault: an explicit NUMBA_ENABLE_CUDASIM=0/1 from the caller wins.
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    if "numba" in sys.modules:  # numba read its config at import: read it again
        from numba.core import config
        config.reload_config()

import numpy as np
import pytest
from hypothesis import settings

# First calls compile Numba kernels, so no per-example deadline; the example
# counts stay modest so the whole suite runs in minutes on two cores. The
# default profile draws the same examples on every run, so a red CI can be
# replayed anywhere; the "explore" profile searches afresh, and wider, each run:
#     POOLEDU_HYPOTHESIS=explore python3 -m pytest
settings.register_profile("pooledu", deadline=None, max_examples=60, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=600, derandomize=False)
settings.load_profile(os.environ.get("POOLEDU_HYPOTHESIS", "pooledu"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need real hardware; elsewhere they are skipped, with the reason shown."""
    if HAS_GPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none found; the other CUDA tests ran "
                                   "in the simulator)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
