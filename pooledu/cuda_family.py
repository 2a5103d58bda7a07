"""CUDA schedules of the rest of the family: 3D, adaptive, fractional, LP, unpooling,
max-broadcast and attention pooling.

The same schedule as ``cuda.py``, for the kernels of ``cpu.py``'s second half:
each kernel is a grid-stride loop with one thread per output value (forward)
or per input gradient (backward, a gather: no two threads write one cell, no
atomics), and its body is the ``formulas.py`` function the CPU kernel calls,
so the sums run in the CPU's order and give the CPU's bits. 1D pooling needs
nothing here: it runs the 2D kernels with H = 1, on either device.

Where a CPU kernel runs two steps over one plane (LP pooling's backward
first finds each window's root gradient or argmax, then gathers), the host
function below launches one kernel per step, the second reading what the
first wrote. Two kernels are not element-wise: max unpooling's forward is a
scatter in which the later of two equal indices wins, so it keeps one thread
per plane (``formulas.unpool_plane``, in the CPU's order); attention pooling's
softmax needs the whole image, so its weights take one thread per image.

``backend.cuda_backend`` hands the host functions below (``__all__``), with
those of ``cuda.py``, to ``dispatch.kernel``.

On a real GPU every kernel here gives the CPU's bits except those of LP
pooling (finite p) and attention pooling, which agree to a few ulps: their
formulas multiply and add (``total += v * v``, ``s += u[c] * x[c, p]``),
which NVVM fuses into FMAs (numba-cuda has no switch to stop it short of
``fastmath``), and their ``exp`` and non-integer powers come from CUDA's
libdevice. The compilation check in tests/test_cuda.py asserts that no other
kernel has an FMA. In Numba's CUDA simulator all of them give the CPU's bits.
"""

from numba import cuda

from .cuda import _on_elements_of, launch, unravel
from .formulas import (adaptive_avg_grad_cell, adaptive_avg_grad_cell3d, adaptive_avg_window,
                       adaptive_avg_window3d, adaptive_max_grad_cell, adaptive_max_grad_cell3d,
                       adaptive_max_window, adaptive_max_window3d, attention_input_grad,
                       attention_key_grad_cell, attention_readout, attention_score_grad,
                       attention_weights, avg_grad_cell, avg_grad_cell3d, avg_window3d,
                       broadcast_cell, broadcast_grad_cell, fractional_max_grad_cell,
                       fractional_max_window, key_fold, key_unfold_grad, lp_inf_window,
                       lp_mean_window, lp_power_grad, lp_root, lp_root_grad, max_grad_cell,
                       max_grad_cell3d, max_window3d, torch_sign, unpool_grad_cell,
                       unpool_plane)

#: The host functions, named and called as their ``cpu.py`` twins.
__all__ = ["adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
           "adaptive_max_pool2d_backward", "fractional_max_pool2d",
           "fractional_max_pool2d_backward", "max_unpool2d", "max_unpool2d_backward",
           "lp_pool2d", "lp_pool2d_backward", "lp_inf_pool2d", "lp_inf_pool2d_backward",
           "max_pool3d", "max_pool3d_backward", "avg_pool3d", "avg_pool3d_backward",
           "adaptive_avg_pool3d", "adaptive_avg_pool3d_backward", "adaptive_max_pool3d",
           "adaptive_max_pool3d_backward", "broadcast_windows", "max_broadcast_pool2d_backward",
           "attention_pool2d", "attention_pool2d_backward", "attention_fold",
           "attention_query_grad", "attention_key_grad", "attention_key_weight_grad"]


@cuda.jit(device=True)
def unravel3(t, depth, rows, cols):
    """Flat index t of a C-ordered (volumes, depth, rows, cols) array -> (p, d, h, w)."""
    p, dh, w = unravel(t, depth * rows, cols)
    return p, dh // rows, dh % rows, w


# ---------------------------------------------------------------------------
# adaptive pooling in 2D (1D runs these with H = 1)

