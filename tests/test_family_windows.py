"""Adaptive, fractional and unpooling against PyTorch: windows that are not a regular grid.

Adaptive average pooling divides in PyTorch's order (sum / kh / kw), so it
matches bit for bit, except for output 1x1 where PyTorch takes a pairwise
mean. Max pooling, fractional pooling (given the same random samples) and
unpooling match bit for bit, values, indices and gradients.

The generated cases (hypothesis) of every operation run in ``test_operations.py``,
from the rows of ``operations.py``; this file holds the hand-worked cases and
the properties that are particular to these windows.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import pooledu as P
from pooledu.geometry import fractional_start
from family_helpers import assert_bitwise, finite_difference, grad_like, torch_input
from strategies import values

torch.set_num_threads(1)


# ---------------------------------------------------------------------------
# adaptive pooling

def test_describe_adaptive_ten_into_three():
    # 10 / 3 does not divide: the windows overlap (3 and 6 are shared) and are 4 wide
    assert P.describe_adaptive(10, 3) == [(0, 4), (3, 7), (6, 10)]
    assert P.describe_adaptive(7, 7) == [(i, i + 1) for i in range(7)]
    assert P.describe_adaptive(2, 5) == [(0, 1), (0, 1), (0, 2), (1, 2), (1, 2)]
    with pytest.raises(ValueError, match="positive"):
        P.describe_adaptive(0, 3)


def test_describe_adaptive_matches_the_windows_torch_averages():
    for n in range(1, 12):
        for m in range(1, 12):
            x = torch.eye(n, dtype=torch.float64)[None]  # column c is a one-hot at c
            seen = F.adaptive_avg_pool1d(x, m)[0]          # (n, m): which inputs window o holds
            want = [(int(np.flatnonzero(seen[:, o])[0]), int(np.flatnonzero(seen[:, o])[-1]) + 1)
                    for o in range(m)]
            assert P.describe_adaptive(n, m) == want


def test_adaptive_hand_worked():
    x = np.arange(10.0).reshape(1, 1, 10)
    # windows [0, 4), [3, 7), [6, 10)
    np.testing.assert_array_equal(P.adaptive_avg_pool2d(x, (1, 3))[0, 0], [1.5, 4.5, 7.5])
    y, idx = P.adaptive_max_pool2d(x, (1, 3), return_indices=True)
    np.testing.assert_array_equal(y[0, 0], [3, 6, 9])
    np.testing.assert_array_equal(idx[0, 0], [3, 6, 9])
    # cells 3 and 6 belong to two windows each: they get both shares
    g = P.adaptive_avg_pool2d_backward(np.ones((1, 1, 3)), x.shape)
    np.testing.assert_array_equal(g[0, 0], [.25, .25, .25, .5, .25, .25, .5, .25, .25, .25])



def test_adaptive_output_size_none_keeps_the_dimension():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    assert P.adaptive_avg_pool2d(x, (None, 3)).shape == (2, 3, 5, 3)
    assert P.adaptive_max_pool2d(x, (2, None)).shape == (2, 3, 2, 7)
    assert P.adaptive_avg_pool2d(x, 0).shape == (2, 3, 0, 0)  # as PyTorch: empty, not an error


def test_adaptive_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 7 * 5).reshape(2, 1, 7, 5) / 10.0  # distinct: no ties at the max
    g = rng.standard_normal((2, 1, 3, 4))
    fd = finite_difference(lambda v: P.adaptive_avg_pool2d(v, (3, 4)), x, g)
    np.testing.assert_allclose(P.adaptive_avg_pool2d_backward(g, x.shape), fd, atol=1e-8)
    _, idx = P.adaptive_max_pool2d(x, (3, 4), return_indices=True)
    fd = finite_difference(lambda v: P.adaptive_max_pool2d(v, (3, 4)), x, g)
    np.testing.assert_allclose(P.adaptive_max_pool2d_backward(g, idx, x.shape), fd, atol=1e-8)


# ---------------------------------------------------------------------------
# fractional max pooling


def test_fractional_alpha_is_computed_in_float32_as_torch_does():
    # samples found by search where (i + u) * alpha lands so near an integer
    # that float32 and float64 arithmetic pick different window starts
    u = np.array([[[0.2941164970397949, 0.1851840764284134]]], np.float32)  # (u_w, u_h)
    kernel, out, size = (3, 1), (26, 33), (30, 35)
    starts = [[fractional_start(o, samples, axis, size[1 - axis], kernel[1 - axis], out[1 - axis])
               for o in range(out[1 - axis])] for samples in (u[0, 0], u[0, 0].astype(np.float64))
              for axis in (0, 1)]
    assert starts[:2] != starts[2:]  # float64 would place some windows elsewhere
    x = np.random.default_rng(0).standard_normal((1, 1) + size).astype(np.float32)
    y, idx = P.fractional_max_pool2d(x, kernel, output_size=out, return_indices=True,
                                     random_samples=u)
    ty, tidx = F.fractional_max_pool2d(torch.from_numpy(x), kernel, output_size=out,
                                       return_indices=True, _random_samples=torch.from_numpy(u))
    assert_bitwise(idx, tidx)
    assert_bitwise(y, ty)


def test_fractional_generator_is_reproducible_and_ratio_sizes_the_output():
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 9))
    a = P.fractional_max_pool2d(x, 2, output_ratio=0.5, generator=7)
    b = P.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), generator=np.random.default_rng(7))
    assert a.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(a, b)
    # the samples are the generator's first draw, shape (N, C, 2) in the input dtype
    u = np.random.default_rng(7).random((2, 3, 2))
    np.testing.assert_array_equal(a, P.fractional_max_pool2d(x, 2, output_size=(5, 4),
                                                             random_samples=u))


def test_fractional_windows_cover_the_input():
    # every window lies inside; the first starts at 0 and the last ends at the edge
    x = np.arange(9.0 * 11).reshape(1, 9, 11)
    u = np.array([[[0.999, 0.0]]])
    _, idx = P.fractional_max_pool2d(x, 2, output_size=(4, 5), return_indices=True,
                                     random_samples=u)
    # x increases along rows and columns: each max is its window's bottom-right cell
    rows, cols = idx[0] // 11, idx[0] % 11
    assert rows[0, 0] == 1 and rows[-1, 0] == 8
    assert cols[0, 0] == 1 and cols[0, -1] == 10


def test_fractional_backward_finds_every_window_at_large_sizes():
    # the gather checks only the windows that could hold a cell, a range
    # computed without the samples: compare with a plain scatter of the
    # gradient to the argmaxes (np.add.at adds in the same order)
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        for _ in range(6):
            k = tuple(int(v) for v in rng.integers(1, 6, 2))
            size = tuple(int(v) for v in rng.integers(40, 400, 2))
            out = tuple(int(rng.integers(2, n - kk + 2)) for n, kk in zip(size, k))
            x = rng.integers(0, 4, (2, 1) + size).astype(dtype)  # ties: shared argmaxes
            y, idx = P.fractional_max_pool2d(x, k, output_size=out, return_indices=True,
                                             generator=rng)
            g = rng.standard_normal(y.shape).astype(dtype)
            want = np.zeros((2, size[0] * size[1]), dtype)
            for p in range(2):
                np.add.at(want[p], idx[p, 0].ravel(), g[p, 0].ravel())
            got = P.fractional_max_pool2d_backward(g, idx, x.shape, k)
            np.testing.assert_array_equal(got.reshape(2, -1), want)


def test_fractional_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 9 * 8).reshape(2, 1, 9, 8) / 10.0
    u = rng.random((2, 1, 2))
    args = dict(kernel_size=(3, 2), output_size=(4, 5), random_samples=u)
    y, idx = P.fractional_max_pool2d(x, return_indices=True, **args)
    g = rng.standard_normal(y.shape)
    fd = finite_difference(lambda v: P.fractional_max_pool2d(v, **args), x, g)
    np.testing.assert_allclose(P.fractional_max_pool2d_backward(g, idx, x.shape, (3, 2)), fd,
                               atol=1e-8)


# ---------------------------------------------------------------------------
# max unpooling


@settings(max_examples=30)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_max_unpool2d_with_colliding_indices_keeps_the_last_write_like_torch(data, dtype):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), 3, 3)
    x = data.draw(values(shape, dtype))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    idx = rng.integers(0, rng.integers(1, 10), shape)  # 9 values into a 3x3 plane: collisions
    u = P.max_unpool2d(x, idx, 1)
    t = torch_input(x)
    # PyTorch splits a plane across threads when N*C is small, and then which
    # of the colliding writes lands last depends on the thread count; on one
    # thread it is the last in row-major order, which pooledu always gives.
    # (Numba's OpenMP layer may have changed the thread count PyTorch sees.)
    torch.set_num_threads(1)
    tu = F.max_unpool2d(t, torch.from_numpy(idx), 1)
    assert_bitwise(u, tu)
    g = grad_like(u)
    tu.backward(torch.from_numpy(g))
    assert_bitwise(P.max_unpool2d_backward(g, idx), t.grad)


def test_max_unpool2d_hand_worked_and_last_write_wins():
    x = np.array([[[1., 2.], [3., 4.]]])
    idx = np.array([[[0, 0], [0, 3]]])
    np.testing.assert_array_equal(P.max_unpool2d(x, idx, 2)[0],
                                  [[3, 0, 0, 4], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    g = np.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_array_equal(P.max_unpool2d_backward(g, idx)[0], [[0, 0], [0, 3]])


def test_max_unpool2d_errors():
    y, idx = P.max_pool2d(np.random.default_rng(0).standard_normal((1, 1, 10, 10)), 2,
                          return_indices=True)
    with pytest.raises(ValueError, match="strictly between 8 and 12"):
        P.max_unpool2d(y, idx, 2, output_size=(12, 11))
    with pytest.raises(ValueError, match="strictly between 8 and 12"):
        P.max_unpool2d(y, idx, 2, output_size=(1, 1, 8, 9))
    with pytest.raises(ValueError, match="output_size"):
        P.max_unpool2d(y, idx, 2, output_size=(1, 9, 9))
    with pytest.raises(ValueError, match=r"index \d+ lies outside the output plane of 9x9"):
        P.max_unpool2d(y, idx, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="index -1"):
        P.max_unpool2d(y, np.where(idx == idx.max(), -1, idx), 2)
    for extreme in (np.iinfo(np.int64).max, np.iinfo(np.int64).min):  # no wrap-around lets one in
        with pytest.raises(ValueError, match=f"index {extreme} lies outside"):
            P.max_unpool2d(y, np.where(idx == idx.max(), extreme, idx), 2)
    with pytest.raises(TypeError, match="indices"):
        P.max_unpool2d(y, idx.astype(np.int32), 2)
    with pytest.raises(ValueError, match="indices"):
        P.max_unpool2d(y, idx[..., :2], 2)
    assert P.max_unpool2d(y, idx, 2, output_size=(1, 1, 11, 11)).shape == (1, 1, 11, 11)
    with pytest.raises(ValueError, match="outside the output plane"):
        P.max_unpool2d_backward(np.zeros((1, 1, 9, 9)), idx)
