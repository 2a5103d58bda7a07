"""Fast CPU schedules for the pooling family: adaptive, fractional, volume pooling, unpooling.

The kernels of ``cpu.py`` compute one cell at a time, exactly as the formula
reads; here the same formulas run in loop orders that do less work per cell,
and give the same bits (``tests/test_schedules.py`` checks every kernel
against its reference). Every array is seen as volumes (P, D, H, W), P the
(n, c) planes: 2D work has D = 1 and 1D work also H = 1, so one kernel serves
the three. The entry points, which share their names and arguments with
``cpu.py`` so that ``dispatch.kernel`` finds them, are plain Python: they
view the arrays as volumes, build the small per-dimension tables, and pick a
kernel.

Forward passes over boxes (adaptive windows, and regular windows without
dilation, whose cells inside the input form a box) scan sixteen volumes at a
time, one per SIMD lane: each input row that a row of boxes reads is first
staged with the sixteen volumes' rows side by side, pixel by pixel, as
channels-last memory would hold them (a cell of the sixteen volumes is then
one contiguous load; loads straight from volumes far apart, often a multiple
of 4 KiB apart, fight over one set of the cache), and each lane scans its own
volume's box in row-major order, as the formula does, so the lanes change
nothing but the speed. The boxes' spans come from per-dimension tables built
once per call, not divided out again for every window. Volume averages,
dilated volume maxima and fractional maxima go a row of windows at a time
instead, each tap, in the window's order, swept across the windows it lands
inside (their spans, or the fractional starts, from tables built once per
call): sums from 0, or the max rule into two pairs of running results, each
tap reading one pair and writing the other. A max over a whole plane
(``run_max``) takes two vectorised passes, the max then the cell the scan
would have kept.

Backward passes are gathers: each cell's gradient is written by one parallel
iteration only, so no schedule races, and each cell adds what its windows
send it in row-major window order, from 0, as the reference gathers do, so
the sums are bitwise theirs. Two loop orders serve every kind of window:

* plane by plane, where there are planes enough for the threads. A max
  volume takes each of its windows once, in row-major order, adding the
  gradient to the cell its index names; each depth slice (each row, for
  planes) is set to 0 just before the first windows that reach it, so that
  their additions find it in cache. An average volume takes its slabs of
  windows (a, :, :) in order, and adds the slab's shares to each depth slice
  the slab covers as one long run of cells: a per-slice table
  (``tap_table``) names, for each cell, the windows (i, j) that hold it in
  row-major order, so the adds are gathers in SIMD steps however short the
  windows or the rows. The first slab to reach a slice stores 0 + share
  instead of adding, and a cell with fewer windows than the table's depth
  adds a zero share, which changes no bit.
* row by row, where the planes are few (or an average slice's table would
  not stay in cache): a row starts at 0 and visits only the window rows that
  can reach it (``geometry.gathering_windows``, one table per dimension; for
  fractional windows, placed by samples the backward pass is not given, a
  superset), taking their windows in row-major order under the same rules.

Average shares, g / divisor (``avg_divisor3d``) or g / kd / kh / kw
(``adaptive_divide``), are divided out where the gather needs them, a row or
slab of windows at a time, not into an output-sized array first.
Adaptive pooling to a single cell takes one broadcast per plane. 1D max
pooling (2D with H = 1) takes the max gather too (``fast.max_pool2d_backward``),
1D average pooling the volume average gather (``fast.avg_pool2d_backward``).
Unpooling's gather reads each plane flat, as its indices are, once the public
function has checked them.

LP pooling's fast kernels are in ``fast_lp``.
"""

import numba
import numpy as np
from numba import njit, prange, uint64
from numba.extending import register_jitable

from .formulas import adaptive_divide, avg_divisor3d, avg_span, max_wins
from .geometry import (ADAPTIVE, FRACTIONAL, REGULAR, adaptive_span, ceil_div, fractional_start,
                       gathering_windows, tap_span)

LANES = 16  # planes scanned side by side, one per SIMD lane
CHUNKS = 256  # runs of rows a parallel loop is cut into: enough to balance the threads
ONE = np.array([[0, 1]])  # the reach of a dimension of size 1: its one window
SLICE_TAPS = 1 << 15  # the most cells of a slice the plane-by-plane average gather takes


def volumes(a, nd):
    """(P, *spatial) with nd = 1, 2 or 3 spatial dims -> (P, D, H, W), unit dims added (a view)."""
    return a.reshape((a.shape[0],) + (1,) * (3 - nd) + a.shape[1:])


# ---------------------------------------------------------------------------
# per-dimension tables, built once per call

@njit(cache=True)
def reach_table(table, kind, k, s, p, d, n, out):
    """table[h] = the windows [lo, hi) that the gather of position h visits."""
    for h in range(n):
        table[h, 0], table[h, 1] = gathering_windows(h, kind, k, s, p, d, n, out)


@njit(cache=True)
def span_table(table, n, out):
    """table[o] = adaptive window o's span [start, end) along a dimension of size n."""
    for o in range(out):
        table[o, 0], table[o, 1] = adaptive_span(o, n, out)


@njit(cache=True)
def avg_span_table(table, k, s, p, n):
    """table[o] = the cells [lo, hi) of average window o inside a dimension of size n."""
    for o in range(table.shape[0]):
        table[o, 0], table[o, 1] = avg_span(o, k, s, p, n)[:2]


