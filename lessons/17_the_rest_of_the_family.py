"""The rest of the family: adaptive, LP, fractional, min and softmax pooling.

Goal: meet the poolings beyond max and average that pooledu computes: adaptive
pooling (choose the output size, the windows follow), LP pooling (a power
mean that runs from average at p = 1 to max as p grows), fractional max
pooling (pseudo-random windows that shrink a map by a non-integer factor),
and two one-liners, min pooling and softmax pooling, built from the kernels.
Run it as ``python lessons/17_the_rest_of_the_family.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: adaptive pooling
#
# Instead of a window and a stride you give the output size, and output cell
# i reads input cells floor(i*In/Out) up to ceil((i+1)*In/Out). When In is a
# multiple of Out this is ordinary pooling; otherwise windows differ in size
# and may overlap. Global average pooling is adaptive pooling to 1x1, and
# adaptive pooling to 7x7 lets torchvision's VGG take any image size.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.explain import explain_adaptive
from pooledu.lessons import output_dir, say

OUT = output_dir()
rng = np.random.default_rng(17)

x = rng.standard_normal((2, 10, 10))
print("Step 1. " + "\n  ".join(explain_adaptive(10, 3).splitlines()[-4:]))
same_as_pool = bool(np.array_equal(pooledu.adaptive_max_pool2d(x, 5), pooledu.max_pool2d(x, 2)))
gap_is_adaptive = float(np.abs(pooledu.adaptive_avg_pool2d(x, 1)[:, 0, 0]
                               - pooledu.global_avg_pool2d(x)).max())
print(f"  10 -> 5 is plain 2x2/2 max pooling: {same_as_pool}")
print(f"  adaptive average pooling to 1x1 against global_avg_pool2d: largest difference "
      f"{gap_is_adaptive:.1e}")
sizes = {n: pooledu.adaptive_avg_pool2d(rng.standard_normal((1, n, n)), 7).shape[-1]
         for n in (7, 9, 14, 20)}
print(f"  any input size to 7x7 (as VGG's classifier needs): {sizes}")

# %% [markdown]
# ## Step 2: LP pooling, from average to max
#
# y = (sum over the window of x^p)^(1/p). PyTorch's ``lp_pool2d`` (and
# pooledu's) computes the sum, not the mean, so at p = 1 it is k^2 times the
# average. As p grows the largest value dominates the sum, and the result
# approaches the max (for non-negative inputs, such as ReLU features).

# %%
feats = rng.random((4, 8, 8))  # non-negative, as after a ReLU
k2 = 4
avg = pooledu.avg_pool2d(feats, 2)
mx = pooledu.max_pool2d(feats, 2)
lp = {}
for p in (1, 2, 4, 16, 64):
    y = pooledu.lp_pool2d(feats, p, 2)
    lp[p] = dict(vs_sum=float(np.abs(y - k2 * avg).max()), vs_max=float(np.abs(y - mx).max()))
    print(f"Step 2. p = {p:>2}: largest |LP - 4 * average| = {lp[p]['vs_sum']:.3f}, "
          f"|LP - max| = {lp[p]['vs_max']:.3f}")
say(f"""At p = 1 LP pooling is the window's sum, four times the average. The distance to
the max shrinks as p grows, {lp[2]['vs_max']:.2f} at p = 2 and {lp[64]['vs_max']:.3f} at p = 64:
the p-norm of the window tends to its largest absolute value. p = 2 is the
root of the window's energy, used in early models of complex cells (Hyvarinen)
and in Sermanet et al.'s 2012 house-number networks.""")

# %% [markdown]
# ## Step 3: fractional max pooling
#
# Graham (2014) shrinks a map by a factor between 1 and 2, say 10 -> 7, with
# windows whose starts are pseudo-random: each run draws a sequence of
# increments of 1 or 2 that covers the input. Pooling becomes a random
# augmentation as well as a downsampling. pooledu reproduces PyTorch's
# windows given its random samples.

# %%
runs = [pooledu.fractional_max_pool2d(x[:1], 2, output_size=7, return_indices=True,
                                      generator=seed) for seed in range(8)]
starts = [tuple((idx[0] % 10).ravel().tolist()) for _, idx in runs]  # winners' columns
outputs = {tuple(y.ravel().tolist()) for y, _ in runs}
print(f"\nStep 3. 10x10 -> {runs[0][0].shape[-2]}x{runs[0][0].shape[-1]} with 2x2 windows, "
      f"8 runs with different random samples: {len(outputs)} different outputs")
print(f"  the winners' columns along the first output row, runs 0 and 1: "
      f"{list(starts[0][:7])} and {list(starts[1][:7])}")

# %% [markdown]
# ## Step 4: min pooling and softmax pooling
#
# Min pooling is max pooling of the negated map: min(v) = -max(-v). Softmax
# pooling weights each value of a window by softmax(beta * v): beta = 0 gives
# the average, a large beta the max, a smooth dial between them (d2l's
# exercises ask for both). Here softmax pooling is built from the kernels:
# avg_pool2d of exp(beta*v)*v divided by avg_pool2d of exp(beta*v).

# %%
def min_pool(v, k):
    return -pooledu.max_pool2d(-v, k)


def softmax_pool(v, k, beta):
    w = np.exp(beta * (v - v.max()))  # one shift for the whole map: no overflow
    return pooledu.avg_pool2d(w * v, k) / pooledu.avg_pool2d(w, k)


min_ok = bool(np.array_equal(min_pool(x, 2), x.reshape(2, 5, 2, 5, 2).min(axis=(2, 4))))
soft = {beta: float(np.abs(softmax_pool(feats, 2, beta) - mx).max()) for beta in (0, 1, 10, 100)}
print(f"\nStep 4. min pooling as -max_pool2d(-x) equals the windows' minimum: {min_ok}")
print("  softmax pooling, largest distance to max pooling: "
      + ", ".join(f"beta {b}: {d:.3f}" for b, d in soft.items()))
print(f"  beta 0 against average pooling: "
      f"{float(np.abs(softmax_pool(feats, 2, 0) - avg).max()):.1e}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ps = list(lp)
axes[0].plot(ps, [lp[p]["vs_max"] for p in ps], "o-")
axes[0].set_xscale("log")
axes[0].set_xlabel("p")
axes[0].set_ylabel("largest |LP - max|")
axes[0].set_title("LP pooling tends to max pooling as p grows")
betas = list(soft)
axes[1].plot([b + 0.5 for b in betas], [soft[b] for b in betas], "o-", color="#D55E00")
axes[1].set_xscale("log")
axes[1].set_xlabel("beta + 0.5")
axes[1].set_ylabel("largest |softmax pool - max|")
axes[1].set_title("softmax pooling: average at beta 0, max as beta grows")
path = OUT / "17_family.png"
fig.savefig(path, dpi=100, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")

# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/17_the_rest_of_the_family.py``; ``pooledu check 17`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(17)

RESULTS = dict(same_as_pool=same_as_pool, gap_is_adaptive=gap_is_adaptive, sizes=sizes, lp=lp,
               starts=starts, min_ok=min_ok, soft=soft, figure=str(path))
