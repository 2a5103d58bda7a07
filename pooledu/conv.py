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

import numpy as np

from .checks import check_array
from .dispatch import kernel
from .geometry import FLOAT_DTYPES, check_output_size, conv_window, window_args


def _check_float(a, name, op, ndims, dtype=None):
    check_array(a, name, op)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{op}: {name} must have the input's dtype {np.dtype(dtype)}, "
                        f"got {a.dtype}")
    if a.ndim not in ndims:
        raise ValueError(f"{op}: {name} must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got shape {a.shape}")


def _prepare(op, x, weight, bias, stride, padding, dilation):
    """Check every argument; return x as (N, C, H, W), weight, bias and the window."""
    _check_float(x, "input", op, (3, 4))
    _check_float(weight, "weight", op, (4,), x.dtype)
    O, C, kh, kw = weight.shape
    if x.shape[-3] != C:
        raise ValueError(f"{op}: input has {x.shape[-3]} channels but weight of shape "
                         f"{weight.shape} expects {C}")
    if 0 in x.shape[-2:] or 0 in weight.shape:
        raise ValueError(f"{op}: only the batch dimension may be empty, got input shape "
                         f"{x.shape} and weight shape {weight.shape}")
    if bias is None:
        bias = np.zeros(O, x.dtype)
    else:
        _check_float(bias, "bias", op, (1,), x.dtype)
        if bias.shape[0] != O:
            raise ValueError(f"{op}: bias must have one entry per output channel ({O}), "
                             f"got shape {bias.shape}")
    win = conv_window(op, x.shape[-2:], (kh, kw), stride, padding, dilation)
    x4 = np.ascontiguousarray(x).reshape((-1,) + x.shape[-3:])  # (N, C, H, W)
    return x4, np.ascontiguousarray(weight), np.ascontiguousarray(bias), win


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
    x4, w, b, win = _prepare(op, input, weight, bias, stride, padding, dilation)
    check_output_size(op, (x4.shape[0], w.shape[0]) + win.out_size, x4.itemsize,
                      f"padding={padding!r}")
    y = np.empty((x4.shape[0], w.shape[0]) + win.out_size, x4.dtype)
    _, _, sh, sw, ph, pw, dh, dw = window_args(win)
    kernel("conv2d")(x4, w, b, y, sh, sw, ph, pw, dh, dw)
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
    x4, w, _, win = _prepare(op, input, weight, None, stride, padding, dilation)
    _check_float(grad_output, "grad_output", op, (3, 4), x4.dtype)
    out_shape = input.shape[:-3] + (w.shape[0],) + win.out_size
    if grad_output.shape != out_shape:
        raise ValueError(f"{op}: grad_output must have the forward output's shape {out_shape}, "
                         f"got {grad_output.shape}")
    g = np.ascontiguousarray(grad_output).reshape((x4.shape[0], w.shape[0]) + win.out_size)
    gx = np.empty(x4.shape, x4.dtype)
    gw = np.empty(w.shape, x4.dtype)
    gb = np.empty(w.shape[0], x4.dtype)
    _, _, sh, sw, ph, pw, dh, dw = window_args(win)
    kernel("conv2d_backward_input")(g, w, gx, sh, sw, ph, pw, dh, dw)
    kernel("conv2d_backward_weight")(g, x4, gw, gb, sh, sw, ph, pw, dh, dw)
    return gx.reshape(input.shape), gw, gb
