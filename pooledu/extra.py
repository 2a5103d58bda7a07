"""Two pooling operations PyTorch does not have, built from the same formulas.

``max_broadcast_pool2d`` replaces every cell of each k x k window by the
window's max, so the map keeps its size: it isolates what max pooling *does to
the values* from what it does to the *resolution* (the experiment of the
"can pooling increase accuracy?" question). ``attention_pool2d`` is a learned
readout: a softmax over positions, scored by a query, averages each channel.

Both follow ``ops.py``: NumPy in and out (device arrays in, device arrays
out, on the CUDA kernels), (C, H, W) or (N, C, H, W) input, float32 or
float64 kept, every argument checked before a kernel runs, and backward
passes written as gathers. Max-broadcast pooling keeps a channels-last
input's layout (its result, indices and gradient), as PyTorch's pooling does.
"""

import math

import numpy as np

from .backend import backend_for, backend_of
from .checks import (as_grad_planes, as_planes, check_array, check_grad, check_indices,
                     check_input, empty_channels_last, nhwc, planes)
from .dispatch import kernel, runs_channels_last
from .geometry import as_bool, pool_window, window_args


# ---------------------------------------------------------------------------
# max-broadcast pooling

def _broadcast_window(op, in_size, kernel_size):
    """Non-overlapping windows (stride = kernel, no padding) with ``ceil_mode``, so the
    partial windows at a ragged border count as windows of their own."""
    return pool_window(op, in_size, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode=True)


def max_broadcast_pool2d(input, kernel_size, return_indices=False):
    """Replace every cell of each k x k window by the window's max; the map keeps its size.

    ``y[n, c, h, w] = max over the window (h // k_h, w // k_w)``, i.e.
    ``max_pool2d(x, k, ceil_mode=True)`` followed by nearest upsampling by k.
    When k does not divide the size, the last window along that axis is the
    partial one left at the border (as ``ceil_mode`` counts it), so every cell
    is covered. NaN and ties behave as in :func:`pooledu.max_pool2d`.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
        The window, also its stride.
    return_indices : bool
        Also return, for each window, the flat index ``h * W + w`` of its max
        (shape of the max pooled map), which the backward pass needs.

    Returns
    -------
    y : ndarray, shape and dtype of ``x``
    indices : ndarray of int64, only if ``return_indices``

    Examples
    --------
    >>> x = np.array([[[1., 2., 0.], [4., 3., 5.]]])
    >>> max_broadcast_pool2d(x, 2)[0]
    array([[4., 4., 5.],
           [4., 4., 5.]])
    """
    op = "max_broadcast_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    win = _broadcast_window(op, input.shape[-2:], kernel_size)
    return_indices = as_bool(return_indices, "return_indices", op)
    if runs_channels_last(input):
        idx = empty_channels_last(input.shape[:-2] + win.out_size, np.int64)
        y = empty_channels_last(input.shape, input.dtype)
        kernel("max_broadcast_pool2d_nhwc")(nhwc(input), nhwc(y), nhwc(idx), *win.kernel)
        return (y, idx) if return_indices else y
    x3 = planes(input)
    m = be.empty((x3.shape[0],) + win.out_size, x3.dtype)
    idx = be.empty(m.shape, np.int64)
    kernel("max_pool2d", be)(x3, m, idx, *window_args(win))
    y = be.empty(x3.shape, x3.dtype)
    kernel("broadcast_windows", be)(m, y, *win.kernel)
    y = y.reshape(input.shape)
    return (y, idx.reshape(input.shape[:-2] + win.out_size)) if return_indices else y


