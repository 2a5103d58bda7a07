"""Measurements behind the figures: invariance, receptive fields, costs.

The figures and the lessons print the same numbers because both call these
functions. Output sizes come from :func:`pooledu.pool_output_size`; the
pooling itself from the pooledu kernels.
"""

from typing import NamedTuple

import numpy as np

from .geometry import as_int, as_tuple, pool_output_size
from .ops import avg_pool2d, avg_pool2d_backward, max_pool2d


# ---------------------------------------------------------------------------
# translation invariance

def shifted_pair(x, shift, max_shift=None):
    """Two equally sized crops of ``x`` whose content differs by a horizontal shift.

    ``x`` is (..., H, W); both crops are ``W - max_shift`` wide. In the second
    crop every feature sits ``shift`` pixels further right than in the first,
    as if the camera had moved; no wrap-around, no padding.

    >>> x = np.arange(6.0).reshape(1, 6)
    >>> a, b = shifted_pair(x, 1, max_shift=2)
    >>> a, b
    (array([[2., 3., 4., 5.]]), array([[1., 2., 3., 4.]]))
    """
    m = shift if max_shift is None else max_shift
    W = x.shape[-1]
    if not 0 <= shift <= m < W:
        raise ValueError(f"shifted_pair: need 0 <= shift <= max_shift < width, got "
                         f"shift={shift}, max_shift={m}, width={W}")
    return x[..., m:W], x[..., m - shift:W - shift]


def pool_stack(x, layers, kernel_size=2, stride=None, mode="max"):
    """``layers`` pooling layers applied one after another (max or avg)."""
    if mode not in ("max", "avg"):
        raise ValueError(f"pool_stack: mode must be 'max' or 'avg', got {mode!r}")
    pool = max_pool2d if mode == "max" else avg_pool2d
    for _ in range(layers):
        x = pool(x, kernel_size, stride)
    return x


def invariance_curve(x, shifts, layers=1, kernel_size=2, stride=None, mode="max"):
    """Fraction of pooled outputs left unchanged when the input shifts by each of ``shifts``.

    For every shift ``t`` the input and its copy shifted ``t`` pixels to the
    right (:func:`shifted_pair`) go through ``layers`` pooling layers, and the
    outputs are compared position by position: an output is *unchanged* if its
    value is exactly equal. A shift smaller than the window often leaves a max
    unchanged; a shift by the whole stride moves every output by one cell.

    Parameters
    ----------
    x : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
        Feature maps, wider than ``max(shifts)`` plus what the layers need.
    shifts : sequence of int
    layers : int
        Number of stacked pooling layers.
    kernel_size, stride : int
        Of each layer.
    mode : "max" or "avg"

    Returns
    -------
    ndarray of float, one fraction per shift

    Examples
    --------
    >>> x = np.random.default_rng(0).random((8, 16, 20))
    >>> invariance_curve(x, [0, 2], kernel_size=2)
    array([1., 0.])
    """
    shifts = [as_int(t, "shifts", "invariance_curve") for t in shifts]
    m = max(shifts)
    fractions = []
    for t in shifts:
        a, b = shifted_pair(x, t, m)
        ya = pool_stack(np.ascontiguousarray(a), layers, kernel_size, stride, mode)
        yb = pool_stack(np.ascontiguousarray(b), layers, kernel_size, stride, mode)
        fractions.append(float(np.mean(ya == yb)))
    return np.array(fractions)


# ---------------------------------------------------------------------------
# receptive fields

def _layer(layer):
    """``(name, kernel, stride[, padding[, dilation]])`` with the defaults filled in."""
    name, k, s, *rest = layer
    return name, k, s, (rest[0] if rest else 0), (rest[1] if len(rest) > 1 else 1)


class Field(NamedTuple):
    """Receptive field after a layer, along one dimension.

    Output ``o`` of the layer sees input cells ``o * jump - start`` to
    ``o * jump - start + size - 1`` (cells outside the input are padding).
    """
    name: str
    size: int
    jump: int
    start: int

    def span(self, o):
        """Input cells ``[lo, hi)`` seen by output ``o`` of this layer."""
        lo = o * self.jump - self.start
        return lo, lo + self.size


def receptive_field(layers):
    """Receptive field size after each layer of a stack of convolutions and poolings.

    Each layer is ``(name, kernel, stride[, padding[, dilation]])``. Through a
    layer the field grows by ``(k - 1) * d`` times the current jump (the
    distance in input pixels between neighbouring cells), and the jump is
    multiplied by the stride:

    ``size' = size + (k - 1) * d * jump``, ``jump' = jump * s``,
    ``start' = start + p * jump``.

    Returns
    -------
    list of Field
        The input (size 1) first, then one per layer.

    Examples
    --------
    >>> [f.size for f in receptive_field([("conv", 3, 1), ("conv", 3, 1), ("pool", 2, 2)])]
    [1, 3, 5, 6]
    """
    fields = [Field("input", 1, 1, 0)]
    for layer in layers:
        name, k, s, p, d = _layer(layer)
        f = fields[-1]
        fields.append(Field(name, f.size + (k - 1) * d * f.jump, f.jump * s,
                            f.start + p * f.jump))
    return fields


