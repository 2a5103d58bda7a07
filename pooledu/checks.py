"""The checks every public function runs before any kernel: arrays, shapes, indices.

One set, for 1, 2 or 3 spatial dimensions, so that every operation refuses
bad input with the same words: a ValueError or TypeError naming the
argument, its value and the rule. Window arguments are checked by
``geometry`` (``pool_window`` and friends); this module checks the arrays and
what they must agree on. After the checks, arrays are viewed as (P, *spatial)
planes, P = N*C, the form every kernel takes.
"""

import math

import numpy as np

from . import cpu
from .backend import CPU, backend_for, backend_of
from .geometry import FLOAT_DTYPES, REGULAR, as_int, check_output_size

#: What an input with ``nd`` spatial dimensions looks like, for messages.
LAYOUTS = {1: "(C, L) or (N, C, L)", 2: "(C, H, W) or (N, C, H, W)",
           3: "(C, D, H, W) or (N, C, D, H, W)"}


def check_array(a, name, op, be=None):
    """``a`` as an array of backend ``be``: a NumPy array, or a device array as a Numba one.

    Without ``be`` only NumPy arrays pass: a function that has device kernels
    asks ``backend_for`` first and passes the backend it gets.
    """
    if be is None:
        be = backend_for(op, **{name: a})
        if be is not CPU:
            raise TypeError(f"{op}: {name} must be a NumPy array ({op} has no CUDA version "
                            f"yet), got {type(a).__name__}")
    return be.asarray(a)


def planes(a, spatial=2):
    """View an array as (P, *spatial dims), P the product of the leading dims (may be 0).

    A copy only if ``a`` is not C-contiguous.
    """
    lead, dims = tuple(a.shape[:a.ndim - spatial]), tuple(a.shape[a.ndim - spatial:])
    return backend_of(a).contiguous(a).reshape((math.prod(lead),) + dims)


def check_float(a, name, op, dtype=None):
    """A float32 or float64 array (of ``dtype``, when given)."""
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{op}: {name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    return a


def check_input(x, op, nd=2, name="input", be=None):
    """A float input with ``nd`` spatial dimensions, (C, *spatial) or (N, C, *spatial)."""
    x = check_float(check_array(x, name, op, be), name, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: {name} must be {nd + 1}D or {nd + 2}D, {LAYOUTS[nd]}, "
                         f"got shape {x.shape}")
    if 0 in x.shape[-nd - 1:]:
        raise ValueError(f"{op}: {name} may be empty only along the batch dimension N, "
                         f"got shape {x.shape}")
    return x


def as_planes(x, op, nd=2, name="input", be=None):
    """:func:`check_input`, then the input as (P, *spatial) planes."""
    return planes(check_input(x, op, nd, name, be), nd)


def as_2d(a, nd):
    """1D work runs through the 2D kernels: (P, L) planes viewed as (P, 1, L); others pass."""
    return a.reshape(a.shape[0], 1, a.shape[1]) if nd == 1 else a


def check_input_shape(input_shape, op, nd=2):
    """The shape of a forward input, given to a backward pass, checked as the input is."""
    try:
        shape = tuple(as_int(s, "input_shape", op) for s in input_shape)
    except TypeError:
        raise TypeError(f"{op}: input_shape must be a tuple of ints, got {input_shape!r}") from None
    if len(shape) not in (nd + 1, nd + 2) or min(shape) < 0 or 0 in shape[-nd - 1:]:
        raise ValueError(f"{op}: input_shape must be {LAYOUTS[nd]} with every size but N "
                         f"positive, got {input_shape!r}")
    check_output_size(op, shape, 4, f"input_shape={input_shape!r}")
    return shape


def check_grad(grad_output, expected_shape, dtype, op, name="grad_output", be=None):
    """A gradient (or indices) array of the shape the forward pass gives.

    ``dtype`` None means any float dtype.
    """
    grad_output = check_array(grad_output, name, op, be)
    if dtype is None:
        check_float(grad_output, name, op)
    elif grad_output.dtype != dtype:
        raise TypeError(f"{op}: {name} must have dtype {np.dtype(dtype)}, got {grad_output.dtype}")
    if tuple(grad_output.shape) != tuple(expected_shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected_shape)} "
                         f"(the forward output for this input_shape), got {grad_output.shape}")
    return grad_output


