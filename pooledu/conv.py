"""Strided 2D convolution with explicit loops, the learned alternative to pooling.

``conv2d`` computes what ``torch.nn.functional.conv2d`` computes (a
cross-correlation with zero padding, no groups): one output plane per
(image, output channel), accumulated tap by tap by ``formulas.conv_plane``.
``conv2d_backward`` returns the three gradients: each input-gradient plane
belongs to one parallel iteration (``formulas.conv_grad_input_plane``) and
each weight tap is one sum (``formulas.conv_grad_weight_tap``), so both are
deterministic.

The window's output size comes from ``geometry.conv_window`` (the pooling
formula without pooling's padding rule).
"""

import math

import numpy as np

from .backend import backend_for
from .checks import check_array
from .dispatch import kernel
from .geometry import (CONV_LIMIT, FLOAT_DTYPES, as_tuple, check_extent, check_output_size,
                       conv_window, window_args)


def _check_float(a, name, op, ndims, dtype=None, be=None):
    a = check_array(a, name, op, be)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{op}: {name} must have the input's dtype {np.dtype(dtype)}, "
                        f"got {a.dtype}")
    if a.ndim not in ndims:
        raise ValueError(f"{op}: {name} must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got shape {a.shape}")
    return a


def _check_operands(op, x, weight, bias, transposed=False, be=None):
    """Check the input, weight and bias arrays; return the output channels, the kernel
    size and the bias (zeros for None). The weight is (C_out, C_in, kh, kw), or
    (C_in, C_out, kh, kw) for a transposed convolution, as in PyTorch. Without a
    backend ``be``, only NumPy arrays pass."""
    x = _check_float(x, "input", op, (3, 4), be=be)
    weight = _check_float(weight, "weight", op, (4,), x.dtype, be)
    O, C, kh, kw = weight.shape
    if transposed:
        C, O = O, C
    if x.shape[x.ndim - 3] != C:
        raise ValueError(f"{op}: input has {x.shape[x.ndim - 3]} channels but weight of shape "
                         f"{weight.shape} expects {C}"
                         + (" (weight is (C_in, C_out, kh, kw))" if transposed else ""))
    if 0 in x.shape[-2:] or 0 in weight.shape:
        raise ValueError(f"{op}: only the batch dimension may be empty, got input shape "
                         f"{x.shape} and weight shape {weight.shape}")
    if bias is None:
        zeros = np.zeros(O, x.dtype)
        return O, (kh, kw), zeros if be is None else be.from_host(zeros)
    bias = _check_float(bias, "bias", op, (1,), x.dtype, be)
    if bias.shape[0] != O:
        raise ValueError(f"{op}: bias must have one entry per output channel ({O}), "
                         f"got shape {bias.shape}")
    return O, (kh, kw), bias


