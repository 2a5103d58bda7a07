"""CPU schedules: the formulas of ``formulas.py`` run over every output.

Each kernel is ``@njit(parallel=True, cache=True)`` and hands one (n, c)
plane to each parallel iteration (``prange``): planes are independent, and a
plane is one contiguous block of memory. Arrays arrive as (P, H, W) with
P = N*C; the kernels write into outputs the caller allocated, and allocate
nothing themselves. No ``fastmath``: it would let LLVM drop the NaN checks.
"""

from numba import njit, prange, uint64

from .geometry import gather_reach

from .formulas import (attention_input_grad, attention_key_grad_cell, attention_readout,
                       attention_score_grad, attention_weights, avg_grad_cell, avg_window,
                       broadcast_cell, broadcast_grad_cell, conv_grad_bias, conv_grad_input_plane,
                       conv_grad_weight_tap, conv_plane, global_max, global_max_grad, global_mean,
                       global_mean_grad, index_seen, key_fold, key_unfold_grad, max_grad_cell,
                       max_window)
from .formulas import (adaptive_avg_grad_cell, adaptive_avg_grad_cell3d, adaptive_avg_window,
                       adaptive_avg_window3d, adaptive_max_grad_cell, adaptive_max_grad_cell3d,
                       adaptive_max_window, adaptive_max_window3d, avg_grad_cell3d, avg_window3d,
                       fractional_max_grad_cell, fractional_max_window, lp_inf_window,
                       lp_mean_window, lp_power_grad, lp_root, lp_root_grad, max_grad_cell3d,
                       max_window3d, torch_sign, unpool_grad_cell, unpool_plane)


@njit(parallel=True, cache=True)
def max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y[p, i, j], idx[p, i, j] = max and argmax of window (i, j) of plane p."""
    P, OH, OW = y.shape
    for p in prange(P):
        plane = x[p]  # one view per plane: a view per element would cost a refcount each
        for i in range(OH):
            for j in range(OW):
                y[p, i, j], idx[p, i, j] = max_window(plane, i, j, kh, kw, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def max_pool2d_backward(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx[p, h, w] = sum of g over the windows of plane p whose argmax is (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        gp, ip = g[p], idx[p]
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = max_grad_cell(gp, ip, h, w, W, kh, kw, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y[p, i, j] = mean of window (i, j) of plane p, with PyTorch's divisor rules."""
    P, OH, OW = y.shape
    for p in prange(P):
        plane = x[p]
        for i in range(OH):
            for j in range(OW):
                y[p, i, j] = avg_window(plane, i, j, kh, kw, sh, sw, ph, pw,
                                        count_include_pad, divisor_override)


