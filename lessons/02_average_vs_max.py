"""Average pooling, and when the max is the better summary.

Goal: pool the same windows with the mean instead of the max; see on an edge
detector's response why the mean dilutes a strong, rare feature (8.5 becomes
2.225) while the max keeps it; be honest about the rounding that makes
float64 print 2.2249999999999996; and see the other side: on plain noise the
mean halves the spread while the max is biased upwards.
Run it as ``python lessons/02_average_vs_max.py [--out DIR]``.
"""

# %% [markdown]
# ## The formula
#
#     y[c, i, j] = (1 / k^2) * sum over u, v of x[c, s*i + u, s*j + v]
#
# Same windows as max pooling, a different summary of each.

# %%
from decimal import Decimal
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.lessons import output_dir, say
from pooledu.viz.windows import draw_pooling_windows

OUT = output_dir()
rng = np.random.default_rng(2)

# %% [markdown]
# ## Step 1: one 2x2 patch of an edge detector's output
#
# An edge detector fires strongly where an edge is and barely anywhere else.
# Here one cell of a 2x2 window sits on the edge.

# %%
patch_values = ["0.1", "8.5", "0.2", "0.1"]  # row by row
patch = np.array([float(v) for v in patch_values]).reshape(1, 2, 2)
max_value = float(pooledu.max_pool2d(patch, 2)[0, 0, 0])
mean_value = float(pooledu.avg_pool2d(patch, 2)[0, 0, 0])
print("Step 1. The patch", patch[0].tolist())
print(f"  max pooling:     {max_value!r}")
print(f"  average pooling: {mean_value!r}")
print(f"  the mean keeps {mean_value / max_value:.1%} of the peak: the one strong response "
      "is shared with three weak ones")
say("""Average pooling uses the same windows as max pooling and keeps their mean,
y = (1/k^2) * sum of the window. An edge detector fires strongly on the edge
and barely beside it; the max passes the strong response on, the mean divides
it among the window's cells.""")

# %% [markdown]
# ## Step 2: why 2.2249999999999996 and not 2.225
#
# 0.1 and 0.2 have no exact binary form; a float64 stores the nearest binary
# fraction. The kernel adds the window row by row (0.1, 8.5, 0.2, 0.1), and each
# addition rounds to the nearest float64. The exact decimal mean is 2.225; the
# computed one is the float64 just below it.

# %%
exact = sum(Fraction(v) for v in patch_values) / 4
print("\nStep 2. What float64 really stores:")
for v in ("0.1", "0.2"):
    print(f"  {v} is stored as {Decimal(float(v))}")
running = 0.0
for v in patch.ravel().tolist():
    running += v
    print(f"  running sum + {v!r:<4} = {running!r}")
print(f"  / 4 = {running / 4!r}   (the kernel's answer: {mean_value!r})")
print(f"  exact decimal mean: {float(exact)} (as a fraction {exact}); "
      f"difference {Decimal(mean_value) - Decimal(str(float(exact))):.3e}")
mean32 = float(pooledu.avg_pool2d(patch.astype(np.float32), 2)[0, 0, 0])
print(f"  in float32 the kernel gives {np.float32(mean32)!r}, which prints as 2.225 because "
      "float32 shows fewer digits; it is not exact either.")
say("""0.1 and 0.2 have no exact binary form, and every addition rounds to the
nearest float64, so the computed mean is the float just below 2.225. Compare
floats with a tolerance, never with ==.""")

# %% [markdown]
# ## Step 3: a whole edge map
#
# A vertical edge, seen through a simple detector (the difference of
# neighbouring columns, rectified). Which pooling keeps the edge standing out
# from the background?

# %%
image = np.zeros((8, 9))
image[:, 5:] = 8.5
image += 0.1 * rng.random(image.shape)
edges = np.maximum(np.diff(image, axis=1), 0)[None]  # (1, 8, 8)
pooled_max = pooledu.max_pool2d(edges, 2)[0]
pooled_avg = pooledu.avg_pool2d(edges, 2)[0]
peak = dict(input=float(edges.max()), max=float(pooled_max.max()), avg=float(pooled_avg.max()))
print("\nStep 3. An 8x8 edge response: the edge column reaches "
      f"{peak['input']:.2f}, the background stays below {edges[0, :, :3].max():.2f}")
print(f"  strongest pooled value: max {peak['max']:.2f} ({peak['max'] / peak['input']:.0%} of the peak), "
      f"average {peak['avg']:.2f} ({peak['avg'] / peak['input']:.0%})")
print("  the max keeps the edge's full strength; the mean shares it with the window's "
      "other cells, and only one column of each 2x2 window lies on the edge")
say("""figures/photo_edges_max_avg_k2_k4_k8.png shows the same on a photograph's
edge map: with windows of 2, 4 and 8 the max-pooled edges stay bright while the
averaged ones fade, on one colour scale.""")

# %% [markdown]
# ## Step 4: the mean's strength - plain noise
#
# Where there is no feature, only noise, the mean of four independent values
# has half the spread (sqrt(4) = 2), while the max of four is pulled upwards:
# it reports a 'feature' that is not there.

# %%
noise = rng.standard_normal((64, 32, 32))
noise_avg = pooledu.avg_pool2d(noise, 2)
noise_max = pooledu.max_pool2d(noise, 2)
print(f"\nStep 4. Standard normal noise (mean {noise.mean():+.3f}, std {noise.std():.3f}):")
print(f"  after 2x2 average: mean {noise_avg.mean():+.3f}, std {noise_avg.std():.3f}")
print(f"  after 2x2 max:     mean {noise_max.mean():+.3f}, std {noise_max.std():.3f}")
print("  so: max for sparse, strong detections (edges, parts); average for smooth "
      "summaries and noisy signals")
say("""The mean of four independent values has half their spread (sqrt(4) = 2); the
max of four standard normals averages about 1.03, a 'detection' in pure noise.""")

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 10), height_ratios=(1, 1.6))
# four significant digits: the mean 2.2249999999999996 is written 2.225, as in the text
draw_pooling_windows(axes[0], patch[0], 2, fmt=lambda v: f"{v:.4g}")
axes[0].set_title(f"one edge patch: the max keeps {max_value:g}, the mean gives "
                  f"{float(exact)}", pad=28)
crop = edges[0, :4, 2:6]  # a 4x4 crop across the edge, pooled unrounded
draw_pooling_windows(axes[1], crop, 2, fmt=lambda v: f"{v:.2f}")
axes[1].set_title("a 4x4 crop of the edge response (values shown to 2 decimals)", pad=28)
crop_avg = pooledu.avg_pool2d(crop[None], 2)[0]
path = OUT / "02_average_vs_max.png"
fig.savefig(path, dpi=120, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/02_average_vs_max.py``; ``pooledu check 2`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(2)

RESULTS = dict(max=max_value, mean=mean_value, exact_mean=float(exact), mean_float32=mean32,
               peak=peak, noise_std=(float(noise.std()), float(noise_avg.std()),
                                             float(noise_max.std())),
               noise_mean=(float(noise.mean()), float(noise_avg.mean()), float(noise_max.mean())),
               crop=crop, crop_avg=crop_avg, figure=str(path))
