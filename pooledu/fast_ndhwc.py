"""Fast CPU schedules for channels_last_3d memory: each volume window read where it lies.

PyTorch's channels_last_3d is an (N, C, D, H, W) view of (N, D, H, W, C)
memory: one voxel's C channels are contiguous. The kernels here are those of
``fast_nhwc`` lifted to volumes: for each output (a, i, j) the window's taps
are visited one at a time in the formula's (d, h, w) row-major order, and
each tap is one contiguous run of channels that every channel's running
result meets at once, in SIMD lanes. They are fast_nhwc's helpers (``max_taps``,
``add_pixels``, ``index_gather_pixels``) with a loop over depth slices
around them; nothing is copied first.

Windows come as one small table per dimension, built once per call, so that
one kernel serves regular and adaptive windows alike:

* max: each window's first tap inside the volume and how many of its taps,
  dilation apart, lie inside (``fast_nhwc.windows``, the 2D kernels' tables).
  An adaptive box is a window of unit dilation whose first tap is its start,
  all of its taps inside, as ``formulas.adaptive_max_window3d`` says.
* mean: each window's cells ``[lo, hi)`` inside the volume and its length in
  the padded volume (``avg_span``; an adaptive box's own length), and which
  rule divides the sum: ``avg_divisor3d`` once, or the three extents in turn
  (``adaptive_divide``).

The bits are those of ``cpu.py``: each channel meets the same cells in the
same order under the same rule, from +0.0 for sums. One scan over (d, h, w)
under ``max_wins`` gives what ``max_window3d``'s slice-by-slice scan gives: a
slice's winner is taken exactly when one scan would take that cell (the last
NaN; else the first cell of the largest value, if larger than before).

Where the results go follows PyTorch: max pooling returns channels_last_3d
values and indices; average and adaptive pooling return contiguous NCDHW
arrays. The kernels write either, given the steps of an output cell and of a
channel in the flat output.

The max backward pass is a gather, as ``fast_nhwc``'s: one parallel
iteration writes each input voxel's run of channels, adding, over the windows
that can reach the voxel (``fast_family.reach``) in row-major (a, i, j) order,
the gradient of those whose index names it. Average and adaptive gradients
arrive contiguous (PyTorch's outputs are), and take the NCDHW kernels.

Max pooling of volumes of fewer than ``MIN_CHANNELS`` channels (or of 2**31
voxels or more, beyond the int32 index scratch) copies them to NCDHW and runs
the volume kernels there (``through_volumes``): with runs that short, the
max kernels here were slower than the copy and ``fast_family``'s lanes
(measured at 2 to 6 channels). Sums have no such limit: the mean kernels
were the faster at every channel count measured.
"""

import math

import numpy as np
from numba import njit, prange, uint64
from numba.extending import register_jitable

from . import fast_family
from .fast_nhwc import (RUN, adaptive_windows, add_pixels, index_gather_pixels, max_taps,
                        start_max, windows)
from .formulas import adaptive_divide, avg_divisor3d, avg_span
from .geometry import REGULAR, adaptive_span


MIN_CHANNELS = 8  # fewer make the max kernels' runs too short to pay (measured)


def max_reads_in_place(shape):
    """Whether (N, D, H, W, C) volumes of this shape run the max kernels here: voxels of
    at least MIN_CHANNELS channels, and flat indices ``d*H*W + h*W + w`` that fit int32."""
    N, D, H, W, C = shape
    return C >= MIN_CHANNELS and D * H * W < 2**31


# ---------------------------------------------------------------------------
# per-dimension window tables

def span_table(k, s, p, n, out):
    """(out, 3): average window o's cells [lo, hi) inside [0, n) and its padded length."""
    return np.array([avg_span(o, k, s, p, n) for o in range(out)], np.int64).reshape(out, 3)


def box_span_table(n, out):
    """(out, 3): adaptive window o's cells [lo, hi), and its length again."""
    rows = [(lo, hi, hi - lo) for lo, hi in (adaptive_span(o, n, out) for o in range(out))]
    return np.array(rows, np.int64).reshape(out, 3)


# ---------------------------------------------------------------------------
# kernels

@register_jitable
def volume_max(xf, volume, H, W, C, d0, h0, w0, t0, t1, u0, u1, v0, v1, dd, dh, dw, best, arg,
               new_best, new_arg, n):
    """``fast_nhwc.window_max`` over the depth slices of one volume window, for n channels
    at once: tap (t, u, v) reads voxel (d0 + dd*t, h0 + dh*u, w0 + dw*v) of the volume
    that starts at ``xf[volume]``. Indices are flat, d*H*W + h*W + w."""
    start_max(best, arg, n)
    for t in range(t0, t1):
        d = d0 + dd * t
        best, arg, new_best, new_arg = max_taps(xf, volume + d * H * W * C, d * H * W, W, C, h0,
                                                w0, u0, u1, v0, v1, dh, dw, best, arg, new_best,
                                                new_arg, n)
    return best, arg


