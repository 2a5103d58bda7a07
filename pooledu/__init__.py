"""pooledu: pooling in convolutional networks, as readable loops that match PyTorch.

The public API, re-exported from the modules that own each idea:
``geometry`` (window sizes and rules), ``formulas`` (one scalar function per
formula), ``cpu`` and ``fast`` (readable and fast CPU schedules over the
formulas), ``cuda`` (GPU schedules over the same formulas, imported only when
a device array arrives), ``checks`` and ``dispatch`` (what every public
function checks, and which kernel runs a call), ``ops`` (the checked public 2D
max, average and global pooling), the rest of PyTorch's pooling family one
module an idea (``pool1d3d``, ``adaptive``, ``fractional``, ``lp``,
``unpool``), ``extra`` (max-broadcast and attention pooling), ``antialias``
(blur pooling), ``conv`` (strided convolution and its transpose) and
``analysis`` (the measurements behind the figures). ``nn``, ``data`` and ``experiments`` build small
trainable networks on top; ``pooledu.viz`` (matplotlib helpers) and
``pooledu.figures`` (the figure table) are imported on demand, as is
``pooledu.torch`` (PyTorch's pooling functions and modules on these kernels).
``compilation`` says on stderr when a kernel is compiled rather than loaded
from Numba's cache (``set_compile_messages(False)`` or ``POOLEDU_QUIET=1``
silence it).
"""

from .compilation import set_compile_messages  # first: it listens for every kernel compiled

from .analysis import (activation_counts, head_params, invariance_curve,
                       measured_receptive_field, receptive_field, stem_flops)
from .antialias import (blur_pool2d, blur_pool2d_backward, max_blur_pool2d,
                        max_blur_pool2d_backward)
from .conv import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .extra import (attention_pool2d, attention_pool2d_backward, max_broadcast_pool2d,
                    max_broadcast_pool2d_backward)
from .adaptive import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
                       adaptive_avg_pool2d_backward, adaptive_avg_pool3d,
                       adaptive_avg_pool3d_backward, adaptive_max_pool1d,
                       adaptive_max_pool1d_backward, adaptive_max_pool2d,
                       adaptive_max_pool2d_backward, adaptive_max_pool3d,
                       adaptive_max_pool3d_backward)
from .fractional import fractional_max_pool2d, fractional_max_pool2d_backward
from .lp import lp_pool1d, lp_pool1d_backward, lp_pool2d, lp_pool2d_backward
from .pool1d3d import (avg_pool1d, avg_pool1d_backward, avg_pool3d, avg_pool3d_backward,
                       max_pool1d, max_pool1d_backward, max_pool3d, max_pool3d_backward)
from .unpool import max_unpool2d, max_unpool2d_backward
from .geometry import ceil_mode_windows, describe_adaptive, pool_output_size
from .ops import (avg_pool2d, avg_pool2d_backward, global_avg_pool2d,
                  global_avg_pool2d_backward, global_max_pool2d,
                  global_max_pool2d_backward, max_pool2d, max_pool2d_backward)
from .dispatch import schedule

__version__ = "0.1.0"


def __getattr__(name):
    # pooledu.explore() is the notebook explorer; its widgets (ipywidgets, an
    # optional extra) load on first use, never with the package
    if name == "explore":
        from .explorer.notebook import explore
        return explore
    raise AttributeError(f"module 'pooledu' has no attribute {name!r}")


__all__ = [
    "pool_output_size", "ceil_mode_windows", "schedule", "set_compile_messages",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_max_pool2d", "global_max_pool2d_backward",
    "max_broadcast_pool2d", "max_broadcast_pool2d_backward",
    "attention_pool2d", "attention_pool2d_backward",
    # the rest of the pooling family (pool1d3d, adaptive, fractional, lp, unpool)
    "max_pool1d", "max_pool1d_backward", "avg_pool1d", "avg_pool1d_backward",
    "max_pool3d", "max_pool3d_backward", "avg_pool3d", "avg_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool1d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool1d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "adaptive_avg_pool3d", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d", "adaptive_max_pool3d_backward",
    "fractional_max_pool2d", "fractional_max_pool2d_backward",
    "lp_pool1d", "lp_pool1d_backward", "lp_pool2d", "lp_pool2d_backward",
    "max_unpool2d", "max_unpool2d_backward", "describe_adaptive",
    "conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward",
    "blur_pool2d", "blur_pool2d_backward", "max_blur_pool2d", "max_blur_pool2d_backward",
    "invariance_curve", "receptive_field", "measured_receptive_field",
    "activation_counts", "stem_flops", "head_params",
    "explore",
]
