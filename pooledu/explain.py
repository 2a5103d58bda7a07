"""Output-size arithmetic in words: the text behind ``pooledu explain``.

Every number printed comes from ``geometry``; this module only narrates it.
Long listings are cut to their first and last windows unless asked for whole.
"""

import numpy as np

from .geometry import adaptive_span, check_window, pool_output_size, window_taps


MAX_WINDOWS = 40  # listings longer than this show their first and last windows
MAX_TAPS = 12     # and windows wider than this their first and last taps


def explain(size, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
            max_windows=MAX_WINDOWS):
    """Walk through the output size of pooling along one dimension, step by step.

    Returns the text; an invalid setting yields the rule it breaks instead of
    raising, so the explanation is always something to read. At most
    ``max_windows`` windows are listed (the first and the last ones; None
    lists every window and every tap).

    Examples
    --------
    >>> print(explain(5, 2).splitlines()[0])
    Pooling one dimension: input 5, kernel 2, stride 2, padding 0, dilation 1, floor mode
    """
    s = kernel if stride is None else stride
    mode = "ceil mode" if ceil_mode else "floor mode"
    lines = [f"Pooling one dimension: input {size}, kernel {kernel}, stride {s}, "
             f"padding {padding}, dilation {dilation}, {mode}"]
    try:
        check_window(kernel, s, padding, dilation, "explain")
        out = pool_output_size(size, kernel, s, padding, dilation, ceil_mode)
    except (ValueError, TypeError) as err:
        lines.append(f"invalid: {str(err).removeprefix('explain: ').removeprefix('pool_output_size: ')}")
        return "\n".join(lines)

    extent = dilation * (kernel - 1) + 1
    span = size + 2 * padding - extent
    rounding = "ceil" if ceil_mode else "floor"
    quotient = -(-span // s) if ceil_mode else span // s
    lines += [
        "",
        f"1. one window spans d*(k-1) + 1 = {dilation}*({kernel}-1) + 1 = {extent} cells",
        f"2. the padded input has in + 2p = {size} + 2*{padding} = {size + 2 * padding} cells",
        f"3. out = {rounding}((in + 2p - d*(k-1) - 1) / s) + 1",
        f"       = {rounding}(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {s}) + 1",
        f"       = {rounding}({span} / {s}) + 1 = {quotient} + 1 = {quotient + 1}",
    ]
    if ceil_mode:
        last = quotient * s
        if quotient + 1 != out:
            lines.append(f"4. the last window would start at {last} - {padding} = {last - padding}, "
                         f"inside the right padding ((out-1)*s = {last} >= in + p = {size + padding}): "
                         f"it is dropped, out = {out}")
        else:
            lines.append(f"4. the last window starts at {last} - {padding} = {last - padding}, "
                         f"before the right padding ((out-1)*s = {last} < in + p = {size + padding}): "
                         f"kept, out = {out}")
        try:
            floor_out = pool_output_size(size, kernel, s, padding, dilation, False)
        except ValueError:  # a window longer than the padded input: only ceil mode fits one
            floor_out = 0
        if floor_out != out:
            lines.append(f"   ceil mode adds {out - floor_out} window(s) that floor mode would leave out")
    lines += ["", f"Output size: {out}", "", "Windows (input positions of the taps; <0 or >= "
              f"{size} is padding):"]
    for o in _shown(out, max_windows):
        if o is None:
            lines.append(f"  ... {out - max_windows} more windows (pooledu explain --all lists them) ...")
            continue
        taps, inside = window_taps(o, kernel, s, padding, dilation, size)
        note = ""
        if not any(inside):
            note = "  <- only padding: max gives -inf, average gives 0"
        elif not all(inside):
            note = f"  ({inside.count(False)} padding tap(s))"
        lines.append(f"  window {o:>3}: {_taps(taps, max_windows is None)}{note}")
    unused = _unread(size, out, kernel, s, padding, dilation)
    if unused:
        lines.append(f"Input positions no window reads: {_ranges(unused, max_windows is None)}")
    return "\n".join(lines)


def explain_adaptive(size, out, max_windows=MAX_WINDOWS):
    """Walk through adaptive pooling's windows: ``[floor(i*In/Out), ceil((i+1)*In/Out))``.

    At most ``max_windows`` windows are listed (None: all).

    Examples
    --------
    >>> print(explain_adaptive(10, 3).splitlines()[-1])
      window   2: [6, 10)  4 cells
    """
    lines = [f"Adaptive pooling one dimension: input {size} into {out} windows"]
    if size < 1 or out < 1:
        lines.append(f"invalid: input and output sizes must be positive, got input {size}, output {out}")
        return "\n".join(lines)
    lines += ["start = floor(i * In / Out), end = ceil((i + 1) * In / Out), in integers:",
              "start = (i * In) // Out,   end = ((i + 1) * In + Out - 1) // Out", ""]
    for i in _shown(out, max_windows):
        if i is None:
            lines.append(f"  ... {out - max_windows} more windows (pooledu explain --all lists them) ...")
            continue
        start, end = adaptive_span(i, size, out)
        lines.append(f"  window {i:>3}: [{start}, {end})  {end - start} cells")
    return "\n".join(lines)


def _shown(count, max_windows):
    """Window indices to list: all of them, or the first and last few with None for the gap."""
    if max_windows is None or count <= max_windows:
        return list(range(count))
    tail = max(1, max_windows // 5)
    return list(range(max_windows - tail)) + [None] + list(range(count - tail, count))


def _taps(taps, whole):
    if whole or len(taps) <= MAX_TAPS:
        return str(taps)
    return f"[{', '.join(map(str, taps[:8]))}, ... {len(taps) - 10} more ..., {taps[-2]}, {taps[-1]}]"


def _unread(size, out, kernel, stride, padding, dilation):
    """Input positions that no window reads, counted tap by tap over all windows at once."""
    read = np.zeros(size, bool)
    starts = np.arange(out, dtype=np.int64) * stride - padding
    for u in range(kernel):
        taps = starts + dilation * u
        read[taps[(taps >= 0) & (taps < size)]] = True
    return np.flatnonzero(~read).tolist()


def _ranges(positions, whole=True, limit=20):
    """[0, 1, 2, 5] -> '0-2, 5'; at most ``limit`` ranges unless ``whole``."""
    parts, start = [], positions[0]
    for a, b in zip(positions, positions[1:] + [None]):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    if not whole and len(parts) > limit:
        return ", ".join(parts[:limit]) + f", ... ({len(parts) - limit} more ranges, {len(positions)} positions in all)"
    return ", ".join(parts)
