"""Window geometry: argument normalisation, PyTorch's validity rules, output sizes.

Everything that decides *where* a pooling window lies lives here, apart from
the kernels that decide *what* to compute inside it. The kernels, the figures,
the lessons and ``pooledu explain`` all ask this module, so an output size is
computed in exactly one place (:func:`pool_output_size`).

The rules are PyTorch's (``aten/src/ATen/native/Pool.h``): a window at output
position ``o`` starts at ``o*s - p`` and has ``k`` taps ``d`` apart; padding is
never materialised, taps outside ``[0, n)`` are simply skipped.
"""

import operator
from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

FLOAT_DTYPES = (np.float32, np.float64)


# ---------------------------------------------------------------------------
# scalar geometry, shared by every kernel (CPU and CUDA)

@register_jitable
def ceil_div(a, b):
    """Integer ceil(a / b) for b > 0, exact for negative a too."""
    return -((-a) // b)


@register_jitable
def windows_touching(i, k, s, p, d, out_size):
    """Output positions ``[lo, hi)`` whose window can reach input position ``i``.

    Window ``o`` spans ``o*s - p`` to ``o*s - p + d*(k - 1)``; it can hold ``i``
    when ``o*s - p <= i <= o*s - p + d*(k - 1)``. Backward gathers loop over
    exactly these windows instead of all of them.
    """
    lo = ceil_div(i + p - d * (k - 1), s)
    hi = (i + p) // s + 1
    return max(lo, 0), min(hi, out_size)


@register_jitable
def adaptive_span(o, in_size, out_size):
    """Adaptive window ``[floor(o*In/Out), ceil((o+1)*In/Out))``, integers only."""
    start = (o * in_size) // out_size
    end = ((o + 1) * in_size + out_size - 1) // out_size
    return start, end


# ---------------------------------------------------------------------------
# argument normalisation

def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_int(value, name, op):
    """``value`` as a Python int, or a TypeError naming the argument."""
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r} "
                        f"of type {type(value).__name__}")
    return operator.index(value)


def as_bool(value, name, op):
    """``value`` as a Python bool (PyTorch refuses ints and strings here)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {value!r} "
                        f"of type {type(value).__name__}")
    return bool(value)


def as_tuple(value, name, op, ndim=2):
    """Normalise an int or a 1- or ``ndim``-tuple of ints to an ``ndim``-tuple.

    >>> as_tuple(3, "kernel_size", "max_pool2d")
    (3, 3)
    >>> as_tuple((2, 3), "kernel_size", "max_pool2d")
    (2, 3)
    """
    if _is_int(value):
        return (operator.index(value),) * ndim
    if isinstance(value, (tuple, list)):
        items = tuple(as_int(v, name, op) for v in value)
        if len(items) == 1:
            return items * ndim
        if len(items) == ndim:
            return items
        raise ValueError(f"{op}: {name} must be a single int or a tuple of {ndim} ints, "
                         f"got {value!r}")
    raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {value!r} "
                    f"of type {type(value).__name__}")


def as_stride(stride, kernel, op):
    """``stride=None`` (or an empty tuple, as PyTorch allows) means the kernel size."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return as_tuple(stride, "stride", op, len(kernel))


# ---------------------------------------------------------------------------
# validity rules and output sizes

def check_window(kernel, stride, padding, dilation, op, axis=""):
    """Raise ValueError if one dimension's window breaks a PyTorch rule.

    PyTorch checks padding against the raw kernel (``k // 2``), not the dilated
    one: with k=3, d=2 a padding of 2 would be fine for the dilated extent 5,
    but PyTorch refuses it, and so does pooledu.
    """
    where = f" (dimension {axis})" if axis else ""
    if kernel <= 0:
        raise ValueError(f"{op}: kernel_size must be greater than zero, got kernel_size={kernel}{where}")
    if stride <= 0:
        raise ValueError(f"{op}: stride must be greater than zero, got stride={stride}{where}")
    if dilation <= 0:
        raise ValueError(f"{op}: dilation must be greater than zero, got dilation={dilation}{where}")
    if padding < 0:
        raise ValueError(f"{op}: padding must be non-negative, got padding={padding}{where}")
    if padding > kernel // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size "
                         f"(kernel {kernel} allows {kernel // 2}), got padding={padding}{where}; "
                         "a larger padding would allow windows made only of padding")