def input_gradient(layers, input_size):
    """|d output / d input| of the centre output of a stack, through the backward kernels.

    Every layer ``(name, kernel, stride[, padding])`` is run as an average
    pooling: a convolution with a uniform positive kernel has the same
    receptive field, and with positive weights no contribution can cancel,
    so the input gradient is non-zero exactly on the receptive field. (A max
    pooling layer would route the gradient to one winner per window; the
    receptive field is the set of cells that *could* win.)

    Returns
    -------
    ndarray (input_size, input_size)
        The gradient of the centre output with respect to each input cell.
    """
    shapes, x = [], np.zeros((1, input_size, input_size))
    for layer in layers:
        _, k, s, p, _ = _layer(layer)
        shapes.append(x.shape)
        x = avg_pool2d(x, k, s, p)
    g = np.zeros_like(x)
    g[0, x.shape[1] // 2, x.shape[2] // 2] = 1.0
    for layer, shape in zip(reversed(layers), reversed(shapes)):
        _, k, s, p, _ = _layer(layer)
        g = avg_pool2d_backward(g, shape, k, s, p)
    return g[0]


def measured_receptive_field(layers, input_size):
    """Height and width of the non-zero region of :func:`input_gradient`."""
    g = input_gradient(layers, input_size)
    rows, cols = np.nonzero(g)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


# ---------------------------------------------------------------------------
# cost

def activation_counts(input_size, channels, layers, kernel_size=2, stride=None):
    """Spatial size and activation count of a (channels, n, n) map after each pooling layer.

    >>> activation_counts(224, 64, 2)
    [(224, 3211264), (112, 802816), (56, 200704)]
    """
    sizes = [as_int(input_size, "input_size", "activation_counts")]
    for _ in range(layers):
        sizes.append(pool_output_size(sizes[-1], kernel_size, stride))
    return [(n, channels * n * n) for n in sizes]


def conv_flops(input_size, in_channels, out_channels, kernel_size, stride=1, padding=0):
    """FLOPs of a square convolution: 2 per multiply-add, ``out^2 * C_out * C_in * k^2`` MACs.

    The output size is the pooling formula's (a convolution slides its window
    the same way), so it comes from :func:`pool_output_size`.

    >>> conv_flops(224, 3, 64, 7, stride=2, padding=3)
    236027904
    """
    out = pool_output_size(input_size, kernel_size, stride, padding)
    return 2 * out * out * out_channels * in_channels * kernel_size * kernel_size


def pool_flops(input_size, channels, kernel_size, stride=None, padding=0):
    """Comparisons of a max pooling: ``k^2 - 1`` per output value.

    >>> pool_flops(224, 64, 2)
    2408448
    """
    out = pool_output_size(input_size, kernel_size, stride, padding)
    return out * out * channels * (kernel_size * kernel_size - 1)


def stem_flops(image_size=224, in_channels=3, channels=64, kernel_size=7):
    """A ResNet stem's convolution at stride 2, versus stride 1 followed by 2x2/2 max pooling.

    Both give the same (channels, image_size/2, image_size/2) map; the second
    computes the convolution at four times as many positions and throws three
    quarters away.

    Returns
    -------
    dict
        label -> FLOPs.

    Examples
    --------
    >>> {k: f"{v:,}" for k, v in stem_flops().items()}  # doctest: +NORMALIZE_WHITESPACE
    {'conv 7x7 stride 2': '236,027,904',
     'conv 7x7 stride 1 + max pool 2x2/2': '946,520,064'}
    """
    p = kernel_size // 2
    k = f"{kernel_size}x{kernel_size}"
    strided = conv_flops(image_size, in_channels, channels, kernel_size, 2, p)
    full = conv_flops(image_size, in_channels, channels, kernel_size, 1, p)
    full_size = pool_output_size(image_size, kernel_size, 1, p)
    return {f"conv {k} stride 2": strided,
            f"conv {k} stride 1 + max pool 2x2/2": full + pool_flops(full_size, channels, 2)}


def head_params(channels=512, size=7, classes=1000, bias=False):
    """Weights of a classifier head on a (channels, size, size) map.

    Flattening feeds ``channels * size * size`` numbers to the fully connected
    layer; global average pooling first feeds just ``channels``.

    >>> {k: f"{v:,}" for k, v in head_params().items()}
    {'flatten + FC': '25,088,000', 'global avg pool + FC': '512,000'}
    """
    size = as_tuple(size, "size", "head_params")
    extra = classes if bias else 0
    return {"flatten + FC": channels * size[0] * size[1] * classes + extra,
            "global avg pool + FC": channels * classes + extra}
