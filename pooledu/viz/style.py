"""The house style of every pooledu figure, in one place: colours, fonts, cells.

A figure is built from *panels*: grids of unit cells drawn on one axes in data
coordinates, cell ``(i, j)`` covering ``[x0 + j, x0 + j + 1] x [y0 + i, y0 + i + 1]``
with the y axis pointing down (as a matrix is printed). Several panels share
one axes side by side, so every cell of a figure has the same size and an
arrow from one panel to another is an ordinary ``ax.annotate``.

Every text drawn for a cell value carries a ``gid`` naming its panel
(``"input"``, ``"max"``, ``"grad_input"``, ...), so tests can read the numbers
a figure shows back from ``ax.texts`` and compare them with the kernels.
"""

from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.patches import FancyBboxPatch, Rectangle

# Okabe-Ito (black swapped for wine and yellow for dark ochre, which read better
# as tints): distinguishable with the common colour-vision deficiencies.
WINDOW_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7",
                 "#D55E00", "#56B4E9", "#8C6D1F", "#882255", "#332288"]
INK = "#222222"          # text and grid lines
MUTED = "#9a9a9a"        # zeros, inactive things
CELL_FACE = "#ffffff"
PAD_FACE = "#e4e4e4"     # implicit padding
HIGHLIGHT = "#D55E00"    # the one thing to look at (winner, current window)
OK_COLOR = "#009E73"     # "unchanged", "kept"
BAD_COLOR = "#C0392B"    # "dropped", "changed"
CMAP = "magma"           # images and heat maps

FONT_SIZE = 14           # cell values; legible when a figure fills a slide
TITLE_SIZE = 15
SMALL_SIZE = 11

RC = {
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": FONT_SIZE,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": SMALL_SIZE + 1,
    "ytick.labelsize": SMALL_SIZE + 1,
    "legend.fontsize": SMALL_SIZE + 1,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.12,
    "svg.hashsalt": "pooledu",  # deterministic ids, should SVG ever be written
    "image.cmap": CMAP,
}


@contextmanager
def house_style():
    """Context in which figures get pooledu's fonts, sizes and colours."""
    with mpl.rc_context(RC):
        yield


def window_inset(a, b, overlapping):
    """Inset of window ``(a, b)``'s outline: four levels in a checkerboard, so
    neighbouring overlapping windows never share an outline; all levels stay
    clear of the value written in the middle of a cell."""
    return 0.05 + (0.06 * (2 * (a % 2) + b % 2) if overlapping else 0.0)


def window_color(k):
    """Colour of window number ``k`` (row-major), cycling through the palette."""
    return WINDOW_COLORS[k % len(WINDOW_COLORS)]


def tint(color, amount=0.25):
    """``color`` mixed with white: ``amount=1`` is the colour, 0 is white."""
    rgb = np.array(mcolors.to_rgb(color))
    return tuple(1 - amount * (1 - rgb))


def format_value(v):
    """A cell value as printed in figures: at most three significant digits.

    >>> [format_value(v) for v in (7.0, 3.25, -0.5, 2 / 3, float("-inf"))]
    ['7', '3.25', '-0.5', '0.667', '-inf']
    """
    v = float(v)
    if np.isinf(v):
        return "-inf" if v < 0 else "inf"
    if v == int(v) and abs(v) < 1e4:
        return str(int(v))
    return f"{v:.3g}"