@register_jitable
def store_run(yf, idxf, first, step, best, arg, n):
    """yf, idxf[first + t*step] = best, arg[t] for t < n: a run of channels written out,
    contiguous (step 1, channels-last results) or a plane apart (NCDHW results)."""
    if step == 1:
        for t in range(uint64(n)):
            yf[first + t] = best[t]
            idxf[first + t] = arg[t]
    else:
        for t in range(uint64(n)):
            yf[first + t * step] = best[t]
            idxf[first + t * step] = arg[t]


@njit(parallel=True, cache=True)
def max_volumes(x, yf, idxf, depth, rows, cols, dd, dh, dw, cell_step, channel_step):
    """yf, idxf = max and flat argmax of each window of (N, D, H, W, C) volumes, read where
    they lie; rows of outputs in parallel.

    Window (a, i, j) is ``depth[a]`` x ``rows[i]`` x ``cols[j]`` (first tap, taps;
    ``fast_nhwc.windows``) with dilation (dd, dh, dw). Channel c of output o (row-major) of volume n
    goes to ``n*C*O + o*cell_step + c*channel_step`` of the flat outputs, O
    outputs a volume: steps (C, 1) for channels-last results, (1, O) for NCDHW.
    """
    N, D, H, W, C = x.shape
    OD, OH, OW = depth.shape[0], rows.shape[0], cols.shape[0]
    xf = x.reshape(N * D * H * W * C)
    outputs = OD * OH * OW
    width = min(C, RUN)
    for q in prange(N * OD * OH):
        # scratch in the loop body: Numba allocates it once per thread
        best0, best1 = np.empty(width, x.dtype), np.empty(width, x.dtype)
        arg0, arg1 = np.empty(width, np.int32), np.empty(width, np.int32)
        n, a, i = q // (OD * OH), q // OH % OD, q % OH
        d0, taps_d = depth[a, 0], depth[a, 1]
        h0, taps_h = rows[i, 0], rows[i, 1]
        for j in range(OW):
            first = n * C * outputs + ((a * OH + i) * OW + j) * cell_step
            for c0 in range(0, C, RUN):
                m = min(RUN, C - c0)
                best, arg = volume_max(xf, n * D * H * W * C + c0, H, W, C, d0, h0, cols[j, 0],
                                       0, taps_d, 0, taps_h, 0, cols[j, 1], dd, dh, dw,
                                       best0, arg0, best1, arg1, m)
                store_run(yf, idxf, uint64(first + c0 * channel_step), uint64(channel_step),
                          best, arg, m)


@njit(parallel=True, cache=True)
def mean_volumes(x, yf, depth, rows, cols, adaptive, count_include_pad, divisor_override):
    """yf = the mean of each window of (N, D, H, W, C) volumes, read where they lie, as
    contiguous (N, C, OD, OH, OW) results; rows of outputs in parallel.

    Window (a, i, j) holds the cells ``depth[a]`` x ``rows[i]`` x ``cols[j]``
    ([lo, hi) and the padded length), summed from +0.0 in row-major order;
    the sum is divided by ``avg_divisor3d`` or, ``adaptive``, by the three
    extents in turn. A window with no cell inside stays 0, as in the formula.
    """
    N, D, H, W, C = x.shape
    OD, OH, OW = depth.shape[0], rows.shape[0], cols.shape[0]
    xf = x.reshape(N * D * H * W * C)
    outputs = OD * OH * OW
    f = x.dtype.type
    for q in prange(N * OD * OH):
        total = np.empty(C, x.dtype)
        n, a, i = q // (OD * OH), q // OH % OD, q % OH
        d0, d1, dpad = depth[a, 0], depth[a, 1], depth[a, 2]
        h0, h1, hpad = rows[i, 0], rows[i, 1], rows[i, 2]
        for j in range(OW):
            w0, w1, wpad = cols[j, 0], cols[j, 1], cols[j, 2]
            for t in range(uint64(C)):
                total[t] = 0
            if d0 < d1 and h0 < h1 and w0 < w1:
                for d in range(d0, d1):
                    add_pixels(xf, (n * D + d) * H * W * C, h0, h1, w0, w1, W, C, total, 0, C)
                if adaptive:
                    kd, kh, kw = f(d1 - d0), f(h1 - h0), f(w1 - w0)
                    for t in range(uint64(C)):
                        total[t] = adaptive_divide(total[t], kd, kh, kw)
                else:
                    divisor = f(avg_divisor3d(d0, d1, dpad, h0, h1, hpad, w0, w1, wpad,
                                              count_include_pad, divisor_override))
                    for t in range(uint64(C)):
                        total[t] = total[t] / divisor
            out, step = uint64(n * C * outputs + (a * OH + i) * OW + j), uint64(outputs)
            for t in range(uint64(C)):
                yf[out + t * step] = total[t]