@cuda.jit
def _adaptive_avg_pool2d(x, y):
    """y[p, i, j] = mean of adaptive window (i, j) of plane p; a thread per (p, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        p, i, j = unravel(t, OH, OW)
        y[p, i, j] = adaptive_avg_window(x[p], i, j, OH, OW)


@cuda.jit
def _adaptive_avg_pool2d_backward(g, gx):
    """gx[p, h, w] = sum of g / kh / kw over the adaptive windows holding (h, w); a thread per cell."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = adaptive_avg_grad_cell(g[p], h, w, H, W)


@cuda.jit
def _adaptive_max_pool2d(x, y, idx):
    """y[p, i, j], idx[p, i, j] = max and argmax of adaptive window (i, j); a thread per (p, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        p, i, j = unravel(t, OH, OW)
        y[p, i, j], idx[p, i, j] = adaptive_max_window(x[p], i, j, OH, OW)


@cuda.jit
def _adaptive_max_pool2d_backward(g, idx, gx):
    """gx[p, h, w] = sum of g over the adaptive windows whose argmax is (h, w); a thread per cell."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = adaptive_max_grad_cell(g[p], idx[p], h, w, H, W)


# ---------------------------------------------------------------------------
# fractional max pooling

@cuda.jit
def _fractional_max_pool2d(x, samples, y, idx, kh, kw):
    """y[p, i, j], idx[p, i, j] = max and argmax of fractional window (i, j), placed by
    samples[p]; a thread per (p, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        p, i, j = unravel(t, OH, OW)
        y[p, i, j], idx[p, i, j] = fractional_max_window(x[p], i, j, kh, kw, OH, OW, samples[p])


@cuda.jit
def _fractional_max_pool2d_backward(g, idx, gx, kh, kw):
    """gx[p, h, w] = sum of g over the windows whose argmax is (h, w); a thread per cell."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = fractional_max_grad_cell(g[p], idx[p], h, w, H, W, kh, kw)


# ---------------------------------------------------------------------------
# max unpooling

@cuda.jit
def _max_unpool2d(x, idx, y):
    """Plane p of y: x[p] scattered to the flat positions idx[p]; a thread per plane
    (a scatter: one thread keeps the CPU's order, so the later of two equal indices wins)."""
    for p in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
        unpool_plane(x[p], idx[p], y[p])


@cuda.jit
def _max_unpool2d_backward(g, idx, gx):
    """gx[p, i, j] = g[p] at the flat position idx[p, i, j]; a thread per (p, i, j)."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, i, j = unravel(t, H, W)
        gx[p, i, j] = unpool_grad_cell(g[p], idx[p], i, j)


# ---------------------------------------------------------------------------
# LP pooling: the CPU's fused steps, the backward's two steps as two kernels

@cuda.jit
def _lp_pool2d(x, y, kh, kw, sh, sw, p, q, K):
    """y[c, i, j] = (K * mean of x ** p over window (i, j)) ** (1/p); a thread per (c, i, j)."""
    P, OH, OW = y.shape
    f = x.dtype.type
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        c, i, j = unravel(t, OH, OW)
        m = lp_mean_window(x[c], i, j, kh, kw, sh, sw, f(p))
        y[c, i, j] = lp_root(m, f(q), f(K), f(1))


@cuda.jit
def _lp_root_grads(g, x, gm, kh, kw, sh, sw, p, q, qm1, K):
    """gm[c, i, j] = the root's gradient of window (i, j), its mean recomputed; a thread per window."""
    P, OH, OW = g.shape
    f = x.dtype.type
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        c, i, j = unravel(t, OH, OW)
        m = lp_mean_window(x[c], i, j, kh, kw, sh, sw, f(p))
        gm[c, i, j] = lp_root_grad(g[c, i, j], m, f(q), f(qm1), f(K), f(1))


@cuda.jit
def _lp_power_grads(gm, x, gx, kh, kw, sh, sw, p, pm1):
    """gx[c, h, w] = the average pool's gather of gm, times the power's gradient; a thread per cell."""
    P, H, W = gx.shape
    f = x.dtype.type
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        c, h, w = unravel(t, H, W)
        g_power = avg_grad_cell(gm[c], h, w, H, W, kh, kw, sh, sw, 0, 0, True, 0)
        gx[c, h, w] = lp_power_grad(g_power, x[c, h, w], f(p), f(pm1), f(1))


