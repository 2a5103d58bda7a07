"""The explorer in Jupyter: the page's controls as widgets, calling the kernels live on any array.

``pooledu.explore()`` shows the demo plane of the page; ``pooledu.explore(x)``
pools the learner's own array (a 2D plane, or an RGB image, averaged to one
channel). Each change of a control runs :func:`pooledu.max_pool2d` (with its
indices) or :func:`pooledu.avg_pool2d` and the matching backward function
again, and redraws: cells with their values for a small plane, images for a
large one. A setting that breaks a rule shows the kernel's own message.
"""

import html

import numpy as np

from ..explain import explain
from ..geometry import window_taps
from ..ops import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from ..viz.style import HIGHLIGHT, window_color
from .data import CONTROLS, DEFAULTS, demo_input

CELLS_UP_TO = 12  # planes up to 12x12 are drawn as cells with values, larger ones as images


def as_plane(x):
    """A float32 plane from a 2D array, or from an (H, W, 3|4) image (channels averaged).

    >>> as_plane(np.ones((2, 3, 5))).shape
    Traceback (most recent call last):
    ...
    ValueError: explore: x must be a 2D array or an (H, W, 3) or (H, W, 4) image, got shape (2, 3, 5)
    >>> as_plane(np.zeros((4, 5, 3), np.uint8)).shape
    (4, 5)
    """
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(np.float32).mean(axis=-1)  # colour to grey: the mean of R, G, B
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"explore: x must be a 2D array or an (H, W, 3) or (H, W, 4) image, "
                         f"got shape {np.shape(x)}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise TypeError(f"explore: x must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float32)


def pool(plane, kernel, stride, padding, dilation, ceil_mode, mode, count_include_pad, step=None):
    """Run the kernels on ``plane`` for one setting, as the explorer shows it.

    Returns a dict: ``y`` (the output), ``idx`` (max only), ``grad`` (the
    backward kernel's input gradient for gradient 1 on outputs ``0 .. step``,
    row-major; every output when ``step`` is None), ``taps`` (each window's
    tap positions along rows and columns); or ``error``, the message of the
    ``ValueError`` the kernel's checks raised.

    >>> r = pool(np.arange(16.0).reshape(4, 4), 2, 2, 0, 1, False, "max", True)
    >>> r["y"].tolist(), r["grad"].tolist()[1]
    ([[5.0, 7.0], [13.0, 15.0]], [0.0, 1.0, 0.0, 1.0])
    >>> pool(np.zeros((4, 4)), 1, 1, 1, 1, False, "max", True)["error"][:40]
    'max_pool2d: padding must be at most half'
    """
    x = np.asarray(plane, np.float32)[None]  # (C=1, H, W)
    try:
        if mode == "max":
            window = (kernel, stride, padding, dilation, ceil_mode)
            y, idx = max_pool2d(x, *window, return_indices=True)
        elif mode == "avg":
            if dilation != 1:
                raise ValueError(f"avg_pool2d has no dilation argument, got dilation={dilation}")
            window = (kernel, stride, padding, ceil_mode, count_include_pad)
            y, idx = avg_pool2d(x, *window), None
        else:
            raise ValueError(f"explore: mode must be 'max' or 'avg', got {mode!r}")
    except ValueError as err:
        return {"error": str(err)}
    last = y.size - 1 if step is None else min(step, y.size - 1)
    g = (np.arange(y.size) <= last).astype(np.float32).reshape(y.shape)
    grad = (max_pool2d_backward(g, idx, x.shape, *window) if mode == "max"
            else avg_pool2d_backward(g, x.shape, *window))
    taps = [[window_taps(o, kernel, stride, padding, dilation, n)[0] for o in range(m)]
            for n, m in zip(x.shape[1:], y.shape[1:])]
    return {"y": y[0], "idx": None if idx is None else idx[0], "grad": grad[0], "taps": taps,
            "step": last}


