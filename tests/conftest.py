import numpy as np
import pytest
from hypothesis import settings

# First calls compile Numba kernels, so no per-example deadline; the example
# counts stay modest so the whole suite runs in minutes on two cores.
settings.register_profile("pooledu", deadline=None, max_examples=60, derandomize=False)
settings.load_profile("pooledu")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
