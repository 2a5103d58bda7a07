"""conv_transpose2d and its backward against torch.nn.functional.conv_transpose2d and autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooledu import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@st.composite
def transpose_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c, o = draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    out_pad = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in range(2))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    size = [(m - 1) * s[a] - 2 * p[a] + d[a] * (k[a] - 1) + out_pad[a] + 1
            for a, m in enumerate((h, w))]
    if min(size) < 1:
        p = (0, 0)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((c, o) + k).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype) if draw(st.booleans()) else None
    if n > 0 and draw(st.booleans()):
        x = x[0]  # unbatched (C, H, W)
    return x, weight, bias, dict(stride=s, padding=p, output_padding=out_pad, dilation=d)


@settings(deadline=None, max_examples=60)
@given(transpose_cases())
def test_conv_transpose2d_matches_torch(case):
    x, w, b, kw = case
    y = conv_transpose2d(x, w, b, **kw)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    yt = F.conv_transpose2d(xt, wt, bt, **kw)
    tol = TOL[x.dtype.type]
    assert y.dtype == x.dtype and y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    yt.backward(torch.tensor(g))
    gx, gw, gb = conv_transpose2d_backward(g, x, w, **kw)
    assert gx.dtype == gw.dtype == gb.dtype == x.dtype
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(gw, wt.grad.numpy(), **tol)
    if b is not None:
        np.testing.assert_allclose(gb, bt.grad.numpy(), **tol)


def test_it_is_the_input_gradient_of_conv2d():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal(conv2d(x, w, stride=2, padding=1).shape)
    gx = conv2d_backward(g, x, w, stride=2, padding=1)[0]
    # a 7-wide input gives 4 outputs, and so does an 8-wide one: output_padding 0 picks 7
    np.testing.assert_array_equal(conv_transpose2d(g, w, stride=2, padding=1), gx)
    assert conv_transpose2d(g, w, stride=2, padding=1, output_padding=1).shape[-1] == 8


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=2, output_padding=2), "output_padding must be smaller than the stride or the dilation"),
    (dict(stride=0), "stride must be at least 1"),
    (dict(padding=-1), "padding must be at least 0"),
    (dict(padding=5), "the output would be"),
])
def test_bad_arguments_are_named(kwargs, message):
    x, w = np.ones((1, 3, 3)), np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match=message):
        conv_transpose2d(x, w, **kwargs)


def test_channels_and_dtypes_are_checked():
    with pytest.raises(ValueError, match="input has 2 channels but weight"):
        conv_transpose2d(np.ones((2, 3, 3)), np.ones((1, 1, 2, 2)))
    with pytest.raises(TypeError, match="weight must have the input's dtype"):
        conv_transpose2d(np.ones((1, 3, 3)), np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="grad_output must have the forward output's shape"):
        conv_transpose2d_backward(np.ones((1, 4, 4)), np.ones((1, 2, 2)), np.ones((1, 1, 2, 2)))
