"""Helpers shared by the pooling-family tests (test_family_*.py)."""

import numpy as np
import torch


def torch_input(x):
    return torch.from_numpy(np.array(x)).requires_grad_(True)


def grad_like(y, seed=1):
    """An output gradient with distinct values, so misrouted gradients show."""
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


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


def finite_difference(f, x, g, h=1e-6):
    """dL/dx for L = sum(f(x) * g), by central differences (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = ((f(xp) - f(xm)) * g).sum() / (2 * h)
    return grad


def outcome(fn):
    """None if fn runs, else the exception type."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we classify every failure
        return type(e)
    return None