def _draw_cells(ax, values, shown, padding, taps, winner, color, title):
    """A small plane as cells with values (the figures' style), the window's taps outlined."""
    from ..viz.style import draw_grid, draw_padding, finish_grid_axes, outline, tint
    H, W = values.shape
    rows, cols = taps if taps else ([], [])
    lo_r, lo_c = min([-padding] + rows), min([-padding] + cols)
    hi_r, hi_c = max([H - 1 + padding] + rows), max([W - 1 + padding] + cols)
    origin = (-lo_c, -lo_r)
    faces = [["white"] * W for _ in range(H)]
    for i in rows:
        for j in cols:
            if 0 <= i < H and 0 <= j < W:
                faces[i][j] = tint(color, 0.3)
    draw_grid(ax, values, origin, name=title, faces=faces, show=shown)
    pad = [(i, j) for i in range(lo_r, hi_r + 1) for j in range(lo_c, hi_c + 1)
           if not (0 <= i < H and 0 <= j < W) and -padding <= i < H + padding
           and -padding <= j < W + padding]
    for i, j in pad:
        draw_padding(ax, [i], [j], origin)
    for i in rows:
        for j in cols:
            outline(ax, i, j, 1, 1, color, origin, inset=0.05, linewidth=2.5)
    if winner is not None:
        outline(ax, winner[0], winner[1], 1, 1, HIGHLIGHT, origin, inset=0.12, linewidth=3.5)
    ax.set_title(title)
    finish_grid_axes(ax)


def _draw_image(ax, values, taps, winner, color, title):
    """A large plane as an image, the window's taps marked."""
    ax.imshow(values, cmap="magma" if title != "input" else "gray", interpolation="nearest")
    if taps:
        ii, jj = np.meshgrid(*taps, indexing="ij")
        ax.scatter(jj.ravel(), ii.ravel(), s=12, color=color, marker="s")
    if winner is not None:
        ax.scatter([winner[1]], [winner[0]], s=60, facecolors="none", edgecolors=HIGHLIGHT,
                   linewidths=2)
    ax.set_title(title)
    ax.set_axis_off()


def draw(fig, plane, result, padding, mode):
    """Input, output so far, and input gradient, side by side on ``fig`` (three axes)."""
    axes = fig.subplots(1, 3)
    step = result["step"]
    n_cols = result["y"].shape[1]
    a, b = divmod(step, n_cols)
    color = window_color(step)
    taps = (result["taps"][0][a], result["taps"][1][b])
    w = -1 if result["idx"] is None else int(result["idx"][a, b])
    winner = divmod(w, plane.shape[1]) if w >= 0 else None
    done = (np.arange(result["y"].size) <= step).reshape(result["y"].shape)
    small = max(plane.shape) <= CELLS_UP_TO
    titles = ("input", f"{'max' if mode == 'max' else 'average'} pooling",
              "gradient at the input")
    if small:
        _draw_cells(axes[0], plane, None, padding, list(map(list, taps)), winner, color, titles[0])
        _draw_cells(axes[1], result["y"], done, 0, None, None, color, titles[1])
        _draw_cells(axes[2], result["grad"], None, 0, None, winner, color, titles[2])
    else:
        _draw_image(axes[0], plane, taps, winner, color, titles[0])
        _draw_image(axes[1], np.where(done, result["y"], np.nan), None, None, color, titles[1])
        _draw_image(axes[2], result["grad"], None, winner, color, titles[2])
    return axes


