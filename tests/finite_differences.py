"""Central finite differences, the oracle that needs no other library."""

import numpy as np


def numeric_gradient(f, x, g, h=1e-6):
    """The whole gradient of sum(f(x) * g) with respect to x, by central differences."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = ((f(xp) - f(xm)) * g).sum() / (2 * h)
    return grad


def check_gradient(loss, array, grad, samples=8, eps=1e-6, tol=1e-6, seed=0):
    """Compare ``grad`` with (loss(a + eps) - loss(a - eps)) / 2eps at a few entries of ``array``.

    ``loss`` is a function of no arguments that reads ``array`` (float64), which is
    perturbed in place and restored.
    """
    rng = np.random.default_rng(seed)
    for flat in rng.choice(array.size, min(samples, array.size), replace=False):
        i = np.unravel_index(flat, array.shape)
        old = array[i]
        array[i] = old + eps
        up = loss()
        array[i] = old - eps
        down = loss()
        array[i] = old
        numeric = (up - down) / (2 * eps)
        assert abs(numeric - grad[i]) <= tol * max(1.0, abs(numeric)), (i, numeric, grad[i])
