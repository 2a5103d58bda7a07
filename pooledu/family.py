"""The rest of PyTorch's pooling family: adaptive, fractional, LP, unpooling, 1D and 3D.

Same contract as ``ops.py``: names, argument order and defaults follow
``torch.nn.functional``; NumPy in, NumPy out; float32 or float64 kept; indices
int64, flat per (n, c) plane; every argument checked before any kernel runs.

How the family shares the 2D machinery:

- 1D pooling *is* 2D pooling with H = 1: a (N, C, L) input runs through the 2D
  kernels as (N*C, 1, L), with kernel (1, k), stride (1, s), padding (0, p).
  The flat index h*W + w is then just w, PyTorch's 1D index.
- Adaptive and fractional windows are rectangles that do not sit on a regular
  grid; their max is the 2D max formula applied to one shifted window.
- LP pooling is PyTorch's recipe, step by step: x ** p (elementwise), the 2D
  average pool, then a root (elementwise).
- 3D pooling (plain and adaptive) has its own volume formulas; the volume max
  combines the 2D max of each depth slice.

Each finds its kernels through ``dispatch.kernel``: on NumPy arrays the active
CPU schedule's where it defines them (1D pooling runs the fast 2D kernels),
else the readable ones of ``cpu.py``. Device arrays (``backend.py``) run
the CUDA kernels of the same names and come back as device arrays, with no
copy to the host; these functions have no channels-last kernels.
"""

import math
import numbers

import numpy as np

from .backend import CPU, backend_for, is_device_array
from .checks import (as_grad_planes, as_planes, check_array, check_divisor, check_indices,
                     check_input, check_input_shape, planes)
from .dispatch import kernel
from .geometry import (ADAPTIVE, FRACTIONAL, Window, adaptive_output_size, as_bool, as_tuple,
                       check_output_size, fractional_output_size, pool_window,
                       unpool_output_size, window_args)

# ---------------------------------------------------------------------------
# shared reshapes, for nd = 1, 2 or 3 spatial dimensions

def _as_2d(a, nd):
    """1D work runs through the 2D kernels: (P, L) -> (P, 1, L). 2D arrays pass."""
    return a.reshape(a.shape[0], 1, a.shape[1]) if nd == 1 else a


def _lift(win):
    """The 2D window that does a 1D window's work (H = 1, kernel 1, stride 1, no padding)."""
    if len(win.kernel) == 2:
        return win
    return Window((1,) + win.kernel, (1,) + win.stride, (0,) + win.padding, (1,) + win.dilation,
                  win.ceil_mode, (1,) + win.in_size, (1,) + win.out_size)


def _avg_args(win):
    """Average pooling kernels take no dilation."""
    return window_args(win)[:3 * len(win.kernel)]


# ---------------------------------------------------------------------------
# max and average pooling in 1D and 3D (2D is in ops.py)

