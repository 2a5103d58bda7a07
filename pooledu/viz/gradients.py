"""Where the gradient goes: max pooling routes it, average pooling spreads it.

The winners come from the ``indices`` of :func:`pooledu.max_pool2d` and every
gradient drawn comes from :func:`pooledu.max_pool2d_backward` or
:func:`pooledu.avg_pool2d_backward`.
"""

import numpy as np
from matplotlib.patches import Circle

from ..ops import avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .style import (INK, MUTED, SMALL_SIZE, arrow, draw_grid, draw_padding, finish_grid_axes,
                    outline, panel_title, tint, window_color, window_inset)
from .windows import GAP, _centred, draw_input_with_windows, draw_output, window_layout


def _grad_panel(ax, g, origin, name, faces=None):
    """A gradient grid: non-zero cells in ink, zeros muted, so sparsity shows."""
    colors = [[INK if v != 0 else MUTED for v in row] for row in g]
    return draw_grid(ax, g, origin, name=name, text_colors=colors, faces=faces)


def default_grad_output(out_shape, scale=1):
    """Output gradients ``scale * (1, 2, 3, ...)`` (row-major), distinct so every sum
    can be traced."""
    return scale * np.arange(1, np.prod(out_shape) + 1, dtype=np.float64).reshape(out_shape)


def _arrow_start(origin, a, b, n_cols):
    """Arrows leave a panel from its right edge, row ``a`` split between its columns,
    so no arrow crosses a neighbouring cell's value."""
    return origin[0] + n_cols + 0.05, origin[1] + a + (b + 0.5) / n_cols


