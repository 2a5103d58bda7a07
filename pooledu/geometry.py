"""Window geometry: argument normalisation, PyTorch's validity rules, output sizes.

Everything that decides *where* a pooling window lies lives here, apart from
the kernels that decide *what* to compute inside it. The kernels, the figures,
the lessons and ``pooledu explain`` all ask this module, so an output size is
computed in exactly one place (:func:`pool_output_size`).

The rules are PyTorch's (``aten/src/ATen/native/Pool.h``): a window at output
position ``o`` starts at ``o*s - p`` and has ``k`` taps ``d`` apart; padding is
never materialised, taps outside ``[0, n)`` are simply skipped.
"""

import math
import operator
import os
from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

FLOAT_DTYPES = (np.float32, np.float64)

# Pooling's window arguments are 32-bit integers, as in PyTorch, whose pooling
# kernels take them as C ints (2**31 and more is refused there too).
# Convolution's are 64-bit, as in PyTorch; its outputs bound them further
# (``check_output_size``). Other sizes (adaptive output sizes, unpooling
# windows) stay below 2**60. So every position a kernel computes
# (``o*s - p + d*t``, ``n + 2p``, ``h*W + w``) fits in a signed 64-bit integer.
POOL_LIMIT = 2**31
CONV_LIMIT = 2**63
MAX_EXTENT = 2**60


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
def taps_inside(o, k, s, p, d, n):
    """Taps ``[lo, hi)`` of window ``o`` that land inside the input ``[0, n)``.

    Tap t reads ``o*s - p + d*t``, inside for ``ceil((p - o*s) / d) <= t <=
    floor((n - 1 + p - o*s) / d)``. Loops over exactly these taps cost what
    the window holds of the input, however large the kernel or the padding.
    """
    start = o * s - p
    lo = max(ceil_div(-start, d), 0)
    hi = min((n - 1 - start) // d + 1, k)
    return lo, max(hi, lo)


@register_jitable
def tap_span(t, s, p, d, in_size, out_size):
    """Output positions ``[lo, hi)`` whose tap ``t`` lands inside the input.

    Tap t of window o reads ``o*s - p + d*t``; it is inside ``[0, in_size)``
    for ``ceil((p - d*t) / s) <= o <= floor((in_size - 1 + p - d*t) / s)``.
    A convolution loops over exactly these outputs for each tap, with no
    bounds test in the innermost loop.
    """
    lo = max(ceil_div(p - d * t, s), 0)
    hi = min((in_size - 1 + p - d * t) // s + 1, out_size)
    return lo, max(hi, lo)


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


def check_extent(value, name, op, where="", limit=MAX_EXTENT):
    """Refuse a window argument or size of ``limit`` or more in magnitude."""
    if abs(value) >= limit:
        why = {POOL_LIMIT: "pooling takes 32-bit window arguments, as in PyTorch",
               CONV_LIMIT: "convolution takes 64-bit window arguments, as in PyTorch",
               MAX_EXTENT: "window positions must fit in 64-bit integers"}[limit]
        raise ValueError(f"{op}: {name} must be less than 2**{limit.bit_length() - 1} in "
                         f"magnitude ({why}), got {name}={value}{where}")
    return value


def _memory_bytes():
    """This machine's physical memory in bytes (2**62 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**62


def check_output_size(op, shape, itemsize, cause):
    """Refuse, before allocating it, an array larger than this machine's memory.

    ``cause`` names the argument the size comes from, for the message.

    >>> check_output_size("adaptive_avg_pool2d", (1, 1, 2**31, 2**31), 4,
    ...                   "output_size=2147483648")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    MemoryError: adaptive_avg_pool2d: output_size=2147483648 gives an array of shape ...
    """
    nbytes = math.prod(shape) * itemsize
    memory = _memory_bytes()
    if nbytes > memory:
        raise MemoryError(f"{op}: {cause} gives an array of shape {tuple(shape)} "
                          f"({nbytes / 2**30:.1f} GiB), more than this machine's memory "
                          f"({memory / 2**30:.1f} GiB)")


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
    check_conv_window(kernel, stride, padding, dilation, op, axis, POOL_LIMIT)
    where = f" (dimension {axis})" if axis else ""
    if padding > kernel // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size "
                         f"(kernel {kernel} allows {kernel // 2}), got padding={padding}{where}; "
                         "a larger padding would allow windows made only of padding")


def check_conv_window(kernel, stride, padding, dilation, op, axis="", limit=CONV_LIMIT):
    """The rules pooling and convolution share: positive sizes, non-negative padding.

    Convolution stops here: its padding is zeros that the weights multiply, so
    any amount is allowed (a window of only padding simply gives the bias).
    """
    where = f" (dimension {axis})" if axis else ""
    for name, value in (("kernel_size", kernel), ("stride", stride), ("padding", padding),
                        ("dilation", dilation)):
        check_extent(value, name, op, where, limit)
    if kernel <= 0:
        raise ValueError(f"{op}: kernel_size must be greater than zero, got kernel_size={kernel}{where}")
    if stride <= 0:
        raise ValueError(f"{op}: stride must be greater than zero, got stride={stride}{where}")
    if dilation <= 0:
        raise ValueError(f"{op}: dilation must be greater than zero, got dilation={dilation}{where}")
    if padding < 0:
        raise ValueError(f"{op}: padding must be non-negative, got padding={padding}{where}")


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
    check_extent(n, "input_size", op)
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


def lift_1d(win):
    """The 2D window that does a 1D window's work (H = 1: kernel 1, stride 1, no padding).

    >>> lift_1d(Window((3,), (2,), (1,), (1,), False, (8,), (4,))).kernel
    (1, 3)
    """
    if len(win.kernel) != 1:
        return win
    return Window((1,) + win.kernel, (1,) + win.stride, (0,) + win.padding, (1,) + win.dilation,
                  win.ceil_mode, (1,) + win.in_size, (1,) + win.out_size)


def window_args(win):
    """A window as the kernels take it: every kernel size, then the strides, paddings
    and dilations (``kh, kw, sh, sw, ph, pw, dh, dw`` in 2D).

    >>> window_args(pool_window("max_pool2d", (8, 8), 3, 2, 1))
    (3, 3, 2, 2, 1, 1, 1, 1)
    """
    return win.kernel + win.stride + win.padding + win.dilation


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


def conv_window(op, in_size, kernel_size, stride=1, padding=0, dilation=1):
    """Normalise, validate and size a convolution's window over ``in_size``.

    The output size is the pooling one with ``ceil_mode=False`` (same formula,
    :func:`_output_size`), but without pooling's ``padding <= k // 2`` rule.
    ``padding`` may also be ``"valid"`` (no padding) or ``"same"`` (output as
    large as the input; stride 1 only). When ``d*(k-1)`` is odd, "same" needs one
    more padding cell on the right than on the left, as in PyTorch; the kernels
    take only the left padding, and the extra right cell is counted here as one
    more input cell, which gives the same output size.

    >>> conv_window("conv2d", (24, 24), 3, stride=2, padding=1).out_size
    (12, 12)
    >>> conv_window("conv2d", (5, 5), 4, padding="same").padding
    (1, 1)
    """
    nd = len(in_size)
    k = as_tuple(kernel_size, "kernel_size", op, nd)
    s = as_tuple(stride, "stride", op, nd)
    d = as_tuple(dilation, "dilation", op, nd)
    extra = (0,) * nd
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{op}: padding must be an int, a tuple of ints, 'valid' or 'same', "
                             f"got padding={padding!r}")
        if padding == "same" and any(si != 1 for si in s):
            raise ValueError(f"{op}: padding='same' needs stride 1 (the output could not keep "
                             f"the input's size otherwise), got stride={stride!r}")
        total = tuple(d[i] * (k[i] - 1) if padding == "same" else 0 for i in range(nd))
        p = tuple(t // 2 for t in total)
        extra = tuple(total[i] - 2 * p[i] for i in range(nd))
    else:
        p = as_tuple(padding, "padding", op, nd)
    axes = "HW" if nd == 2 else "DHW"[-nd:]
    for i in range(nd):
        check_conv_window(k[i], s[i], p[i], d[i], op, axes[i] if nd > 1 else "")
    out = tuple(_output_size(in_size[i] + extra[i], k[i], s[i], p[i], d[i], False, op,
                             axes[i] if nd > 1 else "") for i in range(nd))
    return Window(k, s, p, d, False, tuple(in_size), out)


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


# ---------------------------------------------------------------------------
# the pooling family: adaptive and fractional windows

@register_jitable
def adaptive_windows_touching(i, in_size, out_size):
    """Adaptive windows ``[lo, hi)`` that hold input position ``i``.

    Window ``o`` holds ``i`` when ``floor(o*In/Out) <= i < ceil((o+1)*In/Out)``,
    that is when ``floor(i*Out/In) <= o <= floor(((i+1)*Out - 1)/In)``.
    """
    return (i * out_size) // in_size, ((i + 1) * out_size - 1) // in_size + 1


@register_jitable
def fractional_start(o, samples, axis, in_size, k, out_size):
    """First input position of fractional window ``o`` along one dimension.

    With ``alpha = (In - k) / (Out - 1)`` and the plane's random sample
    ``u = samples[axis]`` (axis 0 for W, 1 for H, as PyTorch orders them),
    window ``o < Out - 1`` starts at ``int((o + u) * alpha) - int(u * alpha)``
    and the last one at ``In - k``, so the windows cover the input. The
    arithmetic is done in the samples' dtype (float32 stays float32, as in
    PyTorch), and ``int`` truncates.
    """
    if o == out_size - 1:
        return in_size - k
    f = samples.dtype.type
    u = samples[axis]
    alpha = f(in_size - k) / f(out_size - 1)
    return int((f(o) + u) * alpha) - int(u * alpha)


@register_jitable
def fractional_windows_touching(i, in_size, k, out_size):
    """Fractional windows ``[lo, hi)`` that may hold input position ``i``: a
    superset, computed without the random samples.

    Window o starts at ``int((o + u) * alpha) - int(u * alpha)``, which is
    ``floor(o * alpha)`` or one more (in exact arithmetic, for any u), so it
    can hold i only if ``i - k < o * alpha + 1`` and ``o * alpha - 1 <= i``.
    Two more cells of slack on each side absorb float32 rounding, so the
    range holds every window that contains i (and a few that do not, which
    the caller's index test skips).
    """
    if out_size <= 1:
        return 0, out_size
    alpha = (in_size - k) / (out_size - 1)
    lo = int(math.floor((i - k - 3) / alpha))
    hi = int(math.floor((i + 4) / alpha)) + 2
    return max(lo, 0), min(hi, out_size)


# How the windows of one dimension are laid out, for the gathers' index check.
REGULAR, ADAPTIVE, FRACTIONAL = 0, 1, 2


@register_jitable
def gathering_windows(h, kind, k, s, p, d, n, out):
    """The windows ``[lo, hi)`` that the backward gather of input position ``h`` visits.

    A max backward is a gather: input cell h adds the gradient of each of
    these windows whose stored index is h. An index that points at a cell
    whose gather does not visit its window (one that no forward pass with
    these window arguments can give) would be silently dropped, so the
    backward passes refuse it. Along one dimension of extent ``n`` with
    ``out`` windows laid out as ``kind``: REGULAR (kernel k, stride s,
    padding p, dilation d), ADAPTIVE, or FRACTIONAL (any window of size k
    that could hold h).
    """
    if kind == ADAPTIVE:
        return adaptive_windows_touching(h, n, out)
    if kind == FRACTIONAL:
        return fractional_windows_touching(h, n, k, out)
    return windows_touching(h, k, s, p, d, out)


@register_jitable
def gather_reach(reach, kind, k, s, p, d, n, out):
    """reach[o] = (first, last): the input positions whose gather visits window o
    (first > last: none). The positions form one run for every kind, since both
    ends of ``gathering_windows(h)`` grow with h. ``reach`` is (out, 2)."""
    for o in range(out):
        reach[o, 0], reach[o, 1] = n, -1
    for h in range(n):
        lo, hi = gathering_windows(h, kind, k, s, p, d, n, out)
        for o in range(lo, hi):
            reach[o, 0] = min(reach[o, 0], h)
            reach[o, 1] = max(reach[o, 1], h)


def describe_adaptive(in_size, out_size):
    """The adaptive windows of one dimension, as ``(start, end)`` pairs.

    Window ``o`` covers ``[floor(o*In/Out), ceil((o+1)*In/Out))``; when
    ``Out`` does not divide ``In`` neighbouring windows overlap and their sizes
    differ. This is what ``pooledu explain --adaptive`` prints.

    >>> describe_adaptive(10, 3)
    [(0, 4), (3, 7), (6, 10)]
    >>> describe_adaptive(5, 5)
    [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    """
    op = "describe_adaptive"
    n = as_int(in_size, "in_size", op)
    m = as_int(out_size, "out_size", op)
    if n <= 0 or m <= 0:
        raise ValueError(f"{op}: in_size and out_size must be positive, "
                         f"got in_size={n}, out_size={m}")
    return [adaptive_span(o, n, m) for o in range(m)]


def adaptive_output_size(op, in_size, output_size):
    """Normalise an adaptive ``output_size`` to a tuple of non-negative ints.

    An int applies to every dimension; a tuple needs one entry per dimension,
    and (from 2D on, as in PyTorch) an entry may be None to keep that input
    size. A size of 0 gives an empty output, as in PyTorch.
    """
    nd = len(in_size)
    if _is_int(output_size):
        sizes = (output_size,) * nd
    elif isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise ValueError(f"{op}: output_size must have {nd} entries, got {output_size!r}")
        sizes = tuple(output_size)
    else:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {nd} ints, "
                        f"got {output_size!r}")
    if nd == 1 and sizes[0] is None:
        raise TypeError(f"{op}: output_size must be an int, got {output_size!r}")
    out = tuple(n if s is None else as_int(s, "output_size", op) for n, s in zip(in_size, sizes))
    for size in out:
        check_extent(size, "output_size", op)
    if min(out) < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
    return out


def unpool_output_size(op, in_size, kernel_size, stride=None, padding=0, output_size=None):
    """The output size of max unpooling, PyTorch's rule.

    By default each dimension inverts the pooling output size formula:
    ``(in - 1) * s - 2p + k``. Since pooling rounds down, several input sizes
    pool to the same size; ``output_size`` picks one of them, so it must lie
    strictly between ``default - s`` and ``default + s``. It may also carry
    the leading (N, C) dimensions, which are ignored, as in PyTorch.
    """
    nd = len(in_size)
    k = as_tuple(kernel_size, "kernel_size", op, nd)
    s = as_stride(stride, k, op)
    p = as_tuple(padding, "padding", op, nd)
    for name, values in (("kernel_size", k), ("stride", s), ("padding", p)):
        for value in values:
            check_extent(value, name, op)
    for name, values in (("kernel_size", k), ("stride", s)):
        if min(values) <= 0:
            raise ValueError(f"{op}: {name} must be greater than zero, got {name}={values}")
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got padding={p}")
    default = tuple((n - 1) * s_ - 2 * p_ + k_ for n, k_, s_, p_ in zip(in_size, k, s, p))
    if output_size is None:
        out = default
    else:
        if not isinstance(output_size, (tuple, list)) or len(output_size) not in (nd, nd + 2):
            raise ValueError(f"{op}: output_size must be a sequence of {nd} or {nd + 2} ints, "
                             f"got {output_size!r}")
        out = tuple(as_int(o, "output_size", op) for o in output_size)[-nd:]
        for axis in range(nd):
            lo, hi = default[axis] - s[axis], default[axis] + s[axis]
            if not lo < out[axis] < hi:
                raise ValueError(
                    f"{op}: invalid output_size {tuple(output_size)!r}: dimension {axis} must lie "
                    f"strictly between {lo} and {hi} (the default size {default[axis]} "
                    f"plus or minus the stride {s[axis]})")
    if min(out) <= 0:
        raise ValueError(f"{op}: the output would be empty ({out}): input {tuple(in_size)}, "
                         f"kernel_size={k}, stride={s}, padding={p}")
    return out


def fractional_output_size(op, in_size, kernel, output_size=None, output_ratio=None):
    """The output size of fractional max pooling, from ``output_size`` or ``output_ratio``.

    Exactly one of them must be given. A ratio ``r`` in (0, 1) gives
    ``int(in * r)``. Every window lies inside the input, so ``k + out - 1 <= in``.
    """
    nd = len(in_size)
    for k in kernel:
        check_extent(k, "kernel_size", op)
    if min(kernel) <= 0:
        raise ValueError(f"{op}: kernel_size must be greater than zero, got kernel_size={kernel}")
    if (output_size is None) == (output_ratio is None):
        raise ValueError(f"{op}: give exactly one of output_size and output_ratio, got "
                         f"output_size={output_size!r}, output_ratio={output_ratio!r}")
    if output_size is not None:
        out = as_tuple(output_size, "output_size", op, nd)
        for size in out:
            check_extent(size, "output_size", op)
    else:
        ratio = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,)
        if len(ratio) not in (1, nd) or not all(
                isinstance(r, (int, float, np.integer, np.floating)) and not isinstance(r, bool)
                for r in ratio):
            raise TypeError(f"{op}: output_ratio must be a float or a tuple of {nd} floats, "
                            f"got {output_ratio!r}")
        ratio = tuple(float(r) for r in ratio) * (nd if len(ratio) == 1 else 1)
        if not all(0 < r < 1 for r in ratio):
            raise ValueError(f"{op}: output_ratio must lie strictly between 0 and 1, "
                             f"got {output_ratio!r}")
        out = tuple(int(n * r) for n, r in zip(in_size, ratio))
    axes = "HW" if nd == 2 else "DHW"[-nd:]
    for axis in range(nd):
        if out[axis] <= 0:
            raise ValueError(f"{op}: output size must be positive, got {out[axis]} along "
                             f"dimension {axes[axis]} (output_size={output_size!r}, "
                             f"output_ratio={output_ratio!r})")
        if kernel[axis] + out[axis] - 1 > in_size[axis]:
            raise ValueError(f"{op}: kernel_size {kernel[axis]} is too large for an output of "
                             f"{out[axis]} from an input of {in_size[axis]} along dimension "
                             f"{axes[axis]}: need kernel_size + output - 1 <= input")
    return out
