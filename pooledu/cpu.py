"""CPU schedules: the formulas of ``formulas.py`` run over every output.

Each kernel is ``@njit(parallel=True, cache=True)`` and hands one (n, c)
plane to each parallel iteration (``prange``): planes are independent, and a
plane is one contiguous block of memory. Arrays arrive as (P, H, W) with
P = N*C; the kernels write into outputs the caller allocated, and allocate
nothing themselves. No ``fastmath``: it would let LLVM drop the NaN checks.
"""

from numba import njit, prange

from .formulas import (avg_grad_cell, avg_window, global_max, global_mean,
                       global_mean_grad, max_grad_cell, max_window)


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
