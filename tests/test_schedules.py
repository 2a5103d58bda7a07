"""The fast CPU schedules give the same bits as the readable reference kernels.

Every operation's generated cases are compared in ``test_operations.py``; this
file covers what those small cases do not reach: the fast 2D loops' blocks,
layouts and copies, channel runs in channels-last memory, and the family's
sixteen-plane lanes and two gather orders.
"""

import numpy as np
import pytest

import pooledu as P
from pooledu import fast, fast_ndhwc, fast_nhwc, geometry


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



def channels_last(a):
    """(N, C, *spatial) values in (N, *spatial, C) memory: channels_last, or channels_last_3d."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


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
    schedules_agree(blocked_input(shape, layout, seed=len(str(window))), layout, window)


def schedules_agree(x, layout, window):
    """Max and average pooling, forward and backward, give the same bits in both schedules."""
    def grad_like(y):
        g = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
        return channels_last(g) if layout == "channels_last" else g

    (y, idx), (ry, ridx) = both(lambda: P.max_pool2d(x, return_indices=True, **window))
    same_bits(y, ry)
    same_bits(idx, ridx)
    g = grad_like(y)
    same_bits(*both(lambda: P.max_pool2d_backward(g, idx, x.shape, **window)))
    plain = {key: value for key, value in window.items() if key != "dilation"}  # no dilated averages
    for count_include_pad in (False, True):
        avg = dict(plain, count_include_pad=count_include_pad)
        y, ry = both(lambda: P.avg_pool2d(x, **avg))
        same_bits(y, ry)
        g = grad_like(y)
        same_bits(*both(lambda: P.avg_pool2d_backward(g, x.shape, **avg)))


# Channels-last images of fast_nhwc.MIN_CHANNELS channels or more are read where
# they lie, a pixel's channels in SIMD vectors and a remainder: channel counts at
# and past multiples of the vector widths, one past a run of RUN channels, and
# counts that the blocks serve (one channel, one short of MIN_CHANNELS).
# Dilation reaches past the border of these images.
RUNS = [(1, 9, 11), (fast_nhwc.MIN_CHANNELS - 1, 9, 11), (fast_nhwc.MIN_CHANNELS, 9, 11),
        (33, 9, 11), (40, 8, 7), (fast_nhwc.RUN + 1, 4, 5)]


@pytest.mark.parametrize("channels, height, width", RUNS)
@pytest.mark.parametrize("window", WINDOWS + [dict(kernel_size=3, stride=(1, 2), padding=1,
                                                   dilation=(2, 3))])
def test_schedules_agree_on_runs_of_channels(channels, height, width, window):
    x = blocked_input((2, channels, height, width), "channels_last", seed=channels)
    schedules_agree(x, "channels_last", window)
    schedules_agree(x.astype(np.float64), "channels_last", window)


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


# Max backward: blocks of input rows take the gradients their cells won, window by
# window (fast.max_route_rows), in NCHW planes and in channels-last images of fewer
# than fast_nhwc.MIN_CHANNELS channels. Windows that tile, overlap, leave gaps (stride
# past the kernel), reach across padding, ceil_mode's partial windows, dilation;
# blocks of one row up to the whole image, cut across windows and along them.
ROUTED = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
          dict(kernel_size=3, stride=1, padding=1, ceil_mode=True),
          dict(kernel_size=2, stride=3), dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 0),
                                               ceil_mode=True),
          dict(kernel_size=3, stride=(1, 2), padding=1, dilation=(2, 3))]


def routed_case(window, dtype, layout, seed=0):
    """Input with NaN, infinities and ties (one plane constant, so that overlapping
    windows pick the same cells), its indices, and gradients of mixed magnitudes
    with -0.0 and ties, whose sums change if their order does."""
    x = blocked_input((2, 3, 13, 11), "nchw", seed=seed).astype(dtype)
    x[0, 1] = 1.0
    _, idx = P.max_pool2d(x, return_indices=True, **window)
    rng = np.random.default_rng(seed)
    g = (grads(idx.shape, dtype, seed) * 10.0 ** rng.integers(-8, 9, idx.shape)).astype(dtype)
    if layout == "channels_last":
        return channels_last(x), channels_last(idx), channels_last(g)
    return x, idx, g


@pytest.mark.parametrize("window", ROUTED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_max_backward_rows_agree_with_the_reference(window, dtype, layout):
    x, idx, g = routed_case(window, dtype, layout)
    gx, want = both(lambda: P.max_pool2d_backward(g, idx, x.shape, **window))
    same_bits(gx, want)
    win = geometry.pool_window("max_pool2d_backward", x.shape[-2:], **window)
    kh, sh, ph, dh = win.kernel[0], win.stride[0], win.padding[0], win.dilation[0]
    if layout == "channels_last":  # (N, C, H, W) views -> the (N, H, W, C) memory
        g4, idx4, want4 = (np.moveaxis(a, 1, -1) for a in (g, idx, want))
    else:  # (N, C, H, W) -> (N*C, H, W, 1): a plane per image
        g4, idx4, want4 = (a.reshape(6, a.shape[2], a.shape[3], 1) for a in (g, idx, want))
    for rows in (1, 2, 3, 5, 13):
        gx4 = np.full(want4.shape, np.nan, dtype)  # every cell must be written
        fast.max_route_rows(g4, idx4, gx4, kh, sh, ph, dh, rows)
        same_bits(gx4, want4)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_max_backward_rows_take_minus_one_and_any_cell_the_window_reaches(layout):
    """-1 routes nothing; an index on a cell between a dilated window's taps (inside its
    reach, so the check passes it) still routes its gradient there, as in the reference
    gather (and PyTorch's scatter)."""
    window = dict(kernel_size=2, stride=1, dilation=2)
    x, idx, g = routed_case(window, np.float32, layout)
    idx = idx.copy()  # keeps the layout
    idx[:, :, 0, 0] = -1
    idx[:, :, 1, 1] = 1 * 11 + 2  # window (1, 1) reaches rows 1-3 and columns 1-3
    gx, want = both(lambda: P.max_pool2d_backward(g, idx, x.shape, **window))
    same_bits(gx, want)
    assert np.array_equal(gx[:, :, 1, 2] != 0, g[:, :, 1, 1] != 0)


# Channels-last adaptive and global max pooling read windows where they lie too, in runs
# of channels: windows that overlap and differ in size (9 -> 7, 11 -> 5), one output
# (ResNet's head), outputs larger than the input (9 -> 13, 11 -> 14), and a mix.
ADAPTIVE_OUTPUTS = [(7, 5), 1, (13, 14), (1, 11)]


@pytest.mark.parametrize("channels", [fast_nhwc.MIN_CHANNELS, 33, fast_nhwc.RUN + 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_schedules_agree_on_channels_last_adaptive_and_global(channels, dtype):
    x = blocked_input((2, channels, 9, 11), "channels_last", seed=channels).astype(dtype)
    for out in ADAPTIVE_OUTPUTS:
        y, ry = both(lambda: P.adaptive_avg_pool2d(x, out))
        same_bits(y, ry)
        (m, idx), (rm, ridx) = both(lambda: P.adaptive_max_pool2d(x, out, return_indices=True))
        same_bits(m, rm)
        same_bits(idx, ridx)
        g = channels_last(grads(y.shape, dtype))  # -0.0 and ties among the gradients
        same_bits(*both(lambda: P.adaptive_avg_pool2d_backward(g, x.shape)))
        same_bits(*both(lambda: P.adaptive_max_pool2d_backward(g, idx, x.shape)))
    (m, idx), (rm, ridx) = both(lambda: P.global_max_pool2d(x, return_indices=True))
    same_bits(m, rm)
    same_bits(idx, ridx)
    same_bits(*both(lambda: P.global_max_pool2d_backward(grads(m.shape, dtype), idx, x.shape)))


def test_channels_last_adaptive_matches_torch():
    """Runs of channels against PyTorch, each result in the memory layout PyTorch gives it.

    Max pooling matches PyTorch's channels-last kernels bit for bit. Average pooling
    matches its NCHW kernels bit for bit, the sum divided by kh and then by kw; its
    channels-last kernel divides by kh*kw at once in its SIMD lanes (8 or more
    channels), which can round 1 ulp apart, and by kh and kw in its scalar tail.
    """
    import torch
    import torch.nn.functional as F
    x = blocked_input((2, 40, 13, 13), "channels_last", seed=3)
    t_cl = torch.from_numpy(np.array(x)).contiguous(memory_format=torch.channels_last)
    t_nchw = torch.from_numpy(np.ascontiguousarray(x))
    for t in (t_cl, t_nchw):
        t.requires_grad_(True)
    for out in [7, (5, 17)]:
        y, idx = P.adaptive_max_pool2d(x, out, return_indices=True)
        a = P.adaptive_avg_pool2d(x, out)
        g = channels_last(grads(y.shape, np.float32))
        ty, tidx = F.adaptive_max_pool2d(t_cl, out, return_indices=True)
        ta, ta_cl = F.adaptive_avg_pool2d(t_nchw, out), F.adaptive_avg_pool2d(t_cl, out)
        (tgx,) = torch.autograd.grad(ty, t_cl, torch.from_numpy(g))
        (tga,) = torch.autograd.grad(ta, t_nchw, torch.from_numpy(np.ascontiguousarray(g)))
        gx = P.adaptive_max_pool2d_backward(g, idx, x.shape)
        ga = P.adaptive_avg_pool2d_backward(g, x.shape)
        for ours, theirs, layout in [(y, ty, ty), (idx, tidx, tidx), (a, ta, ta_cl),
                                     (gx, tgx, t_cl), (ga, tga, t_cl)]:
            same_bits(ours, theirs.detach().numpy())
            assert ours.strides == layout.detach().numpy().strides


def test_max_kernel_keeps_int64_indices_where_int32_would_not_do():
    """Images of 2**31 pixels or more keep their running indices in int64
    (``fast_family.running_index``): the same results as int32, here on a small image."""
    x = np.ascontiguousarray(blocked_input((2, 17, 9, 11), "nchw", seed=9).transpose(0, 2, 3, 1))
    rows, cols = fast_nhwc.adaptive_windows(9, 4), fast_nhwc.adaptive_windows(11, 6)
    results = []
    for index_type in (np.int32, np.int64):
        y, idx = np.empty((2, 4, 6, 17), np.float32), np.empty((2, 4, 6, 17), np.int64)
        fast_nhwc.max_direct(x, y, idx, rows, cols, 1, 1, np.empty(0, index_type))
        results.append((y, idx))
    same_bits(results[0][0], results[1][0])
    same_bits(results[0][1], results[1][1])


def test_global_max_backward_routes_nothing_from_index_minus_one():
    """-1 (a plane with no argmax) names no cell: that plane's gradient is 0 in both schedules."""
    g, idx = np.array([[1.0, 2.0]]), np.array([[0, -1]])
    gx, reference = both(lambda: P.global_max_pool2d_backward(g, idx, (1, 2, 2, 2)))
    same_bits(gx, reference)
    assert gx[0, 1].tolist() == [[0.0, 0.0], [0.0, 0.0]]


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


# ---------------------------------------------------------------------------
# the pooling family (fast_family.py): what the operation table's small cases miss

def grads(shape, dtype, seed=0):
    """Output gradients with -0.0 and ties among them (the gathers must keep their signs)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(-2, 3, shape).astype(dtype) * rng.choice([1.0, 0.5, -0.0], shape).astype(dtype)
    return np.where(rng.random(shape) < 0.5, rng.standard_normal(shape).astype(dtype), g)


# channels_last_3d volumes: the max kernels read voxels of fast_ndhwc.MIN_CHANNELS
# channels or more where they lie (fewer go through NCDHW copies), the mean kernels
# every count. Counts either side of that limit, past the SIMD widths, and one past a
# run of RUN channels; windows with padding, ceil_mode, dilation, and (the last, where
# H = 3) windows made only of padding.
VOLUME_RUNS = [(fast_ndhwc.MIN_CHANNELS - 1, (4, 6, 7)), (fast_ndhwc.MIN_CHANNELS, (4, 6, 7)),
               (16, (5, 3, 6)), (33, (3, 5, 9)), (fast_nhwc.RUN + 1, (3, 5, 4))]
VOLUME_WINDOWS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                  dict(kernel_size=(2, 3, 2), stride=(1, 2, 3), padding=(1, 1, 0), ceil_mode=True),
                  dict(kernel_size=3, stride=(2, 1, 2), padding=1, dilation=(1, 2, 2)),
                  dict(kernel_size=(1, 2, 2), stride=1, padding=(0, 1, 1), dilation=(1, 4, 2))]


@pytest.mark.parametrize("channels, spatial", VOLUME_RUNS)
@pytest.mark.parametrize("window", VOLUME_WINDOWS)
def test_schedules_agree_on_channels_last_volumes(channels, spatial, window):
    x = blocked_input((2, channels) + spatial, "channels_last", seed=channels)
    for dtype in (np.float32, np.float64):
        volumes_agree(x.astype(dtype), window)  # astype keeps the memory layout


def volumes_agree(x, window):
    """3D max and average pooling of a channels_last_3d volume, forward and max backward,
    give the reference's bits, in PyTorch's layouts: channels_last_3d max results and
    gradients, contiguous averages."""
    def last(a):
        return np.moveaxis(a, 1, -1).flags.c_contiguous

    (y, idx), (ry, ridx) = both(lambda: P.max_pool3d(x, return_indices=True, **window))
    assert last(y) and last(idx)
    same_bits(y, ry)
    same_bits(idx, ridx)
    g = channels_last(grads(y.shape, x.dtype, seed=x.shape[1]))  # ties and -0.0
    gx, rgx = both(lambda: P.max_pool3d_backward(g, idx, x.shape, **window))
    assert last(gx)
    same_bits(gx, rgx)
    if "dilation" in window:
        return  # average pooling takes no dilation
    for extra in (dict(count_include_pad=False), dict(count_include_pad=True),
                  dict(divisor_override=-2)):
        y, ry = both(lambda: P.avg_pool3d(x, **window, **extra))
        assert y.flags.c_contiguous
        same_bits(y, ry)


@pytest.mark.parametrize("channels, spatial", VOLUME_RUNS)
def test_schedules_agree_on_adaptive_channels_last_volumes(channels, spatial):
    x = blocked_input((2, channels) + spatial, "channels_last", seed=channels)
    D, H, W = spatial
    for out in [(2, 3, 4), (D + 1, H + 2, W), (1, 1, 1), (D, 1, W - 1)]:
        y, ry = both(lambda: P.adaptive_avg_pool3d(x, out))
        assert y.flags.c_contiguous
        same_bits(y, ry)
        (y, idx), (ry, ridx) = both(lambda: P.adaptive_max_pool3d(x, out, return_indices=True))
        assert y.flags.c_contiguous and idx.flags.c_contiguous
        same_bits(y, ry)
        same_bits(idx, ridx)


def test_channels_last_volumes_match_torch():
    """A channels_last_3d volume of many channels against PyTorch itself: values, indices,
    gradients and the layout of each (the hypothesis cases have 1 to 3 channels)."""
    import torch
    import torch.nn.functional as F
    x = blocked_input((2, 24, 4, 7, 6), "channels_last", seed=3)
    tx = torch.from_numpy(np.array(x)).contiguous(memory_format=torch.channels_last_3d)
    tx.requires_grad_(True)
    window = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    y, idx = P.max_pool3d(x, return_indices=True, **window)
    ty, tidx = F.max_pool3d(tx, return_indices=True, **window)
    assert ty.is_contiguous(memory_format=torch.channels_last_3d)
    assert np.moveaxis(y, 1, -1).flags.c_contiguous and np.moveaxis(idx, 1, -1).flags.c_contiguous
    same_bits(y, ty.detach().numpy())
    assert np.array_equal(idx, tidx.numpy())
    g = channels_last(grads(y.shape, np.float32))
    (tgx,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
    same_bits(P.max_pool3d_backward(g, idx, x.shape, **window), tgx.numpy())
    out = (3, 4, 5)
    for ours, theirs in [(P.avg_pool3d(x, count_include_pad=False, **window),
                          F.avg_pool3d(tx, count_include_pad=False, **window)),
                         (P.adaptive_avg_pool3d(x, out), F.adaptive_avg_pool3d(tx, out)),
                         (P.adaptive_max_pool3d(x, out), F.adaptive_max_pool3d(tx, out))]:
        assert ours.flags.c_contiguous and theirs.is_contiguous()
        same_bits(ours, theirs.detach().numpy())


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


@pytest.mark.parametrize("window", [dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=1,
                                         ceil_mode=True, count_include_pad=False),
                                    dict(kernel_size=3, stride=(2, 1, 3), padding=(0, 1, 1)),
                                    dict(kernel_size=2, divisor_override=-3)])
def test_volume_average_rows_add_each_window_in_order(window):
    """avg_pool3d's fast forward adds a tap at a time across a row of windows
    (fast_family.avg_volume_sweeps): strides, padding cut by the volume's edges,
    ceil_mode windows and the divisor rules, on ties, -0.0, NaN and inf."""
    x = blocked_input((2, 3, 6, 9, 11), "nchw", seed=9)
    x[0, 0, 1] = -0.0
    same_bits(*both(lambda: P.avg_pool3d(x, **window)))


@pytest.mark.parametrize("window", [dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=1,
                                         dilation=(2, 1, 3), ceil_mode=True),
                                    dict(kernel_size=3, stride=(2, 1, 3), padding=(0, 1, 1),
                                         dilation=2)])
def test_dilated_volume_max_rows_take_each_tap_in_order(window):
    """max_pool3d's fast forward with dilation takes a tap at a time across a row of
    windows (fast_family.volume_row_sweeps): taps in the padding skipped, windows cut
    by the volume's edges, NaN, ties and -inf; and fractional windows likewise, with
    kernels of an odd and an even number of taps (fast_family.fractional_max_planes)."""
    x = blocked_input((2, 3, 6, 9, 11), "nchw", seed=9)
    (y, idx), (ry, ridx) = both(lambda: P.max_pool3d(x, return_indices=True, **window))
    same_bits(y, ry)
    same_bits(idx, ridx)
    u = np.random.default_rng(3).random((2, 3, 2)).astype(np.float32)
    for kernel in [3, (2, 3)]:
        (y, idx), (ry, ridx) = both(lambda: P.fractional_max_pool2d(
            x[:, :, 0], kernel, output_size=(5, 6), return_indices=True, random_samples=u))
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
    same_bits(*both(lambda: P.avg_pool1d_backward(grads((2, 5, 7), np.float32), (2, 5, 13), 3, 2,
                                                  1, count_include_pad=False)))
    y, idx = P.max_pool1d(x[0], 3, 2, 1, return_indices=True)
    same_bits(*both(lambda: P.max_pool1d_backward(grads(y.shape, np.float32), idx, x[0].shape,
                                                  3, 2, 1)))


@pytest.mark.parametrize("few", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_family_average_gathers_take_each_share_in_order(monkeypatch, few, dtype):
    """The average gathers add each window's share through a table of the windows that
    hold each cell (fast_family.tap_table), padded with a zero share: windows that tile
    (one share a cell, stored), that overlap (two to eight, added in order), that
    leave cells out (floor mode: those cells stay 0), cut by padding and ceil_mode, and
    adaptive boxes of uneven sizes; plane by plane and row by row."""
    from pooledu import fast_family
    monkeypatch.setattr(fast_family, "few_planes", lambda P: few)
    v = (2, 3, 5, 9, 11)
    for window in [dict(kernel_size=2), dict(kernel_size=(1, 2, 4), stride=(1, 2, 4)),
                   dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                   dict(kernel_size=(2, 3, 2), stride=(3, 2, 3), ceil_mode=True,
                        count_include_pad=False, divisor_override=-3)]:
        shape = P.avg_pool3d(np.zeros(v, dtype), **window).shape
        g = grads(shape, dtype, seed=len(window))
        same_bits(*both(lambda: P.avg_pool3d_backward(g, v, **window)))
    g = grads((2, 3, 9), dtype)
    same_bits(*both(lambda: P.avg_pool1d_backward(g, (2, 3, 36), 4)))
    for out in [(2, 4, 5), (5, 7, 4), (3, 1, 11)]:
        g = grads((2, 3) + out, dtype, seed=out[0])
        same_bits(*both(lambda: P.adaptive_avg_pool3d_backward(g, v)))
    g = grads((2, 3, 7, 7), dtype)
    same_bits(*both(lambda: P.adaptive_avg_pool2d_backward(g, (2, 3, 13, 13))))


@pytest.mark.parametrize("few", [True, False])
def test_family_max_gathers_clear_each_slice_before_its_windows(monkeypatch, few):
    """The max gathers set each depth slice (each row, for planes) to 0 just before the
    first windows that reach it: windows that tile, overlap, leave cells out or hold
    padding; indices of -1 (which route nothing) among them, ties and -0.0 in the
    gradients; 3D, 2D (adaptive, fractional) and 1D; plane by plane and row by row."""
    from pooledu import fast_family
    monkeypatch.setattr(fast_family, "few_planes", lambda P: few)
    v = blocked_input((2, 3, 5, 9, 11), "nchw", seed=7)
    for window in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                   dict(kernel_size=(1, 2, 2), stride=(2, 3, 3)),
                   dict(kernel_size=2, stride=1, dilation=(2, 1, 3))]:
        _, idx = P.max_pool3d(v, return_indices=True, **window)
        idx[0, 1, ..., 1] = -1  # a window of padding only routes nothing
        g = grads(idx.shape, np.float32, seed=idx.shape[-1])
        same_bits(*both(lambda: P.max_pool3d_backward(g, idx, v.shape, **window)))
    x = v[:, :, 0]
    _, idx = P.adaptive_max_pool2d(x, (4, 5), return_indices=True)
    g = grads(idx.shape, np.float32)
    same_bits(*both(lambda: P.adaptive_max_pool2d_backward(g, idx, x.shape)))
    u = np.random.default_rng(1).random((2, 3, 2)).astype(np.float32)
    _, idx = P.fractional_max_pool2d(x, 2, output_size=(6, 7), return_indices=True,
                                     random_samples=u)
    g = grads(idx.shape, np.float32, seed=2)
    same_bits(*both(lambda: P.fractional_max_pool2d_backward(g, idx, x.shape, 2)))
    y, idx = P.max_pool1d(x[..., 0, :], 3, 2, return_indices=True)
    same_bits(*both(lambda: P.max_pool1d_backward(grads(y.shape, np.float32), idx, (2, 3, 11),
                                                  3, 2)))


def test_family_fast_kernels_are_found():
    """The family's fast kernels are the ones dispatch picks by default."""
    from pooledu.dispatch import kernel
    for op in ["adaptive_avg_pool2d", "adaptive_max_pool3d_backward", "max_pool3d_backward",
               "avg_pool3d_backward", "fractional_max_pool2d_backward"]:
        assert kernel(op).__module__ == "pooledu.fast_family"
    assert kernel("lp_pool2d_backward") is fast.lp_pool2d_backward  # around fast's gather


# ---------------------------------------------------------------------------
# LP pooling, max unpooling and max-broadcast in channels-last memory (the
# fast_nhwc kernels at its end): more channels than the hypothesis cases' 1 to 3,
# NaN, infinities and ties in the input, -0.0 and ties in the gradients

def is_channels_last(a):
    return not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


def same_bits_and_layout(got, want):
    """The fast schedule's channels-last result has the reference's bits."""
    assert is_channels_last(got)
    same_bits(got, want)


def cl_grads(shape, dtype, seed=0):
    return channels_last(grads(shape, dtype, seed))


FAMILY_CHANNELS = [fast_nhwc.MIN_CHANNELS, 33]


def same_bits_nchw(got, want):
    """The fast schedule's NCHW result has the reference's bits, in C order."""
    assert got.flags.c_contiguous
    same_bits(got, want)


LP_POWERS = [2, 1, 3, -1, 0.5, 2.5, float("inf"), -float("inf")]
LP_WINDOWS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, ceil_mode=True),
              dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True)]