@njit(parallel=True, cache=True)
def max_gather_volumes(g, idx, gx, depth, rows, cols):
    """gx of max pooling of (N, D, H, W, C) volumes: each voxel (d, h, w) adds, over the
    windows ``depth[d]`` x ``rows[h]`` x ``cols[w]`` ([lo, hi) of those that can reach
    it) in row-major order, the gradients whose index names it; rows of voxels in parallel."""
    N, D, H, W, C = gx.shape
    OD, OH, OW = g.shape[1], g.shape[2], g.shape[3]
    gf, idxf = g.reshape(N * OD * OH * OW * C), idx.reshape(N * OD * OH * OW * C)
    gxf = gx.reshape(N * D * H * W * C)
    for q in prange(N * D * H):
        n, d, h = q // (D * H), q // H % D, q % H
        for w in range(W):
            dst = uint64((((n * D + d) * H + h) * W + w) * C)
            for t in range(uint64(C)):
                gxf[dst + t] = 0
            target = (d * H + h) * W + w
            for a in range(depth[d, 0], depth[d, 1]):
                index_gather_pixels(gf, idxf, (n * OD + a) * OH * OW * C, rows[h, 0], rows[h, 1],
                                    cols[w, 0], cols[w, 1], OW, C, target, gxf, dst)


# ---------------------------------------------------------------------------
# entry points: cpu.py's kernel names with _ndhwc, the arrays as (N, D, H, W, C)

def through_volumes(volume_kernel, inputs, outputs, *args):
    """Run an NCDHW volume kernel on channels-last arrays: ``inputs``, (N, D, H, W, C) each,
    are copied to (N*C, D, H, W) volumes, and the kernel's results land in ``outputs``,
    (N, C, *spatial) arrays in any memory layout."""
    volumes = [np.ascontiguousarray(np.moveaxis(a, -1, 1)).reshape((-1,) + a.shape[1:4])
               for a in inputs]
    results = [np.empty((o.shape[0] * o.shape[1],) + o.shape[2:], o.dtype) for o in outputs]
    volume_kernel(*volumes, *results, *args)
    for o, r in zip(outputs, results):
        o[...] = r.reshape(o.shape)  # (N*C, *spatial) -> (N, C, *spatial)


def max_pool3d_ndhwc(x, y, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """y, idx of max pooling of channels_last_3d volumes: x (N, D, H, W, C) and the results
    (N, OD, OH, OW, C), all C-contiguous."""
    if not max_reads_in_place(x.shape):
        through_volumes(fast_family.max_pool3d, [x], [np.moveaxis(y, -1, 1),
                                                      np.moveaxis(idx, -1, 1)],
                        kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)
        return
    tables = [windows(REGULAR, *dims) for dims in zip((kd, kh, kw), (sd, sh, sw), (pd, ph, pw),
                                                      (dd, dh, dw), x.shape[1:4], y.shape[1:4])]
    max_volumes(x, y.reshape(-1), idx.reshape(-1), *tables, dd, dh, dw, x.shape[4], 1)


def max_pool3d_backward_ndhwc(g, idx, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """gx, (N, D, H, W, C), of max pooling of channels_last_3d volumes, from g and idx,
    (N, OD, OH, OW, C), all C-contiguous."""
    if not max_reads_in_place(gx.shape):
        through_volumes(fast_family.max_pool3d_backward, [g, idx], [np.moveaxis(gx, -1, 1)],
                        kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)
        return
    reach = [fast_family.reach(REGULAR, *dims) for dims in zip(
        (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), (dd, dh, dw), gx.shape[1:4], g.shape[1:4])]
    max_gather_volumes(g, idx, gx, *reach)


def avg_pool3d_ndhwc(x, y, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                     divisor_override):
    """y of average pooling of channels_last_3d volumes: x (N, D, H, W, C), y contiguous
    (N, C, OD, OH, OW), as PyTorch returns it."""
    tables = [span_table(*dims) for dims in zip((kd, kh, kw), (sd, sh, sw), (pd, ph, pw),
                                                x.shape[1:4], y.shape[2:])]
    mean_volumes(x, y.reshape(-1), *tables, False, count_include_pad, divisor_override)


def adaptive_avg_pool3d_ndhwc(x, y):
    """y of adaptive average pooling of channels_last_3d volumes: x (N, D, H, W, C), y
    contiguous (N, C, OD, OH, OW), as PyTorch returns it."""
    tables = [box_span_table(n, out) for n, out in zip(x.shape[1:4], y.shape[2:])]
    mean_volumes(x, y.reshape(-1), *tables, True, False, 0)


def adaptive_max_pool3d_ndhwc(x, y, idx):
    """y, idx of adaptive max pooling of channels_last_3d volumes: x (N, D, H, W, C), the
    results contiguous (N, C, OD, OH, OW), as PyTorch returns them."""
    if not max_reads_in_place(x.shape):
        through_volumes(fast_family.adaptive_max_pool3d, [x], [y, idx])
        return
    tables = [adaptive_windows(n, out) for n, out in zip(x.shape[1:4], y.shape[2:])]
    outputs = math.prod(y.shape[2:])
    max_volumes(x, y.reshape(-1), idx.reshape(-1), *tables, 1, 1, 1, 1, outputs)