def max_broadcast_pool2d_backward(grad_output, indices, kernel_size):
    """Gradient of :func:`max_broadcast_pool2d` with respect to its input.

    All cells of a window carry the same value, the max; so their gradients,
    summed, go to the cell the max came from, and every other cell gets 0.
    A gather: each input cell checks whether it is its window's argmax.

    Parameters
    ----------
    grad_output : ndarray, the input's shape
    indices : ndarray of int64
        From ``max_broadcast_pool2d(..., return_indices=True)``.
    kernel_size : int or (int, int)

    Examples
    --------
    >>> x = np.array([[[1., 2.], [4., 3.]]])
    >>> y, idx = max_broadcast_pool2d(x, 2, return_indices=True)
    >>> max_broadcast_pool2d_backward(np.ones_like(y), idx, 2)[0]
    array([[0., 0.],
           [4., 0.]])
    """
    op = "max_broadcast_pool2d_backward"
    be = backend_for(op, grad_output=grad_output, indices=indices)
    grad_output = check_input(grad_output, op, name="grad_output", be=be)
    win = _broadcast_window(op, grad_output.shape[-2:], kernel_size)
    out_shape = tuple(grad_output.shape[:-2]) + win.out_size
    if runs_channels_last(grad_output):
        given = check_grad(indices, out_shape, np.int64, op, "indices", be=be)
        idx = np.ascontiguousarray(nhwc(given))  # a copy only if not channels-last already
        if kernel("broadcast_indices_outside_nhwc")(idx, *win.in_size, *win.kernel):
            check_indices(given, win.in_size, op, window=win)  # names the first bad index
        gx = empty_channels_last(grad_output.shape, grad_output.dtype)
        kernel("max_broadcast_pool2d_backward_nhwc")(nhwc(grad_output), idx, nhwc(gx),
                                                     *win.kernel)
        return gx
    g = planes(grad_output)
    idx = as_grad_planes(indices, out_shape, np.int64, op, "indices", be=be)
    check_indices(idx.reshape(out_shape), g.shape[1:], op, window=win)
    gx = be.empty(g.shape, g.dtype)
    kernel("max_broadcast_pool2d_backward", be)(g, idx, gx, *win.kernel)
    return gx.reshape(grad_output.shape)


# ---------------------------------------------------------------------------
# attention pooling

