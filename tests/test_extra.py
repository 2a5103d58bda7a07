"""max_broadcast_pool2d and attention_pool2d against PyTorch compositions of the same formulas.

Max-broadcast pooling's generated cases run in ``test_operations.py`` (its row in
``operations.py`` composes PyTorch's max_pool2d and repeat_interleave); here are
its hand-worked cases and attention pooling.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pooledu import (attention_pool2d, attention_pool2d_backward, max_broadcast_pool2d,
                     max_broadcast_pool2d_backward)

from finite_differences import check_gradient


# ---------------------------------------------------------------------------
# max-broadcast pooling


def test_max_broadcast_hand_worked_ragged_border():
    # 3x5 map, 2x2 windows: the last row and column form partial windows of their own
    x = np.array([[[1., 9., 2., 0., 7.],
                   [3., 4., 8., 1., 6.],
                   [5., 0., 2., 3., 4.]]])
    y, idx = max_broadcast_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y[0], [[9, 9, 8, 8, 7], [9, 9, 8, 8, 7], [5, 5, 3, 3, 4]])
    np.testing.assert_array_equal(idx[0], [[1, 7, 4], [10, 13, 14]])
    gx = max_broadcast_pool2d_backward(np.ones_like(x), idx, 2)
    # each window's four (or fewer) unit gradients land on its argmax
    np.testing.assert_array_equal(gx[0], [[0, 4, 0, 0, 2], [0, 0, 4, 0, 0], [2, 0, 0, 2, 1]])


def test_max_broadcast_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 5, 7))  # distinct values: the max is differentiable
    g = rng.standard_normal(x.shape)
    _, idx = max_broadcast_pool2d(x, (2, 3), return_indices=True)
    gx = max_broadcast_pool2d_backward(g, idx, (2, 3))
    check_gradient(lambda: np.sum(max_broadcast_pool2d(x, (2, 3)) * g), x, gx, samples=20)


def test_max_broadcast_errors():
    x = np.zeros((1, 4, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        max_broadcast_pool2d(x, 0)
    with pytest.raises(TypeError, match="return_indices"):
        max_broadcast_pool2d(x, 2, return_indices=1)
    with pytest.raises(ValueError, match="indices"):
        max_broadcast_pool2d_backward(x, np.full((1, 2, 2), 99), 2)
    with pytest.raises(ValueError, match="indices must have shape"):
        max_broadcast_pool2d_backward(x, np.zeros((1, 3, 3), np.int64), 2)


# ---------------------------------------------------------------------------
# attention pooling

def torch_attention(x, q, wk):
    """The same formula written with PyTorch operations."""
    xf = x.flatten(-2)  # (N, C, P)
    keys = xf if wk is None else torch.einsum("dc,ncp->ndp", wk, xf)
    scores = torch.einsum("d,ndp->np", q, keys) / math.sqrt(q.shape[0])
    return torch.einsum("np,ncp->nc", scores.softmax(dim=-1), xf)


@st.composite
def attention_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    N, C = draw(st.integers(0, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    D = draw(st.sampled_from([None, 1, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 30.0]))  # 30: large scores, exp would overflow unshifted
    x = (scale * rng.standard_normal((N, C, H, W))).astype(dtype)
    q = rng.standard_normal(C if D is None else D).astype(dtype)
    wk = None if D is None else rng.standard_normal((D, C)).astype(dtype)
    return x, q, wk


@settings(deadline=None, max_examples=50)
@given(attention_cases())
def test_attention_matches_torch_composition(case):
    x, q, wk = case
    y, a = attention_pool2d(x, q, wk, return_weights=True)
    xt, qt = torch.tensor(x, requires_grad=True), torch.tensor(q, requires_grad=True)
    wt = None if wk is None else torch.tensor(wk, requires_grad=True)
    y_t = torch_attention(xt, qt, wt)
    tol = dict(rtol=1e-4, atol=1e-4) if x.dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.dtype == x.dtype and y.shape == x.shape[:2]
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(a.sum(axis=(-2, -1)), 1, **tol)
    np.testing.assert_allclose(y, y_t.detach().numpy(), **tol)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    y_t.backward(torch.tensor(g))
    gx, gq, gw = attention_pool2d_backward(g, x, q, wk)
    scale = max(1.0, float(np.abs(x).max(initial=0)))
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=tol["rtol"], atol=tol["atol"] * scale)
    np.testing.assert_allclose(gq, qt.grad.numpy(), rtol=tol["rtol"], atol=tol["atol"] * scale**2)
    if wk is None:
        assert gw is None
    else:
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=tol["rtol"],
                                   atol=tol["atol"] * scale**2)


def test_attention_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 3, 4))
    q = rng.standard_normal(2)
    wk = rng.standard_normal((2, 3))
    g = rng.standard_normal((2, 3))
    grads = attention_pool2d_backward(g, x, q, wk)
    for arr, grad in zip((x, q, wk), grads):
        check_gradient(lambda: np.sum(attention_pool2d(x, q, wk) * g), arr, grad)


def test_attention_hand_worked():
    x = np.array([[[0., 2.], [4., 6.]]])  # one channel, values 0, 2, 4, 6
    # a zero query weighs every position equally: global average pooling
    np.testing.assert_allclose(attention_pool2d(x, np.zeros(1)), [3.0])
    # a large query puts (almost) all weight on the largest score
    y, a = attention_pool2d(x, np.array([100.0]), return_weights=True)
    np.testing.assert_allclose(y, [6.0])
    np.testing.assert_allclose(a, [[0, 0], [0, 1]], atol=1e-12)


def test_attention_errors():
    x = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match="one entry per channel"):
        attention_pool2d(x, np.zeros(2))
    with pytest.raises(ValueError, match="key_weight must have shape"):
        attention_pool2d(x, np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="query"):
        attention_pool2d(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="grad_output"):
        attention_pool2d_backward(np.zeros((2, 4)), x, np.zeros(3))
