"""Helpers shared by the pooling-family tests (test_family_*.py)."""

import numpy as np
import torch

# the 2D tests' helpers, shared rather than copied
from finite_differences import numeric_gradient as finite_difference  # noqa: F401
from test_pool2d import grad_like, torch_input  # noqa: F401


def assert_bitwise(ours, theirs):
    """Same shape, dtype and values, NaN where NaN (the max pooling contract)."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_array_equal(ours, theirs, strict=True)


def assert_ulps(ours, theirs, ulps):
    """Same NaN and inf positions; finite values within ``ulps`` units in the last place."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    inf = np.isinf(theirs)
    np.testing.assert_array_equal(ours[inf], theirs[inf])
    ok = np.isfinite(theirs)
    if ok.any():
        spacing = np.spacing(np.abs(theirs[ok]).astype(ours.dtype))
        assert np.all(np.abs(ours[ok] - theirs[ok]) <= ulps * spacing), \
            np.max(np.abs(ours[ok] - theirs[ok]) / spacing)


def assert_grad_close(ours, theirs):
    """Gradients that went through pow: close relative to the array's scale."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = np.isfinite(theirs)
    np.testing.assert_array_equal(ours[~ok & ~np.isnan(theirs)], theirs[~ok & ~np.isnan(theirs)])
    if ok.any():
        rtol = 2e-5 if ours.dtype == np.float32 else 1e-12
        scale = np.abs(theirs[ok]).max()
        np.testing.assert_allclose(ours[ok], theirs[ok], rtol=rtol, atol=rtol * scale)
