"""Fast CPU schedules: the same recurrences as ``cpu.py``, in a vectorisable loop order.

``cpu.py`` computes one output at a time, exactly as the formula reads. Here
each window *tap* is swept across a whole output row instead, so the innermost
loop runs over contiguous memory and LLVM turns it into SIMD instructions:

    for each output row i:
        for each tap (u, v) of the window, in the formula's order:
            for every output column j at once:  best[j] = max-rule(best[j], x[h_u, s*j + off_v])

A stride ``s`` would make that sweep read every s-th element, which does not
vectorise; so each input row is first split into its ``s`` phases
(``phase r`` holds columns r, r+s, r+2s, ...), after which every tap's sweep
is contiguous. Each window still meets its taps in row-major order, with the
same update rule, so the results are bit for bit those of ``cpu.py`` (the
tests check this on every configuration they generate).

Backward passes stay race-free and deterministic: each parallel iteration
owns whole planes, each input row collects the contributions of the output
rows that can reach it, and every cell receives its contributions in the
same row-major window order as the reference gather.

Scratch (one row's phases) is allocated once per call, one row per chunk of
planes; the parallel loop runs over those chunks and allocates nothing.
Index arithmetic in the sweeps is unsigned (``uint64``): with signed indices
Numba adds a negative-index check to every access, which blocks vectorisation.
"""

import math

import numpy as np
from numba import int64, njit, prange, uint64
from numba.extending import register_jitable

from .cpu import global_avg_pool2d, global_avg_pool2d_backward, global_max_pool2d  # noqa: F401
from .formulas import avg_divisor, avg_span, max_wins
from .geometry import ceil_div, windows_touching


CHUNKS = 64  # parallel work items: enough to balance many threads, few enough to keep scratch small


@register_jitable
def chunk(c, chunks, P):
    """Planes [start, stop) of chunk c when P planes are cut into ``chunks`` runs."""
    return c * P // chunks, (c + 1) * P // chunks


# ---------------------------------------------------------------------------
# helpers: stride phases and the columns a tap reaches

