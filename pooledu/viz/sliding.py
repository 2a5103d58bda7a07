"""The sliding window, one output at a time: frames, a GIF and an interactive page.

Each frame shows the window over the input, the values it reads, and the
output filling in; every output value is taken from the kernel's result
(:func:`pooledu.max_pool2d` / :func:`pooledu.avg_pool2d`), the window's
position from :mod:`pooledu.geometry`.
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.patches import Circle

from ..ops import avg_pool2d, max_pool2d
from .style import (FONT_SIZE, INK, SMALL_SIZE, draw_grid, finish_grid_axes, format_value, outline,
                    panel_title, tint, window_color)
from .windows import GAP, _centred, draw_input_with_windows, window_layout

_MODES = {"max": max_pool2d, "avg": avg_pool2d}


def pooled(x, mode, kernel_size, stride=None, padding=0):
    """One 2D plane pooled by the kernel of ``mode`` ("max" or "avg")."""
    if mode not in _MODES:
        raise ValueError(f"pooled: mode must be 'max' or 'avg', got {mode!r}")
    return _MODES[mode](np.asarray(x, dtype=np.float64)[None], kernel_size, stride, padding)[0]


def draw_sliding_step(ax, x, step, kernel_size, stride=None, padding=0, mode="max",
                      caption_size=FONT_SIZE):
    """Frame ``step`` of the sliding window: window ``step`` (row-major) over the input.

    The current window is outlined and tinted in its colour; the output shows
    every value computed so far (gid ``"output"``), the current one outlined;
    a line underneath spells the computation out, e.g. ``max(6, 5, 8, 6) = 8``.
    For max pooling the winner, the cell the kernel's index names, is circled;
    when several cells hold the maximum the caption says which one won (the
    first in row-major order, PyTorch's rule) and the others are circled dashed.

    Returns
    -------
    dict of lists of artists: ``"input"``, ``"output"``, ``"caption"``, ``"winner"``
    """
    x = np.asarray(x, dtype=np.float64)
    layout = window_layout(x.shape, kernel_size, stride, padding)
    y = pooled(x, mode, kernel_size, stride, padding)
    n_rows, n_cols = y.shape
    a, b = divmod(step, n_cols)
    color = window_color(step)

    # the input, with only the current window drawn and the cells it reads tinted
    current = layout._replace(rows=[layout.rows[a]], cols=[layout.cols[b]])
    taps = layout.taps(a, b)
    faces = [[tint(color, 0.3) if (i, j) in taps else "white" for j in range(x.shape[1])]
             for i in range(x.shape[0])]
    art = {"input": draw_input_with_windows(ax, x, current, faces=faces)}
    for patch in art["input"]["windows"][0]:
        patch.set_edgecolor(color)
    rows_total = layout.hi[0] - layout.lo[0]
    width_in = layout.hi[1] - layout.lo[1]
    panel_title(ax, width_in / 2, 0, "input")

    left = width_in + GAP
    top = _centred(n_rows, rows_total, 0)
    done = (np.arange(y.size) <= step).reshape(y.shape)
    faces = [[tint(window_color(i * n_cols + j), 0.3) if done[i, j] else "white"
              for j in range(n_cols)] for i in range(n_rows)]
    art["output"] = draw_grid(ax, y, (left, top), name="output", faces=faces, show=done)
    art["output"].append(outline(ax, a, b, 1, 1, color, (left, top), inset=0.06,
                                 linewidth=3.2))
    panel_title(ax, left + n_cols / 2, top, f"{mode} pooling")

    values = ", ".join(format_value(x[i, j]) for i, j in taps)
    art["winner"], won = [], None
    if mode == "max":
        _, idx = max_pool2d(x[None], kernel_size, stride, padding, return_indices=True)
        winner = divmod(int(idx[0, a, b]), x.shape[1])
        tied = [t for t in taps if x[t] == x[winner] and t != winner]
        origin = (-layout.lo[1], -layout.lo[0])  # where input cell (0, 0) is drawn
        for (i, j), style in [(winner, "-")] + [(t, "--") for t in tied]:
            art["winner"].append(ax.add_patch(Circle(
                (origin[0] + j + 0.5, origin[1] + i + 0.5), 0.36, facecolor="none",
                edgecolor=INK, linewidth=2.0, linestyle=style, zorder=5)))
        won = f"winner {winner} circled"
        if tied:
            won = (f"tie: {winner} wins over {', '.join(map(str, tied))} (dashed), "
                   "first in scan order")
    art["caption"] = [
        ax.text(0, rows_total + 0.25, f"output ({a}, {b}), step {step + 1} of {y.size}",
                ha="left", va="top", color=INK, fontsize=SMALL_SIZE, gid="caption"),
        ax.text(0, rows_total + 0.95, f"{mode}({values}) = {format_value(y[a, b])}",
                ha="left", va="top", color=INK, fontsize=caption_size, gid="caption")]
    if won:
        art["caption"].append(ax.text(0, rows_total + 1.75, won, ha="left", va="top",
                                      color=INK, fontsize=SMALL_SIZE - 1, gid="caption"))
    ax.plot([0, 0], [rows_total + 2.4, rows_total + 2.4], alpha=0)  # room for the captions
    finish_grid_axes(ax)
    return art


def sliding_animation(fig, ax, x, kernel_size, stride=None, padding=0, mode="max",
                      interval=1000):
    """A :class:`~matplotlib.animation.FuncAnimation` with one frame per output cell."""
    n_frames = pooled(x, mode, kernel_size, stride, padding).size

    def update(step):
        ax.clear()
        return [a for group in draw_sliding_step(ax, x, step, kernel_size, stride, padding,
                                                 mode).values()
                for a in (group if isinstance(group, list) else [])]

    return FuncAnimation(fig, update, frames=n_frames, interval=interval, repeat=True,
                         blit=False)


# Font Awesome icons of matplotlib's player, as plain characters: the page must
# work offline, without the stylesheet it would fetch from a CDN.
_ICONS = {"fa-minus": "&minus;", "fa-fast-backward": "&#x21E4;",  # ⇤
          "fa-step-backward": "&#x2039;", "fa-play fa-flip-horizontal": "&#x25C0;",  # ‹ ◀
          "fa-pause": "&#x2016;", "fa-play": "&#x25B6;", "fa-step-forward": "&#x203A;",  # ‖ ▶ ›
          "fa-fast-forward": "&#x21E5;", "fa-plus": "+"}  # ⇥


def self_contained_html(html, title, anim_id):
    """matplotlib's ``to_jshtml`` output as a standalone, offline, deterministic page."""
    html = re.sub(r"<link rel=\"stylesheet\"\s*href=\"[^\"]*font-awesome[^\"]*\">", "", html)
    for icon, char in _ICONS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', char)
    html = re.sub(r"_anim_img([0-9a-f]{32})", f"_anim_img{anim_id}", html)
    uid = re.search(r"anim([0-9a-f]{32})", html)
    if uid:  # matplotlib names the player with a random uuid; fix it for reproducible files
        html = html.replace(uid.group(1), anim_id)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{title}</title>\n</head>\n<body style=\"font-family: sans-serif\">\n"
            f"<h2>{title}</h2>\n{html}\n</body>\n</html>\n")


