"""Pooling windows on an input grid, and the pooled outputs they produce.

The window positions come from :mod:`pooledu.geometry` and every number drawn
in an output cell comes from the kernels (:func:`pooledu.max_pool2d`,
:func:`pooledu.avg_pool2d`), never from arithmetic in this file.
"""

from typing import NamedTuple

import numpy as np

from ..geometry import pool_window, window_taps
from ..ops import avg_pool2d, max_pool2d
from .style import (INK, SMALL_SIZE, draw_grid, draw_padding, finish_grid_axes,
                    format_value, outline, panel_title, tint, window_color, window_inset)

GAP = 1.6  # empty cells between two panels


class Layout(NamedTuple):
    """Where the windows of a 2D pooling lie, in input coordinates.

    ``rows[a]`` / ``cols[b]``: the tap positions of window row ``a`` / column ``b``
    (positions outside the input are padding). ``lo`` / ``hi``: the first and
    one-past-last positions any window or the padding reaches, per dimension.
    """
    window: object
    rows: list
    cols: list
    lo: tuple
    hi: tuple

    @property
    def out_size(self):
        return self.window.out_size

    def windows(self):
        """``(number, a, b, tap_rows, tap_cols)`` for each window, row-major."""
        n_cols = self.out_size[1]
        for a, rows in enumerate(self.rows):
            for b, cols in enumerate(self.cols):
                yield a * n_cols + b, a, b, rows, cols

    def taps(self, a, b):
        """The input cells ``(i, j)`` inside the input that window ``(a, b)`` reads."""
        H, W = self.window.in_size
        return [(i, j) for i in self.rows[a] for j in self.cols[b]
                if 0 <= i < H and 0 <= j < W]


