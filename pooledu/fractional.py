"""Fractional max pooling (Graham, 2014): windows at a pseudo-random fractional stride."""

import numpy as np

from .backend import CPU, backend_for, is_device_array
from .checks import (as_grad_planes, check_array, check_indices, check_input, check_input_shape,
                     planes)
from .dispatch import kernel
from .geometry import FRACTIONAL, as_bool, as_tuple, fractional_output_size


def _fractional_samples(random_samples, generator, x, op):
    """This call's (u_w, u_h) per plane, shape (P, 2), in the input dtype."""
    lead = (1,) + x.shape[:1] if x.ndim == 3 else x.shape[:2]  # (N, C); N = 1 for (C, H, W)
    if random_samples is None:
        is_seed = isinstance(generator, (int, np.integer)) and not isinstance(generator, bool)
        if not (generator is None or isinstance(generator, np.random.Generator) or is_seed):
            raise TypeError(f"{op}: generator must be None, a numpy.random.Generator or an int "
                            f"seed, got {generator!r} of type {type(generator).__name__}")
        if is_seed and generator < 0:
            raise ValueError(f"{op}: generator, as a seed, must be non-negative, "
                             f"got generator={generator}")
        return np.random.default_rng(generator).random(lead + (2,), dtype=x.dtype).reshape(-1, 2)
    if generator is not None:
        raise ValueError(f"{op}: give random_samples or generator, not both")
    check_array(random_samples, "random_samples", op)
    if random_samples.dtype != x.dtype:
        raise TypeError(f"{op}: random_samples must have the input's dtype {x.dtype}, "
                        f"got {random_samples.dtype}")
    if random_samples.shape != lead + (2,):
        raise ValueError(f"{op}: random_samples must have shape (N, C, 2) = {lead + (2,)}, "
                         f"got {random_samples.shape}")
    if random_samples.size and not (random_samples.min() >= 0 and random_samples.max() < 1):
        raise ValueError(f"{op}: random_samples must lie in [0, 1), got values from "
                         f"{random_samples.min()} to {random_samples.max()}")
    return np.ascontiguousarray(random_samples).reshape(-1, 2)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, random_samples=None, generator=None):
    """Fractional max pooling (Graham, 2014), as ``torch.nn.functional.fractional_max_pool2d``.

    Max pooling with kernel_size windows whose starts advance by a
    fractional stride ``alpha = (H - kh) / (OH - 1)``: row window i starts at
    ``int((i + u) * alpha) - int(u * alpha)`` (the last at ``H - kh``), with
    ``u`` a random number in [0, 1) drawn per (n, c) plane and per dimension.

    Parameters
    ----------
    input : ndarray, (C, H, W) or (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
    output_size : int or (int, int), optional
    output_ratio : float or (float, float), optional
        Exactly one of output_size and output_ratio; a ratio in (0, 1) gives
        ``int(H * ratio)``. Each window must fit: ``k + out - 1 <= in``.
    return_indices : bool
    random_samples : ndarray, (N, C, 2), optional
        PyTorch's ``_random_samples``: (u_w, u_h) per plane, in [0, 1), in the
        input's dtype ((1, C, 2) for a (C, H, W) input). With it the result
        equals PyTorch's exactly.
    generator : numpy.random.Generator or int, optional
        Where the samples come from when random_samples is not given: a
        Generator, or a seed for ``numpy.random.default_rng``; None draws
        fresh entropy, so each call picks new windows.

    Notes
    -----
    For a device input the samples live on the host: drawn there, or given
    as a host or device array (a device one is copied to the host, (N, C, 2)
    values), checked there, then copied to the device for the kernel.

    Deliberate differences from PyTorch: giving both output_size and
    output_ratio is an error (PyTorch ignores the ratio); a float
    output_ratio is accepted (PyTorch 2.13 fails on it); an output size of 0
    and samples outside [0, 1) (which would move windows off the input) are
    errors.

    Examples
    --------
    With u = 0.5, alpha = 1.5 and the windows start at 0, 2 and 3:

    >>> x = np.arange(25.0).reshape(1, 5, 5)
    >>> u = np.array([[[0.5, 0.5]]])
    >>> fractional_max_pool2d(x, 2, output_size=3, random_samples=u)[0]
    array([[ 6.,  8.,  9.],
           [16., 18., 19.],
           [21., 23., 24.]])
    """
    op = "fractional_max_pool2d"
    be = backend_for(op, input=input)
    input = check_input(input, op, be=be)
    xb = planes(input)
    if be is not CPU and is_device_array(random_samples):  # (N, C, 2): checked on the host
        random_samples = be.asarray(random_samples).copy_to_host()
    kh_kw = as_tuple(kernel_size, "kernel_size", op)
    out = fractional_output_size(op, xb.shape[1:], kh_kw, output_size, output_ratio)
    return_indices = as_bool(return_indices, "return_indices", op)
    samples = be.from_host(_fractional_samples(random_samples, generator, input, op))
    y = be.empty((xb.shape[0],) + out, xb.dtype)
    idx = be.empty(y.shape, np.int64)
    kernel("fractional_max_pool2d", be)(xb, samples, y, idx, *kh_kw)
    out_shape = input.shape[:-2] + out
    y = y.reshape(out_shape)
    return (y, idx.reshape(out_shape)) if return_indices else y


def fractional_max_pool2d_backward(grad_output, indices, input_shape, kernel_size):
    """Gradient of :func:`fractional_max_pool2d`: each output gradient goes to its argmax.

    A gather: each input cell checks the few windows that could hold it
    whatever the random samples were, which the kernel size and the sizes
    determine; the samples themselves are not needed.

    Examples
    --------
    >>> fractional_max_pool2d_backward(np.ones((1, 1, 2)), np.array([[[1, 1]]]), (1, 1, 3), (1, 2))
    array([[[0., 2., 0.]]])
    """
    op = "fractional_max_pool2d_backward"
    shape = check_input_shape(input_shape, op, 2)
    kh_kw = as_tuple(kernel_size, "kernel_size", op)
    be = backend_for(op, indices=indices, grad_output=grad_output)
    indices = check_array(indices, "indices", op, be)
    if indices.ndim != len(shape) or indices.shape[:-2] != shape[:-2]:
        raise ValueError(f"{op}: indices must have shape {shape[:-2]} + output size, "
                         f"got {indices.shape}")
    fractional_output_size(op, shape[-2:], kh_kw, indices.shape[-2:])  # the forward's rules
    idx = as_grad_planes(indices, indices.shape, np.int64, op, "indices", spatial=2, be=be)
    g = as_grad_planes(grad_output, indices.shape, None, op, spatial=2, be=be)
    check_indices(idx.reshape(indices.shape), shape[-2:], op, FRACTIONAL, kh_kw)
    gx = be.empty((g.shape[0],) + shape[-2:], g.dtype)
    kernel("fractional_max_pool2d_backward", be)(g, idx, gx, *kh_kw)
    return gx.reshape(shape)
