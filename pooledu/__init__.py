"""pooledu: pooling in convolutional networks, as readable loops that match PyTorch.

The public API, re-exported from the modules that own each idea:
``geometry`` (window sizes and rules), ``formulas`` (one scalar function per
formula), ``cpu`` and ``fast`` (readable and fast CPU schedules over the
formulas), ``cuda`` (GPU schedules over the same formulas, imported only when
a device array arrives), ``backend`` (which of them runs a call), ``ops`` (the
checked public pooling functions), ``extra`` (max-broadcast and attention
pooling), ``conv`` (strided convolution) and ``analysis`` (the measurements
behind the figures). ``nn``, ``data`` and ``experiments`` build small
trainable networks on top; ``pooledu.viz`` (matplotlib helpers) and
``pooledu.figures`` (the figure table) are imported on demand.
"""

from .analysis import (activation_counts, head_params, invariance_curve,
                       measured_receptive_field, receptive_field, stem_flops)
from .conv import conv2d, conv2d_backward
from .extra import (attention_pool2d, attention_pool2d_backward, max_broadcast_pool2d,
                    max_broadcast_pool2d_backward)
from .geometry import ceil_mode_windows, pool_output_size
from .ops import (avg_pool2d, avg_pool2d_backward, global_avg_pool2d,
                  global_avg_pool2d_backward, global_max_pool2d,
                  global_max_pool2d_backward, max_pool2d, max_pool2d_backward, schedule)

__version__ = "0.1.0"

__all__ = [
    "pool_output_size", "ceil_mode_windows", "schedule",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_max_pool2d", "global_max_pool2d_backward",
    "max_broadcast_pool2d", "max_broadcast_pool2d_backward",
    "attention_pool2d", "attention_pool2d_backward",
    "conv2d", "conv2d_backward",
    "invariance_curve", "receptive_field", "measured_receptive_field",
    "activation_counts", "stem_flops", "head_params",
]
