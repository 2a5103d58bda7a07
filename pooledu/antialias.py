"""Anti-aliased downsampling: blur before you subsample (Zhang, ICML 2019).

Subsampling a map keeps every s-th value; a pattern finer than the new grid
then shows up as a coarser one that was never there (aliasing), and which
one depends on where the grid falls, which is why a strided pooling's output
jumps under one-pixel shifts. Zhang's remedy splits max pooling into its two
parts and puts a low-pass filter between them: a dense max (stride 1), then
a blur with a binomial filter, then the subsampling, which is the blur
evaluated at stride s (``BlurPool``).

``blur_pool2d`` is that blur-and-subsample step: a depthwise convolution of
each plane with the normalised binomial filter ``[1, 2, 1] x [1, 2, 1] / 16``
(``filter_size=3``; 2 to 5 allowed), zero padding ``(filter_size - 1) // 2``,
computed by :func:`pooledu.conv2d`'s kernel. (The paper's code pads by
reflection; zero padding keeps the operation a plain convolution, which
changes only the border.) ``max_blur_pool2d`` is ``MaxBlurPool``: max pooling
at stride 1, then ``blur_pool2d``. Both take NumPy arrays (or device arrays,
which run the CUDA kernels and come back as device arrays), (C, H, W) or
(N, C, H, W), float32 or float64, check every argument first, and have a
backward pass built from the kernels' own backward passes.
"""

import numpy as np

from .backend import backend_for, backend_of
from .checks import as_planes
from .dispatch import kernel
from .geometry import POOL_LIMIT, as_int, as_tuple, check_extent, pool_window
from .ops import max_pool2d, max_pool2d_backward


