"""Fast CPU schedules: the formulas of ``formulas.py`` in a loop order that vectorises.

``cpu.py`` computes one output at a time, exactly as the formula reads. Here
one window *tap* (u, v) at a time is swept across a whole block of outputs,
so the innermost loop is one long run over contiguous memory, which LLVM
turns into SIMD instructions:

    for each block of output rows:
        copy the input rows the block reads, each once, in stride phases
        for each tap (u, v), in the formula's order:
            for every output (i, j) of the block at once:
                best = max-rule(best, x[sh*i - ph + dh*u, sw*j - pw + dw*v])

Three ideas make that sweep contiguous, and each is a few lines below:

* **Images.** Every kernel sees (N, H, W, C) memory. An NCHW array is a
  stack of (H, W, 1) images, one per (n, c) plane; a channels-last array is
  (N, H, W, C) as it lies. A "column" of the sweep is then one pixel's C
  channels, and the same code vectorises over W for NCHW and over W and C
  for channels-last. (Channels-last images of many channels need no copy at
  all: ``fast_nhwc`` reads their windows where they lie, and the ``_nhwc``
  entry points below send them there.)
* **Stride phases.** A stride ``sw`` would make a tap read every sw-th pixel.
  So each input row is copied as its ``sw`` phases (phase q holds pixels
  q, q + sw, q + 2*sw, ...); tap v of output column j then reads position
  ``j + shift_v`` of one phase: contiguous in j (``split_row``, ``tap_phase``).
  Rows are grouped the same way by the row stride, so that tap row u of
  consecutive output rows reads consecutive rows of one group (``stage_block``).
* **Blocks of rows.** A short row (AlexNet's 27 outputs) makes a short sweep,
  and a short sweep is mostly loop overhead. The phases of R rows are laid
  side by side in slots of equal length, so one sweep covers R rows; the few
  elements between two rows' outputs are swept too and thrown away.

Taps outside the input read margins that hold the padding's value (-inf for
max, 0 for average) instead of being skipped, so no sweep has a bounds test.
Adding +0.0 changes no sum (a sum that starts at +0.0 never becomes -0.0). A
-inf from the margin survives only in a window with nothing larger than -inf
inside; those windows, at the border only, are computed again with the
formula, so that their index points at a cell inside the input as the
formula's does. Every window still meets its taps in row-major order under
the same rule, so the results are bit for bit those of ``cpu.py``; the tests
check this on every configuration they generate.

Backward passes are gathers, as in ``cpu.py``: each input cell's gradient is
the sum, in row-major window order, of what the windows that hold it send
it, and it is written once. For average pooling that sum is built for a
block of input rows at once, in the stride-phase layout, tap by tap in
reverse (so that each cell still meets its windows in row-major order), then
copied out. Max pooling needs no taps: an index names its cell, so each
block of input rows reads the windows that reach it, in row-major order, and
adds each gradient whose index falls in the block to that cell
(``max_route_rows``). Each parallel iteration owns its block of cells: no
races, the same bits on any number of threads. 1D pooling's gathers are the
family's (``fast_family``).

Global pooling: means sixteen planes side by side in float64 lanes, each
plane still summed in order; maxima a plane at a time in two vectorised
passes (``fast_family.run_max``).

Scratch (a block's phases and running results) is allocated in the body of
the parallel loop over chunks of work, which Numba hoists to once per thread:
the extra memory is a few blocks, whatever the size of the input. Index
arithmetic in the sweeps is unsigned (``uint64``): with signed indices Numba
adds a negative-index check to every access, which blocks vectorisation.
"""

import math

import numba
import numpy as np
from numba import int32, njit, prange, uint64
from numba.extending import register_jitable

from .fast_nhwc import (UNPOOL_RUN, add_pixels, avg_pool2d_direct, broadcast_indices_outside,
                        broadcast_windows_direct, indices_fit, lp_pool2d_direct,
                        lp_power_grads_direct, lp_root_grads_direct,
                        max_broadcast_pool2d_backward_direct, max_broadcast_pool2d_direct,
                        max_pool2d_backward_direct, max_pool2d_direct,
                        max_unpool2d_backward_direct, max_unpool2d_direct, reads_in_place)
# channels-last adaptive and global max pooling are fast_nhwc's alone; dispatch finds them here
from .fast_nhwc import (adaptive_avg_pool2d_backward_nhwc, adaptive_avg_pool2d_nhwc,  # noqa: F401
                        adaptive_max_pool2d_backward_nhwc, adaptive_max_pool2d_nhwc,
                        global_max_pool2d_nhwc)
from .formulas import (avg_divisor, avg_grad_cell, avg_span, avg_window, global_mean_grad,
                       max_window, max_wins)
from .geometry import ceil_div, tap_span, windows_touching

# the pooling family's fast kernels live in their own module; dispatch finds them here
from .fast_family import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward,  # noqa: F401
                          adaptive_avg_pool3d, adaptive_avg_pool3d_backward, adaptive_max_pool2d,
                          adaptive_max_pool2d_backward, adaptive_max_pool3d,
                          adaptive_max_pool3d_backward, avg_pool3d, avg_pool3d_backward,
                          fractional_max_pool2d,
                          fractional_max_pool2d_backward, index_gather_rows,
                          max_broadcast_pool2d_backward, max_pool3d, max_pool3d_backward,
                          max_unpool2d, max_unpool2d_backward, run_max, volumes)
