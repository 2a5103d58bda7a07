"""Unpooling and transposed convolution: how a decoder gets its resolution back.

Goal: undo a 2x2 max pooling three ways, with the stored indices
(``max_unpool2d``, SegNet's decoder), by nearest upsampling, and with a
transposed convolution (U-Net's up-convolution); see that a transposed
convolution is exactly the input gradient of a convolution, why its output
size needs ``output_padding`` (a strided convolution maps several input sizes
to one output size), and where the checkerboard pattern of a 3x3 stride-2
transposed convolution comes from.
Run it as ``python lessons/15_unpooling_and_transposed_convolution.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: unpooling with the stored indices
#
# Max pooling keeps each window's largest value and, with
# ``return_indices=True``, where it was. ``max_unpool2d`` puts every value back
# at its place and fills the rest with zeros: a partial inverse that restores
# the positions, not the values that were thrown away.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.lessons import output_dir, say
from pooledu.viz.style import draw_grid, finish_grid_axes, panel_title

OUT = output_dir()
rng = np.random.default_rng(15)

X = rng.integers(0, 10, (1, 4, 4)).astype(np.float64)
Y, idx = pooledu.max_pool2d(X, 2, return_indices=True)
unpooled = pooledu.max_unpool2d(Y, idx, 2)
print("Step 1. X:")
print(X[0])
print("  max pooled:", Y[0].tolist(), " indices:", idx[0].tolist())
print("  max_unpool2d puts them back:")
print(unpooled[0])
kept = int((unpooled != 0).sum())
say(f"""{kept} of 16 cells get a value back; the other {16 - kept} are zero. The map has
its size again and every maximum sits where it was found, which keeps edges in
place. SegNet's decoder (Badrinarayanan et al., 2015) unpools this way with the
indices its encoder stored, then convolves to fill in the zeros; it learns no
upsampling weights and passes only the indices, not the feature maps.""")

# %% [markdown]
# ## Step 2: nearest upsampling is a transposed convolution
#
# A transposed convolution scatters every input cell, times its filter, onto
# the output: input (i, j) paints the patch at (s*i, s*j). With a 2x2 filter of
# ones and stride 2 the patches tile the output, each a copy of one input
# value: nearest-neighbour upsampling.

# %%
ones = np.ones((1, 1, 2, 2))
nearest = pooledu.conv_transpose2d(Y, ones, stride=2)
by_repeat = Y.repeat(2, axis=1).repeat(2, axis=2)
print("\nStep 2. conv_transpose2d(Y, ones 2x2, stride=2):")
print(nearest[0])
print(f"  equal to repeating each value 2x2: {np.array_equal(nearest, by_repeat)}")
w_up = rng.standard_normal((1, 1, 2, 2))
learned = pooledu.conv_transpose2d(Y, w_up, stride=2)
print(f"  with learned weights {np.round(w_up[0, 0], 2).tolist()}: the top-left patch is "
      f"{Y[0, 0, 0]:g} x w = {np.round(learned[0, :2, :2], 2).tolist()}")
say("""U-Net's expanding path (Ronneberger et al., 2015) upsamples with exactly this:
a 2x2 transposed convolution at stride 2 (its 'up-convolution'), whose weights
are learned, followed by concatenating the encoder's feature map of the same
level (the skip connection) and two 3x3 convolutions. Where SegNet passes
indices, U-Net passes the whole feature map.""")

# %% [markdown]
# ## Step 3: the transpose of a convolution
#
# A convolution is a linear map, y = A x. Its input gradient is A^T g, and
# "transposed convolution" names exactly that map: pooledu computes
# ``conv_transpose2d`` with the kernel of ``conv2d_backward``.

# %%
x7 = rng.standard_normal((1, 3, 7, 7))
w = rng.standard_normal((4, 3, 3, 3))  # conv2d: (C_out, C_in, k, k)
g = rng.standard_normal(pooledu.conv2d(x7, w, stride=2, padding=1).shape)
grad_x = pooledu.conv2d_backward(g, x7, w, stride=2, padding=1)[0]
transposed = pooledu.conv_transpose2d(g, w, stride=2, padding=1)
same_as_gradient = bool(np.array_equal(grad_x, transposed))
# <A x, g> = <x, A^T g>: the defining property of a transpose
lhs = float((pooledu.conv2d(x7, w, stride=2, padding=1) * g).sum())
rhs = float((x7 * transposed).sum())
print(f"\nStep 3. conv2d 3x3/2, padding 1: 7x7 -> {g.shape[-1]}x{g.shape[-1]}")
print(f"  conv_transpose2d(g, w) equals conv2d_backward's input gradient: {same_as_gradient}")
print(f"  <conv2d(x), g> = {lhs:.10f}, <x, conv_transpose2d(g)> = {rhs:.10f}")

# %% [markdown]
# ## Step 4: why the output size needs help
#
# A 3x3 stride-2 convolution with padding 1 maps a 7-wide and an 8-wide input
# both to 4 outputs: the formula floors. Going back, 4 could mean 7 or 8, so
# the transposed convolution returns the smaller, (4 - 1)*2 - 2*1 + 3 = 7, and
# ``output_padding=1`` asks for the other.

# %%
to_four = [n for n in range(1, 20) if pooledu.pool_output_size(n, 3, 2, 1) == 4]
sizes = {op: pooledu.conv_transpose2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2,
                                      padding=1, output_padding=op).shape[-1] for op in (0, 1)}
print(f"\nStep 4. input widths that a 3x3/2 convolution (padding 1) maps to 4: {to_four}")
print(f"  conv_transpose2d from 4: output_padding 0 -> {sizes[0]}, output_padding 1 -> "
      f"{sizes[1]}")
say("""The same holds for unpooling: 2x2/2 max pooling maps 6 and 7 to 3, and
max_unpool2d takes output_size to choose. A decoder that must meet its skip
connection's size passes that size along; U-Net instead crops the skip.""")

