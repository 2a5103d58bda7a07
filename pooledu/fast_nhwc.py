"""Fast CPU schedules for channels-last memory: each window read where it lies.

In channels-last memory (an (N, C, H, W) view of (N, H, W, C) memory) one
pixel's C channels are contiguous. So a window needs no rearranging before a
loop over it vectorises: for each output (i, j), the window's taps are
visited one at a time in the formula's order, and each tap is one contiguous
run of channels, ``x[n, h, w, c0:c0 + width]``, that every channel's running
result meets at once, in SIMD lanes:

    for each output row (n, i) and run of channels c0 .. c0+width, in parallel:
        for each output column j:
            running[:] = nothing taken (max) or 0 (average)
            for each tap (u, v) inside the input, row by row:
                running[:] = rule(running[:], x[n, h(u), w(v), c0:c0+width])
            y[n, i, j, c0:c0+width] = running[:]   (average: / divisor)

The windows come as one small table per dimension, built once per call
(``window_table``): window o's first tap inside the input and how many taps,
d apart, lie inside. Regular windows (``taps_inside``), adaptive windows
(``adaptive_span``) and the one window of global max pooling are all such
boxes, so one max kernel serves the three. Each channel thus meets exactly
the taps the formula visits, in row-major order, under the formula's own rule
(``formulas.max_wins``, ``avg_divisor``, ``adaptive_divide``, sums in the
input's dtype): the bits are those of ``cpu.py`` by construction, for any
number of channels and threads. Nothing is copied first, unlike ``fast.py``'s
kernels, which copy each input row into its stride phases so that NCHW rows
(one channel, where a window's taps are not contiguous) vectorise too; for
channels-last input that copy was half the time of a forward pass. Max and
average pooling send images of fewer than MIN_CHANNELS channels to those
blocks; adaptive and global max pooling, which have no such blocks, run
here for any number of channels.

A window's running maxima cannot stay in registers across all its taps:
Numba's arrays do not promise LLVM that the running values and the input
never overlap. They stay in registers for up to three taps of a row, one
pass over the channels (``max_taps``), and in L1 between passes, in two
pairs of small scratch arrays (a run's maxima and the flat index ``h*W + w``
each came from) that the passes read and write in turn: a select that writes back into the array it read
compiles to a masked store, which is slow on many x86 cores, where a blend
and a plain store are fast (``fast.max_sweep`` says the same). A run is at
most ``RUN`` channels, so the scratch stays small whatever C is, and a plane
of one output row (ResNet's head) still shares out among the threads.

Backward passes are gathers, as in ``cpu.py``: each input pixel adds, over
the windows that can reach it (reach tables, ``geometry.gathering_windows``)
in row-major order, what each sends it, all its channels at once, and is
written once: for max pooling the gradient of the windows whose index names
it, for adaptive average pooling each window's share ``g / kh / kw``, divided
out once per window beforehand. Adding +0.0 for a window that does not name
the pixel changes no bit (a sum that starts at +0.0 never becomes -0.0), so
the run has no branch. Each parallel iteration owns its input row: no races.

LP pooling, max unpooling and max-broadcast pooling (the section at the end)
take channels-last memory the same way, for any number of channels, so that
such input keeps its layout: LP's window sums of powers run in the output, as
the average's do; unpooling scatters channel c of a pixel to ``idx*C + c``
and its gradient gathers from there, with no division per cell; max-broadcast
finds each window's maxima as max pooling does and writes them to every cell
of the window in the same pass, and its gradient sums each window once and
writes each of its cells once. Max-broadcast's index check is here too, one
parallel pass with no division per index (unpooling's is the range check of
``backend``, ``cpu.outside_runs``).
"""
import math

import numpy as np
from numba import njit, prange, uint64
from numba.extending import register_jitable

from .fast_family import reach, running_index
from .fast_lp import lp_power_grads_run, lp_root_grads_run, lp_roots
from .formulas import adaptive_divide, avg_divisor, avg_span, max_wins, torch_pow
from .geometry import ADAPTIVE, REGULAR, adaptive_span, ceil_div, taps_inside