def _prepare(op, x, weight, bias, stride, padding, dilation, be):
    """Check every argument; return x as (N, C, H, W), weight, bias and the window,
    arrays of backend ``be``."""
    _, kernel_hw, bias = _check_operands(op, x, weight, bias, be=be)
    x, weight = be.asarray(x), be.asarray(weight)
    win = conv_window(op, x.shape[-2:], kernel_hw, stride, padding, dilation)
    x4 = be.contiguous(x).reshape((math.prod(x.shape[:-3]),) + x.shape[-3:])  # (N, C, H, W)
    return x4, be.contiguous(weight), be.contiguous(bias), win


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """2D convolution (cross-correlation), as ``torch.nn.functional.conv2d`` with ``groups=1``.

    ``y[n, o, i, j] = b[o] + sum over (c, u, v) of w[o, c, u, v] * x[n, c, s_h*i - p_h + d_h*u, s_w*j - p_w + d_w*v]``,
    with zeros outside the input.

    Parameters
    ----------
    input : ndarray, (C_in, H, W) or (N, C_in, H, W), float32 or float64
    weight : ndarray, (C_out, C_in, kh, kw), same dtype as ``x``
    bias : ndarray, (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
        Zero padding on both sides; any non-negative amount. "same" keeps the
        size (stride 1 only; an odd total pads one more cell on the right).

    Returns
    -------
    y : ndarray, (C_out, OH, OW) or (N, C_out, OH, OW), same dtype as ``x``

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float64).reshape(1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> conv2d(x, w, stride=2)[0]
    array([[10., 18.],
           [42., 50.]])
    """
    op = "conv2d"
    be = backend_for(op, input=input, weight=weight, **({} if bias is None else {"bias": bias}))
    x4, w, b, win = _prepare(op, input, weight, bias, stride, padding, dilation, be)
    check_output_size(op, (x4.shape[0], w.shape[0]) + win.out_size, x4.itemsize,
                      f"padding={padding!r}")
    y = be.empty((x4.shape[0], w.shape[0]) + win.out_size, x4.dtype)
    _, _, sh, sw, ph, pw, dh, dw = window_args(win)
    kernel("conv2d", be)(x4, w, b, y, sh, sw, ph, pw, dh, dw)
    return y.reshape(input.shape[:-3] + y.shape[1:])


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    ``dL/dx[n, c, h, w]`` sums ``g[n, o, i, j] * w[o, c, u, v]`` over the taps
    (u, v) of the outputs (i, j) that read (h, w); ``dL/dw[o, c, u, v]`` sums
    ``g[n, o, i, j] * x[n, c, tap]`` over the batch and the output plane;
    ``dL/db[o]`` sums ``g[n, o]``.

    Parameters
    ----------
    grad_output : ndarray
        Gradient with respect to the output of :func:`conv2d` (same shape).
    input, weight, stride, padding, dilation
        The forward pass's arguments.

    Returns
    -------
    grad_input, grad_weight, grad_bias : ndarray
        Shapes of ``x``, ``weight`` and ``(C_out,)``.

    Examples
    --------
    >>> x = np.ones((1, 1, 3, 3))
    >>> w = np.ones((1, 1, 2, 2))
    >>> gx, gw, gb = conv2d_backward(np.ones((1, 1, 2, 2)), x, w)
    >>> gx[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> gw[0, 0], gb
    (array([[4., 4.],
           [4., 4.]]), array([4.]))
    """
    op = "conv2d_backward"
    be = backend_for(op, input=input, weight=weight, grad_output=grad_output)
    x4, w, _, win = _prepare(op, input, weight, None, stride, padding, dilation, be)
    grad_output = _check_float(grad_output, "grad_output", op, (3, 4), x4.dtype, be)
    out_shape = tuple(input.shape[:-3]) + (w.shape[0],) + win.out_size
    if tuple(grad_output.shape) != out_shape:
        raise ValueError(f"{op}: grad_output must have the forward output's shape {out_shape}, "
                         f"got {grad_output.shape}")
    g = be.contiguous(grad_output).reshape((x4.shape[0], w.shape[0]) + win.out_size)
    gx = be.empty(x4.shape, x4.dtype)
    gw = be.empty(w.shape, x4.dtype)
    gb = be.empty(w.shape[0], x4.dtype)
    _, _, sh, sw, ph, pw, dh, dw = window_args(win)
    kernel("conv2d_backward_input", be)(g, w, gx, sh, sw, ph, pw, dh, dw)
    kernel("conv2d_backward_weight", be)(g, x4, gw, gb, sh, sw, ph, pw, dh, dw)
    return gx.reshape(input.shape), gw, gb


# ---------------------------------------------------------------------------
# transposed convolution: conv2d's input gradient, run forwards

def _prepare_transpose(op, x, weight, bias, stride, padding, output_padding, dilation, be):
    """Check every argument; return x as (N, C_in, H, W), weight, bias (arrays of backend
    ``be``), the output size and the flat window settings (sh, sw, ph, pw, dh, dw)."""
    O, (kh, kw), bias = _check_operands(op, x, weight, bias, transposed=True, be=be)
    s = as_tuple(stride, "stride", op)
    p = as_tuple(padding, "padding", op)
    op_ = as_tuple(output_padding, "output_padding", op)
    d = as_tuple(dilation, "dilation", op)
    for name, value, low in (("stride", s, 1), ("dilation", d, 1), ("padding", p, 0),
                             ("output_padding", op_, 0)):
        for v in value:
            check_extent(v, name, op, limit=CONV_LIMIT)
        if min(value) < low:
            raise ValueError(f"{op}: {name} must be at least {low}, got {name}={value}")
    for a in range(2):
        if op_[a] >= max(s[a], d[a]):
            raise ValueError(f"{op}: output_padding must be smaller than the stride or the "
                             f"dilation (it picks one of the output sizes that a stride-"
                             f"{s[a]} convolution maps to the same input size), got "
                             f"output_padding={output_padding!r} with stride={stride!r}, "
                             f"dilation={dilation!r}")
    H, W = x.shape[-2:]
    out = tuple((n - 1) * s[a] - 2 * p[a] + d[a] * (k - 1) + op_[a] + 1
                for a, (n, k) in enumerate(((H, kh), (W, kw))))
    if min(out) < 1:
        raise ValueError(f"{op}: the output would be {out[0]}x{out[1]}; the padding "
                         f"{padding!r} trims more than the transposed window adds")
    check_output_size(op, (math.prod(x.shape[:-3]), O) + out, x.itemsize,
                      f"stride={stride!r}, dilation={dilation!r}")
    x4 = be.contiguous(be.asarray(x)).reshape((math.prod(x.shape[:-3]),) + x.shape[-3:])
    # x4: (N, C_in, H, W)
    return (x4, be.contiguous(be.asarray(weight)), be.contiguous(be.asarray(bias)), out,
            (s[0], s[1], p[0], p[1], d[0], d[1]))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     dilation=1):
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d`` with ``groups=1``.

    Every input cell scatters its value, times the filter, onto the output:
    ``y[n, o, s_h*i - p_h + d_h*u, s_w*j - p_w + d_w*v] += x[n, c, i, j] * w[c, o, u, v]``,
    plus ``b[o]``. It is the input gradient of :func:`conv2d` with the same
    settings, computed here by that very kernel as a gather (each output cell
    sums the taps that reach it, so no two threads write one cell). The output
    size is ``(H - 1)*s - 2p + d(k - 1) + output_padding + 1``: a stride-s
    convolution maps ``s`` neighbouring input sizes to one output size, and
    ``output_padding`` (smaller than the stride or the dilation) picks which.

    Parameters
    ----------
    input : ndarray, (C_in, H, W) or (N, C_in, H, W), float32 or float64
    weight : ndarray, (C_in, C_out, kh, kw), same dtype as ``x``
    bias : ndarray, (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)

    Returns
    -------
    y : ndarray, (C_out, OH, OW) or (N, C_out, OH, OW), same dtype as ``x``

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=2)[0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    """
    op = "conv_transpose2d"
    be = backend_for(op, input=input, weight=weight, **({} if bias is None else {"bias": bias}))
    x4, w, b, out, flat = _prepare_transpose(op, input, weight, bias, stride, padding,
                                             output_padding, dilation, be)
    y = be.empty((x4.shape[0], w.shape[1]) + out, x4.dtype)
    kernel("conv2d_backward_input", be)(x4, w, y, *flat)  # x plays conv2d's output gradient
    kernel("add_channel_bias", be)(y, b)
    return y.reshape(tuple(input.shape[:-3]) + tuple(y.shape[1:]))


def conv_transpose2d_backward(grad_output, input, weight, stride=1, padding=0,
                              output_padding=0, dilation=1):
    """Gradients of :func:`conv_transpose2d` with respect to its input, weight and bias.

    The transpose of a transpose is the convolution again: ``dL/dx`` is
    :func:`conv2d` of ``grad_output`` with the same weight and settings;
    ``dL/dw[c, o, u, v]`` correlates ``x[n, c]`` with the taps of
    ``grad_output[n, o]`` (conv2d's weight gradient with the roles of input
    and output gradient swapped); ``dL/db[o]`` sums ``grad_output[n, o]``.

    Returns
    -------
    grad_input, grad_weight, grad_bias : ndarray
        Shapes of ``x``, ``weight`` and ``(C_out,)``.

    Examples
    --------
    >>> x, w = np.ones((1, 2, 2)), np.ones((1, 1, 2, 2))
    >>> gx, gw, gb = conv_transpose2d_backward(np.ones((1, 4, 4)), x, w, stride=2)
    >>> gx[0], gw[0, 0], gb
    (array([[4., 4.],
           [4., 4.]]), array([[4., 4.],
           [4., 4.]]), array([16.]))
    """
    op = "conv_transpose2d_backward"
    be = backend_for(op, input=input, weight=weight, grad_output=grad_output)
    x4, w, _, out, flat = _prepare_transpose(op, input, weight, None, stride, padding,
                                             output_padding, dilation, be)
    _check_float(grad_output, "grad_output", op, (3, 4), x4.dtype, be)
    out_shape = tuple(input.shape[:-3]) + (w.shape[1],) + out
    if tuple(grad_output.shape) != out_shape:
        raise ValueError(f"{op}: grad_output must have the forward output's shape {out_shape}, "
                         f"got {tuple(grad_output.shape)}")
    g = be.contiguous(be.asarray(grad_output)).reshape((x4.shape[0], w.shape[1]) + out)
    gx = be.empty(x4.shape, x4.dtype)  # (N, C_in, H, W)
    no_bias = be.from_host(np.zeros(w.shape[0], x4.dtype))  # conv2d's bias: the C_in zeros
    kernel("conv2d", be)(g, w, no_bias, gx, *flat)
    gw, gb = be.empty(w.shape, x4.dtype), be.empty(w.shape[1], x4.dtype)
    unused = be.empty(w.shape[0], x4.dtype)  # conv2d's bias gradient of x: not ours
    kernel("conv2d_backward_weight", be)(x4, g, gw, unused, *flat)
    kernel("conv2d_backward_bias", be)(g, gb)
    return gx.reshape(input.shape), gw, gb