@njit(cache=True)
def divisor_table(table, kd, kh, kw, sd, sh, sw, pd, ph, pw, D, H, W, count_include_pad,
                  divisor_override):
    """table[a, i, j] = the divisor of average window (a, i, j), in the gradient's dtype.

    A window with no cell inside the input (a zero divisor) sends nothing, as
    no cell gathers from it; it gets 1, so that dividing by it raises nothing.
    """
    OD, OH, OW = table.shape
    for a in range(OD):
        c0, c1, cpad = avg_span(a, kd, sd, pd, D)
        for i in range(OH):
            e0, e1, epad = avg_span(i, kh, sh, ph, H)
            for j in range(OW):
                f0, f1, fpad = avg_span(j, kw, sw, pw, W)
                divisor = avg_divisor3d(c0, c1, cpad, e0, e1, epad, f0, f1, fpad,
                                        count_include_pad, divisor_override)
                table[a, i, j] = divisor if divisor != 0 else 1


@njit(cache=True)
def tap_span_table(table, s, p, d, n, out):
    """table[z] = the windows [lo, hi) whose tap z lands inside a dimension of size n."""
    for z in range(table.shape[0]):
        table[z, 0], table[z, 1] = tap_span(z, s, p, d, n, out)


def reach(kind, k, s, p, d, n, out):
    """The gather's window range for each of the n positions of one dimension, (n, 2)."""
    table = np.empty((n, 2), np.int64)
    reach_table(table, kind, k, s, p, d, n, out)
    return table


def spans(n, out):
    """The adaptive windows' spans along one dimension, (out, 2)."""
    table = np.empty((out, 2), np.int64)
    span_table(table, n, out)
    return table


def window_spans(k, s, p, n, out):
    """The cells [lo, hi) inside a dimension of size n of each of ``out`` regular windows."""
    table = np.empty((out, 2), np.int64)
    avg_span_table(table, k, s, p, n)
    return table


def tap_spans(k, s, p, d, n, out):
    """The windows each of the k taps of a regular window lands inside, (k, 2)."""
    table = np.empty((k, 2), np.int64)
    tap_span_table(table, s, p, d, n, out)
    return table


def running_index(largest):
    """An empty array of the dtype a max kernel keeps its running indices in, none above
    ``largest``: int32 where they fit (half the bytes a SIMD step moves), else int64."""
    return np.empty(0, np.int32 if largest < 2**31 else np.int64)


def regular_spans(kernel, stride, padding, size, out):
    """The three tables of ``window_spans``, one per dimension."""
    return [window_spans(*dims) for dims in zip(kernel, stride, padding, size, out)]


def adaptive_reach(gx, g):
    """The three reach tables (depth, rows, columns) of adaptive windows, volumes g and gx."""
    return [reach(ADAPTIVE, 1, 1, 0, 1, n, out) for n, out in zip(gx.shape[1:], g.shape[1:])]


# ---------------------------------------------------------------------------
# backward gathers

@register_jitable
def next_row(p, d, h, D, H):
    """The input row after row (p, d, h), in row-major order."""
    h += 1
    if h == H:
        h = 0
        d += 1
        if d == D:
            d = 0
            p += 1
    return p, d, h


@njit(parallel=True, cache=True)
def index_gather(g, idx, gx, depth, rows):
    """gx[p, d, h, w] = the sum of g[p, a, i, j] over the windows whose index is the
    cell (d, h, w), in row-major window order; a in depth[d], i in rows[h].

    ``g``, ``idx`` (P, OD, OH, OW) and ``gx`` (P, D, H, W) are indexed flat, and
    each parallel iteration takes a run of rows: a view, or a division, per
    row would cost more than the row's work.
    """
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1:]
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    total = P * D * H
    chunks = min(total, CHUNKS)
    for c in prange(chunks):
        r0, r1 = c * total // chunks, (c + 1) * total // chunks
        p, d, h = r0 // (D * H), r0 // H % D, r0 % H
        for r in range(r0, r1):
            out = r * W  # the row in gx
            first = (d * H + h) * W  # the flat index, in its volume, of the row's first cell
            for w in range(W):
                gxf[out + w] = 0
            for a in range(depth[d, 0], depth[d, 1]):
                for i in range(rows[h, 0], rows[h, 1]):
                    at = ((p * OD + a) * OH + i) * OW  # window row (a, i)
                    for j in range(OW):
                        t = idxf[at + j] - first  # the column it names, if it names this row
                        if (t >= 0) & (t < W):
                            gxf[out + t] += gf[at + j]
            p, d, h = next_row(p, d, h, D, H)


@register_jitable
def zero_slices(gxf, base, d0, d1, cells):
    """gxf[base + d*cells : base + (d+1)*cells] = 0 for d in [d0, d1)."""
    zero = gxf.dtype.type(0)
    for t in range(uint64(base + d0 * cells), uint64(base + d1 * cells)):  # unsigned: no
        gxf[t] = zero  # negative-index test, one vector store a step


@njit(parallel=True, cache=True)
def plane_index_gather(g, idx, gx, depth):
    """gx[p, t] = the sum of g[p, o] over the windows o whose index is t, in window order.

    Each volume takes its windows once, in row-major order, adding each
    gradient to the cell its index names (-1 names none: unsigned, it falls
    past the volume). A depth slice d is set to 0 just before the first slab
    of windows that can reach it (depth[d, 0], a lower bound where the reach
    is a superset), so that the slab's additions find it in cache; slices no
    window reaches are set to 0 at the end. ``g``, ``idx`` (P, OD, OH, OW) and
    ``gx`` (P, D, H, W) are indexed flat.
    """
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1:]
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    cells, slab = D * H * W, OH * OW  # of a volume, of a slab of windows
    for p in prange(P):
        base = p * cells
        zeroed = 0  # the slices set to 0 so far
        for a in range(OD):
            d1 = zeroed
            while (d1 < D) and (depth[d1, 0] <= a):  # the slices first reached here
                d1 += 1
            zero_slices(gxf, base, zeroed, d1, H * W)
            zeroed = d1
            first = uint64((p * OD + a) * slab)
            for o in range(first, first + uint64(slab)):
                t = uint64(idxf[o])  # -1 wraps past the volume
                if t < uint64(cells):
                    gxf[uint64(base) + t] += gf[o]
        zero_slices(gxf, base, zeroed, D, H * W)


