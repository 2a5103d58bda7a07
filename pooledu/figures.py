"""Every figure of the project: one table of named figures, one generator.

In the spirit of vdumoulin/conv_arithmetic, a figure's name says what it shows
and with which parameters (``windows_5x5_k3_s2_overlap``: 5x5 input, kernel 3,
stride 2, windows overlapping); :data:`FIGURES` maps each name to the function
that draws it and its parameters, and :func:`build_figures` rebuilds all of
them (or some) from scratch. Inputs come from fixed seeds and every number a
figure shows is computed by the kernels, so rebuilding gives the same files.
Output sizes are never passed in: the drawing code asks
:mod:`pooledu.geometry`.

``pooledu figures [NAME ...] [--out DIR]`` runs it from the command line.
"""

from pathlib import Path

import matplotlib
import numpy as np

# A stack in the style of VGG: pairs of 3x3 convolutions (padding 1), then 2x2/2 pooling.
VGG_STACK = [("conv", 3, 1, 1), ("conv", 3, 1, 1), ("pool", 2, 2),
             ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("pool", 2, 2),
             ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("pool", 2, 2)]

CELL_INCHES = 0.62  # size of one grid cell on the page: large enough for a slide


def _digits(shape, seed, peak=None, high=10):
    """A plane of random whole numbers ``0 .. high-1`` (fixed seed); ``peak`` puts a
    ``high + 2`` at one cell, so that overlapping windows choose the same winner."""
    x = np.random.default_rng(seed).integers(0, high, shape).astype(np.float64)
    if peak is not None:
        x[peak] = high + 2.0
    return x


def _window_title(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                  ndim=2):
    kernel = "×".join([str(kernel_size)] * ndim)
    parts = [f"kernel {kernel}", f"stride {stride or kernel_size}"]
    parts += [f"padding {padding}"] if padding else []
    parts += [f"dilation {dilation}"] if dilation > 1 else []
    parts += ["ceil_mode"] if ceil_mode else []
    return ", ".join(parts)


def _grid_png(path, draw, title=None, title_pad=28):
    """One axes of cells, the figure sized so every cell is CELL_INCHES wide."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    fig.subplots_adjust(0, 0, 1, 1)  # the axes is the figure: cells keep their size
    draw(ax)
    if title:
        ax.set_title(title, pad=title_pad)  # room for the panel titles
    x0, x1 = ax.get_xlim()
    y1, y0 = ax.get_ylim()
    fig.set_size_inches((x1 - x0) * CELL_INCHES, (y1 - y0) * CELL_INCHES)
    fig.savefig(path)
    plt.close(fig)
    return [path]


def _plot_png(path, draw, figsize, ncols=1, nrows=1, **kwargs):
    """An ordinary figure of ``nrows`` x ``ncols`` axes."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    draw(axes if axes.size > 1 else axes[0, 0])
    fig.savefig(path)
    plt.close(fig)
    return [path]


# ---------------------------------------------------------------------------
# one function per kind of figure: (out_dir, name, **parameters) -> paths written

def fig_windows(out, name, size, kernel_size, stride=None, padding=0, dilation=1,
                ceil_mode=False, seed=0):
    from .viz.windows import draw_pooling_windows
    x = _digits((size, size), seed)
    window = (kernel_size, stride, padding, dilation, ceil_mode)
    return _grid_png(out / f"{name}.png", lambda ax: draw_pooling_windows(ax, x, *window),
                     _window_title(*window))


def fig_max_routing(out, name, size, kernel_size, stride=None, padding=0, seed=0,
                    peak=None):
    from .viz.gradients import draw_max_routing
    x = _digits((size, size), seed, peak)
    return _grid_png(out / f"{name}.png",
                     lambda ax: draw_max_routing(ax, x, kernel_size, stride, padding),
                     "max pooling backward: " + _window_title(kernel_size, stride, padding))


def fig_avg_spread(out, name, size, kernel_size, stride=None, padding=0, grad_scale=1):
    from .viz.gradients import draw_avg_spread
    return _grid_png(out / f"{name}.png",
                     lambda ax: draw_avg_spread(ax, (size, size), kernel_size, stride,
                                                padding, grad_scale=grad_scale),
                     "average pooling backward: " + _window_title(kernel_size, stride,
                                                                   padding))


