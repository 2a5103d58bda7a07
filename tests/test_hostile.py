"""Hostile input: huge, odd and inconsistent arguments end in a clear error or the right answer.

Each class of defect has its regression test here: window arguments too large
for 64-bit arithmetic, windows whose cost or scratch would follow the kernel
or the padding instead of the input, outputs too large to allocate, indices
that cannot have come from the forward pass, LP pooling's memory and extreme
norm types, attention pooling's bits in every memory layout, and the
fractional generator. The last test is a property test: hypothesis draws bad
and extreme arguments for every public function, and each call must raise a
ValueError, TypeError or MemoryError that names an argument, or return what
the reference schedule returns.
"""

import math
import tracemalloc
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import pooledu as P

X = np.random.default_rng(0).standard_normal((1, 2, 8, 8)).astype(np.float32)
ONES = np.ones((1, 2, 4, 4), np.float32)


# ---------------------------------------------------------------------------
# window arguments beyond 64-bit arithmetic: a ValueError naming the argument

@pytest.mark.parametrize("value", [2**31, 2**60, 2**63, 2**64 + 1, -(2**63) - 1])
@pytest.mark.parametrize("call, argument", [
    (lambda v: P.max_pool2d(X, 2, stride=v), "stride"),
    (lambda v: P.max_pool2d(X, v), "kernel_size"),
    (lambda v: P.avg_pool2d(X, 2, padding=v), "padding"),
    (lambda v: P.max_pool2d(X, 2, dilation=v), "dilation"),
    (lambda v: P.max_pool1d(X[0], 2, stride=v), "stride"),
    (lambda v: P.max_pool3d(X, 2, stride=v), "stride"),
    (lambda v: P.avg_pool3d(X, 2, stride=(1, 1, v)), "stride"),
    (lambda v: P.lp_pool2d(X, 2, 2, stride=v), "stride"),
    (lambda v: P.max_broadcast_pool2d(X, v), "kernel_size"),
    (lambda v: P.avg_pool2d_backward(ONES, (1, 2, 4, 4), 2, stride=1, padding=v), "padding"),
])
def test_pooling_window_arguments_are_32_bit(call, argument, value):
    """PyTorch's pooling kernels take C ints: 2**31 and more is refused there too."""
    with pytest.raises(ValueError, match=argument):
        call(value)


@pytest.mark.parametrize("value", [2**63, 2**64 + 1, -(2**63) - 1])
@pytest.mark.parametrize("call, argument", [
    (lambda v: P.max_unpool2d(X, np.zeros(X.shape, np.int64), v), "kernel_size"),
    (lambda v: P.fractional_max_pool2d(X, v, output_size=2), "kernel_size"),
    (lambda v: P.adaptive_avg_pool2d(X, v), "output_size"),
    (lambda v: P.conv2d(X, np.ones((1, 2, 2, 2), np.float32), stride=v), "stride"),
    (lambda v: P.conv2d(X, np.ones((1, 2, 2, 2), np.float32), dilation=v), "dilation"),
])
def test_other_arguments_beyond_64_bits(call, argument, value):
    with pytest.raises(ValueError, match=argument):
        call(value)


def test_pool_limits_follow_torch():
    """Just below 2**31 both accept; conv takes 64-bit strides, as PyTorch does."""
    t = torch.from_numpy(X)
    np.testing.assert_array_equal(P.max_pool2d(X, 2, stride=2**31 - 1),
                                  F.max_pool2d(t, 2, stride=2**31 - 1).numpy())
    w = np.ones((1, 2, 2, 2), np.float32)
    # a sum of eight products: PyTorch's order of adding them depends on the CPU it runs on
    np.testing.assert_array_max_ulp(P.conv2d(X, w, stride=2**62),
                                    F.conv2d(t, torch.from_numpy(w), stride=2**62).numpy(),
                                    maxulp=2)


def test_divisor_override_must_fit_64_bits():
    with pytest.raises(ValueError, match="divisor_override"):
        P.avg_pool2d(X, 2, divisor_override=2**64)
    big = P.avg_pool2d(X, 2, divisor_override=2**63 - 1)  # PyTorch takes any int64
    expected = F.avg_pool2d(torch.from_numpy(X), 2, divisor_override=2**63 - 1).numpy()
    np.testing.assert_array_equal(big, expected)