MIN_CHANNELS = 16  # fewer channels make runs too short to vectorise well
RUN = 512  # channels one window's running results cover: 4 arrays of RUN values stay in L1


def reads_in_place(shape):
    """Whether (N, H, W, C) images of this shape run these kernels for max and average
    pooling: pixels of at least MIN_CHANNELS channels (``fast.py``'s blocks serve fewer)."""
    return shape[3] >= MIN_CHANNELS


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
def running_max(val, at, b, a):
    """One step of the max rule (``formulas.max_wins``): the tap (val, index at) if it
    wins over the running maximum b taken at index a, else (b, a)."""
    take = max_wins(val, b, a)
    return (val if take else b), (at if take else a)


@register_jitable
def max_taps(xf, pixel, first, W, C, h0, w0, u0, u1, v0, v1, dh, dw, best, arg, new_best,
             new_arg, n):
    """The taps of :func:`window_max` taken into running maxima that hold earlier taps, the
    flat index of tap (h, w) counted from ``first``: one (H, W) slice of a volume window
    (``fast_ndhwc``) at a time. Returns the pair that holds the results, then the spare.

    A row's taps go through the channels up to three at a time: each channel's
    running maximum stays in a register across the taps of one pass and goes
    through the scratch only between passes (a window of 3x3 taps reads and
    writes it three times, not nine). The taps still meet it one by one, in order.
    """
    for u in range(u0, u1):
        h = h0 + dh * u
        for v in range(v0, v1, 3):
            taps = min(3, v1 - v)
            s0 = uint64(pixel + (h * W + w0 + dw * v) * C)
            s1, s2 = s0 + uint64(dw * C), s0 + uint64(2 * dw * C)
            a0 = arg.dtype.type(first + h * W + w0 + dw * v)
            a1, a2 = a0 + arg.dtype.type(dw), a0 + arg.dtype.type(2 * dw)
            # one loop per count of taps: a loop whose body holds no test vectorises
            if taps == 3:
                for t in range(uint64(n)):
                    b, a = running_max(xf[s0 + t], a0, best[t], arg[t])
                    b, a = running_max(xf[s1 + t], a1, b, a)
                    new_best[t], new_arg[t] = running_max(xf[s2 + t], a2, b, a)
            elif taps == 2:
                for t in range(uint64(n)):
                    b, a = running_max(xf[s0 + t], a0, best[t], arg[t])
                    new_best[t], new_arg[t] = running_max(xf[s1 + t], a1, b, a)
            else:
                for t in range(uint64(n)):
                    new_best[t], new_arg[t] = running_max(xf[s0 + t], a0, best[t], arg[t])
            best, new_best = new_best, best
            arg, new_arg = new_arg, arg
    return best, arg, new_best, new_arg


@register_jitable
def add_pixels(xf, image, h0, h1, w0, w1, W, C, acc, at, n):
    """acc[at:at + n] += channels 0..n-1 of each pixel of rows [h0, h1) x columns [w0, w1)
    of the image whose pixel (0, 0) starts at ``xf[image]``, one pixel at a time, row by
    row (the order of the formulas' window sums, and of the average gathers).

    As in ``max_taps``, a row's pixels go through the channels up to three per pass,
    each channel's sum in a register within the pass: ``(acc + a) + b``, the same
    additions in the same order as three passes of one pixel."""
    at = uint64(at)
    for h in range(h0, h1):
        for w in range(w0, w1, 3):
            pixels = min(3, w1 - w)
            s0 = uint64(image + (h * W + w) * C)
            s1, s2 = s0 + uint64(C), s0 + uint64(2 * C)
            if pixels == 3:  # one loop per count: a loop whose body holds no test vectorises
                for t in range(uint64(n)):
                    acc[at + t] = acc[at + t] + xf[s0 + t] + xf[s1 + t] + xf[s2 + t]
            elif pixels == 2:
                for t in range(uint64(n)):
                    acc[at + t] = acc[at + t] + xf[s0 + t] + xf[s1 + t]
            else:
                for t in range(uint64(n)):
                    acc[at + t] += xf[s0 + t]


