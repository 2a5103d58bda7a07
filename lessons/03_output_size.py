"""Output size: how many windows fit, with stride, window, padding, dilation and ceil_mode.

Goal: derive floor((H - k) / s) + 1 by counting window starts, then add
padding, dilation and ceil_mode one at a time; compare AlexNet's overlapping
3x3 stride-2 windows with 2x2 stride-2 ones on the same 55-wide map; and see
why PyTorch refuses a padding larger than half the kernel (a window made only
of padding), using ``pooledu explain`` for the walkthroughs.
Run it as ``python lessons/03_output_size.py [--out DIR]``.
"""

# %% [markdown]
# ## Counting windows
#
# Along one dimension of length H, a window of k cells moved s cells at a time
# can start at 0, s, 2s, ... as long as it still ends inside the input:
# `start + k <= H`. The last start is the largest multiple of s not above H - k, so
# there are floor((H - k) / s) + 1 windows. Padding p adds p cells on each
# side (H becomes H + 2p); dilation d spreads the k taps d apart, so one window
# spans d(k - 1) + 1 cells. PyTorch's general formula, which pooledu uses:
#
#     out = floor((H + 2p - d(k - 1) - 1) / s) + 1
#
# `pooledu explore` draws the windows for any setting, beside this arithmetic.

# %%
import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu.explain import explain
from pooledu.geometry import window_taps
from pooledu.lessons import output_dir, say
from pooledu.viz.ruler import draw_output_size

OUT = output_dir()
rng = np.random.default_rng(3)


def count_starts(H, k, s):
    """Window starts 0, s, 2s, ... while the window still fits: the definition, counted."""
    return len(range(0, H - k + 1, s))


print("Step 1. floor((H - k) / s) + 1 against counting the window starts one by one:")
say("""A window of k cells moved s at a time may start at 0, s, 2s, ... while it still
ends inside the input, start + k <= H. The last start is the largest multiple of
s not above H - k, so there are floor((H - k) / s) + 1 windows.""")
simple = {}
for H, k, s in [(26, 2, 2), (224, 2, 2), (55, 3, 2), (55, 2, 2), (7, 3, 1), (5, 2, 2)]:
    formula = (H - k) // s + 1
    simple[(H, k, s)] = pooledu.pool_output_size(H, k, s)
    print(f"  H={H:>3} k={k} s={s}: formula {formula:>3}, counted {count_starts(H, k, s):>3}, "
          f"pool_output_size {simple[(H, k, s)]:>3}")

# %% [markdown]
# ## Step 2: overlapping windows (AlexNet) against tiling ones
#
# AlexNet pools its 55x55 maps with 3x3 windows at stride 2: neighbouring
# windows share a column. A 2x2 stride-2 window gives the same 27 outputs
# without overlap, but never reads the last column.

# %%
def reads_per_cell(H, k, s):
    """How many windows read each input position (from the windows' taps)."""
    counts = np.zeros(H, int)
    for o in range(pooledu.pool_output_size(H, k, s)):
        taps, inside = window_taps(o, k, s, 0, 1, H)
        counts[[t for t, ok in zip(taps, inside) if ok]] += 1
    return counts


overlap = {}
for k in (3, 2):
    counts = reads_per_cell(55, k, 2)
    overlap[k] = dict(out=pooledu.pool_output_size(55, k, 2), read_twice=int((counts == 2).sum()),
                      never_read=int((counts == 0).sum()))
    print(f"\nStep 2. 55 wide, {k}x{k} stride 2: {overlap[k]['out']} windows; "
          f"{overlap[k]['read_twice']} positions are read by two windows, "
          f"{overlap[k]['never_read']} by none")
say("""AlexNet (Krizhevsky et al., 2012) pooled its 55x55 maps with 3x3 windows at
stride 2, so neighbouring windows share a column: they overlap. The paper reports
slightly lower error and slightly less overfitting with the overlap than with
tiling 2x2/2 windows, which give the same 27 outputs but never read the last
column.""")
print("\nThe walkthrough `pooledu explain --size 55 --kernel 2 --stride 2` prints:")
text_alexnet = explain(55, 2, 2)
print("\n".join(text_alexnet.splitlines()[:8] + ["  ..."] + text_alexnet.splitlines()[-2:]))

# %% [markdown]
# ## Step 3: padding, dilation, ceil_mode
#
# * ResNet's stem pools 112x112 with a 3x3 window, stride 2, padding 1: 56.
# * Dilation 2 spreads a 3-tap window over 5 cells.
# * ceil_mode rounds up, so a last, partial window counts; but PyTorch drops
#   a window that would start inside the right padding.

# %%
cases = {"resnet stem": (112, 3, 2, 1, 1, False), "dilated": (10, 3, 1, 0, 2, False),
         "ceil keeps": (6, 3, 2, 0, 1, True), "ceil drops": (5, 2, 2, 1, 1, True)}
sizes = {}
for name, args in cases.items():
    sizes[name] = pooledu.pool_output_size(*args)
    floor_size = pooledu.pool_output_size(*args[:5], False)
    print(f"\nStep 3 ({name}): input {args[0]}, kernel {args[1]}, stride {args[2]}, "
          f"padding {args[3]}, dilation {args[4]}, ceil_mode {args[5]} -> {sizes[name]} "
          f"(floor mode: {floor_size})")