def as_grad_planes(grad_output, expected_shape, dtype, op, name="grad_output", spatial=2,
                   be=None):
    """:func:`check_grad`, then the array as (P, *spatial) planes."""
    return planes(check_grad(grad_output, expected_shape, dtype, op, name, be), spatial)


def check_divisor(divisor_override, op):
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


def check_indices(idx, in_size, op, kind=REGULAR, window=None):
    """Indices must be ones a forward pass with these window arguments can return.

    ``idx`` is the indices array as given, (..., *out), over an input of
    spatial size ``in_size``; ``window`` is the forward's kernel, stride,
    padding and dilation (a ``Window``, or the kernel alone for fractional
    windows). Each index must be -1 (a window of padding only) or name a cell
    whose gather visits its window (``formulas.index_seen``); anything else
    would be dropped by the gather, so the first such index is named in a
    ValueError. One parallel pass, on the arrays' own device, in any memory
    layout (no copy).

    The pass is kept apart from the gathers, before any kernel runs, rather
    than fused into them: fused, it would save one read of the indices, but
    every max backward kernel of every schedule and device would carry it,
    and a bad index would be found only after the kernel ran. It is made
    cheap instead: no division (``formulas.small_quotient``) and no branch
    per index, so each row of windows is one vectorised reduction.
    """
    if idx.size == 0:
        return
    nd = len(in_size)
    cells = math.prod(in_size)
    if kind == REGULAR and tuple(window.kernel) == tuple(in_size) and not any(window.padding):
        # one window over the whole plane (global pooling) sees every cell: only the range
        # is left to check, a pass that costs less than the gather it guards
        _refuse_stray(idx, backend_of(idx).first_outside(idx, -1, cells), in_size, op)
        return
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
    reach = []  # per dimension, the input positions whose gather visits each window
    for axis in range(3):
        table = np.empty((volumes[2 + axis], 2), np.int64)
        cpu.gather_reach_table(table, kind, three(k, 1)[axis], three(s, 1)[axis],
                               three(p, 0)[axis], three(d, 1)[axis], three(in_size, 1)[axis])
        reach.append(np.ascontiguousarray(table.T))  # (2, windows): firsts, then lasts
    _refuse_stray(idx, backend_of(idx).stray_index(idx, volumes, *three(in_size, 1), *reach),
                  in_size, op)


def _refuse_stray(idx, bad, in_size, op):
    """The ValueError of :func:`check_indices` for the index at flat position ``bad``
    (row-major) of ``idx``; nothing for None."""
    if bad is None:
        return
    nd = len(in_size)
    where = tuple(map(int, np.unravel_index(bad, idx.shape)))
    value = int(idx[where])
    cells = math.prod(in_size)
    if 0 <= value < cells:
        cell = tuple(map(int, np.unravel_index(value, in_size)))
        problem = (f"names input cell {cell}, which the window of output {where[-nd:]} "
                   "does not reach")
    else:
        problem = f"lies outside [-1, {cells}), the {cells} cells of an input plane"
    raise ValueError(f"{op}: indices{list(where)} = {value} {problem}; indices must be those "
                     "the forward pass returned, with the same window arguments")


# ---------------------------------------------------------------------------
# channels-last memory: an (N, C, H, W) view of (N, H, W, C) memory, and in 3D
# an (N, C, D, H, W) view of (N, D, H, W, C) memory (PyTorch's channels_last_3d)

def is_channels_last(a, nd=2):
    """True for a host (N, C, *spatial) array of ``nd`` spatial dimensions whose memory is
    (N, *spatial, C): PyTorch's channels_last (nd = 2) or channels_last_3d (nd = 3).

    Only batched arrays count: a 4D array of 3D pooling is an unbatched (C, D, H, W)
    volume, which PyTorch never lays out channels-last. (An array that is both, such as
    C = 1, counts as contiguous.)
    """
    return (isinstance(a, np.ndarray) and a.ndim == nd + 2 and not a.flags.c_contiguous
            and nhwc(a).flags.c_contiguous)


def nhwc(a):
    """(N, C, *spatial) channels-last array -> its (N, *spatial, C) C-contiguous view (no
    copy): (N, H, W, C) in 2D, (N, D, H, W, C) in 3D."""
    return np.moveaxis(a, 1, -1)


def empty_channels_last(shape, dtype):
    """An uninitialised (N, C, *spatial) array with channels-last memory."""
    n, c, *spatial = shape
    return np.moveaxis(np.empty((n, *spatial, c), dtype), -1, 1)
