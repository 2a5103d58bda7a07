"""Aliasing: why strided pooling is not shift-invariant, and blurring before subsampling.

Goal: see a pattern finer than the stride turn into a different coarse pattern
when it moves by one pixel (aliasing); split max pooling into a dense max and
a subsampling and put a binomial blur between them (``max_blur_pool2d``,
Zhang 2019); measure how much the pooled maps and a trained digit classifier
change under one-pixel shifts with and without the blur. This is the
explanation of what lessons 5 and 12 measured.
Run it as ``python lessons/16_aliasing_and_antialiased_pooling.py [--out DIR] [--full]``.
"""

# %% [markdown]
# ## Step 1: aliasing on one row
#
# Subsampling keeps every second value. A pattern that repeats every 4 pixels
# survives as one that repeats every 2; a pattern finer than that cannot be
# represented on the coarse grid, and what is left of it depends on where the
# grid falls. Max pooling's stride does exactly that to the maxima it computes.

# %%
import argparse
import json

import matplotlib.pyplot as plt
import numpy as np

import pooledu
from pooledu import data, nn
from pooledu.lessons import output_dir, say
from pooledu.viz.photo import edge_map, load_photo

OUT = output_dir()
parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
FULL = parser.parse_known_args()[0].full
rng = np.random.default_rng(16)

row = np.tile([0.0, 0.0, 1.0, 1.0], 4)[None, None]  # stripes two pixels wide
rows = {}
for shift in (0, 1):
    x = np.roll(row, shift, axis=-1)
    rows[shift] = dict(max=pooledu.max_pool2d(x, (1, 2))[0, 0].tolist(),
                       # five equal rows, the middle one read: no padding above or below
                       max_blur=np.round(pooledu.max_blur_pool2d(
                           np.repeat(x, 5, axis=1), (1, 2), stride=(1, 2))[0, 2], 3).tolist())
    print(f"Step 1. stripes shifted by {shift}: {x[0, 0].astype(int).tolist()}")
    print(f"  2x2 max pooling (1x2 here): {rows[shift]['max']}")
    print(f"  max, blur, subsample:       {rows[shift]['max_blur']}")
say(f"""Shifted by one pixel, the max pooled row turns from {rows[0]['max'][:4]} ... into
{rows[1]['max'][:4]} ...: a different pattern, not a shifted one. After the blur
the two shifts give {rows[0]['max_blur'][1:5]} and {rows[1]['max_blur'][1:5]} inside the row:
the blur removed detail the coarse grid cannot hold before subsampling, so less of
it aliases.""")

# %% [markdown]
# ## Step 2: pooled feature maps under one-pixel shifts
#
# Shift a map by one pixel and compare the pooled outputs, position by
# position: ``||y(shifted) - y|| / ||y||``. A shift by the whole stride (2)
# moves every output by one cell for every method; the interesting shift is the
# odd one, which the coarse grid cannot follow.

# %%
edges = edge_map(load_photo())
maps = {"photo edge map": np.stack([edges[r:r + 64, :65] for r in range(0, 256, 64)]),
        "random map": rng.random((4, 64, 65))}
methods = {"max pool 2x2/2": lambda v: pooledu.max_pool2d(v, 2),
           "avg pool 2x2/2": lambda v: pooledu.avg_pool2d(v, 2),
           "max, blur, subsample": lambda v: pooledu.max_blur_pool2d(v, 2)}
change = {}
for map_name, m in maps.items():
    for name, pool in methods.items():
        y0, y1 = pool(np.ascontiguousarray(m[..., :-1])), pool(np.ascontiguousarray(m[..., 1:]))
        inner = (slice(None), slice(2, -2), slice(2, -2))  # away from the borders
        change[(map_name, name)] = float(np.linalg.norm(y1[inner] - y0[inner])
                                         / np.linalg.norm(y0[inner]))
    print(f"Step 2. {map_name}: relative change of the pooled map after a one-pixel shift: "
          + ", ".join(f"{name} {change[(map_name, name)]:.2f}" for name in methods))
least = [m for m in maps if min(methods, key=lambda n: change[(m, n)]) == "max, blur, subsample"]
say(f"""The blurred max changes least under a one-pixel shift on {len(least)} of the
{len(maps)} maps ({', '.join(least) or 'none'}). The blur costs some sharpness (the
output is smoother than the max alone), and it is not invariance either: the output
still moves, only more smoothly.""")

# %% [markdown]
# ## Step 3: a trained digit classifier
#
# Zhang measured *consistency*: how often a classifier gives the same class to
# an image and to the same image shifted. Train lesson 11's small network twice,
# with 2x2 max pooling and with max-blur pooling, and test on digits shifted by
# 1 and 2 pixels, which it never saw. The quick run (1 seed, 300 digits, 2
# epochs) only shows that it works; ``--full`` (3 seeds, all digits, 6 epochs)
# rewrites the committed run in ``lessons/results/antialias.json``.

# %%
def network(kind, seed):
    pool = nn.MaxPool2d if kind == "max" else nn.MaxBlurPool2d
    r = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, rng=r), nn.ReLU(), pool(2),
                         nn.Conv2d(8, 16, 3, padding=1, rng=r), nn.ReLU(), pool(2),
                         nn.Flatten(), nn.Linear(16 * 6 * 6, 10, rng=r))


