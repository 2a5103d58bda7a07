"""Gradient flow through the downsampling skips of a deep residual stack.

A stem convolution, then 16 pre-activation residual blocks
``x + conv3x3(ReLU(conv3x3(ReLU(x))))`` with 8 channels; blocks 5, 9 and 13
halve the resolution (24 -> 12 -> 6 -> 3): their first convolution has stride
2, and their skip is

- ``resnet``: a 1x1 convolution with stride 2 (He et al. 2016, option B);
- ``max``: 2x2 max pooling (the FishNet remedy: no convolution on the skip);
- ``avg``: 2x2 average pooling;
- ``plain``: no skip at all in any block (a plain deep CNN, for contrast).

Then ReLU, global average pooling and a linear classifier. The last
convolution of every residual branch starts at zero (as in Goyal et al. 2017
and Fixup, Zhang et al. 2019): without normalisation layers each block would
otherwise double the activations' variance, and 16 blocks would blow the
forward pass up by 2**16. So at initialisation every block *is* its skip, and
what the gradient meets on its way down is exactly the downsampling skips; the
plain CNN keeps its He initialisation. For a batch of
digits we record the norm of the loss gradient at every block's output
(``||dL/dh_l||``), at initialisation and after a few Adam steps, several seeds.
"""

import numpy as np
from matplotlib.figure import Figure

from .. import data, nn
from ._report import markdown_table, mean_spread, save

SKIPS = ("resnet", "max", "avg", "plain")
LABELS = {"resnet": "1x1 conv stride 2 (ResNet)", "max": "2x2 max pool (FishNet style)",
          "avg": "2x2 avg pool", "plain": "no skips (plain CNN)"}
BLOCKS, DOWN_AT, CHANNELS = 16, (4, 8, 12), 8


def build_model(skip, rng, blocks=BLOCKS, channels=CHANNELS):
    """The residual stack with downsampling skip ``skip``; the blocks are ``layers[2:2+blocks]``."""
    C = channels
    layers = [nn.Conv2d(1, C, 3, padding=1, rng=rng), nn.ReLU()]
    for b in range(blocks):
        down = b in DOWN_AT
        last = nn.Conv2d(C, C, 3, padding=1, rng=rng)
        if skip != "plain":
            last.weight.data[:] = 0  # zero-init the branch: at first each block is its skip
        body = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=2 if down else 1, padding=1,
                                                  rng=rng),
                             nn.ReLU(), last)
        if skip == "plain":
            layers.append(body)
        elif not down:
            layers.append(nn.Residual(body))
        elif skip == "resnet":
            layers.append(nn.Residual(body, nn.Conv2d(C, C, 1, stride=2, rng=rng)))
        elif skip == "max":
            layers.append(nn.Residual(body, nn.MaxPool2d(2)))
        elif skip == "avg":
            layers.append(nn.Residual(body, nn.AvgPool2d(2)))
        else:
            raise ValueError(f"build_model: skip must be one of {SKIPS}, got {skip!r}")
    layers += [nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(C, 10, rng=rng)]
    return nn.Sequential(*layers)


def settings(quick):
    if quick:
        return {"batch": 32, "steps": 3, "seeds": 1, "blocks": 8}
    return {"batch": 64, "steps": 20, "seeds": 3, "blocks": BLOCKS}


def block_grad_norms(model, X, y, blocks):
    """||dL/dh|| at the output of each block, first block first, and the loss."""
    loss, g = nn.softmax_cross_entropy(model.forward(X), y)
    model.backward(g.astype(X.dtype))
    return [float(np.linalg.norm(model.grad_outputs[2 + b])) for b in range(blocks)], loss


