"""The fast CPU schedules give the same bits as the readable reference kernels."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pooledu as P
from pooledu import fast
from strategies import layouts, pool2d_cases, values, window_1d


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
    y, ry = both(lambda: P.global_avg_pool2d(x))
    same_bits(y, ry)
    same_bits(*both(lambda: P.global_avg_pool2d_backward(ry, x.shape)))


# ---------------------------------------------------------------------------
# the pooling family (fast_family.py): adaptive, volume, fractional, 1D, unpooling

def grads(shape, dtype, seed=0):
    """Output gradients with -0.0 and ties among them (the gathers must keep their signs)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(-2, 3, shape).astype(dtype) * rng.choice([1.0, 0.5, -0.0], shape).astype(dtype)
    return np.where(rng.random(shape) < 0.5, rng.standard_normal(shape).astype(dtype), g)


@st.composite
def family_shapes(draw, nd, max_size=9):
    batch = draw(st.sampled_from([(), (0,), (1,), (2,)]))
    return batch + (draw(st.integers(1, 3)),) + tuple(draw(st.integers(1, max_size))
                                                       for _ in range(nd))


@settings(max_examples=40)
@given(data=st.data(), nd=st.sampled_from([1, 2, 3]))
def test_adaptive_schedules_agree(data, nd):
    shape = data.draw(family_shapes(nd))
    out = tuple(data.draw(st.sampled_from([1, 1, 2, 3, n, n + 2])) for n in shape[-nd:])
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(layouts(data.draw(values(shape, dtype)), channels_last=False))
    avg, mx = getattr(P, f"adaptive_avg_pool{nd}d"), getattr(P, f"adaptive_max_pool{nd}d")
    y, ry = both(lambda: avg(x, out))
    same_bits(y, ry)
    g = grads(y.shape, dtype)
    same_bits(*both(lambda: getattr(P, f"adaptive_avg_pool{nd}d_backward")(g, x.shape)))
    (y, idx), (ry, ridx) = both(lambda: mx(x, out, return_indices=True))
    same_bits(y, ry)
    same_bits(idx, ridx)
    same_bits(*both(lambda: getattr(P, f"adaptive_max_pool{nd}d_backward")(g, idx, x.shape)))


@settings(max_examples=40)
@given(data=st.data(), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3, -2]))
def test_volume_schedules_agree(data, count_include_pad, divisor_override):
    dims = [data.draw(window_1d(dilation=True, max_size=7)) for _ in range(3)]
    batch = data.draw(st.sampled_from([(), (0,), (2,)]))
    shape = batch + (data.draw(st.integers(1, 2)),) + tuple(d[0] for d in dims)
    args = dict(kernel_size=tuple(d[1] for d in dims), stride=tuple(d[2] for d in dims),
                padding=tuple(d[3] for d in dims), ceil_mode=data.draw(st.booleans()))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    (y, idx), (ry, ridx) = both(lambda: P.max_pool3d(x, return_indices=True,
                                                      dilation=tuple(d[4] for d in dims), **args))
    same_bits(y, ry)
    same_bits(idx, ridx)
    same_bits(*both(lambda: P.max_pool3d_backward(grads(y.shape, dtype), idx, x.shape,
                                                  dilation=tuple(d[4] for d in dims), **args)))
    if any(n < k for n, k in zip(shape[-3:], args["kernel_size"])):
        return  # PyTorch's avg_pool3d wants each dimension to hold the kernel
    args.update(count_include_pad=count_include_pad, divisor_override=divisor_override)
    y, ry = both(lambda: P.avg_pool3d(x, **args))
    same_bits(y, ry)
    same_bits(*both(lambda: P.avg_pool3d_backward(grads(y.shape, dtype), x.shape, **args)))


@settings(max_examples=40)
@given(data=st.data(), case=pool2d_cases(dilation=True))
def test_1d_max_schedules_agree(data, case):
    """1D max pooling runs the 2D kernels with H = 1; its backward, the index gather."""
    shape, args, dtype = case
    shape = shape[:-2] + shape[-1:]
    args = {k: v[1] if isinstance(v, tuple) else v for k, v in args.items()}  # the W window
    x = data.draw(values(shape, dtype))
    (y, idx), (ry, ridx) = both(lambda: P.max_pool1d(x, return_indices=True, **args))
    same_bits(y, ry)
    same_bits(idx, ridx)
    same_bits(*both(lambda: P.max_pool1d_backward(grads(y.shape, dtype), idx, x.shape, **args)))


