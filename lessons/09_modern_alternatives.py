"""Modern alternatives: strided convolutions, global average pooling, attention pooling, and U-Net.

Goal: trace a ResNet-50 backbone's sizes and see where pooling is left
(one max pooling in the stem, one global average at the end; strided
convolutions do the rest); run attention pooling as a learned readout and see
that a zero query makes it global average pooling while a sharp one makes it
pick out a position; and correct a common claim: U-Net does pool, with 2x2
max pooling in its contracting path (572 -> 568 -> 284 -> ...), and restores
the resolution with its expanding path and skip connections.
Run it as ``python lessons/09_modern_alternatives.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: where the downsampling happens in ResNet-50
#
# A convolution with kernel k, stride s and padding p produces the same
# number of outputs per dimension as a pooling window with those settings, so
# `pool_output_size` sizes both.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.lessons import output_dir, say

OUT = output_dir()
rng = np.random.default_rng(9)

resnet = [("conv 7x7, stride 2", 7, 2, 3), ("max pool 3x3, stride 2", 3, 2, 1),
          ("stage 2: no stride", 1, 1, 0), ("stage 3: first 3x3 conv, stride 2", 3, 2, 1),
          ("stage 4: first 3x3 conv, stride 2", 3, 2, 1), ("stage 5: first 3x3 conv, stride 2", 3, 2, 1)]
n = 224
resnet_sizes = [n]
print(f"Step 1. ResNet-50 on a {n}x{n} image:")
for name, k, s, p in resnet:
    n = pooledu.pool_output_size(n, k, s, p)
    resnet_sizes.append(n)
    print(f"  {name:<30} -> {n}x{n}")
print(f"  global average pooling       -> 2048 numbers, one per channel of the {n}x{n} map")
print("  of the five halvings, one is a max pooling and four are strided convolutions; "
      "no fully connected layer sees a spatial map")
say("""A convolution with kernel k, stride s and padding p gives as many outputs per
dimension as a pooling window with those settings, so pool_output_size sizes
both. Modern backbones keep pooling at two places: a max pooling in the stem
and a global average before the classifier.""")

# %% [markdown]
# ## Step 2: attention pooling, a learned readout
#
# Global average pooling weights every position equally. Attention pooling
# scores each position against a query vector q (learned in training),
# turns the scores into weights with a softmax, and averages with those
# weights: y[c] = sum over p of a[p] x[c, p], a = softmax(q . x[:, p] / sqrt(C)).

# %%
features = rng.standard_normal((16, 6, 6))
gap = pooledu.global_avg_pool2d(features)
zero_query = pooledu.attention_pool2d(features, np.zeros(16))
attention_is_gap = float(np.abs(zero_query - gap).max())
print(f"\nStep 2. 16 channels on a 6x6 map. Query 0: every weight is 1/36, and the result "
      f"differs from global_avg_pool2d by {attention_is_gap:.1e}")

target = (2, 4)  # make the query point at one position's feature vector
sharpness, picked = {}, {}
for scale in (1, 4, 16):
    q = scale * features[:, target[0], target[1]]
    y, weights = pooledu.attention_pool2d(features, q, return_weights=True)
    sharpness[scale] = float(weights[target])
    picked[scale] = float(np.abs(y - features[:, target[0], target[1]]).max())
    print(f"  query = {scale:>2} x the features at {target}: that position gets weight "
          f"{sharpness[scale]:.3f}; the output is within {picked[scale]:.3f} of its feature vector")
print("  a learned query can spread its attention like GAP or focus it like a hard selection")
say("""Attention pooling scores each position against a learned query q, turns the
scores into weights with a softmax, and averages with those weights. A zero
query weights every position equally: global average pooling. A sharp query
picks one position, close to a hard selection.""")

# %% [markdown]
# ## Step 3: U-Net pools
#
# A claim that circulates: "U-Net does not downsample, it keeps full
# resolution". The original U-Net (Ronneberger et al., 2015) uses two valid
# (unpadded) 3x3 convolutions per level, each trimming 2 pixels, and a 2x2
# max pooling with stride 2 between levels; four poolings take 572 down to 32.
# Its expanding path doubles the size with 2x2 up-convolutions and
# concatenates the cropped feature maps of the contracting path (the skip
# connections), ending at 388x388.

# %%
def valid_conv(n):
    return pooledu.pool_output_size(n, 3, 1)  # a 3x3 window, stride 1, no padding


n = 572
contracting = [n]
skips = []
print("\nStep 3. U-Net's contracting path:")
for level in range(5):
    n = valid_conv(valid_conv(n))
    contracting.append(n)
    line = f"  level {level + 1}: two 3x3 convolutions -> {n}"
    if level < 4:
        skips.append(n)
        n = pooledu.pool_output_size(n, 2)
        contracting.append(n)
        line += f", 2x2 max pooling -> {n}"
    print(line)
expanding = [n]
print("  expanding path:")
for skip in reversed(skips):
    up = 2 * n  # 2x2 up-convolution, stride 2
    n = valid_conv(valid_conv(up))
    expanding += [up, n]
    print(f"    up-convolution -> {up}, concatenate the skip {skip} cropped to {up}, "
          f"two 3x3 convolutions -> {n}")
print(f"  output: {n}x{n}; {len(skips)} max poolings on the way down, {len(skips)} "
      "up-convolutions and skip connections on the way up")
say("""So U-Net does downsample: four 2x2 max poolings halve its map on the way down
(568 -> 284, ..., 64 -> 32).
What restores the resolution is the expanding path, up-convolutions plus the
skip connections that carry the fine detail across.""")

# %%
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot(range(len(contracting)), contracting, "o-", color="#0072B2", label="contracting path")
ax.plot(range(len(contracting) - 1, len(contracting) - 1 + len(expanding)), expanding, "o-",
        color="#D55E00", label="expanding path")
for i, v in enumerate(contracting):
    ax.annotate(str(v), (i, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
for i, v in enumerate(expanding):
    ax.annotate(str(v), (len(contracting) - 1 + i, v), textcoords="offset points",
                xytext=(0, 6), ha="center", fontsize=8)
ax.set_ylabel("feature map side (pixels)")
ax.set_xticks([])
ax.set_title("U-Net's map sizes: 3x3 valid convolutions, 2x2 max pooling, 2x2 up-convolutions")
ax.legend()
path = OUT / "09_unet_sizes.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/09_modern_alternatives.py``; ``pooledu check 9`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(9)

RESULTS = dict(resnet_sizes=resnet_sizes, attention_is_gap=attention_is_gap,
               attention_weight=sharpness, attention_gap_to_feature=picked,
               unet_contracting=contracting, unet_expanding=expanding, unet_output=n,
               unet_poolings=len(skips), figure=str(path))
