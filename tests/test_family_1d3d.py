"""1D and 3D max and average pooling against PyTorch, bit for bit.

1D runs through the 2D kernels with H = 1; 3D has volume formulas whose max
combines the 2D max of each depth slice. Both must give PyTorch's values,
indices (flat per plane / volume) and gradients exactly.

The generated cases (hypothesis) of every operation run in ``test_operations.py``,
from the rows of ``operations.py``; this file holds the hand-worked cases and
the properties that are particular to 1D and 3D pooling.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pooledu as P
from family_helpers import finite_difference

torch.set_num_threads(1)



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
