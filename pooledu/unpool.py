"""Max unpooling: each pooled value put back where its index says it came from.

Channels-last values (or, for the backward pass, a channels-last gradient)
give a channels-last result, as in PyTorch; their indices are checked in one
parallel pass over their memory (``backend``'s range check), in any layout (a
copy only if they are not channels-last too).
"""

import math

import numpy as np

from .backend import CPU, backend_for
from .checks import (as_grad_planes, check_array, check_grad, check_input, empty_channels_last,
                     nhwc, planes)
from .dispatch import kernel, runs_channels_last
from .geometry import check_output_size, unpool_output_size


def _outside_plane(indices, out_size, op, first):
    """The ValueError for ``indices``, whose entry at flat (row-major) position ``first``
    lies outside the output plane."""
    cells = out_size[0] * out_size[1]
    bad = int(indices[np.unravel_index(first, indices.shape)])
    return ValueError(f"{op}: index {bad} lies outside the output plane of "
                      f"{out_size[0]}x{out_size[1]} = {cells} cells; indices must lie in "
                      f"[0, {cells})")


def _unpool_indices(indices, x, out_size, op, be):
    """Indices as (P, H, W) planes; each must name a cell of the output plane
    (checked on the indices' device)."""
    idx = as_grad_planes(indices, x.shape, np.int64, op, "indices", spatial=2, be=be)
    first = be.first_outside(idx, 0, out_size[0] * out_size[1])  # the first, in row-major order
    if first is not None:
        raise _outside_plane(idx, out_size, op, first)
    return idx


def _unpool_indices_nhwc(indices, shape, out_size, op):
    """Host indices of (N, C, H, W) ``shape`` as (N, H, W, C) memory (a copy only if they
    are not channels-last already), checked in one parallel pass (the first bad one is
    looked for only if there is one)."""
    given = check_grad(check_array(indices, "indices", op), shape, np.int64, op, "indices")
    idx = np.ascontiguousarray(nhwc(given))
    cells = out_size[0] * out_size[1]
    if CPU.first_outside(idx, 0, cells) is not None:  # in memory order: is any outside?
        raise _outside_plane(given, out_size, op, CPU.first_outside(given, 0, cells))
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
    input = check_input(input, op, 2, be=be)
    out = unpool_output_size(op, input.shape[-2:], kernel_size, stride, padding, output_size)
    check_output_size(op, (math.prod(input.shape[:-2]),) + out, input.itemsize,
                      f"kernel_size={kernel_size!r}, stride={stride!r}, padding={padding!r}, "
                      f"output_size={output_size!r}")
    if runs_channels_last(input):
        idx = _unpool_indices_nhwc(indices, input.shape, out, op)
        y = empty_channels_last(input.shape[:-2] + out, input.dtype)
        kernel("max_unpool2d_nhwc")(nhwc(input), idx, nhwc(y))
        return y
    xb = planes(input)
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
    grad_output = check_input(grad_output, op, 2, "grad_output", be)
    if runs_channels_last(grad_output):
        idx = _unpool_indices_nhwc(indices, indices.shape, grad_output.shape[-2:], op)
        gx = empty_channels_last(indices.shape, grad_output.dtype)
        kernel("max_unpool2d_backward_nhwc")(nhwc(grad_output), idx, nhwc(gx))
        return gx
    g = planes(grad_output)
    idx = _unpool_indices(indices, indices, g.shape[1:], op, be)
    gx = be.empty(idx.shape, g.dtype)
    kernel("max_unpool2d_backward", be)(g, idx, gx)
    return gx.reshape(indices.shape)
