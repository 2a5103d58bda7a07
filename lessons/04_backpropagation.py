"""Backpropagation through pooling: max routes the gradient, average spreads it.

Goal: follow the gradient backwards through a pooling layer. Max pooling
sends each output's gradient only to the cell that won its window (the argmax
stored in the forward pass), so most input gradients are exactly zero; average
pooling gives every cell of a window g / k^2; where windows overlap the
contributions add up. A finite-difference check confirms both are exact.
Run it as ``python lessons/04_backpropagation.py [--out DIR]``.
"""

# %% [markdown]
# ## The rules
#
# Max: y = x[winner], so dy/dx is 1 for the winner and 0 for every other cell
# of the window. The forward pass stores the winner's index; the backward pass
# needs nothing else.
#
# Average: y = (1/k^2) * sum of the window, so every cell gets dy/dx = 1/k^2.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.lessons import output_dir, say
from pooledu.viz.gradients import draw_avg_spread, draw_max_routing

OUT = output_dir()
rng = np.random.default_rng(4)

# distinct whole numbers, so each window has exactly one winner
X = rng.permutation(16).astype(np.float64).reshape(1, 4, 4)
Y, idx = pooledu.max_pool2d(X, 2, return_indices=True)
G = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # the gradient arriving from the next layer
print("Step 1. Input X:")
print(X[0])
print("  max pooled Y:", Y[0].tolist(), " stored winners (flat h*4+w):", idx[0].tolist())
print("  incoming gradient dL/dY:", G[0].tolist())
say("""Backpropagation asks: if an input cell moved a little, how much would the
loss move? Max pooling's output is y = x[winner], so dy/dx is 1 for the winner
and 0 for every other cell of the window; the winner's index, stored in the
forward pass, is all the backward pass needs. Average pooling's output is
(1/k^2) * sum of the window, so every cell gets dy/dx = 1/k^2.""")

# %% [markdown]
# ## Step 2: max pooling's backward pass
#
# Each of the four gradients lands on its window's winner; the other twelve
# cells get zero.

# %%
gx_max = pooledu.max_pool2d_backward(G, idx, X.shape, 2)
zeros_max = int((gx_max == 0).sum())
print("\nStep 2. dL/dX through max pooling:")
print(gx_max[0])
print(f"  {zeros_max} of {gx_max.size} input gradients are exactly zero "
      f"({zeros_max / gx_max.size:.0%}): only the winners learn")

big = rng.standard_normal((8, 26, 26))
yb, ib = pooledu.max_pool2d(big, 2, return_indices=True)
gb = pooledu.max_pool2d_backward(np.ones_like(yb), ib, big.shape, 2)
sparsity_2x2 = float((gb == 0).mean())
yo, io = pooledu.max_pool2d(big, 3, 2, return_indices=True)
go = pooledu.max_pool2d_backward(np.ones_like(yo), io, big.shape, 3, 2)
sparsity_3x3 = float((go == 0).mean())
print(f"  on 8 random 26x26 maps: {sparsity_2x2:.1%} zeros with 2x2/2 windows "
      f"(one winner per 4 cells), {sparsity_3x3:.1%} with overlapping 3x3/2 windows")

# %% [markdown]
# ## Is a strided convolution's gradient sparse too?
#
# A common claim: max pooling can be replaced by strided convolutions "without
# losing much", since "both produce sparse gradients". Count the zeros of a
# strided convolution's input gradient, with random weights and a random
# incoming gradient, through pooledu.conv2d_backward.

# %%
conv_sparsity = {}
x_conv = rng.standard_normal((2, 4, 26, 26))
for name, k, p in (("3x3/2, padding 1", 3, 1), ("2x2/2", 2, 0), ("1x1/2", 1, 0)):
    w = rng.standard_normal((4, 4, k, k))
    g_out = rng.standard_normal(pooledu.conv2d(x_conv, w, stride=2, padding=p).shape)
    gx_conv = pooledu.conv2d_backward(g_out, x_conv, w, stride=2, padding=p)[0]
    conv_sparsity[name] = float((gx_conv == 0).mean())
print("  a stride-2 convolution's input gradient, zeros: "
      + ", ".join(f"{name} {z:.1%}" for name, z in conv_sparsity.items()))
say(f"""So the claim holds only for a 1x1 stride-2 convolution, which reads one cell in
four and, like 2x2 max pooling, leaves {conv_sparsity['1x1/2']:.0%} of the input
gradient at zero. A 2x2/2 or 3x3/2 convolution reads every input cell with a
learned weight, so every cell gets a gradient: {conv_sparsity['2x2/2']:.0%} and
{conv_sparsity['3x3/2, padding 1']:.0%} zeros. Max pooling's sparsity is its own.""")

# %% [markdown]
# ## Step 3: average pooling's backward pass
#
# Every cell of a window receives the window's gradient divided by k^2 = 4.

# %%
gx_avg = pooledu.avg_pool2d_backward(G, X.shape, 2)
print("\nStep 3. dL/dX through average pooling:")
print(gx_avg[0])
print(f"  window (0,0) had gradient {G[0, 0, 0]:g}: each of its cells gets "
      f"{G[0, 0, 0]:g} / 4 = {gx_avg[0, 0, 0]:g}; zeros: {int((gx_avg == 0).sum())}")