def test_reproduced_overflows_from_the_report():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    with pytest.raises(ValueError, match="stride"):
        P.conv2d(x, np.ones((1, 1, 2, 2), np.float32), stride=2**63)
    with pytest.raises(ValueError, match="kernel_size"):
        P.max_broadcast_pool2d(X, 2**63)
    with pytest.raises(ValueError, match="stride"):
        P.max_pool2d(X, 2, stride=2**63)


# ---------------------------------------------------------------------------
# cost follows the taps inside the plane, scratch never follows the padding

def test_huge_window_costs_what_the_plane_holds():
    """Windows of 2**31 - 1 taps a side, padded by 2**30 - 1, on a 4x4 plane: the loops
    visit the 16 taps inside, not the 2**62 of the window (PyTorch itself takes
    minutes on these). Every window holds the whole plane."""
    k, p = 2**31 - 1, 2**30 - 1
    y, i = P.max_pool2d(ONES * np.arange(16).reshape(4, 4), k, stride=1, padding=p,
                        return_indices=True)
    assert y.shape == (1, 2, 4, 4) and (y == 15).all() and (i == 15).all()
    y3 = P.max_pool3d(np.ones((1, 2, 4, 4, 4), np.float32), k, stride=1, padding=p)
    assert y3.shape == (1, 2, 4, 4, 4) and (y3 == 1).all()
    a = P.avg_pool2d(ONES, k, stride=1, padding=p, count_include_pad=False)
    np.testing.assert_array_equal(a, ONES)
    g = P.avg_pool2d_backward(ONES, (1, 2, 4, 4), k, 1, p, count_include_pad=False)
    np.testing.assert_array_equal(g, np.full((1, 2, 4, 4), 1.0, np.float32))  # 16 windows x 1/16
    m = P.max_broadcast_pool2d(np.ones((2, 3, 9, 8), np.float32), 2**31 - 1)
    assert m.shape == (2, 3, 9, 8) and (m == 1).all()


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_scratch_does_not_grow_with_padding(layout, op):
    """A 1 x (2**29 + 1) window padded by 2**28 on a 4x4 plane asked for 4 GiB of
    scratch; windows padded beyond the plane now run the formula as it reads."""
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    pool = {"max": P.max_pool2d, "avg": P.avg_pool2d}[op]
    args = ((1, 2**29 + 1), 1, (0, 2**28))  # PyTorch takes seconds on these
    pool(x, *args)  # compile outside the measurement
    tracemalloc.start()
    y = pool(x, *args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    expected = getattr(F, f"{op}_pool2d")(torch.from_numpy(np.ascontiguousarray(x)), *args)
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-6)
    if op == "avg":
        g = P.avg_pool2d_backward(np.ones_like(y), x.shape, *args)
        assert g.shape == x.shape


def test_huge_stride_runs_the_formula():
    """Strides beyond the plane once asked for sh * sw stride phases of scratch."""
    for layout in (X, np.ascontiguousarray(X.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)):
        np.testing.assert_array_equal(P.max_pool2d(layout, 2, stride=2**31 - 1),
                                      F.max_pool2d(torch.from_numpy(X), 2, 2**31 - 1).numpy())
        np.testing.assert_array_equal(
            P.avg_pool2d(layout, 3, stride=2**30, ceil_mode=True),
            F.avg_pool2d(torch.from_numpy(X), 3, 2**30, ceil_mode=True).numpy())


# ---------------------------------------------------------------------------
# outputs too large to allocate: MemoryError naming the argument, before allocating

@pytest.mark.parametrize("call, argument", [
    (lambda: P.adaptive_avg_pool2d(X, 2**31), "output_size"),
    (lambda: P.adaptive_max_pool3d(X, (2**20, 2**20, 2**20)), "output_size"),
    (lambda: P.max_unpool2d(X, np.zeros(X.shape, np.int64), 2**31), "kernel_size"),
    (lambda: P.max_unpool2d(X, np.zeros(X.shape, np.int64), 2, stride=2**31), "stride"),
    (lambda: P.conv2d(X, np.ones((1, 2, 2, 2), np.float32), padding=2**31), "padding"),
    (lambda: P.conv2d(X, np.ones((1, 2, 2, 2), np.float32), padding=2**62), "padding"),
    (lambda: P.max_pool2d_backward(X, X.astype(np.int64), (1, 2, 2**40, 2**40), 2), "input_shape"),
    (lambda: P.adaptive_avg_pool1d_backward(X[0], (2, 2**62)), "input_shape"),
])
def test_outputs_too_large_to_allocate(call, argument):
    with pytest.raises(MemoryError, match=argument):
        call()


