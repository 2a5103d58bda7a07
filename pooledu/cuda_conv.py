"""CUDA schedules of ``conv.py``'s convolutions: ``conv2d``, its gradients, and the two
steps a transposed convolution adds to them (its bias, added after the sums, and its
bias gradient).

The formulas of the convolution are written for whole planes
(``formulas.conv_plane`` and ``conv_grad_input_plane`` accumulate a plane tap
by tap, which the CPU vectorises along rows), so here one thread takes one
plane and runs that formula: the sums of every cell go in the CPU's order.
The weight gradient is one sum per tap, a thread each; the bias gradient one
sum per output channel, a thread each. No two threads write one value.

On a real GPU, NVVM fuses the multiply-adds of these sums into FMAs (see
``cuda_family.py``), so the results agree with the CPU to a few ulps; in
Numba's CUDA simulator, bit for bit. ``backend.cuda_backend`` hands the host
functions below (``__all__``), named and called as their ``cpu.py`` twins, to
``dispatch.kernel``.
"""

from numba import cuda

from .cuda import launch
from .formulas import conv_grad_bias, conv_grad_input_plane, conv_grad_weight_tap, conv_plane

__all__ = ["conv2d", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias",
           "add_channel_bias"]


@cuda.jit
def _conv2d(x, w, b, y, sh, sw, ph, pw, dh, dw):
    """y[n, o] = b[o] + the convolution of image n with filter o; a thread per (n, o) plane."""
    N, O, OH, OW = y.shape
    for t in range(cuda.grid(1), N * O, cuda.gridsize(1)):
        n, o = t // O, t % O
        for i in range(OH):
            for j in range(OW):
                y[n, o, i, j] = b[o]
        conv_plane(x[n], w[o], y[n, o], sh, sw, ph, pw, dh, dw)


@cuda.jit
def _conv2d_backward_input(g, w, gx, sh, sw, ph, pw, dh, dw):
    """gx[n, c] = the gradient plane of input channel c of image n; a thread per (n, c) plane."""
    N, C, H, W = gx.shape
    for t in range(cuda.grid(1), N * C, cuda.gridsize(1)):
        n, c = t // C, t % C
        for h in range(H):
            for v in range(W):
                gx[n, c, h, v] = 0
        conv_grad_input_plane(g[n], w, c, gx[n, c], sh, sw, ph, pw, dh, dw)


@cuda.jit
def _conv2d_weight_taps(g, x, gw, sh, sw, ph, pw, dh, dw):
    """gw[o, c, u, v] = the gradient of one filter tap; a thread per tap."""
    O, C, KH, KW = gw.shape
    for t in range(cuda.grid(1), O * C * KH * KW, cuda.gridsize(1)):
        v, u = t % KW, t // KW % KH
        c, o = t // (KW * KH) % C, t // (KW * KH * C)
        gw[o, c, u, v] = conv_grad_weight_tap(g, x, o, c, u, v, sh, sw, ph, pw, dh, dw)


@cuda.jit
def _conv2d_bias_grads(g, gb):
    """gb[o] = the sum of output channel o's gradient; a thread per channel."""
    for o in range(cuda.grid(1), gb.shape[0], cuda.gridsize(1)):
        gb[o] = conv_grad_bias(g, o)


@cuda.jit
def _add_channel_bias(y, b):
    """y[n, o, i, j] += b[o]; a thread per cell."""
    N, O, OH, OW = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        j, i, o, n = t % OW, t // OW % OH, t // (OW * OH) % O, t // (OW * OH * O)
        y[n, o, i, j] += b[o]


def conv2d(x, w, b, y, sh, sw, ph, pw, dh, dw):
    """y = the convolution of x with w, plus b; a thread per output plane."""
    launch(_conv2d, y.shape[0] * y.shape[1], x, w, b, y, sh, sw, ph, pw, dh, dw)


def conv2d_backward_input(g, w, gx, sh, sw, ph, pw, dh, dw):
    """gx = the input gradient; a thread per input plane."""
    launch(_conv2d_backward_input, gx.shape[0] * gx.shape[1], g, w, gx, sh, sw, ph, pw, dh, dw)


def conv2d_backward_weight(g, x, gw, gb, sh, sw, ph, pw, dh, dw):
    """gw, gb = the weight and bias gradients; a thread per tap, then per output channel."""
    launch(_conv2d_weight_taps, gw.size, g, x, gw, sh, sw, ph, pw, dh, dw)
    launch(_conv2d_bias_grads, gb.size, g, gb)


def conv2d_backward_bias(g, gb):
    """gb = the bias gradient alone; a thread per output channel."""
    launch(_conv2d_bias_grads, gb.size, g, gb)


def add_channel_bias(y, b):
    """y += b per output channel; a thread per cell."""
    launch(_add_channel_bias, y.size, y, b)
