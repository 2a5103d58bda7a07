"""2D max, average and global pooling against PyTorch, the oracle.

Max pooling must match bit for bit (values, indices, gradients); average
pooling too, since the kernels add in PyTorch's order; global average pooling
(which PyTorch computes with a pairwise mean) to a few ulps.

The generated cases (hypothesis) of every operation run in ``test_operations.py``,
from the rows of ``operations.py``; this file holds the hand-worked cases and
the properties that are particular to the 2D core.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pooledu as P
from finite_differences import numeric_gradient

torch.set_num_threads(1)


def torch_input(x):
    return torch.from_numpy(np.array(x)).requires_grad_(True)


def grad_like(y, seed=1):
    """An output gradient with distinct values, so misrouted gradients show."""
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


# ---------------------------------------------------------------------------
# hand-worked cases

def test_four_by_four_into_two_by_two():
    x = np.array([[1, 3, 2, 1],
                  [4, 6, 5, 7],
                  [8, 2, 0, 1],
                  [3, 4, 9, 2]], dtype=np.float32)[None]
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y[0], [[6, 7], [8, 9]])
    np.testing.assert_array_equal(idx[0], [[5, 7], [8, 14]])
    np.testing.assert_array_equal(P.avg_pool2d(x, 2)[0], [[3.5, 3.75], [4.25, 3.0]])


def test_edge_detector_patch_max_keeps_the_feature_mean_dilutes_it():
    patch = np.array([[[0.1, 8.5], [0.2, 0.1]]])
    assert P.max_pool2d(patch, 2)[0, 0, 0] == 8.5
    assert P.avg_pool2d(patch, 2)[0, 0, 0] == pytest.approx(2.225, abs=1e-15)


def test_26_by_26_becomes_13_by_13():
    x = np.random.default_rng(0).random((1, 26, 26))
    y = P.max_pool2d(x, 2, 2)
    assert y.shape == (1, 13, 13)
    assert x.size / y.size == 4


def test_arange_indices_as_in_pytorch_tests():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    _, idx = P.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[5, 7], [13, 15]])


@pytest.mark.parametrize("size, k, s, p, d, ceil, expected", [
    (26, 2, 2, 0, 1, False, 13),
    (112, 3, 2, 1, 1, False, 56),
    (5, 1, 2, 0, 1, True, 3),    # PyTorch's test_pooling_shape: 5x6 -> 3x3
    (6, 1, 2, 0, 1, True, 3),
    (7, 1, 2, 0, 1, True, 4),    # 6x7 -> 3x4
    (5, 2, 2, 0, 1, True, 3),    # the partial window at the end counts
    (4, 2, 2, 1, 1, True, 3),    # the last window would start in the padding: dropped
    (13, 3, 2, 0, 1, False, 6),
    (13, 3, 2, 0, 1, True, 6),
    (10, 3, 1, 1, 2, False, 8),
])
def test_pool_output_size(size, k, s, p, d, ceil, expected):
    assert P.pool_output_size(size, k, s, p, d, ceil) == expected


def test_pool_output_size_matches_torch_over_a_grid():
    for n in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for d in (1, 2):
                        for ceil in (False, True):
                            x = torch.zeros(1, 1, n)
                            try:
                                want = F.max_pool1d(x, k, s, p, d, ceil).shape[-1]
                            except RuntimeError:
                                with pytest.raises(ValueError):
                                    P.pool_output_size(n, k, s, p, d, ceil)
                                continue
                            assert P.pool_output_size(n, k, s, p, d, ceil) == want


# ---------------------------------------------------------------------------
# parity with PyTorch: forward and backward


# ---------------------------------------------------------------------------
# gradients against finite differences, in float64

@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [
    (2, 2, 0, False), (3, 2, 1, False), (3, 1, 1, True), ((2, 3), (1, 2), (1, 0), True)])
def test_gradients_match_finite_differences(kernel, stride, padding, ceil_mode):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 6 * 7).reshape(2, 1, 6, 7) / 10.0  # distinct: no ties at the max
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)

    y, idx = P.max_pool2d(x, return_indices=True, **args)
    g = rng.standard_normal(y.shape)
    fd = numeric_gradient(lambda v: P.max_pool2d(v, **args), x, g)
    np.testing.assert_allclose(P.max_pool2d_backward(g, idx, x.shape, **args), fd, atol=1e-8)

    y = P.avg_pool2d(x, **args)
    fd = numeric_gradient(lambda v: P.avg_pool2d(v, **args), x, g)
    np.testing.assert_allclose(P.avg_pool2d_backward(g, x.shape, **args), fd, atol=1e-8)


def test_global_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.permutation(2 * 3 * 4 * 5).reshape(2, 3, 4, 5) / 7.0
    g = rng.standard_normal((2, 3))
    fd = numeric_gradient(P.global_avg_pool2d, x, g)
    np.testing.assert_allclose(P.global_avg_pool2d_backward(g, x.shape), fd, atol=1e-8)
    _, idx = P.global_max_pool2d(x, return_indices=True)
    fd = numeric_gradient(P.global_max_pool2d, x, g)
    np.testing.assert_allclose(P.global_max_pool2d_backward(g, idx, x.shape), fd, atol=1e-8)


# ---------------------------------------------------------------------------
# edge semantics

def test_nan_wins_and_ties_keep_the_first():
    x = np.array([[[1.0, 1.0, 0.0, np.nan],
                   [1.0, 0.0, np.nan, 5.0]]])
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    assert y[0, 0, 0] == 1.0 and idx[0, 0, 0] == 0
    assert np.isnan(y[0, 0, 1])
    # every NaN takes the lead as it is met, so the last NaN holds the index
    t_y, t_idx = F.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    assert idx[0, 0, 1] == t_idx[0, 0, 1] == 6


def test_window_of_padding_only_gives_minus_inf_and_no_gradient():
    # the configuration that makes PyTorch 2.13's CPU backward write out of bounds
    x = np.random.default_rng(0).standard_normal((1, 2, 2, 7))
    args = dict(kernel_size=(2, 3), stride=(1, 3), padding=1, dilation=3)
    y, idx = P.max_pool2d(x, return_indices=True, **args)
    assert (idx == -1).any()
    assert np.all(np.isneginf(y[idx == -1]))
    gx = P.max_pool2d_backward(np.ones_like(y), idx, x.shape, **args)
    assert gx.sum() == (idx != -1).sum()


@pytest.mark.parametrize("channels_last", [False, True])
def test_window_spanning_more_than_2_to_the_30_cells(channels_last):
    # the fast schedules keep offsets within a window in int32 and hand this one on
    x = np.random.default_rng(0).standard_normal((1, 3, 1, 1024)).astype(np.float32)
    if channels_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    args = dict(kernel_size=(2**20 + 1, 1024), padding=(2**19, 0), return_indices=True)
    y, idx = P.max_pool2d(x, **args)
    t_y, t_idx = F.max_pool2d(torch.from_numpy(np.ascontiguousarray(x)), **args)
    np.testing.assert_array_equal(y, t_y.numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())


def test_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float32)
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    assert y.shape == idx.shape == (0, 3, 2, 2)
    assert P.max_pool2d_backward(y, idx, x.shape, 2).shape == x.shape
    assert P.avg_pool2d(x, 3, 1, 1).shape == (0, 3, 5, 5)
    assert P.global_avg_pool2d(x).shape == (0, 3)


def test_float32_stays_float32():
    x = np.ones((1, 2, 4, 4), np.float32)
    for y in (P.max_pool2d(x, 2), P.avg_pool2d(x, 2), P.global_avg_pool2d(x), P.global_max_pool2d(x)):
        assert y.dtype == np.float32


# ---------------------------------------------------------------------------
# determinism: a gather gives the same bits on any number of threads

@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 1), (3, 1, 1), (2, 2, 0)])
def test_backward_is_bitwise_deterministic_across_threads(kernel, stride, padding):
    import numba
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 5, 13, 11)).astype(np.float32)  # ties, so windows share argmaxes
    y, idx = P.max_pool2d(x, kernel, stride, padding, return_indices=True)
    g = rng.standard_normal(y.shape).astype(np.float32)
    results = []
    old = numba.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS, 1):
            numba.set_num_threads(threads)
            results.append((P.max_pool2d_backward(g, idx, x.shape, kernel, stride, padding),
                            P.avg_pool2d_backward(g, x.shape, kernel, stride, padding)))
    finally:
        numba.set_num_threads(old)
    for gmax, gavg in results[1:]:
        assert gmax.tobytes() == results[0][0].tobytes()
        assert gavg.tobytes() == results[0][1].tobytes()
