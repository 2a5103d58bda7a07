"""pooledu: pooling in convolutional networks, as readable loops that match PyTorch.

The public API, re-exported from the modules that own each idea:
``geometry`` (window sizes and rules), ``formulas`` (one scalar function per
formula), ``cpu`` (parallel schedules over the formulas) and ``ops`` (the
checked public functions); ``family`` holds the rest of PyTorch's pooling
family (1D/3D, adaptive, fractional, LP, unpooling).
"""

from .geometry import pool_output_size
from .ops import (avg_pool2d, avg_pool2d_backward, global_avg_pool2d,
                  global_avg_pool2d_backward, global_max_pool2d,
                  global_max_pool2d_backward, max_pool2d, max_pool2d_backward)
from .family import (max_pool1d, max_pool1d_backward, avg_pool1d, avg_pool1d_backward,
                     max_pool3d, max_pool3d_backward, avg_pool3d, avg_pool3d_backward,
                     adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_max_pool1d,
                     adaptive_max_pool1d_backward, adaptive_avg_pool2d,
                     adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                     adaptive_max_pool2d_backward, fractional_max_pool2d,
                     fractional_max_pool2d_backward, lp_pool1d, lp_pool1d_backward, lp_pool2d,
                     lp_pool2d_backward, max_unpool2d, max_unpool2d_backward,
                     adaptive_avg_pool3d, adaptive_avg_pool3d_backward, adaptive_max_pool3d,
                     adaptive_max_pool3d_backward)
from .geometry import describe_adaptive

__version__ = "0.1.0"

__all__ = [
    "pool_output_size",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_max_pool2d", "global_max_pool2d_backward",
    # the pooling family (family.py)
    "describe_adaptive",
    "max_pool1d", "max_pool1d_backward",
    "avg_pool1d", "avg_pool1d_backward",
    "max_pool3d", "max_pool3d_backward",
    "avg_pool3d", "avg_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool1d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool1d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "adaptive_avg_pool3d", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d", "adaptive_max_pool3d_backward",
    "fractional_max_pool2d", "fractional_max_pool2d_backward",
    "lp_pool1d", "lp_pool1d_backward",
    "lp_pool2d", "lp_pool2d_backward",
    "max_unpool2d", "max_unpool2d_backward",
]
