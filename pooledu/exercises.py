"""Exercises for every lesson, and the checker behind ``pooledu check N``.

Each lesson ends with two to four exercises. A learner fills them in
``lessons/exercises/NN_name.py``: a *build* exercise is a function to write
(a pooling from scratch, a backward pass, an output-size formula), a
*predict* exercise is a number to write down before running anything.
:func:`check` loads the learner's file and tests every entry against what
pooledu's kernels compute, printing what passed and, for what did not, the
case that failed and a hint. Reference solutions live in
``lessons/solutions/NN_name.py``; the test suite checks that every solution
passes and every untouched exercise file fails.

An exercise that is not done yet is a function that raises
``NotImplementedError`` or a prediction left at ``None``.
"""

import runpy
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from . import analysis, conv, lp, ops, unpool
from .geometry import pool_output_size
from .lessons import LESSON_DIR

ROOT = LESSON_DIR  # the checkout's lessons/, or the copy an installed wheel carries
EXERCISE_DIR = ROOT / "exercises"
SOLUTION_DIR = ROOT / "solutions"


class Failed(Exception):
    """An exercise's answer is wrong; the message names the case."""


class Exercise(NamedTuple):
    name: str          # the function or variable the learner fills in
    kind: str          # "build" or "predict"
    task: str          # what to do, in one line
    check: Callable    # check(answer): returns a short note, raises Failed
    hint: str          # shown when the check fails


# ---------------------------------------------------------------------------
# small helpers for the checks

def _rng(seed=0):
    return np.random.default_rng(seed)


