"""Your kernel in a real network: swap a ResNet's pooling for pooledu's, check it, train it.

Goal: put the max pooling loop of lesson 1 (and an adaptive average pool)
inside a small PyTorch ResNet, with ``pooledu.torch.swap_pooling``;
see that the network computes the same numbers; train it for a few steps on
the digits with a PyTorch optimiser next to the untouched network; and time
both in the same run.
Run it as ``python lessons/14_your_kernel_in_a_real_network.py [--out DIR]``
(needs PyTorch: ``pip install "pooledu[torch]"``).
"""

# %% [markdown]
# ## PyTorch, if it is here
#
# pooledu itself does not need PyTorch; ``pooledu.torch`` does. Without it
# this lesson says how to get it and stops.

# %%
import copy
import time

try:
    import torch
except ImportError:
    print('This lesson puts pooledu inside a PyTorch network, and PyTorch is not installed.\n'
          'Install it with:  pip install "pooledu[torch]"   (in a source checkout: '
          'pip install -e ".[torch]"), then run the lesson again.')
    raise SystemExit(0) from None

import matplotlib.pyplot as plt
import numba
from torch import nn

from pooledu import data
from pooledu.lessons import output_dir
from pooledu.torch import swap_pooling

OUT = output_dir()
torch.manual_seed(0)
# One thread each, restored at the end: PyTorch's and Numba's thread pools
# would otherwise compete for the same cores (each spinning while it waits for
# work), and what we compare is the two libraries' loops.
THREADS = torch.get_num_threads(), numba.get_num_threads()
torch.set_num_threads(1)
numba.set_num_threads(1)

# %% [markdown]
# ## Step 1: a small ResNet, written in plain PyTorch
#
# ResNet-18's two pooling layers, at the size of the 24x24 digits: after the
# stem, a 3x3 max pool with stride 2 and padding 1 (24x24 -> 12x12), and at
# the end an adaptive average pool to 1x1, which averages each channel's
# whole map into one number for the classifier.

# %%


