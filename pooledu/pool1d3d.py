"""1D and 3D max and average pooling: the 2D rules along one or three dimensions.

Names, argument order and defaults follow ``torch.nn.functional``; every
argument is checked (``checks``, ``geometry``) before any kernel runs.

1D pooling *is* 2D pooling with H = 1: a (N, C, L) input runs through the 2D
kernels as (N*C, 1, L), with kernel (1, k), stride (1, s), padding (0, p)
(``geometry.lift_1d``, ``checks.as_2d``). The flat index h*W + w is then just
w, PyTorch's 1D index. 3D pooling has volume kernels over the same formulas
(the max rule, the divisor rule) as 2D. A batched volume in channels_last_3d
memory runs the ``_ndhwc`` kernels (``fast_ndhwc``), which read it where it
lies; as in PyTorch, max pooling keeps that layout (values, indices and the
gradient) and average pooling returns contiguous NCDHW.
"""

import numpy as np

from .backend import backend_for
from .checks import (as_2d, as_grad_planes, check_divisor, check_grad, check_indices, check_input,
                     check_input_shape, empty_channels_last, nhwc, planes)
from .dispatch import kernel, runs_channels_last
from .geometry import as_bool, lift_1d, pool_window, window_args


def _avg_args(win):
    """Average pooling kernels take no dilation."""
    return window_args(win)[:3 * len(win.kernel)]


