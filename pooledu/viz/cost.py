"""What pooling saves: activations, FLOPs, parameters, as bar charts.

Every bar's height comes from a function in :mod:`pooledu.analysis`.
"""

import re

from ..analysis import activation_counts, head_params, stem_flops
from ..geometry import pool_output_size
from .style import INK, SMALL_SIZE, window_color


def _bars(ax, labels, values, fmt, colors=None):
    """Bars with their values written on top; returns the bar container and texts."""
    colors = colors or [window_color(i) for i in range(len(values))]
    bars = ax.bar(range(len(values)), values, color=colors, width=0.65)
    texts = [ax.text(i, v, fmt(v), ha="center", va="bottom", color=INK, gid="value",
                     fontsize=SMALL_SIZE + 1)
             for i, v in enumerate(values)]
    ax.set_xticks(range(len(values)), labels)
    ax.set_ylim(0, max(values) * 1.15)
    ax.spines["left"].set_visible(False)
    ax.set_yticks([])
    return [bars] + texts


def _millions(v):
    return f"{v / 1e6:,.2f} M" if v < 1e7 else f"{v / 1e6:,.1f} M"


def draw_activation_counts(ax, input_size=224, channels=64, layers=4):
    """Activations of a (channels, n, n) map after each 2x2/2 max pooling layer."""
    counts = activation_counts(input_size, channels, layers)
    labels = [f"{n}×{n}" + ("\n(input)" if i == 0 else f"\nafter {i}")
              for i, (n, _) in enumerate(counts)]
    art = _bars(ax, labels, [c for _, c in counts], _millions)
    ax.set_title(f"activations of a {channels}-channel map,\n2×2 stride-2 pooling layers "
                 "(each keeps 1/4)")
    return art


def draw_stem_flops(ax, image_size=224, in_channels=3, channels=64, kernel_size=7):
    """FLOPs of a 7x7 stride-2 stem against stride 1 followed by 2x2/2 pooling."""
    flops = stem_flops(image_size, in_channels, channels, kernel_size)
    labels = [re.sub(r"(\d)x(\d)", r"\1×\2", k).replace(" + ", "\n+ ") for k in flops]
    art = _bars(ax, labels, list(flops.values()), lambda v: f"{v / 1e6:,.0f} MFLOPs")
    n = pool_output_size(image_size, kernel_size, 2, kernel_size // 2)
    ax.set_title(f"the same {n}×{n}×{channels} output from a "
                 f"{image_size}×{image_size}×{in_channels} image\n"
                 "(2 FLOPs per multiply-add, 1 per comparison)")
    return art


def draw_head_params(ax, channels=512, size=7, classes=1000):
    """Weights of flatten+FC against global average pooling+FC."""
    params = head_params(channels, size, classes)
    art = _bars(ax, list(params), list(params.values()), lambda v: f"{v:,}")
    ax.set_title(f"classifier weights on a {size}×{size}×{channels} map, {classes} classes")
    return art