def explore(x=None, **settings):
    """Interactive pooling in a notebook: the explorer page's controls, calling the kernels live.

    Parameters
    ----------
    x : array_like, optional
        The plane to pool: a 2D array or an (H, W, 3) image. By default the
        page's demo plane, whose size is then a control too.
    **settings
        Starting values of the controls: ``size``, ``kernel``, ``stride``,
        ``padding``, ``dilation``, ``ceil_mode``, ``mode`` ("max" or "avg"),
        ``count_include_pad`` (the page's defaults otherwise).

    Returns
    -------
    ipywidgets.VBox
        The controls and the drawing. Its ``controls`` attribute maps each
        control's name to its widget, and ``result`` holds what the kernels
        returned for the current setting (see :func:`pool`).

    Examples
    --------
    >>> box = explore(np.arange(36.0).reshape(6, 6), kernel=2, stride=2, padding=0)
    >>> box.result["y"].tolist()[0]
    [7.0, 9.0, 11.0]
    >>> box.controls["padding"].value = 2      # breaks a rule: the kernel's message is kept
    >>> box.result["error"][:40]
    'max_pool2d: padding must be at most half'
    """
    try:
        import ipywidgets as widgets
    except ImportError as err:  # an optional extra
        raise ImportError("pooledu.explore() needs ipywidgets: pip install 'pooledu[explore]'") from err
    import matplotlib.pyplot as plt
    try:
        from IPython import get_ipython
        in_notebook = get_ipython() is not None
    except ImportError:
        in_notebook = False

    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"explore: unknown setting(s) {sorted(unknown)}; "
                        f"the controls are {', '.join(DEFAULTS)}")
    start = dict(DEFAULTS, **settings)
    own = x is not None
    plane = as_plane(x) if own else demo_input(start["size"])

    def choice(name, label):
        values = CONTROLS[name]
        if start[name] not in values:
            values = sorted(set(values) | {start[name]})
        return widgets.Dropdown(options=values, value=start[name], description=label)

    controls = {
        "size": choice("size", "input size"),
        "kernel": choice("kernel", "kernel"), "stride": choice("stride", "stride"),
        "padding": choice("padding", "padding"), "dilation": choice("dilation", "dilation"),
        "ceil_mode": widgets.Checkbox(value=start["ceil_mode"], description="ceil_mode"),
        "mode": widgets.ToggleButtons(options=[("max", "max"), ("average", "avg")],
                                      value=start["mode"], description="mode"),
        "count_include_pad": widgets.Checkbox(value=start["count_include_pad"],
                                              description="count_include_pad"),
        "step": widgets.IntSlider(value=0, min=0, max=0, description="window"),
    }
    controls["size"].disabled = own  # the learner's array has its own size
    play = widgets.Play(interval=900, description="play")
    widgets.jslink((play, "value"), (controls["step"], "value"))
    rule = widgets.HTML()
    text = widgets.HTML()
    canvas = widgets.Output()
    box = widgets.VBox([
        widgets.HBox([controls[n] for n in ("size", "kernel", "stride", "padding")]),
        widgets.HBox([controls[n] for n in ("dilation", "ceil_mode", "mode", "count_include_pad")]),
        widgets.HBox([play, controls["step"]]), rule, canvas, text])
    box.controls = controls

    syncing = False  # True while update() itself moves the window slider

    def update(change=None):
        nonlocal plane, syncing
        if syncing:
            return
        new_setting = change is None or change.owner is not controls["step"]
        c = {name: w.value for name, w in controls.items()}
        if new_setting:
            c["step"] = None  # a new setting opens on its finished output, as on the page
        if not own and plane.shape[0] != c["size"]:
            plane = demo_input(c["size"])
        avg = c["mode"] == "avg"
        controls["dilation"].disabled = avg  # avg_pool2d has no dilation
        controls["count_include_pad"].disabled = not avg
        result = pool(plane, c["kernel"], c["stride"], c["padding"], 1 if avg else c["dilation"],
                      c["ceil_mode"], c["mode"], c["count_include_pad"], c["step"])
        box.result = result
        window = (c["kernel"], c["stride"], c["padding"], 1 if avg else c["dilation"],
                  c["ceil_mode"])
        H, W = plane.shape
        text.value = "".join(f"<h4>{what}</h4><pre>{html.escape(explain(n, *window))}</pre>"
                             for what, n in ((("rows and columns", H),) if H == W else
                                             (("rows", H), ("columns", W))))
        if in_notebook:
            canvas.clear_output(wait="error" not in result)
        if "error" in result:
            rule.value = ("<div style='border-left:6px solid #C0392B;padding:6px 10px'>"
                          "<b>This setting breaks a rule.</b> pooledu says: "
                          f"<code>{html.escape(result['error'])}</code></div>")
            return
        out = result["y"].shape
        syncing = True
        try:
            controls["step"].max = play.max = result["y"].size - 1
            controls["step"].value = result["step"]
        finally:
            syncing = False
        rule.value = f"<b>output size {out[0]} × {out[1]}</b>"
        if not in_notebook:
            return  # no output area to draw in (a script or a doctest): the results are enough
        with canvas:
            fig = plt.figure(figsize=(12, 4.2), layout="constrained")
            draw(fig, plane, result, c["padding"], c["mode"])
            plt.show()  # in a notebook: shown in the output area (inline backend)
            plt.close(fig)

    for w in controls.values():
        w.observe(update, names="value")
    update()
    return box
