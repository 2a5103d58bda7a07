"""Fast CPU schedules for channels-last memory: each window read where it lies.

In channels-last memory (an (N, C, H, W) view of (N, H, W, C) memory) one
pixel's C channels are contiguous. So a window needs no rearranging before a
loop over it vectorises: for each output (i, j), the window's taps are
visited one at a time in the formula's order, and each tap is one contiguous
run of channels, ``x[n, h, w, c0:c0 + width]``, that every channel's running
result meets at once, in SIMD lanes:

    for each output row (n, i), in parallel:
        for each output column j:
            for each run of channels c0 .. c0+width:
                running[:] = nothing taken (max) or 0 (average)
                for each tap (u, v) inside the input, row by row:
                    running[:] = rule(running[:], x[n, h(u), w(v), c0:c0+width])
                y[n, i, j, c0:c0+width] = running[:]   (average: / divisor)

Each channel thus meets exactly the taps the formula visits (``taps_inside``,
``avg_span``: only taps inside the input), in row-major order, under the
formula's own rule (``formulas.max_wins``, ``formulas.avg_divisor``): the bits
are those of ``cpu.py`` by construction, for any number of channels and
threads. Nothing is copied first, unlike ``fast.py``'s kernels, which copy
each input row into its stride phases so that NCHW rows (one channel, where a
window's taps are not contiguous) vectorise too; for channels-last input
that copy was half the time of a forward pass.

A window's running maxima cannot stay in registers across its taps: Numba's
arrays do not promise LLVM that the running values and the input never
overlap. They stay in L1 instead, in two pairs of small scratch arrays (a
run's maxima and the flat index ``h*W + w`` each came from) that the taps
read and write in turn: a select that writes back into the array it read
compiles to a masked store, which is slow on many x86 cores, where a blend
and a plain store are fast (``fast.max_sweep`` says the same). A run is at
most ``RUN`` channels, so the scratch stays small whatever C is.

The max backward pass is a gather, as in ``cpu.py``: each input cell adds,
over the windows that can reach it (``windows_touching``) in row-major order,
the gradient of those whose index names it, a run of channels at a time, and
is written once. Adding +0.0 for a window that does not name the cell changes
no bit (a sum that starts at +0.0 never becomes -0.0), so the run has no
branch. Each parallel iteration owns its input row: no races.

LP pooling, max unpooling and max-broadcast pooling (the section at the end)
take channels-last memory the same way, for any number of channels, so that
such input keeps its layout: LP's window sums of powers run in the output, as
the average's do; unpooling scatters channel c of a pixel to ``idx*C + c``
and its gradient gathers from there, with no division per cell; max-broadcast
finds each window's maxima as max pooling does and writes them to every cell
of the window in the same pass, and its gradient sums each window once and
writes each of its cells once. Their index checks are here too, one parallel
pass each, with no division per index.
"""

import math

import numpy as np
from numba import int32, njit, prange, uint64
from numba.extending import register_jitable

from .formulas import avg_divisor, avg_span, max_wins
from .formulas import lp_power_grad, lp_root, lp_root_grad, torch_pow
from .geometry import taps_inside, windows_touching

MIN_CHANNELS = 16  # fewer channels make runs too short to vectorise well
RUN = 512  # channels one window's running results cover: 4 arrays of RUN values stay in L1


def reads_in_place(shape):
    """Whether (N, H, W, C) images of this shape run these kernels: pixels of at least
    MIN_CHANNELS channels (``fast.py``'s blocks serve fewer), and flat indices ``h*W + w``
    that fit the int32 scratch."""
    N, H, W, C = shape
    return C >= MIN_CHANNELS and H * W < 2**31


@register_jitable
def window_max(xf, pixel, W, C, h0, w0, u0, u1, v0, v1, dh, dw, best, arg, new_best, new_arg,
               n):
    """The max rule over taps u0 <= u < u1, v0 <= v < v1 of one window, for n channels at once.

    Tap (u, v) reads pixel (h0 + dh*u, w0 + dw*v) of the image whose pixel
    (0, 0) starts at ``xf[pixel]``. Returns the pair of scratch arrays that
    holds the results: the maxima and their flat indices ``h*W + w`` (-1: no
    tap). Each tap reads one pair and writes the other; then the two swap.
    """
    for t in range(uint64(n)):
        best[t] = -math.inf
        arg[t] = -1
    for u in range(u0, u1):
        h = h0 + dh * u
        for v in range(v0, v1):
            w = w0 + dw * v
            s0 = uint64(pixel + (h * W + w) * C)
            at = int32(h * W + w)
            for t in range(uint64(n)):
                val, b, a = xf[s0 + t], best[t], arg[t]
                take = max_wins(val, b, a)
                new_best[t] = val if take else b
                new_arg[t] = at if take else a
            best, new_best = new_best, best
            arg, new_arg = new_arg, arg
    return best, arg


