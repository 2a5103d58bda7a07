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
"""

import math

import numpy as np
from numba import int32, njit, prange, uint64
from numba.extending import register_jitable

from .formulas import avg_divisor, avg_span, max_wins
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
    start_max(best, arg, n)
    best, arg, _, _ = max_taps(xf, pixel, 0, W, C, h0, w0, u0, u1, v0, v1, dh, dw, best, arg,
                               new_best, new_arg, n)
    return best, arg


@register_jitable
def start_max(best, arg, n):
    """A window's running maxima before its first tap: nothing taken (index -1)."""
    for t in range(uint64(n)):
        best[t] = -math.inf
        arg[t] = -1


@register_jitable
def max_taps(xf, pixel, first, W, C, h0, w0, u0, u1, v0, v1, dh, dw, best, arg, new_best,
             new_arg, n):
    """The taps of :func:`window_max` taken into running maxima that hold earlier taps, the
    flat index of tap (h, w) counted from ``first``: one (H, W) slice of a volume window
    (``fast_ndhwc``) at a time. Returns the pair that holds the results, then the spare."""
    for u in range(u0, u1):
        h = h0 + dh * u
        for v in range(v0, v1):
            w = w0 + dw * v
            s0 = uint64(pixel + (h * W + w) * C)
            at = int32(first + h * W + w)
            for t in range(uint64(n)):
                val, b, a = xf[s0 + t], best[t], arg[t]
                take = max_wins(val, b, a)
                new_best[t] = val if take else b
                new_arg[t] = at if take else a
            best, new_best = new_best, best
            arg, new_arg = new_arg, arg
    return best, arg, new_best, new_arg


@register_jitable
def add_pixels(xf, image, h0, h1, w0, w1, W, C, acc, at):
    """acc[at:at + C] += each pixel of rows [h0, h1) x columns [w0, w1) of the image whose
    pixel (0, 0) starts at ``xf[image]``, one pixel (C channels) at a time, row by row."""
    for h in range(h0, h1):
        for w in range(w0, w1):
            src = uint64(image + (h * W + w) * C)
            for t in range(uint64(C)):
                acc[at + t] += xf[src + t]


@register_jitable
def index_gather_pixels(gf, idxf, image, i0, i1, j0, j1, OW, C, target, gxf, dst):
    """gxf[dst:dst + C] += the gradient of each window i0 <= i < i1, j0 <= j < j1 of the
    output image that starts at ``gf[image]`` (and ``idxf[image]``), in row-major order,
    channel by channel where the stored index is ``target`` (+0.0 elsewhere: no branch)."""
    zero = gf.dtype.type(0)
    for i in range(i0, i1):
        for j in range(j0, j1):
            src = uint64(image + (i * OW + j) * C)
            for t in range(uint64(C)):
                gxf[dst + t] += gf[src + t] if idxf[src + t] == target else zero


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
            add_pixels(xf, n * H * W * C, h0, h1, w0, w1, W, C, yf, out)
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
    for q in prange(N * H):
        n, h = q // H, q % H
        i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
        for w in range(W):
            j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
            dst = uint64(((n * H + h) * W + w) * C)
            target = h * W + w
            for t in range(uint64(C)):
                gxf[dst + t] = 0
            index_gather_pixels(gf, idxf, n * OH * OW * C, i0, i1, j0, j1, OW, C, target, gxf, dst)