@njit(parallel=True, cache=True)
def avg_pool2d_backward(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx[p, h, w] = sum of g[p, i, j] / divisor(i, j) over the windows holding (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        gp = g[p]
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = avg_grad_cell(gp, h, w, H, W, kh, kw, sh, sw, ph, pw,
                                            count_include_pad, divisor_override)


@njit(parallel=True, cache=True)
def global_avg_pool2d(x, y):
    """y[p] = mean of plane p."""
    for p in prange(x.shape[0]):
        y[p] = global_mean(x[p])


@njit(parallel=True, cache=True)
def global_avg_pool2d_backward(g, gx):
    """gx[p, h, w] = g[p] / (H*W)."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = global_mean_grad(g, p, H, W)


@njit(parallel=True, cache=True)
def global_max_pool2d(x, y, idx):
    """y[p], idx[p] = max and argmax of plane p."""
    for p in prange(x.shape[0]):
        y[p], idx[p] = global_max(x[p])


@njit(parallel=True, cache=True)
def global_max_pool2d_backward(g, idx, gx):
    """gx[p, h, w] = g[p] where (h, w) is plane p's argmax, else 0."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = global_max_grad(g, idx, p, h, w, W)


@njit(cache=True)
def gather_reach_table(reach, kind, k, s, p, d, n):
    """reach[o] = the input positions whose gather visits window o (``geometry.gather_reach``)."""
    gather_reach(reach, kind, k, s, p, d, n, reach.shape[0])


@njit(parallel=True, cache=True)
def stray_indices(idx, first, D, H, W, depth, rows, cols):
    """first[p] = the first position q, in row-major order, of the windows of volume p
    whose index the backward gather cannot see (``index_seen``); -1 if none.

    ``idx`` is (N, C, OD, OH, OW) in any memory layout, p = n*C + c; 2D work
    has D = OD = 1, 1D also H = OH = 1. ``depth``, ``rows``, ``cols`` are the
    reach tables of the three dimensions, (2, windows) each. One parallel
    pass over the indices, before a max backward runs: each row of windows
    is checked as one vectorised reduction (``index_seen`` has no branch and
    no division), and only the first row that holds a stray index is scanned
    again for its position. (No early exit from the rows: with one, short
    rows such as adaptive pooling's check at half the speed.)
    """
    N, C, OD, OH, OW = idx.shape
    for p in prange(N * C):
        volume = idx[p // C, p % C]  # one view per volume, not one per element
        bad = -1  # the first row with a stray index
        for r in range(OD * OH):
            a, i = r // OH, r % OH
            seen = True
            for j in range(OW):
                seen &= index_seen(volume[a, i, j], a, i, j, D, H, W, depth, rows, cols)
            bad = r if (bad < 0) & (not seen) else bad
        if bad >= 0:
            a, i = bad // OH, bad % OH
            j = 0
            while index_seen(volume[a, i, j], a, i, j, D, H, W, depth, rows, cols):
                j += 1
            bad = bad * OW + j  # the position in row-major order
        first[p] = bad


@njit(parallel=True, cache=True)
def stray_rows(idx, bad, D, H, W, depth, rows, cols):
    """bad[r] = whether output row r = (n, a, i) of (N, OD, OH, OW, C) indices holds one
    that the backward gather cannot see (``index_seen``).

    The same test as :func:`stray_indices`, in the memory order of
    channels-last indices, a row of C-channel runs at a time (read plane by
    plane, they would stride C entries apart). It only says whether a row is
    bad; where, in NCDHW order, ``stray_indices`` says.
    """
    N, OD, OH, OW, C = idx.shape
    for r in prange(N * OD * OH):
        n, a, i = r // (OD * OH), r // OH % OD, r % OH
        row = idx[n, a, i]  # one view per row, not one per element
        seen = True
        for j in range(OW):
            for c in range(C):
                seen &= index_seen(row[j, c], a, i, j, D, H, W, depth, rows, cols)
        bad[r] = not seen


@njit(parallel=True, cache=True)
def outside_runs(a, lo, hi, first):
    """first[c] = the first position t of run c of flat ``a`` with a[t] outside [lo, hi),
    -1 if none; the runs cut ``a`` into first.size equal parts.

    Each run is checked as one vectorised reduction and scanned again only
    if it holds an entry outside: unpooling reads every index once this way,
    before its kernel runs, without NumPy's temporary masks.
    """
    runs = first.size
    span = uint64(hi - lo)
    for c in prange(runs):
        t0, t1 = c * a.size // runs, (c + 1) * a.size // runs
        outside = False
        # one unsigned test for both ends (below lo wraps around to a huge value);
        # unsigned positions: no negative-index test per entry
        for t in range(uint64(t0), uint64(t1)):
            outside |= uint64(a[t] - lo) >= span
        bad = -1
        if outside:
            bad = t0
            while lo <= a[bad] < hi:
                bad += 1
        first[c] = bad


# ---------------------------------------------------------------------------
# max-broadcast pooling (the window maxima come from max_pool2d above)

@njit(parallel=True, cache=True)
def broadcast_windows(m, y, kh, kw):
    """y[p, h, w] = m[p, h // kh, w // kw]: each cell takes its window's max."""
    P, H, W = y.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                y[p, h, w] = broadcast_cell(m[p], h, w, kh, kw)


@njit(parallel=True, cache=True)
def max_broadcast_pool2d_backward(g, idx, gx, kh, kw):
    """gx[p, h, w] = the summed gradient of the window whose max came from (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = broadcast_grad_cell(g[p], idx[p], h, w, kh, kw)


# ---------------------------------------------------------------------------
# attention pooling: one image per parallel iteration, x viewed as (N, C, P)

@njit(parallel=True, cache=True)
def attention_pool2d(x, u, scale, a, y):
    """a[n] = softmax over positions of scale * u . x[n, :, p]; y[n, c] = sum_p a[n, p] x[n, c, p]."""
    N, C, P = x.shape
    for n in prange(N):
        attention_weights(x[n], u, scale, a[n])
        for c in range(C):
            y[n, c] = attention_readout(x[n], a[n], c)


@njit(parallel=True, cache=True)
def attention_pool2d_backward(g, x, u, scale, a, y, ds, gx):
    """ds[n, p] = dL/ds (the score gradient); gx[n, c, p] = dL/dx[n, c, p]."""
    N, C, P = x.shape
    for n in prange(N):
        for p in range(P):
            ds[n, p] = attention_score_grad(x[n], a[n], g[n], y[n], p)
        for c in range(C):
            for p in range(P):
                gx[n, c, p] = attention_input_grad(g[n], a[n], ds[n], u, scale, c, p)


@njit(cache=True)
def attention_fold(w, q, u):
    """u = W_k^T q, one channel at a time (tiny: C sums of D terms)."""
    for c in range(u.shape[0]):
        u[c] = key_fold(w, q, c)


@njit(cache=True)
def attention_query_grad(w, gu, gq):
    """gq = W_k gu, one query entry at a time."""
    for d in range(gq.shape[0]):
        gq[d] = key_unfold_grad(w, gu, d)


@njit(parallel=True, cache=True)
def attention_key_grad(x, ds, scale, gu):
    """gu[c] = scale * sum over (n, p) of ds[n, p] * x[n, c, p], the gradient of u = W_k^T q."""
    for c in prange(gu.shape[0]):
        gu[c] = attention_key_grad_cell(x, ds, scale, c)


@njit(cache=True)
def attention_key_weight_grad(q, gu, gw):
    """gw[d, c] = q[d] * gu[c], the gradient of W_k (an outer product: one product per entry)."""
    D, C = gw.shape
    for d in range(D):
        for c in range(C):
            gw[d, c] = q[d] * gu[c]


# ---------------------------------------------------------------------------
# convolution: forward over (image, output channel) planes, input gradient over
# (image, input channel) planes, weight gradient over output channels; each
# parallel iteration writes only its own plane (or channel)

@njit(parallel=True, cache=True)
def conv2d(x, w, b, y, sh, sw, ph, pw, dh, dw):
    """y[n, o] = b[o] + the convolution of image n with filter o."""
    N, O, OH, OW = y.shape
    for q in prange(N * O):
        n, o = q // O, q % O
        y[n, o] = b[o]
        conv_plane(x[n], w[o], y[n, o], sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def conv2d_backward_input(g, w, gx, sh, sw, ph, pw, dh, dw):
    """gx[n, c] = the gradient plane of input channel c of image n."""
    N, C, H, W = gx.shape
    for q in prange(N * C):
        n, c = q // C, q % C
        gx[n, c] = 0
        conv_grad_input_plane(g[n], w, c, gx[n, c], sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def conv2d_backward_weight(g, x, gw, gb, sh, sw, ph, pw, dh, dw):
    """gw[o, c, u, v] and gb[o], each output channel o in its own parallel iteration."""
    O, C, KH, KW = gw.shape
    for o in prange(O):
        gb[o] = conv_grad_bias(g, o)
        for c in range(C):
            for u in range(KH):
                for v in range(KW):
                    gw[o, c, u, v] = conv_grad_weight_tap(g, x, o, c, u, v, sh, sw, ph, pw, dh, dw)


@njit(parallel=True, cache=True)
def conv2d_backward_bias(g, gb):
    """gb[o] = the sum of g[:, o], each output channel o in its own parallel iteration
    (the bias gradient of a transposed convolution; ``conv2d_backward_weight`` has its own)."""
    for o in prange(gb.shape[0]):
        gb[o] = conv_grad_bias(g, o)


@njit(parallel=True, cache=True)
def add_channel_bias(y, b):
    """y[n, o] += b[o]: a transposed convolution's bias, added after its sums."""
    N, O, OH, OW = y.shape
    for q in prange(N * O):
        n, o = q // O, q % O
        for i in range(OH):
            for j in range(OW):
                y[n, o, i, j] += b[o]


# ---------------------------------------------------------------------------
# the pooling family: adaptive, fractional, unpooling, LP (elementwise steps)
# and volume pooling. Volumes arrive as (P, D, H, W).

@njit(parallel=True, cache=True)
def adaptive_avg_pool2d(x, y):
    """y[p, i, j] = mean of adaptive window (i, j) of plane p."""
    P, OH, OW = y.shape
    for p in prange(P):
        for i in range(OH):
            for j in range(OW):
                y[p, i, j] = adaptive_avg_window(x[p], i, j, OH, OW)


@njit(parallel=True, cache=True)
def adaptive_avg_pool2d_backward(g, gx):
    """gx[p, h, w] = sum of g[p, i, j] / kh / kw over the adaptive windows holding (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = adaptive_avg_grad_cell(g[p], h, w, H, W)


@njit(parallel=True, cache=True)
def adaptive_max_pool2d(x, y, idx):
    """y[p, i, j], idx[p, i, j] = max and argmax of adaptive window (i, j) of plane p."""
    P, OH, OW = y.shape
    for p in prange(P):
        for i in range(OH):
            for j in range(OW):
                y[p, i, j], idx[p, i, j] = adaptive_max_window(x[p], i, j, OH, OW)


@njit(parallel=True, cache=True)
def adaptive_max_pool2d_backward(g, idx, gx):
    """gx[p, h, w] = sum of g over the adaptive windows of plane p whose argmax is (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = adaptive_max_grad_cell(g[p], idx[p], h, w, H, W)


@njit(parallel=True, cache=True)
def fractional_max_pool2d(x, samples, y, idx, kh, kw):
    """y[p, i, j], idx[p, i, j] = max and argmax of fractional window (i, j) of plane p,
    placed by that plane's samples[p] = (u_w, u_h)."""
    P, OH, OW = y.shape
    for p in prange(P):
        for i in range(OH):
            for j in range(OW):
                y[p, i, j], idx[p, i, j] = fractional_max_window(x[p], i, j, kh, kw, OH, OW,
                                                                 samples[p])


@njit(parallel=True, cache=True)
def fractional_max_pool2d_backward(g, idx, gx, kh, kw):
    """gx[p, h, w] = sum of g over the windows of plane p whose argmax is (h, w)."""
    P, H, W = gx.shape
    for p in prange(P):
        for h in range(H):
            for w in range(W):
                gx[p, h, w] = fractional_max_grad_cell(g[p], idx[p], h, w, H, W, kh, kw)


@njit(parallel=True, cache=True)
def max_unpool2d(x, idx, y):
    """Plane p of y: x[p] scattered to the flat positions idx[p], zeros elsewhere."""
    for p in prange(y.shape[0]):
        unpool_plane(x[p], idx[p], y[p])


@njit(parallel=True, cache=True)
def max_unpool2d_backward(g, idx, gx):
    """gx[p, i, j] = g[p] at the flat position idx[p, i, j]."""
    P, H, W = gx.shape
    for p in prange(P):
        for i in range(H):
            for j in range(W):
                gx[p, i, j] = unpool_grad_cell(g[p], idx[p], i, j)


# LP pooling: PyTorch's recipe x ** p, an average pool, then a root, with the
# elementwise steps fused into the window formulas, so that no input-sized
# temporary is made. The backward passes recompute each window's forward
# value (the average, or the argmax) instead of keeping it.

@njit(parallel=True, cache=True)
def lp_pool2d(x, y, kh, kw, sh, sw, p, q, K):
    """y[c, i, j] = (K * mean of x ** p over window (i, j)) ** (1/p)."""
    P, OH, OW = y.shape
    f = x.dtype.type
    for c in prange(P):
        plane = x[c]
        for i in range(OH):
            for j in range(OW):
                m = lp_mean_window(plane, i, j, kh, kw, sh, sw, f(p))
                y[c, i, j] = lp_root(m, f(q), f(K), f(1))


@njit(parallel=True, cache=True)
def lp_pool2d_backward(g, x, gm, gx, kh, kw, sh, sw, p, pm1, q, qm1, K):
    """gx[c, h, w]: the root's gradient per window (into gm, output-sized scratch),
    the average pool's gather, then the power's gradient at the cell."""
    P, H, W = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    f = x.dtype.type
    for c in prange(P):
        plane = x[c]
        for i in range(OH):
            for j in range(OW):
                m = lp_mean_window(plane, i, j, kh, kw, sh, sw, f(p))
                gm[c, i, j] = lp_root_grad(g[c, i, j], m, f(q), f(qm1), f(K), f(1))
        for h in range(H):
            for w in range(W):
                g_power = avg_grad_cell(gm[c], h, w, H, W, kh, kw, sh, sw, 0, 0, True, 0)
                gx[c, h, w] = lp_power_grad(g_power, plane[h, w], f(p), f(pm1), f(1))


@njit(parallel=True, cache=True)
def lp_inf_pool2d(x, y, kh, kw, sh, sw, sign):
    """y = the max (sign 1) or min (sign -1) of |x| over each window."""
    P, OH, OW = y.shape
    for c in prange(P):
        for i in range(OH):
            for j in range(OW):
                y[c, i, j] = lp_inf_window(x[c], i, j, kh, kw, sh, sw, sign)[0]


@njit(parallel=True, cache=True)
def lp_inf_pool2d_backward(g, x, idx, gx, kh, kw, sh, sw, sign):
    """gx = the max gather (each window's argmax into idx, output-sized scratch)
    times d|x|/dx = sign(x), which PyTorch takes as 0 at NaN (for p = -inf the
    two negations cancel exactly)."""
    P, H, W = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    for c in prange(P):
        for i in range(OH):
            for j in range(OW):
                idx[c, i, j] = lp_inf_window(x[c], i, j, kh, kw, sh, sw, sign)[1]
        for h in range(H):
            for w in range(W):
                v = x[c, h, w]
                gx[c, h, w] = max_grad_cell(g[c], idx[c], h, w, W, kh, kw, sh, sw, 0, 0, 1,
                                            1) * torch_sign(v)


@njit(parallel=True, cache=True)
def max_pool3d(x, y, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """y[p, a, i, j], idx[p, a, i, j] = max and argmax of window (a, i, j) of volume p."""
    P, OD, OH, OW = y.shape
    for p in prange(P):
        for a in range(OD):
            for i in range(OH):
                for j in range(OW):
                    y[p, a, i, j], idx[p, a, i, j] = max_window3d(
                        x[p], a, i, j, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw)


@njit(parallel=True, cache=True)
def max_pool3d_backward(g, idx, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """gx[p, d, h, w] = sum of g over the windows of volume p whose argmax is (d, h, w)."""
    P, D, H, W = gx.shape
    for p in prange(P):
        for d in range(D):
            for h in range(H):
                for w in range(W):
                    gx[p, d, h, w] = max_grad_cell3d(g[p], idx[p], d, h, w, H, W, kd, kh, kw,
                                                     sd, sh, sw, pd, ph, pw, dd, dh, dw)


@njit(parallel=True, cache=True)
def avg_pool3d(x, y, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """y[p, a, i, j] = mean of window (a, i, j) of volume p, with PyTorch's divisor rules."""
    P, OD, OH, OW = y.shape
    for p in prange(P):
        for a in range(OD):
            for i in range(OH):
                for j in range(OW):
                    y[p, a, i, j] = avg_window3d(x[p], a, i, j, kd, kh, kw, sd, sh, sw,
                                                 pd, ph, pw, count_include_pad, divisor_override)


@njit(parallel=True, cache=True)
def avg_pool3d_backward(g, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                        divisor_override):
    """gx[p, d, h, w] = sum of g[p, a, i, j] / divisor over the windows holding (d, h, w)."""
    P, D, H, W = gx.shape
    for p in prange(P):
        for d in range(D):
            for h in range(H):
                for w in range(W):
                    gx[p, d, h, w] = avg_grad_cell3d(g[p], d, h, w, D, H, W, kd, kh, kw,
                                                     sd, sh, sw, pd, ph, pw,
                                                     count_include_pad, divisor_override)


@njit(parallel=True, cache=True)
def adaptive_avg_pool3d(x, y):
    """y[p, a, i, j] = mean of adaptive box (a, i, j) of volume p."""
    P, OD, OH, OW = y.shape
    for p in prange(P):
        for a in range(OD):
            for i in range(OH):
                for j in range(OW):
                    y[p, a, i, j] = adaptive_avg_window3d(x[p], a, i, j, OD, OH, OW)


@njit(parallel=True, cache=True)
def adaptive_avg_pool3d_backward(g, gx):
    """gx[p, d, h, w] = sum of g / kd / kh / kw over the adaptive boxes holding (d, h, w)."""
    P, D, H, W = gx.shape
    for p in prange(P):
        for d in range(D):
            for h in range(H):
                for w in range(W):
                    gx[p, d, h, w] = adaptive_avg_grad_cell3d(g[p], d, h, w, D, H, W)


@njit(parallel=True, cache=True)
def adaptive_max_pool3d(x, y, idx):
    """y[p, a, i, j], idx[p, a, i, j] = max and argmax of adaptive box (a, i, j) of volume p."""
    P, OD, OH, OW = y.shape
    for p in prange(P):
        for a in range(OD):
            for i in range(OH):
                for j in range(OW):
                    y[p, a, i, j], idx[p, a, i, j] = adaptive_max_window3d(x[p], a, i, j,
                                                                           OD, OH, OW)


@njit(parallel=True, cache=True)
def adaptive_max_pool3d_backward(g, idx, gx):
    """gx[p, d, h, w] = sum of g over the adaptive boxes of volume p whose argmax is (d, h, w)."""
    P, D, H, W = gx.shape
    for p in prange(P):
        for d in range(D):
            for h in range(H):
                for w in range(W):
                    gx[p, d, h, w] = adaptive_max_grad_cell3d(g[p], idx[p], d, h, w, D, H, W)
