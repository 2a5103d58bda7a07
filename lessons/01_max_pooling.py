"""Max pooling by hand: each output is the largest value of one k x k window.

Goal: compute a 2x2 max pooling of a 4x4 feature map with our own hands,
window by window, and check every number against pooledu's kernel; read the
kernel's source beside the formula; see that the layer has nothing to learn;
and count how much smaller a 26x26 map gets (676 values become 169).
Run it as ``python lessons/01_max_pooling.py [--out DIR]``.
"""

# %% [markdown]
# ## The formula
#
# For channel c, output row i and column j, with a k x k window moved s cells
# at a time:
#
#     y[c, i, j] = max over u, v in 0..k-1 of x[c, s*i + u, s*j + v]
#
# The window of output (i, j) starts at input row s*i and column s*j. With
# k = s = 2 the windows tile the map without overlapping.
#
# To watch the windows move, and to change k, s, padding and more, run `pooledu explore`.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu import cpu, formulas
from pooledu.lessons import output_dir, say
from pooledu.viz.windows import draw_pooling_windows

OUT = output_dir()
rng = np.random.default_rng(1)

# a small feature map: whole numbers, so every maximum is easy to check by eye
X = rng.integers(0, 10, size=(4, 4)).astype(np.float64)
k = s = 2
print("Step 1. A 4x4 feature map X (one channel):")
print(X)
say("""Max pooling slides a k x k window over the map, s cells at a time, and keeps
the largest value the window sees. With k = s = 2 the windows tile the map:
every cell belongs to exactly one window, and the map shrinks to half its
height and width.""")

# %% [markdown]
# ## Step 2: one window at a time, by hand
#
# Plain Python, straight from the formula: slice out each window and take its max.

# %%
H_out = pooledu.pool_output_size(X.shape[0], k, s)
W_out = pooledu.pool_output_size(X.shape[1], k, s)
by_hand = np.empty((H_out, W_out))
print(f"\nStep 2. Windows of {k}x{k}, stride {s}: {H_out}x{W_out} outputs. Output (i, j) "
      f"reads rows {s}i..{s}i+{k - 1} and columns {s}j..{s}j+{k - 1}:")
for i in range(H_out):
    for j in range(W_out):
        window = X[s * i:s * i + k, s * j:s * j + k]
        by_hand[i, j] = window.max()
        print(f"  y[{i},{j}]: window rows {s * i}-{s * i + k - 1}, cols {s * j}-{s * j + k - 1} "
              f"holds {window.ravel().tolist()} -> max {by_hand[i, j]:g}")

# %% [markdown]
# ## Step 3: the same with pooledu's kernel
#
# `max_pool2d` also returns where each maximum was (a flat index h*W + w in the plane).

# %%
Y, idx = pooledu.max_pool2d(X[None], k, s, return_indices=True)  # X[None]: (C=1, 4, 4)
Y, idx = Y[0], idx[0]
agree = bool(np.array_equal(Y, by_hand))
print("\nStep 3. pooledu.max_pool2d(X, 2) gives")
print(Y)
print(f"  equal to the hand computation: {agree}")
print("  winners (row, col):", [divmod(int(f), X.shape[1]) for f in idx.ravel()])
say("""The kernel also stores where each maximum was, as a flat index row * W + col:
the backward pass (lesson 4) sends each gradient to that cell and nowhere else.""")

# %% [markdown]
# ## Step 4: the kernel's own source
#
# The formula lives once, in `pooledu.formulas.max_window`; the reference CPU
# schedule in `pooledu.cpu` only loops over planes and output positions and
# calls it. (It also handles padding, dilation, NaN and ties, which the next
# lessons use.) The default schedule, `pooledu.fast`, visits the same taps in
# a faster loop order and gives the same bits; lesson 10 times both.

# %%
formula_source = inspect.getsource(formulas.max_window)
schedule_source = inspect.getsource(cpu.max_pool2d.py_func)
print("\nStep 4. The formula as pooledu compiles it (pooledu/formulas.py):\n")
print(formula_source)
print("and the reference loop that calls it for every output (pooledu/cpu.py):\n")
print(schedule_source)
say("""Read the loop body against the formula: the tap (u, v) of output (i, j) is
input row s*i - p + d*u and column s*j - p + d*v; padding p and dilation d are 0
and 1 here. Ties keep the first maximum in scan order, and a NaN wins, as in
PyTorch.""")

# %% [markdown]
# ## Step 5: nothing to learn
#
# A convolution layer carries weights that training adjusts: they are
# arguments of `pooledu.conv2d`. Max pooling's only inputs are the data and
# the fixed window settings, so it has zero parameters.

# %%
learnable = ("weight", "bias")
pool_args = list(inspect.signature(pooledu.max_pool2d).parameters)
conv_args = list(inspect.signature(pooledu.conv2d).parameters)
n_params = sum(name in learnable for name in pool_args)
print(f"\nStep 5. pooledu.max_pool2d takes {pool_args}")
print(f"  pooledu.conv2d takes      {conv_args}")
print(f"  learnable arguments: max pooling {n_params}, convolution "
      f"{sum(name in learnable for name in conv_args)} (the window size and stride are chosen, "
      "not learned)")

# %% [markdown]
# ## Step 6: a 26x26 map
#
# A 28x28 digit after one valid 3x3 convolution is 26x26. Pooling it 2x2
# halves each side.

# %%
big = rng.standard_normal((1, 26, 26))
small = pooledu.max_pool2d(big, 2)
before, after = big[0].size, small[0].size
print(f"\nStep 6. A 26x26 map: pool_output_size(26, 2) = {pooledu.pool_output_size(26, 2)}, "
      f"so the output is {small.shape[1]}x{small.shape[2]}.")
print(f"  values: {before} -> {after}, {before / after:g} times fewer "
      f"(each side halves, so the area shrinks 2 * 2 = 4 times)")

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
draw_pooling_windows(ax, X, k, s)
ax.set_title("2x2 max pooling, stride 2: each coloured window gives one output", pad=28)
path = OUT / "01_max_pooling_4x4.png"
fig.savefig(path, dpi=120, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")
say("""To watch the window slide one output at a time, open
figures/sliding_max_6x6_k2_s2.html in a browser (play, pause, step); the
winner of each window is circled, and a tie says which cell won.""")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/01_max_pooling.py``; ``pooledu check 1`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(1)

RESULTS = dict(X=X, by_hand=by_hand, Y=Y, agree=agree, n_params=n_params,
               cells_before=before, cells_after=after, reduction=before / after,
               formula_source=formula_source, figure=str(path))
