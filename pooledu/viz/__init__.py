"""Matplotlib helpers that draw what the pooledu kernels compute.

Each helper draws on an ``ax`` it is given and returns the artists it made;
nothing here calls ``plt.show()``. The house style (colours, fonts, cell
drawing) lives in :mod:`pooledu.viz.style`; the numbers shown always come
from the kernels and :mod:`pooledu.geometry`, never from the plotting code.

Modules: ``windows`` (windows on an input, pooled outputs), ``gradients``
(max routing, average spreading), ``ruler`` (output size in 1D),
``sliding`` (step-by-step frames, GIF, HTML), ``invariance``, ``receptive``,
``cost`` and ``photo``.
"""

from .cost import draw_activation_counts, draw_head_params, draw_stem_flops
from .gradients import draw_avg_spread, draw_max_routing
from .invariance import draw_invariance_curve, draw_shift_comparison
from .photo import draw_pooled_photo, edge_map, load_photo
from .receptive import draw_receptive_field, draw_receptive_growth
from .ruler import draw_output_size
from .sliding import draw_sliding_step, save_sliding, sliding_animation
from .style import house_style
from .windows import draw_pooling_windows, window_layout

__all__ = [
    "house_style",
    "draw_pooling_windows", "window_layout",
    "draw_max_routing", "draw_avg_spread",
    "draw_output_size",
    "draw_sliding_step", "sliding_animation", "save_sliding",
    "draw_shift_comparison", "draw_invariance_curve",
    "draw_receptive_field", "draw_receptive_growth",
    "draw_activation_counts", "draw_stem_flops", "draw_head_params",
    "draw_pooled_photo", "load_photo", "edge_map",
]
