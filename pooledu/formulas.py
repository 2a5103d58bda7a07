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

from .geometry import tap_span, windows_touching


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


# ---------------------------------------------------------------------------
# max-broadcast pooling: each cell takes its window's max, the map keeps its size

@register_jitable
def broadcast_cell(m, h, w, kh, kw):
    """y[h, w] = m[h // kh, w // kw], the max of the k x k window holding (h, w).

    ``m`` is the max pooled plane (stride = kernel, partial windows at the
    ragged border kept), so this is max pooling followed by nearest upsampling.
    """
    return m[h // kh, w // kw]


@register_jitable
def broadcast_grad_cell(g, idx, h, w, kh, kw):
    """dL/dx[h, w] = sum of g over the cells of window (h // kh, w // kw), if that
    window's argmax is (h, w); 0 for every other cell.

    Every cell of a window received the window's max, so all their gradients
    flow back to the one cell the max came from, summed row by row.
    """
    H, W = g.shape
    i = h // kh
    j = w // kw
    total = g.dtype.type(0)
    if idx[i, j] != h * W + w:
        return total
    for a in range(i * kh, min((i + 1) * kh, H)):
        for b in range(j * kw, min((j + 1) * kw, W)):
            total += g[a, b]
    return total


# ---------------------------------------------------------------------------
# attention pooling: a learned softmax over positions, one vector per image

@register_jitable
def attention_weights(x, u, scale, a):
    """a[p] = exp(s[p] - max_q s[q]) / sum_q exp(s[q] - max_q s[q]),
    with scores s[p] = scale * sum over c of u[c] * x[c, p].

    ``x`` is one image as (C, P), P = H*W positions, and ``u = W_k^T q`` folds
    the key projection into the query (``q . (W_k x) = (W_k^T q) . x``).
    Subtracting the largest score first keeps every exp() at most 1, so large
    scores cannot overflow. Writes the P weights into ``a``.
    """
    C, P = x.shape
    for p in range(P):
        s = x.dtype.type(0)
        for c in range(C):
            s += u[c] * x[c, p]
        a[p] = scale * s
    top = a[0]
    for p in range(1, P):
        top = max(top, a[p])
    total = x.dtype.type(0)
    for p in range(P):
        a[p] = math.exp(a[p] - top)
        total += a[p]
    for p in range(P):
        a[p] /= total


@register_jitable
def attention_readout(x, a, c):
    """y[c] = sum over p of a[p] * x[c, p], the attention-weighted mean of channel c."""
    total = x.dtype.type(0)
    for p in range(x.shape[1]):
        total += a[p] * x[c, p]
    return total


@register_jitable
def attention_score_grad(x, a, g, y, p):
    """dL/ds[p] = a[p] * (sum_c g[c] x[c, p] - sum_c g[c] y[c]), the softmax backward.

    ``sum_c g[c] x[c, p]`` is dL/da[p]; ``sum_c g[c] y[c]`` is its
    attention-weighted mean over p.
    """
    seen = x.dtype.type(0)
    mean = x.dtype.type(0)
    for c in range(x.shape[0]):
        seen += g[c] * x[c, p]
        mean += g[c] * y[c]
    return a[p] * (seen - mean)


@register_jitable
def attention_input_grad(g, a, ds, u, scale, c, p):
    """dL/dx[c, p] = g[c] * a[p] + scale * ds[p] * u[c]:
    once as a value being averaged, once through its score."""
    return g[c] * a[p] + scale * ds[p] * u[c]


# ---------------------------------------------------------------------------
# convolution (cross-correlation, as in PyTorch) with zero padding

@register_jitable
def conv_plane(x, w, y, sh, sw, ph, pw, dh, dw):
    """y[i, j] += sum over (c, u, v) of w[c, u, v] * x[c, sh*i - ph + dh*u, sw*j - pw + dw*v].

    ``x`` is one image (C_in, H, W), ``w`` one output channel's filter
    (C_in, kh, kw), ``y`` its output plane (OH, OW), holding the bias on entry.
    The sum is accumulated tap by tap: for each (c, u, v), one pass over the
    outputs whose tap lands inside the image (``tap_span``; taps on the zero
    padding add nothing), so the innermost loop runs along a row of ``x`` and
    of ``y`` with no bounds test (contiguous for stride 1, vectorisable).
    """
    C, H, W = x.shape
    _, kh, kw = w.shape
    OH, OW = y.shape
    for c in range(C):
        for u in range(kh):
            i0, i1 = tap_span(u, sh, ph, dh, H, OH)
            for v in range(kw):
                j0, j1 = tap_span(v, sw, pw, dw, W, OW)
                wt = w[c, u, v]
                for i in range(i0, i1):
                    h = sh * i - ph + dh * u
                    for j in range(j0, j1):
                        y[i, j] += wt * x[c, h, sw * j - pw + dw * v]


@register_jitable
def conv_grad_input_plane(g, w, c, gx, sh, sw, ph, pw, dh, dw):
    """gx[h, w] = sum over (o, u, v) of g[o, i, j] * w[o, c, u, v], over the outputs
    (i, j) whose tap (u, v) reads (h, w) (``h = sh*i - ph + dh*u``, ``w = sw*j - pw + dw*v``).

    ``g`` is one image's output gradient (C_out, OH, OW), ``w`` the whole weight,
    ``gx`` input channel c's gradient plane (H, W), zero on entry. Accumulated
    tap by tap like :func:`conv_plane`; within one tap different outputs reach
    different cells, and the plane belongs to one parallel iteration, so the
    result is race-free and the same on any number of threads.
    """
    O, OH, OW = g.shape
    kh, kw = w.shape[2], w.shape[3]
    H, W = gx.shape
    for o in range(O):
        for u in range(kh):
            i0, i1 = tap_span(u, sh, ph, dh, H, OH)
            for v in range(kw):
                j0, j1 = tap_span(v, sw, pw, dw, W, OW)
                wt = w[o, c, u, v]
                for i in range(i0, i1):
                    h = sh * i - ph + dh * u
                    for j in range(j0, j1):
                        gx[h, sw * j - pw + dw * v] += g[o, i, j] * wt


@register_jitable
def conv_grad_weight_tap(g, x, o, c, u, v, sh, sw, ph, pw, dh, dw):
    """dL/dw[o, c, u, v] = sum over (n, i, j) of g[n, o, i, j] * x[n, c, sh*i - ph + dh*u, sw*j - pw + dw*v].

    The taps the forward pass read, correlated with the output gradient over
    the batch; only outputs whose tap lands inside the image contribute.
    """
    N, _, OH, OW = g.shape
    H, W = x.shape[2], x.shape[3]
    i0, i1 = tap_span(u, sh, ph, dh, H, OH)
    j0, j1 = tap_span(v, sw, pw, dw, W, OW)
    total = g.dtype.type(0)
    for n in range(N):
        for i in range(i0, i1):
            h = sh * i - ph + dh * u
            for j in range(j0, j1):
                total += g[n, o, i, j] * x[n, c, h, sw * j - pw + dw * v]
    return total


@register_jitable
def conv_grad_bias(g, o):
    """dL/db[o] = sum over (n, i, j) of g[n, o, i, j]."""
    N, _, OH, OW = g.shape
    total = g.dtype.type(0)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                total += g[n, o, i, j]
    return total
