"""Every number the explorer page shows, computed by pooledu over the grid of control values.

The page is a drawing of this data and nothing more: for each setting of its
controls this module runs the forward kernel (:func:`pooledu.max_pool2d` with
``return_indices=True`` or :func:`pooledu.avg_pool2d`), the backward kernel,
:func:`pooledu.explain.explain` for the output-size arithmetic, and, where a
setting breaks a rule, keeps the ``ValueError`` that the kernel's checks
raise, in their words. Window taps come from :func:`pooledu.geometry.window_taps`.

Inputs are square and float32, as in a network. The gradient view is the
backward kernel run on ``grad_output = 1`` for outputs ``0 .. t`` (row-major)
and 0 after, for every step ``t``: all the steps of one setting are one
batched call, with step ``t`` in batch entry ``t``, so the last step is the
full gradient of ``sum(y)`` and every intermediate picture also comes from
the kernel.
"""

import itertools
from contextlib import contextmanager

import numba
import numpy as np

from ..explain import explain
from ..geometry import ceil_mode_windows, window_taps
from ..ops import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward

#: The values each control of the page offers, in the order the page lists them.
CONTROLS = {
    "size": [2, 3, 4, 5, 6, 7, 8],
    "kernel": [1, 2, 3, 4],
    "stride": [1, 2, 3, 4],
    "padding": [0, 1, 2],
    "dilation": [1, 2, 3],  # 3 on a 2-wide input makes a window of padding only
    "ceil_mode": [False, True],
    "mode": ["max", "avg"],
    "count_include_pad": [True, False],
}

#: The setting the page opens with: 3x3 windows, stride 2, padding 1, on 6x6.
DEFAULTS = {"size": 6, "kernel": 3, "stride": 2, "padding": 1, "dilation": 1,
            "ceil_mode": False, "mode": "max", "count_include_pad": True}