def fig_output_size(out, name, n, kernel_size, stride=None, padding=0, dilation=1,
                    ceil_mode=False):
    from .viz.ruler import draw_output_size
    window = (kernel_size, stride, padding, dilation, ceil_mode)
    return _grid_png(out / f"{name}.png", lambda ax: draw_output_size(ax, n, *window),
                     f"input size {n}: " + _window_title(*window, ndim=1), title_pad=6)


def fig_sliding(out, name, size, kernel_size, stride=None, mode="max", seed=0):
    from .viz.sliding import save_sliding
    return save_sliding(_digits((size, size), seed), kernel_size, stride, mode=mode, out=out,
                        name=name)


def fig_shift(out, name, size, shift, kernel_size=2, seed=0):
    from .viz.invariance import draw_shift_comparison
    x = _digits((size, size + shift), seed, high=100)  # 0..99: few ties, as in real maps
    return _grid_png(out / f"{name}.png",
                     lambda ax: draw_shift_comparison(ax, x, shift, kernel_size),
                     f"a shift of {shift} pixel{'s' * (shift > 1)} and "
                     f"{kernel_size}×{kernel_size} max pooling")


def fig_invariance_curve(out, name, max_shift, layers, kernel_size=2, seed=0):
    from .viz.invariance import draw_invariance_curve
    from .viz.photo import edge_map, load_photo
    noise = np.random.default_rng(seed).random((16, 32, 32 + max_shift))
    edges = edge_map(load_photo())  # real features, beside i.i.d. noise
    photo = np.stack([edges[r:r + 64, :64 + max_shift] for r in range(0, 256, 64)])
    maps = {"random map": noise, "photo edge map": photo}

    def draw(ax):
        draw_invariance_curve(ax, maps, max_shift, layers, kernel_size)
        ax.set_title(f"max pooling {kernel_size}×{kernel_size}/{kernel_size}, "
                     "stacked 1 to 3 times", pad=22)
    return _plot_png(out / f"{name}.png", draw, (9, 5.2))


def fig_receptive_field(out, name, layers, input_size):
    from .viz.receptive import draw_receptive_field, draw_receptive_growth

    def draw(axes):
        draw_receptive_field(axes[0, 0], layers, input_size)
        draw_receptive_growth(axes[0, 1], layers, input_size)
        axes[0, 1].set_title("receptive field size after each layer")
    return _plot_png(out / f"{name}.png", draw, (13, 5.6), ncols=2,
                     gridspec_kw={"width_ratios": [1, 1.35]})


def fig_cost(out, name, kind, **params):
    from .viz import cost
    draw = {"activations": cost.draw_activation_counts, "stem": cost.draw_stem_flops,
            "head": cost.draw_head_params}[kind]
    return _plot_png(out / f"{name}.png", lambda ax: draw(ax, **params), (8, 4.8))


def fig_photo(out, name, sizes):
    from .viz.photo import draw_pooled_photo
    def draw(axes):
        draw_pooled_photo(axes, sizes)
        axes[0, 0].figure.suptitle("one colour scale for every edge map:\nmax pooling keeps "
                                   "an edge at full strength, average pooling dilutes it")
    # constrained layout keeps the two-line title clear of the panel titles
    return _plot_png(out / f"{name}.png", draw, (3.1 * (1 + len(sizes)), 7.8),
                     ncols=1 + len(sizes), nrows=2, layout="constrained")


def fig_explorer(out, name):
    from .explorer.page import build_page
    path = out / f"{name}.html"
    path.write_text(build_page(), encoding="utf-8")
    return [path]


# ---------------------------------------------------------------------------
# THE table: figure name -> (function, parameters)