def draw_max_routing(ax, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     grad_output=None):
    """Max pooling's backward pass: each output gradient goes to its window's winner.

    Three panels: the input with its windows (each winner circled in its
    window's colour), the output gradient, and the input gradient computed by
    :func:`pooledu.max_pool2d_backward`, with an arrow from every output
    gradient to the row of the input cell that won its window (the winner is
    tinted in the window's colour; arrows stop at the panel so that they
    never hide a zero). Where overlapping windows
    chose the same cell the arrows meet and the gradients add up; every cell
    that won nothing gets 0. A window made only of padding (index -1) has no
    winner and no arrow.

    Returns
    -------
    dict of lists of artists: ``"input"``, ``"grad_output"``, ``"grad_input"``,
    ``"winners"``, ``"arrows"``, ``"titles"``

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> art = draw_max_routing(ax, np.arange(16.0).reshape(4, 4), 2)
    >>> [t.get_text() for t in ax.texts if t.get_gid() == "grad_input"][4:8]
    ['0', '1', '0', '2']
    """
    x = np.asarray(x, dtype=np.float64)
    layout = window_layout(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    window = (kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = max_pool2d(x[None], *window, return_indices=True)
    g = default_grad_output(y.shape[1:]) if grad_output is None else np.asarray(grad_output)
    gx = max_pool2d_backward(g[None].astype(np.float64), idx, (1,) + x.shape, *window)[0]
    idx = idx[0]

    rows_total = layout.hi[0] - layout.lo[0]
    width_in = layout.hi[1] - layout.lo[1]
    art = {"input": draw_input_with_windows(ax, x, layout, fill=False), "titles": []}
    art["titles"].append(panel_title(ax, width_in / 2, 0, "input (winners circled)"))
    in_origin = (-layout.lo[1], -layout.lo[0])  # where input cell (0, 0) is drawn
    W = x.shape[1]
    art["winners"], rings = [], {}
    for (a, b), flat in np.ndenumerate(idx):
        if flat < 0:
            continue  # a window made only of padding (dilation can do that): no winner
        i, j = divmod(int(flat), W)
        color = window_color(a * idx.shape[1] + b)
        # a ring around the winner in its window's colour; a cell that wins
        # several windows gets concentric rings, one per window
        m = rings[flat] = rings.get(flat, -1) + 1
        art["winners"].append(ax.add_patch(Circle(
            (in_origin[0] + j + 0.5, in_origin[1] + i + 0.5), 0.34 + 0.045 * m,
            facecolor="none", edgecolor=color, linewidth=2.4, zorder=5)))

    left = width_in + GAP
    top = _centred(g.shape[0], rows_total, 0)
    art["grad_output"] = draw_output(ax, g, (left, top), name="grad_output")
    art["titles"].append(panel_title(ax, left + g.shape[1] / 2, top, "grad_output"))
    g_origin = (left, top)

    left += g.shape[1] + 2 * GAP
    gi_origin = (left, _centred(x.shape[0], rows_total, 0))
    faces = [["white"] * W for _ in range(x.shape[0])]
    for (a, b), flat in np.ndenumerate(idx):  # winners tinted like their (first) window
        if flat < 0:
            continue
        i, j = divmod(int(flat), W)
        if faces[i][j] == "white":
            faces[i][j] = tint(window_color(a * idx.shape[1] + b), 0.3)
    art["grad_input"] = _grad_panel(ax, gx, gi_origin, "grad_input", faces)
    art["titles"].append(panel_title(ax, left + W / 2, gi_origin[1], "grad_input"))
    art["arrows"] = []
    for (a, b), flat in np.ndenumerate(idx):
        if flat < 0:
            continue
        i, j = divmod(int(flat), W)
        start = _arrow_start(g_origin, a, b, g.shape[1])
        # The arrow stops at the panel's left edge, on the winner's row: drawn into
        # the panel it would cross (and hide) the zeros it passes. The winner is
        # the cell of that row tinted in the arrow's colour.
        end = (gi_origin[0] - 0.04, gi_origin[1] + i + 0.5)
        art["arrows"].append(arrow(ax, start, end, color=window_color(a * idx.shape[1] + b),
                                   rad=-0.15 if a % 2 else 0.15, shrink=1, zorder=3.5))
    art["titles"].append(ax.text(
        gi_origin[0] + W / 2, gi_origin[1] + x.shape[0] + 0.35,
        "each arrow points at its winner's row; the winner is\nthe cell tinted in its "
        "colour and gets the sum of\nits gradients, every other cell 0",
        ha="center", va="top", fontsize=SMALL_SIZE, color=INK, gid="caption"))
    finish_grid_axes(ax)
    return art


def draw_avg_spread(ax, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                    count_include_pad=True, grad_output=None, grad_scale=1):
    """Average pooling's backward pass: each output gradient spread evenly over its window.

    Two panels: the output gradient, each cell in its window's colour, and the
    input gradient computed by :func:`pooledu.avg_pool2d_backward` with the
    windows outlined in the same colours; every cell of a window receives
    ``g / divisor``, and overlapping windows add up.
    Nothing is sparse: every cell a window covers gets a share. Without
    ``grad_output`` the gradients are ``grad_scale * (1, 2, 3, ...)``; a
    ``grad_scale`` equal to the window area keeps every share a whole number.

    Returns
    -------
    dict of lists of artists: ``"grad_output"``, ``"grad_input"``, ``"windows"``,
    ``"arrows"``, ``"titles"``
    """
    H, W = input_shape
    layout = window_layout((H, W), kernel_size, stride, padding, 1, ceil_mode)
    window = (kernel_size, stride, padding, ceil_mode, count_include_pad)
    g = (default_grad_output(layout.out_size, grad_scale) if grad_output is None
         else np.asarray(grad_output, dtype=np.float64))
    gx = avg_pool2d_backward(g[None], (1, H, W), *window)[0]

    rows_total = layout.hi[0] - layout.lo[0]
    top = _centred(g.shape[0], rows_total, 0)
    art = {"grad_output": draw_output(ax, g, (0, top), name="grad_output"), "titles": []}
    art["titles"].append(panel_title(ax, g.shape[1] / 2, top, "grad_output"))
    left = g.shape[1] + 2 * GAP
    art["grad_input"] = _grad_panel(ax, gx, (left - layout.lo[1], -layout.lo[0]),
                                    "grad_input")
    origin = (left - layout.lo[1], -layout.lo[0])
    art["padding"] = [p for i in range(layout.lo[0], layout.hi[0])
                      for j in range(layout.lo[1], layout.hi[1])
                      if not (0 <= i < H and 0 <= j < W)
                      for p in draw_padding(ax, [i], [j], origin)]
    overlapping = any(r1[-1] >= r2[0] for r1, r2 in zip(layout.rows, layout.rows[1:])) or \
        any(c1[-1] >= c2[0] for c1, c2 in zip(layout.cols, layout.cols[1:]))
    art["windows"] = []
    for number, a, b, rows, cols in layout.windows():
        inset = window_inset(a, b, overlapping)
        color = window_color(number)
        art["windows"].append(outline(ax, rows[0], cols[0], len(rows), len(cols), color,
                                      origin, inset=inset, linewidth=3.0))
    width_gi = layout.hi[1] - layout.lo[1]
    # one arrow for the whole pass: the colours pair each gradient with its window
    art["arrows"] = [arrow(ax, (g.shape[1] + 0.3, rows_total / 2),
                           (left - 0.3, rows_total / 2), linewidth=2.5)]
    art["titles"].append(ax.text(g.shape[1] + GAP, rows_total / 2 - 0.2, "backward",
                                 ha="center", va="bottom", fontsize=SMALL_SIZE, color=INK))
    art["titles"].append(panel_title(ax, left + width_gi / 2, 0, "grad_input"))
    art["titles"].append(ax.text(
        left + width_gi / 2, rows_total + 0.35,
        "every cell of a window gets g / divisor;\noverlapping windows add up",
        ha="center", va="top", fontsize=SMALL_SIZE, color=INK, gid="caption"))
    finish_grid_axes(ax)
    return art