@register_jitable
def sum_box(xf, pixel, W, C, h0, h1, w0, w1, yf, out, n):
    """yf[out + t] = the sum of channel t over pixels [h0, h1) x [w0, w1), for n channels at
    once, of the image whose pixel (0, 0) starts at ``xf[pixel]``: from +0.0, row by row, in
    the output itself (the order and precision of the formulas' window sums)."""
    out = uint64(out)
    for t in range(uint64(n)):
        yf[out + t] = 0
    add_pixels(xf, pixel, h0, h1, w0, w1, W, C, yf, out, n)


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


# ---------------------------------------------------------------------------
# the windows of a call, one table per dimension

@njit(cache=True)
def window_table(table, kind, k, s, p, d, n):
    """table[o] = (first, taps): where window o's first tap inside [0, n) lies, and how many of
    its taps, d apart, lie inside. REGULAR windows (kernel k, stride s, padding p, dilation d)
    skip their taps in the padding (``taps_inside``); an ADAPTIVE window is its span
    (``adaptive_span``), d = 1."""
    out = table.shape[0]
    for o in range(out):
        if kind == ADAPTIVE:
            start, end = adaptive_span(o, n, out)
            table[o, 0], table[o, 1] = start, end - start
        else:
            u0, u1 = taps_inside(o, k, s, p, d, n)
            table[o, 0], table[o, 1] = o * s - p + d * u0, u1 - u0


def windows(kind, k, s, p, d, n, out):
    """The (first, taps) of each of ``out`` windows along a dimension of size n, (out, 2)."""
    table = np.empty((out, 2), np.int64)
    window_table(table, kind, k, s, p, d, n)
    return table


def adaptive_windows(n, out):
    """``windows`` of adaptive pooling from n positions to ``out``."""
    return windows(ADAPTIVE, 1, 1, 0, 1, n, out)


# ---------------------------------------------------------------------------
# forward passes

@njit(parallel=True, cache=True)
def max_direct(x, y, idx, rows, cols, dh, dw, index_type):
    """y, idx of max pooling of (N, H, W, C) images, each window read where it lies.

    Window (i, j) has ``rows[i, 1]`` tap rows from row ``rows[i, 0]``, dh apart,
    and ``cols[j, 1]`` tap columns from column ``cols[j, 0]``, dw apart (the
    ``window_table`` of each dimension: regular, adaptive or global windows).
    Output rows and runs of channels in parallel; the scratch keeps indices in
    ``index_type``'s dtype (``fast_family.running_index``).
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf, idxf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C), idx.reshape(N * OH * OW * C)
    runs = ceil_div(C, RUN)
    width = min(C, RUN)
    for q in prange(N * OH * runs):
        # scratch in the loop body: Numba allocates it once per thread
        best0, best1 = np.empty(width, x.dtype), np.empty(width, x.dtype)
        arg0, arg1 = np.empty(width, index_type.dtype), np.empty(width, index_type.dtype)
        r, c0 = q // runs, q % runs * RUN
        n, i = r // OH, r % OH
        m = min(RUN, C - c0)
        for j in range(OW):
            best, arg = window_max(xf, n * H * W * C + c0, W, C, rows[i, 0], cols[j, 0],
                                   0, rows[i, 1], 0, cols[j, 1], dh, dw, best0, arg0, best1,
                                   arg1, m)
            first = uint64(((n * OH + i) * OW + j) * C + c0)
            for t in range(uint64(m)):
                yf[first + t] = best[t]
                idxf[first + t] = arg[t]


@njit(parallel=True, cache=True)
def avg_pool2d_direct(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling of (N, H, W, C) images, read where they lie; rows in parallel.

    Each output's C sums run in the output itself (``sum_box``), then one
    division by the formula's divisor (a window with no cell inside stays 0,
    as in the formula).
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
            sum_box(xf, n * H * W * C, W, C, h0, h1, w0, w1, yf, out, C)
            if h0 >= h1 or w0 >= w1:
                continue
            d = x.dtype.type(avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad,
                                         divisor_override))
            for t in range(uint64(C)):
                yf[out + t] = yf[out + t] / d


@njit(parallel=True, cache=True)
def adaptive_avg_direct(x, y, rows, cols):
    """y of adaptive average pooling of (N, H, W, C) images, read where they lie.

    Window (i, j) is the box of ``rows[i, 1]`` rows from ``rows[i, 0]`` and
    ``cols[j, 1]`` columns from ``cols[j, 0]`` (``adaptive_windows``), summed
    by ``sum_box`` in the input's dtype and divided by its height and then its
    width (``adaptive_divide``), as ``formulas.adaptive_avg_window`` does. Output
    rows and runs of channels in parallel, so that one output row (ResNet's
    head) still shares out.
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C)
    runs = ceil_div(C, RUN)
    f = x.dtype.type
    for q in prange(N * OH * runs):
        r, c0 = q // runs, q % runs * RUN
        n, i = r // OH, r % OH
        m = min(RUN, C - c0)
        h0, kh = rows[i, 0], rows[i, 1]
        for j in range(OW):
            w0, kw = cols[j, 0], cols[j, 1]
            out = uint64(((n * OH + i) * OW + j) * C + c0)
            sum_box(xf, n * H * W * C + c0, W, C, h0, h0 + kh, w0, w0 + kw, yf, out, m)
            for t in range(uint64(m)):
                yf[out + t] = adaptive_divide(yf[out + t], f(1), f(kh), f(kw))