def pool_output_size(input_size, kernel_size, stride=None, padding=0, dilation=1,
                     ceil_mode=False):
    """Number of pooling windows along one dimension, exactly as PyTorch counts them.

    ``out = floor((in + 2p - d(k-1) - 1) / s) + 1`` (``ceil`` with ``ceil_mode``);
    with ``ceil_mode`` the last window is dropped if it would start in the right
    padding, i.e. if ``(out - 1) * s >= in + p``.

    Parameters
    ----------
    input_size : int
        Length of the input along this dimension (padding not included).
    kernel_size, stride, padding, dilation : int
        The window along this dimension; ``stride=None`` means ``kernel_size``.
    ceil_mode : bool
        Round up instead of down, so a partial window at the end counts.

    Returns
    -------
    int
        The output length, at least 1.

    Raises
    ------
    ValueError
        If the window breaks one of PyTorch's rules, or if no window fits.

    Examples
    --------
    >>> pool_output_size(26, 2)
    13
    >>> pool_output_size(112, 3, stride=2, padding=1)
    56
    >>> pool_output_size(5, 2, ceil_mode=True)
    3
    """
    op = "pool_output_size"
    n = as_int(input_size, "input_size", op)
    k = as_int(kernel_size, "kernel_size", op)
    s = k if stride is None else as_int(stride, "stride", op)
    p = as_int(padding, "padding", op)
    d = as_int(dilation, "dilation", op)
    ceil_mode = as_bool(ceil_mode, "ceil_mode", op)
    check_window(k, s, p, d, op)
    if n <= 0:
        raise ValueError(f"{op}: input_size must be positive, got input_size={n}")
    return _output_size(n, k, s, p, d, ceil_mode, op)


def _rounded_count(n, k, s, p, d, ceil_mode):
    """``floor`` (or ``ceil``) of ``(n + 2p - d(k-1) - 1) / s``, plus 1: the count
    before ceil_mode's rule drops a window that would start in the right padding."""
    span = n + 2 * p - d * (k - 1) - 1
    return (span + (s - 1 if ceil_mode else 0)) // s + 1


def _output_size(n, k, s, p, d, ceil_mode, op, axis=""):
    out = _rounded_count(n, k, s, p, d, ceil_mode)
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window would start inside the right padding
    if out < 1:
        where = f" along dimension {axis}" if axis else ""
        raise ValueError(
            f"{op}: output size is too small{where}: input of size {n} with kernel_size={k}, "
            f"dilation={d}, padding={p} covers {n + 2 * p} cells but one window needs "
            f"{d * (k - 1) + 1}")
    return out


class Window(NamedTuple):
    """A validated pooling window over the trailing spatial dimensions."""
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    ceil_mode: bool
    in_size: tuple
    out_size: tuple


def pool_window(op, in_size, kernel_size, stride=None, padding=0, dilation=1,
                ceil_mode=False):
    """Normalise, validate and size a window over ``in_size`` (a tuple of lengths)."""
    nd = len(in_size)
    k = as_tuple(kernel_size, "kernel_size", op, nd)
    s = as_stride(stride, k, op)
    p = as_tuple(padding, "padding", op, nd)
    d = as_tuple(dilation, "dilation", op, nd)
    ceil_mode = as_bool(ceil_mode, "ceil_mode", op)
    axes = "HW" if nd == 2 else "DHW"[-nd:]
    for i in range(nd):
        check_window(k[i], s[i], p[i], d[i], op, axes[i] if nd > 1 else "")
    out = tuple(_output_size(in_size[i], k[i], s[i], p[i], d[i], ceil_mode, op,
                             axes[i] if nd > 1 else "") for i in range(nd))
    return Window(k, s, p, d, ceil_mode, tuple(in_size), out)


def window_taps(o, k, s, p, d, n):
    """Positions of the taps of window ``o`` along one dimension, and which lie inside ``[0, n)``.

    >>> window_taps(0, 3, 2, 1, 1, 5)
    ([-1, 0, 1], [False, True, True])
    """
    taps = [o * s - p + d * t for t in range(k)]
    return taps, [0 <= t < n for t in taps]


def ceil_mode_windows(input_size, kernel_size, stride=None, padding=0, dilation=1):
    """How ``ceil_mode`` changes the windows along one dimension.

    Returns ``(floor_count, ceil_count, dropped)``: the output sizes without and
    with ``ceil_mode`` (both from :func:`pool_output_size`), and the index of
    the window that rounding up would add but PyTorch drops because it would
    start in the right padding (``None`` when no window is dropped).

    >>> ceil_mode_windows(5, 2, padding=1)
    (3, 3, 3)
    >>> ceil_mode_windows(6, 3, 2)
    (2, 3, None)
    """
    floor_count = pool_output_size(input_size, kernel_size, stride, padding, dilation, False)
    ceil_count = pool_output_size(input_size, kernel_size, stride, padding, dilation, True)
    s = kernel_size if stride is None else stride
    rounded = _rounded_count(input_size, kernel_size, s, padding, dilation, True)
    return floor_count, ceil_count, (rounded - 1 if rounded > ceil_count else None)
