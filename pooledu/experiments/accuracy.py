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


def run(quick=False, seeds=None, out="figures", progress=True):
    info = trained(quick, seeds, progress)
    d = info["data"]
    results = {"settings": info["settings"], "variants": {}}
    rows = []
    for v in VARIANTS:
        probs = info["probs"][v]
        acc = [_accuracy(p[0], d["y_test"]) for p in probs]
        shifted = {s: [_accuracy(p[s], d["y_test"]) for p in probs] for s in SHIFTS[1:]}
        size = nn.summary(info["models"][v][0], d["X_test"].shape[1:])
        results["variants"][v] = {
            "test_accuracy": acc, "shifted_accuracy": shifted,
            "params": size["params"], "flops": size["flops"],
            "train_seconds": info["seconds"][v]}
        rows.append([LABELS[v], mean_spread(acc)] +
                    [mean_spread(shifted[s]) for s in (2, 4)] +
                    [f"{size['params']:,}", f"{size['flops'] / 1e6:.2f}",
                     f"{np.mean(info['seconds'][v]):.1f}"])
    header = ["downsampling", "test acc. %", "shift 2 px %", "shift 4 px %", "params",
              "MFLOPs", "train s"]
    table = markdown_table(header, rows)
    cfg = info["settings"]
    notes = (f"{cfg['seeds']} seed(s), {len(d['X_train'])} training and {len(d['X_test'])} test "
             f"digits, {cfg['epochs']} epochs of Adam (lr {cfg['lr']}, batch {cfg['batch_size']}). "
             "Accuracies are mean ± half the range over seeds; shifted accuracies average "
             "four directions. MFLOPs: one forward pass of one image. Training time is wall "
             "clock on a shared 2-core machine, so only its order of magnitude means anything.")
    return save("accuracy", results, table, notes, _figure(results), out)


def _figure(results):
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    colors = dict(zip(VARIANTS, ["C0", "C1", "C2", "C3", "C4"]))
    for i, v in enumerate(VARIANTS):
        acc = np.array(results["variants"][v]["test_accuracy"]) * 100
        ax1.bar(i, acc.mean(), color=colors[v], alpha=0.7)
        ax1.plot([i] * len(acc), acc, "o", color="k", ms=4)
        curve = [acc] + [np.array(results["variants"][v]["shifted_accuracy"][s]) * 100
                         for s in SHIFTS[1:]]
        means = [c.mean() for c in curve]
        ax2.plot(SHIFTS, means, "o-", color=colors[v], label=LABELS[v])
        ax2.fill_between(SHIFTS, [c.min() for c in curve], [c.max() for c in curve],
                         color=colors[v], alpha=0.15)
    ax1.set_xticks(range(len(VARIANTS)), [LABELS[v] for v in VARIANTS], rotation=25, ha="right")
    lo = min(min(r["test_accuracy"]) for r in results["variants"].values()) * 100
    ax1.set_ylim(max(0, lo - 5), 100)
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("Centred test digits (bar: mean, dots: seeds)")
    ax2.set_xlabel("shift of the test digit (pixels)")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_xticks(SHIFTS)
    ax2.set_title("Shifted test digits (band: range over seeds)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
