"""The fast CPU schedules give the same bits as the readable reference kernels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pooledu as P
from pooledu import fast
from strategies import layouts, pool2d_cases, values


def both(fn):
    with P.schedule("reference"):
        want = fn()
    with P.schedule("fast"):
        got = fn()
    return got, want


def same_bits(a, b):
    """Bit-identical, except that one NaN may stand for another.

    IEEE 754 leaves the sign and payload of a NaN to the hardware: ``inf + -inf``
    gives x86's default NaN (sign bit set), and when both operands of an add
    are NaN the result carries one of the two, whichever the compiler put
    first. So NaNs must sit in the same places; their bits are not compared.
    """
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        assert np.array_equal(nan, np.isnan(b))
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
    assert a.tobytes() == b.tobytes()


@given(data=st.data(), case=pool2d_cases(dilation=True))
def test_max_schedules_agree(data, case):
    shape, args, dtype = case
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    (y, idx), (ry, ridx) = both(lambda: P.max_pool2d(x, return_indices=True, **args))
    same_bits(y, ry)
    same_bits(idx, ridx)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    same_bits(*both(lambda: P.max_pool2d_backward(g, idx, x.shape, **args)))


@given(data=st.data(), case=pool2d_cases(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3, -2]))
def test_avg_schedules_agree(data, case, count_include_pad, divisor_override):
    shape, args, dtype = case
    args.update(count_include_pad=count_include_pad, divisor_override=divisor_override)
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    y, ry = both(lambda: P.avg_pool2d(x, **args))
    same_bits(y, ry)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    same_bits(*both(lambda: P.avg_pool2d_backward(g, x.shape, **args)))


@given(data=st.data(), case=pool2d_cases(dilation=False))
def test_global_average_schedules_agree(data, case):
    shape, _, dtype = case
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    same_bits(*both(lambda: P.global_avg_pool2d(x)))


def channels_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def test_channels_last_in_channels_last_out():
    x = channels_last(np.random.default_rng(0).standard_normal((2, 8, 9, 9)).astype(np.float32))
    y, idx = P.max_pool2d(x, 3, 2, 1, return_indices=True)
    for a in (y, idx, P.avg_pool2d(x, 2), P.max_pool2d_backward(channels_last(y), idx, x.shape, 3, 2, 1),
              P.avg_pool2d_backward(channels_last(y), x.shape, 3, 2, 1)):
        assert not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_no_hidden_copies(layout):
    """Peak extra memory of a forward pass is its output and indices, and a few
    blocks of scratch per thread (fast.BLOCK elements each): no copy of the input."""
    import tracemalloc

    import numba
    x = np.random.default_rng(0).standard_normal((4, 16, 64, 64)).astype(np.float32)
    if layout == "channels_last":
        x = channels_last(x)
    P.max_pool2d(x, 2, return_indices=True)  # compile outside the measurement
    tracemalloc.start()
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scratch = numba.get_num_threads() * 6 * fast.BLOCK * x.itemsize  # phases, maxima, offsets
    assert peak - (y.nbytes + idx.nbytes) < scratch + 64 * 1024 < x.nbytes / 2


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        with P.schedule("turbo"):
            pass
