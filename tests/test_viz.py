"""Figures: they build, and the numbers they show are the kernels' numbers.

The window and routing figures are read back from their artists (``ax.texts``,
found by gid) and compared, as strings, with the kernels' outputs formatted
the way the figures format them. One full build of every figure (into a
temporary directory) is shared by the tests that look at files.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from pooledu import (avg_pool2d, avg_pool2d_backward, max_pool2d,  # noqa: E402
                     max_pool2d_backward, pool_output_size)
from pooledu.analysis import (activation_counts, head_params, input_gradient,  # noqa: E402
                              invariance_curve, measured_receptive_field, pool_stack,
                              receptive_field, shifted_pair, stem_flops)
from pooledu.figures import FIGURES, build_figures  # noqa: E402
from pooledu.geometry import ceil_mode_windows  # noqa: E402
from pooledu.viz import (draw_avg_spread, draw_max_routing, draw_output_size,  # noqa: E402
                         draw_pooling_windows, draw_sliding_step)
from pooledu.viz.style import format_value  # noqa: E402

COMMITTED = Path(__file__).resolve().parent.parent / "figures"


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def texts(ax, gid):
    """The strings a figure shows for panel ``gid``, in drawing (row-major) order."""
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def formatted(a):
    return [format_value(v) for v in np.asarray(a).ravel()]


# ---------------------------------------------------------------------------
# windows: a random valid window over a small random plane

@st.composite
def windows(draw, dilated=True):
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    d = draw(st.integers(1, 2)) if dilated else 1
    ceil_mode = draw(st.booleans())
    n = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
    m = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).integers(-9, 10, (n, m)).astype(np.float64)
    return x, (k, s, p, d, ceil_mode)


@settings(deadline=None, max_examples=25)
@given(windows())
def test_window_figure_shows_the_kernel_outputs(case):
    x, (k, s, p, d, ceil_mode) = case
    fig, ax = plt.subplots()
    try:
        art = draw_pooling_windows(ax, x, k, s, p, d, ceil_mode)
        assert texts(ax, "input") == formatted(x)
        y = max_pool2d(x[None], k, s, p, d, ceil_mode)[0]
        assert texts(ax, "max") == formatted(y)
        if d == 1:
            assert texts(ax, "avg") == formatted(avg_pool2d(x[None], k, s, p, ceil_mode)[0])
        else:
            assert texts(ax, "avg") == []  # avg_pool2d has no dilation
        assert len(art["input"]["windows"]) == y.size
    finally:
        plt.close(fig)


def test_canonical_window_figure(ax):
    x = np.array([[1, 3, 2, 0], [4, 2, 1, 5], [0, 6, 3, 3], [1, 1, 2, 8]], dtype=np.float64)
    draw_pooling_windows(ax, x, 2)
    assert texts(ax, "max") == ["4", "5", "6", "8"]
    assert texts(ax, "avg") == ["2.5", "2", "2", "4"]


@settings(deadline=None, max_examples=20)
@given(windows())
def test_max_routing_figure_shows_the_backward_kernel(case):
    x, (k, s, p, d, ceil_mode) = case
    fig, ax = plt.subplots()
    try:
        art = draw_max_routing(ax, x, k, s, p, d, ceil_mode)
        y, idx = max_pool2d(x[None], k, s, p, d, ceil_mode, return_indices=True)
        g = np.arange(1.0, y.size + 1).reshape(y.shape)
        gx = max_pool2d_backward(g, idx, (1,) + x.shape, k, s, p, d, ceil_mode)
        assert texts(ax, "grad_output") == formatted(g)
        assert texts(ax, "grad_input") == formatted(gx)
        # one arrow per winner, each ending just left of the grad_input panel on the
        # row of the cell its window's index names (inside the panel it would hide zeros)
        ends = [a.xy for a in art["arrows"]]
        winners = idx.ravel()[idx.ravel() >= 0]  # -1: a window made only of padding
        assert len(ends) == len(winners)
        cells = [t for t in ax.texts if t.get_gid() == "grad_input"]
        left_edge = cells[0].get_position()[0] - 0.5
        for (ex, ey), flat in zip(ends, winners):
            assert ey == pytest.approx(cells[flat].get_position()[1])
            assert left_edge - 0.1 < ex < left_edge
    finally:
        plt.close(fig)


def test_max_routing_adds_up_where_windows_share_a_winner(ax):
    x = np.zeros((5, 5))
    x[2, 2] = 1.0  # the centre is in all four 3x3/2 windows and wins each
    draw_max_routing(ax, x, 3, 2)
    shown = np.array([float(t) for t in texts(ax, "grad_input")]).reshape(5, 5)
    assert shown[2, 2] == 1 + 2 + 3 + 4
    assert np.count_nonzero(shown) == 1


@settings(deadline=None, max_examples=20)
@given(windows(dilated=False))
def test_avg_spread_figure_shows_the_backward_kernel(case):
    x, (k, s, p, _, ceil_mode) = case
    fig, ax = plt.subplots()
    try:
        draw_avg_spread(ax, x.shape, k, s, p, ceil_mode)
        out = avg_pool2d(x[None], k, s, p, ceil_mode).shape
        g = np.arange(1.0, np.prod(out) + 1).reshape(out)
        gx = avg_pool2d_backward(g, (1,) + x.shape, k, s, p, ceil_mode)
        assert texts(ax, "grad_output") == formatted(g)
        assert texts(ax, "grad_input") == formatted(gx)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------
# output size, sliding frames

@pytest.mark.parametrize("n, k, s, p, d, ceil_mode", [
    (5, 3, 2, 1, 1, False), (6, 3, 2, 0, 1, True), (5, 2, 2, 1, 1, True),
    (7, 3, 1, 0, 2, False), (4, 2, 3, 1, 1, True), (1, 1, 1, 0, 1, False)])
def test_output_size_ruler(ax, n, k, s, p, d, ceil_mode):
    art = draw_output_size(ax, n, k, s, p, d, ceil_mode)
    out = pool_output_size(n, k, s, p, d, ceil_mode)
    dropped = ceil_mode_windows(n, k, s, p, d)[2] if ceil_mode else None
    assert len(art["windows"]) == out + (dropped is not None)
    assert texts(ax, "index") == [str(i) for i in range(n)]
    assert any(f"= {out}" in t for t in texts(ax, "formula"))
    assert any("dropped" in t for t in texts(ax, "label")) == (dropped is not None)


def test_sliding_step_fills_the_output_in_order(ax):
    x = np.arange(36.0).reshape(6, 6)[::-1]
    y = max_pool2d(np.ascontiguousarray(x)[None], 2)[0]
    draw_sliding_step(ax, x, 4, 2)
    assert texts(ax, "output") == formatted(y.ravel()[:5])
    assert texts(ax, "caption")[1] == "max(20, 21, 14, 15) = 21"


def test_sliding_step_circles_the_winner_and_names_a_tie(ax):
    x = np.array([[1.0, 7.0], [7.0, 2.0]])  # the max appears twice
    art = draw_sliding_step(ax, x, 0, 2)
    assert texts(ax, "caption")[2] == "tie: (0, 1) wins over (1, 0) (dashed), first in scan order"
    solid, dashed = art["winner"]
    assert solid.center == (1.5, 0.5) and dashed.center == (0.5, 1.5)  # (col + 0.5, row + 0.5)
    assert dashed.get_linestyle() == "--" and solid.get_linestyle() == "-"


# ---------------------------------------------------------------------------
# the measurements behind the figures

def test_receptive_field_matches_the_vgg_numbers():
    stack = [("conv", 3, 1, 1)] * 2 + [("pool", 2, 2)]
    assert [f.size for f in receptive_field(stack * 3)] == [1, 3, 5, 6, 10, 14, 16, 24, 32, 36]
    assert [f.jump for f in receptive_field(stack)] == [1, 1, 1, 2]


@st.composite
def stacks(draw):
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(1, 4))
        layers.append((draw(st.sampled_from(["conv", "pool"])), k, draw(st.integers(1, 3)),
                       draw(st.integers(0, k // 2))))
    return layers


@settings(deadline=None, max_examples=40)
@given(stacks())
def test_receptive_field_formula_matches_the_input_gradient(layers):
    # a big input, so that the centre unit's field lies inside it
    size = receptive_field(layers)[-1].size
    n = 2 * size + 2 * np.prod([layer[2] for layer in layers]) + 2
    try:
        x = np.zeros((1, n, n))
        for _, k, s, p in layers:
            x = avg_pool2d(x, k, s, p)
    except ValueError:
        return  # the stack shrinks the input to nothing; nothing to measure
    field = receptive_field(layers)[-1]
    lo, hi = field.span(x.shape[1] // 2)
    if lo < 0 or hi > n:
        return  # the centre unit reads padding: its field is clipped
    assert measured_receptive_field(layers, n) == (field.size, field.size)
    rows = np.nonzero(input_gradient(layers, n).any(axis=1))[0]
    assert (rows.min(), rows.max() + 1) == (lo, hi)


def test_invariance_curve():
    x = np.random.default_rng(0).random((4, 16, 24))
    f = invariance_curve(x, [0, 1, 2, 4], layers=1)
    assert f[0] == 1.0
    assert 0 < f[1] < 1
    assert f[2] == f[3] == 0.0  # random floats: a whole-stride shift changes every output
    # ... because the pooled map itself shifts by one cell (equivariance)
    a, b = shifted_pair(x, 2, 4)
    ya, yb = pool_stack(a, 1), pool_stack(b, 1)
    assert np.array_equal(yb[..., 1:], ya[..., :-1])
    # a stack of three layers is more invariant to a one-pixel shift than one layer
    assert invariance_curve(x, [1], layers=3)[0] > f[1]


def test_costs():
    assert head_params() == {"flatten + FC": 25_088_000, "global avg pool + FC": 512_000}
    counts = [c for _, c in activation_counts(224, 64, 4)]
    assert all(a == 4 * b for a, b in zip(counts, counts[1:]))
    strided, pooled = stem_flops().values()
    assert strided == 2 * 112 * 112 * 64 * 3 * 49
    assert 4 * strided < pooled < 4.05 * strided


def test_ceil_mode_windows():
    assert ceil_mode_windows(5, 2, 2, 1) == (3, 3, 3)
    assert ceil_mode_windows(6, 3, 2) == (2, 3, None)
    assert ceil_mode_windows(4, 2, 2) == (2, 2, None)


# ---------------------------------------------------------------------------
# the whole set

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, build_figures(out=out, progress=False)


def test_every_figure_builds(built):
    out, written = built
    assert {p.stem for p in written} == set(FIGURES)
    for p in written:
        assert p.stat().st_size > 0
        if p.suffix in (".png", ".gif"):
            Image.open(p).verify()


def test_regenerated_set_has_the_committed_names(built):
    out, _ = built
    from pooledu.experiments import EXPERIMENTS
    # figures/ also holds the experiments' results (accuracy.md, ...), written by `pooledu experiment`
    committed = [p.name for p in COMMITTED.iterdir() if p.stem not in EXPERIMENTS]
    assert sorted(p.name for p in out.iterdir()) == sorted(committed)


def test_gif_has_one_frame_per_output_cell(built):
    out, _ = built
    for name, (_, params) in FIGURES.items():
        if name.startswith("sliding_"):
            n = params["size"]
            m = pool_output_size(n, params["kernel_size"], params["stride"])
            with Image.open(out / f"{name}.gif") as gif:
                assert gif.n_frames == m * m


def test_html_has_the_animation_controls(built):
    out, _ = built
    html = (out / "sliding_max_6x6_k2_s2.html").read_text()
    for control in ("play_animation", "pause_animation", "next_frame", "previous_frame",
                    'type="range"'):
        assert control in html
    assert "new Array(9)" in html  # nine frames
    assert "font-awesome" not in html and "https://" not in html  # works offline


def test_committed_figures_are_byte_identical_to_a_rebuild(built):
    # The figures are drawn from fixed seeds and the kernels' results, so a
    # rebuild gives the same bytes (with the matplotlib and Pillow versions the
    # test extra pins). A difference means a committed figure no longer shows
    # what the code computes: rebuild it with `pooledu figures NAME` and look.
    out, written = built
    stale = [p.name for p in written if p.read_bytes() != (COMMITTED / p.name).read_bytes()]
    assert not stale, f"figures/ differs from a rebuild: {stale}"


def test_unknown_figure_name():
    with pytest.raises(ValueError, match="unknown figure name"):
        build_figures(["no_such_figure"], progress=False)
