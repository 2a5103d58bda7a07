"""The pooling formulas, each written once as a scalar function.

Every function here computes *one* output value (forward) or *one* input
gradient (backward) for one (n, c) plane. They are ``register_jitable``, so the
same source is compiled into the CPU schedules (``cpu.py``) and the CUDA
schedules (``cuda.py``), and is also plain Python you can call and read.

Notation: ``x`` is one input plane of shape (H, W); output position (i, j);
kernel (kh, kw), stride (sh, sw), padding (ph, pw), dilation (dh, dw).
Backward passes are gathers: each input cell sums the contributions of the
windows that contain it, so no two threads ever write the same cell.
"""

import math

import numpy as np
from numba.extending import register_jitable

from .geometry import windows_touching


# ---------------------------------------------------------------------------
# max pooling

@register_jitable
def max_wins(val, best, arg):
    """The max rule: a tap wins if nothing was taken yet (arg < 0), if it is
    larger, or if it is NaN (so NaN propagates and ties keep the first)."""
    return (arg < 0) | (val > best) | math.isnan(val)


@register_jitable
def max_window(x, i, j, kh, kw, sh, sw, ph, pw, dh, dw):
    """y[i, j] = max over (u, v) of x[sh*i - ph + dh*u, sw*j - pw + dw*v].

    Taps outside the plane (padding) are skipped. Scanning row by row, a tap
    wins when ``v > best or v is NaN``, so NaN propagates and ties keep the
    first occurrence. Returns the value and its flat index ``h*W + w`` in the
    plane; a window with no tap inside the plane gives (-inf, -1).
    """
    H, W = x.shape
    best = x.dtype.type(-math.inf)
    arg = -1
    for u in range(kh):
        h = sh * i - ph + dh * u
        if h < 0 or h >= H:
            continue
        for v in range(kw):
            w = sw * j - pw + dw * v
            if w < 0 or w >= W:
                continue
            val = x[h, w]
            if max_wins(val, best, arg):
                best = val
                arg = h * W + w
    return best, arg


@register_jitable
def max_grad_cell(g, idx, h, w, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """dL/dx[h, w] = sum of g[i, j] over the windows (i, j) whose argmax is (h, w).

    Windows are visited in row-major order, the order in which a serial
    scatter would add them, so the sum is bitwise reproducible.
    """
    OH, OW = g.shape
    i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
    j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
    target = h * W + w
    total = g.dtype.type(0)
    for i in range(i0, i1):
        for j in range(j0, j1):
            if idx[i, j] == target:
                total += g[i, j]
    return total


# ---------------------------------------------------------------------------
# average pooling

@register_jitable
def avg_span(o, k, s, p, n):
    """Window ``o`` along one dimension: in-bounds ``[lo, hi)`` and its length
    inside the padded input (a ceil_mode window is cut at the right padding)."""
    lo = o * s - p
    hi = min(lo + k, n + p)
    padded = hi - lo
    return max(lo, 0), min(hi, n), padded


@register_jitable
def avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad, divisor_override):
    """What the window sum is divided by (``divisor_override=0`` means none)."""
    if divisor_override != 0:
        return divisor_override
    if count_include_pad:
        return hpad * wpad
    return (h1 - h0) * (w1 - w0)


@register_jitable
def avg_window(x, i, j, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y[i, j] = (1 / divisor) * sum over (u, v) of x[sh*i - ph + u, sw*j - pw + v].

    The sum runs over the cells inside the plane, row by row; a window with no
    such cell gives 0.
    """
    H, W = x.shape
    h0, h1, hpad = avg_span(i, kh, sh, ph, H)
    w0, w1, wpad = avg_span(j, kw, sw, pw, W)
    total = x.dtype.type(0)
    if h0 >= h1 or w0 >= w1:
        return total
    for h in range(h0, h1):
        for w in range(w0, w1):
            total += x[h, w]
    divisor = avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad, divisor_override)
    return total / x.dtype.type(divisor)


@register_jitable
def avg_grad_cell(g, h, w, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """dL/dx[h, w] = sum over the windows (i, j) holding (h, w) of g[i, j] / divisor(i, j)."""
    OH, OW = g.shape
    i0, i1 = windows_touching(h, kh, sh, ph, 1, OH)
    j0, j1 = windows_touching(w, kw, sw, pw, 1, OW)
    total = g.dtype.type(0)
    for i in range(i0, i1):
        a0, a1, apad = avg_span(i, kh, sh, ph, H)
        for j in range(j0, j1):
            b0, b1, bpad = avg_span(j, kw, sw, pw, W)
            divisor = avg_divisor(a0, a1, apad, b0, b1, bpad, count_include_pad, divisor_override)
            total += g[i, j] / g.dtype.type(divisor)
    return total


# ---------------------------------------------------------------------------
# global pooling: one window covering the whole plane

@register_jitable
def global_mean(x):
    """y = (1 / (H*W)) * sum over (h, w) of x[h, w], summed in float64."""
    H, W = x.shape
    # np.float64, not 0.0: compiled, both are float64, but in plain Python
    # (the CUDA simulator) NumPy 2 would keep adding a 0.0 in float32.
    total = np.float64(0.0)
    for h in range(H):
        for w in range(W):
            total += x[h, w]
    return x.dtype.type(total / (H * W))


@register_jitable
def global_mean_grad(g, p, H, W):
    """dL/dx[p, h, w] = g[p] / (H*W), the same for every cell of plane p."""
    return g[p] / g.dtype.type(H * W)


@register_jitable
def global_max(x):
    """The max pooling formula with one window spanning the plane."""
    H, W = x.shape
    return max_window(x, 0, 0, H, W, 1, 1, 0, 0, 1, 1)
