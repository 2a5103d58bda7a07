"""Does the way a CNN downsamples change its accuracy? Five variants, several seeds.

One network, ``conv3x3(1->8) ReLU [down] conv3x3(8->16) ReLU [down] flatten linear``,
where ``[down]`` is one of

- ``max``: 2x2 max pooling, stride 2;
- ``avg``: 2x2 average pooling, stride 2;
- ``strided``: a 3x3 convolution with stride 2 and a ReLU (the All-Convolutional
  Net's replacement, Springenberg et al. 2015);
- ``none``: nothing, so the map stays 24x24 and the linear layer grows 16x;
- ``broadcast``: max-broadcast pooling, each 2x2 window filled with its max, so
  the values are pooled but the resolution is kept (same size as ``none``).

Each is trained with Adam on the centred digits (``pooledu.data``) and tested
on the centred test digits and on test digits shifted by 1..4 pixels.
"""

import numpy as np
from matplotlib.figure import Figure

from .. import data, nn
from ._report import markdown_table, mean_spread, save

VARIANTS = ("max", "avg", "strided", "none", "broadcast")
LABELS = {"max": "2x2 max pool", "avg": "2x2 avg pool", "strided": "3x3 conv, stride 2",
          "none": "no downsampling", "broadcast": "max-broadcast 2x2"}
SHIFTS = (0, 1, 2, 3, 4)


def settings(quick):
    """Sizes of a full and of a quick run."""
    if quick:
        return {"n_train": 300, "n_test": 120, "epochs": 2, "seeds": 1, "batch_size": 32,
                "lr": 3e-3}
    return {"n_train": None, "n_test": None, "epochs": 6, "seeds": 3, "batch_size": 32,
            "lr": 3e-3}


def _down(variant, channels, rng):
    if variant == "max":
        return [nn.MaxPool2d(2)]
    if variant == "avg":
        return [nn.AvgPool2d(2)]
    if variant == "strided":
        return [nn.Conv2d(channels, channels, 3, stride=2, padding=1, rng=rng), nn.ReLU()]
    if variant == "broadcast":
        return [nn.MaxBroadcastPool2d(2)]
    if variant == "none":
        return []
    raise ValueError(f"build_model: variant must be one of {VARIANTS}, got {variant!r}")


def build_model(variant, rng, size=data.CANVAS):
    """The experiment's CNN with downsampling ``variant``, for (1, size, size) input."""
    side = size // 4 if variant in ("max", "avg", "strided") else size
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), *_down(variant, 8, rng),
        nn.Conv2d(8, 16, 3, padding=1, rng=rng), nn.ReLU(), *_down(variant, 16, rng),
        nn.Flatten(), nn.Linear(16 * side * side, 10, rng=rng))


_CACHE = {}


def trained(quick=False, seeds=None, progress=True):
    """Train every variant with every seed and predict the (shifted) test digits.

    Cached per process, as ``invariance`` studies the same networks. Returns a
    dict: ``models[variant]`` (one network per seed), ``probs[variant][seed][shift]``
    (predicted class distributions, (4 directions, M, 10)), ``seconds[variant]``
    (training time per seed), ``data`` and ``settings``.
    """
    cfg = settings(quick)
    n_seeds = cfg["seeds"] if seeds is None else seeds
    key = (quick, n_seeds)
    if key in _CACHE:
        return _CACHE[key]
    d = data.load(seed=0, n_train=cfg["n_train"], n_test=cfg["n_test"])
    shifted = {s: data.shifted(d["raw_test"], s)[0] for s in SHIFTS}  # (4, M, 1, 24, 24)
    out = {"models": {}, "probs": {}, "seconds": {}, "data": d,
           "settings": dict(cfg, seeds=n_seeds)}
    for variant in VARIANTS:
        out["models"][variant], out["probs"][variant], out["seconds"][variant] = [], [], []
        for seed in range(n_seeds):
            rng = np.random.default_rng(seed)
            model = build_model(variant, rng)
            hist = nn.fit(model, d["X_train"], d["y_train"], epochs=cfg["epochs"],
                          batch_size=cfg["batch_size"], lr=cfg["lr"], rng=rng,
                          progress=progress, desc=f"{variant} seed {seed}")
            out["models"][variant].append(model)
            out["seconds"][variant].append(hist["seconds"])
            out["probs"][variant].append(
                {s: np.stack([nn.softmax(nn.predict_logits(model, X)) for X in shifted[s]])
                 for s in SHIFTS})
    _CACHE[key] = out
    return out


def _accuracy(probs, labels):
    """Accuracy of (4, M, 10) predictions, averaged over the 4 directions."""
    return float(np.mean(probs.argmax(axis=-1) == labels))