def lp_pool2d_backward(g, x, gm, gx, kh, kw, sh, sw, p, pm1, q, qm1, K):
    """gx: the root's gradient per window (into gm), then the gather and the power's gradient."""
    launch(_lp_root_grads, gm.size, g, x, gm, kh, kw, sh, sw, p, q, qm1, K)
    launch(_lp_power_grads, gx.size, gm, x, gx, kh, kw, sh, sw, p, pm1)


@cuda.jit
def _lp_inf_pool2d(x, y, kh, kw, sh, sw, sign):
    """y = the max (sign 1) or min (sign -1) of |x| over each window; a thread per (c, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        c, i, j = unravel(t, OH, OW)
        y[c, i, j] = lp_inf_window(x[c], i, j, kh, kw, sh, sw, sign)[0]


@cuda.jit
def _lp_inf_argmax(x, idx, kh, kw, sh, sw, sign):
    """idx[c, i, j] = the cell window (i, j)'s value came from; a thread per window."""
    P, OH, OW = idx.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        c, i, j = unravel(t, OH, OW)
        idx[c, i, j] = lp_inf_window(x[c], i, j, kh, kw, sh, sw, sign)[1]


@cuda.jit
def _lp_inf_gather(g, x, idx, gx, kh, kw, sh, sw):
    """gx[c, h, w] = the max gather at (h, w) times sign(x[c, h, w]); a thread per cell."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        c, h, w = unravel(t, H, W)
        v = x[c, h, w]
        gx[c, h, w] = max_grad_cell(g[c], idx[c], h, w, W, kh, kw, sh, sw, 0, 0, 1,
                                    1) * torch_sign(v)


def lp_inf_pool2d_backward(g, x, idx, gx, kh, kw, sh, sw, sign):
    """gx: each window's argmax (into idx), then the max gather times sign(x)."""
    launch(_lp_inf_argmax, idx.size, x, idx, kh, kw, sh, sw, sign)
    launch(_lp_inf_gather, gx.size, g, x, idx, gx, kh, kw, sh, sw)


# ---------------------------------------------------------------------------
# volume pooling: max, average and adaptive over (D, H, W)

@cuda.jit
def _max_pool3d(x, y, idx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """y, idx at (p, a, i, j) = max and argmax of window (a, i, j) of volume p; a thread per output."""
    P, OD, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OD * OH * OW, cuda.gridsize(1)):
        p, a, i, j = unravel3(t, OD, OH, OW)
        y[p, a, i, j], idx[p, a, i, j] = max_window3d(x[p], a, i, j, kd, kh, kw, sd, sh, sw,
                                                      pd, ph, pw, dd, dh, dw)


@cuda.jit
def _max_pool3d_backward(g, idx, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw):
    """gx[p, d, h, w] = sum of g over the windows whose argmax is (d, h, w); a thread per cell."""
    P, D, H, W = gx.shape
    for t in range(cuda.grid(1), P * D * H * W, cuda.gridsize(1)):
        p, d, h, w = unravel3(t, D, H, W)
        gx[p, d, h, w] = max_grad_cell3d(g[p], idx[p], d, h, w, H, W, kd, kh, kw,
                                         sd, sh, sw, pd, ph, pw, dd, dh, dw)


@cuda.jit
def _avg_pool3d(x, y, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad, divisor_override):
    """y[p, a, i, j] = mean of window (a, i, j) of volume p; a thread per output."""
    P, OD, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OD * OH * OW, cuda.gridsize(1)):
        p, a, i, j = unravel3(t, OD, OH, OW)
        y[p, a, i, j] = avg_window3d(x[p], a, i, j, kd, kh, kw, sd, sh, sw, pd, ph, pw,
                                     count_include_pad, divisor_override)


@cuda.jit
def _avg_pool3d_backward(g, gx, kd, kh, kw, sd, sh, sw, pd, ph, pw, count_include_pad,
                         divisor_override):
    """gx[p, d, h, w] = sum of g / divisor over the windows holding (d, h, w); a thread per cell."""
    P, D, H, W = gx.shape
    for t in range(cuda.grid(1), P * D * H * W, cuda.gridsize(1)):
        p, d, h, w = unravel3(t, D, H, W)
        gx[p, d, h, w] = avg_grad_cell3d(g[p], d, h, w, D, H, W, kd, kh, kw, sd, sh, sw,
                                         pd, ph, pw, count_include_pad, divisor_override)