def run(quick=False, seeds=None, out="pooledu-output", progress=True):
    cfg = settings(quick)
    n_seeds = cfg["seeds"] if seeds is None else seeds
    blocks = cfg["blocks"]
    d = data.load(seed=0)
    X, y = d["X_train"][:cfg["batch"]], d["y_train"][:cfg["batch"]]
    results = {"settings": dict(cfg, seeds=n_seeds), "variants": {}}
    jobs = [(s, seed) for s in SKIPS for seed in range(n_seeds)]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="gradients", leave=False)
    runs = {s: {"init": [], "trained": [], "loss": []} for s in SKIPS}
    for skip, seed in jobs:
        rng = np.random.default_rng(seed)
        model = build_model(skip, rng, blocks)
        init, _ = block_grad_norms(model, X, y, blocks)
        opt = nn.Adam(model.parameters(), lr=1e-3)
        for _ in range(cfg["steps"]):
            block_grad_norms(model, X, y, blocks)
            opt.step()
        trained, loss = block_grad_norms(model, X, y, blocks)
        runs[skip]["init"].append(init)
        runs[skip]["trained"].append(trained)
        runs[skip]["loss"].append(loss)
    for skip in SKIPS:
        init, trained = np.array(runs[skip]["init"]), np.array(runs[skip]["trained"])
        results["variants"][skip] = {**runs[skip],
                                     "first_to_last_init": (init[:, 0] / init[:, -1]).tolist(),
                                     "first_to_last_trained":
                                         (trained[:, 0] / trained[:, -1]).tolist()}
    return report(results, out)


def report(results, out):
    """Table, notes and figure from the numbers alone (so a saved JSON can be re-reported)."""
    cfg = results["settings"]
    blocks, steps = cfg["blocks"], cfg["steps"]
    rows = []
    for skip in SKIPS:
        r = results["variants"][skip]
        last = [norms[-1] for norms in r["init"]]
        rows.append([LABELS[skip], mean_spread(last, 1, 3),
                     mean_spread(r["first_to_last_init"], 1, 2),
                     mean_spread(r["first_to_last_trained"], 1, 2), mean_spread(r["loss"], 1, 3)])
    header = ["downsampling skip", "‖dL/dh‖ last block (init)", "first / last (init)",
              f"first / last (after {steps} steps)", f"loss after {steps} steps"]
    table = markdown_table(header, rows)
    k = sum(1 for b in DOWN_AT if b < blocks)
    notes = (f"{blocks} residual blocks of {CHANNELS} channels, downsampling blocks at "
             f"{[b + 1 for b in DOWN_AT if b < blocks]}; a batch of {cfg['batch']} digits; "
             f"{cfg['seeds']} seed(s); mean ± half the range; {steps} Adam steps (lr 1e-3) on "
             "that batch. 'first / last' is the gradient norm at the first block's output "
             "divided by that at the last block's output: above 1 the gradient grows on its "
             "way down, below 1 it shrinks.\n\n"
             "The residual branches start at zero, so at initialisation only the "
             f"{k} downsampling skips act on the gradient. One max pooling skip keeps its norm "
             "(each window's gradient goes whole to one cell), one average pooling skip halves "
             "it (g/4 to four cells), and one 1x1 stride-2 convolution multiplies it by its "
             "transposed He-initialised weights, about sqrt(2) on average but different for "
             f"each seed. Expected first / last at initialisation: max 1, avg 0.5^{k} = "
             f"{0.5 ** k:.3f}, 1x1 conv about sqrt(2)^{k} = {2 ** (k / 2):.2f}. The plain CNN "
             "(no skips, He initialisation everywhere) is there for contrast: its gradient "
             "changes by a data-dependent factor at every layer.")
    return save("gradients", results, table, notes, _figure(results, blocks), out)


def _figure(results, blocks):
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2, sharey=True)
    depth = np.arange(1, blocks + 1)
    for ax, key, title in ((axes[0], "init", "At initialisation"),
                           (axes[1], "trained", f"After {results['settings']['steps']} Adam steps")):
        for i, skip in enumerate(SKIPS):
            a = np.array(results["variants"][skip][key])
            a = a / a[:, -1:]  # relative to the last block, per seed
            ax.plot(depth, a.mean(axis=0), "o-", ms=3, color=f"C{i}", label=LABELS[skip])
            ax.fill_between(depth, a.min(axis=0), a.max(axis=0), color=f"C{i}", alpha=0.15)
        for b in DOWN_AT:
            if b < blocks:
                ax.axvline(b + 1, color="gray", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("block (input side → output side); dotted: downsampling blocks")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("‖dL/dh‖ at a block's output, relative to the last block")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Gradient norm per residual block (mean over {results['settings']['seeds']} "
                 "seed(s); band: range)", fontsize=10)
    fig.tight_layout()
    return fig