def _max_pool(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    be = backend_for(op, input=x)
    xb = as_planes(x, op, nd, be=be)
    win = pool_window(op, xb.shape[1:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = as_bool(return_indices, "return_indices", op)
    y = be.empty((xb.shape[0],) + win.out_size, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    if nd == 3:
        kernel("max_pool3d", be)(xb, y, idx, *window_args(win))
    else:
        kernel("max_pool2d", be)(_as_2d(xb, nd), _as_2d(y, nd), _as_2d(idx, nd),
                                 *window_args(_lift(win)))
    out_shape = x.shape[:-nd] + win.out_size
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def _max_pool_backward(op, nd, grad_output, indices, input_shape, kernel_size, stride, padding,
                       dilation, ceil_mode):
    shape = check_input_shape(input_shape, op, nd)
    win = pool_window(op, shape[-nd:], kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = shape[:-nd] + win.out_size
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = as_grad_planes(grad_output, out_shape, None, op, spatial=nd, be=be)
    idx = as_grad_planes(indices, out_shape, np.int64, op, "indices", spatial=nd, be=be)
    check_indices(idx.reshape(out_shape), shape[-nd:], op, window=win)
    gx = be.empty((g.shape[0],) + shape[-nd:], g.dtype)
    if nd == 3:
        kernel("max_pool3d_backward", be)(g, idx, gx, *window_args(win))
    else:
        kernel("max_pool2d_backward", be)(_as_2d(g, nd), _as_2d(idx, nd), _as_2d(gx, nd),
                                          *window_args(_lift(win)))
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
    xb = as_planes(x, op, nd, be=be)
    win = _avg_window(op, xb.shape[1:], kernel_size, stride, padding, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = check_divisor(divisor_override, op)
    y = be.empty((xb.shape[0],) + win.out_size, xb.dtype)
    if nd == 3:
        kernel("avg_pool3d", be)(xb, y, *_avg_args(win), count_include_pad, divisor)
    else:
        kernel("avg_pool2d", be)(_as_2d(xb, nd), _as_2d(y, nd), *_avg_args(_lift(win)),
                                 count_include_pad, divisor)
    return y.reshape(x.shape[:-nd] + win.out_size)


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
        kernel("avg_pool2d_backward", be)(_as_2d(g, nd), _as_2d(gx, nd),
                                          *_avg_args(_lift(win)), count_include_pad, divisor)
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


# ---------------------------------------------------------------------------
# adaptive pooling: the output size is given, the windows follow

def _adaptive(op, nd, x, output_size, is_max, return_indices=False):
    be = backend_for(op, input=x)
    xb = as_planes(x, op, nd, be=be)
    out = adaptive_output_size(op, xb.shape[1:], output_size)
    return_indices = as_bool(return_indices, "return_indices", op)
    check_output_size(op, (xb.shape[0],) + out, xb.itemsize + 8 * is_max,  # values, indices
                      f"output_size={output_size!r}")
    y = be.empty((xb.shape[0],) + out, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    if nd == 3:
        if is_max:
            kernel("adaptive_max_pool3d", be)(xb, y, idx)
        else:
            kernel("adaptive_avg_pool3d", be)(xb, y)
    elif is_max:
        kernel("adaptive_max_pool2d", be)(_as_2d(xb, nd), _as_2d(y, nd), _as_2d(idx, nd))
    else:
        kernel("adaptive_avg_pool2d", be)(_as_2d(xb, nd), _as_2d(y, nd))
    out_shape = x.shape[:-nd] + out
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def _adaptive_backward(op, nd, grad_output, indices, input_shape):
    shape = check_input_shape(input_shape, op, nd)
    be = backend_for(op, grad_output=grad_output, **({} if indices is None else
                                                     {"indices": indices}))
    grad_output = check_array(grad_output, "grad_output", op, be)
    if grad_output.ndim != len(shape) or grad_output.shape[:-nd] != shape[:-nd]:
        raise ValueError(f"{op}: grad_output must have shape {shape[:-nd]} + output size, "
                         f"got {grad_output.shape}")
    out_shape = grad_output.shape
    g = as_grad_planes(grad_output, out_shape, None, op, spatial=nd, be=be)
    gx = be.empty((g.shape[0],) + shape[-nd:], g.dtype)
    if indices is None:
        if nd == 3:
            kernel("adaptive_avg_pool3d_backward", be)(g, gx)
        else:
            kernel("adaptive_avg_pool2d_backward", be)(_as_2d(g, nd), _as_2d(gx, nd))
    else:
        idx = as_grad_planes(indices, out_shape, np.int64, op, "indices", spatial=nd, be=be)
        check_indices(idx.reshape(out_shape), shape[-nd:], op, ADAPTIVE)
        if nd == 3:
            kernel("adaptive_max_pool3d_backward", be)(g, idx, gx)
        else:
            kernel("adaptive_max_pool2d_backward", be)(_as_2d(g, nd), _as_2d(idx, nd),
                                                       _as_2d(gx, nd))
    return gx.reshape(shape)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell (i, j) averages rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and
    the columns likewise (integer arithmetic only). When OH does not divide H
    the windows overlap and differ in size; the sum is divided by the
    window's height and then by its width, as PyTorch does, so results match
    PyTorch bit for bit, except for output 1x1, which PyTorch computes as a
    (pairwise) mean: expect a few ulps there.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    output_size : int or (int or None, int or None)
        None keeps that input size; 0 gives an empty output, as in PyTorch.

    Examples
    --------
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> adaptive_avg_pool2d(x, (1, 3))[0, 0]     # windows [0, 2), [1, 4), [3, 5)
    array([0.5, 2. , 3.5])
    """
    return _adaptive("adaptive_avg_pool2d", 2, input, output_size, False)


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d`: each window spreads ``g / kh / kw``
    over its cells, overlapping windows add up (computed as a gather).

    Examples
    --------
    >>> adaptive_avg_pool2d_backward(np.ones((1, 1, 3)), (1, 1, 5))[0, 0]
    array([0.5       , 0.83333333, 0.33333333, 0.83333333, 0.5       ])
    """
    return _adaptive_backward("adaptive_avg_pool2d_backward", 2, grad_output, None, input_shape)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    The windows of :func:`adaptive_avg_pool2d`, with the max rules of
    :func:`max_pool2d` (NaN wins, ties keep the first); indices flat per plane.

    Examples
    --------
    >>> x = np.array([[[3., 1., 4., 1., 5.]]])
    >>> adaptive_max_pool2d(x, (1, 3), return_indices=True)
    (array([[[3., 4., 5.]]]), array([[[0, 2, 4]]]))
    """
    return _adaptive("adaptive_max_pool2d", 2, input, output_size, True, return_indices)


def adaptive_max_pool2d_backward(grad_output, indices, input_shape):
    """Gradient of :func:`adaptive_max_pool2d`: each output gradient goes to its argmax.

    Examples
    --------
    >>> adaptive_max_pool2d_backward(np.ones((1, 1, 3)), np.array([[[0, 2, 4]]]), (1, 1, 5))
    array([[[1., 0., 1., 0., 1.]]])
    """
    backend_for("adaptive_max_pool2d_backward", indices=indices)  # refuses None: no average
    return _adaptive_backward("adaptive_max_pool2d_backward", 2, grad_output, indices,
                              input_shape)


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling over the last dimension (:func:`adaptive_avg_pool2d` with H = 1).

    Examples
    --------
    >>> adaptive_avg_pool1d(np.arange(5.0).reshape(1, 5), 3)
    array([[0.5, 2. , 3.5]])
    """
    return _adaptive("adaptive_avg_pool1d", 1, input, output_size, False)


def adaptive_avg_pool1d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool1d`.

    Examples
    --------
    >>> adaptive_avg_pool1d_backward(np.ones((1, 2)), (1, 4))
    array([[0.5, 0.5, 0.5, 0.5]])
    """
    return _adaptive_backward("adaptive_avg_pool1d_backward", 1, grad_output, None, input_shape)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling over the last dimension (:func:`adaptive_max_pool2d` with H = 1).

    Examples
    --------
    >>> adaptive_max_pool1d(np.array([[3., 1., 4., 1., 5.]]), 3)
    array([[3., 4., 5.]])
    """
    return _adaptive("adaptive_max_pool1d", 1, input, output_size, True, return_indices)


def adaptive_max_pool1d_backward(grad_output, indices, input_shape):
    """Gradient of :func:`adaptive_max_pool1d`.

    Examples
    --------
    >>> adaptive_max_pool1d_backward(np.ones((1, 2)), np.array([[1, 2]]), (1, 4))
    array([[0., 1., 1., 0.]])
    """
    backend_for("adaptive_max_pool1d_backward", indices=indices)  # refuses None: no average
    return _adaptive_backward("adaptive_max_pool1d_backward", 1, grad_output, indices,
                              input_shape)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling over (D, H, W), as ``torch.nn.functional.adaptive_avg_pool3d``:
    the windows of :func:`adaptive_avg_pool2d` along each of the three dimensions.

    Examples
    --------
    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), (1, None, 1))[0, 0]
    array([[2.5],
           [4.5]])
    """
    return _adaptive("adaptive_avg_pool3d", 3, input, output_size, False)


def adaptive_avg_pool3d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool3d`.

    Examples
    --------
    >>> adaptive_avg_pool3d_backward(np.full((1, 1, 1, 1), 8.0), (1, 2, 2, 2)).ravel()
    array([1., 1., 1., 1., 1., 1., 1., 1.])
    """
    return _adaptive_backward("adaptive_avg_pool3d_backward", 3, grad_output, None, input_shape)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling over (D, H, W), as ``torch.nn.functional.adaptive_max_pool3d``;
    indices are flat per volume, ``d*H*W + h*W + w``.

    Examples
    --------
    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1, return_indices=True)
    (array([[[[7.]]]]), array([[[[7]]]]))
    """
    return _adaptive("adaptive_max_pool3d", 3, input, output_size, True, return_indices)


def adaptive_max_pool3d_backward(grad_output, indices, input_shape):
    """Gradient of :func:`adaptive_max_pool3d`.

    Examples
    --------
    >>> adaptive_max_pool3d_backward(np.ones((1, 1, 1, 1)), np.array([[[[7]]]]), (1, 2, 2, 2)).ravel()
    array([0., 0., 0., 0., 0., 0., 0., 1.])
    """
    backend_for("adaptive_max_pool3d_backward", indices=indices)  # refuses None: no average
    return _adaptive_backward("adaptive_max_pool3d_backward", 3, grad_output, indices,
                              input_shape)


# ---------------------------------------------------------------------------
# max unpooling: put each pooled value back where it came from

def _unpool_indices(indices, x, out_size, op, be):
    """Indices as (P, H, W) planes; each must name a cell of the output plane
    (checked on the indices' device)."""
    idx = as_grad_planes(indices, x.shape, np.int64, op, "indices", spatial=2, be=be)
    cells = out_size[0] * out_size[1]
    first = be.first_outside(idx, 0, cells)  # the first, in row-major order
    if first is not None:
        bad = int(idx.reshape(idx.size)[first])
        raise ValueError(f"{op}: index {bad} lies outside the output plane of "
                         f"{out_size[0]}x{out_size[1]} = {cells} cells; indices must lie in "
                         f"[0, {cells})")
    return idx


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool2d`, as ``torch.nn.functional.max_unpool2d``.

    ``y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]``; every other cell is 0.
    The output size is ``(H - 1) * s - 2p + k`` unless ``output_size`` picks
    another size that pools to H (strictly between that minus and plus the
    stride). If two indices of a plane coincide, the later one in row-major
    order wins. That is PyTorch's CPU result on one thread; with several
    threads PyTorch may split a plane between them and then the winner
    depends on the thread count. Indices from ``max_pool2d`` with overlapping
    windows can coincide, but then they carry the same value.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    indices : ndarray of int64, same shape as ``x``
        Flat positions in the output plane, e.g. from ``max_pool2d(..., return_indices=True)``.
    kernel_size, stride, padding : int or (int, int)
        The pooling window, used only to size the output.
    output_size : tuple of int, optional
        (OH, OW), or (N, C, OH, OW) whose first two entries are ignored.

    Raises
    ------
    ValueError
        For an output_size out of range, or an index outside the output plane.

    Examples
    --------
    >>> from pooledu import max_pool2d
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> y, idx = max_pool2d(x, 2, return_indices=True)
    >>> max_unpool2d(y, idx, 2)[0]
    array([[ 0.,  0.,  0.,  0.],
           [ 0.,  5.,  0.,  7.],
           [ 0.,  0.,  0.,  0.],
           [ 0., 13.,  0., 15.]])
    """
    op = "max_unpool2d"
    be = backend_for(op, input=input, indices=indices)
    xb = as_planes(input, op, 2, be=be)
    out = unpool_output_size(op, xb.shape[1:], kernel_size, stride, padding, output_size)
    check_output_size(op, (xb.shape[0],) + out, xb.itemsize,
                      f"kernel_size={kernel_size!r}, stride={stride!r}, padding={padding!r}, "
                      f"output_size={output_size!r}")
    idx = _unpool_indices(indices, input, out, op, be)
    y = be.empty((xb.shape[0],) + out, xb.dtype)
    kernel("max_unpool2d", be)(xb, idx, y)
    return y.reshape(input.shape[:-2] + out)


def max_unpool2d_backward(grad_output, indices):
    """Gradient of :func:`max_unpool2d`: each input cell reads the gradient at its index.

    A gather, so where indices coincide every input cell gets that gradient
    (PyTorch's autograd does the same, even for the values overwritten in
    the forward pass).

    Examples
    --------
    >>> g = np.arange(4.0).reshape(1, 2, 2)
    >>> max_unpool2d_backward(g, np.array([[[3, 0]]]))
    array([[[3., 0.]]])
    """
    op = "max_unpool2d_backward"
    be = backend_for(op, indices=indices, grad_output=grad_output)
    indices = check_array(indices, "indices", op, be)
    grad_output = check_array(grad_output, "grad_output", op, be)
    if grad_output.ndim != indices.ndim or grad_output.shape[:-2] != indices.shape[:-2]:
        raise ValueError(f"{op}: grad_output and indices must agree on the leading (N, C) "
                         f"dimensions, got {grad_output.shape} and {indices.shape}")
    g = as_planes(grad_output, op, 2, "grad_output", be=be)
    idx = _unpool_indices(indices, indices, g.shape[1:], op, be)
    gx = be.empty(idx.shape, g.dtype)
    kernel("max_unpool2d_backward", be)(g, idx, gx)
    return gx.reshape(indices.shape)


# ---------------------------------------------------------------------------
# LP pooling: (sum over the window of x ** p) ** (1 / p)

def _norm_type(norm_type, dtype, op):
    """p as a float; refused where p or 1/p cannot be held in the input's dtype."""
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, (bool, np.bool_)):
        raise TypeError(f"{op}: norm_type must be an int or a float, got {norm_type!r} "
                        f"of type {type(norm_type).__name__}")
    p = float(norm_type)
    if p == 0:
        raise ValueError(f"{op}: norm_type must not be zero (the root 1/p would divide by "
                         f"zero), got norm_type={norm_type!r}")
    tiny = float(np.finfo(dtype).tiny)
    if math.isfinite(p) and not tiny <= abs(p) <= 1 / tiny:
        # p or 1/p would become inf, a subnormal or 0 in this dtype, which
        # PyTorch and pooledu round differently; p = +-inf has its own rule
        raise ValueError(f"{op}: norm_type must lie between {tiny:.3g} and {1 / tiny:.3g} in "
                         f"magnitude for {np.dtype(dtype)} input (or be +-inf), so that p and "
                         f"1/p are normal {np.dtype(dtype)} numbers, got norm_type={norm_type!r}")
    return p


def _lp_args(op, nd, x, norm_type, kernel_size, stride, ceil_mode, be):
    """Check the arguments: the input as (P, H, W) planes (H = 1 in 1D), p, the 2D window."""
    xb = as_planes(x, op, nd, be=be)
    p = _norm_type(norm_type, xb.dtype, op)
    win = _lift(pool_window(op, xb.shape[1:], kernel_size, stride, 0, 1, ceil_mode))
    return _as_2d(xb, nd), p, win


def _lp_pool(op, nd, x, norm_type, kernel_size, stride, ceil_mode):
    be = backend_for(op, input=x)
    x2, p, win = _lp_args(op, nd, x, norm_type, kernel_size, stride, ceil_mode, be)
    kh, kw, sh, sw = win.kernel + win.stride
    y = be.empty((x2.shape[0],) + win.out_size, x2.dtype)
    if math.isinf(p):  # PyTorch's special case: the max (inf) or min (-inf) of |x|
        kernel("lp_inf_pool2d", be)(x2, y, kh, kw, sh, sw, 1 if p > 0 else -1)
    else:
        kernel("lp_pool2d", be)(x2, y, kh, kw, sh, sw, p, 1.0 / p, math.prod(win.kernel))
    return y.reshape(x.shape[:-nd] + win.out_size[-nd:])


def _lp_pool_backward(op, nd, grad_output, x, norm_type, kernel_size, stride, ceil_mode):
    be = backend_for(op, input=x, grad_output=grad_output)
    x2, p, win = _lp_args(op, nd, x, norm_type, kernel_size, stride, ceil_mode, be)
    out_shape = x.shape[:-nd] + win.out_size[-nd:]
    g = _as_2d(as_grad_planes(grad_output, out_shape, x2.dtype, op, spatial=nd, be=be), nd)
    kh, kw, sh, sw = win.kernel + win.stride
    gx = be.empty(x2.shape, x2.dtype)
    if math.isinf(p):
        argmax = be.empty(g.shape, np.int64)  # each window's argmax, recomputed
        kernel("lp_inf_pool2d_backward", be)(g, x2, argmax, gx, kh, kw, sh, sw,
                                             1 if p > 0 else -1)
    else:
        q = 1.0 / p
        g_mean = be.empty(g.shape, g.dtype)  # the root's gradient per window
        kernel("lp_pool2d_backward", be)(g, x2, g_mean, gx, kh, kw, sh, sw, p, p - 1.0, q,
                                         q - 1.0, math.prod(win.kernel))
    return gx.reshape(x.shape)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average (LP) pooling, as ``torch.nn.functional.lp_pool2d``.

    ``y = (sum over the window of x ** p) ** (1 / p)``, computed by PyTorch's
    recipe so the results agree to the last bit or ulp: ``m = avg_pool2d(x ** p)``,
    then ``(kh * kw * m) ** (1 / p)``. p = 1 is sum pooling, p = 2 the
    Euclidean norm of the window, p = inf the max of ``|x|`` and p = -inf the
    min of ``|x|`` (PyTorch's special cases, run as max pooling).

    Things to know, all as in PyTorch:

    - No padding. With ``ceil_mode`` a partial last window is averaged over
      the cells it has and then multiplied by the full ``kh * kw``, so it is
      scaled up as if the missing cells were like the others.
    - Negative inputs: an integer p works on the signed values (p = 1 sums
      them, odd p can give a negative sum, and its fractional root 1/p is
      then NaN); a fractional p gives NaN for any negative input.
    - A window of zeros has gradient 0 (not the inf of the root's derivative).

    Deliberate difference: ``norm_type=0`` raises ValueError (PyTorch raises
    ZeroDivisionError from computing 1/p); a bool norm_type raises TypeError.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    norm_type : int or float, non-zero
    kernel_size, stride : int or (int, int)
    ceil_mode : bool

    Examples
    --------
    >>> x = np.array([[[3., 4.], [0., 0.]]])
    >>> lp_pool2d(x, 2, 2)
    array([[[5.]]])
    >>> lp_pool2d(x, 1, 2), lp_pool2d(x, float("inf"), 2)
    (array([[[7.]]]), array([[[4.]]]))
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Gradient of :func:`lp_pool2d` with respect to ``x`` (which it needs, unlike
    the other backward functions), through the same chain of steps as PyTorch's
    autograd: the root, the average pool (a gather), then the power.

    Examples
    --------
    >>> x = np.array([[[3., 4.], [0., 0.]]])
    >>> lp_pool2d_backward(np.ones((1, 1, 1)), x, 2, 2)   # x / |x|
    array([[[0.6, 0.8],
            [0. , 0. ]]])
    """
    return _lp_pool_backward("lp_pool2d_backward", 2, grad_output, input, norm_type, kernel_size,
                             stride, ceil_mode)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """LP pooling over the last dimension, as ``torch.nn.functional.lp_pool1d``
    (:func:`lp_pool2d` with H = 1).

    Examples
    --------
    >>> lp_pool1d(np.array([[3., 4., 1.]]), 2, 2)
    array([[5.]])
    """
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Gradient of :func:`lp_pool1d`.

    Examples
    --------
    >>> lp_pool1d_backward(np.ones((1, 1)), np.array([[3., 4., 1.]]), 2, 2)
    array([[0.6, 0.8, 0. ]])
    """
    return _lp_pool_backward("lp_pool1d_backward", 1, grad_output, input, norm_type, kernel_size,
                             stride, ceil_mode)


# ---------------------------------------------------------------------------
# fractional max pooling: pseudo-random windows at a fractional stride

def _fractional_samples(random_samples, generator, x, op):
    """This call's (u_w, u_h) per plane, shape (P, 2), in the input dtype."""
    lead = (1,) + x.shape[:1] if x.ndim == 3 else x.shape[:2]  # (N, C); N = 1 for (C, H, W)
    if random_samples is None:
        is_seed = isinstance(generator, (int, np.integer)) and not isinstance(generator, bool)
        if not (generator is None or isinstance(generator, np.random.Generator) or is_seed):
            raise TypeError(f"{op}: generator must be None, a numpy.random.Generator or an int "
                            f"seed, got {generator!r} of type {type(generator).__name__}")
        if is_seed and generator < 0:
            raise ValueError(f"{op}: generator, as a seed, must be non-negative, "
                             f"got generator={generator}")
        return np.random.default_rng(generator).random(lead + (2,), dtype=x.dtype).reshape(-1, 2)
    if generator is not None:
        raise ValueError(f"{op}: give random_samples or generator, not both")
    check_array(random_samples, "random_samples", op)
    if random_samples.dtype != x.dtype:
        raise TypeError(f"{op}: random_samples must have the input's dtype {x.dtype}, "
                        f"got {random_samples.dtype}")
    if random_samples.shape != lead + (2,):
        raise ValueError(f"{op}: random_samples must have shape (N, C, 2) = {lead + (2,)}, "
                         f"got {random_samples.shape}")
    if random_samples.size and not (random_samples.min() >= 0 and random_samples.max() < 1):
        raise ValueError(f"{op}: random_samples must lie in [0, 1), got values from "
                         f"{random_samples.min()} to {random_samples.max()}")
    return np.ascontiguousarray(random_samples).reshape(-1, 2)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, random_samples=None, generator=None):
    """Fractional max pooling (Graham, 2014), as ``torch.nn.functional.fractional_max_pool2d``.

    Max pooling with kernel_size windows whose starts advance by a
    fractional stride ``alpha = (H - kh) / (OH - 1)``: row window i starts at
    ``int((i + u) * alpha) - int(u * alpha)`` (the last at ``H - kh``), with
    ``u`` a random number in [0, 1) drawn per (n, c) plane and per dimension.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
    output_size : int or (int, int), optional
    output_ratio : float or (float, float), optional
        Exactly one of output_size and output_ratio; a ratio in (0, 1) gives
        ``int(H * ratio)``. Each window must fit: ``k + out - 1 <= in``.
    return_indices : bool
    random_samples : ndarray, (N, C, 2), optional
        PyTorch's ``_random_samples``: (u_w, u_h) per plane, in [0, 1), in the
        input's dtype ((1, C, 2) for a (C, H, W) input). With it the result
        equals PyTorch's exactly.
    generator : numpy.random.Generator or int, optional
        Where the samples come from when random_samples is not given: a
        Generator, or a seed for ``numpy.random.default_rng``; None draws
        fresh entropy, so each call picks new windows.

    Notes
    -----
    For a device input the samples live on the host: drawn there, or given
    as a host or device array (a device one is copied to the host, (N, C, 2)
    values), checked there, then copied to the device for the kernel.

    Deliberate differences from PyTorch: giving both output_size and
    output_ratio is an error (PyTorch ignores the ratio); a float
    output_ratio is accepted (PyTorch 2.13 fails on it); an output size of 0
    and samples outside [0, 1) (which would move windows off the input) are
    errors.

    Examples
    --------
    With u = 0.5, alpha = 1.5 and the windows start at 0, 2 and 3:

    >>> x = np.arange(25.0).reshape(1, 5, 5)
    >>> u = np.array([[[0.5, 0.5]]])
    >>> fractional_max_pool2d(x, 2, output_size=3, random_samples=u)[0]
    array([[ 6.,  8.,  9.],
           [16., 18., 19.],
           [21., 23., 24.]])
    """
    op = "fractional_max_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    xb = planes(input)
    if be is not CPU and is_device_array(random_samples):  # (N, C, 2): checked on the host
        random_samples = be.asarray(random_samples).copy_to_host()
    kh_kw = as_tuple(kernel_size, "kernel_size", op)
    out = fractional_output_size(op, xb.shape[1:], kh_kw, output_size, output_ratio)
    return_indices = as_bool(return_indices, "return_indices", op)
    samples = be.from_host(_fractional_samples(random_samples, generator, input, op))
    y = be.empty((xb.shape[0],) + out, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    kernel("fractional_max_pool2d", be)(xb, samples, y, idx, *kh_kw)
    out_shape = input.shape[:-2] + out
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def fractional_max_pool2d_backward(grad_output, indices, input_shape, kernel_size):
    """Gradient of :func:`fractional_max_pool2d`: each output gradient goes to its argmax.

    A gather: each input cell checks the few windows that could hold it
    whatever the random samples were, which the kernel size and the sizes
    determine; the samples themselves are not needed.

    Examples
    --------
    >>> fractional_max_pool2d_backward(np.ones((1, 1, 2)), np.array([[[1, 1]]]), (1, 1, 3), (1, 2))
    array([[[0., 2., 0.]]])
    """
    op = "fractional_max_pool2d_backward"
    shape = check_input_shape(input_shape, op, 2)
    kh_kw = as_tuple(kernel_size, "kernel_size", op)
    be = backend_for(op, indices=indices, grad_output=grad_output)
    indices = check_array(indices, "indices", op, be)
    if indices.ndim != len(shape) or indices.shape[:-2] != shape[:-2]:
        raise ValueError(f"{op}: indices must have shape {shape[:-2]} + output size, "
                         f"got {indices.shape}")
    fractional_output_size(op, shape[-2:], kh_kw, indices.shape[-2:])  # the forward's rules
    idx = as_grad_planes(indices, indices.shape, np.int64, op, "indices", spatial=2, be=be)
    g = as_grad_planes(grad_output, indices.shape, None, op, spatial=2, be=be)
    check_indices(idx.reshape(indices.shape), shape[-2:], op, FRACTIONAL, kh_kw)
    gx = be.empty((g.shape[0],) + shape[-2:], g.dtype)
    kernel("fractional_max_pool2d_backward", be)(g, idx, gx, *kh_kw)
    return gx.reshape(shape)
