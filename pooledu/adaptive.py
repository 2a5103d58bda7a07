"""Adaptive pooling: the output size is given and the windows follow from it.

Output cell i of an input of size n averages (or takes the max of) cells
``[floor(i*n/out), ceil((i+1)*n/out))``: windows that may overlap and differ
in size (``geometry.adaptive_span``). 1D runs through
the 2D kernels with H = 1; 3D has volume kernels over the same formulas.
2D input in channels-last memory runs channels-last kernels and gets its
outputs (and gradients) in that layout, as from PyTorch; 3D input in
channels_last_3d memory is read where it lies (``fast_ndhwc``) and returns
contiguous NCDHW results, as PyTorch does.
"""

import numpy as np

from .backend import backend_for
from .checks import (as_2d, as_grad_planes, check_array, check_grad, check_indices, check_input,
                     check_input_shape, empty_channels_last, nhwc, planes)
from .dispatch import kernel, runs_channels_last
from .geometry import ADAPTIVE, adaptive_output_size, as_bool, check_output_size


def _adaptive(op, nd, x, output_size, is_max, return_indices=False):
    be = backend_for(op, input=x)
    x = check_input(x, op, nd, be=be)
    out = adaptive_output_size(op, x.shape[-nd:], output_size)
    return_indices = as_bool(return_indices, "return_indices", op)
    check_output_size(op, x.shape[:-nd] + out, x.itemsize + 8 * is_max,  # values, indices
                      f"output_size={output_size!r}")
    if nd == 2 and runs_channels_last(x):
        return _adaptive2d_nhwc(x, out, is_max, return_indices)
    if nd == 3 and runs_channels_last(x, nd):
        return _adaptive3d_channels_last(x, out, is_max, return_indices)
    xb = planes(x, nd)
    y = be.empty((xb.shape[0],) + out, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    if nd == 3:
        if is_max:
            kernel("adaptive_max_pool3d", be)(xb, y, idx)
        else:
            kernel("adaptive_avg_pool3d", be)(xb, y)
    elif is_max:
        kernel("adaptive_max_pool2d", be)(as_2d(xb, nd), as_2d(y, nd), as_2d(idx, nd))
    else:
        kernel("adaptive_avg_pool2d", be)(as_2d(xb, nd), as_2d(y, nd))
    out_shape = x.shape[:-nd] + out
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def _adaptive3d_channels_last(x, out, is_max, return_indices):
    """Volumes in channels_last_3d memory, read where they lie; the results are
    contiguous (N, C, *out), as PyTorch returns them."""
    y = np.empty(x.shape[:2] + out, x.dtype)
    if not is_max:
        kernel("adaptive_avg_pool3d_ndhwc")(nhwc(x), y)
        return y
    idx = np.empty(y.shape, np.int64)
    kernel("adaptive_max_pool3d_ndhwc")(nhwc(x), y, idx)
    return (y, idx) if return_indices else y


def _adaptive_backward(op, nd, grad_output, indices, input_shape):
    shape = check_input_shape(input_shape, op, nd)
    be = backend_for(op, grad_output=grad_output, **({} if indices is None else
                                                     {"indices": indices}))
    grad_output = check_array(grad_output, "grad_output", op, be)
    if grad_output.ndim != len(shape) or grad_output.shape[:-nd] != shape[:-nd]:
        raise ValueError(f"{op}: grad_output must have shape {shape[:-nd]} + output size, "
                         f"got {grad_output.shape}")
    out_shape = grad_output.shape
    if nd == 2 and runs_channels_last(grad_output):
        return _adaptive2d_backward_nhwc(op, grad_output, indices, shape)
    g = as_grad_planes(grad_output, out_shape, None, op, spatial=nd, be=be)
    gx = be.empty((g.shape[0],) + shape[-nd:], g.dtype)
    if indices is None:
        if nd == 3:
            kernel("adaptive_avg_pool3d_backward", be)(g, gx)
        else:
            kernel("adaptive_avg_pool2d_backward", be)(as_2d(g, nd), as_2d(gx, nd))
    else:
        idx = as_grad_planes(indices, out_shape, np.int64, op, "indices", spatial=nd, be=be)
        check_indices(idx.reshape(out_shape), shape[-nd:], op, ADAPTIVE)
        if nd == 3:
            kernel("adaptive_max_pool3d_backward", be)(g, idx, gx)
        else:
            kernel("adaptive_max_pool2d_backward", be)(as_2d(g, nd), as_2d(idx, nd),
                                                       as_2d(gx, nd))
    return gx.reshape(shape)


def _adaptive2d_nhwc(x, out, is_max, return_indices):
    """2D adaptive pooling of a checked channels-last input: the outputs in channels-last
    memory too, as PyTorch gives them."""
    y = empty_channels_last(x.shape[:2] + out, x.dtype)
    if not is_max:
        kernel("adaptive_avg_pool2d_nhwc")(nhwc(x), nhwc(y))
        return y
    idx = empty_channels_last(y.shape, np.int64)
    kernel("adaptive_max_pool2d_nhwc")(nhwc(x), nhwc(y), nhwc(idx))
    return (y, idx) if return_indices else y


def _adaptive2d_backward_nhwc(op, grad_output, indices, shape):
    """The 2D backward pass of a channels-last gradient: the checks, then the gradient in
    channels-last memory too, as PyTorch's backward kernels write it."""
    g = check_grad(grad_output, grad_output.shape, None, op)
    gx = empty_channels_last(shape, g.dtype)
    if indices is None:
        kernel("adaptive_avg_pool2d_backward_nhwc")(nhwc(g), nhwc(gx))
        return gx
    idx = check_grad(indices, g.shape, np.int64, op, "indices")
    check_indices(idx, shape[-2:], op, ADAPTIVE)
    idx = np.ascontiguousarray(nhwc(idx))  # a copy only if the indices are not channels-last too
    kernel("adaptive_max_pool2d_backward_nhwc")(nhwc(g), idx, nhwc(gx))
    return gx


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell (i, j) averages rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and
    the columns likewise (integer arithmetic only). When OH does not divide H
    the windows overlap and differ in size; the sum is divided by the
    window's height and then by its width, as PyTorch does, so results match
    PyTorch bit for bit, except for output 1x1, which PyTorch computes as a
    (pairwise) mean: expect a few ulps there. Channels-last input gives the
    same bits, in channels-last memory; PyTorch's channels-last kernel divides
    by kh*kw at once in its SIMD lanes, up to 1 ulp away.

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