def run(quick=False, seeds=None, out="pooledu-output", progress=True):
    info = trained(quick, seeds, progress)
    d = info["data"]
    results = {"settings": dict(info["settings"], n_train=len(d["X_train"]),
                                n_test=len(d["X_test"])), "variants": {}}
    for v in VARIANTS:
        probs = info["probs"][v]
        size = nn.summary(info["models"][v][0], d["X_test"].shape[1:])
        results["variants"][v] = {
            "test_accuracy": [_accuracy(p[0], d["y_test"]) for p in probs],
            "shifted_accuracy": {s: [_accuracy(p[s], d["y_test"]) for p in probs]
                                 for s in SHIFTS[1:]},
            "params": size["params"], "flops": size["flops"],
            "train_seconds": info["seconds"][v]}
    return report(results, out)


def report(results, out):
    """Table, notes and figure from the numbers alone (so a saved JSON can be re-reported)."""
    for r in results["variants"].values():  # JSON turns the shift keys into strings
        r["shifted_accuracy"] = {int(k): a for k, a in r["shifted_accuracy"].items()}
    rows = []
    for v in VARIANTS:
        r = results["variants"][v]
        rows.append([LABELS[v], mean_spread(r["test_accuracy"])] +
                    [mean_spread(r["shifted_accuracy"][s]) for s in (1, 2, 4)] +
                    [f"{r['params']:,}", f"{r['flops'] / 1e6:.2f}",
                     f"{np.mean(r['train_seconds']):.0f}"])
    header = ["downsampling", "test acc. %", "shift 1 px %", "shift 2 px %", "shift 4 px %",
              "params", "MFLOPs", "train s"]
    table = markdown_table(header, rows)
    cfg = results["settings"]
    notes = (f"{cfg['seeds']} seed(s), {cfg['n_train']} training and {cfg['n_test']} test "
             f"digits, {cfg['epochs']} epochs of Adam (lr {cfg['lr']}, batch {cfg['batch_size']}). "
             "Accuracies are mean ± half the range over seeds; shifted accuracies average "
             "four directions. MFLOPs: one forward pass of one image. Training time is wall "
             "clock on a shared 2-core machine, so only its order of magnitude means anything.")
    notes += "\n\n## What the numbers support\n\n" + "\n".join(separations(results))
    notes += ("\n\nA difference counts only where every seed of one variant beats every seed "
              "of the other; with few seeds even that is weak evidence, and nothing here "
              "generalises beyond this network, data set and training budget.")
    return save("accuracy", results, table, notes, _figure(results), out)


def separations(results):
    """Sentences naming, per measurement, the variants whose seeds' ranges do not overlap."""
    lines = []
    for shift in SHIFTS:
        what = "centred test digits" if shift == 0 else f"digits shifted by {shift} px"
        acc = {v: np.array(r["test_accuracy"] if shift == 0
                           else r["shifted_accuracy"][shift])
               for v, r in results["variants"].items()}
        pairs = [f"{LABELS[a]} > {LABELS[b]}" for a in VARIANTS for b in VARIANTS
                 if a != b and acc[a].min() > acc[b].max()]
        if min(len(a) for a in acc.values()) < 2:
            lines.append(f"- {what}: one seed only, no spread to compare against.")
        elif pairs:
            lines.append(f"- {what}: separated (every seed above every seed): "
                         + "; ".join(pairs) + ". All other pairs overlap.")
        else:
            lines.append(f"- {what}: all ranges overlap; no variant is better.")
    return lines


def _figure(results):
    """Left: test accuracy per variant (mean and range over seeds, each seed a dot);
    right: accuracy against the shift of the test digits. Accepts the results
    as returned or as read back from JSON (string keys)."""
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    for i, v in enumerate(VARIANTS):
        r = results["variants"][v]
        acc = np.array(r["test_accuracy"]) * 100
        jitter = np.linspace(-0.12, 0.12, len(acc)) if len(acc) > 1 else np.zeros(1)
        ax1.plot(i + jitter, acc, "o", color=f"C{i}", ms=5, alpha=0.6)
        ax1.errorbar(i, acc.mean(), yerr=[[acc.mean() - acc.min()], [acc.max() - acc.mean()]],
                     fmt="_", color="k", ms=22, capsize=6, lw=1.2)
        shifted = {int(k): np.array(a) * 100 for k, a in r["shifted_accuracy"].items()}
        curve = [acc] + [shifted[s] for s in SHIFTS[1:]]
        ax2.plot(SHIFTS, [c.mean() for c in curve], "o-", color=f"C{i}", label=LABELS[v])
        ax2.fill_between(SHIFTS, [c.min() for c in curve], [c.max() for c in curve],
                         color=f"C{i}", alpha=0.15)
    ax1.set_xticks(range(len(VARIANTS)), [LABELS[v] for v in VARIANTS], rotation=25, ha="right")
    ax1.set_xlim(-0.6, len(VARIANTS) - 0.4)
    ax1.margins(y=0.15)
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("Centred test digits (dots: seeds; bar: mean and range)", fontsize=10)
    ax1.grid(alpha=0.3, axis="y")
    ax2.set_xlabel("shift of the test digit (pixels)")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_xticks(SHIFTS)
    ax2.set_ylim(0, 100)
    ax2.set_title("Shifted test digits (mean; band: range over seeds)", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
