"""Hypothesis strategies shared by the test modules: shapes, windows and values."""

import numpy as np
from hypothesis import strategies as st

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5])


@st.composite
def values(draw, shape, dtype):
    """An array of the given shape: plain normals, many ties, or NaN/inf sprinkled in."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "ties", "special"]))
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "ties":
        x = rng.integers(-2, 3, shape).astype(float)
    else:
        x = rng.standard_normal(shape)
        mask = rng.random(shape) < 0.3
        x[mask] = rng.choice(SPECIAL, size=int(mask.sum()))
    return x.astype(dtype)


@st.composite
def layouts(draw, x, spatial=2):
    """The same values in C order, channels-last, Fortran order, or as a strided view.

    ``spatial`` is the number of spatial dimensions of the operation ``x`` is
    for. Channels-last memory is drawn for batched 2D and 3D inputs only,
    (N, C, H, W) and (N, C, D, H, W): PyTorch's channels_last and
    channels_last_3d. PyTorch refuses it for an unbatched (C, D, H, W) volume.
    """
    layout = draw(st.sampled_from(["c", "channels_last", "fortran", "strided", "readonly"]))
    if layout == "channels_last" and spatial in (2, 3) and x.ndim == spatial + 2:
        # an (N, C, *spatial) view of (N, *spatial, C) memory
        return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "readonly":
        x = x.copy()
        x.flags.writeable = False
    return x


@st.composite
def window_1d(draw, dilation=True, max_size=9):
    """(input size, kernel, stride, padding, dilation) along one dimension, valid for PyTorch."""
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 4))
    p = draw(st.integers(0, k // 2))
    d = draw(st.integers(1, 3)) if dilation else 1
    smallest = max(1, d * (k - 1) + 1 - 2 * p)  # at least one window must fit
    n = draw(st.integers(smallest, max(smallest, max_size)))
    return n, k, s, p, d


@st.composite
def pool2d_cases(draw, dilation=True):
    """A valid 2D pooling configuration: input shape, window arguments, dtype."""
    h = draw(window_1d(dilation))
    w = draw(window_1d(dilation))
    batch = draw(st.sampled_from([(), (0,), (1,), (2,)]))
    shape = batch + (draw(st.integers(1, 3)), h[0], w[0])
    kernel = (h[1], w[1])
    stride = draw(st.sampled_from([None, (h[2], w[2])])) if kernel == (h[2], w[2]) else (h[2], w[2])
    args = dict(kernel_size=_maybe_int(kernel), stride=_maybe_int(stride) if stride else None,
                padding=_maybe_int((h[3], w[3])), ceil_mode=draw(st.booleans()))
    if dilation:
        args["dilation"] = _maybe_int((h[4], w[4]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return shape, args, dtype


def _maybe_int(pair):
    """PyTorch accepts both 2 and (2, 2); exercise both spellings."""
    return pair[0] if pair[0] == pair[1] else pair