def lp_input(shape, layout, dtype, p):
    x = blocked_input(shape, layout, seed=shape[1]).astype(dtype)
    if p not in (1, 2, -1, float("inf"), -float("inf")):
        x = np.abs(x)  # a fractional or odd generic power makes the signed sums NaN
    return x


@pytest.mark.parametrize("channels", FAMILY_CHANNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", LP_POWERS)
def test_lp_pool2d_channels_last_gives_the_reference_bits(channels, dtype, p):
    x = lp_input((2, channels, 9, 11), "channels_last", dtype, p)
    for window in LP_WINDOWS:
        y, ry = both(lambda: P.lp_pool2d(x, p, **window))
        same_bits_and_layout(y, ry)
        g = cl_grads(y.shape, dtype)
        same_bits_and_layout(*both(lambda: P.lp_pool2d_backward(g, x, p, **window)))


# NCHW planes (fast_family's row kernels): rows longer than the SIMD widths, ceil_mode's
# cut windows at the right and bottom, windows wider than, as wide as and narrower
# than their stride (the gather's two loop orders), and 1D pooling (H = 1)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", LP_POWERS)
def test_lp_pool_nchw_gives_the_reference_bits(dtype, p):
    x = lp_input((2, 3, 10, 37), "nchw", dtype, p)
    for window in LP_WINDOWS + [dict(kernel_size=(3, 2), stride=2, ceil_mode=True),
                                dict(kernel_size=2, stride=(2, 3), ceil_mode=True)]:
        y, ry = both(lambda: P.lp_pool2d(x, p, **window))
        same_bits_nchw(y, ry)
        g = grads(y.shape, dtype)
        same_bits_nchw(*both(lambda: P.lp_pool2d_backward(g, x, p, **window)))
    x1 = x[:, :, 4]  # (N, C, L) rows, ending in -inf
    for window in [dict(kernel_size=2), dict(kernel_size=3, stride=2, ceil_mode=True)]:
        y, ry = both(lambda: P.lp_pool1d(x1, p, **window))
        same_bits_nchw(y, ry)
        g = grads(y.shape, dtype)
        same_bits_nchw(*both(lambda: P.lp_pool1d_backward(g, x1, p, **window)))


# one image cut into runs of channels (fewer images than threads), as well as whole images
@pytest.mark.parametrize("batch, channels", [(2, c) for c in FAMILY_CHANNELS]
                         + [(1, fast_nhwc.UNPOOL_RUN + 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_unpool2d_channels_last_gives_the_reference_bits(batch, channels, dtype):
    x = blocked_input((batch, channels, 9, 11), "channels_last", seed=channels).astype(dtype)
    y, idx = P.max_pool2d(x, 3, 2, 1, return_indices=True)
    idx = idx.copy()  # still channels-last
    idx[0, 1, 0, 1] = idx[0, 1, 0, 0]  # colliding indices: the later value wins
    idx[-1, -1, 2, :] = idx[-1, -1, 1, 0]
    g = cl_grads(x.shape, dtype)
    for indices in (idx, np.ascontiguousarray(idx)):  # indices in either layout
        u, ru = both(lambda: P.max_unpool2d(y, indices, 3, 2, 1, output_size=x.shape[-2:]))
        same_bits_and_layout(u, ru)
        same_bits_and_layout(*both(lambda: P.max_unpool2d_backward(g, indices)))


@pytest.mark.parametrize("layout", [np.ascontiguousarray, channels_last])
def test_max_unpool2d_keeps_the_last_write_like_torch(layout):
    import torch
    import torch.nn.functional as F
    x = layout(np.arange(2 * 16 * 2 * 2, dtype=np.float32).reshape(2, 16, 2, 2))
    idx = layout(np.tile(np.array([[5, 5], [9, 5]]), (2, 16, 1, 1)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # PyTorch's last write wins on one thread
    try:
        want = F.max_unpool2d(torch.from_numpy(x), torch.from_numpy(idx), 2)
    finally:
        torch.set_num_threads(threads)
    got, reference = both(lambda: P.max_unpool2d(x, idx, 2))
    same_bits(got, want.numpy())
    same_bits(reference, want.numpy())
    assert is_channels_last(got) == is_channels_last(x)  # the fast schedule keeps the layout


@pytest.mark.parametrize("channels", FAMILY_CHANNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_broadcast_channels_last_gives_the_reference_bits(channels, dtype):
    x = blocked_input((2, channels, 9, 11), "channels_last", seed=channels).astype(dtype)
    for k in [2, 3, (2, 4)]:  # ragged borders: 9 and 11 are no multiple of the kernel
        (y, idx), (ry, ridx) = both(lambda: P.max_broadcast_pool2d(x, k, return_indices=True))
        same_bits_and_layout(y, ry)
        same_bits_and_layout(idx, ridx)
        g = cl_grads(x.shape, dtype)
        for indices in (idx, np.ascontiguousarray(idx)):
            same_bits_and_layout(*both(lambda: P.max_broadcast_pool2d_backward(g, indices, k)))


def test_channels_last_bad_indices_are_refused_as_in_nchw():
    """The channels-last index checks name the same first bad index as the NCHW ones."""
    x = blocked_input((2, 16, 8, 8), "channels_last", seed=3)
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    bad = idx.copy()
    bad[1, 5, 2, 3], bad[1, 7, 0, 0] = 64, -3
    for indices in (bad, np.ascontiguousarray(bad)):
        with pytest.raises(ValueError, match=r"index 64 lies outside the output plane of 8x8"):
            P.max_unpool2d(y, indices, 2)
        with pytest.raises(ValueError, match=r"index 64 lies outside"):
            P.max_unpool2d_backward(x, indices)
    _, idx = P.max_broadcast_pool2d(x, 2, return_indices=True)
    bad = idx.copy()
    bad[0, 3, 1, 1] = idx[0, 3, 1, 2]  # a cell of the next window
    g = cl_grads(x.shape, np.float32)
    for indices in (bad, np.ascontiguousarray(bad)):
        with pytest.raises(ValueError, match=r"indices\[0, 3, 1, 1\] = .* does not reach"):
            P.max_broadcast_pool2d_backward(g, indices, 2)


def test_max_broadcast_channels_last_without_int32_indices(monkeypatch):
    """Images whose flat indices do not fit int32 take max pooling's kernel and a copy
    of the window maxima instead of the one-pass kernel; too large to make here, so forced."""
    monkeypatch.setattr(fast, "indices_fit", lambda shape: False)
    x = blocked_input((2, 16, 9, 11), "channels_last", seed=2)
    (y, idx), (ry, ridx) = both(lambda: P.max_broadcast_pool2d(x, (2, 3), return_indices=True))
    same_bits_and_layout(y, ry)
    same_bits_and_layout(idx, ridx)


def hostile_planes(shape, dtype, seed=0):
    """Small integers (ties everywhere), zeros of both signs, NaNs with distinct payloads
    (several in a plane), and -inf, with some planes all -inf: what the max rule must
    settle in the scan's own way."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(dtype)
    x[x == 0] = np.where(rng.random(int((x == 0).sum())) < 0.5, -0.0, 0.0)
    bits = x.view(np.uint32 if dtype == np.float32 else np.uint64)
    nan = rng.random(shape) < 0.03
    bits[nan] = np.array(np.nan, dtype).view(bits.dtype) | rng.integers(1, 99, int(nan.sum()),
                                                                          dtype=bits.dtype)
    x[rng.random(shape) < 0.2] = -np.inf
    x[:3] = -np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_pass_max_keeps_the_scans_bits(dtype):
    """Global max (fast_family.run_max) finds the max, then the cell the rule's scan
    would end on: the last NaN, else the first of the tied maxima; NaN payloads and
    zero signs must come out as the scan leaves them (compared bit for bit here)."""
    x = hostile_planes((40, 3, 5, 7), dtype)
    (y, idx), (ry, ridx) = both(lambda: P.global_max_pool2d(x, return_indices=True))
    assert y.tobytes() == ry.tobytes() and np.array_equal(idx, ridx)
