"""CUDA schedules: the formulas of ``formulas.py`` run by one GPU thread per value.

The kernels compute exactly what the CPU schedules in ``cpu.py`` compute, by
calling the same ``register_jitable`` formula functions; only the schedule
differs. Where ``cpu.py`` hands one (n, c) plane to each parallel iteration,
here each thread takes one *element*: an output value (forward) or an input
gradient (backward). Arrays arrive as (P, H, W) planes, P = N*C, exactly as
for the CPU kernels, and the outputs are allocated by the caller.

Every kernel runs a grid-stride loop ``for t in range(cuda.grid(1), n,
cuda.gridsize(1))``: thread ``t`` handles elements t, t + (threads in the
grid), ... The loop bound ``n`` is the bounds check (a thread whose first
element is past the end does nothing), and the loop lets a grid of any size
cover any array. :func:`launch` picks that grid, in one place.

Backward kernels are gathers (each input cell reads the windows that contain
it), so no two threads write the same cell: no atomics, and the result is the
same bit for bit on every run and every GPU.

This module is imported only when a device array reaches ``pooledu.ops``
(see ``backend.py``): importing pooledu never needs numba-cuda or a GPU. Set
``NUMBA_ENABLE_CUDASIM=1`` before ``numba.cuda`` is first imported to run the
kernels in Numba's CUDA simulator (plain Python threads; slow, for testing).

At the bottom, each kernel is wrapped in a host function with the name and
signature of its ``cpu.py`` twin; ``backend.cuda_backend`` hands them, and
the array helpers above, to the public functions.

The rest of the family (3D, adaptive, fractional, LP, unpooling, max-broadcast
and attention pooling) lives in ``cuda_family.py``, the convolution in
``cuda_conv.py``; both launch through :func:`launch` here, and
``backend.cuda_backend`` looks kernels up in all three.
"""

import types

import numpy as np
from numba import cuda

from .formulas import (avg_grad_cell, avg_window, global_max, global_max_grad, global_mean,
                       global_mean_grad, index_seen, max_grad_cell, max_window)

# cuda.jit comes from numba.cuda.simulator when the simulator is on (numba-cuda
# and the built-in numba.cuda alike, whichever config module each reads).
SIMULATOR = cuda.jit.__module__.startswith("numba.cuda.simulator")

#: Threads per block: a multiple of the 32-thread warp, small enough for any GPU.
THREADS_PER_BLOCK = 256
#: Blocks at most; larger arrays are covered by the grid-stride loops.
MAX_BLOCKS = 65535


