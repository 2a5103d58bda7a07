"""Fast CPU schedules for LP (power-average) pooling of NCHW planes, and the
elementwise runs that the channels-last LP kernels (``fast_nhwc``) share.

Planes are (P, H, W), NCHW memory; 1D work has H = 1. A parallel iteration
of the forward pass takes one output row of one plane and sums its
windows' powers in the output itself, a tap at a time across the row: tap
(u, v) of window j reads x[h, sw*j + v], so every window meets its taps in
row-major order, as ``lp_mean_window`` visits them, each power taken as it is
added, from +0.0, in x's dtype. The backward pass recomputes those means, turns
each into its window's share of the root's gradient (g / divisor, as
``avg_grad_cell`` divides), then gathers: an iteration takes one input row, adds
the shares of the window rows that reach it, in order, each cell meeting its
windows left to right (``share_row_sums``), and takes the power's gradient at
each cell of the row, which is written once.

The elementwise runs are shared with the channels-last kernels
(``fast_nhwc``); p = 2 (and 1) run with the exponents as constants (LP_SQUARE
in ``fast_nhwc`` says why), and so does the 2-wide stride-2 window.
"""

from numba import njit, prange, uint64
from numba.extending import register_jitable

from .formulas import avg_divisor, avg_span, lp_power_grad, lp_root, lp_root_grad, torch_pow
from .geometry import tap_span, windows_touching