# ---------------------------------------------------------------------------
# indices that cannot come from the forward pass

def _first_stray(call):
    with pytest.raises(ValueError, match=r"indices\[") as err:
        call()
    return str(err.value)


def test_stray_indices_are_refused_with_their_position():
    y, i = P.max_pool2d(X, 3, 2, 1, return_indices=True)
    g = np.ones_like(y)
    message = _first_stray(lambda: P.max_pool2d_backward(g, np.zeros_like(i), X.shape, 3, 2, 1))
    assert "indices[0, 0, 0, 1] = 0" in message and "(0, 0)" in message
    mirrored = np.ascontiguousarray(i[..., ::-1, :])
    _first_stray(lambda: P.max_pool2d_backward(g, mirrored, X.shape, 3, 2, 1))
    _first_stray(lambda: P.max_pool2d_backward(g, i, X.shape, 2, 2, 0))  # another kernel
    message = _first_stray(lambda: P.max_pool2d_backward(g, i + 1000, X.shape, 3, 2, 1))
    assert "outside" in message
    # the report's example: PyTorch's scatter gives 120 here, pooledu's gather gave 6
    y, i = P.max_pool2d(np.ones((1, 2, 8, 8), np.float32) * np.arange(64).reshape(8, 8), 3, 2, 1,
                        return_indices=True)
    _first_stray(lambda: P.max_pool2d_backward(np.ones_like(y), np.zeros_like(i), (1, 2, 8, 8),
                                               3, 2, 1))


def test_the_first_stray_index_is_named_among_many():
    """The checks go a row of windows (or a run of entries) at a time, in parallel;
    with stray indices in several rows, volumes and runs, the first in row-major
    order is still the one named, whatever its row's neighbours hold."""
    x = np.random.default_rng(3).standard_normal((3, 4, 6, 40, 44)).astype(np.float32)
    y, i = P.max_pool3d(x, 2, 2, return_indices=True)
    i[1, 2, 1, 7, 5] = -7
    i[1, 2, 2, 0, 0] = i[1, 2, 1, 0, 0]  # a cell of another window
    i[2, 0, 0, 0, 3] = x[0, 0].size
    message = _first_stray(lambda: P.max_pool3d_backward(np.ones_like(y), i, x.shape, 2, 2))
    assert "indices[1, 2, 1, 7, 5] = -7" in message
    planes = np.random.default_rng(4).standard_normal((2, 3, 30, 30)).astype(np.float32)
    pooled, idx = P.max_pool2d(planes, 2, return_indices=True)
    idx[1, 1, 3, 4], idx[1, 2, 0, 0] = 900, -2  # 900 cells in an unpooled plane: 900 is out
    with pytest.raises(ValueError, match="index 900 lies outside"):
        P.max_unpool2d(pooled, idx, 2)
    with pytest.raises(ValueError, match="index 900 lies outside"):
        P.max_unpool2d_backward(np.ones_like(planes), idx)


@pytest.mark.parametrize("layout", ["c", "channels_last"])
def test_forward_indices_pass_in_any_layout(layout):
    x = np.random.default_rng(2).standard_normal((2, 5, 7, 9)).astype(np.float32)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y, i = P.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True)
    gx = P.max_pool2d_backward(np.ones_like(y), i, x.shape, 3, 2, 1, 2, True)
    assert gx.sum() == y.size


def test_stray_indices_in_every_max_family():
    x1, x3 = X[0], X[:, :, None].repeat(3, axis=2)
    y, i = P.max_pool1d(x1, 3, 2, 1, return_indices=True)
    _first_stray(lambda: P.max_pool1d_backward(np.ones_like(y), i[..., ::-1].copy(), x1.shape,
                                               3, 2, 1))
    y, i = P.max_pool3d(x3, 2, return_indices=True)
    _first_stray(lambda: P.max_pool3d_backward(np.ones_like(y), np.zeros_like(i), x3.shape, 2))
    for nd, x in ((1, x1), (2, X), (3, x3)):
        fwd = getattr(P, f"adaptive_max_pool{nd}d")
        bwd = getattr(P, f"adaptive_max_pool{nd}d_backward")
        y, i = fwd(x, 3, return_indices=True)
        _first_stray(lambda: bwd(np.ones_like(y), np.zeros_like(i), x.shape))
        np.testing.assert_array_equal(bwd(np.ones_like(y), i, x.shape).sum(), y.size)
    # fractional windows are checked against every window that could hold the cell
    # whatever the samples were: the far corner of a 40x40 plane is out of the first's reach
    xf = np.zeros((1, 2, 40, 40), np.float32)
    y, i = P.fractional_max_pool2d(xf, 2, output_size=3, return_indices=True, generator=0)
    _first_stray(lambda: P.fractional_max_pool2d_backward(np.ones_like(y), np.full_like(i, 1599),
                                                          xf.shape, 2))
    y, i = P.max_broadcast_pool2d(X, 3, return_indices=True)
    _first_stray(lambda: P.max_broadcast_pool2d_backward(np.ones_like(y), np.zeros_like(i), 3))
    y, i = P.global_max_pool2d(X, return_indices=True)
    _first_stray(lambda: P.global_max_pool2d_backward(np.ones_like(y), i + 64, X.shape))


