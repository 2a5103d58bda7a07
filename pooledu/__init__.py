"""pooledu: pooling in convolutional networks, as readable loops that match PyTorch.

The public API, re-exported from the modules that own each idea:
``geometry`` (window sizes and rules), ``formulas`` (one scalar function per
formula), ``cpu`` (parallel schedules over the formulas), ``cuda`` (GPU
schedules over the same formulas, imported only when a device array arrives),
``backend`` (which of the two runs a call) and ``ops`` (the checked public
functions).
"""

from .geometry import pool_output_size
from .ops import (schedule, avg_pool2d, avg_pool2d_backward, global_avg_pool2d,
                  global_avg_pool2d_backward, global_max_pool2d,
                  global_max_pool2d_backward, max_pool2d, max_pool2d_backward)

__version__ = "0.1.0"

__all__ = [
    "pool_output_size", "schedule",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_max_pool2d", "global_max_pool2d_backward",
]