@contextmanager
def one_thread():
    """Run the kernels on one Numba thread inside the block.

    The explorer makes thousands of calls on planes of a few dozen cells, where
    waking a second thread costs far more than the work (on a busy two-core
    machine, 14 ms against 0.4 ms per call).
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def demo_input(size):
    """The fixed input plane of the explorer: whole numbers 0..9, seeded by ``size``.

    Small whole numbers make ties common, so the page can show which of two
    equal values a max window picks (the first in row-major order).

    >>> demo_input(4).tolist()[0]
    [7.0, 9.0, 8.0, 5.0]
    """
    return np.random.default_rng(size).integers(0, 10, (size, size)).astype(np.float32)


def config_key(mode, size, kernel, stride, padding, dilation, ceil_mode, count_include_pad):
    """The key of one setting in the page's data, as its script builds it.

    Average pooling has no dilation and max pooling no ``count_include_pad``,
    so those are left out of the key, and the page disables those controls.

    >>> config_key("max", 6, 3, 2, 1, 1, False, True)
    'max|6|3|2|1|1|0'
    >>> config_key("avg", 6, 3, 2, 1, 1, True, False)
    'avg|6|3|2|1|0|1'
    """
    tail = dilation if mode == "max" else int(count_include_pad)
    return f"{mode}|{size}|{kernel}|{stride}|{padding}|{tail}|{int(ceil_mode)}"


def geometry_key(size, kernel, stride, padding, dilation, ceil_mode):
    """The key of one window geometry (shared by max and average pooling).

    >>> geometry_key(6, 3, 2, 1, 1, True)
    '6|3|2|1|1|1'
    """
    return f"{size}|{kernel}|{stride}|{padding}|{dilation}|{int(ceil_mode)}"


def _number(v):
    """A float32 value for JSON: the shortest decimal that reads back as the same
    float32 (as NumPy prints it), and None for -inf (a window of padding only)."""
    if np.isneginf(v):
        return None
    f = float(np.format_float_positional(np.float32(v), unique=True, trim="-"))
    return int(f) if f == int(f) else f


def _numbers(a):
    return [_number(v) for v in np.asarray(a).ravel()]


def _step_gradients(n_out):
    """grad_output for every step at once: entry t is 1 on outputs 0..t, row-major."""
    steps = np.tril(np.ones((n_out * n_out, n_out * n_out), np.float32))
    return steps.reshape(n_out * n_out, 1, n_out, n_out)  # (steps, C=1, H_out, W_out)


def _changes(grads):
    """The steps' gradients as what each step changes: for step t the flat pairs
    ``[cell, value, cell, value, ...]`` of the cells whose value differs from step
    t - 1 (from zeros for step 0). Replaying them rebuilds every step exactly,
    and takes a few pairs per step instead of a whole plane."""
    planes = grads.reshape(len(grads), -1)
    previous = np.zeros_like(planes[0])
    changes = []
    for plane in planes:
        cells = np.flatnonzero(plane != previous)
        changes.append([v for c in cells for v in (int(c), _number(plane[c]))])
        previous = plane
    return changes


def replay(changes, size):
    """Each step's gradient plane in turn, rebuilt from :func:`_changes`'s pairs as the page does.

    >>> [plane.tolist() for plane in replay([[0, 1.0], [0, 2.0, 3, 1.0]], 2)]
    [[[1.0, 0.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]]]
    """
    plane = np.zeros(size * size, np.float32)
    for pairs in changes:
        plane[pairs[0::2]] = pairs[1::2]
        yield plane.reshape(size, size).copy()


def _max_result(x, kernel, stride, padding, dilation, ceil_mode):
    window = (kernel, stride, padding, dilation, ceil_mode)
    y, idx = max_pool2d(x[None], *window, return_indices=True)  # (1, H_out, W_out)
    n_out = y.shape[-1]
    steps = n_out * n_out
    g = max_pool2d_backward(_step_gradients(n_out), np.broadcast_to(idx, (steps, 1, n_out, n_out)),
                            (steps, 1) + x.shape, *window)
    return {"out": n_out, "y": _numbers(y), "idx": [int(i) for i in idx.ravel()],
            "grad": _changes(g)}


def _avg_result(x, kernel, stride, padding, ceil_mode, count_include_pad):
    window = (kernel, stride, padding, ceil_mode, count_include_pad)
    y = avg_pool2d(x[None], *window)
    n_out = y.shape[-1]
    steps = n_out * n_out
    g = avg_pool2d_backward(_step_gradients(n_out), (steps, 1) + x.shape, *window)
    # each window's divisor, read back from the backward kernel: gradient 1 on
    # window t alone gives 1/divisor on every cell it counts
    single = np.eye(steps, dtype=np.float64).reshape(steps, 1, n_out, n_out)
    share = avg_pool2d_backward(single, (steps, 1) + x.shape, *window).reshape(steps, -1).max(1)
    return {"out": n_out, "y": _numbers(y), "div": [int(round(1 / s)) for s in share],
            "grad": _changes(g)}


def _geometry(size, kernel, stride, padding, dilation, ceil_mode):
    entry = {"explain": explain(size, kernel, stride, padding, dilation, ceil_mode)}
    if "\ninvalid:" not in entry["explain"]:
        n_out = int(entry["explain"].split("Output size: ")[1].split("\n")[0])
        entry["taps"] = [window_taps(o, kernel, stride, padding, dilation, size)[0]
                         for o in range(n_out)]
        entry["dropped"] = None
        if ceil_mode:
            try:
                dropped = ceil_mode_windows(size, kernel, stride, padding, dilation)[2]
            except ValueError:  # floor mode fits no window; then ceil mode drops none
                dropped = None
            if dropped is not None:  # the taps of the window that ceil mode drops
                entry["dropped"] = window_taps(dropped, kernel, stride, padding, dilation, size)[0]
    return entry


def build_data(controls=None):
    """Run the kernels over every setting of the controls; return the page's data.

    Parameters
    ----------
    controls : dict, optional
        The values of each control (default :data:`CONTROLS`); a smaller grid
        keeps tests short.

    Returns
    -------
    dict
        ``controls``, ``defaults``, ``inputs`` (size -> rows of the input
        plane), ``geometry`` (:func:`geometry_key` -> explain text and, when
        valid, each window's tap positions along one dimension, and those of
        the window ceil mode drops, if any) and
        ``results`` (:func:`config_key` -> ``out``, ``y``, ``idx`` (max) or
        ``div`` (average), ``grad``: one input-sized gradient per step, all
        flattened row-major; or ``error``: the kernel's message for a setting
        that breaks a rule).

    Examples
    --------
    >>> data = build_data(dict(CONTROLS, size=[4], kernel=[2], stride=[2], padding=[0],
    ...                        dilation=[1]))
    >>> data["results"]["max|4|2|2|0|1|0"]["y"]
    [9, 9, 8, 5]
    """
    controls = dict(CONTROLS if controls is None else controls)
    with one_thread():
        return _run(controls)


def _run(controls):
    data = {"controls": controls, "defaults": DEFAULTS, "inputs": {}, "geometry": {},
            "results": {}}
    for size in controls["size"]:
        x = demo_input(size)
        data["inputs"][str(size)] = x.astype(int).tolist()
        for k, s, p, d, ceil in itertools.product(controls["kernel"], controls["stride"],
                                                   controls["padding"], controls["dilation"],
                                                   controls["ceil_mode"]):
            data["geometry"][geometry_key(size, k, s, p, d, ceil)] = _geometry(size, k, s, p, d, ceil)
            for mode, cip in itertools.product(controls["mode"], controls["count_include_pad"]):
                if (mode == "max" and not cip) or (mode == "avg" and d != 1):
                    continue  # the same setting as another key (see config_key)
                key = config_key(mode, size, k, s, p, d, ceil, cip)
                try:
                    if mode == "max":
                        result = _max_result(x, k, s, p, d, ceil)
                    else:
                        result = _avg_result(x, k, s, p, ceil, cip)
                except ValueError as err:  # a rule broken: the page shows it as stated
                    result = {"error": str(err)}
                data["results"][key] = result
    return data