# ---------------------------------------------------------------------------
# LP pooling: no input-sized temporaries, extreme norm types refused or matched

@pytest.mark.parametrize("norm_type", [2.0, 3.5, math.inf])
def test_lp_pool_allocates_only_output_sized_arrays(norm_type):
    x = np.random.default_rng(3).random((4, 8, 64, 64)).astype(np.float32)
    P.lp_pool2d(x, norm_type, 2)  # compile both outside the measurement
    P.lp_pool2d_backward(np.ones((4, 8, 32, 32), np.float32), x, norm_type, 2)
    tracemalloc.start()
    y = P.lp_pool2d(x, norm_type, 2)
    forward_peak = tracemalloc.get_traced_memory()[1]
    g = np.ones_like(y)
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    gx = P.lp_pool2d_backward(g, x, norm_type, 2)
    backward_peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert forward_peak <= y.nbytes + (64 << 10)
    # beyond grad_input: one output-sized scratch (the root's gradient, or the argmax)
    assert backward_peak <= gx.nbytes + y.size * 8 + (64 << 10)


@pytest.mark.parametrize("norm_type", [1e300, -1e300, 1e39, 1e-300, 1e-40])
def test_lp_extreme_norm_type_is_refused_for_float32(norm_type):
    with pytest.raises(ValueError, match="norm_type"):
        P.lp_pool1d(X[0], norm_type, 3, 2, True)


@pytest.mark.parametrize("norm_type", [1e30, -1e30, 1e-30, 1e10, float("nan")])
def test_lp_large_norm_type_matches_torch(norm_type):
    x = np.array([[0.5, 2.0, 1.0, 0.3, 3.0, 0.0, -2.0]], np.float32)
    np.testing.assert_array_equal(P.lp_pool1d(x, norm_type, 3, 2, True),
                                  F.lp_pool1d(torch.from_numpy(x), norm_type, 3, 2, True).numpy())


# ---------------------------------------------------------------------------
# attention pooling: the same bits in any memory layout of its arguments

def test_attention_pool_bits_do_not_depend_on_layout():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 37, 5, 6))
    q = rng.standard_normal(29)
    w = rng.standard_normal((29, 37))
    g = rng.standard_normal((3, 37))
    y = P.attention_pool2d(x, q, w)
    grads = P.attention_pool2d_backward(g, x, q, w)
    q_strided = np.zeros(58)
    q_strided[::2] = q
    for q2, w2 in ((q, np.asfortranarray(w)), (q_strided[::2], w), (q, w.T.copy().T)):
        assert np.array_equal(P.attention_pool2d(x, q2, w2), y)
        for a, b in zip(P.attention_pool2d_backward(g, x, q2, w2), grads):
            assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# fractional max pooling's generator

@pytest.mark.parametrize("generator, error", [(-1, ValueError), (1.5, TypeError),
                                              ("x", TypeError), (True, TypeError)])
def test_fractional_generator_is_checked(generator, error):
    with pytest.raises(error, match="generator"):
        P.fractional_max_pool2d(X, 2, output_size=3, generator=generator)


# ---------------------------------------------------------------------------
# the property test: every public function, bad and extreme arguments

INTS = [-(2**64), -(2**63), -(2**31), -1, 0, 1, 2, 3, 2**31, 2**31 + 1, 2**60, 2**62,
        2**63 - 1, 2**63, 2**64 + 1]
ODD = [None, 1.5, "2", True, (), (2,), (2, 2, 2), (2, -1), [3, 3], np.int32(2), float("nan")]


