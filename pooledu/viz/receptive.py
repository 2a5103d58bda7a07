"""Receptive fields: the input region one output sees, and its growth with depth.

Sizes from :func:`pooledu.analysis.receptive_field`; the heat map is the
gradient of one output with respect to the input, through the backward
kernels (:func:`pooledu.analysis.input_gradient`), so the picture checks the
formula.
"""

import numpy as np
from matplotlib.patches import Rectangle

from ..analysis import input_gradient, measured_receptive_field, receptive_field
from ..geometry import pool_output_size
from .style import INK, SMALL_SIZE, window_color


def _centre_spans(layers, input_size):
    """Input span ``[lo, hi)`` of the centre unit after each layer (the unit
    :func:`input_gradient` differentiates at the last layer)."""
    fields, n, spans = receptive_field(layers), input_size, []
    for layer, f in zip(layers, fields[1:]):
        n = pool_output_size(n, layer[1], layer[2], layer[3] if len(layer) > 3 else 0)
        lo = (n // 2) * f.jump - f.start
        spans.append((lo, lo + f.size))
    return spans


def draw_receptive_field(ax, layers, input_size):
    """The input, coloured by |d output / d input| of the last layer's centre unit,
    with the receptive field after every layer outlined.

    Returns
    -------
    list of Artist: the image, then one rectangle and one label per layer.
    """
    g = input_gradient(layers, input_size)
    artists = [ax.imshow(np.where(g > 0, g, np.nan), cmap="Blues", vmin=0,
                         extent=(0, input_size, input_size, 0), interpolation="nearest")]
    ax.add_patch(Rectangle((0, 0), input_size, input_size, fill=False, edgecolor=INK))
    sizes = [f.size for f in receptive_field(layers)[1:]]
    for depth, ((lo, hi), size) in enumerate(zip(_centre_spans(layers, input_size), sizes)):
        if depth and size == sizes[depth - 1]:
            continue  # same square as the layer before
        color = window_color(depth)
        artists.append(ax.add_patch(Rectangle((lo, lo), hi - lo, hi - lo, fill=False,
                                              edgecolor=color, linewidth=2)))
    ax.set_xlim(-0.5, input_size + 0.5)
    ax.set_ylim(input_size + 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"input {input_size}×{input_size}: what the last\nlayer's centre unit sees")
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