def _attention_args(op, x, query, key_weight):
    """Check the arguments; return x as (N, C, P), u = W_k^T q, the scale 1/sqrt(D)."""
    be = backend_for(op, input=x, query=query, **({} if key_weight is None else
                                                  {"key_weight": key_weight}))
    x3 = as_planes(x, op, be=be)  # (N*C, H, W), also checks dtype and rank
    C = tuple(x.shape)[-3]  # (a simulated device array's shape refuses negative indices)
    x3 = x3.reshape(x3.shape[0] // C, C, x3.shape[1] * x3.shape[2])  # (N, C, P), P = H*W
    query = check_array(query, "query", op, be)
    if query.dtype != x3.dtype or query.ndim != 1 or query.shape[0] == 0:
        raise TypeError(f"{op}: query must be a non-empty 1D array of the input's dtype "
                        f"{x3.dtype}, got shape {query.shape} and dtype {query.dtype}")
    D = query.shape[0]
    if key_weight is None:
        if D != C:
            raise ValueError(f"{op}: without key_weight the query must have one entry per "
                             f"channel ({C}), got shape {query.shape}")
        u = query
    else:
        key_weight = check_array(key_weight, "key_weight", op, be)
        if key_weight.dtype != x3.dtype:
            raise TypeError(f"{op}: key_weight must have the input's dtype {x3.dtype}, "
                            f"got {key_weight.dtype}")
        if key_weight.shape != (D, C):
            raise ValueError(f"{op}: key_weight must have shape (D, C) = ({D}, {C}) for a "
                             f"query of length {D} and {C} channels, got {key_weight.shape}")
        u = be.empty(C, x3.dtype)  # q . (W_k x) = (W_k^T q) . x
        kernel("attention_fold", be)(key_weight, query, u)
    return x3, be.contiguous(u), x3.dtype.type(1.0 / math.sqrt(D))


def attention_pool2d(input, query, key_weight=None, return_weights=False):
    """Attention readout: a softmax over the H*W positions, then a weighted mean per channel.

    ``s[n, p] = q . (W_k x[n, :, p]) / sqrt(D)`` (``q . x[n, :, p] / sqrt(C)``
    without ``key_weight``), ``a[n] = softmax_p(s[n])`` computed with the
    largest score subtracted first, and ``y[n, c] = sum_p a[n, p] x[n, c, p]``.
    With a zero query every position gets weight 1/(H*W): global average pooling.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    query : ndarray, (D,), same dtype
    key_weight : ndarray, (D, C), optional
        The key projection W_k; without it the keys are the features themselves (D = C).
    return_weights : bool
        Also return the attention weights ``a`` as (N, H, W) (or (H, W)).

    Returns
    -------
    y : ndarray, (N, C) or (C,)
    weights : ndarray, only if ``return_weights``

    Examples
    --------
    >>> x = np.array([[[0., 2.], [4., 6.]]])
    >>> attention_pool2d(x, np.zeros(1))
    array([3.])
    """
    op = "attention_pool2d"
    return_weights = as_bool(return_weights, "return_weights", op)
    x3, u, scale = _attention_args(op, input, query, key_weight)
    be = backend_of(x3)
    a = be.empty((x3.shape[0], x3.shape[2]), x3.dtype)
    y = be.empty(x3.shape[:2], x3.dtype)
    kernel("attention_pool2d", be)(x3, u, scale, a, y)
    y = y.reshape(input.shape[:-2])
    return (y, a.reshape(input.shape[:-3] + input.shape[-2:])) if return_weights else y


def attention_pool2d_backward(grad_output, input, query, key_weight=None):
    """Gradients of :func:`attention_pool2d` for ``x``, ``query`` and ``key_weight``.

    With ``ds[n, p] = a[n, p] * (g[n] . x[n, :, p] - g[n] . y[n])`` (softmax backward):
    ``dL/dx[n, c, p] = g[n, c] a[n, p] + ds[n, p] u[c] / sqrt(D)`` with ``u = W_k^T q``;
    ``du = sum_{n, p} ds[n, p] x[n, :, p] / sqrt(D)``; then ``dL/dq = W_k du`` and
    ``dL/dW_k = q du^T`` (``dL/dq = du`` without ``key_weight``).

    Returns
    -------
    grad_input, grad_query, grad_key_weight
        ``grad_key_weight`` is None when ``key_weight`` is None.

    Examples
    --------
    >>> x = np.array([[[0., 2.], [4., 6.]]])
    >>> gx, gq, _ = attention_pool2d_backward(np.ones(1), x, np.zeros(1))
    >>> gx[0], gq
    (array([[0.25, 0.25],
           [0.25, 0.25]]), array([5.]))
    """
    op = "attention_pool2d_backward"
    x3, u, scale = _attention_args(op, input, query, key_weight)
    N, C, P = x3.shape
    be = backend_for(op, input=input, grad_output=grad_output)
    grad_output = check_array(grad_output, "grad_output", op, be)
    if grad_output.dtype != x3.dtype or tuple(grad_output.shape) != tuple(input.shape[:-2]):
        raise ValueError(f"{op}: grad_output must have the forward output's shape "
                         f"{input.shape[:-2]} and dtype {x3.dtype}, got {grad_output.shape} "
                         f"and {grad_output.dtype}")
    g = be.contiguous(grad_output).reshape(N, C)
    a = be.empty((N, P), x3.dtype)
    y = be.empty((N, C), x3.dtype)
    kernel("attention_pool2d", be)(x3, u, scale, a, y)  # recompute: cheaper to keep than to store
    ds = be.empty((N, P), x3.dtype)
    gx = be.empty(x3.shape, x3.dtype)
    gu = be.empty(C, x3.dtype)
    kernel("attention_pool2d_backward", be)(g, x3, u, scale, a, y, ds, gx)
    kernel("attention_key_grad", be)(x3, ds, scale, gu)
    gx = gx.reshape(input.shape)
    if key_weight is None:
        return gx, gu, None
    query, key_weight = be.asarray(query), be.asarray(key_weight)
    gq = be.empty(query.shape[0], x3.dtype)
    kernel("attention_query_grad", be)(key_weight, gu, gq)
    gw = be.empty(key_weight.shape, x3.dtype)
    kernel("attention_key_weight_grad", be)(query, gu, gw)  # the outer product of q and gu
    return gx, gq, gw
