"""Public pooling functions: validate, allocate, call a kernel.

Names, argument order and defaults follow ``torch.nn.functional``. Arrays are
NumPy in and NumPy out; inputs are (C, H, W) or (N, C, H, W), float32 or
float64; outputs keep the input's dtype and indices are int64, flat per
(n, c) plane (``h * W + w``), as in PyTorch.

Device arrays (Numba device arrays, CuPy arrays, PyTorch CUDA tensors: any
``__cuda_array_interface__``) run the CUDA kernels instead and return Numba
device arrays, with no copy to the host: each function asks ``backend_for``
(``backend.py``) where its arrays live, allocates with that backend and runs
its kernels.

Every argument is checked here, before any kernel runs, and a bad one raises
ValueError or TypeError naming the argument, its value and the rule.
"""

import math
from contextlib import contextmanager

import numpy as np

from . import cpu, fast
from .backend import CPU, backend_for, backend_of
from .geometry import REGULAR, FLOAT_DTYPES, as_bool, as_int, check_output_size, pool_window

# ---------------------------------------------------------------------------
# CPU schedules: the readable reference (one output at a time, as the formula
# reads) and the fast loop order (one tap at a time across a row). Both give
# the same bits; the fast one is the default.

SCHEDULES = {"fast": fast, "reference": cpu}
_active = {"schedule": "fast"}


@contextmanager
def schedule(name):
    """Run the CPU kernels of one schedule inside a ``with`` block.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((1, 8, 8))
    >>> with schedule("reference"):
    ...     slow = max_pool2d(x, 2)
    >>> bool((slow == max_pool2d(x, 2)).all())
    True
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule: name must be one of {sorted(SCHEDULES)}, got {name!r}")
    previous = _active["schedule"]
    _active["schedule"] = name
    try:
        yield
    finally:
        _active["schedule"] = previous


def _kernels(be=CPU):
    """The kernels that run: the active CPU schedule, or a device backend's own."""
    return SCHEDULES[_active["schedule"]] if be is CPU else be


# ---------------------------------------------------------------------------
# shared checks

def _check_array(x, name, op, be=None):
    """``x`` as an array of backend ``be``: a NumPy array, or a device array as a Numba one.

    Without ``be`` only NumPy arrays pass: a function accepts device arrays by
    asking ``backend_for`` first and passing the backend it gets.
    """
    if be is None:
        be = backend_for(op, **{name: x})
        if be is not CPU:
            raise TypeError(f"{op}: {name} must be a NumPy array ({op} has no CUDA version "
                            f"yet), got {type(x).__name__}")
    return be.asarray(x)


def _planes(a, spatial=2):
    """View an array as (P, *spatial dims), P the product of the leading dims (may be 0)."""
    lead, dims = tuple(a.shape[:a.ndim - spatial]), tuple(a.shape[a.ndim - spatial:])
    return backend_of(a).contiguous(a).reshape((int(np.prod(lead)),) + dims)


def _check_input(x, op, name="input", be=None):
    """Check a (C, H, W) or (N, C, H, W) float array."""
    x = _check_array(x, name, op, be)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {x.dtype}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: {name} must be 3D (C, H, W) or 4D (N, C, H, W), "
                         f"got shape {x.shape}")
    if 0 in x.shape[-3:]:
        raise ValueError(f"{op}: {name} may be empty only along the batch dimension N, "
                         f"got shape {x.shape}")
    return x


def _as_planes(x, op, name="input", be=None):
    return _planes(_check_input(x, op, name, be))  # (P, H, W), P = N*C


def _channels_last(a):
    """True for an (N, C, H, W) array whose memory is (N, H, W, C), PyTorch's channels_last.

    Such arrays run the channels-last kernels and give channels-last outputs, so
    nothing is converted. (An array that is both, such as C = 1, counts as NCHW.)
    """
    return (isinstance(a, np.ndarray) and a.ndim == 4 and not a.flags.c_contiguous  # host only
            and a.transpose(0, 2, 3, 1).flags.c_contiguous and _active["schedule"] == "fast")


