"""Cost and receptive field: pooling makes later layers cheaper and lets them see farther.

Goal: count the activations left after each 2x2 stride-2 pooling (a quarter
each time); follow the receptive field through a stack of convolutions and
poolings, with a formula and with the backward kernels, and state precisely
what "after two poolings each neuron sees four times wider" gets right and
wrong; price a ResNet-style 7x7 stride-2 stem against stride 1 plus pooling;
and compare one 7x7 kernel with three stacked 3x3 kernels (same field, 49
against 27 weights per channel pair).
Run it as ``python lessons/07_cost_and_receptive_field.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: activations
#
# A 2x2 stride-2 pooling halves height and width, so it keeps a quarter of
# the values, and every layer after it has a quarter of the positions to
# compute.

# %%
import matplotlib.pyplot as plt

from pooledu.analysis import (activation_counts, conv_flops, measured_receptive_field,
                              receptive_field, stem_flops)
from pooledu.lessons import output_dir, say
from pooledu.viz import draw_activation_counts, draw_receptive_field, draw_stem_flops

OUT = output_dir()

counts = activation_counts(224, 64, 3)
print("Step 1. A 224x224x64 map through 2x2/2 max pooling layers:")
say("""A 2x2 stride-2 pooling halves height and width, so it keeps a quarter of the
values, and every layer after it has a quarter of the positions to compute.""")
for (n, c), prev in zip(counts, [None] + counts[:-1]):
    ratio = f"  ({prev[1] / c:g}x fewer)" if prev else ""
    print(f"  {n:>3}x{n:<3}: {c:>10,} activations{ratio}")

# %% [markdown]
# ## Step 2: the receptive field
#
# The receptive field of a unit is the input region that can influence it.
# Through a layer with kernel k and stride s it grows by (k - 1) times the
# current *jump* (how many input pixels apart neighbouring units are), and
# the jump is multiplied by s. `receptive_field` applies that rule;
# `measured_receptive_field` checks it by backpropagating from one output
# unit with pooledu's backward kernels and measuring the non-zero region.

# %%
conv = ("conv 3x3", 3, 1, 1)
pool = ("pool 2x2/2", 2, 2)
vgg = [conv, conv, pool, conv, conv, pool, conv]
no_pool = [layer for layer in vgg if layer is not pool]
fields = receptive_field(vgg)
print("\nStep 2. conv-conv-pool-conv-conv-pool-conv, layer by layer:")
for f in fields[1:]:
    print(f"  after {f.name:<10}: receptive field {f.size:>2} pixels wide, "
          f"neighbours {f.jump} pixels apart")
measured = measured_receptive_field(vgg, 64)
print(f"  measured from the input gradient of the centre unit: {measured[0]}x{measured[1]}")
# the closed form: r = 1 + sum over layers l of (k_l - 1) * (product of the strides before l)
closed, jump = 1, 1
for _, k_l, s_l, *_ in vgg:
    closed += (k_l - 1) * jump
    jump *= s_l
print(f"  closed form r = 1 + sum_l (k_l - 1) * prod_(i<l) s_i = {closed}")
say("""The receptive field of a unit is the input region that can influence it.
Through a layer with kernel k it grows by (k - 1) times the current jump, the
distance in input pixels between neighbouring units, and a stride s multiplies
the jump. Unrolled: r = 1 + sum over layers of (k_l - 1) times the product of
the strides before layer l. The measurement backpropagates from one output unit
through pooledu's backward kernels and counts the non-zero input cells.""")

only_pools = receptive_field([pool, pool])
field_no_pool = receptive_field(no_pool)[-1].size
print("\n  'After two poolings each neuron sees a region four times wider.' Precisely:")
print(f"  - two 2x2/2 poolings alone: 1 -> {only_pools[1].size} -> {only_pools[2].size} pixels: "
      f"4 times wider (and {only_pools[2].size ** 2} times the area); true")
print(f"  - with convolutions in between, the field is {fields[-1].size} pixels; without the two "
      f"poolings the same five convolutions see {field_no_pool}: "
      f"{fields[-1].size / field_no_pool:.2f} times wider, not 4")
print(f"  - what is exactly 4 is the jump: after two poolings, neighbouring units are "
      f"{fields[-1].jump} pixels apart, so each later 3x3 convolution adds "
      f"{fields[-1].size - fields[-2].size} pixels to the field instead of "
      f"{receptive_field([conv])[-1].size - 1}")