# %% [markdown]
# ## Step 5: checkerboards
#
# With a 3x3 filter at stride 2 the painted patches overlap, but not evenly:
# along a row, output cells alternate between one and two contributing input
# cells, and in 2D between 1, 2 and 4. A constant input and a constant filter
# give a checkerboard (Odena, Dumoulin and Olah, 2016). A 2x2 filter at stride
# 2 tiles without overlap, and resize-then-convolve avoids the problem.

# %%
counts = pooledu.conv_transpose2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2)[0]
interior = counts[2:-2, 2:-2]
print("\nStep 5. how many input cells reach each output cell, 3x3 filter, stride 2:")
print(counts[:5, :5].astype(int))
print(f"  interior values: {sorted(set(interior.ravel().astype(int).tolist()))}; with a 2x2 "
      f"filter: {sorted(set(pooledu.conv_transpose2d(np.ones((1, 4, 4)), ones, stride=2).ravel().astype(int).tolist()))}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 4.6))
panels = [(X[0], "input X (4x4)"), (unpooled[0], "max_unpool2d(max_pool2d(X))"),
          (nearest[0], "nearest: transposed conv, ones 2x2/2"),
          (counts[:7, :7], "3x3/2 transposed conv: overlaps")]
for n, (ax, (values, title)) in enumerate(zip(axes, panels)):
    # the unpooled panel: the zeros unpooling leaves in a light orange
    faces = [["#fde0c5" if v == 0 else "white" for v in row] for row in values] if n == 1 else None
    draw_grid(ax, values, faces=faces)
    panel_title(ax, values.shape[1] / 2, 0, title, fontsize=11)
    finish_grid_axes(ax)
fig.suptitle("three ways back up: indices, copies, learned (and overlapping) patches")
path = OUT / "15_unpooling.png"
fig.savefig(path, dpi=100, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")

# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/15_unpooling_and_transposed_convolution.py``;
# ``pooledu check 15`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(15)

RESULTS = dict(kept=kept, unpooled=unpooled, nearest_is_repeat=bool(np.array_equal(nearest, by_repeat)),
               same_as_gradient=same_as_gradient, adjoint=(lhs, rhs), to_four=to_four,
               sizes=sizes, overlap_counts=sorted(set(interior.ravel().astype(int).tolist())),
               figure=str(path))
