"""1D and 3D max and average pooling against PyTorch, bit for bit.

1D runs through the 2D kernels with H = 1; 3D has volume formulas whose max
combines the 2D max of each depth slice. Both must give PyTorch's values,
indices (flat per plane / volume) and gradients exactly.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pooledu as P
from family_helpers import assert_bitwise, finite_difference, grad_like, torch_input
from strategies import layouts, values, window_1d

torch.set_num_threads(1)


@st.composite
def pool_cases(draw, nd, dilation):
    """A valid nd-dimensional pooling configuration (shape, args, dtype)."""
    dims = [draw(window_1d(dilation, max_size=9 if nd == 1 else 5)) for _ in range(nd)]
    batch = draw(st.sampled_from([(), (0,), (1,), (2,)]))
    shape = batch + (draw(st.integers(1, 3)),) + tuple(d[0] for d in dims)

    def spell(i):
        values_ = tuple(d[i] for d in dims)
        return values_[0] if len(set(values_)) == 1 and draw(st.booleans()) else values_

    args = dict(kernel_size=spell(1), stride=draw(st.sampled_from([None, spell(2)])),
                padding=spell(3), ceil_mode=draw(st.booleans()))
    if args["stride"] is None and tuple(d[2] for d in dims) != tuple(d[1] for d in dims):
        args["stride"] = spell(2)
    if dilation:
        args["dilation"] = spell(4)
    return shape, args, draw(st.sampled_from([np.float32, np.float64]))


def _check_max(nd, x, args):
    ours, backward = {1: (P.max_pool1d, P.max_pool1d_backward),
                      3: (P.max_pool3d, P.max_pool3d_backward)}[nd]
    theirs = {1: F.max_pool1d, 3: F.max_pool3d}[nd]
    y, idx = ours(x, return_indices=True, **args)
    assert_bitwise(ours(x, **args), y)
    t = torch_input(x)
    ty, tidx = theirs(t, return_indices=True, **args)
    assert_bitwise(y, ty)
    assert_bitwise(y, theirs(torch.from_numpy(np.array(x)), **args))  # PyTorch's no-index path
    empty = idx == -1  # a window of padding only: PyTorch's index is garbage there
    assert np.all(np.isneginf(y[empty]))
    np.testing.assert_array_equal(idx[~empty], tidx.numpy()[~empty])
    if empty.any():
        return  # never run PyTorch's backward on such a window (it writes out of bounds)
    g = grad_like(y)
    ty.backward(torch.from_numpy(g))
    assert_bitwise(backward(g, idx, x.shape, **args), t.grad)


def _check_avg(nd, x, args):
    ours, backward = {1: (P.avg_pool1d, P.avg_pool1d_backward),
                      3: (P.avg_pool3d, P.avg_pool3d_backward)}[nd]
    theirs = {1: F.avg_pool1d, 3: F.avg_pool3d}[nd]
    y = ours(x, **args)
    t = torch_input(x)
    ty = theirs(t, **args)
    assert_bitwise(y, ty)
    g = grad_like(y)
    ty.backward(torch.from_numpy(g))
    assert_bitwise(backward(g, x.shape, **args), t.grad)


@settings(max_examples=50)
@given(data=st.data(), case=pool_cases(1, dilation=True))
def test_max_pool1d_matches_torch(data, case):
    shape, args, dtype = case
    _check_max(1, data.draw(layouts(data.draw(values(shape, dtype)))), args)


@settings(max_examples=40)
@given(data=st.data(), case=pool_cases(1, dilation=False), count_include_pad=st.booleans())
def test_avg_pool1d_matches_torch(data, case, count_include_pad):
    shape, args, dtype = case
    args["count_include_pad"] = count_include_pad
    _check_avg(1, data.draw(layouts(data.draw(values(shape, dtype)))), args)


@settings(max_examples=50)
@given(data=st.data(), case=pool_cases(3, dilation=True))
def test_max_pool3d_matches_torch(data, case):
    shape, args, dtype = case
    _check_max(3, data.draw(layouts(data.draw(values(shape, dtype)), channels_last=False)), args)


@settings(max_examples=50)
@given(data=st.data(), case=pool_cases(3, dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3, -2]))
def test_avg_pool3d_matches_torch(data, case, count_include_pad, divisor_override):
    shape, args, dtype = case
    kernel = args["kernel_size"] if isinstance(args["kernel_size"], tuple) else (args["kernel_size"],) * 3
    assume(all(n >= k for n, k in zip(shape[-3:], kernel)))  # avg_pool3d's extra rule
    args.update(count_include_pad=count_include_pad, divisor_override=divisor_override)
    _check_avg(3, data.draw(layouts(data.draw(values(shape, dtype)), channels_last=False)), args)


def test_1d_hand_worked():
    x = np.array([[1., 3., 2., 5., 4.]])
    y, idx = P.max_pool1d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y, [[3., 5.]])
    np.testing.assert_array_equal(idx, [[1, 3]])  # positions along L, as PyTorch
    np.testing.assert_array_equal(P.avg_pool1d(x, 2, ceil_mode=True), [[2., 3.5, 4.]])


def test_3d_nan_and_ties_follow_one_row_major_scan():
    # the tie between slices keeps the first slice; a NaN in a later slice wins
    x = np.zeros((1, 2, 2, 2))
    x[0, 0, 1, 1] = x[0, 1, 0, 0] = 7.0
    y, idx = P.max_pool3d(x, 2, return_indices=True)
    assert y.item() == 7.0 and idx.item() == 3
    x[0, 1, 1, 0] = np.nan
    y, idx = P.max_pool3d(x, 2, return_indices=True)
    t_y, t_idx = F.max_pool3d(torch.from_numpy(x), 2, return_indices=True)
    assert np.isnan(y.item()) and idx.item() == t_idx.item() == 6


def test_3d_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 4 * 5 * 4).reshape(2, 1, 4, 5, 4) / 10.0
    args = dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), ceil_mode=True)
    y, idx = P.max_pool3d(x, return_indices=True, **args)
    g = rng.standard_normal(y.shape)
    fd = finite_difference(lambda v: P.max_pool3d(v, **args), x, g)
    np.testing.assert_allclose(P.max_pool3d_backward(g, idx, x.shape, **args), fd, atol=1e-8)
    y = P.avg_pool3d(x, **args)
    fd = finite_difference(lambda v: P.avg_pool3d(v, **args), x, g)
    np.testing.assert_allclose(P.avg_pool3d_backward(g, x.shape, **args), fd, atol=1e-8)


def test_1d_and_3d_input_layouts():
    with pytest.raises(ValueError, match=r"\(C, L\) or \(N, C, L\)"):
        P.max_pool1d(np.zeros(5), 2)
    with pytest.raises(ValueError, match=r"\(C, D, H, W\)"):
        P.avg_pool3d(np.zeros((2, 5, 5)), 2)
    assert P.max_pool3d(np.zeros((0, 2, 4, 4, 4)), 2).shape == (0, 2, 2, 2, 2)
    assert P.avg_pool1d(np.zeros((3, 6), np.float32), 3).dtype == np.float32


@pytest.mark.parametrize("make", [
    lambda g, i, s: P.max_pool3d_backward(g, i, s, 2),
    lambda g, i, s: P.adaptive_max_pool2d_backward(g[..., 0, :, :], i[..., 0, :, :] % 72,
                                                   s[:-3] + s[-2:]),
    lambda g, i, s: P.max_unpool2d_backward(g[..., 0, :, :], i[..., 0, :, :] % 4),
])
def test_family_backward_is_bitwise_deterministic_across_threads(make):
    import numba
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 3, 4, 9, 8)).astype(np.float32)  # ties: shared argmaxes
    _, idx = P.max_pool3d(x, 2, return_indices=True)
    g = rng.standard_normal(idx.shape).astype(np.float32)
    old = numba.get_num_threads()
    try:
        results = []
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            results.append(make(g, idx, x.shape).tobytes())
    finally:
        numba.set_num_threads(old)
    assert results[0] == results[1]
