"""Public 2D max, average and global pooling: check, allocate, dispatch.

Names, argument order and defaults follow ``torch.nn.functional``. Arrays are
NumPy in and NumPy out; inputs are (C, H, W) or (N, C, H, W), float32 or
float64; outputs keep the input's dtype and indices are int64, flat per
(n, c) plane (``h * W + w``), as in PyTorch.

Device arrays (Numba device arrays, CuPy arrays, PyTorch CUDA tensors: any
``__cuda_array_interface__``) run the CUDA kernels instead and return Numba
device arrays, with no copy to the host: each function asks ``backend_for``
(``backend.py``) where its arrays live, allocates with that backend and runs
the kernel that ``dispatch.kernel`` finds for it.

Every argument is checked (``checks``, ``geometry``) before any kernel runs,
and a bad one raises ValueError or TypeError naming the argument, its value
and the rule.
"""

import numpy as np

from .backend import backend_for
from .checks import (as_grad_planes, check_array, check_divisor, check_grad,
                     check_indices, check_input, check_input_shape, empty_channels_last, nhwc,
                     planes)
from .dispatch import kernel, runs_channels_last
from .geometry import as_bool, pool_window, window_args


# ---------------------------------------------------------------------------
# max pooling

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2D max pooling over the last two dimensions, as ``torch.nn.functional.max_pool2d``.

    ``y[n, c, i, j] = max over (u, v) of x[n, c, s_h*i - p_h + d_h*u, s_w*j - p_w + d_w*v]``,
    padding taps skipped. NaN wins over every number; among equal values the
    first in row-major order wins.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit -inf padding on both sides; at most half the kernel size.
    dilation : int or (int, int)
        Spacing between the taps of a window.
    ceil_mode : bool
        Round the output size up, so a partial last window counts.
    return_indices : bool
        Also return the flat index ``h * W + w`` of each maximum in its plane
        (-1 for a window made only of padding).

    Returns
    -------
    y : ndarray, same dtype as ``x``
    indices : ndarray of int64, only if ``return_indices``

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> y, idx = max_pool2d(x, 2, return_indices=True)
    >>> y[0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    >>> idx[0]
    array([[ 5,  7],
           [13, 15]])
    """
    op = "max_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    win = pool_window(op, input.shape[-2:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = as_bool(return_indices, "return_indices", op)
    out_shape = input.shape[:-2] + win.out_size
    if runs_channels_last(input):
        y = empty_channels_last(out_shape, input.dtype)
        idx = empty_channels_last(out_shape, np.int64)
        kernel("max_pool2d_nhwc")(nhwc(input), nhwc(y), nhwc(idx), *window_args(win))
    else:
        y, idx = be.empty(out_shape, input.dtype), be.empty(out_shape, np.int64)
        kernel("max_pool2d", be)(planes(input), planes(y), planes(idx), *window_args(win))
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_output, indices, input_shape, kernel_size, stride=None,
                        padding=0, dilation=1, ceil_mode=False):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each output gradient goes to the input cell that won its window (its
    stored index); where overlapping windows chose the same cell the
    gradients add up, and cells that won nothing get 0. Computed as a gather:
    every input cell looks through the windows that can reach it, so the
    result is the same bit for bit on any number of threads.

    Parameters
    ----------
    grad_output : ndarray
        Gradient with respect to the output of :func:`max_pool2d`.
    indices : ndarray of int64
        The indices that :func:`max_pool2d` returned with ``return_indices=True``.
    input_shape : tuple of int
        Shape of the forward input.
    kernel_size, stride, padding, dilation, ceil_mode
        The forward pass's window; the gather needs it to know which windows
        can reach each input cell.

    Returns
    -------
    grad_input : ndarray of shape ``input_shape``

    Examples
    --------
    >>> x = np.array([[[1., 3.], [2., 0.]]], dtype=np.float32)
    >>> y, idx = max_pool2d(x, 2, return_indices=True)
    >>> max_pool2d_backward(np.ones_like(y), idx, x.shape, 2)[0]
    array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    op = "max_pool2d_backward"
    shape = check_input_shape(input_shape, op)
    win = pool_window(op, shape[-2:], kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = shape[:-2] + win.out_size
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = check_grad(grad_output, out_shape, None, op, be=be)
    idx = check_grad(indices, out_shape, np.int64, op, "indices", be=be)
    check_indices(idx, shape[-2:], op, window=win)
    if runs_channels_last(g):
        gx = empty_channels_last(shape, g.dtype)
        idx = np.ascontiguousarray(nhwc(idx))  # a copy only if indices are not channels-last too
        kernel("max_pool2d_backward_nhwc")(nhwc(g), idx, nhwc(gx), *window_args(win))
    else:
        gx = be.empty(shape, g.dtype)
        kernel("max_pool2d_backward", be)(planes(g), planes(idx), planes(gx), *window_args(win))
    return gx


# ---------------------------------------------------------------------------
# average pooling

def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2D average pooling over the last two dimensions, as ``torch.nn.functional.avg_pool2d``.

    ``y[n, c, i, j] = (1 / divisor) * sum over (u, v) of x[n, c, s_h*i - p_h + u, s_w*j - p_w + v]``,
    the sum over the cells inside the input. The divisor is ``divisor_override``
    if given, else the window's area inside the padded input
    (``count_include_pad=True``) or the number of cells inside the input
    (``False``). With ``ceil_mode`` the part of a window beyond the right
    padding is never counted.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size, stride, padding : int or (int, int)
        As in :func:`max_pool2d`; padding counts as zeros.
    ceil_mode : bool
    count_include_pad : bool
    divisor_override : int, optional
        Any non-zero int.

    Returns
    -------
    y : ndarray, same dtype as ``x``

    Examples
    --------
    >>> x = np.array([[[0.1, 8.5], [0.2, 0.1]]])
    >>> print(avg_pool2d(x, 2)[0, 0, 0])   # 2.225, up to float64 rounding of 0.1 and 0.2
    2.2249999999999996
    """
    op = "avg_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    win = pool_window(op, input.shape[-2:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = check_divisor(divisor_override, op)
    kh, kw, sh, sw, ph, pw, _, _ = window_args(win)
    out_shape = input.shape[:-2] + win.out_size
    if runs_channels_last(input):
        y = empty_channels_last(out_shape, input.dtype)
        kernel("avg_pool2d_nhwc")(nhwc(input), nhwc(y), kh, kw, sh, sw, ph, pw, count_include_pad,
                             divisor)
    else:
        y = be.empty(out_shape, input.dtype)
        kernel("avg_pool2d", be)(planes(input), planes(y), kh, kw, sh, sw, ph, pw,
                                count_include_pad, divisor)
    return y


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Each window spreads ``g / divisor`` over the cells its divisor counted;
    overlapping windows add up. Computed as a gather, deterministic on any
    number of threads.

    Examples
    --------
    >>> avg_pool2d_backward(np.ones((1, 1, 1)), (1, 2, 2), 2)[0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    op = "avg_pool2d_backward"
    shape = check_input_shape(input_shape, op)
    win = pool_window(op, shape[-2:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = check_divisor(divisor_override, op)
    be = backend_for(op, grad_output=grad_output)
    g = check_grad(grad_output, shape[:-2] + win.out_size, None, op, be=be)
    kh, kw, sh, sw, ph, pw, _, _ = window_args(win)
    if runs_channels_last(g):
        gx = empty_channels_last(shape, g.dtype)
        kernel("avg_pool2d_backward_nhwc")(nhwc(g), nhwc(gx), kh, kw, sh, sw, ph, pw,
                                      count_include_pad, divisor)
    else:
        gx = be.empty(shape, g.dtype)
        kernel("avg_pool2d_backward", be)(planes(g), planes(gx), kh, kw, sh, sw, ph, pw,
                                         count_include_pad, divisor)
    return gx


# ---------------------------------------------------------------------------
# global pooling

def _global_shape(shape, keepdims):
    return shape[:-2] + ((1, 1) if keepdims else ())


def _global_grad(grad_output, shape, op, dtype=None, name="grad_output", be=None):
    """Accept the gradient with or without the kept (1, 1) dimensions."""
    grad_output = check_array(grad_output, name, op, be)
    keepdims = tuple(grad_output.shape) == _global_shape(shape, True)
    g = as_grad_planes(grad_output, _global_shape(shape, keepdims), dtype, op, name,
                        spatial=2 if keepdims else 0, be=be)
    return g.reshape(g.shape[0])  # (P,): one value per plane


def global_avg_pool2d(input, keepdims=False):
    """Mean over each (H, W) plane, as ``adaptive_avg_pool2d(x, 1)`` without the kept dims.

    The sum is accumulated in float64, so for float32 input the result can
    differ from PyTorch's (pairwise, float32) mean by a few ulps.

    Examples
    --------
    >>> global_avg_pool2d(np.ones((2, 512, 7, 7), np.float32)).shape
    (2, 512)
    """
    op = "global_avg_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    keepdims = as_bool(keepdims, "keepdims", op)
    if runs_channels_last(input):
        y = np.empty(input.shape[:2], input.dtype)
        kernel("global_avg_pool2d_nhwc")(nhwc(input), y)
    else:
        x3 = planes(input)  # (P, H, W)
        y = be.empty(x3.shape[0], x3.dtype)
        kernel("global_avg_pool2d", be)(x3, y)
    return y.reshape(_global_shape(input.shape, keepdims))


def global_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of :func:`global_avg_pool2d`: ``g / (H*W)`` to every cell of the plane.

    ``grad_output`` may have the kept (1, 1) dimensions or not.

    Examples
    --------
    >>> global_avg_pool2d_backward(np.array([[4.0]]), (1, 1, 2, 2))[0, 0]
    array([[1., 1.],
           [1., 1.]])
    """
    op = "global_avg_pool2d_backward"
    shape = check_input_shape(input_shape, op)
    be = backend_for(op, grad_output=grad_output)
    g = _global_grad(grad_output, shape, op, be=be)
    gx = be.empty((g.shape[0],) + shape[-2:], g.dtype)
    kernel("global_avg_pool2d_backward", be)(g, gx)
    return gx.reshape(shape)


def global_max_pool2d(input, keepdims=False, return_indices=False):
    """Max over each (H, W) plane, as ``adaptive_max_pool2d(x, 1)`` without the kept dims.

    Examples
    --------
    >>> x = np.array([[[1., 5.], [5., 2.]]], dtype=np.float32)
    >>> global_max_pool2d(x, return_indices=True)
    (array([5.], dtype=float32), array([1]))
    """
    op = "global_max_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    keepdims = as_bool(keepdims, "keepdims", op)
    return_indices = as_bool(return_indices, "return_indices", op)
    if runs_channels_last(input):
        y, idx = np.empty(input.shape[:2], input.dtype), np.empty(input.shape[:2], np.int64)
        kernel("global_max_pool2d_nhwc")(nhwc(input), y, idx)
    else:
        x3 = planes(input)  # (P, H, W)
        y, idx = be.empty(x3.shape[0], x3.dtype), be.empty(x3.shape[0], np.int64)
        kernel("global_max_pool2d", be)(x3, y, idx)
    out_shape = _global_shape(input.shape, keepdims)
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def global_max_pool2d_backward(grad_output, indices, input_shape):
    """Gradient of :func:`global_max_pool2d`: each plane's gradient to its argmax.

    Examples
    --------
    >>> global_max_pool2d_backward(np.array([3.0]), np.array([1]), (1, 2, 2))[0]
    array([[0., 3.],
           [0., 0.]])
    """
    op = "global_max_pool2d_backward"
    shape = check_input_shape(input_shape, op)
    H, W = shape[-2:]
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = _global_grad(grad_output, shape, op, be=be)
    idx = _global_grad(indices, shape, op, np.int64, "indices", be)
    if g.shape != idx.shape:
        raise ValueError(f"{op}: grad_output and indices must have the same shape, "
                         f"got {grad_output.shape} and {indices.shape}")
    whole = pool_window(op, (H, W), (H, W))  # one window spanning the plane
    check_indices(idx.reshape(-1, 1, 1), (H, W), op, window=whole)
    gx = be.empty((g.shape[0], H, W), g.dtype)
    kernel("global_max_pool2d_backward", be)(g, idx, gx)
    return gx.reshape(shape)