@settings(max_examples=40)
@given(data=st.data())
def test_fractional_schedules_agree(data):
    shape = data.draw(family_shapes(2, max_size=11))
    kernel = tuple(data.draw(st.integers(1, min(4, n))) for n in shape[-2:])
    out = tuple(data.draw(st.integers(1, n - k + 1)) for n, k in zip(shape[-2:], kernel))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    lead = (1,) + shape[:1] if len(shape) == 3 else shape[:2]
    u = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random(lead + (2,))
    (y, idx), (ry, ridx) = both(lambda: P.fractional_max_pool2d(
        x, kernel, output_size=out, return_indices=True, random_samples=u.astype(dtype)))
    same_bits(y, ry)
    same_bits(idx, ridx)
    same_bits(*both(lambda: P.fractional_max_pool2d_backward(grads(y.shape, dtype), idx, x.shape,
                                                             kernel)))


@settings(max_examples=30)
@given(data=st.data(), case=pool2d_cases(dilation=False),
       norm_type=st.sampled_from([1.0, 2.0, 3.0, 1.5, 0.5]))
def test_lp_backward_schedules_agree(data, case, norm_type):
    shape, args, dtype = case
    kernel, stride, ceil_mode = args["kernel_size"], args["stride"], args["ceil_mode"]
    assume(all(n >= k for n, k in zip(shape[-2:], np.broadcast_to(kernel, 2))))  # no padding
    x = data.draw(values(shape, dtype))
    y, ry = both(lambda: P.lp_pool2d(x, norm_type, kernel, stride, ceil_mode))
    same_bits(y, ry)
    g = grads(y.shape, dtype)
    same_bits(*both(lambda: P.lp_pool2d_backward(g, x, norm_type, kernel, stride, ceil_mode)))


def test_family_forwards_agree_across_lane_blocks():
    """Box forwards scan sixteen planes at a time (fast_family.LANES); 18 planes make
    one full block and one partial block, which the small hypothesis shapes never reach."""
    x = blocked_input((2, 9, 11, 13), "nchw", seed=4)
    for out in [(4, 6), 1, (13, 20)]:
        same_bits(*both(lambda: P.adaptive_avg_pool2d(x, out)))
        (y, idx), (ry, ridx) = both(lambda: P.adaptive_max_pool2d(x, out, return_indices=True))
        same_bits(y, ry)
        same_bits(idx, ridx)
    v = blocked_input((2, 9, 5, 7, 6), "nchw", seed=8)
    (y, idx), (ry, ridx) = both(lambda: P.max_pool3d(v, (2, 3, 2), (1, 2, 2), 1, ceil_mode=True,
                                                     return_indices=True))
    same_bits(y, ry)
    same_bits(idx, ridx)


@pytest.mark.parametrize("few", [True, False])
def test_family_gathers_agree_plane_by_plane_and_row_by_row(monkeypatch, few):
    """The family's backward gathers go plane by plane, or row by row where planes are
    few; the hypothesis shapes above are small, so here each way is forced in turn."""
    from pooledu import fast_family
    monkeypatch.setattr(fast_family, "few_planes", lambda P: few)
    x = blocked_input((2, 5, 11, 13), "nchw", seed=5)
    g = grads((2, 5, 4, 6), np.float32)
    same_bits(*both(lambda: P.adaptive_avg_pool2d_backward(g, x.shape)))
    _, idx = P.adaptive_max_pool2d(x, (4, 6), return_indices=True)
    same_bits(*both(lambda: P.adaptive_max_pool2d_backward(g, idx, x.shape)))
    u = np.random.default_rng(0).random((2, 5, 2)).astype(np.float32)
    _, idx = P.fractional_max_pool2d(x, 3, output_size=(4, 6), return_indices=True, random_samples=u)
    same_bits(*both(lambda: P.fractional_max_pool2d_backward(g, idx, x.shape, 3)))
    v = blocked_input((2, 3, 6, 9, 8), "nchw", seed=6)
    window = dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=1, ceil_mode=True)
    _, idx = P.max_pool3d(v, return_indices=True, **window)
    g3 = grads(idx.shape, np.float32)
    same_bits(*both(lambda: P.max_pool3d_backward(g3, idx, v.shape, **window)))
    same_bits(*both(lambda: P.avg_pool3d_backward(g3, v.shape, count_include_pad=False, **window)))
    y, idx = P.max_pool1d(x[0], 3, 2, 1, return_indices=True)
    same_bits(*both(lambda: P.max_pool1d_backward(grads(y.shape, np.float32), idx, x[0].shape,
                                                  3, 2, 1)))


