"""Does pooling increase accuracy? One small CNN downsampled five ways, trained on the digits."""

# %% [markdown]
# # Lesson 11: Does pooling increase accuracy?
#
# Goal: a question-and-answer thread asks whether pooling can ever *raise* a
# CNN's accuracy, since it throws information away. We answer it the only
# honest way, by training: one small CNN, downsampled five ways (2x2 max
# pooling, 2x2 average pooling, a stride-2 convolution, no downsampling at all,
# and "max-broadcast" pooling, which pools the values but keeps the
# resolution), trained on the same digits with several seeds. We read the
# table for what it supports and, as carefully, for what it does not.
#
# Run: ``python lessons/11_does_pooling_increase_accuracy.py`` (quick, under a
# minute) or with ``--full`` (the committed run, several minutes). Figures go
# to ``--out`` / ``$POOLEDU_LESSON_OUTPUT`` / ``lesson_output/``.

# %%
import numpy as np

from pooledu import nn
from pooledu.experiments import accuracy, committed, lesson_options, run_experiment
from pooledu.experiments._report import mean_spread
from pooledu.lessons import say

OUT, QUICK = lesson_options("Lesson 11: does pooling increase accuracy?")
np.random.seed(0)  # the experiments seed their own generators; this is for anything else

# %% [markdown]
# ## The five networks
#
# All five share ``conv3x3(1->8) ReLU [down] conv3x3(8->16) ReLU [down]
# flatten linear(->10)``. Only ``[down]`` changes. ``nn.summary`` counts each
# network's parameters and FLOPs for one 24x24 digit. Note where the
# parameters go: without downsampling the final feature map stays 24x24, so the
# linear layer sees 16 times more features: one of the thread's answers ("if
# you do not have max pooling, the fully connected layers can be really huge").

# %%
for variant in accuracy.VARIANTS:
    s = nn.summary(accuracy.build_model(variant, np.random.default_rng(0)), (1, 24, 24))
    print(f"{accuracy.LABELS[variant]:<22} params {s['params']:>7,}   FLOPs {s['flops']:>10,}")

# %% [markdown]
# ## Max-broadcast pooling isolates one effect
#
# An answer in the thread describes a custom layer that replaces every value
# of a window by the window's max, without shrinking the map. pooledu has it:
# ``max_broadcast_pool2d``. Comparing it with "no downsampling" (same size,
# same parameters) separates what max pooling does to the *values* from what it
# does to the *resolution*.

# %%
from pooledu import max_broadcast_pool2d

x = np.arange(16, dtype=np.float32).reshape(1, 4, 4) % 7
print("input\n", x[0])
print("max-broadcast 2x2\n", max_broadcast_pool2d(x, 2)[0])

# %% [markdown]
# ## Train and test
#
# Every network is trained with Adam on the *centred* digits, then tested on
# centred digits and on digits shifted by 1..4 pixels (which it never saw).

# %%
results = run_experiment("accuracy", quick=QUICK, out=OUT, progress=False)

# %% [markdown]
# ## Quick run and full run
#
# The tour runs the quick experiment: one seed, 300 digits, two epochs. That
# shows the code works, but one seed has no spread, and on 120 test digits one
# digit is 0.8 points: its differences are noise. Every conclusion below is read
# from the full run (3 seeds, all 1,797 digits, 6 epochs): the committed one in
# ``figures/accuracy.json`` when this run is quick, this run's own with ``--full``.

# %%
cfg = results["settings"]
full = committed("accuracy") if QUICK else results
if QUICK:
    say(f"""That was the quick run ({cfg['seeds']} seed, {cfg['n_train']} training digits,
{cfg['epochs']} epochs): it shows the code works; it is too small to rank the variants.
Beside it, the committed full run (figures/accuracy.json), from which every conclusion
below is read; `pooledu lesson 11 --full` reruns it (several minutes).""")
if full is None:
    say("No committed full run was found (figures/accuracy.json), so this lesson draws no "
        "conclusion; run it with --full.")
else:
    fcfg = full["settings"]
    print(f"\n{'downsampling':<22} {'this run':>9}   full run ({fcfg['seeds']} seeds): test, "
          "shifted 1 / 2 / 4 px")
    for v in accuracy.VARIANTS:
        r = full["variants"][v]
        print(f"{accuracy.LABELS[v]:<22} {100 * np.mean(results['variants'][v]['test_accuracy']):8.1f}%"
              f"   {mean_spread(r['test_accuracy']):>11} | "
              + " / ".join(mean_spread(r["shifted_accuracy"][t]) for t in (1, 2, 4)))