def _same(got, want, case, tol=0.0):
    """``got`` equals ``want`` (to ``tol``) in shape and values, or Failed naming ``case``."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise Failed(f"{case}: expected shape {want.shape}, got {got.shape}")
    if not np.allclose(got, want, rtol=0, atol=tol, equal_nan=True):
        bad = np.argwhere(~np.isclose(got, want, rtol=0, atol=tol, equal_nan=True))[0]
        raise Failed(f"{case}: at {tuple(int(b) for b in bad)} expected "
                     f"{want[tuple(bad)]:.6g}, got {got[tuple(bad)]:.6g}")


def _prediction(want, tol=0.0):
    """A check for a predicted number: within ``tol`` of ``want`` (a number, or a function
    that computes it with pooledu when the check runs)."""
    def check(value):
        nonlocal want
        want = want() if callable(want) else want
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise Failed(f"write a number, got {value!r}")
        if abs(float(value) - float(want)) > tol:
            raise Failed(f"you predicted {value}; pooledu computes {want:.6g}")
        return f"computed: {want:.6g}"
    return check


# ---------------------------------------------------------------------------
# lesson 1: max pooling by hand

def _check_max_pool(f):
    for shape, k, s in [((4, 4), 2, 2), ((5, 7), 3, 2), ((6, 6), 3, 1), ((5, 5), 2, 3)]:
        x = _rng(k + s).standard_normal(shape)
        _same(f(x, k, s), ops.max_pool2d(x[None], k, s)[0], f"max_pool(x {shape}, k={k}, s={s})")
    return "equal to pooledu.max_pool2d on 4 shapes"


def _check_max_via_relu(f):
    x = _rng(1).standard_normal((6, 8))
    _same(f(x), ops.max_pool2d(x[None], 2)[0], "max_pool_2x2_via_relu(x 6x8)", 1e-12)
    return "max(a, b) = a + relu(b - a), three times per window"


# lesson 2: average against max

def _check_avg_weight(f):
    C, k = 3, 2
    w = np.asarray(f(C, k))
    x = _rng(2).standard_normal((2, C, 6, 6))
    _same(conv.conv2d(x, w, stride=k), ops.avg_pool2d(x, k), "conv2d(x, w, stride=2)", 1e-12)
    return "a convolution with fixed weights 1/k^2 on each channel's own window"


def _check_min_pool(f):
    x = _rng(3).standard_normal((6, 6))
    want = np.min(x.reshape(3, 2, 3, 2), axis=(1, 3))
    _same(f(x, 2), want, "min_pool(x 6x6, 2)")
    return "min pooling is -max_pool(-x)"


# lesson 3: output size

def _check_output_size(f):
    for H in range(1, 14):
        for k in (1, 2, 3, 4):
            for s in (1, 2, 3):
                for p in range(k // 2 + 1):
                    for d in (1, 2):
                        for ceil in (False, True):
                            try:
                                want = pool_output_size(H, k, s, p, d, ceil)
                            except ValueError:
                                continue  # a window bigger than the padded input
                            got = f(H, k, s, p, d, ceil)
                            if got != want:
                                raise Failed(f"output_size(H={H}, k={k}, s={s}, p={p}, d={d}, "
                                             f"ceil_mode={ceil}): expected {want}, got {got}")
    return "equal to pooledu.pool_output_size on every valid case up to H = 13"


# lesson 4: backpropagation

def _check_max_backward(f):
    x = _rng(4).permutation(36).astype(float).reshape(6, 6)  # distinct: one winner each
    g = _rng(5).standard_normal((3, 3))
    _, idx = ops.max_pool2d(x[None], 2, return_indices=True)
    _same(f(g, x, 2), ops.max_pool2d_backward(g[None], idx, (1, 6, 6), 2)[0],
          "max_pool_backward(g, x 6x6, k=2)")
    return "each gradient lands on its window's winner"


def _check_avg_backward(f):
    g = _rng(6).standard_normal((2, 2))
    _same(f(g, (5, 5), 3, 2), ops.avg_pool2d_backward(g[None], (1, 5, 5), 3, 2)[0],
          "avg_pool_backward(g, (5, 5), k=3, s=2)", 1e-12)
    return "g / k^2 on each cell of the window; overlaps add up"


def _zeros_max_2x2():
    x = _rng(7).standard_normal((1, 8, 8))
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    gx = ops.max_pool2d_backward(np.ones_like(y), idx, x.shape, 2)
    return float((gx == 0).mean())


# lesson 5: translation invariance

def _check_same_output(f):
    for a in range(16):
        for b in range(16):
            for layers in (1, 2, 3):
                x, y = np.zeros((1, 1, 16)), np.zeros((1, 1, 16))
                x[0, 0, a], y[0, 0, b] = 1, 1
                want = bool(np.array_equal(analysis.pool_stack(x, layers, (1, 2)),
                                           analysis.pool_stack(y, layers, (1, 2))))
                if bool(f(a, b, layers)) != want:
                    raise Failed(f"same_output({a}, {b}, layers={layers}): expected {want}")
    return "a feature stays put when both columns fall in the same 2^L block"


def _absorbed_two_layers():
    """A single feature at each column 0..31 (eight 4-wide blocks), moved one column right."""
    before, after = np.zeros((32, 1, 36)), np.zeros((32, 1, 36))
    before[np.arange(32), 0, np.arange(32)] = 1
    after[np.arange(32), 0, np.arange(32) + 1] = 1
    pooled = [analysis.pool_stack(v, 2, (1, 2)) for v in (before, after)]
    return float((pooled[0] == pooled[1]).all(axis=(1, 2)).mean())


# lesson 6: global average pooling

def _check_gap(f):
    x = _rng(8).standard_normal((5, 7, 3))
    _same(f(x), ops.global_avg_pool2d(x[None])[0], "gap(x 5x7x3)", 1e-12)
    return "one mean per channel"


def _head_ratio():
    weights = analysis.head_params(256, 14, 10)
    return weights["flatten + FC"] / weights["global avg pool + FC"]


# lesson 7: cost and receptive field

def _check_receptive(f):
    stacks = [[("conv", 3, 1)] * 3, [("conv", 3, 1), ("pool", 2, 2)] * 3,
              [("conv", 7, 2), ("pool", 3, 2), ("conv", 3, 1), ("conv", 3, 2)]]
    for layers in stacks:
        want = analysis.receptive_field(layers)[-1].size
        got = f([(k, s) for _, k, s in layers])
        if got != want:
            raise Failed(f"receptive_field({[(k, s) for _, k, s in layers]}): expected {want}, "
                         f"got {got}")
    return "r = 1 + sum of (k_l - 1) times the strides before layer l"


def _stack_weights():
    return 3 * 3 * 3 * 32 + 2 * (3 * 3 * 32 * 32)


# lesson 8: strided convolution against pooling

def _check_counterexample(f):
    a, b = (np.asarray(v, dtype=np.float64) for v in f())
    if a.shape != (2, 2) or b.shape != (2, 2):
        raise Failed(f"return two 2x2 arrays, got shapes {a.shape} and {b.shape}")
    mp = lambda v: ops.max_pool2d(v[None], 2)[0, 0, 0]  # noqa: E731
    if mp(a + b) == mp(a) + mp(b):
        raise Failed(f"max(a + b) = {mp(a + b)} equals max(a) + max(b) = {mp(a) + mp(b)}")
    return f"max(a + b) = {mp(a + b):g} but max(a) + max(b) = {mp(a) + mp(b):g}: not linear"


def _check_conv_flops(f):
    for args in [(224, 3, 64, 7, 2, 3), (56, 64, 64, 3, 2, 1), (56, 64, 128, 1, 2, 0)]:
        want, got = analysis.conv_flops(*args), f(*args)
        if got != want:
            raise Failed(f"conv_flops{args}: expected {want:,}, got {got}")
    return "2 * out^2 * C_out * C_in * k^2"


# lesson 9: modern alternatives

def _check_softmax_pool(f):
    x = _rng(9).standard_normal((4, 6))
    _same(f(x, 2, 0.0), ops.avg_pool2d(x[None], 2)[0], "softmax_pool(x, 2, beta=0)", 1e-12)
    ints = _rng(10).permutation(24).astype(float).reshape(4, 6)
    _same(f(ints, 2, 60.0), ops.max_pool2d(ints[None], 2)[0], "softmax_pool(x, 2, beta=60)",
          1e-6)
    w = x[:2, :2].ravel()
    want = (np.exp(w) / np.exp(w).sum() * w).sum()
    _same(f(x, 2, 1.0)[0, 0], want, "softmax_pool(x, 2, beta=1), window (0, 0)", 1e-12)
    return "beta = 0 is average pooling; a large beta approaches max pooling"


def _unet_output():
    n = 572
    for level in range(5):
        n = pool_output_size(pool_output_size(n, 3, 1), 3, 1)
        n = pool_output_size(n, 2) if level < 4 else n
    for _ in range(4):
        n = pool_output_size(pool_output_size(2 * n, 3, 1), 3, 1)
    return n


# lesson 10: making the loops fast

def _check_tap_order(f):
    x = _rng(11).standard_normal((9, 11)).astype(np.float32)
    got = np.asarray(f(x, 3, 2))
    want = ops.max_pool2d(x[None], 3, 2)[0]
    if got.dtype != np.float32 or not np.array_equal(got, want):
        raise Failed("max_pool_tap_order(x 9x11 float32, k=3, s=2) is not bit-equal to "
                     "pooledu.max_pool2d (keep float32)")
    return "same bits: max does not care in which order the taps come"


def _check_order_matters(value):
    if value is None or not isinstance(value, (bool, np.bool_)):
        raise Failed(f"write True or False, got {value!r}")
    a = np.float32(1e8)
    forward = (a + np.float32(1)) + np.float32(-1e8)
    backward = (a + np.float32(-1e8)) + np.float32(1)
    differs = bool(forward != backward)
    if bool(value) != differs:
        raise Failed(f"summing 1e8, 1, -1e8 in float32 gives {forward}; summing 1e8, -1e8, 1 "
                     f"gives {backward}")
    return f"1e8 + 1 - 1e8 = {forward} but 1e8 - 1e8 + 1 = {backward} in float32"


# lessons 11 to 13: trained networks

def _check_flat_features(f):
    for size, channels, poolings in [(24, 16, 2), (24, 16, 0), (28, 8, 1), (32, 64, 3)]:
        n = size
        for _ in range(poolings):
            n = pool_output_size(n, 2)
        want = channels * n * n
        if f(size, channels, poolings) != want:
            raise Failed(f"flat_features({size}, {channels}, {poolings}): expected {want}")
    return "channels * side^2, the side halved by each pooling"


def _linear_weights_no_down():
    from .experiments.accuracy import build_model
    return build_model("none", _rng()).layers[-1].weight.data.size


def _check_separated(f):
    cases = [([0.9, 0.92], [0.8, 0.85], True), ([0.9, 0.8], [0.85, 0.7], False),
             ([0.5], [0.4], True), ([0.7, 0.9], [0.9, 0.95], False)]
    for a, b, want in cases:
        if bool(f(a, b)) != want:
            raise Failed(f"separated({a}, {b}): expected {want}")
    return "every seed of one above every seed of the other"


def _stem_ratio():
    return (analysis.conv_flops(224, 3, 64, 7, 1, 3)) / analysis.conv_flops(224, 3, 64, 7, 2, 3)


def _three_avg_skips():
    g = _rng(13).standard_normal((1, 4, 4))
    gx = g
    for _ in range(3):  # backwards through three 2x2/2 average poolings
        gx = ops.avg_pool2d_backward(gx, (1, 2 * gx.shape[1], 2 * gx.shape[2]), 2)
    return float(np.linalg.norm(gx) / np.linalg.norm(g))


def _check_norm_factor(f):
    for k in (2, 3, 4):
        g = _rng(k).standard_normal((1, 8, 8))
        gx = ops.avg_pool2d_backward(g, (1, 8 * k, 8 * k), k)
        want = np.linalg.norm(gx) / np.linalg.norm(g)
        _same(f(k), want, f"avg_norm_factor({k})", 1e-12)
    return "k^2 shares of g / k^2: the norm shrinks by k"


# lesson 14: your kernel inside a real network

def _check_scatter_backward(f):
    rng = _rng(14)
    for shape, k, s, p in [((1, 2, 6, 6), 2, 2, 0), ((2, 3, 7, 9), 3, 2, 1), ((1, 1, 5, 5), 3, 1, 1)]:
        x = rng.integers(-2, 3, shape).astype(np.float64)  # ties: overlapping windows share winners
        y, idx = ops.max_pool2d(x, k, s, p, return_indices=True)
        g = rng.standard_normal(y.shape)
        _same(f(g, idx, shape), ops.max_pool2d_backward(g, idx, shape, k, s, p),
              f"input {shape}, kernel {k}, stride {s}, padding {p}", tol=1e-12)
    return "your scatter gives what pooledu's gather gives"


def _stem_pool_side():
    return pool_output_size(112, 3, 2, 1)


# lesson 15: unpooling and transposed convolution

def _check_unpool(f):
    x = _rng(14).permutation(36).astype(float).reshape(1, 6, 6)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    _same(f(y[0], idx[0], (6, 6)), unpool.max_unpool2d(y, idx, 2)[0], "unpool(y, idx, (6, 6))")
    return "each value back at its index, zeros elsewhere"


def _check_transposed_size(f):
    for H, k, s, p, op_, d in [(4, 3, 2, 1, 0, 1), (4, 3, 2, 1, 1, 1), (5, 2, 2, 0, 0, 1),
                               (3, 3, 1, 0, 0, 2), (6, 4, 3, 1, 2, 1)]:
        want = conv.conv_transpose2d(np.ones((1, H, H)), np.ones((1, 1, k, k)), stride=s,
                                     padding=p, output_padding=op_, dilation=d).shape[-1]
        if f(H, k, s, p, op_, d) != want:
            raise Failed(f"transposed_size(H={H}, k={k}, s={s}, p={p}, output_padding={op_}, "
                         f"d={d}): expected {want}")
    return "(H - 1)*s - 2p + d(k - 1) + output_padding + 1"


def _max_overlap_3x3_s2():
    counts = conv.conv_transpose2d(np.ones((1, 6, 6)), np.ones((1, 1, 3, 3)), stride=2)
    return float(counts.max())


# lesson 16: aliasing

def _check_binomial(f):
    from .antialias import binomial_filter
    for n in (2, 3, 4, 5):
        _same(f(n), binomial_filter(n), f"binomial({n})", 1e-15)
    return "rows of Pascal's triangle, outer product, divided by the sum"


def _check_max_blur(f):
    from .antialias import max_blur_pool2d
    x = _rng(15).standard_normal((2, 9, 8))
    _same(f(x), max_blur_pool2d(x, 2), "max_blur(x 2x9x8)", 1e-12)
    return "max at stride 1, then blur and subsample"


def _subsampled_mean():
    row = np.roll(np.tile([0.0, 1.0], 8), 1)  # 1, 0, 1, 0, ...
    return float(row[::2].mean())


# lesson 17: the rest of the family

def _check_lp_pool(f):
    x = _rng(16).random((2, 6, 6))
    for p in (1, 2, 3):
        _same(f(x, p, 2), lp.lp_pool2d(x, p, 2), f"lp_pool(x 2x6x6, p={p}, k=2)", 1e-12)
    return "the p-th root of the window's sum of p-th powers"


def _check_adaptive(f):
    from .geometry import adaptive_span
    for n_in, n_out in [(10, 3), (7, 7), (5, 2), (13, 4), (3, 5)]:
        want = [tuple(int(v) for v in adaptive_span(o, n_in, n_out)) for o in range(n_out)]
        got = [tuple(int(v) for v in w) for w in f(n_in, n_out)]
        if got != want:
            raise Failed(f"adaptive_windows({n_in}, {n_out}): expected {want}, got {got}")
    return "[floor(i*In/Out), ceil((i+1)*In/Out))"


def _middle_window_10_to_3():
    from .geometry import adaptive_span
    lo, hi = adaptive_span(1, 10, 3)
    return hi - lo


# lesson 18: does pooling regularise?

def _check_head_weights(f):
    from . import nn
    for channels, side, classes in [(16, 6, 10), (16, 24, 10), (512, 7, 1000)]:
        fc = nn.Linear(channels * side * side, classes)
        gap = nn.Linear(channels, classes)
        for head, layer in (("fc", fc), ("gap", gap)):
            want = sum(p.data.size for p in layer.parameters())
            if f(channels, side, classes, head) != want:
                raise Failed(f"head_weights({channels}, {side}, {classes}, {head!r}): "
                             f"expected {want:,}")
    return "weights and biases of the last linear layer"


def _no_pool_fc_params():
    from . import nn
    from .experiments.accuracy import build_model
    return nn.summary(build_model("none", _rng()), (1, 24, 24))["params"]


EXERCISES = {
    1: [Exercise("max_pool", "build", "max_pool(x, k, s): 2D max pooling with plain loops",
                 _check_max_pool, "output (i, j) is x[s*i : s*i+k, s*j : s*j+k].max(); "
                 "there are (H - k) // s + 1 rows of outputs"),
        Exercise("max_pool_2x2_via_relu", "build",
                 "max_pool_2x2_via_relu(x): 2x2/2 max pooling with only +, - and relu",
                 _check_max_via_relu, "max(a, b) = a + relu(b - a); take the max of the two "
                 "maxima of pairs"),
        Exercise("PREDICT_CELLS", "predict",
                 "how many values are left of a 32x32 map after two 2x2/2 max poolings?",
                 _prediction(lambda: pool_output_size(pool_output_size(32, 2), 2) ** 2),
                 "each pooling halves both sides")],
    2: [Exercise("avg_pool_weight", "build",
                 "avg_pool_weight(C, k): conv2d weights that make a stride-k convolution an "
                 "average pooling", _check_avg_weight,
                 "shape (C, C, k, k); output channel o looks only at input channel o"),
        Exercise("min_pool", "build", "min_pool(x, k): min pooling, using pooledu.max_pool2d",
                 _check_min_pool, "min(v) = -max(-v); max_pool2d wants (C, H, W), so x[None]"),
        Exercise("PREDICT_NOISE_STD", "predict",
                 "standard normal noise through 2x2 average pooling: what standard deviation?",
                 _prediction(lambda: float(ops.avg_pool2d(
                     _rng(12).standard_normal((16, 64, 64)), 2).std()), 0.02),
                 "the mean of n independent values has std 1 / sqrt(n)")],
    3: [Exercise("output_size", "build",
                 "output_size(H, k, s, p, d, ceil_mode): PyTorch's output size, ceil_mode's "
                 "dropped window included", _check_output_size,
                 "floor or ceil of (H + 2p - d(k - 1) - 1) / s, plus 1; with ceil_mode, drop "
                 "the last window if it would start at or after H + p"),
        Exercise("PREDICT_RESNET", "predict",
                 "224x224 through a 7x7/2 convolution (padding 3) and a 3x3/2 max pooling "
                 "(padding 1): what side?",
                 _prediction(lambda: pool_output_size(pool_output_size(224, 7, 2, 3), 3, 2, 1)),
                 "apply the formula twice: 224 -> 112 -> ?")],
    4: [Exercise("max_pool_backward", "build",
                 "max_pool_backward(g, x, k): dL/dx of a kxk/k max pooling, from x itself",
                 _check_max_backward, "find each window's argmax with np.unravel_index and "
                 "add g[i, j] there; every other cell stays 0"),
        Exercise("avg_pool_backward", "build",
                 "avg_pool_backward(g, shape, k, s): dL/dx of average pooling, windows may "
                 "overlap", _check_avg_backward, "add g[i, j] / k^2 to every cell of window "
                 "(i, j); use += so overlaps add up"),
        Exercise("PREDICT_ZEROS", "predict",
                 "what fraction of a random 8x8 map's gradient through 2x2/2 max pooling is 0?",
                 _prediction(_zeros_max_2x2), "one winner per window of four cells")],
    5: [Exercise("same_output", "build",
                 "same_output(a, b, layers): does a single feature at column a or b give the "
                 "same output after `layers` 2x2/2 max poolings?", _check_same_output,
                 "after L layers, output column w // 2^L"),
        Exercise("PREDICT_ABSORBED", "predict",
                 "what fraction of one-pixel shifts leave the output of two 2x2/2 poolings "
                 "unchanged (single feature, random position)?", _prediction(_absorbed_two_layers, 0.01),
                 "a 4-wide block; only a move out of its last column crosses a border")],
    6: [Exercise("gap", "build", "gap(x): global average pooling of a (C, H, W) array",
                 _check_gap, "x.mean over the last two axes"),
        Exercise("PREDICT_RATIO", "predict",
                 "a 14x14x256 map and 10 classes: how many times more head weights does "
                 "flattening need than global average pooling?", _prediction(_head_ratio),
                 "flatten: 14*14*256*10, GAP: 256*10")],
    7: [Exercise("receptive_field", "build",
                 "receptive_field(layers): the field of a stack of (kernel, stride) layers",
                 _check_receptive, "r = 1 + sum over l of (k_l - 1) * (product of the strides "
                 "before l)"),
        Exercise("PREDICT_STACK_WEIGHTS", "predict",
                 "weights (no biases) of three 3x3 convolutions 3 -> 32 -> 32 -> 32?",
                 _prediction(_stack_weights), "3*3*3*32 for the first, 3*3*32*32 for each "
                 "of the other two")],
    8: [Exercise("counterexample", "build",
                 "counterexample(): two 2x2 arrays a, b with max(a + b) != max(a) + max(b)",
                 _check_counterexample, "put the two maxima in different cells"),
        Exercise("conv_flops", "build",
                 "conv_flops(H, C_in, C_out, k, s, p): FLOPs of a square convolution",
                 _check_conv_flops, "out = (H + 2p - k) // s + 1; 2 FLOPs per multiply-add")],
    9: [Exercise("softmax_pool", "build",
                 "softmax_pool(x, k, beta): each kxk/k window's softmax(beta * v)-weighted "
                 "mean", _check_softmax_pool, "weights exp(beta * v) / sum(exp(beta * v)); "
                 "subtract the window's max before exp to avoid overflow"),
        Exercise("PREDICT_UNET", "predict",
                 "U-Net on a 572x572 input: what is the output's side?",
                 _prediction(_unet_output), "valid 3x3 convolutions trim 2, poolings halve, "
                 "up-convolutions double; lesson 9 walks it")],
    10: [Exercise("max_pool_tap_order", "build",
                  "max_pool_tap_order(x, k, s): max pooling in the fast loop order, one "
                  "strided slice per tap", _check_tap_order,
                  "start from x[0::s, 0::s] cut to the output size, then "
                  "np.maximum with x[u::s, v::s] for each tap (u, v)"),
         Exercise("PREDICT_ORDER_MATTERS", "predict",
                  "True or False: can adding the same float32 numbers in another order "
                  "change the sum?", _check_order_matters,
                  "rounding happens after every addition")],
    11: [Exercise("flat_features", "build",
                  "flat_features(size, channels, poolings): the length of the flattened map",
                  _check_flat_features, "each 2x2/2 pooling halves the side"),
         Exercise("PREDICT_LINEAR_WEIGHTS", "predict",
                  "lesson 11's network without downsampling: 16 channels of 24x24 into 10 "
                  "classes; how many weights in its linear layer?",
                  _prediction(_linear_weights_no_down), "16 * 24 * 24 inputs, 10 outputs")],
    12: [Exercise("separated", "build",
                  "separated(a, b): is every seed's score in a above every one in b?",
                  _check_separated, "compare min(a) with max(b)"),
         Exercise("PREDICT_STEM_RATIO", "predict",
                  "the 7x7 stem convolution at stride 1 against stride 2: how many times the "
                  "FLOPs?", _prediction(_stem_ratio), "four times the output positions")],
    13: [Exercise("avg_norm_factor", "build",
                  "avg_norm_factor(k): ||dL/dx|| / ||g|| through kxk/k average pooling",
                  _check_norm_factor, "each g spreads as k^2 shares of g / k^2"),
         Exercise("PREDICT_THREE_AVG", "predict",
                  "first / last gradient norm through three 2x2 average-pooling skips?",
                  _prediction(_three_avg_skips, 1e-9), "each halves it")],
    14: [Exercise("scatter_backward", "build",
                  "scatter_backward(g, idx, shape): max pooling's backward as PyTorch's "
                  "autograd runs it, each gradient added at its stored index",
                  _check_scatter_backward, "start from zeros, view it as (N*C, H*W) and "
                  "np.add.at each plane's g at its flat indices"),
         Exercise("PREDICT_STEM_POOL_SIDE", "predict",
                  "ResNet's 3x3/2 max pooling with padding 1, after the stem: the output side "
                  "for a 112x112 map?", _prediction(_stem_pool_side),
                  "floor((112 + 2*1 - 3) / 2) + 1")],
    15: [Exercise("unpool", "build",
                  "unpool(y, idx, shape): max unpooling of one plane from its flat indices",
                  _check_unpool, "start from zeros(shape) and write y.ravel() at "
                  "idx.ravel() in the flattened output"),
         Exercise("transposed_size", "build",
                  "transposed_size(H, k, s, p, output_padding, d): conv_transpose2d's "
                  "output size", _check_transposed_size,
                  "invert the convolution's formula without the floor: (H - 1)*s - 2p + "
                  "d(k - 1) + 1, then add output_padding"),
         Exercise("PREDICT_MAX_OVERLAP", "predict",
                  "3x3 transposed convolution at stride 2: how many input cells reach the "
                  "most-covered output cell?", _prediction(_max_overlap_3x3_s2),
                  "along one axis cells alternate between 1 and 2 contributions")],
    16: [Exercise("binomial", "build", "binomial(n): the n x n normalised binomial filter",
                  _check_binomial, "row = np.convolve(row, [1, 1]) n - 1 times, then "
                  "np.outer(row, row) / its sum"),
         Exercise("max_blur", "build",
                  "max_blur(x): anti-aliased 2x2 max pooling from max_pool2d and blur_pool2d",
                  _check_max_blur, "max_pool2d(x, 2, stride=1), then blur_pool2d(..., "
                  "stride=2)"),
         Exercise("PREDICT_SUBSAMPLED", "predict",
                  "0, 1, 0, 1, ... shifted by one pixel, then every second value kept: "
                  "their mean?", _prediction(_subsampled_mean),
                  "after the shift the row starts 1, 0, 1, 0: every kept value is the same")],
    17: [Exercise("lp_pool", "build", "lp_pool(x, p, k): LP pooling of (C, H, W), kxk/k windows",
                  _check_lp_pool, "(sum of v ** p over each window) ** (1 / p); pooledu's "
                  "avg_pool2d times k^2 gives the sums"),
         Exercise("adaptive_windows", "build",
                  "adaptive_windows(n_in, n_out): the [start, end) of each adaptive window",
                  _check_adaptive, "start floor(i * n_in / n_out), end ceil((i + 1) * n_in / "
                  "n_out); integer arithmetic: -(-a // b) is ceil(a / b)"),
         Exercise("PREDICT_MIDDLE", "predict",
                  "adaptive pooling of 10 cells into 3: how many cells does the middle "
                  "window read?", _prediction(_middle_window_10_to_3),
                  "from floor(10/3) to ceil(20/3)")],
    18: [Exercise("head_weights", "build",
                  "head_weights(channels, side, classes, head): parameters of an 'fc' or "
                  "'gap' classifier head", _check_head_weights,
                  "fc: (channels * side^2 + 1) * classes; gap: (channels + 1) * classes"),
         Exercise("PREDICT_PARAMS", "predict",
                  "lesson 18's network without pooling and with the FC head: how many "
                  "parameters in all?", _prediction(_no_pool_fc_params),
                  "8*9 + 8 and 16*8*9 + 16 for the convolutions, then 16*24*24*10 + 10")],
}


# ---------------------------------------------------------------------------

def exercise_file(number, directory=EXERCISE_DIR):
    """The exercise file of lesson ``number`` (``NN_name.py`` in ``directory``)."""
    found = sorted(Path(directory).glob(f"{number:02d}_*.py"))
    if not found:
        raise ValueError(f"no exercise file for lesson {number} in {directory}; lessons with "
                         f"exercises: {', '.join(str(n) for n in EXERCISES)}")
    return found[0]


def check(number, path=None):
    """Check lesson ``number``'s exercises in ``path`` (default: its exercise file).

    Returns
    -------
    list of (Exercise, passed, message)

    Examples
    --------
    >>> results = check(1, exercise_file(1, SOLUTION_DIR))
    >>> [passed for _, passed, _ in results]
    [True, True, True]
    """
    if number not in EXERCISES:
        raise ValueError(f"no exercises for lesson {number}; lessons with exercises: "
                         f"{', '.join(str(n) for n in EXERCISES)}")
    scope = runpy.run_path(str(path or exercise_file(number)), run_name="__exercise__")
    results = []
    for ex in EXERCISES[number]:
        answer = scope.get(ex.name)
        if answer is None:
            results.append((ex, False, f"{ex.name} is not filled in yet"))
            continue
        try:
            note = ex.check(answer)
            results.append((ex, True, note))
        except NotImplementedError:
            results.append((ex, False, f"{ex.name} is not written yet"))
        except Failed as err:
            results.append((ex, False, str(err)))
        except Exception as err:  # the learner's code raised: say what, and go on
            results.append((ex, False, f"{ex.name} raised {type(err).__name__}: {err}"))
    return results


def format_check(results):
    """The report of :func:`check`: one line per exercise, a hint under each failure."""
    lines = []
    for ex, passed, message in results:
        lines.append(f"  {'pass' if passed else 'FAIL'}  {ex.name} ({ex.kind}): {message}")
        if not passed:
            lines.append(f"        hint: {ex.hint}")
    done = sum(passed for _, passed, _ in results)
    lines.append(f"  {done} of {len(results)} done")
    return "\n".join(lines)


def print_exercises(number):
    """The closing lines of lesson ``number``: its exercises and how to check them."""
    path = exercise_file(number)
    print(f"\nExercises ({path.relative_to(ROOT.parent)}; check them with "
          f"`pooledu check {number}`):")
    for ex in EXERCISES[number]:
        print(f"  - {'predict, then run' if ex.kind == 'predict' else 'build'}: {ex.task}")


__all__ = ["Exercise", "EXERCISES", "Failed", "check", "exercise_file", "format_check",
           "print_exercises"]