# ---------------------------------------------------------------------------
# backward gathers

@njit(parallel=True, cache=True)
def adaptive_shares_direct(g, rows, cols, share):
    """share[n, i, j, :] = g[n, i, j, :] / kh / kw (``adaptive_divide``), the share of
    adaptive window (i, j) of (N, OH, OW, C) gradients; kh, kw from ``adaptive_windows``."""
    N, OH, OW, C = g.shape
    gf, sf = g.reshape(g.size), share.reshape(share.size)
    f = g.dtype.type
    for q in prange(N * OH):
        kh = f(rows[q % OH, 1])
        for j in range(OW):
            kw = f(cols[j, 1])
            at = uint64((q * OW + j) * C)
            for t in range(uint64(C)):
                sf[at + t] = adaptive_divide(gf[at + t], f(1), kh, kw)


@njit(parallel=True, cache=True)
def gather_direct(g, idx, gx, rows, cols, by_index):
    """gx of (N, H, W, C) images: each input pixel's channels add, over the windows that
    reach it (reach tables: window rows rows[h, 0] .. rows[h, 1] - 1, columns likewise) in
    row-major order, what each sends: with ``by_index`` (max pooling) the gradient where the
    window's index names the pixel, else (an average's shares in ``g``; ``idx`` unused) all of it.

    Adding +0.0 for a window that does not name the pixel changes no bit (a sum
    that starts at +0.0 never becomes -0.0), so a run of channels has no branch.
    Each parallel iteration owns its input row: no races.
    """
    N, H, W, C = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    for q in prange(N * H):
        n, h = q // H, q % H
        image = n * OH * OW * C  # the gradient image's first pixel
        i0, i1 = rows[h, 0], rows[h, 1]
        for w in range(W):
            dst = uint64(((n * H + h) * W + w) * C)
            for t in range(uint64(C)):
                gxf[dst + t] = 0
            if by_index:
                index_gather_pixels(gf, idxf, image, i0, i1, cols[w, 0], cols[w, 1], OW, C,
                                    h * W + w, gxf, dst)
            else:  # the shares: every window's whole gradient, a pixel of g at a time
                add_pixels(gf, image, i0, i1, cols[w, 0], cols[w, 1], OW, C, gxf, dst, C)


# ---------------------------------------------------------------------------
# the entry points: plain Python, they build the tables and call one kernel

def max_pool2d_direct(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling of (N, H, W, C) images, read where they lie."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    max_direct(x, y, idx, windows(REGULAR, kh, sh, ph, dh, H, OH),
               windows(REGULAR, kw, sw, pw, dw, W, OW), dh, dw, running_index(H * W))