class Block(nn.Module):
    """Two 3x3 convolutions and a skip connection (a 1x1 convolution where it downsamples)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


original = nn.Sequential(
    nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
    nn.MaxPool2d(kernel_size=3, stride=2, padding=1),       # (N, 8, 24, 24) -> (N, 8, 12, 12)
    Block(8, 8), Block(8, 16, stride=2),                    # -> (N, 16, 6, 6)
    nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),             # -> (N, 16)
    nn.Linear(16, 10))
print("Step 1. The network's pooling layers, as PyTorch built them:")
for name, module in original.named_modules():
    if "Pool" in type(module).__name__:
        print(f"  [{name}] {module}   <- {type(module).__module__}")

# %% [markdown]
# ## Step 2: swap the pooling
#
# ``swap_pooling`` walks the model and turns every ``torch.nn`` pooling module
# into pooledu's module of the same name: a subclass of PyTorch's whose
# ``forward`` calls pooledu's kernels (and whose backward pass is pooledu's
# ``max_pool2d_backward``, ``adaptive_avg_pool2d_backward``). Settings,
# printout and ``state_dict`` stay PyTorch's. We swap a copy, so both
# networks start from the same weights.

# %%
swapped = swap_pooling(copy.deepcopy(original))
print("\nStep 2. After swap_pooling, the same layers:")
n_swapped = 0
for name, module in swapped.named_modules():
    if "Pool" in type(module).__name__:
        n_swapped += type(module).__module__ == "pooledu.torch.modules"
        print(f"  [{name}] {module}   <- {type(module).__module__}")

# %% [markdown]
# ## Step 3: the same numbers?
#
# Feed both networks the same batch of digits and compare. Everything before
# the max pool is PyTorch in both, so the max pool sees the same input and
# must return the same bits (pooledu's max is bit-exact). The average at the
# end adds 36 numbers per channel; pooledu adds them in window order while
# PyTorch uses vectorised partial sums, so float32 rounding may differ in the
# last bits, and those differences travel through the last linear layer.

# %%
digits = data.load(seed=0, n_train=640, n_test=400)
X = torch.from_numpy(digits["X_train"])   # (640, 1, 24, 24) float32
y = torch.from_numpy(digits["y_train"]).long()
X_test = torch.from_numpy(digits["X_test"])
y_test = torch.from_numpy(digits["y_test"]).long()

seen = {}
for label, net in (("pytorch", original), ("pooledu", swapped)):
    net[3].register_forward_hook(lambda m, inp, out, label=label: seen.__setitem__(label, out))
with torch.no_grad():
    logits = {"pytorch": original(X[:32]), "pooledu": swapped(X[:32])}
pool_equal = bool(torch.equal(seen["pytorch"], seen["pooledu"]))
logit_diff = float((logits["pytorch"] - logits["pooledu"]).abs().max())
print("\nStep 3. One batch of 32 digits through both networks:")
print(f"  max pool outputs {tuple(seen['pooledu'].shape)} bit for bit equal: {pool_equal}")
print(f"  largest difference between the logits: {logit_diff:.2e} "
      f"(float32 spacing near 1 is {torch.finfo(torch.float32).eps:.1e})")

# %% [markdown]
# ## Step 4: train both, side by side
#
# The same batches, the same Adam optimiser, the same learning rate. If
# pooledu's backward passes were wrong, the swapped network would learn
# differently; if they are right, the two loss curves lie on top of each
# other (up to the last-bit rounding of the average, which training can
# slowly amplify).

# %%
STEPS, BATCH = 30, 32
losses = {"pytorch": [], "pooledu": []}
for label, net in (("pytorch", original), ("pooledu", swapped)):
    torch.manual_seed(1)  # the same batch order for both
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for step in range(STEPS):
        batch = torch.randint(0, len(X), (BATCH,))
        loss = nn.functional.cross_entropy(net(X[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses[label].append(loss.item())
# After 30 steps BatchNorm's running averages still lag far behind the weights
# (in eval mode both networks would guess one class), so the test digits are
# classified with their own batch statistics: the whole test set in one batch.
accuracy = {}
with torch.no_grad():
    for label, net in (("pytorch", original), ("pooledu", swapped)):
        accuracy[label] = float((net(X_test).argmax(1) == y_test).float().mean())
print(f"\nStep 4. {STEPS} Adam steps of {BATCH} digits each:")
print("  step   loss (PyTorch's pooling)   loss (pooledu's pooling)")
for step in (0, 4, 9, 19, STEPS - 1):
    print(f"  {step + 1:>4}   {losses['pytorch'][step]:>24.6f}   {losses['pooledu'][step]:>24.6f}")
loss_gap = max(abs(a - b) for a, b in zip(losses["pytorch"], losses["pooledu"]))
print(f"  largest loss difference over the {STEPS} steps: {loss_gap:.2e}")
print(f"  test accuracy on {len(y_test)} digits: PyTorch's pooling {accuracy['pytorch']:.1%}, "
      f"pooledu's {accuracy['pooledu']:.1%}")

# %% [markdown]
# ## Step 5: how fast?
#
# One training step (forward and backward) of each network on a batch, and
# the 3x3/2 max pool alone on the stem's activation, forward and backward.
# Best of several runs, the two alternating so that both see the same
# machine. Speed depends on the machine and on what else runs on it; the
# convolutions dominate the whole step, so there the two differ little.

# %%


def best_ms(runs, repeats=7):
    """Milliseconds of each function in ``runs``: the best of ``repeats``, taken in turns."""
    times = {label: [] for label in runs}
    for label, run in runs.items():
        run()  # warm-up: first calls load kernels and allocate
    for _ in range(repeats):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    return {label: 1e3 * min(t) for label, t in times.items()}


def train_step(net):
    def run():
        net.zero_grad()
        nn.functional.cross_entropy(net(X[:BATCH]), y[:BATCH]).backward()
    return run


def pool_alone(pool, act):
    def run():
        a = act.detach().requires_grad_()
        pool(a).sum().backward()
    return run


with torch.no_grad():
    act = original[:3](X[:BATCH])  # the stem's activation: (32, 8, 24, 24)
timings = best_ms({f"{label} {what}": run
                   for label, net in (("pytorch", original), ("pooledu", swapped))
                   for what, run in (("train step", train_step(net)),
                                     ("max pool", pool_alone(net[3], act)))})
print("\nStep 5. Measured here (ms, best of 7 taken in turns, one thread each):")
for what in ("train step", "max pool"):
    a, b = timings[f"pytorch {what}"], timings[f"pooledu {what}"]
    print(f"  {what:<11} PyTorch {a:7.2f}   pooledu {b:7.2f}   pooledu takes {b / a:.2f}x the time")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
steps = range(1, STEPS + 1)
ax.plot(steps, losses["pytorch"], lw=3, alpha=0.5, label="PyTorch's pooling")
ax.plot(steps, losses["pooledu"], ls="--", color="black", label="pooledu's pooling (swapped)")
ax.set_xlabel("training step")
ax.set_ylabel("cross-entropy loss")
ax.set_title("The same ResNet, trained with each pooling implementation")
ax.legend()
path = OUT / "14_your_kernel_in_a_real_network.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")

torch.set_num_threads(THREADS[0])
numba.set_num_threads(THREADS[1])

# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/14_your_kernel_in_a_real_network.py``; ``pooledu check 14`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(14)

RESULTS = dict(n_swapped=n_swapped, pool_equal=pool_equal, logit_diff=logit_diff,
               losses=losses, loss_gap=loss_gap, accuracy=accuracy, timings=timings,
               figure=str(path))
