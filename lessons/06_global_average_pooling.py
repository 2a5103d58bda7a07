"""Global average pooling: one number per channel, whatever the image size.

Goal: reduce a 7x7x512 feature map to a 512-vector by averaging each channel;
see that 224x224 and 256x256 images give maps of different sizes but vectors
of the same length; and count the weights of a 1000-class classifier head
with and without it: 25,088,000 after flattening against 512,000 after global
average pooling, 49 times fewer (biases counted separately).
Run it as ``python lessons/06_global_average_pooling.py [--out DIR]``.
"""

# %% [markdown]
# ## The formula
#
#     y[c] = (1 / (H * W)) * sum over h, w of x[c, h, w]
#
# It is average pooling with one window as large as the whole map.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.analysis import head_params
from pooledu.lessons import output_dir, say
from pooledu.viz import draw_head_params

OUT = output_dir()
rng = np.random.default_rng(6)

features = rng.standard_normal((512, 7, 7)).astype(np.float32)
vector = pooledu.global_avg_pool2d(features)
as_window = pooledu.avg_pool2d(features, 7)[:, 0, 0]  # one 7x7 window per channel
print(f"Step 1. A {features.shape[1]}x{features.shape[2]}x{features.shape[0]} map "
      f"-> global_avg_pool2d -> shape {vector.shape}")
print(f"  channel 0 by hand: sum / 49 = {features[0].astype(np.float64).sum() / 49:.6f}, "
      f"pooledu: {vector[0]:.6f}")
print(f"  the same as avg_pool2d with a 7x7 window: largest difference "
      f"{np.abs(vector - as_window).max():.1e} (global_avg_pool2d adds in float64, avg_pool2d in float32)")
say("""Global average pooling is average pooling with one window as large as the whole
map: each channel becomes one number, y[c] = mean of x[c, :, :].""")

# %% [markdown]
# ## Step 2: any input size
#
# A VGG-style network halves the map five times (five 2x2/2 poolings). A
# 224x224 image ends as 7x7, a 256x256 image as 8x8. Flattening gives vectors
# of different lengths, so a fully connected layer built for one size breaks
# on the other; the global average does not care.

# %%
def final_size(n, poolings=5):
    for _ in range(poolings):
        n = pooledu.pool_output_size(n, 2)
    return n


say("""A VGG-style network halves the map five times. A 224x224 image ends as 7x7, a
256x256 image as 8x8: flattening gives vectors of different lengths, so a fully
connected layer built for one size fails on the other; the global average does
not care.""")
lengths = {}
for image in (224, 256):
    n = final_size(image)
    x = rng.standard_normal((512, n, n)).astype(np.float32)
    lengths[image] = dict(map=n, flatten=x.size, gap=pooledu.global_avg_pool2d(x).size)
    print(f"Step 2. {image}x{image} image -> {n}x{n}x512 map: flatten gives "
          f"{lengths[image]['flatten']:,} numbers, global average pooling {lengths[image]['gap']}")

# %% [markdown]
# ## Step 3: the classifier head's weights
#
# A fully connected layer from N inputs to 1000 classes has N * 1000 weights
# (plus 1000 biases). Flattening a 7x7x512 map gives N = 25,088.

# %%
weights = head_params(512, 7, 1000)
with_bias = head_params(512, 7, 1000, bias=True)
flat_w, gap_w = weights["flatten + FC"], weights["global avg pool + FC"]
flat_b, gap_b = with_bias["flatten + FC"], with_bias["global avg pool + FC"]
print(f"Step 3. flatten + FC: 7*7*512*1000 = {flat_w:,} weights")
print(f"  GAP + FC:     512*1000     = {gap_w:,} weights")
print(f"  ratio {flat_w / gap_w:g} (exactly 7*7 = 49: often rounded to '50 times fewer')")
print(f"  with the 1000 biases: {flat_b:,} against {gap_b:,}, ratio {flat_b / gap_b:.2f}")
print("  the pooling itself has no parameters; the saving is all in the layer after it")
say("""History: the head that averages each channel and classifies the averages came
from Network in Network (Lin, Chen and Yan, 2013), where each of the last maps
was one class's confidence and GAP replaced the fully connected layers, and
GoogLeNet (Szegedy et al., 2014) used it before a single linear layer. ResNet
(He et al., 2015) adopted it from them; it was not ResNet's invention.""")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
draw_head_params(ax, 512, 7, 1000)
path = OUT / "06_global_average_pooling.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/06_global_average_pooling.py``; ``pooledu check 6`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(6)

RESULTS = dict(vector_shape=vector.shape, lengths=lengths, weights_flatten=flat_w,
               weights_gap=gap_w, ratio=flat_w / gap_w, params_flatten_bias=flat_b,
               params_gap_bias=gap_b, ratio_bias=flat_b / gap_b, figure=str(path))