cfg = (dict(seeds=3, n_train=None, n_test=None, epochs=6) if FULL else
       dict(seeds=1, n_train=300, n_test=120, epochs=2))
d = data.load(seed=0, n_train=cfg["n_train"], n_test=cfg["n_test"])
run = {}
for kind in ("max", "max_blur"):
    run[kind] = {"accuracy": [], "consistency_1": [], "consistency_2": []}
    for seed in range(cfg["seeds"]):
        model = network(kind, seed)
        nn.fit(model, d["X_train"], d["y_train"], epochs=cfg["epochs"], lr=3e-3,
               rng=np.random.default_rng(seed))
        base = np.stack([nn.predict_logits(model, X).argmax(1)
                         for X in data.shifted(d["raw_test"], 0)[0]])
        run[kind]["accuracy"].append(float((base[0] == d["y_test"]).mean()))
        for t in (1, 2):
            moved = np.stack([nn.predict_logits(model, X).argmax(1)
                              for X in data.shifted(d["raw_test"], t)[0]])
            run[kind][f"consistency_{t}"].append(float((moved == base).mean()))


def spread(values):
    v = 100 * np.asarray(values)
    return f"{v.mean():.1f}" + (f" ± {(v.max() - v.min()) / 2:.1f}" if len(v) > 1 else "")


from pooledu.exercises import ROOT  # noqa: E402  (the repository's lessons/ folder)

committed_path = ROOT / "results" / "antialias.json"
if FULL:
    (OUT / "antialias.json").write_text(json.dumps(dict(settings=cfg, run=run), indent=1))
    full = run
else:
    full = json.loads(committed_path.read_text())["run"] if committed_path.is_file() else None
print(f"\nStep 3. {'full' if FULL else 'quick'} run ({cfg['seeds']} seed(s), "
      f"{len(d['X_train'])} training digits, {cfg['epochs']} epochs): accuracy, and the "
      "share of digits keeping their class when shifted by 1 and 2 px")
for kind in run:
    line = (f"  {kind:<9} this run: {spread(run[kind]['accuracy'])}%, "
            f"{spread(run[kind]['consistency_1'])}%, {spread(run[kind]['consistency_2'])}%")
    if not FULL and full is not None:
        line += (f"   full run (3 seeds): {spread(full[kind]['accuracy'])}%, "
                 f"{spread(full[kind]['consistency_1'])}%, {spread(full[kind]['consistency_2'])}%")
    print(line)
if full is not None:
    sep = {t: min(full["max_blur"][f"consistency_{t}"]) > max(full["max"][f"consistency_{t}"])
           for t in (1, 2)}
    acc = {k: np.asarray(full[k]["accuracy"]) for k in ("max", "max_blur")}
    centred = ("max pooling is more accurate in every seed" if acc["max"].min() > acc["max_blur"].max()
               else "max-blur pooling is more accurate in every seed"
               if acc["max_blur"].min() > acc["max"].max() else "the seeds overlap")
    say(f"""Read from the full run: max-blur pooling keeps the class of more shifted digits
than max pooling in every seed at {', '.join(str(t) for t in (1, 2) if sep[t]) or 'no'} px
{'' if all(sep.values()) else '(at ' + ', '.join(str(t) for t in (1, 2) if not sep[t]) + ' px the seeds overlap)'}.
On centred digits {centred} (means {100 * acc['max'].mean():.1f}% for max, {100 * acc['max_blur'].mean():.1f}%
for max-blur). Three seeds of a small network on small digits are weak evidence.""")
else:
    sep = {}
    say("No committed full run was found, so no conclusion is drawn; run with --full.")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
names = list(methods)
for k, map_name in enumerate(maps):
    axes[0].bar(np.arange(len(names)) + 0.38 * k, [change[(map_name, n)] for n in names], 0.38,
                label=map_name)
axes[0].set_xticks(np.arange(len(names)) + 0.19, names, fontsize=9)
axes[0].set_ylabel("relative change, 1 px shift")
axes[0].set_title("pooled maps: lower is more stable")
axes[0].legend()
source = full if full is not None else run
for k, kind in enumerate(("max", "max_blur")):
    means = [100 * np.mean(source[kind][f"consistency_{t}"]) for t in (1, 2)]
    axes[1].bar(np.arange(2) + 0.38 * k, means, 0.38, label=kind)
axes[1].set_xticks(np.arange(2) + 0.19, ["1 px", "2 px"])
axes[1].set_ylabel("% of digits keeping their class")
axes[1].set_title(f"trained classifier ({'full' if full is not None else 'quick'} run)")
axes[1].legend()
path = OUT / "16_aliasing.png"
fig.savefig(path, dpi=100, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")

# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/16_aliasing_and_antialiased_pooling.py``; ``pooledu check 16``
# checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(16)

RESULTS = dict(rows=rows, change=change, least=least, run=run, full=full, separated=sep,
               centred=centred if full is not None else None, figure=str(path))