def draw_grid(ax, values, origin=(0, 0), name="grid", faces=None, text_colors=None,
              fontsize=FONT_SIZE, show=None, edgecolor=INK, linewidth=1.0, fmt=format_value):
    """Draw a 2D array as a grid of unit cells with their values written in them.

    Parameters
    ----------
    ax : Axes
    values : 2D array
    origin : (x0, y0)
        Data coordinates of the top-left corner.
    name : str
        ``gid`` of the value texts, so they can be found in ``ax.texts``.
    faces, text_colors : 2D arrays of colours, optional
        Per-cell face and text colours.
    show : 2D bool array, optional
        Cells whose value is written (all by default); the others stay blank.
    fmt : callable
        Turns a value into its label (default :func:`format_value`); a figure
        that rounds for display says so in its title.

    Returns
    -------
    list of Artist
        The cell rectangles, then the value texts (row-major).
    """
    values = np.asarray(values)
    x0, y0 = origin
    rects, texts = [], []
    for (i, j), v in np.ndenumerate(values):
        face = CELL_FACE if faces is None else faces[i][j]
        rects.append(ax.add_patch(Rectangle((x0 + j, y0 + i), 1, 1, facecolor=face,
                                            edgecolor=edgecolor, linewidth=linewidth,
                                            zorder=1)))
        if show is None or show[i][j]:
            color = INK if text_colors is None else text_colors[i][j]
            label = fmt(v)
            # long numbers shrink to fit; a backing box in the cell's colour keeps
            # window outlines from striking through the digits
            size = fontsize * (0.8 if len(label) > 4 else 1.0)
            texts.append(ax.text(x0 + j + 0.5, y0 + i + 0.5, label, ha="center",
                                 va="center", fontsize=size, color=color, zorder=4,
                                 gid=name, bbox=dict(boxstyle="square,pad=0.05", fc=face,
                                                     ec="none")))
    return rects + texts


def draw_padding(ax, rows, cols, origin=(0, 0), label=None):
    """Grey, hatched cells standing for implicit padding (nothing is stored there)."""
    x0, y0 = origin
    artists = []
    for i in rows:
        for j in cols:
            artists.append(ax.add_patch(Rectangle((x0 + j, y0 + i), 1, 1, facecolor=PAD_FACE,
                                                  edgecolor=MUTED, hatch="//", linewidth=0.8,
                                                  zorder=1)))
            if label is not None:
                artists.append(ax.text(x0 + j + 0.5, y0 + i + 0.5, label, ha="center",
                                       va="center", fontsize=SMALL_SIZE, color=MUTED,
                                       zorder=2, gid="padding"))
    return artists


def outline(ax, row, col, height, width, color, origin=(0, 0), inset=0.06, linewidth=3.0,
            linestyle="-", fill_alpha=0.0):
    """A rounded outline around a block of cells, ``inset`` inside its border.

    Overlapping windows get different insets, so their outlines never coincide.
    """
    x0, y0 = origin
    return ax.add_patch(FancyBboxPatch(
        (x0 + col + inset, y0 + row + inset), width - 2 * inset, height - 2 * inset,
        boxstyle="round,pad=0,rounding_size=0.12",
        facecolor=(*mcolors.to_rgb(color), fill_alpha), edgecolor=color,
        linewidth=linewidth, linestyle=linestyle, zorder=3))


def panel_title(ax, x, y, text, fontsize=TITLE_SIZE, **kwargs):
    """A title above a panel, centred at ``x``; ``y`` is the panel's top edge."""
    return ax.text(x, y - 0.3, text, ha="center", va="bottom", fontsize=fontsize, color=INK,
                   gid="title", **kwargs)


def finish_grid_axes(ax, margin=0.25):
    """Equal aspect, y pointing down, no axis lines: a canvas for panels of cells."""
    ax.set_aspect("equal")
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    y0, y1 = sorted(ax.get_ylim())
    ax.set_xlim(x0 - margin, x1 + margin)
    ax.set_ylim(y1 + margin, y0 - margin)  # inverted: row 0 on top
    ax.axis("off")


def arrow(ax, start, end, color=INK, linewidth=1.8, rad=0.0, alpha=1.0, zorder=5, shrink=4):
    """An arrow between two points in data coordinates, stopping ``shrink`` points short."""
    return ax.annotate("", xy=end, xytext=start, zorder=zorder,
                       arrowprops=dict(arrowstyle="-|>", color=color, lw=linewidth,
                                       alpha=alpha, shrinkA=4, shrinkB=shrink,
                                       mutation_scale=16,
                                       connectionstyle=f"arc3,rad={rad}"))