# %% [markdown]
# ## Reading the full run
#
# With few seeds, two variants differ only if their ranges over seeds do not
# overlap: every seed of one above every seed of the other.

# %%
verdicts = accuracy.separations(full) if full is not None else []
print("\n" + "\n".join(verdicts))


def beats(a, b, shift):
    """Every seed of variant a above every seed of variant b, at this shift."""
    acc = {v: np.array(full["variants"][v]["test_accuracy"] if shift == 0 else
                       full["variants"][v]["shifted_accuracy"][shift]) for v in (a, b)}
    return bool(acc[a].min() > acc[b].max())


if full is not None:
    evidence = {f"{a}>{b}@{t}": beats(a, b, t) for t in (1, 2, 3, 4)
                for a, b in [("max", "avg"), ("broadcast", "avg"), ("max", "broadcast"),
                             ("broadcast", "none"), ("max", "none")]}
    kept = [t for t in (1, 2, 3, 4) if evidence[f"broadcast>avg@{t}"]
            and evidence[f"broadcast>none@{t}"]]
    shrink = [t for t in (1, 2, 3, 4) if evidence[f"max>broadcast@{t}"]]
    kept_sentence = (
        (f"Keeping each window's max, without shrinking, goes with robustness at "
         f"{', '.join(map(str, kept))} px (max-broadcast above average pooling and no "
         "downsampling in every seed)." if kept else
         "Keeping each window's max without shrinking is separated from nothing.")
        + (f" Shrinking the map adds to it at {', '.join(map(str, shrink))} px." if shrink
           else ""))
    centred_apart = any(beats(a, b, 0) for a in accuracy.VARIANTS for b in accuracy.VARIANTS
                        if a != b)
    say(f"""What the full run supports. On centred digits {'some ranges separate' if
centred_apart else 'every range overlaps'}: {'see above' if centred_apart else 'no variant is shown to be more accurate, so the full run gives no evidence that pooling raises accuracy'}.
On shifted digits max pooling beats average pooling in every seed at
{', '.join(str(t) for t in (1, 2, 3, 4) if evidence[f'max>avg@{t}']) or 'no'} px.
Max-broadcast, which keeps the max of each window but not the smaller map, beats
average pooling at {', '.join(str(t) for t in (1, 2, 3, 4) if evidence[f'broadcast>avg@{t}']) or 'no'} px
and is not separated from it at {', '.join(str(t) for t in (1, 2, 3, 4) if not evidence[f'broadcast>avg@{t}']) or 'no'} px;
max pooling beats max-broadcast at {', '.join(str(t) for t in (1, 2, 3, 4) if evidence[f'max>broadcast@{t}']) or 'no'} px.
{kept_sentence} The data do not say that the robustness comes from the max alone.
Three seeds on one small data set are weak evidence.""")
else:
    evidence = {}

# %% [markdown]
# What the experiment supports, and what it does not:
#
# - Whether pooling "increases accuracy" is an empirical question about a
#   given network, data set and training budget, not a theorem either way.
#   Throwing values away does not cap accuracy, because the network is not
#   computing the same function with less information; it is a different
#   network, with a different inductive bias and (here) far fewer parameters.
# - The shifted-digit columns test a *claim* often repeated (pooling gives
#   translation invariance). Look at how fast every variant's accuracy falls
#   with the shift: 2x2 pooling buys, at best, a little robustness to one or two
#   pixels; none of these networks is invariant to 4-pixel shifts.
# - The committed full run's reading is printed above, computed from
#   ``figures/accuracy.json``: where max pooling and max-broadcast separate
#   from the others, and where they do not.
# - Training time on a shared CPU is noisy; FLOPs are the reliable cost.
# - Nothing here speaks about large images, deep networks, data augmentation
#   or other data sets. The committed full run is in ``figures/accuracy.md``.

# %%
print(f"figure and tables written to {OUT}/accuracy.png, accuracy.md, accuracy.json")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/11_does_pooling_increase_accuracy.py``; ``pooledu check 11`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(11)

RESULTS = dict(quick=QUICK, this_run=results, full=full, verdicts=verdicts, evidence=evidence)
