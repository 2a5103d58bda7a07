"""Output-size arithmetic in words: the text behind ``pooledu explain``.

Every number printed comes from ``geometry``; this module only narrates it.
"""

from .geometry import adaptive_span, check_window, pool_output_size, window_taps


def explain(size, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Walk through the output size of pooling along one dimension, step by step.

    Returns the text; an invalid setting yields the rule it breaks instead of
    raising, so the explanation is always something to read.

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
    for o in range(out):
        taps, inside = window_taps(o, kernel, s, padding, dilation, size)
        note = ""
        if not any(inside):
            note = "  <- only padding: max gives -inf, average gives 0"
        elif not all(inside):
            note = f"  ({inside.count(False)} padding tap(s))"
        lines.append(f"  window {o:>3}: {taps}{note}")
    covered = {t for o in range(out) for t in window_taps(o, kernel, s, padding, dilation, size)[0]}
    unused = [i for i in range(size) if i not in covered]
    if unused:
        lines.append(f"Input positions no window reads: {_ranges(unused)}")
    return "\n".join(lines)


def explain_adaptive(size, out):
    """Walk through adaptive pooling's windows: ``[floor(i*In/Out), ceil((i+1)*In/Out))``.

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
    for i in range(out):
        start, end = adaptive_span(i, size, out)
        lines.append(f"  window {i:>3}: [{start}, {end})  {end - start} cells")
    return "\n".join(lines)


def _ranges(positions):
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, start = [], positions[0]
    for a, b in zip(positions, positions[1:] + [None]):
        if b != a + 1:
            parts.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ", ".join(parts)