def window_layout(shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The :class:`Layout` of a pooling over an input of ``shape`` (H, W)."""
    win = pool_window("window_layout", tuple(shape), kernel_size, stride, padding, dilation,
                      ceil_mode)
    taps = []
    for axis in range(2):
        k, s, p, d = (win.kernel[axis], win.stride[axis], win.padding[axis],
                      win.dilation[axis])
        taps.append([window_taps(o, k, s, p, d, shape[axis])[0]
                     for o in range(win.out_size[axis])])
    lo = tuple(min(-win.padding[a], min(t[0] for t in taps[a])) for a in range(2))
    hi = tuple(max(shape[a] + win.padding[a], max(t[-1] for t in taps[a]) + 1)
               for a in range(2))
    return Layout(win, taps[0], taps[1], lo, hi)


def draw_input_with_windows(ax, x, layout, origin=(0, 0), name="input", fill=True,
                            pad_label=None, faces=None, fmt=format_value):
    """The input grid, its padding, and every window outlined in its own colour.

    A window with dilation 1 is outlined as one block; a dilated window's taps
    are outlined one by one, so the holes between them show. Overlapping
    windows are outlined at different insets and never hide each other.
    Cells read by exactly one window are tinted in its colour (with ``fill``),
    unless ``faces`` gives every cell's colour.

    Returns
    -------
    dict
        ``"cells"`` (the grid and its texts, gid ``name``), ``"padding"``,
        ``"windows"`` (one list of outline patches per window).
    """
    x = np.asarray(x)
    H, W = x.shape
    (r0, c0), (r1, c1) = layout.lo, layout.hi
    ox, oy = origin[0] - c0, origin[1] - r0  # input cell (0, 0) sits here
    owners = {}
    for number, a, b, _, _ in layout.windows():
        for cell in layout.taps(a, b):
            owners.setdefault(cell, []).append(number)
    faces = faces or [[tint(window_color(owners[(i, j)][0]), 0.22)
              if fill and len(owners.get((i, j), ())) == 1 else "white"
              for j in range(W)] for i in range(H)]
    cells = draw_grid(ax, x, (ox, oy), name=name, faces=faces, fmt=fmt)
    pad = [(i, j) for i in range(r0, r1) for j in range(c0, c1)
           if not (0 <= i < H and 0 <= j < W)]
    padding = []
    for i, j in pad:
        padding += draw_padding(ax, [i], [j], (ox, oy), label=pad_label)
    overlapping = any(len(v) > 1 for v in owners.values())
    dilated = max(layout.window.dilation) > 1
    windows = []
    for number, a, b, rows, cols in layout.windows():
        color = window_color(number)
        inset = window_inset(a, b, overlapping)
        if dilated:
            patches = [outline(ax, i, j, 1, 1, color, (ox, oy), inset=inset + 0.04,
                               linewidth=2.5) for i in rows for j in cols]
        else:
            patches = [outline(ax, rows[0], cols[0], rows[-1] - rows[0] + 1,
                               cols[-1] - cols[0] + 1, color, (ox, oy), inset=inset,
                               linewidth=3.2)]
        windows.append(patches)
    return {"cells": cells, "padding": padding, "windows": windows}


def draw_output(ax, y, origin=(0, 0), name="output", colored=True, fmt=format_value):
    """An output grid, each cell filled with a tint of its window's colour."""
    y = np.asarray(y)
    n_cols = y.shape[1]
    faces = [[tint(window_color(i * n_cols + j), 0.45) if colored else "white"
              for j in range(n_cols)] for i in range(y.shape[0])]
    return draw_grid(ax, y, origin, name=name, faces=faces, fmt=fmt)


def _centred(panel_rows, total_rows, top):
    """y of the top edge that centres a panel of ``panel_rows`` beside ``total_rows``."""
    return top + (total_rows - panel_rows) / 2


def draw_pooling_windows(ax, x, kernel_size, stride=None, padding=0, dilation=1,
                         ceil_mode=False, fmt=format_value):
    """The canonical pooling picture: input with windows | max-pooled | average-pooled.

    ``x`` is one 2D plane. The outputs are computed here by the kernels; the
    average panel is left out when ``dilation > 1`` (``avg_pool2d`` has no
    dilation, as in PyTorch). Padding is hatched: it acts as -inf for max
    pooling and as 0 for average pooling (``count_include_pad=True``).
    ``fmt`` writes every value, input and outputs alike (default
    :func:`~pooledu.viz.style.format_value`); the outputs are always pooled
    from the unrounded ``x``.

    Returns
    -------
    dict of lists of artists: ``"input"``, ``"max"``, ``"avg"``, ``"titles"``

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> art = draw_pooling_windows(ax, x, 2)
    >>> [t.get_text() for t in ax.texts if t.get_gid() == "max"]
    ['5', '7', '13', '15']
    """
    x = np.asarray(x, dtype=np.float64)
    layout = window_layout(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    win = layout.window
    rows_total = layout.hi[0] - layout.lo[0]
    width_in = layout.hi[1] - layout.lo[1]
    art = {"input": draw_input_with_windows(ax, x, layout, fmt=fmt), "titles": []}
    art["titles"].append(panel_title(ax, width_in / 2, 0, f"input {x.shape[0]}×{x.shape[1]}"))

    y_max = max_pool2d(x[None], kernel_size, stride, padding, dilation, ceil_mode)[0]
    panels = [("max", "max pooling", y_max)]
    if max(win.dilation) == 1:
        y_avg = avg_pool2d(x[None], kernel_size, stride, padding, ceil_mode)[0]
        panels.append(("avg", "average pooling", y_avg))
    left = width_in + GAP
    for name, title, y in panels:
        top = _centred(y.shape[0], rows_total, 0)
        art[name] = draw_output(ax, y, (left, top), name=name, fmt=fmt)
        art["titles"].append(panel_title(ax, left + y.shape[1] / 2, top, title))
        left += y.shape[1] + GAP + 0.6  # room for the two titles side by side
    notes = []
    if min(layout.lo) < 0 or max(h - n for h, n in zip(layout.hi, x.shape)) > 0:
        notes.append("hatched: padding (-inf for max, 0 for average)")
    if max(win.dilation) > 1:
        notes.append(f"dilation {max(win.dilation)}: a window reads cells "
                     f"{max(win.dilation)} apart (its outlined cells)")
    if notes:
        art["titles"].append(ax.text(0, rows_total + 0.35, "\n".join(notes), ha="left",
                                     va="top", fontsize=SMALL_SIZE, color=INK,
                                     gid="caption"))
    finish_grid_axes(ax)
    return art


__all__ = ["Layout", "window_layout", "draw_input_with_windows", "draw_output",
           "draw_pooling_windows"]
