"""Translation invariance: small shifts inside a window leave max pooling unchanged, others do not.

Goal: move a single feature by one pixel and watch whether the pooled output
changes. It does not when the feature stays inside the same 2x2 window
(columns 4 and 5, since 4 // 2 == 5 // 2) and it does when the move crosses a
window border (columns 3 and 4). Then measure how often a one-pixel shift is
absorbed, over many random positions and for one, two and three stacked
pooling layers, and on dense random maps.
Run it as ``python lessons/05_translation_invariance.py [--out DIR]``.
"""

# %% [markdown]
# ## Which window holds a pixel?
#
# With 2x2 windows at stride 2 (0-based indices), input column w belongs to
# output column w // 2. Columns 4 and 5 share output column 2; columns 3 and
# 4 belong to output columns 1 and 2.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.analysis import invariance_curve, pool_stack
from pooledu.lessons import output_dir, say
from pooledu.viz import draw_invariance_curve, draw_shift_comparison

OUT = output_dir()
rng = np.random.default_rng(5)


def feature_at(row, col, size=8):
    """A (1, size, size) map that is zero except for one firing feature."""
    x = np.zeros((1, size, size))
    x[0, row, col] = 1.0
    return x


def pooled_position(x, layers=1):
    """Where the feature ends up after ``layers`` 2x2/2 max poolings."""
    y = pool_stack(x, layers, 2)
    return tuple(int(v) for v in np.argwhere(y[0] == 1.0)[0])


same = {}
for a, b in [((3, 4), (3, 5)), ((3, 3), (3, 4))]:
    ya, yb = pooledu.max_pool2d(feature_at(*a), 2), pooledu.max_pool2d(feature_at(*b), 2)
    same[(a, b)] = bool(np.array_equal(ya, yb))
    print(f"Step 1. Feature at {a} -> pooled cell {pooled_position(feature_at(*a))}; "
          f"at {b} -> pooled cell {pooled_position(feature_at(*b))}. "
          f"Columns {a[1]} // 2 = {a[1] // 2}, {b[1]} // 2 = {b[1] // 2}: "
          f"outputs {'identical' if same[(a, b)] else 'DIFFERENT'}")

# %% [markdown]
# ## Step 2: over many random positions
#
# Put the feature at a random place, shift it one pixel to the right, and
# check whether the output of one, two or three stacked 2x2/2 poolings is
# identical. After L layers one output cell covers 2^L columns, so a
# one-pixel shift crosses a border only from the last column of a block:
# we expect 1/2, 3/4 and 7/8 of shifts to be absorbed. Note what is
# measured: the shift is absorbed in the output, but the output is also
# 2^L times coarser.

# %%
trials, width = 4000, 40  # 40 -> 20 -> 10 -> 5: three layers read every column up to 39
rows = rng.integers(0, 8, trials)
cols = rng.integers(0, 32, trials)  # the feature and its shifted copy stay inside the read columns
before = np.zeros((trials, 8, width))  # one plane per trial: a single kernel call pools them all
before[np.arange(trials), rows, cols] = 1.0
after = np.zeros_like(before)
after[np.arange(trials), rows, cols + 1] = 1.0
say("""With 2x2 windows at stride 2, input column w belongs to output column w // 2.
A feature moving from column 4 to 5 stays in output column 2; one moving from 3 to
4 crosses a window border. Max pooling absorbs only the first kind of move.""")
absorbed, expected = {}, {}
for layers in (1, 2, 3):
    unchanged = (pool_stack(before, layers, 2) == pool_stack(after, layers, 2)).all(axis=(1, 2))
    absorbed[layers] = float(unchanged.mean())
    expected[layers] = 1 - 0.5 ** layers
    print(f"Step 2. {layers} pooling layer(s): a one-pixel shift leaves the output unchanged "
          f"for {absorbed[layers]:.1%} of {trials} random positions "
          f"(expected 1 - 1/2^{layers} = {expected[layers]:.1%})")

# %% [markdown]
# ## Step 3: dense maps and larger shifts
#
# A real feature map has many active cells, not one. On random maps a shift
# changes many windows at once. `invariance_curve` (pooledu.analysis) shifts
# whole maps and counts the pooled values that stay exactly equal. Two kinds of
# maps: dense noise, and sparse ones (5% of cells active, like ReLU features
# of a specific detector).

# %%
dense = rng.random((16, 48, 56))
sparse = dense * (rng.random(dense.shape) < 0.05)
shifts = list(range(0, 9))
curves = {}
for name, maps in (("dense", dense), ("sparse", sparse)):
    for layers in (1, 2, 3):
        curves[(name, layers)] = invariance_curve(maps, shifts, layers=layers)
        print(f"Step 3. {name:>6}, {layers} layer(s): fraction unchanged for shifts 0..8 = "
              + " ".join(f"{v:.2f}" for v in curves[(name, layers)]))
say("""Read the dense rows first. After one layer a one-pixel shift leaves a third
of the outputs unchanged: the old window and the shifted one share one column,
so they see 6 different values between them, and the output stays equal only if
the largest of the 6 sits in the shared column, 2 chances in 6. A shift by
exactly the total stride (2, 4, 8 for one, two, three layers) hands every window
entirely new cells: 0.00 unchanged. The output has moved by one cell, which is
equivariance, not invariance.""")
# the sparse plateau: windows that are empty before and after the shift
zero_window = {layers: float((pool_stack(sparse, layers, 2) == 0).mean()) for layers in (1, 2, 3)}
plateau = {layers: zero_window[layers] ** 2 for layers in (1, 2, 3)}
say(f"""The sparse rows level off instead of reaching 0, at {curves[('sparse', 1)][-1]:.2f} and
{curves[('sparse', 2)][-1]:.2f}. That plateau is not invariance either: with 95% of cells zero,
{zero_window[1]:.0%} of the 2x2 windows hold only zeros, and a window that is empty
before and after the shift counts as 'unchanged'. For shifts beyond the window the
two are independent, so about {zero_window[1]:.2f}^2 = {plateau[1]:.2f} of the outputs stay
zero; for two layers, with 4x4 windows, {zero_window[2]:.2f}^2 = {plateau[2]:.2f}; for three
layers, 8x8 windows are hardly ever empty: {plateau[3]:.3f}.""")

# %% [markdown]
# ## The caveat
#
# Max pooling only absorbs moves that stay within a window. A shift across a
# border changes the output, and a shift by the stride moves the whole output
# by one cell. Stacking layers makes more small shifts disappear, at the cost
# of resolution, and a network becomes invariant only to the extent its
# pooling (and its training data) make it so.

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
demo = np.zeros((8, 9))
demo[3, 5] = 1.0  # the crops drop one column: column 4 in the first crop, 5 in the shifted one
draw_shift_comparison(axes[0], demo, 1)
axes[0].set_title("feature at column 4 shifted to 5: same 2x2 window, same output", pad=22)
draw_invariance_curve(axes[1], {"dense": dense, "sparse": sparse}, 8)
axes[1].set_title("fraction of pooled outputs unchanged by a shift", pad=22)
path = OUT / "05_translation_invariance.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/05_translation_invariance.py``; ``pooledu check 5`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(5)

RESULTS = dict(same_window_34_35=same[((3, 4), (3, 5))], same_window_33_34=same[((3, 3), (3, 4))],
               absorbed=absorbed, expected=expected, zero_window=zero_window, plateau=plateau, curves={f"{n}_{l}": c.tolist() for (n, l), c in curves.items()},
               figure=str(path))