def save_sliding(x, kernel_size, stride=None, padding=0, mode="max", out="figures",
                 name="sliding", cell_inches=0.55, dpi=90):
    """Write ``name.gif``, ``name.html`` (play/pause/step controls) and ``name.png`` (all frames).

    Returns
    -------
    list of Path
        The three files written.
    """
    out = Path(out)
    x = np.asarray(x, dtype=np.float64)
    y = pooled(x, mode, kernel_size, stride, padding)

    # size the frame to its content: one cell is cell_inches wide, plus room for titles
    fig, ax = plt.subplots(dpi=dpi)
    draw_sliding_step(ax, x, 0, kernel_size, stride, padding, mode)
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    figsize = ((x1 - x0) * cell_inches / 0.96, (y1 - y0) * cell_inches / 0.86)
    fig.set_size_inches(figsize)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88)
    anim = sliding_animation(fig, ax, x, kernel_size, stride, padding, mode)
    gif = out / f"{name}.gif"
    anim.save(gif, writer=PillowWriter(fps=1), dpi=dpi)
    html = out / f"{name}.html"
    anim_id = re.sub(r"[^0-9a-z]", "", name.lower())
    title = f"{mode} pooling, kernel {kernel_size}, stride {stride or kernel_size}: step by step"
    html.write_text(self_contained_html(anim.to_jshtml(fps=1, default_mode="loop"),
                                        title, anim_id))
    plt.close(fig)

    n_rows, n_cols = y.shape
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(figsize[0] * n_cols * 0.85,
                                                      figsize[1] * n_rows * 0.85),
                             squeeze=False)
    for step, ax in enumerate(axes.flat):
        draw_sliding_step(ax, x, step, kernel_size, stride, padding, mode,
                          caption_size=SMALL_SIZE + 1)
    fig.tight_layout()
    strip = out / f"{name}.png"
    fig.savefig(strip)
    plt.close(fig)
    return [gif, html, strip]