@njit(cache=True)
def tap_table(taps, rows, cols, OH, OW):
    """taps[t, h*W + w] = the t-th window (i, j) holding cell (h, w), as i*OW + j, in
    row-major window order: i in rows[h], j in cols[w]; past the cell's last window,
    OH*OW (the slot of a zero share). ``taps`` is (most windows of a cell, H*W)."""
    H, W = rows.shape[0], cols.shape[0]
    taps[:] = OH * OW
    for h in range(H):
        for w in range(W):
            t = 0
            for i in range(rows[h, 0], rows[h, 1]):
                for j in range(cols[w, 0], cols[w, 1]):
                    taps[t, h * W + w] = i * OW + j
                    t += 1


@register_jitable
def window_shares(gf, o, a, i0, i1, OW, divisors, kd, kh, kw, adaptive, sc):
    """sc[(i - i0)*OW + j] = the share of window (a, i, j), i in [i0, i1), whose
    gradients lie flat from gf[o]: g / kd / kh / kw (``adaptive_divide``) for an
    adaptive box, of extents kd[a], kh[i], kw[j]; g / divisors[a, i, j] for a
    regular window (``divisor_table``). Computed where the gather needs them,
    not into an output-sized array first: one pass over memory less."""
    for r in range(i1 - i0):
        i, at = i0 + r, o + r * OW
        if adaptive:
            for j in range(OW):
                sc[r * OW + j] = adaptive_divide(gf[at + j], kd[a], kh[i], kw[j])
        else:
            for j in range(OW):
                sc[r * OW + j] = gf[at + j] / divisors[a, i, j]


@register_jitable
def add_taps(gxf, at, sc, taps, first):
    """gxf[at + c] (+)= sc[taps[t, c]] for each tap t in turn, c < taps.shape[1]: a run
    of cells takes the shares of one row or slab of windows in row-major window order.
    ``first``: the run's first windows, so the first tap is stored as 0 + share (the
    reference gather's start) rather than added. A tap past a cell's last window
    names sc's last slot, a 0, whose addition changes no bit of a sum that starts
    at +0 (such a sum is never -0), so every cell runs the same branch-free loop."""
    T, n = taps.shape
    at, n = uint64(at), uint64(n)
    t0 = 0
    if first:
        zero = gxf.dtype.type(0)
        for c in range(n):  # unsigned: no negative-index test, gathers in SIMD steps
            gxf[at + c] = zero + sc[taps[0, c]]
        t0 = 1
    for t in range(t0, T):
        for c in range(n):
            gxf[at + c] += sc[taps[t, c]]


@njit(parallel=True, cache=True)
def share_gather(g, gx, depth, rows, taps, divisors, kd, kh, kw, adaptive):
    """gx[p, d, h, w] = the sum of the shares of the windows (a, i, j) holding the cell,
    in row-major window order: a in depth[d], i in rows[h], j in the column's taps.

    Row by row: a row takes its window rows in order, each one's shares
    (``window_shares``) added across the row by ``add_taps`` (``taps`` is
    (T, W), a row's table of ``tap_table``), the first stored; a row no window
    holds is 0. ``g`` and ``gx`` are indexed flat, and each parallel iteration
    takes a run of rows, as in ``index_gather``, with one scratch row of shares.
    """
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1:]
    gf, gxf = g.reshape(g.size), gx.reshape(gx.size)
    total = P * D * H
    chunks = min(total, CHUNKS)
    for c in prange(chunks):
        r0, r1 = c * total // chunks, (c + 1) * total // chunks
        p, d, h = r0 // (D * H), r0 // H % D, r0 % H
        sc = np.empty(OW + 1, g.dtype)
        sc[OW] = 0
        for r in range(r0, r1):
            if (depth[d, 0] >= depth[d, 1]) | (rows[h, 0] >= rows[h, 1]):
                zero_slices(gxf, r * W, 0, 1, W)
            for a in range(depth[d, 0], depth[d, 1]):
                for i in range(rows[h, 0], rows[h, 1]):
                    window_shares(gf, ((p * OD + a) * OH + i) * OW, a, i, i + 1, OW, divisors,
                                  kd, kh, kw, adaptive, sc)
                    add_taps(gxf, r * W, sc, taps, (a == depth[d, 0]) & (i == rows[h, 0]))
            p, d, h = next_row(p, d, h, D, H)


@njit(parallel=True, cache=True)
def plane_share_gather(g, gx, depth, spans, taps, divisors, kd, kh, kw, adaptive):
    """gx[p] = the sum, at each cell, of the shares of the windows holding it, in
    row-major window order, plane by plane.

    A volume takes its slabs of windows (a, :, :) in order: their shares
    (``window_shares``) once, then added to each depth slice d of the slab's
    span spans[a] by ``add_taps`` over the whole slice (``taps`` is (T, H*W),
    ``tap_table``'s), stored where a is the slice's first window slab
    (depth[d, 0]); a slice no window holds is 0. A slice is one long run of
    cells: the shares' gathers go in SIMD steps even where rows are short.
    ``g`` and ``gx`` are indexed flat.
    """
    P, D, H, W = gx.shape
    OD, OH, OW = g.shape[1:]
    gf, gxf = g.reshape(g.size), gx.reshape(gx.size)
    cells, outputs = H * W, OH * OW  # of a slice, of a slab of windows
    for p in prange(P):
        base = p * D * cells
        for d in range(D):
            if depth[d, 0] >= depth[d, 1]:
                zero_slices(gxf, base, d, d + 1, cells)
        sc = np.empty(outputs + 1, g.dtype)
        sc[outputs] = 0
        for a in range(OD):
            window_shares(gf, (p * OD + a) * outputs, a, 0, OH, OW, divisors, kd, kh, kw,
                          adaptive, sc)
            for d in range(spans[a, 0], spans[a, 1]):
                add_taps(gxf, base + d * cells, sc, taps, a == depth[d, 0])


