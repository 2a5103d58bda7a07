"""Translation invariance: what a small shift of the input does to pooled outputs.

The outputs come from :func:`pooledu.max_pool2d`; the curves from
:func:`pooledu.analysis.invariance_curve`, the function lessons print from.
"""

import numpy as np
from matplotlib.lines import Line2D

from ..analysis import invariance_curve, receptive_field, shifted_pair
from ..ops import max_pool2d
from .style import (INK, MUTED, OK_COLOR, SMALL_SIZE, draw_grid, finish_grid_axes, outline,
                    panel_title, tint, window_color)
from .windows import GAP, window_layout


def draw_shift_comparison(ax, x, shift, kernel_size=2, stride=None):
    """A map and the same map shifted right by ``shift``, both max-pooled, unchanged outputs marked.

    ``x`` is a 2D map ``shift`` columns wider than the crops shown (see
    :func:`pooledu.analysis.shifted_pair`). Top row: the two crops (the
    shifted one's new left column, content that entered from outside, in
    grey). Bottom row: their max-pooled outputs; an output equal in both is
    tinted green and outlined.

    Returns
    -------
    dict of lists of artists: ``"original"``, ``"shifted"``, ``"pooled"``,
    ``"pooled_shifted"``, ``"unchanged"``, ``"titles"``
    """
    a, b = shifted_pair(np.asarray(x, dtype=np.float64), shift)
    ya = max_pool2d(a[None], kernel_size, stride)[0]
    yb = max_pool2d(b[None], kernel_size, stride)[0]
    same = ya == yb
    H, W = a.shape
    new = [[MUTED if j < shift else INK for j in range(W)] for _ in range(H)]
    art = {"original": draw_grid(ax, a, (0, 0), name="original"),
           "shifted": draw_grid(ax, b, (W + GAP, 0), name="shifted", text_colors=new),
           "titles": [panel_title(ax, W / 2, 0, "feature map"),
                      panel_title(ax, W + GAP + W / 2, 0, f"shifted right by {shift}")]}
    for left in (0, W + GAP):  # the pooling windows, as thin grey blocks
        for _, _, _, rows, cols in window_layout(a.shape, kernel_size, stride).windows():
            art["titles"].append(outline(ax, rows[0], cols[0], len(rows), len(cols), MUTED,
                                         (left, 0), inset=0.04, linewidth=1.8))
    top = H + 2.2
    n_rows, n_cols = ya.shape
    left_a, left_b = (W - n_cols) / 2, W + GAP + (W - n_cols) / 2
    faces = [[tint(OK_COLOR, 0.35) if same[i, j] else "white" for j in range(n_cols)]
             for i in range(n_rows)]
    art["pooled"] = draw_grid(ax, ya, (left_a, top), name="pooled", faces=faces)
    art["pooled_shifted"] = draw_grid(ax, yb, (left_b, top), name="pooled_shifted",
                                      faces=faces)
    art["unchanged"] = [outline(ax, i, j, 1, 1, OK_COLOR, (left, top), inset=0.06,
                                linewidth=2.5)
                        for left in (left_a, left_b) for (i, j), s in np.ndenumerate(same) if s]
    k = kernel_size
    art["titles"] += [panel_title(ax, left_a + n_cols / 2, top, f"max pool {k}×{k}"),
                      panel_title(ax, left_b + n_cols / 2, top, f"max pool {k}×{k}"),
                      ax.text((2 * W + GAP) / 2, top + n_rows + 0.35,
                              f"green: unchanged ({int(same.sum())} of {same.size} outputs); "
                              "grey digits: entered from the left",
                              ha="center", va="top", color=INK, fontsize=SMALL_SIZE + 1,
                              gid="caption")]
    ax.plot([0, 0], [top + n_rows + 0.6] * 2, alpha=0)  # room for the caption
    finish_grid_axes(ax)
    return art


def draw_invariance_curve(ax, maps, max_shift, layers=(1, 2, 3), kernel_size=2,
                          labels=None):
    """Fraction of unchanged max-pooled outputs against shift, for stacks of pooling layers.

    ``maps`` is a dict label -> (C, H, W) feature maps (one line style per
    entry); every entry gets one curve per depth in ``layers``. A dotted
    vertical line marks, for each depth, the shift of one whole output cell
    (the stack's total stride, from :func:`pooledu.analysis.receptive_field`):
    shifts left of it stay inside one window, shifts at it cross to the next.

    Returns
    -------
    list of Line2D
    """
    shifts = list(range(max_shift + 1))
    styles = ["-", "--", ":"]
    lines = []
    for m, (label, x) in enumerate(maps.items()):
        for depth in layers:
            color = window_color(depth - 1)
            f = invariance_curve(x, shifts, depth, kernel_size)
            name = f"{depth} layer{'s' * (depth > 1)}"
            lines += ax.plot(shifts, f, styles[m % 3], marker="o", color=color, linewidth=2.2,
                             label=f"{name}, {label}" if len(maps) > 1 else name)
    for depth in layers:
        jump = receptive_field([("pool", kernel_size, kernel_size)] * depth)[-1].jump
        if jump <= max_shift:
            lines.append(ax.axvline(jump, color=window_color(depth - 1), linestyle=":",
                                    linewidth=1.5))
            ax.text(jump, 1.02, f"{jump} px", color=window_color(depth - 1), ha="center",
                    va="bottom", fontsize=SMALL_SIZE, transform=ax.get_xaxis_transform())
    ax.set_xlabel("shift (pixels)")
    ax.set_ylabel("fraction of outputs unchanged")
    ax.set_xticks(shifts)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color=MUTED, linestyle=":", linewidth=1.5,
                          label="shift of one output cell"))
    ax.legend(handles=handles, loc="upper right", frameon=True, framealpha=0.95,
              edgecolor="none")
    return lines