def test_unpool_backward_schedules_agree():
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 10)).astype(np.float32)
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    g = grads((2, 3, 8, 10), np.float32)
    same_bits(*both(lambda: P.max_unpool2d_backward(g, idx)))


def test_family_fast_kernels_are_found():
    """The family's fast kernels are the ones dispatch picks by default."""
    from pooledu.dispatch import kernel
    for op in ["adaptive_avg_pool2d", "adaptive_max_pool3d_backward", "max_pool3d_backward",
               "avg_pool3d_backward", "fractional_max_pool2d_backward"]:
        assert kernel(op).__module__ == "pooledu.fast_family"
    assert kernel("lp_pool2d_backward") is fast.lp_pool2d_backward  # around fast's gather


def channels_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


# Shapes large enough that the fast kernels cut each image into several blocks
# of rows (fast.BLOCK elements a sweep), which the small hypothesis shapes never
# do: an NCHW plane 150 columns wide, and channels-last images of 32 channels.
BLOCKED = [((1, 2, 151, 150), "nchw"), ((2, 32, 33, 64), "channels_last")]
WINDOWS = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2),
           dict(kernel_size=3, stride=1, padding=1, ceil_mode=True),
           dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 0), ceil_mode=True)]


def blocked_input(shape, layout, seed):
    """Normals with NaN, +-inf and ties sprinkled in, and a border stripe of -inf
    (windows there have nothing larger than the padding)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = rng.random(shape) < 0.05
    x[mask] = rng.choice([np.nan, np.inf, -np.inf, 0.0, 1.0], size=int(mask.sum()))
    x[..., :3, :] = -np.inf
    x[..., :, -2:] = -np.inf
    x = x.astype(np.float32)
    return channels_last(x) if layout == "channels_last" else x


@pytest.mark.parametrize("shape, layout", BLOCKED)
@pytest.mark.parametrize("window", WINDOWS)
def test_schedules_agree_across_blocks(shape, layout, window):
    assert np.prod(shape[1:]) > 4 * fast.BLOCK  # several blocks per image
    x = blocked_input(shape, layout, seed=len(str(window)))
    (y, idx), (ry, ridx) = both(lambda: P.max_pool2d(x, return_indices=True, **window))
    same_bits(y, ry)
    same_bits(idx, ridx)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    if layout == "channels_last":
        g = channels_last(g)
    same_bits(*both(lambda: P.max_pool2d_backward(g, idx, x.shape, **window)))
    avg = dict(window, count_include_pad=False)
    same_bits(*both(lambda: P.avg_pool2d(x, **avg)))
    same_bits(*both(lambda: P.avg_pool2d_backward(g, x.shape, **avg)))


@pytest.mark.parametrize("shape, layout", BLOCKED)
def test_blocked_shapes_match_torch(shape, layout):
    """The same large shapes against PyTorch itself, in PyTorch's own memory layout."""
    import torch
    import torch.nn.functional as F
    x = blocked_input(shape, layout, seed=7)
    tx = torch.from_numpy(np.array(x))
    if layout == "channels_last":
        tx = tx.contiguous(memory_format=torch.channels_last)
    tx.requires_grad_(True)
    y, idx = P.max_pool2d(x, 3, 2, 1, return_indices=True)
    ty, tidx = F.max_pool2d(tx, 3, 2, 1, return_indices=True)
    same_bits(y, ty.detach().numpy())
    assert np.array_equal(idx, tidx.numpy())
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    (tgx,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
    same_bits(P.max_pool2d_backward(g, idx, x.shape, 3, 2, 1), tgx.numpy())


def test_channels_last_in_channels_last_out():
    x = channels_last(np.random.default_rng(0).standard_normal((2, 8, 9, 9)).astype(np.float32))
    y, idx = P.max_pool2d(x, 3, 2, 1, return_indices=True)
    for a in (y, idx, P.avg_pool2d(x, 2), P.max_pool2d_backward(channels_last(y), idx, x.shape, 3, 2, 1),
              P.avg_pool2d_backward(channels_last(y), x.shape, 3, 2, 1)):
        assert not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_no_hidden_copies(layout):
    """Peak extra memory of a forward pass is its output and indices, and a few
    blocks of scratch per thread (fast.BLOCK elements each): no copy of the input.

    Stride 2 stages a block's input rows in 2 x 2 stride phases (4 blocks, and a
    row more); the running maxima and their offsets take 2 blocks each."""
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
    scratch = numba.get_num_threads() * (4 + 1 + 2 + 2) * fast.BLOCK * x.itemsize
    assert peak - (y.nbytes + idx.nbytes) < scratch + 64 * 1024 < x.nbytes / 2


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        with P.schedule("turbo"):
            pass