def _nhwc(a):
    """(N, C, H, W) channels-last array -> its (N, H, W, C) C-contiguous view (no copy)."""
    return a.transpose(0, 2, 3, 1)


def _empty_channels_last(shape, dtype):
    """An uninitialised (N, C, H, W) array with channels-last memory."""
    n, c, h, w = shape
    return np.empty((n, h, w, c), dtype).transpose(0, 3, 1, 2)


def _check_input_shape(input_shape, op):
    try:
        shape = tuple(as_int(s, "input_shape", op) for s in input_shape)
    except TypeError:
        raise TypeError(f"{op}: input_shape must be a tuple of ints, got {input_shape!r}") from None
    if len(shape) not in (3, 4) or min(shape) < 0 or 0 in shape[-3:]:
        raise ValueError(f"{op}: input_shape must be (C, H, W) or (N, C, H, W) with C, H, W "
                         f"positive, got {input_shape!r}")
    check_output_size(op, shape, 4, f"input_shape={input_shape!r}")
    return shape


def _check_grad(grad_output, expected_shape, dtype, op, name="grad_output", be=None):
    """Check a gradient (or indices) array against the shape the forward pass gives."""
    grad_output = _check_array(grad_output, name, op, be)
    if dtype is None:
        if grad_output.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {grad_output.dtype}")
    elif grad_output.dtype != dtype:
        raise TypeError(f"{op}: {name} must have dtype {np.dtype(dtype)}, got {grad_output.dtype}")
    if tuple(grad_output.shape) != tuple(expected_shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected_shape)} "
                         f"(the forward output for this input_shape), got {grad_output.shape}")
    return grad_output


def _as_grad_planes(grad_output, expected_shape, dtype, op, name="grad_output", spatial=2,
                    be=None):
    return _planes(_check_grad(grad_output, expected_shape, dtype, op, name, be), spatial)


def _check_indices(idx, in_size, op, kind=REGULAR, window=None):
    """Indices must be ones a forward pass with these window arguments can return.

    ``idx`` is the indices array as given, (..., *out), over an input of
    spatial size ``in_size``; ``window`` is the forward's kernel, stride,
    padding and dilation (a ``Window``, or the kernel alone for fractional
    windows). Each index must be -1 (a window of padding only) or name a cell
    whose gather visits its window (``formulas.index_seen``); anything else
    would be dropped by the gather, so the first such index is named in a
    ValueError. One parallel pass, on the arrays' own device, in any memory
    layout (no copy).
    """
    if idx.size == 0:
        return
    nd = len(in_size)
    if kind == REGULAR:
        k, s, p, d = window.kernel, window.stride, window.padding, window.dilation
    else:  # adaptive and fractional windows need only a kernel size, if any
        k = window if window is not None else (1,) * nd
        s, p, d = (1,) * nd, (0,) * nd, (1,) * nd

    def three(t, fill):  # 1D and 2D run as volumes of depth (and height) 1
        return (fill,) * (3 - nd) + tuple(t)

    out = tuple(idx.shape[-nd:])
    lead = tuple(idx.shape[:-nd])
    lead = (1,) * (2 - len(lead)) + lead  # (N, C), N = 1 when it is missing
    volumes = lead + three(out, 1)  # (N, C, OD, OH, OW): unit axes added, a view
    bad = backend_of(idx).stray_index(idx, volumes, *three(in_size, 1), kind, *three(k, 1),
                                      *three(s, 1), *three(p, 0), *three(d, 1))
    if bad is None:
        return
    where = tuple(map(int, np.unravel_index(bad, idx.shape)))
    value = int(idx[where])
    cells = math.prod(in_size)
    if 0 <= value < cells:
        cell = tuple(map(int, np.unravel_index(value, in_size)))
        problem = f"names input cell {cell}, which the window of output {where[-nd:]} does not reach"
    else:
        problem = f"lies outside [-1, {cells}), the {cells} cells of an input plane"
    raise ValueError(f"{op}: indices{list(where)} = {value} {problem}; indices must be those "
                     "the forward pass returned, with the same window arguments")