def launch(kernel, n, *args):
    """Run ``kernel[blocks, threads](*args)`` with one thread per element of an ``n``-element array.

    Blocks hold up to 256 threads (fewer for a tiny array, rounded up to a
    warp); the grid has enough blocks for one element per thread, at most
    :data:`MAX_BLOCKS`. An empty array (N=0) launches nothing.
    """
    if n == 0:
        return
    warps = -(-n // 32)
    threads = min(THREADS_PER_BLOCK, 32 * warps)
    blocks = min(-(-n // threads), MAX_BLOCKS)
    kernel[blocks, threads](*args)


@cuda.jit(device=True)
def unravel(t, rows, cols):
    """Flat index t of a C-ordered (planes, rows, cols) array -> (p, r, c)."""
    plane = rows * cols
    return t // plane, (t % plane) // cols, t % cols


# ---------------------------------------------------------------------------
# max pooling

@cuda.jit
def _max_pool2d(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw):
    """y[p, i, j], idx[p, i, j] = max and argmax of window (i, j) of plane p; a thread per (p, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        p, i, j = unravel(t, OH, OW)
        y[p, i, j], idx[p, i, j] = max_window(x[p], i, j, kh, kw, sh, sw, ph, pw, dh, dw)


@cuda.jit
def _max_pool2d_backward(g, idx, gx, kh, kw, sh, sw, ph, pw, dh, dw):
    """gx[p, h, w] = sum of g over the windows of plane p whose argmax is (h, w); a thread per (p, h, w)."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = max_grad_cell(g[p], idx[p], h, w, W, kh, kw, sh, sw, ph, pw, dh, dw)


# ---------------------------------------------------------------------------
# average pooling

@cuda.jit
def _avg_pool2d(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y[p, i, j] = mean of window (i, j) of plane p, with PyTorch's divisor rules; a thread per (p, i, j)."""
    P, OH, OW = y.shape
    for t in range(cuda.grid(1), P * OH * OW, cuda.gridsize(1)):
        p, i, j = unravel(t, OH, OW)
        y[p, i, j] = avg_window(x[p], i, j, kh, kw, sh, sw, ph, pw,
                                count_include_pad, divisor_override)


@cuda.jit
def _avg_pool2d_backward(g, gx, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """gx[p, h, w] = sum of g[p, i, j] / divisor(i, j) over windows holding (h, w); a thread per (p, h, w)."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = avg_grad_cell(g[p], h, w, H, W, kh, kw, sh, sw, ph, pw,
                                    count_include_pad, divisor_override)


# ---------------------------------------------------------------------------
# global pooling

@cuda.jit
def _global_avg_pool2d(x, y):
    """y[p] = mean of plane p; a thread per plane."""
    for p in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
        y[p] = global_mean(x[p])


@cuda.jit
def _global_avg_pool2d_backward(g, gx):
    """gx[p, h, w] = g[p] / (H*W); a thread per (p, h, w)."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = global_mean_grad(g, p, H, W)


@cuda.jit
def _global_max_pool2d_backward(g, idx, gx):
    """gx[p, h, w] = g[p] at plane p's argmax, else 0; a thread per (p, h, w)."""
    P, H, W = gx.shape
    for t in range(cuda.grid(1), P * H * W, cuda.gridsize(1)):
        p, h, w = unravel(t, H, W)
        gx[p, h, w] = global_max_grad(g, idx, p, h, w, W)


@cuda.jit
def _global_max_pool2d(x, y, idx):
    """y[p], idx[p] = max and argmax of plane p; a thread per plane."""
    for p in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
        y[p], idx[p] = global_max(x[p])


# ---------------------------------------------------------------------------
# device arrays: views, copies, reductions

@cuda.jit
def _copy4d(src, dst):
    """dst[a, b, c, d] = src[a, b, c, d]: a strided array into a C-ordered one; a thread per element."""
    A, B, C, D = dst.shape
    for t in range(cuda.grid(1), A * B * C * D, cuda.gridsize(1)):
        ab, c, d = unravel(t, C, D)
        dst[ab // B, ab % B, c, d] = src[ab // B, ab % B, c, d]


def _view4d(x):
    """``x`` (1 to 4 dimensions) as a 4D view of the same memory, size-1 axes in front."""
    lead = 4 - x.ndim
    if SIMULATOR:  # a simulator array wraps a NumPy array and indexes like one
        return x[(None,) * lead]
    # Numba device arrays cannot add axes by indexing; describe the view
    # through the CUDA Array Interface instead (stride 0 on the new axes).
    cai = dict(x.__cuda_array_interface__, shape=(1,) * lead + tuple(x.shape),
               strides=(0,) * lead + tuple(x.strides))
    return cuda.as_cuda_array(types.SimpleNamespace(__cuda_array_interface__=cai))


def contiguous(x):
    """``x`` if it is C-contiguous, else a C-ordered copy made on the device."""
    if x.is_c_contiguous():
        return x
    out = cuda.device_array(x.shape, x.dtype)
    launch(_copy4d, x.size, _view4d(x), _view4d(out))
    return out


def as_device_array(x):
    """A Numba device array viewing ``x``'s memory (CuPy, PyTorch CUDA, ...); no copy."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    if SIMULATOR:
        raise TypeError(f"the CUDA simulator cannot read a {type(x).__name__}'s "
                        "__cuda_array_interface__; pass numba.cuda device arrays")
    return cuda.as_cuda_array(x)


NONE = np.iinfo(np.int64).max  # "no bad index here", the identity of min
_min = cuda.reduce(lambda a, b: min(a, b))


@cuda.jit
def _stray_positions(idx, bad, D, H, W, depth, rows, cols):
    """bad[t] = t if the index of window t of (N, C, OD, OH, OW) is one the backward
    gather cannot see (``index_seen``), else NONE."""
    N, C, OD, OH, OW = idx.shape
    for t in range(cuda.grid(1), bad.size, cuda.gridsize(1)):
        j, i, a = t % OW, t // OW % OH, t // (OW * OH) % OD
        c, n = t // (OW * OH * OD) % C, t // (OW * OH * OD * C)
        seen = index_seen(idx[n, c, a, i, j], a, i, j, D, H, W, depth, rows, cols)
        bad[t] = NONE if seen else t


def stray_index(idx, volumes, D, H, W, depth, rows, cols):
    """Flat position of the first index the gather cannot see, or None: one pass and a
    min-reduction on the device (``idx`` viewed as ``volumes``, (N, C, OD, OH, OW);
    the reach tables are small host arrays, copied over)."""
    idx = contiguous(idx).reshape(volumes)
    bad = cuda.device_array(idx.size, np.int64)
    launch(_stray_positions, bad.size, idx, bad, D, H, W, cuda.to_device(depth),
           cuda.to_device(rows), cuda.to_device(cols))
    first = int(_min(bad, init=np.int64(NONE)))
    return None if first == NONE else first


@cuda.jit
def _outside_positions(a, lo, hi, bad):
    """bad[t] = t if a[t] lies outside [lo, hi), else NONE; a thread per element."""
    for t in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        bad[t] = t if a[t] < lo or a[t] >= hi else NONE


def first_outside(a, lo, hi):
    """Flat position (row-major) of the first entry of ``a`` outside [lo, hi), or None:
    one pass and a min-reduction on the device."""
    if a.size == 0:
        return None
    a = contiguous(a).reshape(a.size)
    bad = cuda.device_array(a.size, np.int64)
    launch(_outside_positions, a.size, a, lo, hi, bad)
    first = int(_min(bad, init=np.int64(NONE)))
    return None if first == NONE else first


def empty(shape, dtype):
    """An uninitialised C-ordered device array."""
    return cuda.device_array(shape, dtype)


def from_host(a):
    """A small host array (random samples, a zero bias) copied to the device."""
    return cuda.to_device(np.ascontiguousarray(a))


# ---------------------------------------------------------------------------
# the host side: cpu.py's kernel names and signatures, launched on the GPU

def _on_elements_of(kernel, out):
    """A host function that launches ``kernel`` with one thread per element of argument ``out``."""
    def run(*args):
        launch(kernel, args[out].size, *args)
    run.__name__ = kernel.__name__.lstrip("_")
    run.__doc__ = kernel.__doc__
    return run


max_pool2d = _on_elements_of(_max_pool2d, out=1)
max_pool2d_backward = _on_elements_of(_max_pool2d_backward, out=2)
avg_pool2d = _on_elements_of(_avg_pool2d, out=1)
avg_pool2d_backward = _on_elements_of(_avg_pool2d_backward, out=1)
global_avg_pool2d = _on_elements_of(_global_avg_pool2d, out=1)
global_avg_pool2d_backward = _on_elements_of(_global_avg_pool2d_backward, out=1)
global_max_pool2d = _on_elements_of(_global_max_pool2d, out=1)
global_max_pool2d_backward = _on_elements_of(_global_max_pool2d_backward, out=2)