@cuda.jit
def _adaptive_avg_pool3d(x, y):
    """y[p, a, i, j] = mean of adaptive box (a, i, j) of volume p; a thread per output."""
    P, OD, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OD * OH * OW, cuda.gridsize(1)):
        p, a, i, j = unravel3(t, OD, OH, OW)
        y[p, a, i, j] = adaptive_avg_window3d(x[p], a, i, j, OD, OH, OW)


@cuda.jit
def _adaptive_avg_pool3d_backward(g, gx):
    """gx[p, d, h, w] = sum of g / kd / kh / kw over the boxes holding (d, h, w); a thread per cell."""
    P, D, H, W = gx.shape
    for t in range(cuda.grid(1), P * D * H * W, cuda.gridsize(1)):
        p, d, h, w = unravel3(t, D, H, W)
        gx[p, d, h, w] = adaptive_avg_grad_cell3d(g[p], d, h, w, D, H, W)


@cuda.jit
def _adaptive_max_pool3d(x, y, idx):
    """y, idx at (p, a, i, j) = max and argmax of adaptive box (a, i, j); a thread per output."""
    P, OD, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OD * OH * OW, cuda.gridsize(1)):
        p, a, i, j = unravel3(t, OD, OH, OW)
        y[p, a, i, j], idx[p, a, i, j] = adaptive_max_window3d(x[p], a, i, j, OD, OH, OW)


@cuda.jit
def _adaptive_max_pool3d_backward(g, idx, gx):
    """gx[p, d, h, w] = sum of g over the adaptive boxes whose argmax is (d, h, w); a thread per cell."""
    P, D, H, W = gx.shape
    for t in range(cuda.grid(1), P * D * H * W, cuda.gridsize(1)):
        p, d, h, w = unravel3(t, D, H, W)
        gx[p, d, h, w] = adaptive_max_grad_cell3d(g[p], idx[p], d, h, w, D, H, W)


# ---------------------------------------------------------------------------
# max-broadcast pooling (the window maxima come from cuda.max_pool2d)

@cuda.jit
def _broadcast_windows(m, y, kh, kw):
    """y[p, h, w] = m[p, h // kh, w // kw]; a thread per (p, h, w)."""
    P, H, W = y.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        y[p, h, w] = broadcast_cell(m[p], h, w, kh, kw)


