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

Backward passes stay race-free and deterministic, but are not gathers: each
parallel iteration owns whole planes, so no other thread writes them, and
within a plane the windows are visited in row-major order, so every cell adds
its contributions in the order the reference gather does (same bits). This
reads each output gradient once, where a gather reads it once per cell it
reaches.

Scratch (one row's phases) is allocated once per call, one row per chunk of
planes; the parallel loop runs over those chunks and allocates nothing.
Index arithmetic in the sweeps is unsigned (``uint64``): with signed indices
Numba adds a negative-index check to every access, which blocks vectorisation.
"""

import math

import numpy as np
from numba import int64, njit, prange, uint64
from numba.extending import register_jitable

from .cpu import global_avg_pool2d_backward, global_max_pool2d  # noqa: F401 (same in both)
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
    W = row.shape[0]
    if s <= 2:  # the common strides, written so that LLVM vectorises them (copy, deinterleave)
        for m in range(uint64(W // s)):
            phases[m] = row[s * m]
            if s == 2:
                phases[uint64(L) + m] = row[2 * m + 1]
        if W % s:
            phases[W // s] = row[W - 1]
        return
    for r in range(s):
        for m in range((W - r + s - 1) // s):
            phases[r * L + m] = row[r + s * m]


@register_jitable
def tap_table(kw, sw, pw, dw, W, OW):
    """For each horizontal tap v, once per call: the output columns [j0, j1) whose
    tap lands inside the row (at column sw*j + off), where the first of those
    taps sits in the phase layout, and off itself. Rows (kw, 4): j0, j1, start, off."""
    L = (W + sw - 1) // sw
    taps = np.empty((kw, 4), np.int64)
    for v in range(kw):
        off = dw * v - pw
        j0 = max(ceil_div(-off, sw), 0)
        r = off % sw
        taps[v, 0] = j0
        taps[v, 1] = min((W - 1 - off) // sw + 1, OW)
        taps[v, 2] = r * L + j0 + (off - r) // sw
        taps[v, 3] = off
    return taps


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
def max_plane(x, y, idx, phases, taps, kh, kw, sh, sw, ph, pw, dh, dw):
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
                j0, j1, start, off = taps[v, 0], taps[v, 1], taps[v, 2], taps[v, 3]
                if j0 < j1:
                    max_sweep(phases[start:], best[j0:], arg[j0:], j1 - j0,
                              h * W + sw * j0 + off, sw)


@njit(parallel=True, cache=True)
def max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    chunks = min(P, CHUNKS)
    scratch = np.empty((chunks, sw * ((W + sw - 1) // sw)), x.dtype)  # one row's phases
    taps = tap_table(kw, sw, pw, dw, W, y.shape[2])
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            max_plane(x[p], y[p], idx[p], scratch[c], taps, kh, kw, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def max_pool2d_backward(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """Each window's gradient added to its argmax, windows in row-major order, a plane per iteration.

    The plane belongs to one parallel iteration, so no other thread writes it;
    each cell receives its gradients in the order of the reference gather
    (windows in row-major order), so the sums are the same bits. It reads
    ``idx`` and ``g`` once, where the gather reads each window several times.
    """
    P, H, W = gx.shape
    OH, OW = g.shape[1:]
    for p in prange(P):
        plane = gx[p].reshape(H * W)  # (H*W,): flat, as the indices count
        plane[:] = 0
        for i in range(OH):
            for j in range(OW):
                k = idx[p, i, j]
                if k >= 0:  # -1: a window of padding only, whose gradient goes nowhere
                    plane[k] += g[p, i, j]


# ---------------------------------------------------------------------------
# average pooling

@register_jitable
def column_spans(kw, sw, pw, W, OW, lo, hi, pad):
    """avg_span of every output column, computed once per call instead of once per output."""
    for j in range(OW):
        lo[j], hi[j], pad[j] = avg_span(j, kw, sw, pw, W)


@register_jitable
def row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, out):
    """out[j] = the divisor of window (i, j); 0 where the window holds no input cell."""
    h0, h1, hpad = avg_span(i, kh, sh, ph, H)
    for j in range(out.shape[0]):
        out[j] = 0
        if h0 < h1 and lo[j] < hi[j]:
            out[j] = avg_divisor(h0, h1, hpad, lo[j], hi[j], pad[j], count_include_pad,
                                 divisor_override)


@register_jitable
def avg_plane(x, y, phases, taps, divisors, lo, hi, pad, kh, kw, sh, sw, ph, pw,
              count_include_pad, divisor_override):
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
                j0, j1, start = taps[v, 0], taps[v, 1], taps[v, 2]
                if j0 < j1:
                    add_sweep(phases[start:], acc[j0:], j1 - j0)
        row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, divisors)
        for j in range(OW):
            if divisors[j] != 0:  # 0: a window of padding only stays 0, undivided
                acc[j] = acc[j] / x.dtype.type(divisors[j])


@njit(parallel=True, cache=True)
def avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    OW = y.shape[2]
    lo, hi, pad = np.empty(OW, np.int64), np.empty(OW, np.int64), np.empty(OW, np.int64)
    column_spans(kw, sw, pw, W, OW, lo, hi, pad)
    chunks = min(P, CHUNKS)
    scratch = np.empty((chunks, sw * ((W + sw - 1) // sw)), x.dtype)  # one row's phases
    divisors = np.empty((chunks, OW), np.int64)
    taps = tap_table(kw, sw, pw, 1, W, OW)
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            avg_plane(x[p], y[p], scratch[c], taps, divisors[c], lo, hi, pad, kh, kw, sh, sw,
                      ph, pw, count_include_pad, divisor_override)


@register_jitable
def strided_add(src, row, n, s, first):
    """row[first + s*t] += src[t]; contiguous (and vectorised) when s == 1."""
    if s == 1:
        add_sweep(src, row[first:], n)
    else:
        for t in range(n):
            row[first + s * t] += src[t]


@register_jitable
def avg_grad_plane(g, gx, taps, divisors, share, lo, hi, pad, kh, kw, sh, sw, ph, pw,
                   count_include_pad, divisor_override):
    """One plane of the average-pooling gradient: each output row spreads g / divisor
    over the input rows it covers, tap by tap."""
    H, W = gx.shape
    OH, OW = g.shape
    gx[:] = 0
    for i in range(OH):
        row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, divisors)
        for j in range(OW):
            share[j] = g[i, j] / g.dtype.type(divisors[j]) if divisors[j] != 0 else 0
        for u in range(kh):
            h = sh * i - ph + u
            if h < 0 or h >= H:
                continue
            # taps from right to left, so each cell meets the windows j in increasing order
            for v in range(kw - 1, -1, -1):
                j0, j1, off = taps[v, 0], taps[v, 1], taps[v, 3]
                if j0 < j1:
                    strided_add(share[j0:], gx[h], j1 - j0, sw, sw * j0 + off)


@njit(parallel=True, cache=True)
def avg_pool2d_backward(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx of average pooling, output row by output row, a plane per parallel iteration.

    As in the max backward, each plane belongs to one iteration and every cell
    adds its windows' shares in row-major window order: the reference's bits.
    """
    P, H, W = gx.shape
    OW = g.shape[2]
    lo, hi, pad = np.empty(OW, np.int64), np.empty(OW, np.int64), np.empty(OW, np.int64)
    column_spans(kw, sw, pw, W, OW, lo, hi, pad)
    chunks = min(P, CHUNKS)
    divisors = np.empty((chunks, OW), np.int64)
    share = np.empty((chunks, OW), g.dtype)
    taps = tap_table(kw, sw, pw, 1, W, OW)
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            avg_grad_plane(g[p], gx[p], taps, divisors[c], share[c], lo, hi, pad, kh, kw, sh, sw,
                           ph, pw, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# global average pooling

LANES = 8  # planes summed side by side, one per SIMD lane


@register_jitable
def sum_lanes(flat, p0, lanes, acc):
    """acc[k] += flat[p0 + k, t] for t in order: each plane's own sequential sum."""
    for t in range(flat.shape[1]):
        for k in range(lanes):
            acc[k] += flat[p0 + k, t]


@njit(parallel=True, cache=True)
def global_avg_pool2d(x, y):
    """Plane means, eight planes at a time.

    Each plane still adds its cells in order, in float64, exactly as
    ``formulas.global_mean`` does, so the bits are the reference's; the
    eight running sums advance together, which SIMD can do.
    """
    P, H, W = x.shape
    flat = x.reshape(P, H * W)  # (P, H*W): one row per plane
    blocks = (P + LANES - 1) // LANES
    acc = np.zeros((blocks, LANES))
    for b in prange(blocks):
        p0 = b * LANES
        lanes = min(LANES, P - p0)
        if lanes == LANES:
            sum_lanes(flat, p0, LANES, acc[b])  # a constant trip count: vectorised
        else:
            sum_lanes(flat, p0, lanes, acc[b])
        for k in range(lanes):
            y[p0 + k] = x.dtype.type(acc[b, k] / (H * W))


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
