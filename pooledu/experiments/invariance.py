"""How much does a trained network's output move when its input moves?

For the networks of the ``accuracy`` experiment, each test digit is shifted
by 0..4 pixels (right, left, down, up) and compared with the centred digit:

- ``change``: the total variation distance between the two predicted class
  distributions, ``0.5 * sum_k |p_k(shifted) - p_k(centred)|`` (0: the same
  output, 1: disjoint), averaged over digits and directions;
- ``agreement``: the fraction of digits whose predicted class stays the same.
"""

import numpy as np
from matplotlib.figure import Figure

from ._report import markdown_table, mean_spread, save
from .accuracy import LABELS, SHIFTS, VARIANTS, trained


def output_change(probs):
    """(change, agreement) of the predictions at one shift against shift 0.

    ``probs`` maps a shift to (4 directions, M, 10) class distributions.
    Returns, per shift, the mean total variation distance and the fraction of
    unchanged predicted classes, over the digits and the 4 directions.
    """
    p0 = probs[0][0]  # (M, 10); at shift 0 the four directions coincide
    change = {s: float(0.5 * np.abs(p - p0).sum(axis=-1).mean()) for s, p in probs.items()}
    agree = {s: float(np.mean(p.argmax(axis=-1) == p0.argmax(axis=-1)))
             for s, p in probs.items()}
    return change, agree


def run(quick=False, seeds=None, out="pooledu-output", progress=True):
    info = trained(quick, seeds, progress)
    results = {"settings": info["settings"], "shifts": list(SHIFTS), "variants": {}}
    rows = []
    for v in VARIANTS:
        per = [output_change(p) for p in info["probs"][v]]
        change = np.array([[c[s] for s in SHIFTS] for c, _ in per])  # (seeds, shifts)
        agree = np.array([[a[s] for s in SHIFTS] for _, a in per])
        results["variants"][v] = {"change": change.tolist(), "agreement": agree.tolist()}
        rows.append([LABELS[v]] + [mean_spread(change[:, s], digits=1) for s in (1, 2, 4)]
                    + [mean_spread(agree[:, s]) for s in (1, 2, 4)])
    header = ["downsampling", "change 1 px %", "change 2 px %", "change 4 px %",
              "same class 1 px %", "same class 2 px %", "same class 4 px %"]
    table = markdown_table(header, rows)
    notes = ("change: total variation distance between the predicted class distributions of "
             "the shifted and the centred digit (percent; 0 = identical output). same class: "
             "digits whose predicted class does not change. Mean ± half the range over "
             f"{info['settings']['seeds']} seed(s); each value averages the test digits and four "
             "shift directions.")
    return save("invariance", results, table, notes, _figure(results), out)


def _figure(results):
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    for i, v in enumerate(VARIANTS):
        for ax, key in ((ax1, "change"), (ax2, "agreement")):
            a = np.array(results["variants"][v][key]) * 100
            ax.plot(SHIFTS, a.mean(axis=0), "o-", color=f"C{i}", label=LABELS[v])
            ax.fill_between(SHIFTS, a.min(axis=0), a.max(axis=0), color=f"C{i}", alpha=0.15)
    ax1.set_ylabel("output change (total variation, %)")
    ax1.set_title("How far the predicted distribution moves")
    ax2.set_ylabel("predicted class unchanged (%)")
    ax2.set_title("How often the predicted class survives")
    for ax in (ax1, ax2):
        ax.set_xlabel("shift of the input (pixels)")
        ax.set_xticks(SHIFTS)
        ax.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("Trained networks, test digits shifted by 0-4 pixels "
                 "(mean over seeds; band: range)", fontsize=10)
    fig.tight_layout()
    return fig