# %% [markdown]
# ## Step 3: ResNet's stem
#
# ResNet starts with a 7x7 convolution at stride 2 (224 -> 112). Computing
# it at stride 1 and then pooling 2x2/2 gives a map of the same size, but
# the convolution runs at four times as many positions.

# %%
stem = stem_flops(224)
strided, full_and_pool = stem.values()
full = conv_flops(224, 3, 64, 7, 1, 3)
print(f"\nStep 3. {' | '.join(f'{k}: {v:,} FLOPs' for k, v in stem.items())}")
print(f"  the stride-1 convolution alone: {full:,} = {full / strided:g} x the strided one; "
      f"the pooling adds {full_and_pool - full:,} comparisons")
print("  (the real ResNet keeps the stride-2 convolution and pools 3x3/2 after it, to 56x56)")
say("""Computing the 7x7 convolution at stride 1 and then pooling gives a map of the
same size, but the convolution runs at four times as many positions. Here a
pooling counts k^2 - 1 comparisons per output, as in lesson 8.""")

# %% [markdown]
# ## Step 4: one 7x7 or three 3x3
#
# Three stacked 3x3 convolutions (stride 1) see 7x7, like one 7x7 kernel, with
# fewer weights and two more nonlinearities in between.

# %%
seven = receptive_field([("conv 7x7", 7, 1, 3)])[-1].size
three = receptive_field([conv, conv, conv])[-1].size
seven_measured = measured_receptive_field([("conv 7x7", 7, 1, 3)], 21)[0]
three_measured = measured_receptive_field([conv, conv, conv], 21)[0]
w7, w3 = 7 * 7, 3 * (3 * 3)
C = 64
print(f"\nStep 4. receptive field: one 7x7 -> {seven} (measured {seven_measured}); "
      f"three 3x3 -> {three} (measured {three_measured})")
print(f"  weights per (input, output) channel pair: {w7} against 3 * 9 = {w3}; "
      f"with {C} channels in and out: {w7 * C * C:,} against {w3 * C * C:,} "
      f"({1 - w3 / w7:.0%} fewer)")
stem_7x7 = 7 * 7 * 3 * 64
stem_3x3 = 3 * 3 * 3 * 64 + 2 * (3 * 3 * 64 * 64)
print(f"  the stem itself maps 3 colour channels to 64: one 7x7 has 7*7*3*64 = {stem_7x7:,} "
      f"weights; three 3x3 (3 -> 64 -> 64 -> 64) have 3*3*3*64 + 2 * 3*3*64*64 = "
      f"{stem_3x3:,}, {stem_3x3 / stem_7x7:.1f} times more")
say(f"""So 'three 3x3 are cheaper than one 7x7' holds between layers with equal channel
counts (VGG's argument). At the stem it flips: the first 3x3 layer is cheap, but the
two after it work on 64 channels, {stem_3x3:,} weights against {stem_7x7:,}. What the stack
buys there is depth and two more nonlinearities, not fewer weights.""")

# %%
fig, axes = plt.subplots(2, 2, figsize=(13, 10))
draw_activation_counts(axes[0, 0], 224, 64, 3)
draw_stem_flops(axes[0, 1], 224)
draw_receptive_field(axes[1, 0], vgg, 32)
axes[1, 0].set_title("receptive field of the centre unit, layer by layer")
draw_receptive_field(axes[1, 1], [conv, conv, conv], 11)
axes[1, 1].set_title("three 3x3 convolutions see 7x7")
fig.tight_layout()
path = OUT / "07_cost_and_receptive_field.png"
fig.savefig(path, dpi=100, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/07_cost_and_receptive_field.py``; ``pooledu check 7`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(7)

RESULTS = dict(activations=[c for _, c in counts], fields=[f.size for f in fields],
               jumps=[f.jump for f in fields], measured=measured,
               pools_only=[f.size for f in only_pools], field_no_pool=field_no_pool,
               stem=stem, stem_conv_ratio=full / strided, pool_comparisons=full_and_pool - full,
               field_7x7=(seven, seven_measured), field_3x3x3=(three, three_measured),
               weights_7x7=w7, weights_3x3x3=w3, closed_form=closed, stem_weights_7x7=stem_7x7,
               stem_weights_3x3x3=stem_3x3, figure=str(path))
