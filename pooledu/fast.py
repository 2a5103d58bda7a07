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
from .cpu import max_pool2d as cpu_max_pool2d
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
def split_phases(row, phases, s, M, Lp):
    """phases[r*Lp + M + m] = row[r + s*m]: the row's s phases, each in a slot of
    Lp cells after a margin of M (the margins are never written)."""
    W = row.shape[0]
    M, Lp = uint64(M), uint64(Lp)
    if s == 1:
        for m in range(uint64(W)):
            phases[M + m] = row[m]
    elif s == 2:  # deinterleave, written so that LLVM vectorises it
        for m in range(uint64(W // 2)):
            phases[M + m] = row[2 * m]
            phases[Lp + M + m] = row[2 * m + 1]
        if W % 2:
            phases[M + W // 2] = row[W - 1]
    else:
        for r in range(s):
            for m in range((W - r + s - 1) // s):
                phases[r * Lp + M + m] = row[r + s * m]


@register_jitable
def tap_table(kw, sw, pw, dw, W, OW, M, Lp):
    """For each horizontal tap v, once per call: the output columns [j0, j1) whose
    tap lands inside the row (at column sw*j + off), where the tap of column j0
    sits in the phase layout of ``split_phases``, and off itself.
    Rows (kw, 4): j0, j1, start, off."""
    taps = np.empty((kw, 4), np.int64)
    for v in range(kw):
        off = dw * v - pw
        j0 = max(ceil_div(-off, sw), 0)
        r = off % sw
        taps[v, 0] = j0
        taps[v, 1] = min((W - 1 - off) // sw + 1, OW)
        taps[v, 2] = r * Lp + M + j0 + (off - r) // sw
        taps[v, 3] = off
    return taps


# ---------------------------------------------------------------------------
# the contiguous sweeps (unsigned t, selects instead of branches: SIMD-friendly)

@register_jitable
def max_sweep(src, s0, best, tap, new_best, new_tap, k, tap_of, t0, n):
    """new_best[t], new_tap[t] = src[s0 + t], k + tap_of[t0 + t] where the max rule
    says so, else best[t], tap[t].

    The results go to other arrays than the ones read: an in-place select
    compiles to a masked store, which is slow on many x86 cores, where a
    blend and a plain store are fast. (Two halves of one array would not
    do: LLVM then cannot tell that reads and writes never overlap, and does
    not vectorise.)
    """
    for t in range(uint64(n)):
        val, b, a = src[s0 + t], best[t], tap[t]
        take = max_wins(val, b, a)
        new_best[t] = val if take else b
        new_tap[t] = k + tap_of[t0 + t] if take else a


@register_jitable
def max_step(c, src, s0, best0, tap0, best1, tap1, k, tap_of, t0, n):
    """One max_sweep from the pair (best_c, tap_c) into the other; returns the new c."""
    if c == 0:
        max_sweep(src, s0, best0, tap0, best1, tap1, k, tap_of, t0, n)
    else:
        max_sweep(src, s0, best1, tap1, best0, tap0, k, tap_of, t0, n)
    return 1 - c


@register_jitable
def add_sweep(src, acc, n):
    """acc[t] += src[t]."""
    for t in range(uint64(n)):
        acc[t] += src[t]


# ---------------------------------------------------------------------------
# max pooling

VEC = 32  # sweeps run over a multiple of this many columns: no scalar remainder loop


@register_jitable
def sweep_layout(W, OW, kw, sw, pw, dw):
    """The sweep width n (OW rounded up to VEC) and the slot Lp of one phase in
    ``split_phases``: a margin of pw, the phase, and room for the last tap's sweep."""
    n = ceil_div(OW, VEC) * VEC
    return n, pw + max(ceil_div(W, sw), (dw * (kw - 1) - pw) // sw + n)


@register_jitable
def window_offsets_fit(kh, kw, dh, dw, W):
    """Whether a tap's offset within its window, dh*u*W + dw*v, and minus one
    more than the largest, fit the int32 scratch of the fast max kernels."""
    return dh * (kh - 1) * W + dw * (kw - 1) < 2**30


@register_jitable
def max_plane(x, y, idx, phases, best, tap, tap_of, taps, kh, kw, sh, sw, ph, pw, dh):
    """One plane of max pooling: each tap (u, v) swept across output row i.

    The running maximum of each column and where in its window it lies
    (``dh*u*W + dw*v``, -1 for nothing yet) go back and forth between the two
    rows of ``best`` and ``tap``. Every sweep covers all ``n`` columns, the
    few a tap misses at the borders included: there it reads the -inf margins
    of ``phases``, and ``tap_of`` makes its offset negative, so it never takes
    a column's place.
    """
    H, W = x.shape
    OH, OW = y.shape
    n = best.shape[1]
    best0, best1, tap0, tap1 = best[0], best[1], tap[0], tap[1]
    for i in range(OH):
        best0[:] = -math.inf
        tap0[:] = -1
        c = 0  # the pair that holds the running results
        for u in range(kh):
            h = sh * i - ph + dh * u
            if h < 0 or h >= H:
                continue
            split_phases(x[h], phases, sw, pw, phases.shape[0] // sw)
            for v in range(kw):
                c = max_step(c, phases, uint64(taps[v, 2] - taps[v, 0]), best0, tap0, best1, tap1,
                             dh * u * W, tap_of, uint64(v * n), n)
        base = (sh * i - ph) * W - pw  # flat index of window (i, 0)'s tap (0, 0)
        for j in range(OW):
            k = tap[c, j]
            y[i, j] = best[c, j]
            idx[i, j] = base + sw * j + k if k >= 0 else -1


@njit(parallel=True, cache=True)
def max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    OW = y.shape[2]
    if not window_offsets_fit(kh, kw, dh, dw, W):  # a window too large for int32 offsets
        return cpu_max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw)
    n, Lp = sweep_layout(W, OW, kw, sw, pw, dw)
    taps = tap_table(kw, sw, pw, dw, W, OW, pw, Lp)
    # tap_of[v*n + j] = dw*v where tap v of column j is inside the row, else a
    # number so negative that dh*u*W + tap_of[v*n + j] stays negative
    outside = -(dh * (kh - 1) * W + dw * (kw - 1) + 1)
    tap_of = np.empty(kw * n, np.int32)
    for v in range(kw):
        for j in range(n):
            tap_of[v * n + j] = dw * v if taps[v, 0] <= j < taps[v, 1] else outside
    chunks = min(P, CHUNKS)
    phases = np.full((chunks, sw * Lp), -math.inf, x.dtype)  # margins stay -inf
    best = np.empty((chunks, 2, n), x.dtype)  # two rows of n: read one, write the other
    tap = np.empty((chunks, 2, n), np.int32)
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            max_plane(x[p], y[p], idx[p], phases[c], best[c], tap[c], tap_of, taps,
                      kh, kw, sh, sw, ph, pw, dh)


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
def avg_plane(x, y, phases, acc, taps, divisors, lo, hi, pad, kh, kw, sh, sw, ph, pw,
              count_include_pad, divisor_override):
    """One plane of average pooling: window sums tap by tap, then one division per output.

    As in ``max_plane``, every sweep covers all ``n`` columns of ``acc``; the
    taps that fall outside the row read the zero margins of ``phases``, and
    adding +0.0 changes no sum (a sum that starts at +0.0 is never -0.0).
    """
    H, W = x.shape
    OH, OW = y.shape
    n = acc.shape[0]
    for i in range(OH):
        acc[:] = 0
        for u in range(kh):
            h = sh * i - ph + u
            if h < 0 or h >= H:
                continue
            split_phases(x[h], phases, sw, pw, phases.shape[0] // sw)
            for v in range(kw):
                add_sweep(phases[taps[v, 2] - taps[v, 0]:], acc, n)
        row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, divisors)
        for j in range(OW):
            # a divisor of 0: a window of padding only, whose sum stays 0, undivided
            y[i, j] = acc[j] / x.dtype.type(divisors[j]) if divisors[j] != 0 else acc[j]


@njit(parallel=True, cache=True)
def avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling, tap by tap across output rows; chunks of planes in parallel."""
    P, H, W = x.shape
    OW = y.shape[2]
    lo, hi, pad = np.empty(OW, np.int64), np.empty(OW, np.int64), np.empty(OW, np.int64)
    column_spans(kw, sw, pw, W, OW, lo, hi, pad)
    n, Lp = sweep_layout(W, OW, kw, sw, pw, 1)
    chunks = min(P, CHUNKS)
    phases = np.zeros((chunks, sw * Lp), x.dtype)  # margins stay 0
    acc = np.empty((chunks, n), x.dtype)
    divisors = np.empty((chunks, OW), np.int64)
    taps = tap_table(kw, sw, pw, 1, W, OW, pw, Lp)
    for c in prange(chunks):
        first, stop = chunk(c, chunks, P)
        for p in range(first, stop):
            avg_plane(x[p], y[p], phases[c], acc[c], taps, divisors[c], lo, hi, pad, kh, kw, sh,
                      sw, ph, pw, count_include_pad, divisor_override)


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
    taps = tap_table(kw, sw, pw, 1, W, OW, 0, ceil_div(W, sw))
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
    """Max pooling on (N, H, W, C) memory: every tap updates a whole channel vector.

    As in ``max_plane``, the running maximum and its offset in the window go
    back and forth between two scratch vectors; taps outside the plane are
    skipped.
    """
    N, H, W, C = x.shape
    OH, OW = y.shape[1:3]
    flat = x.reshape(N * H * W * C)  # (N*H*W*C,): a channel vector starts at ((n*H + h)*W + w)*C
    no_shift = np.zeros(C, np.int32)  # every channel takes the tap's offset as it is
    rows = N * OH
    chunks = min(rows, CHUNKS)
    best = np.empty((chunks, 2, C), x.dtype)
    tap = np.empty((chunks, 2, C), np.int32)
    for q in prange(chunks):
        first, stop = chunk(q, chunks, rows)
        best0, best1, tap0, tap1 = best[q, 0], best[q, 1], tap[q, 0], tap[q, 1]
        for r in range(first, stop):
            n, i = r // OH, r % OH
            for j in range(OW):
                best0[:] = -math.inf
                tap0[:] = -1
                c = 0
                for u in range(kh):
                    h = sh * i - ph + dh * u
                    if h < 0 or h >= H:
                        continue
                    for v in range(kw):
                        w = sw * j - pw + dw * v
                        if 0 <= w < W:
                            c = max_step(c, flat, uint64(((n * H + h) * W + w) * C), best0, tap0,
                                         best1, tap1, dh * u * W + dw * v, no_shift, uint64(0), C)
                base = (sh * i - ph) * W + sw * j - pw  # flat index of the window's tap (0, 0)
                out, arg = y[n, i, j], idx[n, i, j]
                for ch in range(uint64(C)):
                    k = tap[q, c, ch]
                    out[ch] = best[q, c, ch]
                    arg[ch] = base + k if k >= 0 else -1


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
