"""Receptive fields: the input region one output sees, and its growth with depth.

Sizes from :func:`pooledu.analysis.receptive_field`; the heat map is the
gradient of one output with respect to the input, through the backward
kernels (:func:`pooledu.analysis.input_gradient`), so the picture checks the
formula.
"""

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from ..analysis import input_gradient, measured_receptive_field, receptive_field
from ..geometry import pool_output_size
from .style import INK, SMALL_SIZE, window_color


def _nested_spans(layers, input_size):
    """Input span ``[lo, hi)`` of one unit after each layer: for the last layer the
    centre unit (the one :func:`input_gradient` differentiates), for every
    earlier layer the unit whose field is centred closest to it, so the
    squares nest as in textbook pictures."""
    fields, sizes = receptive_field(layers)[1:], [input_size]
    for layer in layers:
        sizes.append(pool_output_size(sizes[-1], layer[1], layer[2],
                                      layer[3] if len(layer) > 3 else 0))
    last = fields[-1].span(sizes[-1] // 2)
    target = sum(last) / 2
    return [min((f.span(o) for o in range(n)), key=lambda sp: abs(sum(sp) / 2 - target))
            for f, n in zip(fields, sizes[1:])]


def draw_receptive_field(ax, layers, input_size):
    """The input, coloured by |d output / d input| of the last layer's centre unit,
    with the receptive field after every layer outlined.

    Returns
    -------
    list of Artist: the image, one square per layer with a new field size (the
    legend keys them), the legend.
    """
    g = input_gradient(layers, input_size)
    # log colours: the gradient fades fast towards the edge of the field, but is
    # non-zero on all of it
    artists = [ax.imshow(np.where(g > 0, g, np.nan), cmap="Blues", interpolation="nearest",
                         norm=LogNorm(g[g > 0].min() / 3, g.max()),
                         extent=(0, input_size, input_size, 0))]
    ax.add_patch(Rectangle((0, 0), input_size, input_size, fill=False, edgecolor=INK))
    fields = receptive_field(layers)[1:]
    sizes = [f.size for f in fields]
    keys = []
    for depth, ((lo, hi), size) in enumerate(zip(_nested_spans(layers, input_size), sizes)):
        if depth + 1 < len(sizes) and sizes[depth + 1] == size:
            continue  # the next layer draws the same square
        # An even field is not centred on the odd one inside it, so two squares can
        # share two sides; alternate a small inset and outset so both stay visible.
        e = 0.18 if len(keys) % 2 else -0.18
        square = Rectangle((lo + e, lo + e), hi - lo - 2 * e, hi - lo - 2 * e, fill=False,
                           edgecolor=window_color(depth), linewidth=2.2,
                           label=f"after {fields[depth].name}: {size} px")
        artists.append(ax.add_patch(square))
        keys.append(square)
    # the colour key, below the picture, with what the shading means
    artists.append(ax.legend(handles=keys, loc="upper center", bbox_to_anchor=(0.5, -0.01),
                             ncol=2, fontsize=SMALL_SIZE, handlelength=1.2, columnspacing=1.0,
                             title="squares: the field after each layer\n"
                                   "shading: |d output / d input|, log scale",
                             title_fontsize=SMALL_SIZE))
    ax.set_xlim(-0.5, input_size + 0.5)
    ax.set_ylim(input_size + 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"input {input_size}×{input_size}: what the last layer's\ncentre unit sees")
    return artists


def draw_receptive_growth(ax, layers, input_size=None):
    """Receptive field size after each layer: the formula, and (given ``input_size``)
    the size measured from the input gradient, as crosses on top."""
    fields = receptive_field(layers)
    depth = np.arange(len(fields))
    artists = ax.plot(depth, [f.size for f in fields], "-", color=INK, linewidth=1.5, zorder=1)
    artists.append(ax.scatter(depth, [f.size for f in fields], s=70, zorder=2,
                              c=["white"] + [window_color(i) for i in range(len(layers))],
                              edgecolors=INK, label="formula"))
    if input_size is not None:
        measured = [1] + [measured_receptive_field(layers[:i + 1], input_size)[0]
                          for i in range(len(layers))]
        artists.append(ax.scatter(depth, measured, marker="x", s=60, color="#C0392B",
                                  zorder=3, label="measured (input gradient)"))
    names = ["input"] + [f"{name} {k}/{s}" for name, k, s, *_ in layers]
    ax.set_xticks(depth, names, rotation=45, ha="right", fontsize=SMALL_SIZE)
    ax.set_ylabel("receptive field (pixels)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return artists
