"""blur_pool2d and max_blur_pool2d against the same steps in PyTorch (a depthwise
convolution with the binomial filter, after max_pool2d at stride 1), forward and backward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooledu import (blur_pool2d, blur_pool2d_backward, max_blur_pool2d,
                     max_blur_pool2d_backward)
from pooledu.antialias import binomial_filter

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def torch_blur(t, stride, f):
    P = t.shape[0] * t.shape[1]
    w = torch.tensor(binomial_filter(f, t.detach().numpy().dtype))[None, None]
    y = F.conv2d(t.reshape((P, 1) + tuple(t.shape[2:])), w, stride=stride, padding=(f - 1) // 2)
    return y.reshape(tuple(t.shape[:2]) + tuple(y.shape[2:]))


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    f, s = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    h, w = draw(st.integers(f, f + 7)), draw(st.integers(f, f + 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)).astype(dtype), s, f


@settings(deadline=None, max_examples=40)
@given(cases())
def test_blur_pool2d_matches_torch(case):
    x, s, f = case
    t = torch.tensor(x, requires_grad=True)
    ty = torch_blur(t, s, f)
    y = blur_pool2d(x, s, f)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[x.dtype.type])
    g = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(blur_pool2d_backward(g, x.shape, s, f), t.grad.numpy(),
                               **TOL[x.dtype.type])


@settings(deadline=None, max_examples=40)
@given(cases(), st.integers(2, 3))
def test_max_blur_pool2d_matches_torch(case, k):
    x, s, f = case
    if min(x.shape[2:]) - k + 1 < f:
        return  # the dense max leaves less than one filter
    t = torch.tensor(x, requires_grad=True)
    ty = torch_blur(F.max_pool2d(t, k, 1), s, f)
    y, idx = max_blur_pool2d(x, k, s, f, return_indices=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[x.dtype.type])
    g = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(max_blur_pool2d_backward(g, idx, x.shape, k, s, f),
                               t.grad.numpy(), **TOL[x.dtype.type])


def test_the_filter_is_binomial_and_sums_to_one():
    assert np.array_equal(binomial_filter(4)[0] * 64, [1, 3, 3, 1])
    assert binomial_filter(5).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stride=0), ValueError, "stride must be at least 1"),
    (dict(filter_size=6), ValueError, "filter_size must be between 2 and 5"),
    (dict(filter_size=2.5), TypeError, "filter_size"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        blur_pool2d(np.ones((1, 6, 6)), **kwargs)


def test_a_plane_smaller_than_the_filter_is_refused():
    with pytest.raises(ValueError, match="smaller than the"):
        blur_pool2d(np.ones((1, 1, 1)), filter_size=4)