# %% [markdown]
# ## Step 4: overlapping windows add up
#
# With 3x3 windows at stride 2 on a 5x5 map, the centre cell lies in all four
# windows. Make it the largest value, and it wins all four: its gradient is
# the sum of all four output gradients.

# %%
X5 = rng.random((1, 5, 5))
X5[0, 2, 2] = 10.0
Y5, idx5 = pooledu.max_pool2d(X5, 3, 2, return_indices=True)
gx5 = pooledu.max_pool2d_backward(G, idx5, X5.shape, 3, 2)
centre_sum = float(gx5[0, 2, 2])
gx5_avg = pooledu.avg_pool2d_backward(G, X5.shape, 3, 2)
print(f"\nStep 4. 5x5 map, 3x3 windows, stride 2: outputs {Y5.shape[1:]}, winners {idx5[0].tolist()}")
print(f"  max: the centre gets {' + '.join(f'{g:g}' for g in G.ravel())} = {centre_sum:g}")
print(f"  average: the centre gets (1 + 2 + 3 + 4) / 9 = {gx5_avg[0, 2, 2]:.6f}, "
      f"a corner only 1/9 = {gx5_avg[0, 0, 0]:.6f}")
say("""Where windows overlap, a cell receives a share from every window that reads
it, and the shares add up: the chain rule sums over every path from the cell to
the loss.""")

# %% [markdown]
# ## Step 5: a finite-difference check
#
# Take the loss L = sum(G * pool(X)). Nudge one input up and down by eps and
# measure how L changes: (L(x + eps) - L(x - eps)) / (2 eps). For max pooling
# this is exact as long as the nudge does not change a winner; for average
# pooling, a linear map, it is exact up to rounding.

# %%
def numeric_gradient(pool, x, g, eps=1e-6):
    grad = np.zeros_like(x)
    for pos in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[pos] += eps
        down[pos] -= eps
        grad[pos] = ((g * pool(up)).sum() - (g * pool(down)).sum()) / (2 * eps)
    return grad


X6 = rng.standard_normal((2, 6, 6))
G6 = rng.standard_normal((2, 2, 2))
checks = {}
for name, window in [("max 3x3/2", (3, 2)), ("avg 3x3/2", (3, 2)), ("max 2x2/2", (2, 2))]:
    if name.startswith("max"):
        _, i6 = pooledu.max_pool2d(X6, *window, return_indices=True)
        G_w = rng.standard_normal(i6.shape)
        analytic = pooledu.max_pool2d_backward(G_w, i6, X6.shape, *window)
        numeric = numeric_gradient(lambda x: pooledu.max_pool2d(x, *window), X6, G_w)
    else:
        G_w = G6
        analytic = pooledu.avg_pool2d_backward(G_w, X6.shape, *window)
        numeric = numeric_gradient(lambda x: pooledu.avg_pool2d(x, *window), X6, G_w)
    checks[name] = float(np.abs(analytic - numeric).max())
    print(f"\nStep 5 ({name}, float64, eps 1e-6): largest |analytic - numeric| = {checks[name]:.1e}")
# each loss is a sum of a few dozen terms; it is rounded to a relative 1.1e-16
# (half of float64's machine epsilon), and the quotient divides by 2 eps
loss_scale = float(np.abs(G6).sum() * np.abs(X6).max())
unit = np.finfo(np.float64).eps / 2
rounding = 2 * unit * loss_scale / (2 * 1e-6)
say(f"""This is a finite-difference check: nudge one input by eps = 1e-6 both ways and
divide the change of the loss by 2 eps. Each of the two losses (about
{loss_scale:.0f} in size) is rounded by up to 1.1e-16 * {loss_scale:.0f}, and their difference is
divided by 2e-6: up to 2 * 1.1e-16 * {loss_scale:.0f} / 2e-6 = {rounding:.0e}. Differences of
that order are the quotient's own rounding; the analytic gradients are exact.""")

# %%
fig, axes = plt.subplots(2, 1, figsize=(11, 9))
draw_max_routing(axes[0], X[0], 2, grad_output=G[0])
axes[0].set_title("max pooling: each gradient goes to its window's winner", pad=28)
draw_avg_spread(axes[1], X.shape[1:], 2, grad_output=G[0])
axes[1].set_title("average pooling: each gradient is spread as g / 4", pad=28)
path = OUT / "04_backpropagation.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
fig, ax = plt.subplots(figsize=(11, 4.5))
draw_max_routing(ax, X5[0].round(2), 3, 2, grad_output=G[0])
ax.set_title("overlapping 3x3/2 windows: the centre wins all four, its gradients add up", pad=28)
path_overlap = OUT / "04_backpropagation_overlap.png"
fig.savefig(path_overlap, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigures saved: {path}, {path_overlap}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/04_backpropagation.py``; ``pooledu check 4`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(4)

RESULTS = dict(gx_max=gx_max[0], zeros_max=zeros_max, gx_avg=gx_avg[0],
               sparsity_2x2=sparsity_2x2, sparsity_3x3=sparsity_3x3, centre_sum=centre_sum,
               centre_avg=float(gx5_avg[0, 2, 2]), fd_error=checks, fd_rounding=rounding,
               conv_sparsity=conv_sparsity,
               figures=[str(path), str(path_overlap)])