@cuda.jit
def _max_broadcast_pool2d_backward(g, idx, gx, kh, kw):
    """gx[p, h, w] = the summed gradient of the window whose max came from (h, w); a thread per cell."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = broadcast_grad_cell(g[p], idx[p], h, w, kh, kw)


# ---------------------------------------------------------------------------
# attention pooling: x viewed as (N, C, P)

@cuda.jit
def _attention_weights(x, u, scale, a):
    """a[n] = softmax over positions of scale * u . x[n, :, p]; a thread per image."""
    for n in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        attention_weights(x[n], u, scale, a[n])


@cuda.jit
def _attention_readout(x, a, y):
    """y[n, c] = sum_p a[n, p] x[n, c, p]; a thread per (n, c)."""
    N, C = y.shape
    for t in range(cuda.grid(1), N * C, cuda.gridsize(1)):
        n, c = t // C, t % C
        y[n, c] = attention_readout(x[n], a[n], c)


def attention_pool2d(x, u, scale, a, y):
    """a[n] = the softmax weights of image n, then y[n, c] = the weighted mean of channel c."""
    launch(_attention_weights, a.shape[0], x, u, scale, a)
    launch(_attention_readout, y.size, x, a, y)


@cuda.jit
def _attention_score_grads(g, x, a, y, ds):
    """ds[n, p] = dL/ds at position p of image n; a thread per (n, p)."""
    N, P = ds.shape
    for t in range(cuda.grid(1), N * P, cuda.gridsize(1)):
        n, p = t // P, t % P
        ds[n, p] = attention_score_grad(x[n], a[n], g[n], y[n], p)


@cuda.jit
def _attention_input_grads(g, u, scale, a, ds, gx):
    """gx[n, c, p] = dL/dx[n, c, p]; a thread per (n, c, p)."""
    N, C, P = gx.shape
    for t in range(cuda.grid(1), N * C * P, cuda.gridsize(1)):
        n, c, p = unravel(t, C, P)
        gx[n, c, p] = attention_input_grad(g[n], a[n], ds[n], u, scale, c, p)


def attention_pool2d_backward(g, x, u, scale, a, y, ds, gx):
    """ds = the score gradients, then gx = the input gradients, which read them."""
    launch(_attention_score_grads, ds.size, g, x, a, y, ds)
    launch(_attention_input_grads, gx.size, g, u, scale, a, ds, gx)


@cuda.jit
def _attention_fold(w, q, u):
    """u[c] = (W_k^T q)[c]; a thread per channel."""
    for c in range(cuda.grid(1), u.shape[0], cuda.gridsize(1)):
        u[c] = key_fold(w, q, c)


@cuda.jit
def _attention_query_grad(w, gu, gq):
    """gq[d] = (W_k gu)[d]; a thread per query entry."""
    for d in range(cuda.grid(1), gq.shape[0], cuda.gridsize(1)):
        gq[d] = key_unfold_grad(w, gu, d)


@cuda.jit
def _attention_key_grad(x, ds, scale, gu):
    """gu[c] = scale * sum over (n, p) of ds[n, p] x[n, c, p]; a thread per channel."""
    for c in range(cuda.grid(1), gu.shape[0], cuda.gridsize(1)):
        gu[c] = attention_key_grad_cell(x, ds, scale, c)


@cuda.jit
def _attention_key_weight_grad(q, gu, gw):
    """gw[d, c] = q[d] * gu[c]; a thread per entry."""
    D, C = gw.shape
    for t in range(cuda.grid(1), D * C, cuda.gridsize(1)):
        gw[t // C, t % C] = q[t // C] * gu[t % C]


# ---------------------------------------------------------------------------
# the host side: cpu.py's names and signatures

adaptive_avg_pool2d = _on_elements_of(_adaptive_avg_pool2d, out=1)
adaptive_avg_pool2d_backward = _on_elements_of(_adaptive_avg_pool2d_backward, out=1)
adaptive_max_pool2d = _on_elements_of(_adaptive_max_pool2d, out=1)
adaptive_max_pool2d_backward = _on_elements_of(_adaptive_max_pool2d_backward, out=2)
fractional_max_pool2d = _on_elements_of(_fractional_max_pool2d, out=2)
fractional_max_pool2d_backward = _on_elements_of(_fractional_max_pool2d_backward, out=2)
max_unpool2d_backward = _on_elements_of(_max_unpool2d_backward, out=2)
lp_pool2d = _on_elements_of(_lp_pool2d, out=1)
lp_inf_pool2d = _on_elements_of(_lp_inf_pool2d, out=1)
max_pool3d = _on_elements_of(_max_pool3d, out=1)
max_pool3d_backward = _on_elements_of(_max_pool3d_backward, out=2)
avg_pool3d = _on_elements_of(_avg_pool3d, out=1)
avg_pool3d_backward = _on_elements_of(_avg_pool3d_backward, out=1)
adaptive_avg_pool3d = _on_elements_of(_adaptive_avg_pool3d, out=1)
adaptive_avg_pool3d_backward = _on_elements_of(_adaptive_avg_pool3d_backward, out=1)
adaptive_max_pool3d = _on_elements_of(_adaptive_max_pool3d, out=1)
adaptive_max_pool3d_backward = _on_elements_of(_adaptive_max_pool3d_backward, out=2)
broadcast_windows = _on_elements_of(_broadcast_windows, out=1)
max_broadcast_pool2d_backward = _on_elements_of(_max_broadcast_pool2d_backward, out=2)
attention_fold = _on_elements_of(_attention_fold, out=2)
attention_query_grad = _on_elements_of(_attention_query_grad, out=2)
attention_key_grad = _on_elements_of(_attention_key_grad, out=3)
attention_key_weight_grad = _on_elements_of(_attention_key_weight_grad, out=2)


def max_unpool2d(x, idx, y):
    """Each plane of x scattered into y at idx; one thread per plane."""
    launch(_max_unpool2d, y.shape[0], x, idx, y)