@register_jitable
def split_phases(row, phases, s, L):
    """phases[r*L + m] = row[r + s*m]: the row's s phases, one after another."""
    for r in range(s):
        for m in range((row.shape[0] - r + s - 1) // s):
            phases[r * L + m] = row[r + s * m]


@register_jitable
def merge_phases(phases, row, s, L):
    """The inverse of split_phases: row[r + s*m] = phases[r*L + m]."""
    for r in range(s):
        for m in range((row.shape[0] - r + s - 1) // s):
            row[r + s * m] = phases[r * L + m]


@register_jitable
def tap_columns(off, s, W, OW):
    """Output columns j whose tap at column s*j + off lies inside [0, W),
    and where the first of those taps sits in the phase layout."""
    j0 = max(ceil_div(-off, s), 0)
    j1 = min((W - 1 - off) // s + 1, OW)
    r = off % s
    start = r * ((W + s - 1) // s) + j0 + (off - r) // s
    return j0, j1, start


# ---------------------------------------------------------------------------
# the contiguous sweeps (unsigned t, selects instead of branches: SIMD-friendly)

@register_jitable
def max_sweep(src, best, arg, n, arg0, arg_step):
    """best[t], arg[t] take src[t] (index arg0 + arg_step*t) when the max rule says so."""
    for t in range(uint64(n)):
        val, b, a = src[t], best[t], arg[t]
        take = max_wins(val, b, a)
        best[t] = val if take else b
        arg[t] = arg0 + arg_step * int64(t) if take else a


@register_jitable
def add_sweep(src, acc, n):
    """acc[t] += src[t]."""
    for t in range(uint64(n)):
        acc[t] += src[t]


# ---------------------------------------------------------------------------
# max pooling

@register_jitable
def max_plane(x, y, idx, phases, kh, kw, sh, sw, ph, pw, dh, dw):
    """One plane of max pooling: each tap (u, v) swept across output row i."""
    H, W = x.shape
    OH, OW = y.shape
    L = phases.shape[0] // sw
    for i in range(OH):
        best, arg = y[i], idx[i]
        best[:] = -math.inf
        arg[:] = -1
        for u in range(kh):
            h = sh * i - ph + dh * u
            if h < 0 or h >= H:
                continue
            split_phases(x[h], phases, sw, L)
            for v in range(kw):
                off = dw * v - pw
                j0, j1, start = tap_columns(off, sw, W, OW)
                if j0 < j1:
                    max_sweep(phases[start:], best[j0:], arg[j0:], j1 - j0,
                              h * W + sw * j0 + off, sw)


@njit(parallel=True, cache=True)
def max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    chunks = min(P, CHUNKS)
    scratch = np.empty((chunks, sw * ((W + sw - 1) // sw)), x.dtype)  # one row's phases
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            max_plane(x[p], y[p], idx[p], scratch[c], kh, kw, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def max_pool2d_backward(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx row h collects g from the output rows that can reach it, where idx points into row h."""
    P, H, W = gx.shape
    OH, OW = g.shape[1:]
    for p in prange(P):
        for h in range(H):
            row = gx[p, h]
            row[:] = 0
            i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
            for i in range(i0, i1):
                for j in range(OW):
                    w = idx[p, i, j] - h * W
                    if 0 <= w < W:
                        row[w] += g[p, i, j]


# ---------------------------------------------------------------------------
# average pooling

@register_jitable
def avg_plane(x, y, phases, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """One plane of average pooling: window sums tap by tap, then one division per output."""
    H, W = x.shape
    OH, OW = y.shape
    L = phases.shape[0] // sw
    for i in range(OH):
        acc = y[i]
        acc[:] = 0
        for u in range(kh):
            h = sh * i - ph + u
            if h < 0 or h >= H:
                continue
            split_phases(x[h], phases, sw, L)
            for v in range(kw):
                j0, j1, start = tap_columns(v - pw, sw, W, OW)
                if j0 < j1:
                    add_sweep(phases[start:], acc[j0:], j1 - j0)
        h0, h1, hpad = avg_span(i, kh, sh, ph, H)
        for j in range(OW):
            w0, w1, wpad = avg_span(j, kw, sw, pw, W)
            if h0 < h1 and w0 < w1:  # a window of padding only stays 0, undivided
                divisor = avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad,
                                      divisor_override)
                acc[j] = acc[j] / x.dtype.type(divisor)


@njit(parallel=True, cache=True)
def avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    chunks = min(P, CHUNKS)
    scratch = np.empty((chunks, sw * ((W + sw - 1) // sw)), x.dtype)  # one row's phases
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            avg_plane(x[p], y[p], scratch[c], kh, kw, sh, sw, ph, pw,
                      count_include_pad, divisor_override)


@register_jitable
def avg_grad_plane(g, gx, acc, share, kh, kw, sh, sw, ph, pw, count_include_pad,
                   divisor_override):
    """One plane of the average-pooling gradient, input row by input row."""
    H, W = gx.shape
    OH, OW = g.shape
    L = acc.shape[0] // sw
    for h in range(H):
        acc[:] = 0
        i0, i1 = windows_touching(h, kh, sh, ph, 1, OH)
        for i in range(i0, i1):
            a0, a1, apad = avg_span(i, kh, sh, ph, H)
            for j in range(OW):
                b0, b1, bpad = avg_span(j, kw, sw, pw, W)
                share[j] = 0  # a window of padding only reaches no cell
                if b0 < b1:
                    divisor = avg_divisor(a0, a1, apad, b0, b1, bpad, count_include_pad,
                                          divisor_override)
                    share[j] = g[i, j] / g.dtype.type(divisor)
            # taps from right to left, so each cell meets the windows j in increasing order
            for v in range(kw - 1, -1, -1):
                j0, j1, start = tap_columns(v - pw, sw, W, OW)
                if j0 < j1:
                    add_sweep(share[j0:], acc[start:], j1 - j0)
        merge_phases(acc, gx[h], sw, L)


@njit(parallel=True, cache=True)
def avg_pool2d_backward(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx of average pooling: each input row collects g / divisor from the windows holding it."""
    P, H, W = gx.shape
    OW = g.shape[2]
    chunks = min(P, CHUNKS)
    acc = np.empty((chunks, sw * ((W + sw - 1) // sw)), g.dtype)
    share = np.empty((chunks, OW), g.dtype)
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            avg_grad_plane(g[p], gx[p], acc[c], share[c], kh, kw, sh, sw, ph, pw,
                           count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# channels-last: (N, H, W, C) memory, the channel vector is the contiguous run.
# The window loops are the formula's own; the innermost loop runs over C.

@register_jitable
def gather_sweep(src, src_idx, acc, n, target):
    """acc[t] += src[t] where src_idx[t] == target (adding +0.0 elsewhere changes no bit)."""
    for t in range(uint64(n)):
        acc[t] += src[t] if src_idx[t] == target else src.dtype.type(0)


@register_jitable
def scaled_add_sweep(src, acc, n, divisor):
    """acc[t] += src[t] / divisor."""
    for t in range(uint64(n)):
        acc[t] += src[t] / divisor


@njit(parallel=True, cache=True)
def max_pool2d_nhwc(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """Max pooling on (N, H, W, C) memory: every tap updates a whole channel vector."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1:3]
    for q in prange(N * OH):
        n, i = q // OH, q % OH
        for j in range(OW):
            best, arg = y[n, i, j], idx[n, i, j]
            best[:] = -math.inf
            arg[:] = -1
            for u in range(kh):
                h = sh * i - ph + dh * u
                if h < 0 or h >= H:
                    continue
                for v in range(kw):
                    w = sw * j - pw + dw * v
                    if 0 <= w < W:
                        max_sweep(x[n, h, w], best, arg, C, h * W + w, 0)


@njit(parallel=True, cache=True)
def max_pool2d_backward_nhwc(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """The max gather on (N, H, W, C) memory, one channel vector per input cell."""
    N, H, W, C = gx.shape
    OH, OW = g.shape[1:3]
    for q in prange(N * H):
        n, h = q // H, q % H
        i0, i1 = windows_touching(h, kh, sh, ph, dh, OH)
        for w in range(W):
            acc = gx[n, h, w]
            acc[:] = 0
            j0, j1 = windows_touching(w, kw, sw, pw, dw, OW)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    gather_sweep(g[n, i, j], idx[n, i, j], acc, C, h * W + w)


@njit(parallel=True, cache=True)
def avg_pool2d_nhwc(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Average pooling on (N, H, W, C) memory: window sums of channel vectors."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1:3]
    for q in prange(N * OH):
        n, i = q // OH, q % OH
        h0, h1, hpad = avg_span(i, kh, sh, ph, H)
        for j in range(OW):
            acc = y[n, i, j]
            acc[:] = 0
            w0, w1, wpad = avg_span(j, kw, sw, pw, W)
            if h0 >= h1 or w0 >= w1:
                continue  # a window of padding only stays 0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    add_sweep(x[n, h, w], acc, C)
            divisor = x.dtype.type(avg_divisor(h0, h1, hpad, w0, w1, wpad, count_include_pad,
                                               divisor_override))
            for t in range(uint64(C)):
                acc[t] = acc[t] / divisor


@njit(parallel=True, cache=True)
def avg_pool2d_backward_nhwc(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """The average-pooling gather on (N, H, W, C) memory."""
    N, H, W, C = gx.shape
    OH, OW = g.shape[1:3]
    for q in prange(N * H):
        n, h = q // H, q % H
        i0, i1 = windows_touching(h, kh, sh, ph, 1, OH)
        for w in range(W):
            acc = gx[n, h, w]
            acc[:] = 0
            j0, j1 = windows_touching(w, kw, sw, pw, 1, OW)
            for i in range(i0, i1):
                a0, a1, apad = avg_span(i, kh, sh, ph, H)
                for j in range(j0, j1):
                    b0, b1, bpad = avg_span(j, kw, sw, pw, W)
                    divisor = avg_divisor(a0, a1, apad, b0, b1, bpad, count_include_pad,
                                          divisor_override)
                    scaled_add_sweep(g[n, i, j], acc, C, g.dtype.type(divisor))
