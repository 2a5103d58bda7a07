"""conv2d and conv2d_backward against torch.nn.functional.conv2d and autograd."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooledu import conv2d, conv2d_backward
from pooledu.geometry import conv_window

from finite_differences import check_gradient

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def torch_conv(x, w, b, g, **kw):
    """Forward with PyTorch and the three gradients of sum(y * g) by autograd."""
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'same' with an even kernel warns about a copy
        y = F.conv2d(xt, wt, bt, **kw)
    y.backward(torch.tensor(g))
    return (y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(),
            None if b is None else bt.grad.numpy())


@st.composite
def conv_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(0, 2))
    c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = draw(st.sampled_from([0, 1, 2, (0, 3), "valid", "same"]))
    if p == "same":
        s = (1, 1)
    extent = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    h = draw(st.integers(max(1, extent[0] - 2), extent[0] + 6))
    w = draw(st.integers(max(1, extent[1] - 2), extent[1] + 6))
    try:
        conv_window("test", (h, w), (kh, kw), s, p, d)
    except ValueError:
        p = "same" if s == (1, 1) else 2  # enough padding for the window to fit
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((o, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype) if draw(st.booleans()) else None
    if draw(st.booleans()):
        x = x[..., ::-1]  # non-contiguous input
    if n > 0 and draw(st.booleans()):
        x = x[0]  # unbatched (C, H, W)
    return x, weight, bias, dict(stride=s, padding=p, dilation=d)


@settings(deadline=None, max_examples=50)
@given(conv_cases())
def test_conv2d_matches_torch(case):
    x, w, b, kw = case
    y = conv2d(x, w, b, **kw)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    y_t, gx_t, gw_t, gb_t = torch_conv(x.copy(), w, b, g, **kw)
    tol = TOL[x.dtype.type]
    assert y.dtype == x.dtype and y.shape == y_t.shape
    np.testing.assert_allclose(y, y_t, **tol)
    gx, gw, gb = conv2d_backward(g, x, w, **kw)
    assert gx.dtype == gw.dtype == gb.dtype == x.dtype
    np.testing.assert_allclose(gx, gx_t, **tol)
    np.testing.assert_allclose(gw, gw_t, **tol)
    if b is not None:
        np.testing.assert_allclose(gb, gb_t, **tol)


def test_hand_worked_stride_two():
    # 4x4 ramp, 2x2 box filter, stride 2: each output sums one 2x2 block
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = conv2d(x, np.ones((1, 1, 2, 2)), np.array([0.5]), stride=2)
    np.testing.assert_array_equal(y[0, 0], [[10.5, 18.5], [42.5, 50.5]])
    # a padding larger than half the kernel is fine for a convolution: border outputs see only zeros
    y = conv2d(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), np.array([2.0]), padding=1)
    np.testing.assert_array_equal(y[0, 0], [[2, 2, 2], [2, 3, 2], [2, 2, 2]])


def test_backward_against_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    g = rng.standard_normal(conv2d(x, w, b, **kw).shape)
    grads = conv2d_backward(g, x, w, **kw)
    for arr, grad in zip((x, w, b), grads):
        check_gradient(lambda: np.sum(conv2d(x, w, b, **kw) * g), arr, grad)


ARGS = st.fixed_dictionaries({
    "stride": st.sampled_from([1, 2, 0, -1, (1, 2), (2,), (1, 2, 3), 1.5, True, [2, 1]]),
    "padding": st.sampled_from([0, 1, 5, -1, (1, 0), "same", "valid", "full", (0, -1)]),
    "dilation": st.sampled_from([1, 2, 0, (1, 3), -2]),
    "shape": st.sampled_from([(1, 2, 5, 5), (2, 5, 5), (1, 3, 5, 5), (1, 2, 2, 2), (2, 5),
                              (1, 2, 0, 5)]),
    "kernel": st.sampled_from([(3, 3), (1, 4), (6, 6), (2, 3)]),
    "bias": st.sampled_from([None, 3, 2]),
})


@settings(deadline=None, max_examples=60)
@given(ARGS)
def test_raises_exactly_when_torch_raises(a):
    # An empty batch (N = 0) is left out: PyTorch 2.13 then skips its checks
    # (it accepts dilation=0, for one); pooledu checks the arguments anyway.
    x = np.zeros(a["shape"])
    w = np.zeros((3, 2) + a["kernel"])
    b = None if a["bias"] is None else np.zeros(a["bias"])
    kw = {k: a[k] for k in ("stride", "padding", "dilation")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.conv2d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b), **kw)
        torch_ok = True
    except (RuntimeError, TypeError, ValueError):
        torch_ok = False
    try:
        conv2d(x, w, b, **kw)
        ours_ok = True
    except (TypeError, ValueError):
        ours_ok = False
    assert ours_ok == torch_ok, (a, torch_ok)


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3), np.float32)), "weight must have"),
    (lambda: conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 3, 3))), "channels"),
    (lambda: conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3)), stride=0), "stride"),
    (lambda: conv2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3)), padding="same", stride=2), "same"),
    (lambda: conv2d(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 3, 3))), "too small"),
    (lambda: conv2d(np.zeros((1, 2, 4, 4), int), np.zeros((1, 2, 3, 3))), "float32 or float64"),
    (lambda: conv2d_backward(np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3))), "grad_output"),
])
def test_error_messages_name_the_argument(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
