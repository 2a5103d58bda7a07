"""Experiments on pooling in trained networks, each a function returning its results.

``run_experiment(name, ...)`` runs one of

- ``accuracy``: one small CNN, five ways to downsample (max pool, average
  pool, stride-2 convolution, none, max-broadcast pooling), trained on the
  digits with several seeds; test accuracy, accuracy on shifted digits,
  parameters, FLOPs, training time.
- ``invariance``: the trained networks of ``accuracy``; how much their output
  changes when the input moves by 0..4 pixels.
- ``gradients``: a deep residual stack whose downsampling skip is a 1x1
  stride-2 convolution (ResNet) or pooling (FishNet style); gradient norms per
  block at initialisation and after a few training steps.

Each prints a table, writes ``<name>.md``, ``<name>.json`` and ``<name>.png``
into ``out`` (``pooledu-output/`` unless given; ``None`` writes nothing),
says where, and returns a dict. ``quick=True`` shrinks
everything to run in well under a minute (tests, lessons).
"""

from . import accuracy, gradients, invariance

EXPERIMENTS = {"accuracy": accuracy.run, "invariance": invariance.run,
               "gradients": gradients.run}


def run_experiment(name, quick=False, seeds=None, out="pooledu-output", progress=True):
    """Run the experiment ``name`` and return its results.

    Parameters
    ----------
    name : {"accuracy", "invariance", "gradients"}
    quick : bool
        Small data and few steps: the numbers only show that it works.
    seeds : int, optional
        How many seeds (0, 1, ..., seeds-1); default 3 (1 when quick).
    out : str or None
        Folder for the table (Markdown, JSON) and the figure; None writes
        nothing. The committed results are in ``figures/``: only
        ``out="figures"`` rewrites them.
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    dict
        The experiment's numbers (also what the JSON file holds), plus
        ``"table"``: the Markdown table printed.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"run_experiment: name must be one of {sorted(EXPERIMENTS)}, "
                         f"got {name!r}")
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool)
                              or seeds < 1):
        raise ValueError(f"run_experiment: seeds must be a positive int, got {seeds!r}")
    return EXPERIMENTS[name](quick=quick, seeds=seeds, out=out, progress=progress)


def lesson_options(description, argv=None):
    """Options shared by lessons 11-13: where figures go, and quick or full runs.

    The output folder is :func:`pooledu.lessons.output_dir`'s (the tour's
    folder for the lesson, else ``--out``, ``POOLEDU_LESSON_OUTPUT`` or
    ``lesson_output/``). Lessons run the quick experiments unless ``--full``
    is given.

    Returns (out, quick).
    """
    import argparse

    from ..lessons import output_dir
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", help="where figures go (default: $POOLEDU_LESSON_OUTPUT or lesson_output/)")
    parser.add_argument("--full", action="store_true", help="the full experiment (minutes)")
    args, _ = parser.parse_known_args(argv)
    return str(output_dir()), not args.full


def committed(name, folder=None):
    """The committed full run of experiment ``name`` (``figures/<name>.json``), or None.

    Lessons 11-13 print it beside their quick run, whose single seed and few
    digits cannot support a comparison. None when the file is not there (an
    installed package without the repository's ``figures/``).

    Examples
    --------
    >>> committed("accuracy")["settings"]["seeds"]
    3
    """
    import json
    from pathlib import Path
    path = Path(folder or Path(__file__).resolve().parents[2] / "figures") / f"{name}.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    for r in results["variants"].values():  # JSON turns integer keys into strings
        if "shifted_accuracy" in r:
            r["shifted_accuracy"] = {int(k): a for k, a in r["shifted_accuracy"].items()}
    return results


__all__ = ["run_experiment", "lesson_options", "committed", "EXPERIMENTS"]