@njit(parallel=True, cache=True)
def broadcast_share(g, gx, kd, kh, kw):
    """gx[p, :] = 0 + g[p] / kd / kh / kw: the gradient of one box covering the plane
    (the 0 + is the reference gather's, which turns -0 into +0). ``gx`` is flat."""
    P = g.shape[0]
    cells = uint64(gx.shape[0] // max(P, 1))
    for p in prange(P):
        share = g.dtype.type(0) + adaptive_divide(g[p], kd, kh, kw)
        first = uint64(p) * cells
        for t in range(cells):  # unsigned: no negative-index test, one vector store a step
            gx[first + t] = share


# ---------------------------------------------------------------------------
# forward passes

@register_jitable
def max_lanes(row, at, best, arg, o, cell, n):
    """best[o + k], arg[o + k] = row[at + k], cell where the max rule says so, for k < n."""
    at, o, cell = uint64(at), uint64(o), arg.dtype.type(cell)
    for k in range(uint64(n)):
        val, b, a = row[at + k], best[o + k], arg[o + k]
        take = max_wins(val, b, a)
        best[o + k] = val if take else b
        arg[o + k] = cell if take else a


@register_jitable
def stage_lanes(xf, first, cells, W, lanes, row):
    """row[w*LANES + k] = xf[first + k*cells + w] for k < lanes: a row of each of
    ``lanes`` volumes ``cells`` apart, pixel by pixel, as channels-last memory holds
    them. Each volume's row is read as one contiguous run: sixteen loads of one
    pixel each, from volumes a multiple of 4 KiB apart, would fight over one set
    of the L1 cache."""
    first, cells, step = uint64(first), uint64(cells), uint64(LANES)
    for k in range(uint64(lanes)):
        src = first + k * cells
        for w in range(uint64(W)):
            row[w * step + k] = xf[src + w]


@register_jitable
def add_lanes(xf, at, cells, total, n):
    """total[k] += xf[at + k*cells] for k < n."""
    for k in range(uint64(n)):
        total[k] += xf[at + k * cells]


@register_jitable
def run_max(xf, start, n):
    """The value and position, counted from ``start``, that the max rule (``max_wins``)
    picks scanning xf[start:start + n] in order: ``formulas.global_max``'s result.

    In two passes with no dependence from one cell to the next, so that both
    vectorise over the run: the largest non-NaN value m and whether a NaN
    occurs, then the position. The rule's scan takes the first cell, then
    each larger value or NaN, so it ends at the last NaN if there is one,
    else at the first cell equal to m (== does not tell -0 from +0, and the
    scan keeps the first of equal values, whichever sign m got here); the
    value is that cell's own, read back, so its bits (a zero's sign, a NaN's
    payload) are the scan's.
    """
    start = uint64(start)
    top = xf.dtype.type(-np.inf)
    nan = False
    for t in range(uint64(n)):
        v = xf[start + t]
        top = v if v > top else top  # a NaN never wins a comparison: it is skipped here
        nan |= v != v
    if nan:
        at = -1
        for t in range(n):
            at = max(at, t if xf[start + uint64(t)] != xf[start + uint64(t)] else -1)
    else:
        at = n
        for t in range(n):
            at = min(at, t if xf[start + uint64(t)] == top else n)
    return xf[start + uint64(at)], at


@njit(parallel=True, cache=True)
def box_max_lanes(x, y, idx, depth, rows, cols, index_type):
    """y[p, a, i, j], idx[p, a, i, j] = max and flat argmax of volume p over the box
    depth[a] x rows[i] x cols[j] (inside the volume), sixteen volumes at a time.

    Each lane scans its own volume's box in row-major order under the max
    rule (``max_wins``), so its result is ``formulas.box_max``'s. A row of
    windows (a, i) takes the input rows of its boxes in order, each row of
    the sixteen volumes staged side by side first (``stage_lanes``), so that
    a cell of it is one contiguous sixteen-lane load; each window of the row
    then takes its columns of that input row into its running maxima. The
    running indices are kept in ``index_type``'s dtype (``running_index``);
    lanes past the last volume scan whatever the scratch holds, unread.
    ``x``, ``y`` and ``idx`` come flat.
    """
    P, OD, OH, OW = y.shape
    D, H, W = x.shape[1:]
    cells, outputs = D * H * W, OD * OH * OW
    xf, yf, idxf = x.reshape(x.size), y.reshape(y.size), idx.reshape(idx.size)
    for b in prange(ceil_div(P, LANES)):
        # scratch in the loop body: Numba allocates it once per thread
        row = np.empty(W * LANES, x.dtype)
        best, arg = np.empty(OW * LANES, x.dtype), np.empty(OW * LANES, index_type.dtype)
        p0 = b * LANES
        lanes = min(LANES, P - p0)
        for a in range(OD):
            for i in range(OH):
                best[:] = -np.inf
                arg[:] = -1
                for d in range(depth[a, 0], depth[a, 1]):
                    for h in range(rows[i, 0], rows[i, 1]):
                        first = (d * H + h) * W  # the input row, in its volume
                        stage_lanes(xf, p0 * cells + first, cells, W, lanes, row)
                        for j in range(OW):
                            for w in range(cols[j, 0], cols[j, 1]):
                                max_lanes(row, w * LANES, best, arg, j * LANES, first + w, LANES)
                o = (a * OH + i) * OW
                for k in range(lanes):
                    out = (p0 + k) * outputs + o
                    for j in range(OW):
                        yf[out + j] = best[j * LANES + k]
                        idxf[out + j] = arg[j * LANES + k]


@njit(parallel=True, cache=True)
def adaptive_avg_lanes(x, y, depth, rows, cols):
    """y[p, a, i, j] = the mean of adaptive box (a, i, j) of volume p: the box summed
    in row-major order (``box_sum``) and divided by its extents (``adaptive_divide``),
    sixteen volumes at a time, one per SIMD lane. ``x`` and ``y`` come flat."""
    P, OD, OH, OW = y.shape
    D, H, W = x.shape[1:]
    cells, outputs = uint64(D * H * W), OD * OH * OW
    xf, yf = x.reshape(x.size), y.reshape(y.size)
    f = x.dtype.type
    for b in prange(ceil_div(P, LANES)):
        p0 = b * LANES
        lanes = min(LANES, P - p0)
        base = uint64(p0) * cells
        total = np.empty(LANES, x.dtype)
        o = 0  # the window (a, i, j), counted in row-major order
        for a in range(OD):
            for i in range(OH):
                for j in range(OW):
                    total[:] = 0
                    for d in range(depth[a, 0], depth[a, 1]):
                        for h in range(rows[i, 0], rows[i, 1]):
                            for w in range(cols[j, 0], cols[j, 1]):
                                at = base + uint64((d * H + h) * W + w)
                                if lanes == LANES:
                                    add_lanes(xf, at, cells, total, LANES)
                                else:
                                    add_lanes(xf, at, cells, total, lanes)
                    kd, kh = f(depth[a, 1] - depth[a, 0]), f(rows[i, 1] - rows[i, 0])
                    kw = f(cols[j, 1] - cols[j, 0])
                    for k in range(lanes):
                        yf[(p0 + k) * outputs + o] = adaptive_divide(total[k], kd, kh, kw)
                    o += 1


@register_jitable
def add_tap_sweep(xf, first, s, n, total, o):
    """One tap across a row of windows: total[o + t] += xf[first + s*t] for t < n."""
    first, step, o = uint64(first), uint64(s), uint64(o)
    for t in range(uint64(n)):
        total[o + t] += xf[first + step * t]


@register_jitable
def add_pair_sweep(xf, first, n, total, o):
    """Taps 0 and 1 of windows 2 wide and 2 apart across a row, in that order:
    total[o + t] = total[o + t] + xf[first + 2t] + xf[first + 2t + 1] for t < n. One
    loop with constant strides, which LLVM vectorises (two sweeps, stride 2 each,
    run 2.4x slower on C3D's windows)."""
    first, o, two = uint64(first), uint64(o), uint64(2)
    for t in range(uint64(n)):
        total[o + t] = total[o + t] + xf[first + two * t] + xf[first + two * t + uint64(1)]


@register_jitable
def max_tap_sweep(xf, first, s, j0, j1, best, arg, new_best, new_arg, k):
    """Tap k across windows [j0, j1) of a row: window j takes xf[first + s*j] into its
    running max and tap by the max rule, from one pair of running results into the
    other (an in-place select is slow: ``fast.max_sweep``); the row's other windows
    are copied across as they are. ``first`` is where window 0's tap k would read,
    in the padding perhaps: unsigned arithmetic wraps back into the row."""
    for j in range(j0):
        new_best[j], new_arg[j] = best[j], arg[j]
    for j in range(j1, best.shape[0]):
        new_best[j], new_arg[j] = best[j], arg[j]
    first, step, k = uint64(first), uint64(s), arg.dtype.type(k)
    for j in range(uint64(j0), uint64(j1)):
        val, b, a = xf[first + step * j], best[j], arg[j]
        take = max_wins(val, b, a)
        new_best[j] = val if take else b
        new_arg[j] = k if take else a


@register_jitable
def max_tap_step(c, xf, first, s, j0, j1, best0, arg0, best1, arg1, k):
    """``max_tap_sweep`` from the pair c of running results into the other; returns the
    pair that holds them now. (Branches, not swapped names: rebinding an array costs
    reference counts, which add up over short rows.)"""
    if c == 0:
        max_tap_sweep(xf, first, s, j0, j1, best0, arg0, best1, arg1, k)
    else:
        max_tap_sweep(xf, first, s, j0, j1, best1, arg1, best0, arg0, k)
    return 1 - c


@register_jitable
def pairs_of_taps(spans, kw, sw, dw):
    """Whether windows are 2 wide and 2 apart, without dilation, and each tap lands
    inside the same windows: then a row's two taps can go in one sweep."""
    return (kw == 2) & (sw == 2) & (dw == 1) and (spans[0, 0] == spans[1, 0]) & (
        spans[0, 1] == spans[1, 1])


@njit(parallel=True, cache=True)
def volume_row_sweeps(x, y, idx, divisors, spans, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh,
                      dw, by_max, index_type):
    """Max pooling (``by_max``: y and its flat argmax idx) or average pooling (y, each
    window's sum over divisors[a, i, j]) of (P, D, H, W) volumes, a row of windows
    (p, a, i) at a time, runs of rows in parallel.

    The row's windows take their taps together, one tap (u, v, z) at a time in
    the window's row-major order, each swept across the windows it lands
    inside (spans[z], ``geometry.tap_span``); taps in the padding are skipped,
    as the formulas skip them. So each window meets its cells in
    ``max_window3d``'s or ``avg_window3d``'s order, under their rules: the
    max rule into running maxima and tap offsets (``dd*u*H*W + dh*v*W +
    dw*z``, in ``index_type``'s dtype; -1: none yet), or sums from 0 in the
    output row, then divided. Loads run along the input row, sw apart. Sums of
    windows 2 wide and 2 apart add both taps of an input row in one sweep where
    both land inside the same windows (``pairs_of_taps``, ``add_pair_sweep``).
    (The max rule's two taps in one loop did not vectorise: 3x slower.)
    ``x``, ``y`` and ``idx`` come flat.
    """
    P, OD, OH, OW = y.shape
    D, H, W = x.shape[1:]
    xf, yf, idxf = x.reshape(x.size), y.reshape(y.size), idx.reshape(idx.size)
    rows = P * OD * OH
    chunks = min(rows, CHUNKS)
    paired = (not by_max) and pairs_of_taps(spans, kw, sw, dw)
    for c in prange(chunks):
        # scratch in the loop body: Numba allocates it once per thread
        best0, best1 = np.empty(OW, x.dtype), np.empty(OW, x.dtype)
        arg0, arg1 = np.empty(OW, index_type.dtype), np.empty(OW, index_type.dtype)
        r0, r1 = c * rows // chunks, (c + 1) * rows // chunks
        for r in range(r0, r1):
            p, a, i = r // (OD * OH), r // OH % OD, r % OH
            o = r * OW
            if by_max:
                best0[:] = -np.inf
                arg0[:] = -1
            else:
                yf[o:o + OW] = 0
            pair = 0  # which pair holds the running maxima
            for u in range(kd):
                d = sd * a - pd + dd * u
                if (d < 0) | (d >= D):
                    continue
                for v in range(kh):
                    h = sh * i - ph + dh * v
                    if (h < 0) | (h >= H):
                        continue
                    row = ((p * D + d) * H + h) * W
                    if paired:  # both taps of the input row in one sweep
                        j0, j1 = spans[0, 0], spans[0, 1]
                        add_pair_sweep(xf, row + 2 * j0 - pw, j1 - j0, yf, o + j0)
                        continue
                    for z in range(kw):
                        j0, j1 = spans[z, 0], spans[z, 1]
                        if by_max:
                            pair = max_tap_step(pair, xf, row - pw + dw * z, sw, j0, j1, best0,
                                                arg0, best1, arg1, (dd * u * H + dh * v) * W + dw * z)
                        else:
                            add_tap_sweep(xf, row + sw * j0 - pw + dw * z, sw, j1 - j0, yf, o + j0)
            if by_max:
                best, arg = (best0, arg0) if pair == 0 else (best1, arg1)
                corner = ((sd * a - pd) * H + sh * i - ph) * W - pw  # window (a, i, 0)'s tap 0
                for j in range(OW):
                    yf[o + j] = best[j]
                    idxf[o + j] = corner + sw * j + arg[j] if arg[j] >= 0 else -1
            else:
                for j in range(OW):
                    yf[o + j] = yf[o + j] / divisors[a, i, j]


@register_jitable
def max_column_sweep(xf, first, columns, best, arg, new_best, new_arg, k):
    """new_best[t], new_arg[t] = the running max and tap of window t once tap k,
    xf[first + columns[t]], is taken by the max rule: one tap across a row of
    windows that start at the given columns."""
    first, k = uint64(first), arg.dtype.type(k)
    for t in range(uint64(columns.shape[0])):
        val, b, a = xf[first + uint64(columns[t])], best[t], arg[t]
        take = max_wins(val, b, a)
        new_best[t] = val if take else b
        new_arg[t] = k if take else a


@njit(parallel=True, cache=True)
def fractional_max_planes(x, samples, y, idx, kh, kw, index_type):
    """y[p, i, j], idx[p, i, j] = max and argmax of fractional window (i, j) of plane p:
    ``fractional_max_window``'s, a row of windows at a time.

    The plane's window starts (``fractional_start``) are computed once per
    plane; then each tap (t, v) of a row of windows, in the window's row-major
    order, is swept across the row under the max rule, as ``box_max`` scans
    each window, into running maxima and tap offsets ``t*W + v``
    (``index_type``'s dtype). Every window lies inside the plane, so every
    window takes a tap. ``x``, ``y`` and ``idx`` come flat.
    """
    P, OH, OW = y.shape
    H, W = x.shape[1:]
    xf, yf, idxf = x.reshape(x.size), y.reshape(y.size), idx.reshape(idx.size)
    for p in prange(P):
        # scratch in the loop body: Numba allocates it once per thread
        starts = np.empty(OW, np.int64)
        best0, best1 = np.empty(OW, x.dtype), np.empty(OW, x.dtype)
        arg0, arg1 = np.empty(OW, index_type.dtype), np.empty(OW, index_type.dtype)
        u = samples[p]
        for j in range(OW):
            starts[j] = fractional_start(j, u, 0, W, kw, OW)
        for i in range(OH):
            h0 = fractional_start(i, u, 1, H, kh, OH)
            best0[:] = -np.inf
            arg0[:] = -1
            for t in range(kh):
                first = (p * H + h0 + t) * W
                for v in range(kw):
                    if (t * kw + v) % 2 == 0:
                        max_column_sweep(xf, first + v, starts, best0, arg0, best1, arg1, t * W + v)
                    else:
                        max_column_sweep(xf, first + v, starts, best1, arg1, best0, arg0, t * W + v)
            best, arg = (best1, arg1) if kh * kw % 2 == 1 else (best0, arg0)
            o = (p * OH + i) * OW
            for j in range(OW):
                yf[o + j] = best[j]
                idxf[o + j] = h0 * W + starts[j] + arg[j]


@njit(parallel=True, cache=True)
def max_unpool2d(x, idx, y):
    """Plane p of y: x[p] scattered to the flat positions idx[p], zeros elsewhere:
    ``formulas.unpool_plane``'s writes in its order (of coinciding indices the later
    wins), into the plane of y seen flat, as the index is, so without its two
    divisions (the public function has checked every index to lie in the plane).
    Not ``fast_nhwc.max_unpool2d_direct`` on one-channel images: its loop over a
    pixel's channels, run once per cell, made that 7x slower (measured)."""
    P, OH, OW = y.shape
    cells, inputs = uint64(OH * OW), uint64(x.shape[1] * x.shape[2])
    xf, idxf, yf = x.reshape(x.size), idx.reshape(idx.size), y.reshape(y.size)
    for p in prange(P):
        src, dst = uint64(p) * inputs, uint64(p) * cells
        for t in range(cells):
            yf[dst + t] = 0
        for t in range(inputs):
            yf[dst + uint64(idxf[src + t])] = xf[src + t]


@njit(parallel=True, cache=True)
def max_unpool2d_backward(g, idx, gx):
    """gx[p, i, j] = g[p] at the flat position idx[p, i, j]: ``unpool_grad_cell``'s
    value, read from the plane of g seen flat, as the index is, so without its two
    divisions (the public function has checked every index to lie in the plane).
    Unsigned offsets: no negative-index test per cell."""
    P, H, W = gx.shape
    cells, outputs = uint64(g.shape[1] * g.shape[2]), uint64(H * W)
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    for p in prange(P):
        src, dst = uint64(p) * cells, uint64(p) * outputs
        for t in range(outputs):
            gxf[dst + t] = gf[src + uint64(idxf[dst + t])]


# ---------------------------------------------------------------------------
# the entry points, as cpu.py names them

def few_planes(P):
    """Whether P planes are too few to share among the threads one plane at a time:
    then the gathers go row by row, which costs more per cell but parallelises."""
    return P < 4 * numba.get_num_threads()


def max_gather(g, idx, gx, depth, rows):
    """gx of a max pool of volumes: plane by plane, each window visited once, or,
    for a few planes, row by row over the window rows that reach each row."""
    if few_planes(gx.shape[0]):
        index_gather(g, idx, gx, depth, rows)
    elif gx.shape[1] == 1:
        # planes: each row a slice of its own, set to 0 just before its first windows
        # (P, 1, H, W) -> (P, H, 1, W), the same flat indices; (P, 1, OH, OW) likewise
        P, _, H, W = gx.shape
        OH, OW = g.shape[2:]
        plane_index_gather(g.reshape(P, OH, 1, OW), idx.reshape(P, OH, 1, OW),
                           gx.reshape(P, H, 1, W), rows)
    else:
        plane_index_gather(g, idx, gx, depth)


def taps(rows, cols, OH, OW):
    """``tap_table``'s table of the windows that hold each cell of an H x W slice, the
    row and column reach tables given: (most windows of a cell, H*W), unsigned."""
    most = max(1, int((rows[:, 1] - rows[:, 0]).max()) * int((cols[:, 1] - cols[:, 0]).max()))
    table = np.empty((most, rows.shape[0] * cols.shape[0]), np.uint32)
    tap_table(table, rows, cols, OH, OW)
    return table


def avg_gather(g, gx, reaches, depth_spans, divisors, extents, adaptive):
    """gx of an average pool of volumes from the windows' gradients: plane by plane, a
    slab of windows at a time, or row by row where the planes are few or a slice's
    tap table would not stay in cache (each volume reads it again). ``reaches``: the
    three reach tables (depth, rows, columns); ``depth_spans``: the windows' depth
    spans; the share rule: ``divisors`` (regular windows) or, if ``adaptive``,
    ``extents``, the boxes' lengths along each dimension in g's dtype."""
    depth, rows, cols = reaches
    OH, OW = g.shape[2:]
    if few_planes(gx.shape[0]) or rows.shape[0] * cols.shape[0] > SLICE_TAPS:
        share_gather(g, gx, depth, rows, taps(ONE, cols, 1, OW), divisors, *extents, adaptive)
    else:
        plane_share_gather(g, gx, depth, depth_spans, taps(rows, cols, OH, OW), divisors,
                           *extents, adaptive)


def _adaptive_avg_backward(g, gx):
    P, OD, OH, OW = g.shape
    D, H, W = gx.shape[1:]
    if OD == OH == OW == 1:
        f = g.dtype.type
        broadcast_share(g.reshape(P), gx.reshape(P * D * H * W), f(D), f(H), f(W))
        return
    span_tables = [spans(n, out) for n, out in zip((D, H, W), (OD, OH, OW))]
    extents = [(t[:, 1] - t[:, 0]).astype(g.dtype) for t in span_tables]
    avg_gather(g, gx, adaptive_reach(gx, g), span_tables[0], np.ones((1, 1, 1), g.dtype),
               extents, True)


def adaptive_avg_pool2d(x, y):
    """y of adaptive average pooling of (P, H, W) planes."""
    adaptive_avg_pool3d(volumes(x, 2), volumes(y, 2))


def adaptive_avg_pool3d(x, y):
    """y of adaptive average pooling of (P, D, H, W) volumes."""
    adaptive_avg_lanes(x, y, *[spans(n, out) for n, out in zip(x.shape[1:], y.shape[1:])])


def adaptive_avg_pool2d_backward(g, gx):
    """gx of adaptive average pooling of (P, H, W) planes."""
    _adaptive_avg_backward(volumes(g, 2), volumes(gx, 2))


def adaptive_avg_pool3d_backward(g, gx):
    """gx of adaptive average pooling of (P, D, H, W) volumes."""
    _adaptive_avg_backward(g, gx)


def adaptive_max_pool2d(x, y, idx):
    """y, idx of adaptive max pooling of (P, H, W) planes."""
    adaptive_max_pool3d(volumes(x, 2), volumes(y, 2), volumes(idx, 2))


def adaptive_max_pool3d(x, y, idx):
    """y, idx of adaptive max pooling of (P, D, H, W) volumes."""
    D, H, W = x.shape[1:]
    box_max_lanes(x, y, idx, *[spans(n, out) for n, out in zip(x.shape[1:], y.shape[1:])],
                  running_index(D * H * W))


def adaptive_max_pool2d_backward(g, idx, gx):
    """gx of adaptive max pooling of (P, H, W) planes."""
    adaptive_max_pool3d_backward(volumes(g, 2), volumes(idx, 2), volumes(gx, 2))


def adaptive_max_pool3d_backward(g, idx, gx):
    """gx of adaptive max pooling of (P, D, H, W) volumes."""
    depth, rows, _ = adaptive_reach(gx, g)
    max_gather(g, idx, gx, depth, rows)


def fractional_max_pool2d(x, samples, y, idx, kh, kw):
    """y, idx of fractional max pooling of (P, H, W) planes."""
    fractional_max_planes(x, samples, y, idx, kh, kw, running_index(kh * x.shape[2]))


def fractional_max_pool2d_backward(g, idx, gx, kh, kw):
    """gx of fractional max pooling of (P, H, W) planes."""
    rows = reach(FRACTIONAL, kh, 1, 0, 1, gx.shape[1], g.shape[1])  # a superset: no samples
    max_gather(volumes(g, 2), volumes(idx, 2), volumes(gx, 2), ONE, rows)


def max_pool3d(x, y, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """y, idx of max pooling of (P, D, H, W) volumes: without dilation each window's
    cells inside the volume are a box (``avg_span``'s), scanned sixteen volumes at a
    time; dilated windows go a row of windows at a time, tap by tap."""
    (D, H, W), OW = x.shape[1:], y.shape[3]
    if dd == dh == dw == 1:
        box_max_lanes(x, y, idx, *regular_spans((kd, kh, kw), (sd, sh, sw), (pd, ph, pw),
                                                (D, H, W), y.shape[1:]), running_index(D * H * W))
        return
    largest = (dd * (kd - 1) * H + dh * (kh - 1)) * W + dw * (kw - 1)  # tap offset
    volume_row_sweeps(x, y, idx, np.empty((0, 0, 0), x.dtype), tap_spans(kw, sw, pw, dw, W, OW),
                      kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw, True, running_index(largest))


def avg_pool3d(x, y, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """y of average pooling of (P, D, H, W) volumes, a row of windows at a time, tap by tap."""
    divisors = np.empty(y.shape[1:], x.dtype)
    divisor_table(divisors, kd, kh, kw, sd, sh, sw, pd, ph, pw, *x.shape[1:], count_include_pad,
                  divisor_override)
    volume_row_sweeps(x, y, y, divisors, tap_spans(kw, sw, pw, 1, x.shape[3], y.shape[3]),
                      kd, kh, kw, sd, sh, sw, pd, ph, pw, 1, 1, 1, False, running_index(0))


def max_pool3d_backward(g, idx, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """gx of max pooling of (P, D, H, W) volumes."""
    (D, H), (OD, OH) = gx.shape[1:3], g.shape[1:3]
    max_gather(g, idx, gx, reach(REGULAR, kd, sd, pd, dd, D, OD),
               reach(REGULAR, kh, sh, ph, dh, H, OH))


def index_gather_rows(g, idx, gx, kh, sh, ph, dh):
    """gx of max pooling of (P, H, W) planes by ``max_gather``, the rows' reach from
    the window's vertical kernel, stride, padding and dilation."""
    max_gather(volumes(g, 2), volumes(idx, 2), volumes(gx, 2), ONE,
               reach(REGULAR, kh, sh, ph, dh, gx.shape[1], g.shape[1]))


def avg_pool3d_backward(g, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                        divisor_override):
    """gx of average pooling of (P, D, H, W) volumes."""
    (D, H, W), (OD, OH, OW) = gx.shape[1:], g.shape[1:]
    divisors = np.empty((OD, OH, OW), g.dtype)
    divisor_table(divisors, kd, kh, kw, sd, sh, sw, pd, ph, pw, D, H, W, count_include_pad,
                  divisor_override)
    reaches = [reach(REGULAR, k, s, p, 1, n, out)
               for k, s, p, n, out in zip((kd, kh, kw), (sd, sh, sw), (pd, ph, pw), (D, H, W),
                                          (OD, OH, OW))]
    avg_gather(g, gx, reaches, window_spans(kd, sd, pd, D, OD), divisors,
               [np.ones(1, g.dtype)] * 3, False)


@njit(parallel=True, cache=True)
def max_broadcast_pool2d_backward(g, idx, gx, kh, kw):
    """gx[p, h, w] = the summed gradient of the window whose max came from (h, w).

    Window by window instead of cell by cell: a band of kh rows cleared as one
    contiguous run, then each window's gradient summed once in the reference's
    row-major order (``box_sum``'s) and written at its argmax, which the index
    check put inside the window. The windows tile the plane, so each cell is
    written by its own window only.

    The sums of a band's whole windows advance together, tap by tap (row h,
    column v of every window at once: a strided load that vectorises), in
    ``sums``; a last, narrower window at the right border is summed alone.
    """
    P, H, W = gx.shape
    OH, OW = idx.shape[1], idx.shape[2]
    whole = W // kw  # windows with all kw columns inside the plane
    zero = gx.dtype.type(0)
    gf, idxf, gxf = g.reshape(g.size), idx.reshape(idx.size), gx.reshape(gx.size)
    for p in prange(P):
        sums = np.empty(OW, g.dtype)  # Numba allocates it once per thread
        plane = uint64(p * H * W)  # where plane p starts in g and gx (the same shape)
        for i in range(OH):
            h0, h1 = i * kh, min((i + 1) * kh, H)
            for t in range(plane + uint64(h0 * W), plane + uint64(h1 * W)):
                gxf[t] = zero
            for j in range(OW):
                sums[j] = zero
            for h in range(h0, h1):
                row = plane + uint64(h * W)
                for v in range(kw):
                    for j in range(uint64(whole)):
                        sums[j] += gf[row + j * uint64(kw) + uint64(v)]
                for w in range(whole * kw, W):  # the narrower window, if any
                    sums[OW - 1] += gf[row + uint64(w)]
            at = uint64((p * OH + i) * OW)
            for j in range(uint64(OW)):
                gxf[plane + uint64(idxf[at + j])] = sums[j]
