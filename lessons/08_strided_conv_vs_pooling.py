"""Strided convolution against pooling: a fixed, free downsampling or a learned, paid one.

Goal: put a 2x2 max pooling, a 2x2 average pooling and stride-2
convolutions on the same 56x56x64 layer and count their parameters and
FLOPs; show that average pooling *is* a stride-2 convolution with fixed
weights (1/4 on each channel's own window), while max pooling is not linear
and no convolution reproduces it; and let a stride-2 convolution learn its
downsampling by gradient descent, with pooledu's conv2d and its backward pass.
Run it as ``python lessons/08_strided_conv_vs_pooling.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: the bill for one layer
#
# Input 56x56 with 64 channels, output 28x28 with 64 channels. A convolution
# with kernel k from C_in to C_out channels has C_out * C_in * k^2 weights
# plus C_out biases, and 2 FLOPs (a multiply and an add) per weight per output
# position. Max pooling compares k^2 values per output: k^2 - 1 comparisons.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.analysis import conv_flops, pool_flops
from pooledu.lessons import output_dir, say

OUT = output_dir()
rng = np.random.default_rng(8)

H, C = 56, 64
out = pooledu.pool_output_size(H, 2)
layers = {
    "max pool 2x2/2": (0, pool_flops(H, C, 2)),
    "avg pool 2x2/2": (0, out * out * C * 4),  # 3 adds and a division per output
    "conv 2x2 stride 2": (C * C * 4 + C, conv_flops(H, C, C, 2, 2)),
    "conv 3x3 stride 2, pad 1": (C * C * 9 + C, conv_flops(H, C, C, 3, 2, 1)),
}
print(f"Step 1. {H}x{H}x{C} -> {out}x{out}x{C}: (output size from pool_output_size; a "
      "convolution slides its window the same way)")
for name, (params, flops) in layers.items():
    print(f"  {name:<26} parameters {params:>7,}   operations {flops:>12,}")
ratio = layers["conv 3x3 stride 2, pad 1"][1] / layers["max pool 2x2/2"][1]
print(f"  the 3x3 stride-2 convolution costs {ratio:.0f}x the operations of max pooling, "
      f"and brings {layers['conv 3x3 stride 2, pad 1'][0]:,} parameters to train")
say("""Two ways to halve a map: a pooling window, fixed and free, or a stride-2
convolution, which learns its weights and pays for them. A convolution from
C_in to C_out channels with kernel k has C_out * C_in * k^2 weights and does 2
FLOPs (multiply, add) per weight per output position; max pooling makes k^2 - 1
comparisons per output.""")

# %% [markdown]
# ## Step 2: average pooling is a convolution with fixed weights
#
# Give output channel o the weight 1/4 on each cell of its own input
# channel's 2x2 window and 0 on every other channel, and the stride-2
# convolution computes the window mean: it is average pooling.

# %%
x = rng.standard_normal((2, C, 8, 8))
w_avg = np.zeros((C, C, 2, 2))
w_avg[np.arange(C), np.arange(C)] = 0.25
by_conv = pooledu.conv2d(x, w_avg, stride=2)
by_pool = pooledu.avg_pool2d(x, 2)
conv_is_avg = float(np.abs(by_conv - by_pool).max())
print(f"\nStep 2. conv2d(x, w, stride=2) with w = 1/4 on the diagonal vs avg_pool2d(x, 2): "
      f"largest difference {conv_is_avg:.1e}")

# %% [markdown]
# ## Step 3: max pooling is not a convolution
#
# A convolution is linear: conv(a + b) = conv(a) + conv(b). Max pooling is
# not, so no choice of weights makes a convolution compute it.

# %%
a, b = rng.standard_normal((2, 1, 8, 8))
linear_gap = {
    "avg": float(np.abs(pooledu.avg_pool2d(a + b, 2) - pooledu.avg_pool2d(a, 2)
                        - pooledu.avg_pool2d(b, 2)).max()),
    "max": float(np.abs(pooledu.max_pool2d(a + b, 2) - pooledu.max_pool2d(a, 2)
                        - pooledu.max_pool2d(b, 2)).max()),
}
print(f"\nStep 3. |pool(a + b) - pool(a) - pool(b)|, largest: average {linear_gap['avg']:.1e}, "
      f"max {linear_gap['max']:.2f}")
say("""Average pooling is a stride-2 convolution whose weights are fixed at 1/4 on
each channel's own window (step 2, difference 0). Max pooling is not linear:
max(a + b) is not max(a) + max(b), so no choice of convolution weights computes
it.""")

# %% [markdown]
# ## Step 4: a strided convolution learns its downsampling
#
# Start a one-channel 2x2 stride-2 convolution from random weights and train
# it by gradient descent (pooledu.conv2d_backward gives the gradients) to
# reproduce a target downsampling on random images. Target average pooling:
# the weights go to 1/4 and the error to zero. Target max pooling: the best a
# linear layer can do still leaves an error.

# %%
def train(target, steps=300, lr=0.5):
    images = rng.standard_normal((64, 1, 8, 8))
    goal = target(images, 2)
    w, bias = 0.1 * rng.standard_normal((1, 1, 2, 2)), np.zeros(1)
    for _ in range(steps):
        y = pooledu.conv2d(images, w, bias, stride=2)
        grad = 2 * (y - goal) / y.size  # d(mean squared error) / dy
        _, gw, gb = pooledu.conv2d_backward(grad, images, w, stride=2)
        w, bias = w - lr * gw, bias - lr * gb
    mse = float(np.mean((pooledu.conv2d(images, w, bias, stride=2) - goal) ** 2))
    return w[0, 0], float(bias[0]), mse, float(goal.mean())


learned = {}
for name, target in (("average", pooledu.avg_pool2d), ("max", pooledu.max_pool2d)):
    w, bias, mse, goal_mean = train(target)
    learned[name] = dict(weights=w, bias=bias, mse=mse, target_mean=goal_mean)
    print(f"\nStep 4. learning to imitate {name} pooling: weights {np.round(w, 3).tolist()}, "
          f"bias {round(bias, 3) + 0.0:.3f}, mean squared error {mse:.4f}")  # + 0.0: no -0.000
print("  the convolution found average pooling exactly. For max pooling it settled on about "
      f"the window mean plus a constant (bias {learned['max']['bias']:.2f}; the targets average "
      f"{learned['max']['target_mean']:.2f}): the best a linear map can do, and still wrong")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
names = list(layers)
ax.bar(range(len(names)), [f for _, f in layers.values()], color="#0072B2")
for i, (params, flops) in enumerate(layers.values()):
    ax.text(i, flops, f"{flops / 1e6:.2f} M ops\n{params:,} params", ha="center", va="bottom",
            fontsize=8)
ax.set_yscale("log")
ax.set_ylim(top=6 * max(f for _, f in layers.values()))  # room for the labels on a log axis
ax.set_xticks(range(len(names)), names, fontsize=8)
ax.set_title(f"downsampling {H}x{H}x{C} to {out}x{out}x{C}: operations (log scale)")
path = OUT / "08_strided_conv_vs_pooling.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/08_strided_conv_vs_pooling.py``; ``pooledu check 8`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(8)

RESULTS = dict(layers=layers, conv_flops_ratio=ratio, conv_is_avg=conv_is_avg,
               linear_gap=linear_gap, learned=learned, figure=str(path))
