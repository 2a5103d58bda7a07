"""LP pooling against PyTorch.

pooledu runs PyTorch's recipe step by step (x ** p, average pool, root), so
the only differences left come from ``pow``: PyTorch's vectorised pow (Sleef)
is within 1 ulp of the correctly rounded power that pooledu's scalar pow
gives, and is used even for p = 0.5. So outputs are compared to a few ulps,
gradients to a relative 2e-5 (float32) or 1e-12 (float64) of their scale.

The generated cases (hypothesis) of every operation run in ``test_operations.py``,
from the rows of ``operations.py``; this file holds the hand-worked cases and
the properties that are particular to LP pooling.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pooledu as P
from family_helpers import (assert_bitwise, assert_ulps, finite_difference,
                            torch_input)

torch.set_num_threads(1)


def test_lp_hand_worked():
    x = np.array([[[3., 4.], [0., 0.]]])
    assert P.lp_pool2d(x, 2, 2)[0, 0, 0] == 5.0            # Euclidean norm
    assert P.lp_pool2d(x, 1, 2)[0, 0, 0] == 7.0            # sum
    assert P.lp_pool2d(-x, math.inf, 2)[0, 0, 0] == 4.0    # max of |x|
    assert P.lp_pool2d(x + 1, -math.inf, 2)[0, 0, 0] == 1.0  # min of |x|
    np.testing.assert_allclose(P.lp_pool2d_backward(np.ones((1, 1, 1)), x, 2, 2)[0],
                               [[0.6, 0.8], [0.0, 0.0]])


def test_lp_negative_inputs_and_odd_powers_as_torch():
    x = np.array([[[-1., 2.], [3., 0.5]]])
    t = torch.from_numpy(x)
    for p in (1, 2, 3, 0.5, 2.5, -1, -2):
        y = P.lp_pool2d(x, p, 2)
        assert_ulps(y, F.lp_pool2d(t, p, 2), 4)
    assert P.lp_pool2d(x, 1, 2)[0, 0, 0] == 4.5          # a signed sum, not a norm
    assert np.isnan(P.lp_pool2d(x, 0.5, 2)[0, 0, 0])     # sqrt(-1) inside: NaN
    # an odd p whose window sum is negative: the fractional root is NaN
    assert np.isnan(P.lp_pool2d(np.array([[[-3., 1.]]]), 3, (1, 2))[0, 0, 0])


def test_lp_zero_window_has_zero_gradient():
    x = np.zeros((1, 2, 2))
    for p in (2, 3, 1.5):
        gx = P.lp_pool2d_backward(np.ones((1, 1, 1)), x, p, 2)
        t = torch_input(x)
        F.lp_pool2d(t, p, 2).backward(torch.ones(1, 1, 1, dtype=torch.float64))
        assert_bitwise(gx, t.grad)
        assert not gx.any()


def test_lp_ceil_mode_scales_a_partial_window_as_if_full():
    # one 2x2 window, then a partial 2x1 one: its mean is multiplied by 4, not 2
    x = np.ones((1, 2, 3))
    y = P.lp_pool2d(x, 1, 2, ceil_mode=True)
    np.testing.assert_array_equal(y[0], [[4.0, 4.0]])
    assert_bitwise(y, F.lp_pool2d(torch.from_numpy(x), 1, 2, ceil_mode=True))


def test_lp_norm_type_checks():
    x = np.ones((1, 4, 4))
    with pytest.raises(ZeroDivisionError):
        F.lp_pool2d(torch.from_numpy(x), 0, 2)  # PyTorch divides by zero ...
    with pytest.raises(ValueError, match="norm_type must not be zero"):
        P.lp_pool2d(x, 0, 2)                    # ... pooledu says why
    with pytest.raises(TypeError, match="norm_type"):
        P.lp_pool2d(x, "2", 2)
    with pytest.raises(TypeError, match="norm_type"):
        P.lp_pool2d(x, True, 2)
    assert np.isnan(P.lp_pool2d(x, math.nan, 2)).all()  # as PyTorch
    with pytest.raises(ValueError, match="stride"):
        P.lp_pool2d(x, 2, 2, stride=0)
    with pytest.raises(ValueError, match="output size is too small"):
        P.lp_pool2d(x, 2, 5)


def test_lp_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 6 * 7).reshape(2, 1, 6, 7) / 10.0 + 0.5
    for p, args in [(2, dict(kernel_size=2)), (3, dict(kernel_size=(3, 2), stride=1)),
                    (1.5, dict(kernel_size=3, stride=2, ceil_mode=True)),
                    (math.inf, dict(kernel_size=2, stride=1))]:
        y = P.lp_pool2d(x, p, **args)
        g = rng.standard_normal(y.shape)
        fd = finite_difference(lambda v: P.lp_pool2d(v, p, **args), x, g)
        np.testing.assert_allclose(P.lp_pool2d_backward(g, x, p, **args), fd, atol=1e-7)