@register_jitable(inline="always")
def power_row_sums(xf, acc, r, H, W, OH, OW, kh, kw, sh, sw, p):
    """acc[r*OW + j] = ``lp_mean_window`` of window (r % OH, j) of plane r // OH, for every j:
    the powers summed a tap at a time across the row (only the windows that tap lands in,
    ``tap_span``), then each sum divided by its window's divisor.

    Inlined by Numba where it is called (``inline="always"``), so that each call's
    constant p and stride reach the loops before LLVM optimises them: a helper of its
    own is optimised once, for any p and stride, before it is inlined, and its loops
    then stay scalar (this row's sums take 25% less time inlined)."""
    one = xf.dtype.type(1)
    first = (r // OH) * H * W  # the plane's cell (0, 0)
    h0, h1, _ = avg_span(r % OH, kh, sh, 0, H)
    out, step = uint64(r * OW), uint64(sw)
    for j in range(uint64(OW)):
        acc[out + j] = 0
    for h in range(h0, h1):
        for v in range(kw):
            src = uint64(first + h * W + v)
            for j in range(uint64(tap_span(v, sw, 0, 1, W, OW)[1])):
                acc[out + j] += torch_pow(xf[src + step * j], p, one)
    divide_row(acc, r, H, W, OH, OW, kh, kw, sh, sw)


@register_jitable
def divide_row(a, r, H, W, OH, OW, kh, kw, sh, sw):
    """a[r*OW + j] /= the divisor of window (r % OH, j), for every j: LP's average (no
    padding, a ceil_mode window divided by the cells it has), as the formulas divide."""
    f = a.dtype.type
    h0, h1, hpad = avg_span(r % OH, kh, sh, 0, H)
    out = uint64(r * OW)
    for j in range(OW):  # a signed j, so that avg_span's arithmetic stays in integers
        w0, w1, wpad = avg_span(j, kw, sw, 0, W)
        at = out + uint64(j)
        a[at] = a[at] / f(avg_divisor(h0, h1, hpad, w0, w1, wpad, True, 0))


@register_jitable(inline="always")
def power_row_means(xf, acc, r, H, W, OH, OW, kh, kw, sh, sw, p):
    """``power_row_sums`` with p = 2 and 1 as constants, and the 2-wide stride-2 window,
    so that the powers and the strided reads vectorise; other p at run time."""
    f = xf.dtype.type
    if p == 2 and kw == 2 and sw == 2:
        power_row_sums(xf, acc, r, H, W, OH, OW, kh, 2, sh, 2, f(2))
    elif p == 2:
        power_row_sums(xf, acc, r, H, W, OH, OW, kh, kw, sh, sw, f(2))
    elif p == 1:
        power_row_sums(xf, acc, r, H, W, OH, OW, kh, kw, sh, sw, f(1))
    else:
        power_row_sums(xf, acc, r, H, W, OH, OW, kh, kw, sh, sw, f(p))


@register_jitable
def lp_roots(yf, lo, hi, q, K):
    """yf[t] = ``lp_root`` of the mean of powers yf[t], lo <= t < hi (unsigned)."""
    f = yf.dtype.type
    if q == 0.5:  # p = 2
        for t in range(lo, hi):
            yf[t] = lp_root(yf[t], f(0.5), f(K), f(1))
    elif q == 1:
        for t in range(lo, hi):
            yf[t] = lp_root(yf[t], f(1), f(K), f(1))
    else:
        for t in range(lo, hi):
            yf[t] = lp_root(yf[t], f(q), f(K), f(1))


@register_jitable
def lp_root_grads_run(gf, gmf, lo, hi, q, qm1, K):
    """gmf[t] = ``lp_root_grad`` of gf[t] at the mean of powers gmf[t], lo <= t < hi."""
    f = gf.dtype.type
    if q == 0.5:  # p = 2
        for t in range(lo, hi):
            gmf[t] = lp_root_grad(gf[t], gmf[t], f(0.5), f(-0.5), f(K), f(1))
    elif q == 1:
        for t in range(lo, hi):
            gmf[t] = lp_root_grad(gf[t], gmf[t], f(1), f(0), f(K), f(1))
    else:
        for t in range(lo, hi):
            gmf[t] = lp_root_grad(gf[t], gmf[t], f(q), f(qm1), f(K), f(1))


@register_jitable
def lp_power_grads_run(xf, gxf, lo, hi, p, pm1):
    """gxf[t] = ``lp_power_grad`` at the cell holding xf[t], given what the average gather
    brought it (gxf[t]), lo <= t < hi."""
    f = xf.dtype.type
    if p == 2:
        for t in range(lo, hi):
            gxf[t] = lp_power_grad(gxf[t], xf[t], f(2), f(1), f(1))
    elif p == 1:
        for t in range(lo, hi):
            gxf[t] = lp_power_grad(gxf[t], xf[t], f(1), f(0), f(1))
    else:
        for t in range(lo, hi):
            gxf[t] = lp_power_grad(gxf[t], xf[t], f(p), f(pm1), f(1))


@njit(parallel=True, cache=True)
def lp_pool2d_rows(x, y, kh, kw, sh, sw, p, q, K):
    """y of LP pooling of (P, H, W) planes: each output row's means of powers in the
    output (``power_row_means``), then ``lp_root``; rows of all planes in parallel."""
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf = x.reshape(P * H * W), y.reshape(P * OH * OW)
    for r in prange(P * OH):
        power_row_means(xf, yf, r, H, W, OH, OW, kh, kw, sh, sw, p)
        lp_roots(yf, uint64(r * OW), uint64((r + 1) * OW), q, K)


@njit(parallel=True, cache=True)
def lp_root_shares(g, x, share, kh, kw, sh, sw, p, q, qm1, K):
    """share[c, i, j] = the root's gradient at window (i, j) of plane c, its mean of powers
    recomputed as ``lp_pool2d_rows`` computes it, divided by the window's divisor: what
    the average pool's gather sends each of the window's cells (``avg_grad_cell``)."""
    P, H, W = x.shape
    OH, OW = g.shape[1], g.shape[2]
    xf, gf, sf = x.reshape(P * H * W), g.reshape(P * OH * OW), share.reshape(P * OH * OW)
    for r in prange(P * OH):
        power_row_means(xf, sf, r, H, W, OH, OW, kh, kw, sh, sw, p)
        lp_root_grads_run(gf, sf, uint64(r * OW), uint64((r + 1) * OW), q, qm1, K)
        divide_row(sf, r, H, W, OH, OW, kh, kw, sh, sw)


@register_jitable(inline="always")
def share_row_sums(sf, gxf, row, H, W, OH, OW, kh, kw, sh, sw):
    """gxf[row*W + w] = the sum of the shares of the windows holding cell (row % H, w) of
    plane row // H, for every w, as ``avg_grad_cell`` adds them: from +0.0, window rows
    in order, and in each, the windows from left to right. Inlined where called, as
    ``power_row_sums`` is.

    Windows no wider than their stride hold each cell once per window row, so a row of
    them goes window by window, each adding its share to its cells (which vectorises for
    the 2-wide stride-2 window: the cells of a tap pair are contiguous). Wider windows
    go tap by tap, from the last tap to the first, so that each cell still meets its
    windows left to right.
    """
    h = row % H
    first = uint64((row // H) * OH * OW)  # the plane's window (0, 0)
    out, step = uint64(row * W), uint64(sw)
    for w in range(uint64(W)):
        gxf[out + w] = 0
    i0, i1 = windows_touching(h, kh, sh, 0, 1, OH)
    full = uint64(tap_span(kw - 1, sw, 0, 1, W, OW)[1])  # windows with every tap inside
    for i in range(i0, i1):
        src = first + uint64(i * OW)
        if kw <= sw:
            for j in range(full):
                for v in range(uint64(kw)):
                    gxf[out + step * j + v] += sf[src + j]
            for j in range(full, uint64(OW)):
                for v in range(uint64(kw)):
                    if step * j + v < uint64(W):
                        gxf[out + step * j + v] += sf[src + j]
        else:
            for v in range(kw - 1, -1, -1):
                dst = out + uint64(v)
                for j in range(uint64(tap_span(v, sw, 0, 1, W, OW)[1])):
                    gxf[dst + step * j] += sf[src + j]


@njit(parallel=True, cache=True)
def lp_share_gather(share, x, gx, kh, kw, sh, sw, p, pm1):
    """gx of LP pooling of (P, H, W) planes from each window's share: the average pool's
    gather a row of cells at a time (``share_row_sums``), then the power's gradient
    at each cell of the row while it is in cache (``lp_power_grad``); rows of all planes
    in parallel, each written by its own iteration."""
    P, H, W = x.shape
    OH, OW = share.shape[1], share.shape[2]
    xf, sf, gxf = x.reshape(P * H * W), share.reshape(P * OH * OW), gx.reshape(P * H * W)
    for row in prange(P * H):
        if kw == 2 and sw == 2:  # constants for the common window, as in power_row_means
            share_row_sums(sf, gxf, row, H, W, OH, OW, kh, 2, sh, 2)
        else:
            share_row_sums(sf, gxf, row, H, W, OH, OW, kh, kw, sh, sw)
        lp_power_grads_run(xf, gxf, uint64(row * W), uint64((row + 1) * W), p, pm1)