say("""Padding p adds p cells on each side; dilation d spreads the k taps d apart,
so one window spans d(k - 1) + 1 cells; ceil_mode rounds the count up, keeping a
last, partial window, except one that would start inside the right padding.
PyTorch's general formula: out = floor((H + 2p - d(k - 1) - 1) / s) + 1.""")
text_dropped = explain(*cases["ceil drops"])
print(text_dropped)

# %% [markdown]
# ## Step 4: the padding rule
#
# PyTorch (and pooledu) require padding <= k // 2. With more padding, the
# first window could lie entirely in the padding: it would see no input at
# all, max pooling would output -inf and average pooling 0, numbers that mean
# nothing. Here is that window, and the error pooledu raises instead.

# %%
taps, inside = window_taps(0, 2, 2, 2, 1, 6)
print(f"\nStep 4. kernel 2, padding 2: window 0 would read positions {taps}; inside the input: "
      f"{inside}")
try:
    pooledu.max_pool2d(np.zeros((1, 6, 6)), 2, padding=2)
    padding_error = None
except ValueError as err:
    padding_error = str(err)
print(f"  pooledu.max_pool2d(x, 2, padding=2) raises ValueError:\n    {padding_error}")
print("  `pooledu explain --size 6 --kernel 2 --padding 2` says:")
print("    " + explain(6, 2, None, 2).splitlines()[-1])

# %% [markdown]
# The rule is checked against the raw kernel, not the dilated one, so with
# dilation a window of padding only can still slip through. Its maximum is
# -inf; its index is where pooledu and PyTorch differ. pooledu returns -1 (no
# cell won) and routes no gradient there. PyTorch's CPU kernel starts its
# running argmax at the window's first tap after stepping past the padding,
# row ih0 and column iw0, and since no tap beats -inf, that starting point is
# what it returns: ih0 * W + iw0, a position outside the window, which may even
# lie outside the plane.


# %%
def torch_start_index(o_h, o_w, H, W, k, s, p, d):
    """PyTorch 2.13's index for an all-padding window (aten's CPU max pooling kernel):
    the first tap, stepped past the top and left padding, flattened."""
    ih0, iw0 = o_h * s[0] - p[0], o_w * s[1] - p[1]
    while ih0 < 0:
        ih0 += d[0]
    while iw0 < 0:
        iw0 += d[1]
    return ih0 * W + iw0


try:
    import torch
except ImportError:  # torch is a test dependency; the lesson runs without it
    torch = None

print("\n  Allowed, yet all padding: width 2, kernel 2, padding 1, dilation 3:")
print("    " + "\n    ".join(explain(2, 2, 1, 1, 3).splitlines()[-2:]))
pad_only = {}
for name, shape, k, p, d in [
        ("2x2 plane, kernel 2, padding 1, dilation 3", (2, 2), (2, 2), (1, 1), (3, 3)),
        ("2x1 plane, kernel (1, 2), padding (0, 1), dilation (1, 2)", (2, 1), (1, 2), (0, 1),
         (1, 2))]:
    x_pad = rng.standard_normal((1, 1) + shape)
    y_pad, i_pad = pooledu.max_pool2d(x_pad, k, 1, p, d, return_indices=True)
    rule = [torch_start_index(a, b, *shape, k, (1, 1), p, d)
            for a in range(y_pad.shape[2]) for b in range(y_pad.shape[3])]
    line = (f"  {name}: pooledu gives {y_pad.ravel().tolist()} with indices "
            f"{i_pad.ravel().tolist()}; PyTorch's rule gives {rule}")
    torch_idx = None
    if torch is not None:
        _, t_idx = torch.nn.functional.max_pool2d(torch.from_numpy(x_pad), k, 1, p, d,
                                                  return_indices=True)
        torch_idx = t_idx.ravel().tolist()
        line += f", and torch {torch.__version__} returns {torch_idx}"
    pad_only[name] = dict(value=y_pad.ravel().tolist(), pooledu=i_pad.ravel().tolist(),
                          rule=rule, torch=torch_idx, plane=shape[0] * shape[1])
    print(line)
say("""In the 2x2 plane PyTorch's index 6 lies outside the plane's 4 cells, and its
CPU backward would write the gradient outside the gradient array. In the 2x1
plane both windows are pure padding, yet PyTorch returns 1, which is cell (1, 0)
of the plane although neither window reads it, and 2, outside the plane. pooledu
returns -1 for both and sends no gradient anywhere.""")

# %%
fig, axes = plt.subplots(3, 1, figsize=(12, 11))
draw_output_size(axes[0], 11, 3, 2)
axes[0].set_title("3x3 windows, stride 2: neighbours overlap by one cell (AlexNet)")
draw_output_size(axes[1], 11, 2, 2)
axes[1].set_title("2x2 windows, stride 2: tiles, the last cell is never read")
draw_output_size(axes[2], *cases["ceil drops"])
axes[2].set_title("ceil_mode with padding 1: the window that would start in the padding is dropped")
path = OUT / "03_output_size.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/03_output_size.py``; ``pooledu check 3`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(3)

RESULTS = dict(simple=simple, overlap=overlap, sizes=sizes, padding_error=padding_error,
               pad_only=pad_only,
               explain_dropped=text_dropped, figure=str(path))