def max_pool2d_backward_direct(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx of max pooling of (N, H, W, C) images: each input pixel gathers, over the windows
    that can reach it in row-major order, the gradients whose index names it."""
    (H, W), (OH, OW) = gx.shape[1:3], g.shape[1:3]
    gather_direct(g, idx, gx, reach(REGULAR, kh, sh, ph, dh, H, OH),
                  reach(REGULAR, kw, sw, pw, dw, W, OW), True)


def adaptive_max_pool2d_nhwc(x, y, idx):
    """y, idx of adaptive max pooling of channels-last (N, H, W, C) memory, in the same layout."""
    (H, W), (OH, OW) = x.shape[1:3], y.shape[1:3]
    max_direct(x, y, idx, adaptive_windows(H, OH), adaptive_windows(W, OW), 1, 1,
               running_index(H * W))


def adaptive_avg_pool2d_nhwc(x, y):
    """y of adaptive average pooling of channels-last (N, H, W, C) memory, in the same layout."""
    (H, W), (OH, OW) = x.shape[1:3], y.shape[1:3]
    adaptive_avg_direct(x, y, adaptive_windows(H, OH), adaptive_windows(W, OW))


def adaptive_max_pool2d_backward_nhwc(g, idx, gx):
    """gx of adaptive max pooling of channels-last (N, H, W, C) memory, in the same layout."""
    (H, W), (OH, OW) = gx.shape[1:3], g.shape[1:3]
    gather_direct(g, idx, gx, reach(ADAPTIVE, 1, 1, 0, 1, H, OH),
                  reach(ADAPTIVE, 1, 1, 0, 1, W, OW), True)


def adaptive_avg_pool2d_backward_nhwc(g, gx):
    """gx of adaptive average pooling of channels-last (N, H, W, C) memory, in the same layout:
    each window's share divided out once, then gathered."""
    (H, W), (OH, OW) = gx.shape[1:3], g.shape[1:3]
    share = np.empty_like(g)
    adaptive_shares_direct(g, adaptive_windows(H, OH), adaptive_windows(W, OW), share)
    gather_direct(share, share, gx, reach(ADAPTIVE, 1, 1, 0, 1, H, OH),
                  reach(ADAPTIVE, 1, 1, 0, 1, W, OW), False)


def global_max_pool2d_nhwc(x, y, idx):
    """y, idx (N, C) of global max pooling of channels-last (N, H, W, C) images: one window
    over each image, a run of channels at a time."""
    N, H, W, C = x.shape
    # (N, C) -> (N, 1, 1, C): one output pixel per image, views
    adaptive_max_pool2d_nhwc(x, y.reshape(N, 1, 1, C), idx.reshape(N, 1, 1, C))


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
# which keeps a loop of them from vectorising. For p = 2, the common case (and
# p = 1, sum pooling), the LP loops call the same formulas with the exponents as
# constants: LLVM folds the tests away and the loops vectorise (25x faster),
# same bits. The roots and the root's gradient are fast_family's runs
# (``lp_roots``, ``lp_root_grads_run``, ``lp_power_grads_run``), shared with
# the NCHW kernels.


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
        lp_roots(yf, uint64(r * OW * C), uint64((r + 1) * OW * C), q, K)


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
        lp_root_grads_run(gf, gmf, uint64(r * OW * C), uint64((r + 1) * OW * C), q, qm1, K)


@njit(parallel=True, cache=True)
def lp_power_grads_direct(x, gx, p, pm1):
    """gx = the power's gradient (``lp_power_grad``) at each cell, given what the average
    gather brought it: elementwise over the memory as it lies (any shape, C-contiguous),
    a run of ``LP_RUN`` cells per parallel iteration."""
    xf, gxf = x.reshape(x.size), gx.reshape(gx.size)
    for r in prange((x.size + LP_RUN - 1) // LP_RUN):
        lo, hi = uint64(r * LP_RUN), uint64(min((r + 1) * LP_RUN, x.size))
        lp_power_grads_run(xf, gxf, lo, hi, p, pm1)


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