FIGURES = {
    "windows_4x4_k2_s2": (fig_windows, dict(size=4, kernel_size=2, stride=2, seed=0)),
    "windows_5x5_k3_s2_overlap": (fig_windows, dict(size=5, kernel_size=3, stride=2, seed=1)),
    "windows_4x4_k3_s2_p1": (fig_windows, dict(size=4, kernel_size=3, stride=2, padding=1,
                                               seed=2)),
    "windows_4x4_k2_s1_d2": (fig_windows, dict(size=4, kernel_size=2, stride=1, dilation=2,
                                               seed=3)),
    "routing_max_4x4_k2_s2": (fig_max_routing, dict(size=4, kernel_size=2, stride=2, seed=0)),
    "routing_max_5x5_k3_s2_shared_winner": (fig_max_routing, dict(
        size=5, kernel_size=3, stride=2, seed=1, peak=(2, 2))),
    "routing_avg_4x4_k2_s2": (fig_avg_spread, dict(size=4, kernel_size=2, stride=2,
                                                   grad_scale=4)),
    "routing_avg_5x5_k3_s2_overlap": (fig_avg_spread, dict(size=5, kernel_size=3, stride=2,
                                                           grad_scale=9)),
    "output_size_n5_k3_s2_p1": (fig_output_size, dict(n=5, kernel_size=3, stride=2,
                                                      padding=1)),
    "output_size_n6_k3_s2_ceil_extra": (fig_output_size, dict(n=6, kernel_size=3, stride=2,
                                                              ceil_mode=True)),
    "output_size_n5_k2_s2_p1_ceil_dropped": (fig_output_size, dict(
        n=5, kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    "output_size_n7_k3_s1_d2": (fig_output_size, dict(n=7, kernel_size=3, stride=1,
                                                      dilation=2)),
    "sliding_max_6x6_k2_s2": (fig_sliding, dict(size=6, kernel_size=2, stride=2, seed=4)),
    "sliding_max_5x5_k3_s1": (fig_sliding, dict(size=5, kernel_size=3, stride=1, seed=1)),
    # seed 1: 4 of 9 outputs unchanged, the typical count over seeds 0-11 (mean 4.25)
    "invariance_shift_6x6_k2_by1": (fig_shift, dict(size=6, shift=1, seed=1)),
    "invariance_curve_k2_layers1-3": (fig_invariance_curve, dict(max_shift=9,
                                                                  layers=(1, 2, 3))),
    "receptive_field_vgg_conv3_pool2": (fig_receptive_field, dict(layers=VGG_STACK,
                                                                  input_size=48)),
    "cost_activations_224_pool2x2": (fig_cost, dict(kind="activations", input_size=224,
                                                    channels=64, layers=4)),
    "cost_flops_stem_7x7_s2_vs_s1_pool": (fig_cost, dict(kind="stem", image_size=224)),
    "cost_params_head_7x7x512_fc_vs_gap": (fig_cost, dict(kind="head", channels=512, size=7,
                                                         classes=1000)),
    "photo_edges_max_avg_k2_k4_k8": (fig_photo, dict(sizes=(2, 4, 8))),
    # the interactive explorer (pooledu explore): every setting of its controls
    "explorer": (fig_explorer, {}),
}


def build_figures(names=None, out="pooledu-output", progress=True):
    """Rebuild the named figures (all of :data:`FIGURES` by default) into ``out``.

    Parameters
    ----------
    names : iterable of str, optional
        Figure names, keys of :data:`FIGURES`; all of them if None.
    out : str or Path
        Directory to write into (created if missing).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of Path
        Every file written (a sliding-window figure writes .gif, .html and .png).

    Raises
    ------
    ValueError
        If a name is not in :data:`FIGURES` (the message lists the known ones).
    """
    names = list(FIGURES) if names is None else list(names)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"build_figures: unknown figure name(s) {unknown}; "
                         f"known names: {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    from .viz.style import house_style
    backend = matplotlib.get_backend()
    matplotlib.use("Agg")  # files only, never a window
    written = []
    try:
        with house_style():
            for name in tqdm(names, desc="figures", unit="fig", disable=not progress):
                function, params = FIGURES[name]
                written += function(out, name, **params)
    finally:
        matplotlib.use(backend)
    return written


__all__ = ["FIGURES", "VGG_STACK", "build_figures"]