from .fast_lp import lp_pool2d_rows, lp_root_shares, lp_share_gather
# and so do the channels_last_3d volume kernels
from .fast_ndhwc import (adaptive_avg_pool3d_ndhwc, adaptive_max_pool3d_ndhwc,  # noqa: F401
                         avg_pool3d_ndhwc, max_pool3d_backward_ndhwc, max_pool3d_ndhwc)

CHUNKS = 64  # parallel work items: enough to balance many threads
BLOCK = 4096  # elements one sweep covers at most (rows x slot x channels): long, and still in L1/L2
ROUTE_STRIDES = 32  # row strides a block of the max backward's routing covers at least


@register_jitable
def chunk(c, chunks, items):
    """Items [start, stop) of chunk c when ``items`` are cut into ``chunks`` runs."""
    return c * items // chunks, (c + 1) * items // chunks


# ---------------------------------------------------------------------------
# the layout: a row's stride phases, side by side for a block of rows

@register_jitable
def phase_layout(W, OW, kw, sw, pw, dw):
    """Margin M and slot length L, in pixels, of one stride phase of a row.

    Slot position ``M + m`` of phase q holds pixel ``q + sw*m``. Tap v of
    output column j reads pixel ``sw*j + dw*v - pw``, which is slot position
    ``j + tap_phase(v)[1]``: M and L leave room for every such read by an
    output column ``j < OW``, and for every pixel of the row.
    """
    M = ceil_div(pw, sw)
    return M, M + max(ceil_div(W, sw), (dw * (kw - 1) - pw) // sw + OW)


@register_jitable
def tap_phase(v, sw, pw, dw, M):
    """Horizontal tap v: its phase q, and the slot position that output column 0 reads."""
    off = dw * v - pw
    q = off % sw
    return q, M + (off - q) // sw


@register_jitable
def rows_per_block(rows, L, C):
    """How many rows one sweep covers: as many slots of L*C elements as fit in BLOCK."""
    return max(1, min(rows, BLOCK // (L * C)))


@register_jitable
def split_row(x, start, W, C, s, out, first, stride):
    """out[first + q*stride + m*C + ch] = x[start + (q + s*m)*C + ch]: a row's s phases.

    ``x[start:]`` is the row (W pixels of C channels); phase q goes to
    ``out[first + q*stride:]``.
    """
    start, first, stride, one, two = uint64(start), uint64(first), uint64(stride), uint64(1), uint64(2)
    if C == 1 and s == 1:
        for w in range(uint64(W)):
            out[first + w] = x[start + w]
    elif C == 1 and s == 2:  # deinterleave, all unsigned, so that LLVM vectorises it with permutes
        for m in range(uint64(W // 2)):
            out[first + m] = x[start + two * m]
            out[first + stride + m] = x[start + two * m + one]
        if W % 2:
            out[first + uint64(W // 2)] = x[start + uint64(W - 1)]
    else:  # phase by phase: no division per pixel
        for q in range(min(s, W)):
            dst = first + uint64(q) * stride
            for m in range((W - q + s - 1) // s):  # pixels q, q + s, ... below W
                src = start + uint64((q + s * m) * C)
                at = dst + uint64(m * C)
                for ch in range(uint64(C)):
                    out[at + ch] = x[src + ch]


@register_jitable
def merge_row(src, first, stride, W, C, s, x, start):
    """x[start + (q + s*m)*C + ch] = src[first + q*stride + m*C + ch]: split_row undone."""
    start, first, stride, one, two = uint64(start), uint64(first), uint64(stride), uint64(1), uint64(2)
    if C == 1 and s == 1:
        for w in range(uint64(W)):
            x[start + w] = src[first + w]
    elif C == 1 and s == 2:
        for m in range(uint64(W // 2)):
            x[start + two * m] = src[first + m]
            x[start + two * m + one] = src[first + stride + m]
        if W % 2:
            x[start + uint64(W - 1)] = src[first + uint64(W // 2)]
    else:
        for w in range(W):
            at = first + uint64(w % s) * stride + uint64(w // s * C)
            dst = start + uint64(w * C)
            for ch in range(uint64(C)):
                x[dst + ch] = src[at + ch]


@register_jitable
def fill(a, start, n, value):
    """a[start:start + n] = value, with the unsigned indices of the sweeps."""
    for t in range(uint64(n)):
        a[uint64(start) + t] = value


@register_jitable
def inner_span(k, s, p, d, size, out_size):
    """Outputs [lo, hi) whose every tap is inside the input: the others touch padding."""
    lo = tap_span(0, s, p, d, size, out_size)[0]
    hi = tap_span(k - 1, s, p, d, size, out_size)[1]
    return lo, max(lo, hi)


# ---------------------------------------------------------------------------
# the sweeps: one tap across a block (unsigned t, selects instead of branches)

@register_jitable
def max_sweep(src, s0, best, tap, new_best, new_tap, k, n):
    """new_best[t], new_tap[t] = src[s0 + t], k where the max rule says so, else best[t], tap[t].

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
        new_tap[t] = k if take else a


@register_jitable
def max_step(c, src, s0, best0, tap0, best1, tap1, k, n):
    """One max_sweep from the pair (best_c, tap_c) into the other; returns the new c."""
    if c == 0:
        max_sweep(src, s0, best0, tap0, best1, tap1, k, n)
    else:
        max_sweep(src, s0, best1, tap1, best0, tap0, k, n)
    return 1 - c


@register_jitable
def add_sweep(src, s0, acc, d0, n):
    """acc[d0 + t] += src[s0 + t]."""
    for t in range(uint64(n)):
        acc[d0 + t] += src[s0 + t]


# ---------------------------------------------------------------------------
# forward: a block of output rows, tap by tap

@register_jitable
def phase_rows(R, kh, sh, dh):
    """Input rows per row phase that output rows i0 .. i0+R-1 read: R, and the
    rows that the lower taps of the last window rows reach beyond them."""
    return R + dh * (kh - 1) // sh


@register_jitable
def slot(qh, qw, a, A, sw, LC):
    """Where, in a block's staged input, row a of row phase qh has its column phase qw."""
    return ((qh * sw + qw) * A + a) * LC


@register_jitable
def row_phase_reach(qh, kh, sh, dh):
    """The rows [lo, hi] of row phase qh beyond r that tap rows reach: tap row u
    with dh*u = qh (mod sh) reads row r + (dh*u)//sh. (lo > hi: none does.)"""
    lo, hi = kh, -1
    for u in range(kh):
        if dh * u % sh == qh:
            lo, hi = min(lo, dh * u // sh), max(hi, dh * u // sh)
    return lo, hi


@register_jitable
def stage_block(xf, n, i0, R, A, H, W, C, kh, sh, sw, ph, dh, phases, M, L, pad):
    """Every input row that output rows i0 .. i0+R-1 read, each copied once, in stride phases.

    Tap row u of output row i0 + r reads input row sh*(i0 + r) - ph + dh*u,
    which is row a = r + (dh*u)//sh of row phase qh = (dh*u) % sh (input rows
    sh*(i0 + a) - ph + qh). Rows outside the input fill their slots with ``pad``.
    ``xf`` is the flat (N*H*W*C,) input.
    """
    LC = L * C
    for qh in range(sh):
        lo, hi = row_phase_reach(qh, kh, sh, dh)
        for a in range(lo, R + hi):  # nothing when no tap row reads this row phase
            h = sh * (i0 + a) - ph + qh
            first = slot(qh, 0, a, A, sw, LC)
            if 0 <= h < H:
                split_row(xf, ((n * H + h) * W) * C, W, C, sw, phases, first + M * C, A * LC)
            else:
                for qw in range(sw):
                    fill(phases, first + qw * A * LC, LC, pad)


@register_jitable
def tap_start(u, v, A, LC, C, sh, sw, pw, dh, dw, M):
    """Where in the staged block tap (u, v) of the block's first output reads."""
    qw, pos = tap_phase(v, sw, pw, dw, M)
    return uint64(slot(dh * u % sh, qw, dh * u // sh, A, sw, LC) + pos * C)


@register_jitable
def redo_minus_inf(x, yf, idxf, n, i, OH, OW, t, kh, kw, sh, sw, ph, pw, dh, dw):
    """Output t = j*C + ch of row i of image n once more by the formula.

    Called where a border window's maximum came out as -inf: that -inf may
    have been taken from the margin, and its index then points at padding.
    """
    C = x.shape[3]
    j, ch = t // C, t % C
    at = ((n * OH + i) * OW) * C + t
    yf[at], idxf[at] = max_window(x[n, :, :, ch], i, j, kh, kw, sh, sw, ph, pw, dh, dw)


@register_jitable
def max_block(x, xf, yf, idxf, n, i0, R, A, phases, best0, tap0, best1, tap1, column_of,
              OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, M, L):
    """Max pooling of output rows i0 .. i0+R-1 of image n: each tap swept across the block.

    ``best`` and ``tap`` (two of each) hold every output's running maximum
    and where it lies in its window (``dh*u*W + dw*v``, -1 for nothing yet);
    each sweep reads one pair and writes the other. ``xf``, ``yf`` and
    ``idxf`` are flat views of the (N, H, W, C) input and outputs.
    """
    N, H, W, C = x.shape
    LC = L * C
    swept = (R - 1) * LC + OW * C  # every output of the block, and the gaps between rows
    fill(best0, 0, swept, -math.inf)
    fill(tap0, 0, swept, int32(-1))
    stage_block(xf, n, i0, R, A, H, W, C, kh, sh, sw, ph, dh, phases, M, L, -math.inf)
    c = 0  # the pair that holds the running results
    for u in range(kh):
        for v in range(kw):
            c = max_step(c, phases, tap_start(u, v, A, LC, C, sh, sw, pw, dh, dw, M), best0, tap0,
                         best1, tap1, int32(dh * u * W + dw * v), swept)
    best, tap = (best0, tap0) if c == 0 else (best1, tap1)
    ilo, ihi = inner_span(kh, sh, ph, dh, H, OH)
    jlo, jhi = inner_span(kw, sw, pw, dw, W, OW)
    for r in range(R):
        i = i0 + r
        out = uint64(((n * OH + i) * OW) * C)
        row = uint64(r * LC)
        corner = (sh * i - ph) * W  # flat index of window (i, j)'s tap (0, 0), less column_of[j*C]
        for t in range(uint64(OW * C)):
            k = tap[row + t]
            yf[out + t] = best[row + t]
            idxf[out + t] = corner + column_of[t] + k if k >= 0 else -1
        # border windows whose maximum came out as -inf: once more by the formula
        inner_row = ilo <= i < ihi
        for t in range(uint64((jlo if inner_row else OW) * C)):
            if yf[out + t] == -math.inf:
                redo_minus_inf(x, yf, idxf, n, i, OH, OW, t, kh, kw, sh, sw, ph, pw, dh, dw)
        for t in range(uint64((jhi if inner_row else OW) * C), uint64(OW * C)):
            if yf[out + t] == -math.inf:
                redo_minus_inf(x, yf, idxf, n, i, OH, OW, t, kh, kw, sh, sw, ph, pw, dh, dw)


@register_jitable
def column_table(OW, C, sw, pw):
    """column_of[j*C + ch] = sw*j - pw: the flat column of window j's tap (0, 0)."""
    column_of = np.empty(OW * C, np.int64)
    for j in range(OW):
        for ch in range(C):
            column_of[j * C + ch] = sw * j - pw
    return column_of


def layout_fits(H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """Whether the block layout serves this window, or the formula runs as it reads.

    The layout's scratch holds ``sh * sw`` phases with margins of ``pw / sw``
    pixels, so it grows with the stride and the padding; past the input's own
    size (where every window is mostly padding, or reads one or two cells) the
    reference loop is as fast and its memory stays the outputs alone. A tap's
    offset within its window, ``dh*u*W + dw*v``, must also fit the int32
    scratch of the max kernels, with room to spare.
    """
    return (sh <= H and sw <= W and ph <= H and pw <= W
            and dh * (kh - 1) * W + dw * (kw - 1) < 2**30)


@njit(parallel=True, cache=True)
def max_pool2d_images(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y, idx of max pooling of (N, H, W, C) images; blocks of output rows in parallel."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    M, L = phase_layout(W, OW, kw, sw, pw, dw)
    R = rows_per_block(OH, L, C)
    blocks = ceil_div(OH, R)
    column_of = column_table(OW, C, sw, pw)
    xf, yf, idxf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C), idx.reshape(N * OH * OW * C)
    chunks = min(N * blocks, CHUNKS)
    for c in prange(chunks):
        # this chunk's scratch (Numba allocates it once per thread): slots of -inf
        # whose margins are never written again, and two pairs of running results
        A = phase_rows(R, kh, sh, dh)
        ph_c = np.full(sh * sw * A * L * C, -math.inf, x.dtype)
        best0, best1 = np.empty(R * L * C, x.dtype), np.empty(R * L * C, x.dtype)
        tap0, tap1 = np.empty(R * L * C, np.int32), np.empty(R * L * C, np.int32)
        first, stop = chunk(c, chunks, N * blocks)
        for item in range(first, stop):
            n, b = item // blocks, item % blocks
            i0 = b * R
            max_block(x, xf, yf, idxf, n, i0, min(R, OH - i0), A, ph_c, best0, tap0,
                      best1, tap1, column_of, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, M, L)


@njit(parallel=True, cache=True)
def max_reference_images(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """The formula itself over (N, H, W, C) images, for windows the layout does not serve."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for q in prange(N * OH):
        n, i = q // OH, q % OH
        for j in range(OW):
            for ch in range(C):
                y[n, i, j, ch], idx[n, i, j, ch] = max_window(x[n, :, :, ch], i, j, kh, kw, sh,
                                                              sw, ph, pw, dh, dw)


# The entry points below are plain Python: they only reshape and pick a
# kernel. A cached jitted function that calls a cached parallel one can crash
# when both are loaded back from Numba's cache in a new process (the caller's
# cached code links its own copy of the parallel kernel's loop), so no
# jitted function here calls another parallel one; tests/test_cache.py
# checks that for every module.

def max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """Max pooling of (P, H, W) planes: each plane an (H, W, 1) image."""
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    # (P, H, W) -> (P, H, W, 1): views, no copy
    max_pool2d_nhwc(x.reshape(P, H, W, 1), y.reshape(P, OH, OW, 1), idx.reshape(P, OH, OW, 1),
                    kh, kw, sh, sw, ph, pw, dh, dw)


def max_pool2d_nhwc(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """Max pooling of channels-last (N, H, W, C) memory, output in the same layout. Images
    of many channels have each window read where it lies (``fast_nhwc``), others the blocks."""
    if reads_in_place(x.shape):
        kernel = max_pool2d_direct
    elif layout_fits(x.shape[1], x.shape[2], kh, kw, sh, sw, ph, pw, dh, dw):
        kernel = max_pool2d_images
    else:
        kernel = max_reference_images
    kernel(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw)


# ---------------------------------------------------------------------------
# average pooling, forward: the same blocks, sums instead of maxima

@register_jitable
def column_spans(kw, sw, pw, W, OW, lo, hi, pad):
    """avg_span of every output column, computed once per call instead of once per output."""
    for j in range(OW):
        lo[j], hi[j], pad[j] = avg_span(j, kw, sw, pw, W)


@register_jitable
def row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, out):
    """out[j] = the divisor of window (i, j), as a float; 0 where the window holds no input cell."""
    h0, h1, hpad = avg_span(i, kh, sh, ph, H)
    for j in range(out.shape[0]):
        out[j] = 0
        if h0 < h1 and lo[j] < hi[j]:
            out[j] = avg_divisor(h0, h1, hpad, lo[j], hi[j], pad[j], count_include_pad,
                                 divisor_override)


@register_jitable
def divide_row(acc, a0, divisors, yf, out, OW, C):
    """yf[out + j*C + ch] = acc[a0 + j*C + ch] / divisors[j]; left as it is where the divisor is 0
    (a window of padding only, whose sum stays 0)."""
    a0, out = uint64(a0), uint64(out)
    if C == 1:
        for j in range(uint64(OW)):
            d = divisors[j]
            yf[out + j] = acc[a0 + j] / d if d != 0 else acc[a0 + j]
    else:
        for j in range(OW):
            d = divisors[j]
            at = uint64(j * C)
            for ch in range(uint64(C)):
                yf[out + at + ch] = acc[a0 + at + ch] / d if d != 0 else acc[a0 + at + ch]


@register_jitable
def avg_block(xf, yf, n, i0, R, A, phases, acc, divisors, lo, hi, pad, H, W, C, OH, OW,
              kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, M, L):
    """Average pooling of output rows i0 .. i0+R-1 of image n: window sums tap by tap,
    then one division per output."""
    LC = L * C
    swept = (R - 1) * LC + OW * C
    fill(acc, 0, swept, 0)
    stage_block(xf, n, i0, R, A, H, W, C, kh, sh, sw, ph, 1, phases, M, L, 0)
    for u in range(kh):
        for v in range(kw):
            add_sweep(phases, tap_start(u, v, A, LC, C, sh, sw, pw, 1, 1, M), acc, uint64(0),
                      swept)
    for r in range(R):
        i = i0 + r
        row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, divisors)
        divide_row(acc, r * LC, divisors, yf, ((n * OH + i) * OW) * C, OW, C)


@njit(parallel=True, cache=True)
def avg_pool2d_images(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y of average pooling of (N, H, W, C) images; blocks of output rows in parallel."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    M, L = phase_layout(W, OW, kw, sw, pw, 1)
    R = rows_per_block(OH, L, C)
    blocks = ceil_div(OH, R)
    lo, hi, pad = np.empty(OW, np.int64), np.empty(OW, np.int64), np.empty(OW, np.int64)
    column_spans(kw, sw, pw, W, OW, lo, hi, pad)
    xf, yf = x.reshape(N * H * W * C), y.reshape(N * OH * OW * C)
    chunks = min(N * blocks, CHUNKS)
    for c in prange(chunks):
        A = phase_rows(R, kh, sh, 1)
        ph_c = np.zeros(sh * sw * A * L * C, x.dtype)  # the margins stay 0
        acc_c, div_c = np.empty(R * L * C, x.dtype), np.empty(OW, x.dtype)
        first, stop = chunk(c, chunks, N * blocks)
        for item in range(first, stop):
            n, b = item // blocks, item % blocks
            i0 = b * R
            avg_block(xf, yf, n, i0, min(R, OH - i0), A, ph_c, acc_c, div_c, lo, hi, pad,
                      H, W, C, OH, OW, kh, kw, sh, sw, ph, pw, count_include_pad,
                      divisor_override, M, L)


@njit(parallel=True, cache=True)
def avg_reference_images(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """The formula itself over (N, H, W, C) images, for windows the layout does not serve."""
    N, H, W, C = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for q in prange(N * OH):
        n, i = q // OH, q % OH
        for j in range(OW):
            for ch in range(C):
                y[n, i, j, ch] = avg_window(x[n, :, :, ch], i, j, kh, kw, sh, sw, ph, pw,
                                            count_include_pad, divisor_override)


def avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Average pooling of (P, H, W) planes: each plane an (H, W, 1) image."""
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    # (P, H, W) -> (P, H, W, 1): views, no copy
    avg_pool2d_nhwc(x.reshape(P, H, W, 1), y.reshape(P, OH, OW, 1), kh, kw, sh, sw, ph, pw,
                    count_include_pad, divisor_override)


def avg_pool2d_nhwc(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Average pooling of channels-last (N, H, W, C) memory, output in the same layout. Images
    of many channels have each window read where it lies (``fast_nhwc``), others the blocks."""
    if reads_in_place(x.shape):
        kernel = avg_pool2d_direct
    elif layout_fits(x.shape[1], x.shape[2], kh, kw, sh, sw, ph, pw, 1, 1):
        kernel = avg_pool2d_images
    else:
        kernel = avg_reference_images
    kernel(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# average pooling, backward: gathers into a block of input rows, in the
# stride-phase layout
#
# Input row h = qh + sh*a (row phase qh) receives from window row i = a + e//sh
# through tap row u, where e = qh + ph - u must be a multiple of sh. So for
# input rows a0 .. a0+R-1 of one row phase, tap (u, v) reads R consecutive
# output rows: one contiguous sweep, as in the forward pass. Taps run in
# reverse, u then v, which visits each cell's windows in row-major order.

@register_jitable
def window_row_reach(kh, sh, ph, dh):
    """Least and greatest e//sh over the (qh, u) that contribute: the window rows
    a block of input rows a0 .. a0+R-1 needs are a0 + cmin .. a0 + R-1 + cmax."""
    cmin, cmax = 1 << 62, -(1 << 62)
    for qh in range(sh):
        for u in range(kh):
            e = qh + ph - dh * u
            if e % sh == 0:
                cmin, cmax = min(cmin, e // sh), max(cmax, e // sh)
    return cmin, cmax


@register_jitable
def gather_taps(staged, acc, qh, stride, swept, cmin, L, C, kh, kw, sh, ph, pw, sw, M):
    """Every tap that reaches input rows of phase qh, swept from the staged window rows into acc."""
    for u in range(kh - 1, -1, -1):
        e = qh + ph - u
        if e % sh != 0:
            continue
        s0 = uint64((e // sh - cmin) * L * C)
        for v in range(kw - 1, -1, -1):
            q, pos = tap_phase(v, sw, pw, 1, M)
            add_sweep(staged, s0, acc, uint64(q * stride + pos * C), swept)


@register_jitable
def avg_grad_block(gf, gxf, n, a0, R, stride, staged, acc, lo, hi, pad, divisors, H, W, C, OH,
                   OW, kh, kw, sh, sw, ph, pw, M, L, cmin, cmax, count_include_pad,
                   divisor_override):
    """The gradient of input rows qh + sh*a, a0 <= a < a0+R, for every row phase qh.

    The window rows they need are staged first, in slots like the forward
    pass's: each window's share g / divisor. Slots beyond the outputs hold 0.
    """
    LC = L * C
    for s in range(R + cmax - cmin):
        i = a0 + cmin + s
        dst = uint64(s * LC)
        if i < 0 or i >= OH:
            fill(staged, dst, LC, 0)
            continue
        row_divisors(i, kh, sh, ph, H, lo, hi, pad, count_include_pad, divisor_override, divisors)
        divide_row(gf, ((n * OH + i) * OW) * C, divisors, staged, dst, OW, C)
        fill(staged, dst + OW * C, LC - OW * C, 0)
    swept = (R - 1) * LC + OW * C
    for qh in range(sh):
        fill(acc, 0, acc.shape[0], 0)
        gather_taps(staged, acc, qh, stride, swept, cmin, L, C, kh, kw, sh, ph, pw, sw, M)
        for r in range(R):
            h = qh + sh * (a0 + r)
            if h < H:
                merge_row(acc, (r * L + M) * C, stride, W, C, sw, gxf, ((n * H + h) * W) * C)


@njit(parallel=True, cache=True)
def avg_grad_images(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx of average pooling of (N, H, W, C) images, blocks in parallel."""
    N, H, W, C = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    M, L = phase_layout(W, OW, kw, sw, pw, 1)
    A = ceil_div(H, sh)  # input rows per row phase
    R = rows_per_block(A, L, C)
    blocks = ceil_div(A, R)
    cmin, cmax = window_row_reach(kh, sh, ph, 1)
    lo, hi, pad = np.empty(OW, np.int64), np.empty(OW, np.int64), np.empty(OW, np.int64)
    column_spans(kw, sw, pw, W, OW, lo, hi, pad)
    gf, gxf = g.reshape(N * OH * OW * C), gx.reshape(N * H * W * C)
    chunks = min(N * blocks, CHUNKS)
    for c in prange(chunks):
        st_c = np.empty((R + cmax - cmin) * L * C, g.dtype)
        acc_c, div_c = np.empty(sw * R * L * C, g.dtype), np.empty(OW, g.dtype)
        first, stop = chunk(c, chunks, N * blocks)
        for item in range(first, stop):
            n, b = item // blocks, item % blocks
            a0 = b * R
            avg_grad_block(gf, gxf, n, a0, min(R, A - a0), R * L * C, st_c, acc_c, lo, hi, pad,
                           div_c, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw, M, L, cmin, cmax,
                           count_include_pad, divisor_override)


@njit(parallel=True, cache=True)
def avg_grad_reference_images(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad,
                              divisor_override):
    """The gather formula itself over (N, H, W, C) images, for windows the layout does not serve."""
    N, H, W, C = gx.shape
    for q in prange(N * H):
        n, h = q // H, q % H
        for w in range(W):
            for ch in range(C):
                gx[n, h, w, ch] = avg_grad_cell(g[n, :, :, ch], h, w, H, W, kh, kw, sh, sw, ph,
                                                pw, count_include_pad, divisor_override)


def avg_grad_nhwc(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """The average backward gather of (N, H, W, C) images, by the layout where it fits."""
    fits = layout_fits(gx.shape[1], gx.shape[2], kh, kw, sh, sw, ph, pw, 1, 1)
    kernel = avg_grad_images if fits else avg_grad_reference_images
    kernel(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# max pooling, backward: each block of input rows takes the gradients its own
# cells won, window by window
#
# Tap sweeps like the average gather's would compare every window's index with
# every tap, so a 3x3 window would cost nine sweeps over the staged gradients. An index names
# its cell outright, though: a block of input rows can read the windows that
# reach it, in row-major order, and add each gradient whose index falls inside
# the block to that cell. Every cell still receives its windows in row-major
# order, from a sum that starts at 0 (``formulas.max_grad_cell``), and only
# the block's own parallel iteration writes it.

@njit(parallel=True, cache=True)
def max_route_rows(g, idx, gx, kh, sh, ph, dh, rows):
    """gx of max pooling of (N, H, W, C) images, ``rows`` input rows of an image per parallel item.

    The block's cells are cleared as one contiguous run, then each window
    that reaches the block, in row-major order, adds its gradient to the cell
    its index names, if that cell lies in the block. The test is one unsigned
    comparison (-1, or a cell above the block, wraps to a huge offset). An
    index that ``checks.check_indices`` passes lies in its window's reach, so
    it meets its window here exactly as in the reference gather (even between
    a dilated window's taps); any other index can only move a gradient within
    its block, never write elsewhere. A block stays in L1 or L2 while the
    gradients land (``route_rows`` sizes it).
    """
    N, H, W, C = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    blocks = ceil_div(H, rows)
    channel = np.empty(OW * C, np.int64)  # channel[j*C + ch] = ch
    for t in range(OW * C):
        channel[t] = t % C
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    zero = gx.dtype.type(0)
    for item in prange(N * blocks):
        n, b = item // blocks, item % blocks
        h0, h1 = b * rows, min(H, (b + 1) * rows)
        first, span = uint64((n * H + h0) * W * C), uint64((h1 - h0) * W * C)
        for t in range(span):
            gxf[first + t] = zero
        i0 = windows_touching(h0, kh, sh, ph, dh, OH)[0]
        i1 = windows_touching(h1 - 1, kh, sh, ph, dh, OH)[1]  # both ends grow with the row
        corner = h0 * W * C  # where, in the image, the block's first cell lies
        for i in range(i0, i1):
            src = uint64((n * OH + i) * OW * C)
            # at: the cell's position in the block. NCHW planes (C = 1) skip the channel
            # (a table read and a product less: ~20% faster where the data is in cache;
            # the loop as a helper function lost as much)
            if C == 1:
                for t in range(uint64(OW)):
                    at = uint64(idxf[src + t] - corner)
                    if at < span:
                        gxf[first + at] += gf[src + t]
            else:
                for t in range(uint64(OW * C)):
                    at = uint64(idxf[src + t] * C + channel[t] - corner)
                    if at < span:
                        gxf[first + at] += gf[src + t]


def route_rows(H, W, C, sh):
    """Input rows per block of ``max_route_rows``: a whole number of row strides, about
    ``BLOCK`` cells, and at least ``ROUTE_STRIDES`` strides. In the window rows that
    straddle a block's edge the in-block test goes either way at random; with fewer
    strides those rows are many, and their mispredicted branches cost more than a
    block that spills from L1 to L2 (measured: 2x for 2-row blocks, ~10% for 36 rows)."""
    return min(H, sh * max(ROUTE_STRIDES, BLOCK // (sh * W * C)))


def max_pool2d_backward(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx of max pooling of (P, H, W) planes: each block of input rows takes what its
    cells won, window by window (``max_route_rows``), each plane an (H, W, 1) image.

    Planes of one row (1D pooling) take the family's index gather, which visits
    each window once as well.
    """
    P, H, W = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    if H == 1:
        index_gather_rows(g, idx, gx, kh, sh, ph, dh)
        return
    # (P, ., .) -> (P, ., ., 1): views, no copy
    max_route_rows(g.reshape(P, OH, OW, 1), idx.reshape(P, OH, OW, 1), gx.reshape(P, H, W, 1),
                   kh, sh, ph, dh, route_rows(H, W, 1, sh))


def max_pool2d_backward_nhwc(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx of max pooling of channels-last (N, H, W, C) memory, in the same layout. Images of
    many channels gather from the windows where they lie (``fast_nhwc``), others take
    their blocks' gradients window by window, as NCHW planes do."""
    N, H, W, C = gx.shape
    if reads_in_place(gx.shape):
        max_pool2d_backward_direct(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw)
    else:
        max_route_rows(g, idx, gx, kh, sh, ph, dh, route_rows(H, W, C, sh))


def avg_pool2d_backward(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx of average pooling of (P, H, W) planes: a gather, tap by tap, over blocks of input rows.

    1D work (H = 1) runs the family's volume gather instead (depth 1: the
    divisor rule and the order of each cell's shares are the 2D ones), which
    divides each window's gradient once and adds it to its run of cells:
    on long rows it moves less than the tap-by-tap sweeps.
    """
    P, H, W = gx.shape
    if H == 1:
        avg_pool3d_backward(volumes(g, 2), volumes(gx, 2), 1, kh, kw, 1, sh, sw, 0, ph, pw,
                            count_include_pad, divisor_override)
        return
    OH, OW = g.shape[1], g.shape[2]
    # (P, ., .) -> (P, ., ., 1): views, no copy
    avg_grad_nhwc(g.reshape(P, OH, OW, 1), gx.reshape(P, H, W, 1), kh, kw, sh, sw, ph, pw,
                  count_include_pad, divisor_override)


def lp_pool2d(x, y, kh, kw, sh, sw, p, q, K):
    """LP pooling of (P, H, W) planes (finite p): a row of windows at a time, in the output."""
    lp_pool2d_rows(x, y, kh, kw, sh, sw, p, q, K)


def lp_pool2d_backward(g, x, gm, gx, kh, kw, sh, sw, p, pm1, q, qm1, K):
    """gx of LP pooling of (P, H, W) planes: each window's share of the root's gradient
    (into gm, output-sized scratch), then the average gather and the power's gradient
    in one pass over gx (``fast_family``)."""
    lp_root_shares(g, x, gm, kh, kw, sh, sw, p, q, qm1, K)
    lp_share_gather(gm, x, gx, kh, kw, sh, sw, p, pm1)


def avg_pool2d_backward_nhwc(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx of average pooling of channels-last (N, H, W, C) memory, in the same layout."""
    avg_grad_nhwc(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# global average pooling

LANES = 16  # NCHW planes summed side by side, one per SIMD lane


@njit(parallel=True, cache=True)
def global_avg_pool2d(x, y):
    """Plane means of (P, H, W) planes, sixteen planes at a time.

    Each plane still adds its cells in order, in float64, exactly as
    ``formulas.global_mean`` does, so the bits are the reference's; the
    sixteen running sums advance together in SIMD lanes, which then load
    one cell of each of sixteen planes at a time (a gather: the planes lie
    H*W cells apart).
    """
    P, H, W = x.shape
    HW = uint64(H * W)
    xf = x.reshape(P * H * W)
    blocks = ceil_div(P, LANES)
    for b in prange(blocks):
        acc = np.zeros(LANES)
        p0 = b * LANES
        base = uint64(p0) * HW
        if p0 + LANES <= P:
            for t in range(HW):
                for k in range(uint64(LANES)):  # a constant trip count: one vector
                    acc[k] += xf[base + k * HW + t]
        else:
            for k in range(uint64(P - p0)):
                for t in range(HW):
                    acc[k] += xf[base + k * HW + t]
        for k in range(min(LANES, P - p0)):
            y[p0 + k] = x.dtype.type(acc[k] / (H * W))


CHANNEL_BLOCK = 512  # channels-last: channels summed side by side in one parallel item


@njit(parallel=True, cache=True)
def global_avg_pool2d_nhwc(x, y):
    """Means of (N, H, W, C) channels-last images over H and W, into y (N, C).

    Each channel adds its cells in order, in float64, as ``formulas.global_mean``
    does; the channels of one pixel are contiguous, so the sums of a block of
    channels advance together in SIMD lanes with plain contiguous loads
    (``fast_nhwc.add_pixels``, the plane as one row of pixels).
    """
    N, H, W, C = x.shape
    blocks = ceil_div(C, CHANNEL_BLOCK)
    xf = x.reshape(N * H * W * C)
    for item in prange(N * blocks):
        n, c0 = item // blocks, item % blocks * CHANNEL_BLOCK
        width = min(CHANNEL_BLOCK, C - c0)
        total = np.zeros(CHANNEL_BLOCK)
        # the plane as one row of H*W pixels, from channel c0 of the image's first pixel
        add_pixels(xf, n * H * W * C + c0, 0, 1, 0, H * W, H * W, C, total, 0, width)
        for ch in range(width):
            y[n, c0 + ch] = x.dtype.type(total[ch] / (H * W))


@njit(parallel=True, cache=True)
def global_max_pool2d(x, y, idx):
    """y[p], idx[p] = max and argmax of plane p: ``formulas.global_max``'s result, each
    plane in two vectorised passes over its contiguous cells (``run_max``)."""
    P, H, W = x.shape
    xf = x.reshape(x.size)
    for p in prange(P):
        y[p], idx[p] = run_max(xf, p * H * W, H * W)


@njit(parallel=True, cache=True)
def global_max_pool2d_backward(g, idx, gx):
    """gx[p, h, w] = g[p] at plane p's argmax, else 0: the plane cleared as one
    contiguous run, then its one gradient written (``0 + g``, the reference's bits).
    An index of -1 (no argmax) writes nothing, as no cell of the reference matches it."""
    P, H, W = gx.shape
    flat = gx.reshape(P * H * W)
    zero = gx.dtype.type(0)
    for p in prange(P):
        first = uint64(p * H * W)
        for t in range(uint64(H * W)):
            flat[first + t] = zero
        if idx[p] >= 0:
            flat[first + uint64(idx[p])] = zero + g[p]


@njit(parallel=True, cache=True)
def global_avg_pool2d_backward(g, gx):
    """gx[p, h, w] = g[p] / (H*W): each plane's share divided once, then written
    across the plane as one contiguous run."""
    P, H, W = gx.shape
    flat = gx.reshape(P * H * W)
    for p in prange(P):
        share = global_mean_grad(g, p, H, W)
        first = uint64(p * H * W)
        for t in range(uint64(H * W)):
            flat[first + t] = share


# ---------------------------------------------------------------------------
# LP pooling, max unpooling and max-broadcast pooling in channels-last memory:
# fast_nhwc's kernels, which take any channel count, and the channels-last
# average and max kernels above, each in the same layout throughout

def lp_pool2d_nhwc(x, y, kh, kw, sh, sw, p, q, K):
    """LP pooling of channels-last (N, H, W, C) memory (finite p), output in the same layout."""
    lp_pool2d_direct(x, y, kh, kw, sh, sw, p, q, K)


def lp_pool2d_backward_nhwc(g, x, gm, gx, kh, kw, sh, sw, p, pm1, q, qm1, K):
    """gx of LP pooling of channels-last (N, H, W, C) memory, in the same layout: the root's
    gradient per window (into gm), the channels-last average gather, then the power's
    gradient per cell, which is elementwise, so it runs on the memory as it lies."""
    lp_root_grads_direct(g, x, gm, kh, kw, sh, sw, p, q, qm1, K)
    avg_pool2d_backward_nhwc(gm, gx, kh, kw, sh, sw, 0, 0, True, 0)
    lp_power_grads_direct(x, gx, p, pm1)


def max_unpool2d_nhwc(x, idx, y):
    """Max unpooling of channels-last (N, H, W, C) values and indices, output in the same
    layout: an image per parallel iteration (its output is written while still in cache:
    2x faster than runs of channels), or runs of channels where images are fewer than
    threads."""
    N, C = x.shape[0], x.shape[3]
    width = C if N >= numba.get_num_threads() else min(C, UNPOOL_RUN)
    max_unpool2d_direct(x, idx, y, width)


def max_unpool2d_backward_nhwc(g, idx, gx):
    """gx of max unpooling of channels-last (N, H, W, C) memory, in the same layout."""
    max_unpool2d_backward_direct(g, idx, gx)


def broadcast_indices_outside_nhwc(idx, H, W, kh, kw):
    """How many (N, OH, OW, C) max-broadcast indices name no cell of their window."""
    return broadcast_indices_outside(idx, H, W, kh, kw)


def max_broadcast_pool2d_nhwc(x, y, idx, kh, kw):
    """Max-broadcast pooling of channels-last (N, H, W, C) memory, y and indices in the same
    layout: one pass (no array of window maxima) where flat indices fit the int32 scratch,
    else max pooling's own channels-last kernel, then each window's maxima copied out."""
    if indices_fit(x.shape):
        max_broadcast_pool2d_direct(x, y, idx, kh, kw)
        return
    m = np.empty(idx.shape, x.dtype)  # (N, OH, OW, C): the window maxima
    max_pool2d_nhwc(x, m, idx, kh, kw, kh, kw, 0, 0, 1, 1)
    broadcast_windows_direct(m, y, kh, kw)


def max_broadcast_pool2d_backward_nhwc(g, idx, gx, kh, kw):
    """gx of max-broadcast pooling of channels-last (N, H, W, C) memory, in the same layout."""
    max_broadcast_pool2d_backward_direct(g, idx, gx, kh, kw)