@njit(parallel=True, cache=True)
def max_pool2d_direct(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling of (N, H, W, C) images, read where they lie; rows in parallel.

    The indices are int32 in the scratch (the caller makes sure that H*W fits).
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf, idxf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C), idx.reshape(N * OH * OW * C)
    width = min(C, RUN)
    for q in prange(N * OH):
        # scratch in the loop body: Numba allocates it once per thread
        best0, best1 = np.empty(width, x.dtype), np.empty(width, x.dtype)
        arg0, arg1 = np.empty(width, np.int32), np.empty(width, np.int32)
        n, i = q // OH, q % OH
        u0, u1 = taps_inside(i, kh, sh, ph, dh, H)
        for j in range(OW):
            v0, v1 = taps_inside(j, kw, sw, pw, dw, W)
            out = uint64(((n * OH + i) * OW + j) * C)
            for c0 in range(0, C, RUN):
                m = min(RUN, C - c0)
                best, arg = window_max(xf, n * H * W * C + c0, W, C, sh * i - ph, sw * j - pw,
                                       u0, u1, v0, v1, dh, dw, best0, arg0, best1, arg1, m)
                first = out + uint64(c0)
                for t in range(uint64(m)):
                    yf[first + t] = best[t]
                    idxf[first + t] = arg[t]


@njit(parallel=True, cache=True)
def avg_pool2d_direct(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling of (N, H, W, C) images, read where they lie; rows in parallel.

    Each output's C sums run in the output itself: +0.0, then the window's
    cells inside the input added row by row, then one division by the
    formula's divisor (a window with no cell inside stays 0, as in the formula).
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C)
    for q in prange(N * OH):
        n, i = q // OH, q % OH
        h0, h1, hpad = avg_span(i, kh, sh, ph, H)
        for j in range(OW):
            w0, w1, wpad = avg_span(j, kw, sw, pw, W)
            out = uint64(((n * OH + i) * OW + j) * C)
            for t in range(uint64(C)):
                yf[out + t] = 0
            if h0 >= h1 or w0 >= w1:
                continue
            for h in range(h0, h1):
                for w in range(w0, w1):
                    src = uint64(((n * H + h) * W + w) * C)
                    for t in range(uint64(C)):
                        yf[out + t] += xf[src + t]
            d = x.dtype.type(avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad,
                                         divisor_override))
            for t in range(uint64(C)):
                yf[out + t] = yf[out + t] / d


