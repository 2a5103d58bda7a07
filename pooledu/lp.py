"""LP (power-average) pooling: ``(sum over the window of x ** p) ** (1 / p)``.

Computed by PyTorch's recipe, fused into one kernel: the power, the average
of the window, then the root; p = +-inf is the max (min) of ``|x|``.
Channels-last input keeps its layout, as in PyTorch (whose recipe is made of
operations that keep it): finite p runs channels-last kernels on the memory as
it lies, p = +-inf the NCHW kernels on a copy.
"""

import math
import numbers

import numpy as np

from .backend import backend_for
from .checks import as_2d, check_grad, check_input, empty_channels_last, nhwc, planes
from .dispatch import kernel, runs_channels_last
from .geometry import lift_1d, pool_window


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
    """Check the arguments: the input, p, the 2D window (H = 1 in 1D)."""
    x = check_input(x, op, nd, be=be)
    p = _norm_type(norm_type, x.dtype, op)
    win = lift_1d(pool_window(op, x.shape[-nd:], kernel_size, stride, 0, 1, ceil_mode))
    return x, p, win


def _lp_pool(op, nd, x, norm_type, kernel_size, stride, ceil_mode):
    be = backend_for(op, input=x)
    x, p, win = _lp_args(op, nd, x, norm_type, kernel_size, stride, ceil_mode, be)
    kh, kw, sh, sw = win.kernel + win.stride
    out_shape = x.shape[:-nd] + win.out_size[-nd:]
    root = (p, 1.0 / p, math.prod(win.kernel))
    if runs_channels_last(x) and not math.isinf(p):
        y = empty_channels_last(out_shape, x.dtype)
        kernel("lp_pool2d_nhwc")(nhwc(x), nhwc(y), kh, kw, sh, sw, *root)
        return y
    x2 = as_2d(planes(x, nd), nd)
    y = be.empty((x2.shape[0],) + win.out_size, x2.dtype)
    if math.isinf(p):  # PyTorch's special case: the max (inf) or min (-inf) of |x|
        kernel("lp_inf_pool2d", be)(x2, y, kh, kw, sh, sw, 1 if p > 0 else -1)
    else:
        kernel("lp_pool2d", be)(x2, y, kh, kw, sh, sw, *root)
    return _layout_of(x, y.reshape(out_shape))


def _lp_pool_backward(op, nd, grad_output, x, norm_type, kernel_size, stride, ceil_mode):
    be = backend_for(op, input=x, grad_output=grad_output)
    x, p, win = _lp_args(op, nd, x, norm_type, kernel_size, stride, ceil_mode, be)
    out_shape = x.shape[:-nd] + win.out_size[-nd:]
    g = check_grad(grad_output, out_shape, x.dtype, op, be=be)
    kh, kw, sh, sw = win.kernel + win.stride
    q = 1.0 / p
    powers = (p, p - 1.0, q, q - 1.0, math.prod(win.kernel))
    if runs_channels_last(x) and not math.isinf(p):
        gx = empty_channels_last(x.shape, x.dtype)
        gm = np.empty(nhwc(g).shape, g.dtype)  # the root's gradient per window, channels-last
        g = np.ascontiguousarray(nhwc(g))  # a copy only if the gradient is not channels-last
        kernel("lp_pool2d_backward_nhwc")(g, nhwc(x), gm, nhwc(gx), kh, kw, sh, sw, *powers)
        return gx
    x2, g = as_2d(planes(x, nd), nd), as_2d(planes(g, nd), nd)
    gx = be.empty(x2.shape, x2.dtype)
    if math.isinf(p):
        argmax = be.empty(g.shape, np.int64)  # each window's argmax, recomputed
        kernel("lp_inf_pool2d_backward", be)(g, x2, argmax, gx, kh, kw, sh, sw,
                                             1 if p > 0 else -1)
    else:
        g_mean = be.empty(g.shape, g.dtype)  # the root's gradient per window
        kernel("lp_pool2d_backward", be)(g, x2, g_mean, gx, kh, kw, sh, sw, *powers)
    return _layout_of(x, gx.reshape(x.shape))


def _layout_of(x, a):
    """``a`` laid out as ``x``: a channels-last copy of the NCHW result where ``x`` runs the
    channels-last kernels (p = +-inf, which has none of its own), else ``a`` itself."""
    if not runs_channels_last(x):
        return a
    out = empty_channels_last(a.shape, a.dtype)
    out[...] = a
    return out


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
