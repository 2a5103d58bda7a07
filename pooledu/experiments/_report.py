"""Writing an experiment's results: a Markdown table, a JSON file, a figure."""

import json
import os

import numpy as np


def markdown_table(header, rows):
    """A Markdown table from a header and rows of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_spread(values, scale=100.0, digits=1):
    """'mean ± half-range' of a list (as percentages by default); one value alone has no spread."""
    v = np.asarray(values, float) * scale
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {(v.max() - v.min()) / 2:.{digits}f}"


def _plain(obj):
    """JSON-ready copy: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save(name, results, table, notes, fig, out):
    """Print the table and write ``<name>.md``, ``<name>.json``, ``<name>.png`` into ``out``."""
    print(table)
    results["table"] = table
    if out is None:
        return results
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}.md"), "w") as f:
        f.write(f"# Experiment: {name}\n\n{table}\n\n{notes}\n")
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(_plain(results), f, indent=1)
    fig.savefig(os.path.join(out, f"{name}.png"), dpi=120, bbox_inches="tight")
    print(f"wrote {name}.md, {name}.json and {name}.png to {os.path.abspath(out)}{os.sep}")
    return results