def argument():
    """One window-like argument: an extreme int, a small int, a pair, or something odd."""
    small = st.integers(-1, 4)
    return st.one_of(st.sampled_from(INTS), small, st.tuples(small, st.sampled_from(INTS)),
                     st.sampled_from(ODD))


def _pool_calls():
    """name -> (function, names of the window arguments it takes after the input)."""
    idx2 = np.zeros((1, 2, 4, 4), np.int64)
    return {
        "max_pool1d": (lambda a, b, c: P.max_pool1d(X[0], a, b, c), "kernel_size stride padding"),
        "max_pool2d": (lambda a, b, c: P.max_pool2d(X, a, b, c), "kernel_size stride padding"),
        "max_pool2d_d": (lambda a, b, c: P.max_pool2d(X, 2, a, 0, b, c), "stride dilation ceil_mode"),
        "max_pool3d": (lambda a, b, c: P.max_pool3d(X, a, b, c), "kernel_size stride padding"),
        "avg_pool1d": (lambda a, b, c: P.avg_pool1d(X[0], a, b, c), "kernel_size stride padding"),
        "avg_pool2d": (lambda a, b, c: P.avg_pool2d(X, a, b, c), "kernel_size stride padding"),
        "avg_pool2d_div": (lambda a, b, c: P.avg_pool2d(X, a, b, 0, False, True, c),
                           "kernel_size stride divisor_override"),
        "avg_pool3d": (lambda a, b, c: P.avg_pool3d(X, a, b, c), "kernel_size stride padding"),
        "lp_pool2d": (lambda a, b, c: P.lp_pool2d(X, c, a, b), "kernel_size stride norm_type"),
        "adaptive_avg_pool2d": (lambda a, b, c: P.adaptive_avg_pool2d(X, (a, b)), "output_size"),
        "adaptive_max_pool1d": (lambda a, b, c: P.adaptive_max_pool1d(X[0], a), "output_size"),
        "fractional": (lambda a, b, c: P.fractional_max_pool2d(X, a, output_size=b, generator=0),
                       "kernel_size output_size"),
        "unpool": (lambda a, b, c: P.max_unpool2d(np.ones((1, 2, 4, 4), np.float32), idx2, a, b, c),
                   "kernel_size stride padding"),
        "broadcast": (lambda a, b, c: P.max_broadcast_pool2d(X, a), "kernel_size"),
        "blur": (lambda a, b, c: P.blur_pool2d(X, a, b), "stride filter_size"),
        "max_blur": (lambda a, b, c: P.max_blur_pool2d(X, a, b, c),
                     "kernel_size stride filter_size"),
        "conv_transpose2d": (lambda a, b, c: P.conv_transpose2d(
            X, np.ones((2, 1, 2, 2), np.float32), None, a, b, c),
            "stride padding output_padding"),
        "conv2d": (lambda a, b, c: P.conv2d(X, np.ones((1, 2, 2, 2), np.float32), None, a, b, c),
                   "stride padding dilation"),
        "max_pool2d_backward": (lambda a, b, c: P.max_pool2d_backward(
            np.ones((1, 2, 4, 4), np.float32), idx2, (1, 2, 8, 8), a, b, c),
            "kernel_size stride padding indices grad_output input_shape"),
        "avg_pool2d_backward": (lambda a, b, c: P.avg_pool2d_backward(
            np.ones((1, 2, 4, 4), np.float32), (1, 2, 8, 8), a, b, c),
            "kernel_size stride padding grad_output input_shape"),
    }


CALLS = _pool_calls()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(CALLS)), argument(), argument(), argument())
def test_bad_arguments_get_a_clear_error_or_the_reference_answer(name, a, b, c):
    call, names = CALLS[name]
    try:
        # as on a machine of 256 MiB: an output that size or larger is refused
        # with a MemoryError, the same path as a real machine's larger limit
        with mock.patch("pooledu.geometry._memory_bytes", lambda: 256 << 20):
            result = call(a, b, c)
    except (ValueError, TypeError, MemoryError) as err:
        message = str(err)
        assert any(n in message for n in names.split() + ["input", "output size"]), message
        return
    # accepted: the reference schedule, which shares no loop order with the
    # fast one, gives the same bits
    with P.schedule("reference"):
        expected = call(a, b, c)
    for got, want in zip(result if isinstance(result, tuple) else (result,),
                         expected if isinstance(expected, tuple) else (expected,)):
        np.testing.assert_array_equal(got, want)