def binomial_filter(filter_size=3, dtype=np.float64):
    """The normalised 2D binomial filter: the outer product of a row of Pascal's triangle.

    >>> binomial_filter(3) * 16
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    size = as_int(filter_size, "filter_size", "binomial_filter")
    if not 1 <= size <= 7:
        raise ValueError(f"binomial_filter: filter_size must be between 1 and 7, got {size}")
    row = np.array([1.0])
    for _ in range(size - 1):
        row = np.convolve(row, [1.0, 1.0])
    f = np.outer(row, row)
    return (f / f.sum()).astype(dtype)


def _blur_args(op, x, stride, filter_size, be):
    """Check the arguments; return x as (P, 1, H, W), the filter (1, 1, f, f) on backend
    ``be`` and the window settings (sh, sw, ph, pw, dh, dw) of the strided blur.
    ``x`` is an array ``backend_for`` accepted (or a host probe of the right shape)."""
    x3 = as_planes(x, op, be=backend_of(x))
    s = as_tuple(stride, "stride", op)
    for v in s:
        check_extent(v, "stride", op, limit=POOL_LIMIT)
    if min(s) < 1:
        raise ValueError(f"{op}: stride must be at least 1, got stride={stride!r}")
    f = as_int(filter_size, "filter_size", op)
    if not 2 <= f <= 5:
        raise ValueError(f"{op}: filter_size must be between 2 and 5 (Zhang's filters), "
                         f"got filter_size={filter_size!r}")
    p = (f - 1) // 2
    if min(x3.shape[1:]) + 2 * p < f:
        raise ValueError(f"{op}: the input's planes {x3.shape[1:]} are smaller than the "
                         f"{f}x{f} filter, even padded by {p}")
    return (x3.reshape((x3.shape[0], 1) + x3.shape[1:]),
            be.from_host(binomial_filter(f, x3.dtype)[None, None]), (s[0], s[1], p, p, 1, 1))


def _blur_size(in_size, f, s):
    return tuple((n + 2 * ((f - 1) // 2) - f) // si + 1 for n, si in zip(in_size, s))


def blur_pool2d(input, stride=2, filter_size=3):
    """Blur each plane with a binomial filter and keep every ``stride``-th value (BlurPool).

    ``y[n, c, i, j] = sum over (u, v) of f[u, v] * x[n, c, s*i - p + u, s*j - p + v]``
    with ``f = binomial_filter(filter_size)`` and zeros outside the plane,
    ``p = (filter_size - 1) // 2``.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    stride : int or (int, int)
    filter_size : int, 2 to 5

    Returns
    -------
    y : ndarray, (..., floor((H + 2p - f) / s) + 1, ...), the input's dtype

    Examples
    --------
    >>> x = np.zeros((1, 4, 4)); x[0, 1, 1] = 16.0
    >>> blur_pool2d(x, stride=1)[0]
    array([[1., 2., 1., 0.],
           [2., 4., 2., 0.],
           [1., 2., 1., 0.],
           [0., 0., 0., 0.]])
    >>> blur_pool2d(x)[0]  # every other row and column of that
    array([[1., 1.],
           [1., 1.]])
    """
    op = "blur_pool2d"
    be = backend_for(op, input=input)
    x4, w, flat = _blur_args(op, input, stride, filter_size, be)
    out = _blur_size(x4.shape[2:], w.shape[3], flat[:2])
    y = be.empty((x4.shape[0], 1) + out, x4.dtype)
    kernel("conv2d", be)(x4, w, be.from_host(np.zeros(1, x4.dtype)), y, *flat)
    return y.reshape(input.shape[:-2] + out)


def blur_pool2d_backward(grad_output, input_shape, stride=2, filter_size=3):
    """Gradient of :func:`blur_pool2d`: the transposed blur, a gather per input cell.

    Examples
    --------
    >>> g = np.ones((1, 2, 2))
    >>> blur_pool2d_backward(g, (1, 4, 4))[0] * 16
    array([[4., 4., 4., 2.],
           [4., 4., 4., 2.],
           [4., 4., 4., 2.],
           [2., 2., 2., 1.]])
    """
    op = "blur_pool2d_backward"
    input_shape = tuple(int(n) for n in input_shape)
    be = backend_for(op, grad_output=grad_output)
    probe = np.empty((1, 1) + input_shape[-2:], be.asarray(grad_output).dtype)
    _, w, flat = _blur_args(op, probe, stride, filter_size, be)
    out = _blur_size(input_shape[-2:], w.shape[3], flat[:2])
    g = as_planes(grad_output, op, name="grad_output", be=be)
    if tuple(grad_output.shape) != input_shape[:-2] + out:
        raise ValueError(f"{op}: grad_output must have the forward output's shape "
                         f"{input_shape[:-2] + out}, got {grad_output.shape}")
    gx = be.empty((g.shape[0], 1) + input_shape[-2:], g.dtype)
    kernel("conv2d_backward_input", be)(g.reshape((g.shape[0], 1) + g.shape[1:]), w, gx, *flat)
    return gx.reshape(input_shape)


def max_blur_pool2d(input, kernel_size=2, stride=2, filter_size=3, return_indices=False):
    """Anti-aliased max pooling (MaxBlurPool): max pooling at stride 1, then :func:`blur_pool2d`.

    The dense max keeps what max pooling computes; the blur removes the
    detail finer than the strided grid before it subsamples.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
        The max window (at stride 1).
    stride, filter_size
        Of the blur; see :func:`blur_pool2d`.
    return_indices : bool
        Also return the dense max's indices, which the backward pass needs.

    Examples
    --------
    >>> x = np.zeros((1, 5, 5)); x[0, 2, 2] = 16.0
    >>> max_blur_pool2d(x)[0]
    array([[1., 3.],
           [3., 9.]])
    """
    dense, idx = max_pool2d(input, kernel_size, 1, return_indices=True)
    y = blur_pool2d(dense, stride, filter_size)
    return (y, idx) if return_indices else y


def max_blur_pool2d_backward(grad_output, indices, input_shape, kernel_size=2, stride=2,
                             filter_size=3):
    """Gradient of :func:`max_blur_pool2d`: through the blur, then to each window's winner."""
    input_shape = tuple(int(n) for n in input_shape)
    win = pool_window("max_blur_pool2d_backward", input_shape[-2:], kernel_size, 1)
    dense_shape = input_shape[:-2] + win.out_size
    g_dense = blur_pool2d_backward(grad_output, dense_shape, stride, filter_size)
    return max_pool2d_backward(g_dense, indices, input_shape, kernel_size, 1)


__all__ = ["binomial_filter", "blur_pool2d", "blur_pool2d_backward", "max_blur_pool2d",
           "max_blur_pool2d_backward"]