def _max_pool(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    be = backend_for(op, input=x)
    x = check_input(x, op, nd, be=be)
    win = pool_window(op, x.shape[-nd:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = as_bool(return_indices, "return_indices", op)
    out_shape = x.shape[:-nd] + win.out_size
    if nd == 3 and runs_channels_last(x, nd):
        # channels_last_3d in, channels_last_3d out, as PyTorch does
        y, idx = empty_channels_last(out_shape, x.dtype), empty_channels_last(out_shape, np.int64)
        kernel("max_pool3d_ndhwc")(nhwc(x), nhwc(y), nhwc(idx), *window_args(win))
        return (y, idx) if return_indices else y
    xb = planes(x, nd)
    y = be.empty((xb.shape[0],) + win.out_size, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    if nd == 3:
        kernel("max_pool3d", be)(xb, y, idx, *window_args(win))
    else:
        kernel("max_pool2d", be)(as_2d(xb, nd), as_2d(y, nd), as_2d(idx, nd),
                                 *window_args(lift_1d(win)))
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def _max_pool_backward(op, nd, grad_output, indices, input_shape, kernel_size, stride, padding,
                       dilation, ceil_mode):
    shape = check_input_shape(input_shape, op, nd)
    win = pool_window(op, shape[-nd:], kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = shape[:-nd] + win.out_size
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = check_grad(grad_output, out_shape, None, op, be=be)
    idx = check_grad(indices, out_shape, np.int64, op, "indices", be=be)
    check_indices(idx, shape[-nd:], op, window=win)
    if nd == 3 and runs_channels_last(g, nd):
        # the gradient lies as the output (and its gradient) does
        gx = empty_channels_last(shape, g.dtype)
        idx = np.ascontiguousarray(nhwc(idx))  # a copy only if indices are not channels-last too
        kernel("max_pool3d_backward_ndhwc")(nhwc(g), idx, nhwc(gx), *window_args(win))
        return gx
    g, idx = planes(g, nd), planes(idx, nd)
    gx = be.empty((g.shape[0],) + shape[-nd:], g.dtype)
    if nd == 3:
        kernel("max_pool3d_backward", be)(g, idx, gx, *window_args(win))
    else:
        kernel("max_pool2d_backward", be)(as_2d(g, nd), as_2d(idx, nd), as_2d(gx, nd),
                                          *window_args(lift_1d(win)))
    return gx.reshape(shape)


def _avg_window(op, in_size, kernel_size, stride, padding, ceil_mode):
    """The window of an average pool; in 3D PyTorch also wants the input itself
    (padding not counted) to be at least as large as the kernel."""
    win = pool_window(op, in_size, kernel_size, stride, padding, 1, ceil_mode)
    if len(in_size) == 3 and any(n < k for n, k in zip(in_size, win.kernel)):
        raise ValueError(f"{op}: input of size {tuple(in_size)} is smaller than kernel_size="
                         f"{win.kernel}; PyTorch's avg_pool3d needs each input dimension, "
                         "padding not counted, to hold the kernel")
    return win


def _avg_pool(op, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    be = backend_for(op, input=x)
    x = check_input(x, op, nd, be=be)
    win = _avg_window(op, x.shape[-nd:], kernel_size, stride, padding, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = check_divisor(divisor_override, op)
    out_shape = x.shape[:-nd] + win.out_size
    if nd == 3 and runs_channels_last(x, nd):
        y = be.empty(out_shape, x.dtype)  # contiguous, as PyTorch returns it
        kernel("avg_pool3d_ndhwc")(nhwc(x), y, *_avg_args(win), count_include_pad, divisor)
        return y
    xb = planes(x, nd)
    y = be.empty((xb.shape[0],) + win.out_size, xb.dtype)
    if nd == 3:
        kernel("avg_pool3d", be)(xb, y, *_avg_args(win), count_include_pad, divisor)
    else:
        kernel("avg_pool2d", be)(as_2d(xb, nd), as_2d(y, nd), *_avg_args(lift_1d(win)),
                                 count_include_pad, divisor)
    return y.reshape(out_shape)


def _avg_pool_backward(op, nd, grad_output, input_shape, kernel_size, stride, padding,
                       ceil_mode, count_include_pad, divisor_override):
    shape = check_input_shape(input_shape, op, nd)
    win = _avg_window(op, shape[-nd:], kernel_size, stride, padding, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = check_divisor(divisor_override, op)
    be = backend_for(op, grad_output=grad_output)
    g = as_grad_planes(grad_output, shape[:-nd] + win.out_size, None, op, spatial=nd, be=be)
    gx = be.empty((g.shape[0],) + shape[-nd:], g.dtype)
    if nd == 3:
        kernel("avg_pool3d_backward", be)(g, gx, *_avg_args(win), count_include_pad, divisor)
    else:
        kernel("avg_pool2d_backward", be)(as_2d(g, nd), as_2d(gx, nd),
                                          *_avg_args(lift_1d(win)), count_include_pad, divisor)
    return gx.reshape(shape)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1D max pooling over the last dimension, as ``torch.nn.functional.max_pool1d``.

    ``y[n, c, i] = max over u of x[n, c, s*i - p + d*u]``, padding skipped;
    NaN wins, ties keep the first. Runs as :func:`max_pool2d` with H = 1.

    Parameters
    ----------
    input : ndarray, (C, L) or (N, C, L), float32 or float64
    kernel_size, stride, padding, dilation : int or (int,)
    ceil_mode, return_indices : bool
        As in :func:`max_pool2d`; indices are positions along L.

    Examples
    --------
    >>> max_pool1d(np.array([[1., 3., 2., 5., 4.]]), 2, return_indices=True)
    (array([[3., 5.]]), array([[1, 3]]))
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_backward(grad_output, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False):
    """Gradient of :func:`max_pool1d`: each output gradient goes to its argmax.

    Examples
    --------
    >>> max_pool1d_backward(np.array([[1., 2.]]), np.array([[1, 3]]), (1, 5), 2)
    array([[0., 1., 0., 2., 0.]])
    """
    return _max_pool_backward("max_pool1d_backward", 1, grad_output, indices, input_shape,
                              kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1D average pooling, as ``torch.nn.functional.avg_pool1d`` (no divisor_override).

    Runs as :func:`avg_pool2d` with H = 1, so the divisor rules are the same.

    Examples
    --------
    >>> avg_pool1d(np.array([[1., 3., 2., 6.]]), 2)
    array([[2., 4.]])
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool1d`.

    Examples
    --------
    >>> avg_pool1d_backward(np.array([[2., 4.]]), (1, 4), 2)
    array([[1., 1., 2., 2.]])
    """
    return _avg_pool_backward("avg_pool1d_backward", 1, grad_output, input_shape, kernel_size,
                              stride, padding, ceil_mode, count_include_pad, None)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3D max pooling over the last three dimensions, as ``torch.nn.functional.max_pool3d``.

    ``y[n, c, a, i, j] = max over (t, u, v) of x[n, c, sd*a - pd + dd*t, sh*i - ph + dh*u, sw*j - pw + dw*v]``;
    NaN wins, ties keep the first in (d, h, w) row-major order; indices are
    flat per volume, ``d*H*W + h*W + w``.

    Parameters
    ----------
    input : ndarray, (C, D, H, W) or (N, C, D, H, W), float32 or float64
    kernel_size, stride, padding, dilation : int or (int, int, int)
    ceil_mode, return_indices : bool

    Examples
    --------
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> max_pool3d(x, 2, return_indices=True)
    (array([[[[7.]]]]), array([[[[7]]]]))
    """
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d_backward(grad_output, indices, input_shape, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False):
    """Gradient of :func:`max_pool3d`, a gather as in 2D.

    Examples
    --------
    >>> g = max_pool3d_backward(np.ones((1, 1, 1, 1)), np.array([[[[7]]]]), (1, 2, 2, 2), 2)
    >>> g.ravel()
    array([0., 0., 0., 0., 0., 0., 0., 1.])
    """
    return _max_pool_backward("max_pool3d_backward", 3, grad_output, indices, input_shape,
                              kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3D average pooling, as ``torch.nn.functional.avg_pool3d``, with the 2D divisor rules.

    Examples
    --------
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2)
    array([[[[3.5]]]])
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of :func:`avg_pool3d`.

    Examples
    --------
    >>> avg_pool3d_backward(np.full((1, 1, 1, 1), 8.0), (1, 2, 2, 2), 2).ravel()
    array([1., 1., 1., 1., 1., 1., 1., 1.])
    """
    return _avg_pool_backward("avg_pool3d_backward", 3, grad_output, input_shape, kernel_size,
                              stride, padding, ceil_mode, count_include_pad, divisor_override)