@njit(parallel=True, cache=True)
def max_pool2d_backward_direct(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx of max pooling of (N, H, W, C) images: each input cell gathers, over the windows
    that can reach it in row-major order, the gradients whose index names it."""
    N, H, W, C = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    gf, idxf, gxf = g.reshape(N * OH * OW * C), idx.reshape(N * OH * OW * C), gx.reshape(N * H * W * C)
    zero = g.dtype.type(0)
    for q in prange(N * H):
        n, h = q // H, q % H
        i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
        for w in range(W):
            j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
            dst = uint64(((n * H + h) * W + w) * C)
            target = h * W + w
            for t in range(uint64(C)):
                gxf[dst + t] = 0
            for i in range(i0, i1):
                for j in range(j0, j1):
                    src = uint64(((n * OH + i) * OW + j) * C)
                    for t in range(uint64(C)):
                        gxf[dst + t] += gf[src + t] if idxf[src + t] == target else zero


# ---------------------------------------------------------------------------
# LP pooling, max unpooling and max-broadcast pooling in channels-last memory
#
# The same idea as above: a pixel's C channels are one contiguous run, so a
# loop over them vectorises with no copy first. Each kernel takes any C
# (fewer than MIN_CHANNELS only vectorise less well), so channels-last input
# keeps its layout whatever its channel count.

UNPOOL_RUN = 64  # channels per parallel iteration of unpooling when images are too few
LP_RUN = 4096  # cells per parallel iteration of LP's elementwise power gradient

# LP_SQUARE: the formulas take p and 1/p at run time, and ``torch_pow`` tests the
# exponent against its shortcuts (2, 0.5, ...) before it falls back to pow(),
# which keeps a loop of them from vectorising. For p = 2, the common case, the
# LP backward loops call the same formulas with the exponents as constants:
# LLVM folds the tests away and the loops vectorise (25x faster), same bits.


def indices_fit(shape):
    """Whether the flat indices ``h*W + w`` of (N, H, W, C) images fit ``window_max``'s
    int32 scratch."""
    return shape[1] * shape[2] < 2**31

@register_jitable
def power_means(xf, acc, r, H, W, C, OH, OW, kh, kw, sh, sw, p):
    """acc at output row r (image r // OH, row r % OH), every window and channel:
    ``lp_mean_window``, the window's powers summed from +0.0 row by row in acc itself,
    then divided by the same divisor."""
    f = xf.dtype.type
    one = f(1)
    first = (r // OH) * H * W * C  # the image's pixel (0, 0)
    h0, h1, hpad = avg_span(r % OH, kh, sh, 0, H)
    for j in range(OW):
        w0, w1, wpad = avg_span(j, kw, sw, 0, W)
        out = uint64((r * OW + j) * C)
        for t in range(uint64(C)):
            acc[out + t] = 0
        for h in range(h0, h1):
            for w in range(w0, w1):
                src = uint64(first + (h * W + w) * C)
                for t in range(uint64(C)):
                    acc[out + t] += torch_pow(xf[src + t], p, one)
        d = f(avg_divisor(h0, h1, hpad, w0, w1, wpad, True, 0))
        for t in range(uint64(C)):
            acc[out + t] = acc[out + t] / d


@njit(parallel=True, cache=True)
def lp_pool2d_direct(x, y, kh, kw, sh, sw, p, q, K):
    """y of LP pooling of (N, H, W, C) images: each window's mean of powers in the output
    (``power_means``), then ``lp_root``; output rows in parallel."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C)
    f = x.dtype.type
    for r in prange(N * OH):
        power_means(xf, yf, r, H, W, C, OH, OW, kh, kw, sh, sw, f(p))
        for t in range(uint64(r * OW * C), uint64((r + 1) * OW * C)):
            yf[t] = lp_root(yf[t], f(q), f(K), f(1))


@njit(parallel=True, cache=True)
def lp_root_grads_direct(g, x, gm, kh, kw, sh, sw, p, q, qm1, K):
    """gm of LP pooling of (N, H, W, C) images: the root's gradient at each window
    (``lp_root_grad``), its mean of powers recomputed as ``lp_pool2d_direct`` computes it."""
    N, H, W, C = x.shape
    OH, OW = g.shape[1], g.shape[2]
    xf, gf, gmf = x.reshape(N * H * W * C), g.reshape(N * OH * OW * C), gm.reshape(N * OH * OW * C)
    f = x.dtype.type
    for r in prange(N * OH):
        power_means(xf, gmf, r, H, W, C, OH, OW, kh, kw, sh, sw, f(p))
        lo, hi = uint64(r * OW * C), uint64((r + 1) * OW * C)
        if q == 0.5:  # p = 2, as LP_SQUARE explains
            for t in range(lo, hi):
                gmf[t] = lp_root_grad(gf[t], gmf[t], f(0.5), f(-0.5), f(K), f(1))
        else:
            for t in range(lo, hi):
                gmf[t] = lp_root_grad(gf[t], gmf[t], f(q), f(qm1), f(K), f(1))


@njit(parallel=True, cache=True)
def lp_power_grads_direct(x, gx, p, pm1):
    """gx = the power's gradient (``lp_power_grad``) at each cell, given what the average
    gather brought it: elementwise over the memory as it lies (any shape, C-contiguous),
    a run of ``LP_RUN`` cells per parallel iteration."""
    xf, gxf = x.reshape(x.size), gx.reshape(gx.size)
    f = x.dtype.type
    for r in prange((x.size + LP_RUN - 1) // LP_RUN):
        lo, hi = uint64(r * LP_RUN), uint64(min((r + 1) * LP_RUN, x.size))
        if p == 2:  # as LP_SQUARE explains
            for t in range(lo, hi):
                gxf[t] = lp_power_grad(gxf[t], xf[t], f(2), f(1), f(1))
        else:
            for t in range(lo, hi):
                gxf[t] = lp_power_grad(gxf[t], xf[t], f(p), f(pm1), f(1))


@njit(parallel=True, cache=True)
def indices_outside(idx, cells):
    """How many rows of ``idx`` (a 2D C-contiguous array) hold an entry outside [0, cells):
    max unpooling's index check, one parallel pass. ``v | (cells - 1 - v)`` is negative
    exactly when v lies outside, so a row ORs those together: no branch, it vectorises."""
    rows, n = idx.shape
    flat = idx.reshape(idx.size)
    bad = 0
    for r in prange(rows):
        start = uint64(r * n)
        bits = 0
        for t in range(uint64(n)):
            v = flat[start + t]
            bits |= v | (cells - 1 - v)
        bad += bits < 0
    return bad


@njit(parallel=True, cache=True)
def broadcast_indices_outside(idx, H, W, kh, kw):
    """How many entries of the (N, OH, OW, C) max-broadcast indices name no cell of their
    own window (-1, a window with no cell, passes, as ``formulas.index_seen`` has it).

    Window (i, j)'s cells are one run of flat indices per row h, ``h*W + w0 .. h*W + w1``,
    so a pixel's C indices are tested against each run in turn, a run of channels at a
    time: no division, no branch.
    """
    N, OH, OW, C = idx.shape
    idxf = idx.reshape(N * OH * OW * C)
    bad = 0
    for r in prange(N * OH):
        seen = np.empty(C, np.uint8)  # in the loop body: Numba allocates it once per thread
        i = r % OH
        h0, h1 = i * kh, min((i + 1) * kh, H)
        count = OW * C  # less one for each index seen
        for j in range(OW):
            w0, w1 = j * kw, min((j + 1) * kw, W)
            at = uint64((r * OW + j) * C)
            for t in range(uint64(C)):
                seen[t] = idxf[at + t] == -1
            for h in range(h0, h1):
                start, width = h * W + w0, uint64(w1 - w0)
                for t in range(uint64(C)):
                    seen[t] |= uint64(idxf[at + t] - start) < width
            for t in range(uint64(C)):
                count -= seen[t]
        bad += count
    return bad


@njit(parallel=True, cache=True)
def max_unpool2d_direct(x, idx, y, width):
    """y of max unpooling of (N, H, W, C) values to (N, OH, OW, C): channel c of pixel s goes
    to pixel idx (``y[.., idx*C + c]``, no division), every other cell 0.

    A plane's writes go in row-major order of its pixels, so where indices coincide the
    later value wins, as in ``unpool_plane``. Each parallel iteration owns one image's
    run of ``width`` channels: no two write one cell.
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, idxf, yf = x.reshape(N * H * W * C), idx.reshape(N * H * W * C), y.reshape(N * OH * OW * C)
    runs = (C + width - 1) // width
    for r in prange(N * runs):
        n, c0 = r // runs, (r % runs) * width
        m = uint64(min(width, C - c0))
        image, pixels = n * OH * OW * C + c0, n * H * W * C + c0
        for s in range(OH * OW):
            dst = uint64(image + s * C)
            for t in range(m):
                yf[dst + t] = 0
        for s in range(H * W):
            src = uint64(pixels + s * C)
            for t in range(m):
                yf[uint64(image + idxf[src + t] * C) + t] = xf[src + t]


@njit(parallel=True, cache=True)
def max_unpool2d_backward_direct(g, idx, gx):
    """gx of max unpooling of (N, H, W, C) memory: each cell reads channel c of the
    gradient's pixel idx (``unpool_grad_cell``, with no division); rows in parallel."""
    N, H, W, C = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    gf, idxf, gxf = g.reshape(N * OH * OW * C), idx.reshape(N * H * W * C), gx.reshape(N * H * W * C)
    for r in prange(N * H):
        image = (r // H) * OH * OW * C
        for w in range(W):
            at = uint64((r * W + w) * C)
            for t in range(uint64(C)):
                gxf[at + t] = gf[uint64(image + idxf[at + t] * C) + t]


@njit(parallel=True, cache=True)
def max_broadcast_pool2d_direct(x, y, idx, kh, kw):
    """y, idx of max-broadcast pooling of (N, H, W, C) images in one pass: each window's
    maxima and their indices found as ``max_pool2d_direct`` finds them (``window_max``),
    then written to idx and to every cell of the window. A row of windows per parallel
    iteration; the windows tile the image. Indices are int32 in the scratch (the caller
    makes sure that H*W fits)."""
    N, H, W, C = x.shape
    OH, OW = idx.shape[1], idx.shape[2]
    xf, yf, idxf = x.reshape(N * H * W * C), y.reshape(N * H * W * C), idx.reshape(N * OH * OW * C)
    width = min(C, RUN)
    for r in prange(N * OH):
        # scratch in the loop body: Numba allocates it once per thread
        best0, best1 = np.empty(width, x.dtype), np.empty(width, x.dtype)
        arg0, arg1 = np.empty(width, np.int32), np.empty(width, np.int32)
        n, i = r // OH, r % OH
        h0, h1 = i * kh, min((i + 1) * kh, H)
        for j in range(OW):
            w0, w1 = j * kw, min((j + 1) * kw, W)
            for c0 in range(0, C, RUN):
                m = min(RUN, C - c0)
                best, arg = window_max(xf, n * H * W * C + c0, W, C, h0, w0, 0, h1 - h0, 0,
                                       w1 - w0, 1, 1, best0, arg0, best1, arg1, m)
                out = uint64((r * OW + j) * C + c0)
                for t in range(uint64(m)):
                    idxf[out + t] = arg[t]
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dst = uint64(((n * H + h) * W + w) * C + c0)
                        for t in range(uint64(m)):
                            yf[dst + t] = best[t]


@njit(parallel=True, cache=True)
def broadcast_windows_direct(m, y, kh, kw):
    """y[n, h, w, :] = m[n, h // kh, w // kw, :] (``broadcast_cell``): each pixel copies
    its window's run of maxima; rows in parallel."""
    N, H, W, C = y.shape
    OH, OW = m.shape[1], m.shape[2]
    mf, yf = m.reshape(N * OH * OW * C), y.reshape(N * H * W * C)
    for r in prange(N * H):
        n, h = r // H, r % H
        row = ((n * OH + h // kh) * OW) * C
        for j in range(OW):
            src = uint64(row + j * C)
            for w in range(j * kw, min((j + 1) * kw, W)):
                dst = uint64((r * W + w) * C)
                for t in range(uint64(C)):
                    yf[dst + t] = mf[src + t]


@njit(parallel=True, cache=True)
def max_broadcast_pool2d_backward_direct(g, idx, gx, kh, kw):
    """gx of max-broadcast pooling of (N, H, W, C) memory, window by window.

    Each window's gradient is summed once per channel, from +0.0 in row-major order
    (``broadcast_grad_cell``'s order), into scratch; then every cell of the window is
    written once: the sum where the window's index names it, else +0.0. A row of
    windows per parallel iteration; the windows tile the image, so no two write one cell.
    """
    N, H, W, C = gx.shape
    OH, OW = idx.shape[1], idx.shape[2]
    gf, idxf, gxf = g.reshape(N * H * W * C), idx.reshape(N * OH * OW * C), gx.reshape(N * H * W * C)
    zero = g.dtype.type(0)
    for r in prange(N * OH):
        sums = np.empty(C, g.dtype)  # in the loop body: Numba allocates it once per thread
        n, i = r // OH, r % OH
        h0, h1 = i * kh, min((i + 1) * kh, H)
        for j in range(OW):
            w0, w1 = j * kw, min((j + 1) * kw, W)
            for t in range(uint64(C)):
                sums[t] = 0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    src = uint64(((n * H + h) * W + w) * C)
                    for t in range(uint64(C)):
                        sums[t] += gf[src + t]
            at = uint64(((n * OH + i) * OW + j) * C)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    dst, target = uint64(((n * H + h) * W + w) * C), h * W + w
                    for t in range(uint64(C)):
                        gxf[dst + t] = sums[t] if idxf[at + t] == target else zero
