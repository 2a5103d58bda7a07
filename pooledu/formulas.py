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

from .geometry import tap_span, taps_inside, windows_touching
from .geometry import (adaptive_span, adaptive_windows_touching, fractional_start,
                       fractional_windows_touching)


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
    plane; a window with no tap inside the plane gives (-inf, -1). The loops
    visit only the taps inside the plane (``taps_inside``), in the same order.
    """
    H, W = x.shape
    best = x.dtype.type(-math.inf)
    arg = -1
    u0, u1 = taps_inside(i, kh, sh, ph, dh, H)
    v0, v1 = taps_inside(j, kw, sw, pw, dw, W)
    for u in range(u0, u1):
        h = sh * i - ph + dh * u
        for v in range(v0, v1):
            w = sw * j - pw + dw * v
            val = x[h, w]
            if max_wins(val, best, arg):
                best = val
                arg = h * W + w
    return best, arg


@register_jitable
def index_grad_add(total, g, idx, target, i0, i1, j0, j1):
    """total + sum of g[i, j] over the windows i0 <= i < i1, j0 <= j < j1 whose
    stored argmax is ``target``, added one by one in row-major order (the
    order of a serial scatter, so the result is bitwise PyTorch's)."""
    for i in range(i0, i1):
        for j in range(j0, j1):
            if idx[i, j] == target:
                total += g[i, j]
    return total


@register_jitable
def small_quotient(t, n):
    """t // n for 0 <= t < 2**50 and n >= 1, without an integer division.

    A 64-bit division costs tens of cycles and does not vectorise (x86 has
    no vector one). (t + 0.5) / n is a half-integer over n, at least 1/(2n)
    from every integer, and its float64 product with 1/n is off by less than
    that (two roundings of relative size 2**-53 each, on a value below
    2**50 / n), so truncating the product gives the quotient exactly. In a
    loop 1/n is invariant and computed once (``np.divide``: no zero test, so
    no branch).
    """
    return np.int64((np.float64(t) + 0.5) * np.divide(1.0, n))


@register_jitable
def index_seen(t, a, i, j, D, H, W, depth, rows, cols):
    """Whether the stored index t of window (a, i, j) reaches its cell's gradient.

    t = -1 (a window with no cell inside the input) is taken and routes
    nothing. Otherwise t must name a cell (d, h, w) of the D x H x W volume
    whose gather visits window (a, i, j) along every dimension: d within
    ``depth[:, a]``, h within ``rows[:, i]``, w within ``cols[:, j]``, the
    runs [first, last] of positions that ``geometry.gather_reach`` finds,
    each table (2, windows): firsts, then lasts. Any index that a forward
    pass with these window arguments returns passes.

    Branch-free, without a division (``small_quotient``), and reading the
    tables' firsts and lasts as contiguous runs, so that a loop over a row of
    windows vectorises: the check runs before every max backward pass and
    reads every index once.
    """
    cells = D * H * W
    inside = (t >= 0) & (t < cells)
    c = t if inside else 0  # a t outside the volume fails anyway; split a cell instead
    d = small_quotient(c, H * W) if D > 1 else 0  # no quotient where a dimension is 1
    rest = c - d * (H * W)
    h = small_quotient(rest, W) if H > 1 else 0  # (1D and 2D work): half the check's time
    w = rest - h * W
    # & rather than `and`: no branch per comparison
    inside &= ((depth[0, a] <= d) & (d <= depth[1, a]) & (rows[0, i] <= h) & (h <= rows[1, i])
               & (cols[0, j] <= w) & (w <= cols[1, j]))
    return (t == -1) | inside


@register_jitable
def max_grad_cell(g, idx, h, w, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """dL/dx[h, w] = sum of g[i, j] over the windows (i, j) whose argmax is (h, w).

    Windows are visited in row-major order, the order in which a serial
    scatter would add them, so the sum is bitwise reproducible.
    """
    OH, OW = g.shape
    i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
    j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
    return index_grad_add(g.dtype.type(0), g, idx, h * W + w, i0, i1, j0, j1)


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
def global_max_grad(g, idx, p, h, w, W):
    """dL/dx[p, h, w] = g[p] at plane p's argmax, else 0: the max gather with one window
    (``0 + g``, as the gather adds it)."""
    zero = g.dtype.type(0)
    return zero + g[p] if idx[p] == h * W + w else zero


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
def key_fold(w, q, c):
    """u[c] = sum over d of w[d, c] * q[d]: the key projection folded into the query,
    ``u = W_k^T q``, added in order of d (the same bits in any memory layout)."""
    total = q.dtype.type(0)
    for d in range(q.shape[0]):
        total += w[d, c] * q[d]
    return total


@register_jitable
def key_unfold_grad(w, gu, d):
    """dL/dq[d] = sum over c of w[d, c] * gu[c], the gradient through ``u = W_k^T q``."""
    total = gu.dtype.type(0)
    for c in range(gu.shape[0]):
        total += w[d, c] * gu[c]
    return total


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
def attention_key_grad_cell(x, ds, scale, c):
    """dL/du[c] = scale * sum over (n, p) of ds[n, p] * x[n, c, p], the gradient of
    ``u = W_k^T q`` through every score of the batch, added in order of (n, p).

    ``x`` is the whole batch as (N, C, P), ``ds`` the score gradients (N, P).
    """
    N, C, P = x.shape
    total = x.dtype.type(0)
    for n in range(N):
        for p in range(P):
            total += ds[n, p] * x[n, c, p]
    return scale * total


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


# ---------------------------------------------------------------------------
# the pooling family: adaptive, fractional, unpooling, LP and volume pooling
#
# A window that is not on a regular grid (adaptive, fractional) is still a
# rectangle inside the input: window (0, 0) of a max pool whose origin is
# moved to its corner (padding = -corner). With unit stride and nothing to
# skip, the max formula's scan is simply the box's cells in row-major order.

@register_jitable
def box_max(x, h0, h1, w0, w1):
    """Max and flat argmax ``h*W + w`` of x over the box [h0, h1) x [w0, w1) inside
    the plane: ``max_window`` with unit stride whose taps all land inside, the
    same scan under the same rule (``max_wins``), without the tap arithmetic."""
    W = x.shape[1]
    best = x.dtype.type(-math.inf)
    arg = -1
    for h in range(h0, h1):
        for w in range(w0, w1):
            val = x[h, w]
            if max_wins(val, best, arg):
                best = val
                arg = h * W + w
    return best, arg


@register_jitable
def adaptive_divide(v, kd, kh, kw):
    """v / kd / kh / kw: an adaptive box's sum (or gradient) divided by its extent
    along each dimension in turn, as PyTorch does, which can round differently from
    one division by kd*kh*kw. The extents come in v's dtype; a 2D window has kd = 1,
    and dividing by 1 changes no bit."""
    return v / kd / kh / kw


@register_jitable
def box_sum(x, d0, d1, h0, h1, w0, w1):
    """Sum of x[d, h, w] over the box [d0, d1) x [h0, h1) x [w0, w1), in row-major order."""
    total = x.dtype.type(0)
    for d in range(d0, d1):
        for h in range(h0, h1):
            for w in range(w0, w1):
                total += x[d, h, w]
    return total


@register_jitable
def adaptive_avg_window(x, i, j, OH, OW):
    """y[i, j] = (sum over h in [h0, h1), w in [w0, w1) of x[h, w]) / kh / kw.

    h0 = floor(i*H/OH), h1 = ceil((i+1)*H/OH), kh = h1 - h0 (w likewise).
    PyTorch divides by kh and then by kw, which can round differently from
    one division by kh*kw; so does this formula.
    """
    H, W = x.shape
    h0, h1 = adaptive_span(i, H, OH)
    w0, w1 = adaptive_span(j, W, OW)
    f = x.dtype.type
    total = f(0)
    for h in range(h0, h1):
        for w in range(w0, w1):
            total += x[h, w]
    return adaptive_divide(total, f(1), f(h1 - h0), f(w1 - w0))


@register_jitable
def adaptive_avg_grad_cell(g, h, w, H, W):
    """dL/dx[h, w] = sum over the adaptive windows (i, j) holding (h, w) of g[i, j] / kh / kw."""
    OH, OW = g.shape
    i0, i1 = adaptive_windows_touching(h, H, OH)
    j0, j1 = adaptive_windows_touching(w, W, OW)
    f = g.dtype.type
    total = f(0)
    for i in range(i0, i1):
        h0, h1 = adaptive_span(i, H, OH)
        for j in range(j0, j1):
            w0, w1 = adaptive_span(j, W, OW)
            total += adaptive_divide(g[i, j], f(1), f(h1 - h0), f(w1 - w0))
    return total


@register_jitable
def adaptive_max_window(x, i, j, OH, OW):
    """y[i, j] = max over h in [h0, h1), w in [w0, w1) of x[h, w], with the max
    formula's NaN and tie rules; also returns the flat index h*W + w."""
    H, W = x.shape
    h0, h1 = adaptive_span(i, H, OH)
    w0, w1 = adaptive_span(j, W, OW)
    return box_max(x, h0, h1, w0, w1)


@register_jitable
def adaptive_max_grad_cell(g, idx, h, w, H, W):
    """dL/dx[h, w] = sum of g[i, j] over the adaptive windows whose argmax is (h, w)."""
    OH, OW = g.shape
    i0, i1 = adaptive_windows_touching(h, H, OH)
    j0, j1 = adaptive_windows_touching(w, W, OW)
    return index_grad_add(g.dtype.type(0), g, idx, h * W + w, i0, i1, j0, j1)


@register_jitable
def fractional_max_window(x, i, j, kh, kw, OH, OW, samples):
    """y[i, j] = max over a kh x kw window starting at (a_i, b_j), where the
    starts a, b are the pseudo-random increasing sequences that ``samples``
    (this plane's (u_w, u_h)) pick; see ``geometry.fractional_start``."""
    H, W = x.shape
    h0 = fractional_start(i, samples, 1, H, kh, OH)
    w0 = fractional_start(j, samples, 0, W, kw, OW)
    return box_max(x, h0, h0 + kh, w0, w0 + kw)


@register_jitable
def fractional_max_grad_cell(g, idx, h, w, H, W, kh, kw):
    """dL/dx[h, w] = sum of g[i, j] over the windows whose argmax is (h, w).

    The random windows are not passed in, so the gather looks at every
    window that could hold (h, w) whatever the samples were (a few per
    dimension, ``geometry.fractional_windows_touching``).
    """
    OH, OW = g.shape
    i0, i1 = fractional_windows_touching(h, H, kh, OH)
    j0, j1 = fractional_windows_touching(w, W, kw, OW)
    return index_grad_add(g.dtype.type(0), g, idx, h * W + w, i0, i1, j0, j1)


@register_jitable
def unpool_plane(x, idx, y):
    """y[t // OW, t % OW] = x[i, j] for t = idx[i, j]; every other cell is 0.

    This is a scatter, so it is written for a whole plane: the writes go in
    row-major order of (i, j), and where two indices coincide the later
    value wins, as in PyTorch's CPU kernel on one thread (on several threads
    PyTorch may split a plane and its winner then depends on the threads).
    """
    OH, OW = y.shape
    H, W = x.shape
    for h in range(OH):
        for w in range(OW):
            y[h, w] = 0
    for i in range(H):
        for j in range(W):
            t = idx[i, j]
            y[t // OW, t % OW] = x[i, j]


@register_jitable
def unpool_grad_cell(g, idx, i, j):
    """dL/dx[i, j] = g[t // OW, t % OW] for t = idx[i, j]: a gather, so each
    pooled value gets the gradient of the cell it was written to (also when
    a later value overwrote it, as PyTorch's autograd does)."""
    OW = g.shape[1]
    t = idx[i, j]
    return g[t // OW, t % OW]


@register_jitable
def torch_pow(v, e, one):
    """v ** e as ``torch.pow(tensor, scalar)`` computes it, with its exact
    shortcuts (x*x for 2, sqrt for 0.5, ...), so results match bit for bit
    wherever PyTorch takes one. ``e`` and ``one`` are in v's dtype."""
    if e == 0:
        return one  # also for NaN and inf, as torch.pow
    if e == 1:
        return v
    if e == 2:
        return v * v
    if e == 3:
        return v * v * v
    if e == 0.5:
        return math.sqrt(v)
    if e == -0.5:
        return one / math.sqrt(v)
    if e == -1:
        return one / v
    if e == -2:
        return one / (v * v)
    return v ** e


@register_jitable
def lp_mean_window(x, i, j, kh, kw, sh, sw, p):
    """m[i, j] = (1 / divisor) * sum over the window of x[h, w] ** p.

    PyTorch's first two steps of LP pooling, ``avg_pool2d(x ** p)`` (no
    padding; a ceil_mode window is divided by the cells it has), fused: each
    power is taken as it is added, in the average's row-major order, so the
    bits are those of the two steps and no powered copy of x is made.
    """
    H, W = x.shape
    h0, h1, hpad = avg_span(i, kh, sh, 0, H)
    w0, w1, wpad = avg_span(j, kw, sw, 0, W)
    one = x.dtype.type(1)
    total = x.dtype.type(0)
    for h in range(h0, h1):
        for w in range(w0, w1):
            total += torch_pow(x[h, w], p, one)
    return total / x.dtype.type(avg_divisor(h0, h1, hpad, w0, w1, wpad, True, 0))


@register_jitable
def lp_root(m, q, K, one):
    """y = (K * t) ** q with t = sign(m) * relu(|m|) and q = 1/p: PyTorch's last step,
    where m is the window's average of x ** p and K = kh*kw.

    sign(m) * relu(|m|) is m itself, except that -0 becomes +0 and NaN stays
    NaN (PyTorch's sign(NaN) is 0, and 0 * NaN = NaN).
    """
    t = m if m != 0 else m - m
    return torch_pow(t * K, q, one)


@register_jitable
def torch_sign(v):
    """PyTorch's sign: 1, -1 or 0, and 0 for NaN (as an int, also in plain Python,
    where NumPy refuses to subtract booleans)."""
    return int(v > 0) - int(v < 0)


@register_jitable
def lp_root_grad(g, m, q, qm1, K, one):
    """dL/dm for y = lp_root(m, q, K), through PyTorch's chain of ops:
    g * (q * (K*t) ** qm1), times K, times sign(m) twice (``qm1 = q - 1``,
    rounded from float64 as PyTorch does); 0 where |m| is not positive
    (relu's mask, which also hides the inf that a window of zeros gives:
    PyTorch's "the gradient is set to zero as well")."""
    t = m if m != 0 else m - m
    s = torch_sign(m)
    grad = g * (q * torch_pow(t * K, qm1, one)) * K * s
    if abs(m) <= 0:
        grad = g - g  # relu's mask; abs(NaN) <= 0 is false, so NaN is not masked
    return grad * s


@register_jitable
def lp_power_grad(g, v, p, pm1, one):
    """dL/dx = g * (p * x ** (p - 1)) at a cell holding v, where g is what the
    average pool's gather brings it: PyTorch's pow backward (which computes
    ``pm1 = p - 1`` in float64 before rounding it)."""
    return g * (p * torch_pow(v, pm1, one))


@register_jitable
def lp_inf_window(x, i, j, kh, kw, sh, sw, sign):
    """y[i, j] = the max (sign 1, p = inf) or min (sign -1, p = -inf) of |x| over window
    (i, j), PyTorch's special cases: the max rule on sign * |x|, then the sign back.
    Returns the value and the flat index of the cell it came from."""
    H, W = x.shape
    best = x.dtype.type(-math.inf)
    arg = -1
    for h in range(sh * i, min(sh * i + kh, H)):
        for w in range(sw * j, min(sw * j + kw, W)):
            val = sign * abs(x[h, w])
            if max_wins(val, best, arg):
                best = val
                arg = h * W + w
    return sign * best, arg


# volumes: (D, H, W) planes, output position (a, i, j), depth taps t

@register_jitable
def max_window3d(x, a, i, j, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """y[a, i, j] = max over (t, u, v) of x[sd*a - pd + dd*t, sh*i - ph + dh*u, sw*j - pw + dw*v].

    The volume max is the max, over the window's depth slices in order, of
    the 2D max formula on each slice, combined with the same rule (take a
    value if it is larger or NaN), so NaN and ties behave exactly as in a
    single row-major scan over (d, h, w). The flat index is d*H*W + h*W + w.
    """
    D, H, W = x.shape
    best = x.dtype.type(-math.inf)
    arg = -1
    t0, t1 = taps_inside(a, kd, sd, pd, dd, D)
    for t in range(t0, t1):
        d = sd * a - pd + dd * t
        val, at = max_window(x[d], i, j, kh, kw, sh, sw, ph, pw, dh, dw)
        if at >= 0 and max_wins(val, best, arg):
            best = val
            arg = d * H * W + at
    return best, arg


@register_jitable
def max_grad_cell3d(g, idx, d, h, w, H, W, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """dL/dx[d, h, w] = sum of g[a, i, j] over the windows whose argmax is (d, h, w),
    visited in row-major (a, i, j) order."""
    OD, OH, OW = g.shape
    a0, a1 = windows_touching(d, kd, sd, pd, dd, OD)
    i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
    j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
    total = g.dtype.type(0)
    for a in range(a0, a1):
        total = index_grad_add(total, g[a], idx[a], (d * H + h) * W + w, i0, i1, j0, j1)
    return total


@register_jitable
def avg_divisor3d(d0, d1, dpad, h0, h1, hpad, w0, w1, wpad, count_include_pad, divisor_override):
    """The 2D divisor rule (``avg_divisor``) times the window's depth, counted by the
    same rule (padded depth, or the depth inside the input)."""
    if divisor_override != 0:
        return divisor_override
    depth = dpad if count_include_pad else d1 - d0
    return depth * avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad, 0)


@register_jitable
def avg_window3d(x, a, i, j, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """y[a, i, j] = (1 / divisor) * sum over (t, u, v) of x[sd*a - pd + t, sh*i - ph + u, sw*j - pw + v],
    the sum over the cells inside the volume in row-major order."""
    D, H, W = x.shape
    d0, d1, dpad = avg_span(a, kd, sd, pd, D)
    h0, h1, hpad = avg_span(i, kh, sh, ph, H)
    w0, w1, wpad = avg_span(j, kw, sw, pw, W)
    total = x.dtype.type(0)
    if d0 >= d1 or h0 >= h1 or w0 >= w1:
        return total
    for d in range(d0, d1):
        for h in range(h0, h1):
            for w in range(w0, w1):
                total += x[d, h, w]
    divisor = avg_divisor3d(d0, d1, dpad, h0, h1, hpad, w0, w1, wpad,
                            count_include_pad, divisor_override)
    return total / x.dtype.type(divisor)


@register_jitable
def avg_grad_cell3d(g, d, h, w, D, H, W, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                    count_include_pad, divisor_override):
    """dL/dx[d, h, w] = sum over the windows (a, i, j) holding (d, h, w) of g[a, i, j] / divisor."""
    OD, OH, OW = g.shape
    a0, a1 = windows_touching(d, kd, sd, pd, 1, OD)
    i0, i1 = windows_touching(h, kh, sh, ph, 1, OH)
    j0, j1 = windows_touching(w, kw, sw, pw, 1, OW)
    total = g.dtype.type(0)
    for a in range(a0, a1):
        c0, c1, cpad = avg_span(a, kd, sd, pd, D)
        for i in range(i0, i1):
            e0, e1, epad = avg_span(i, kh, sh, ph, H)
            for j in range(j0, j1):
                f0, f1, fpad = avg_span(j, kw, sw, pw, W)
                divisor = avg_divisor3d(c0, c1, cpad, e0, e1, epad, f0, f1, fpad,
                                        count_include_pad, divisor_override)
                total += g[a, i, j] / g.dtype.type(divisor)
    return total


@register_jitable
def adaptive_avg_window3d(x, a, i, j, OD, OH, OW):
    """y[a, i, j] = (sum over the adaptive box of x[d, h, w]) / kd / kh / kw, the
    2D formula with a depth factor (PyTorch divides in this order too)."""
    D, H, W = x.shape
    d0, d1 = adaptive_span(a, D, OD)
    h0, h1 = adaptive_span(i, H, OH)
    w0, w1 = adaptive_span(j, W, OW)
    f = x.dtype.type
    return adaptive_divide(box_sum(x, d0, d1, h0, h1, w0, w1), f(d1 - d0), f(h1 - h0),
                           f(w1 - w0))


@register_jitable
def adaptive_avg_grad_cell3d(g, d, h, w, D, H, W):
    """dL/dx[d, h, w] = sum over the adaptive boxes (a, i, j) holding (d, h, w) of
    g[a, i, j] / kd / kh / kw."""
    OD, OH, OW = g.shape
    a0, a1 = adaptive_windows_touching(d, D, OD)
    i0, i1 = adaptive_windows_touching(h, H, OH)
    j0, j1 = adaptive_windows_touching(w, W, OW)
    f = g.dtype.type
    total = f(0)
    for a in range(a0, a1):
        c0, c1 = adaptive_span(a, D, OD)
        for i in range(i0, i1):
            e0, e1 = adaptive_span(i, H, OH)
            for j in range(j0, j1):
                b0, b1 = adaptive_span(j, W, OW)
                total += adaptive_divide(g[a, i, j], f(c1 - c0), f(e1 - e0), f(b1 - b0))
    return total


@register_jitable
def adaptive_max_window3d(x, a, i, j, OD, OH, OW):
    """y[a, i, j] = max over the adaptive box: the volume max formula on one
    window whose origin is moved to the box's corner."""
    D, H, W = x.shape
    d0, d1 = adaptive_span(a, D, OD)
    h0, h1 = adaptive_span(i, H, OH)
    w0, w1 = adaptive_span(j, W, OW)
    return max_window3d(x, 0, 0, 0, d1 - d0, h1 - h0, w1 - w0, 1, 1, 1, -d0, -h0, -w0, 1, 1, 1)


@register_jitable
def adaptive_max_grad_cell3d(g, idx, d, h, w, D, H, W):
    """dL/dx[d, h, w] = sum of g[a, i, j] over the adaptive boxes whose argmax is (d, h, w)."""
    OD, OH, OW = g.shape
    a0, a1 = adaptive_windows_touching(d, D, OD)
    i0, i1 = adaptive_windows_touching(h, H, OH)
    j0, j1 = adaptive_windows_touching(w, W, OW)
    total = g.dtype.type(0)
    for a in range(a0, a1):
        total = index_grad_add(total, g[a], idx[a], (d * H + h) * W + w, i0, i1, j0, j1)
    return total
