"""Output size along one dimension: a ruler of cells with every window laid on it.

The number of windows, and which window ``ceil_mode`` adds or drops, come from
:func:`pooledu.geometry.pool_output_size` and
:func:`pooledu.geometry.ceil_mode_windows`; the taps of each window from
:func:`pooledu.geometry.window_taps`. Nothing here counts windows itself.
"""

from matplotlib.patches import Rectangle

from ..geometry import ceil_mode_windows, pool_output_size, window_taps
from .style import (BAD_COLOR, INK, MUTED, SMALL_SIZE, draw_padding,
                    finish_grid_axes, window_color)

ROW = 0.9  # vertical distance between two windows' rows


def _formula_lines(n, k, s, p, d, ceil_mode):
    """The output-size formula, then the same with the numbers substituted."""
    bracket = (r"\lceil", r"\rceil") if ceil_mode else (r"\lfloor", r"\rfloor")
    general = (rf"$\mathrm{{out}} = {bracket[0]}\,(n + 2p - d\,(k-1) - 1)\;/\;s\,"
               rf"{bracket[1]} + 1$")
    filled = (rf"$= {bracket[0]}\,({n} + 2\cdot{p} - {d}\cdot({k}-1) - 1)\;/\;{s}\,"
              rf"{bracket[1]} + 1$")
    floor_count, ceil_count, dropped = ceil_mode_windows(n, k, s, p, d)
    if not ceil_mode:
        return [general, f"{filled} = {floor_count}"]
    if dropped is None:
        extra = ceil_count - floor_count
        note = (f"(ceil_mode adds {extra} window{'s' * (extra != 1)}; "
                f"floor would give {floor_count})" if extra else "(the same as floor)")
        return [general, f"{filled} = {ceil_count}", note]
    return [general, f"{filled} = {dropped + 1}",
            f"window {dropped} would start in the right padding, so it is dropped: "
            f"out = {ceil_count}"]


def draw_output_size(ax, input_size, kernel_size, stride=None, padding=0, dilation=1,
                     ceil_mode=False, formula=True):
    """A 1D ruler of input cells and padding with every window at its stride.

    Row 0 is the ruler: input cells numbered ``0 .. n-1``, padding hatched,
    and cells beyond the padding (reached only by a ``ceil_mode`` window)
    dotted. Below it one row per window: a square on each tap, filled where
    the tap reads the input and hollow where it falls on padding; dilated
    taps show their gaps. A window that exists only because of ``ceil_mode``
    is dashed; a window ``ceil_mode`` drops is drawn crossed out in red.
    With ``formula``, the output-size formula and its substituted numbers
    are written underneath.

    Returns
    -------
    dict of lists of artists: ``"ruler"``, ``"windows"``, ``"labels"``, ``"formula"``

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> art = draw_output_size(ax, 5, 3, 2, padding=1)
    >>> len(art["windows"])
    3
    """
    n, k, p, d = input_size, kernel_size, padding, dilation
    s = k if stride is None else stride
    out = pool_output_size(n, k, s, p, d, ceil_mode)
    floor_count, _, dropped = ceil_mode_windows(n, k, s, p, d)
    shown = list(range(out)) + ([dropped] if ceil_mode and dropped is not None else [])
    taps = {o: window_taps(o, k, s, p, d, n)[0] for o in shown}
    lo = min(-p, min(t[0] for t in taps.values()))
    hi = max(n + p, max(t[-1] for t in taps.values()) + 1)

    art = {"ruler": [], "windows": [], "labels": [], "formula": []}
    for i in range(lo, hi):
        if 0 <= i < n:
            art["ruler"].append(ax.add_patch(Rectangle((i, 0), 1, 1, facecolor="white",
                                                       edgecolor=INK, linewidth=1.2)))
            art["ruler"].append(ax.text(i + 0.5, 0.5, str(i), ha="center", va="center",
                                        gid="index"))
        elif -p <= i < n + p:
            art["ruler"] += draw_padding(ax, [0], [i])
        else:
            art["ruler"].append(ax.add_patch(Rectangle((i, 0), 1, 1, facecolor="none",
                                                       edgecolor=MUTED, linestyle=":",
                                                       linewidth=1.2)))
    art["labels"].append(ax.text(lo - 0.25, 0.5, "input", ha="right", va="center", gid="label"))

    for row, o in enumerate(shown, start=1):
        y = 0.7 + row * ROW
        is_dropped = ceil_mode and o == dropped
        is_extra = ceil_mode and o >= floor_count and not is_dropped
        color = BAD_COLOR if is_dropped else window_color(o)
        style = "--" if (is_extra or is_dropped) else "-"
        t = taps[o]
        artists = ax.plot([t[0] + 0.5, t[-1] + 0.5], [y, y], color=color, linewidth=2.5,
                          linestyle=style, zorder=2)
        for tap in t:
            inside = 0 <= tap < n
            artists.append(ax.add_patch(Rectangle(
                (tap + 0.22, y - 0.28), 0.56, 0.56, zorder=3, linewidth=2.2,
                facecolor=color if inside else "white", edgecolor=color,
                linestyle="-" if inside else (0, (2, 1.5)))))
        if is_dropped:
            artists += ax.plot([t[0] + 0.1, t[-1] + 0.9], [y - 0.35, y + 0.35], color=color,
                               linewidth=2.5, zorder=4)
        art["windows"].append(artists)
        label = f"window {o}" + (" (ceil_mode)" if is_extra else "") + \
            (": dropped" if is_dropped else "")
        art["labels"].append(ax.text(lo - 0.25, y, label, ha="right", va="center",
                                     color=color, fontsize=SMALL_SIZE + 1, gid="label"))

    y = 0.7 + (len(shown) + 1) * ROW
    if any(not 0 <= t < n for ts in taps.values() for t in ts):
        art["labels"].append(ax.text(lo, y - 0.05, "filled: the tap reads the input;  "
                                     "hollow: it falls on padding or beyond",
                                     ha="left", va="center", fontsize=SMALL_SIZE, color=INK,
                                     gid="label"))
        y += 0.6
    if formula:
        for line in _formula_lines(n, k, s, p, d, ceil_mode):
            art["formula"].append(ax.text(lo, y, line, ha="left", va="top", color=INK,
                                          gid="formula"))
            y += 0.75
        ax.plot([lo, lo], [y - 0.5, y - 0.5], alpha=0)  # include the text in the limits
    finish_grid_axes(ax)
    return art


__all__ = ["draw_output_size"]