def _divisor(divisor_override, op):
    """divisor_override=None is passed to the kernels as 0, a value PyTorch refuses."""
    if divisor_override is None:
        return 0
    d = as_int(divisor_override, "divisor_override", op)
    if d == 0:
        raise ValueError(f"{op}: divisor_override must not be zero, got divisor_override=0")
    if not -2**63 <= d < 2**63:
        raise ValueError(f"{op}: divisor_override must fit in a 64-bit integer, as in PyTorch, "
                         f"got divisor_override={d}")
    return d


def _flat(window):
    """(kh, kw, sh, sw, ph, pw, dh, dw): the order the kernels take."""
    k, s, p, d = window.kernel, window.stride, window.padding, window.dilation
    return k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]


# ---------------------------------------------------------------------------
# max pooling

def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2D max pooling over the last two dimensions, as ``torch.nn.functional.max_pool2d``.

    ``y[n, c, i, j] = max over (u, v) of x[n, c, s_h*i - p_h + d_h*u, s_w*j - p_w + d_w*v]``,
    padding taps skipped. NaN wins over every number; among equal values the
    first in row-major order wins.

    Parameters
    ----------
    x : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
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
    be = backend_for(op, input=x)
    x = _check_input(x, op, be=be)
    win = pool_window(op, x.shape[-2:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = as_bool(return_indices, "return_indices", op)
    out_shape = x.shape[:-2] + win.out_size
    if _channels_last(x):
        y = _empty_channels_last(out_shape, x.dtype)
        idx = _empty_channels_last(out_shape, np.int64)
        fast.max_pool2d_nhwc(_nhwc(x), _nhwc(y), _nhwc(idx), *_flat(win))
    else:
        y, idx = be.empty(out_shape, x.dtype), be.empty(out_shape, np.int64)
        _kernels(be).max_pool2d(_planes(x), _planes(y), _planes(idx), *_flat(win))
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
    shape = _check_input_shape(input_shape, op)
    win = pool_window(op, shape[-2:], kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = shape[:-2] + win.out_size
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = _check_grad(grad_output, out_shape, None, op, be=be)
    idx = _check_grad(indices, out_shape, np.int64, op, "indices", be=be)
    _check_indices(idx, shape[-2:], op, window=win)
    if _channels_last(g):
        gx = _empty_channels_last(shape, g.dtype)
        idx = np.ascontiguousarray(_nhwc(idx))  # a copy only if indices are not channels-last too
        fast.max_pool2d_backward_nhwc(_nhwc(g), idx, _nhwc(gx), *_flat(win))
    else:
        gx = be.empty(shape, g.dtype)
        _kernels(be).max_pool2d_backward(_planes(g), _planes(idx), _planes(gx), *_flat(win))
    return gx


# ---------------------------------------------------------------------------
# average pooling

def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
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
    x : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
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
    be = backend_for(op, input=x)
    x = _check_input(x, op, be=be)
    win = pool_window(op, x.shape[-2:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = _divisor(divisor_override, op)
    kh, kw, sh, sw, ph, pw, _, _ = _flat(win)
    out_shape = x.shape[:-2] + win.out_size
    if _channels_last(x):
        y = _empty_channels_last(out_shape, x.dtype)
        fast.avg_pool2d_nhwc(_nhwc(x), _nhwc(y), kh, kw, sh, sw, ph, pw, count_include_pad, divisor)
    else:
        y = be.empty(out_shape, x.dtype)
        _kernels(be).avg_pool2d(_planes(x), _planes(y), kh, kw, sh, sw, ph, pw,
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
    shape = _check_input_shape(input_shape, op)
    win = pool_window(op, shape[-2:], kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = as_bool(count_include_pad, "count_include_pad", op)
    divisor = _divisor(divisor_override, op)
    be = backend_for(op, grad_output=grad_output)
    g = _check_grad(grad_output, shape[:-2] + win.out_size, None, op, be=be)
    kh, kw, sh, sw, ph, pw, _, _ = _flat(win)
    if _channels_last(g):
        gx = _empty_channels_last(shape, g.dtype)
        fast.avg_pool2d_backward_nhwc(_nhwc(g), _nhwc(gx), kh, kw, sh, sw, ph, pw,
                                      count_include_pad, divisor)
    else:
        gx = be.empty(shape, g.dtype)
        _kernels(be).avg_pool2d_backward(_planes(g), _planes(gx), kh, kw, sh, sw, ph, pw,
                                         count_include_pad, divisor)
    return gx


# ---------------------------------------------------------------------------
# global pooling

def _global_shape(shape, keepdims):
    return shape[:-2] + ((1, 1) if keepdims else ())


def _global_grad(grad_output, shape, op, dtype=None, name="grad_output", be=None):
    """Accept the gradient with or without the kept (1, 1) dimensions."""
    grad_output = _check_array(grad_output, name, op, be)
    keepdims = tuple(grad_output.shape) == _global_shape(shape, True)
    g = _as_grad_planes(grad_output, _global_shape(shape, keepdims), dtype, op, name,
                        spatial=2 if keepdims else 0, be=be)
    return g.reshape(g.shape[0])  # (P,): one value per plane


def global_avg_pool2d(x, keepdims=False):
    """Mean over each (H, W) plane, as ``adaptive_avg_pool2d(x, 1)`` without the kept dims.

    The sum is accumulated in float64, so for float32 input the result can
    differ from PyTorch's (pairwise, float32) mean by a few ulps.

    Examples
    --------
    >>> global_avg_pool2d(np.ones((2, 512, 7, 7), np.float32)).shape
    (2, 512)
    """
    op = "global_avg_pool2d"
    be = backend_for(op, input=x)
    x = _check_input(x, op, be=be)
    keepdims = as_bool(keepdims, "keepdims", op)
    if _channels_last(x):
        y = np.empty(x.shape[:2], x.dtype)
        fast.global_avg_pool2d_nhwc(_nhwc(x), y)
    else:
        x3 = _planes(x)  # (P, H, W)
        y = be.empty(x3.shape[0], x3.dtype)
        _kernels(be).global_avg_pool2d(x3, y)
    return y.reshape(_global_shape(x.shape, keepdims))


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
    shape = _check_input_shape(input_shape, op)
    be = backend_for(op, grad_output=grad_output)
    g = _global_grad(grad_output, shape, op, be=be)
    gx = be.empty((g.shape[0],) + shape[-2:], g.dtype)
    _kernels(be).global_avg_pool2d_backward(g, gx)
    return gx.reshape(shape)


def global_max_pool2d(x, keepdims=False, return_indices=False):
    """Max over each (H, W) plane, as ``adaptive_max_pool2d(x, 1)`` without the kept dims.

    Examples
    --------
    >>> x = np.array([[[1., 5.], [5., 2.]]], dtype=np.float32)
    >>> global_max_pool2d(x, return_indices=True)
    (array([5.], dtype=float32), array([1]))
    """
    op = "global_max_pool2d"
    be = backend_for(op, input=x)
    x3 = _as_planes(x, op, be=be)
    keepdims = as_bool(keepdims, "keepdims", op)
    return_indices = as_bool(return_indices, "return_indices", op)
    y = be.empty(x3.shape[0], x3.dtype)
    idx = be.empty(x3.shape[0], np.int64)
    be.global_max_pool2d(x3, y, idx)
    out_shape = _global_shape(x.shape, keepdims)
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
    shape = _check_input_shape(input_shape, op)
    H, W = shape[-2:]
    be = backend_for(op, grad_output=grad_output, indices=indices)
    g = _global_grad(grad_output, shape, op, be=be)
    idx = _global_grad(indices, shape, op, np.int64, "indices", be)
    if g.shape != idx.shape:
        raise ValueError(f"{op}: grad_output and indices must have the same shape, "
                         f"got {grad_output.shape} and {indices.shape}")
    whole = pool_window(op, (H, W), (H, W))  # one window spanning the plane
    _check_indices(idx.reshape(-1, 1, 1), (H, W), op, window=whole)
    gx = be.empty((g.shape[0], H, W), g.dtype)
    # the max pooling gather, with one window spanning the whole plane
    be.max_pool2d_backward(g.reshape(-1, 1, 1), idx.reshape(-1, 1, 1), gx,
                            H, W, 1, 1, 0, 0, 1, 1)
    return gx.reshape(shape)
