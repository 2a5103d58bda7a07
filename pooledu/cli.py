"""The ``pooledu`` command: lessons, figures, experiments, output-size explanations, benchmarks.

A mistake on the command line (an unknown name, a number out of range, a
folder that cannot be written) is answered with one line on stderr and exit
status 2, before any work starts; tracebacks are left for real bugs.
"""

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

OUTPUT = "pooledu-output"  # default folder of figures and experiments: never the committed figures/


class UsageError(Exception):
    """A mistake on the command line; ``main`` prints it as one line and exits with status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (``pooledu lesson: ...``) instead of usage plus error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _version():
    try:
        from importlib.metadata import version
        return version("pooledu")
    except Exception:  # running from a source tree that was never installed
        from . import __version__
        return __version__


# -- checks run before any work -------------------------------------------------

def _positive(text):
    """argparse type: an int of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _threads(text):
    """argparse type: a thread count Numba can run, 1..NUMBA_NUM_THREADS."""
    import numba
    value = int(text)
    most = numba.config.NUMBA_NUM_THREADS
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {most} (Numba's NUMBA_NUM_THREADS on this machine), got {value}")
    return value


def _writable_folder(path, option="--out", given=None):
    """Create ``path`` if needed and prove that a file can be written there; else UsageError.

    ``given`` is what the user typed, when ``path`` was derived from it.
    """
    folder = Path(path)
    said = f"{option} {given or path}"
    for above in (folder, *folder.parents):
        if above.exists() and not above.is_dir():
            raise UsageError(f"{said}: cannot write there ({above} is a file, not a folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"{said}: cannot write there ({err.strerror or err})") from None
    return folder


def _writable_file(path, option):
    """Check that ``path`` can be written (its folder exists and takes files) without writing it."""
    file = Path(path)
    if file.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file")
    if file.exists() and not os.access(file, os.W_OK):
        raise UsageError(f"{option} {path}: the file is not writable")
    _writable_folder(file.parent, option, given=path)
    return file


def _said(folder):
    """How a folder is named in messages: absolute, so a user can find it."""
    return f"{Path(folder).resolve()}{os.sep}"


# -- the commands ---------------------------------------------------------------

def _cmd_explain(args):
    from .explain import explain, explain_adaptive
    limit = None if args.all else args.max_windows
    if args.adaptive is not None:
        text = explain_adaptive(args.size, args.adaptive, max_windows=limit)
    else:
        text = explain(args.size, args.kernel, args.stride, args.padding, args.dilation,
                       args.ceil_mode, max_windows=limit)
    invalid = [line for line in text.splitlines() if line.startswith("invalid: ")]
    if invalid:
        raise UsageError(invalid[0].removeprefix("invalid: "))
    print(text)
    return 0


def _cmd_bench(args):
    json_path = _writable_file(args.json, "--json")
    import numba

    from . import bench, bench_family
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    tables = {"core": bench, "family": bench_family}
    if args.core or args.family:
        tables = {name: module for name, module in tables.items() if getattr(args, name)}
    results = {}
    for name, module in tables.items():
        print(f"timing the {name} table: {len(bench.matching(module.CASES, args.match))} cases "
              f"({'quick: batch 2' if args.quick else 'batch 32'}); best of several runs each",
              file=sys.stderr)
        runner = module.run_cuda if args.device == "cuda" else module.run
        try:
            results[name] = runner(quick=args.quick, progress=_bench_progress, match=args.match)
        except RuntimeError as err:  # --device cuda without a GPU
            print(f"pooledu bench: {err}", file=sys.stderr)
            return 1
        print(("\n" if len(results) > 1 else "") + module.format_table(results[name]))
    bench.save(results, json_path)
    print(f"\nwrote {json_path.resolve()}", file=sys.stderr)
    return 0


def _bench_progress(row):
    """One line on stderr per row timed: the core table's rows hold both layouts, the
    family's one each, and a family row on a GPU may have no pooledu kernel to time."""
    ms = row.get("pooledu_nchw_ms", row.get("pooledu_ms"))
    where = f", {row['layout']}" if "layout" in row else ""
    print(f"  {row['case']} ({row['pass_']}{where}): "
          + (f"{ms:.2f} ms" if ms is not None else "no CUDA kernel"), file=sys.stderr)


def _cmd_figures(args):
    from . import figures
    if args.list:
        print("\n".join(figures.FIGURES))
        return 0
    for name in args.names:
        if name not in figures.FIGURES:
            close = difflib.get_close_matches(name, figures.FIGURES, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UsageError(f"no figure named {name!r}; {hint}pooledu figures --list names them all")
    out = _writable_folder(args.out)
    paths = figures.build_figures(args.names or None, out=out, progress=True)
    print(f"wrote {len(paths)} files to {_said(out)}")
    return 0


def _cmd_lessons(args):
    from .lessons import format_lessons, list_lessons
    if not list_lessons():
        raise UsageError("no lessons found: this installation of pooledu carries none")
    print(format_lessons())
    return 0


def _find_lesson(key):
    from .lessons import find_lesson
    try:
        return find_lesson(key)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _cmd_lesson(args):
    from .lessons import run_lesson
    lesson = _find_lesson(args.lesson)
    out = _writable_folder(args.out)
    run_lesson(lesson.number, out, args=["--full"] if args.full else [])
    print(f"\nlesson {lesson.number}'s figures are in {_said(out)}", file=sys.stderr)
    return 0


def _cmd_check(args):
    from . import exercises
    try:
        path = args.file or exercises.exercise_file(
            args.number, exercises.SOLUTION_DIR if args.solutions else exercises.EXERCISE_DIR)
        results = exercises.check(args.number, path)
    except ValueError as err:  # no exercises for that lesson, or no such file
        raise UsageError(str(err)) from None
    print(f"lesson {args.number}: {path}")
    print(exercises.format_check(results))
    return 0 if all(passed for _, passed, _ in results) else 1


def _cmd_tour(args):
    from .lessons import tour
    tour(_writable_folder(args.out), progress=not args.no_progress)
    return 0


def _cmd_notebooks(args):
    try:
        from .notebooks import _require, write_notebooks
        _require()
    except ImportError as err:
        raise UsageError(str(err)) from None
    for key in args.lessons:
        _find_lesson(key)
    out = _writable_folder(args.out)
    paths = write_notebooks(out, args.lessons or None, run=not args.no_execute,
                            progress=not args.no_progress)
    print(f"wrote {len(paths)} notebooks to {_said(out)}")
    return 0


def _cmd_experiment(args):
    from .experiments import run_experiment
    out = _writable_folder(args.out)
    run_experiment(args.name, quick=args.quick, seeds=args.seeds, out=str(out),
                   progress=not args.no_progress)
    return 0


def _cmd_explore(args):
    from .explorer.page import open_page, write_page
    if args.out is None:
        print(f"opened {open_page()}")
    else:
        print(f"wrote {write_page(_writable_folder(args.out))}")
    return 0


def build_parser():
    parser = _Parser(prog="pooledu", description=(
        "Pooling in convolutional networks, as readable loops that match PyTorch: "
        "lessons, figures, experiments, the output-size arithmetic and a benchmark."),
        epilog="Start with `pooledu tour` (every lesson in order) or `pooledu lessons`.")
    parser.add_argument("--version", action="version", version=f"pooledu {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("tour", help="run every lesson in order, printing each walkthrough",
                       description="Run every lesson in order; figures and walkthroughs go to OUT/NN_name/.")
    p.add_argument("--out", default="lesson_output", help="folder for the figures (default: lesson_output/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_tour)

    p = sub.add_parser("lessons", help="list the lessons: number, name, goal",
                       description="List the lessons: number, name and one-line goal.")
    p.set_defaults(func=_cmd_lessons)

    p = sub.add_parser("lesson", help="run one lesson, by number or name",
                       description="Run one lesson and print its walkthrough.")
    p.add_argument("lesson", metavar="LESSON",
                   help="a number (3) or a name, whole or in part (output_size, backprop)")
    p.add_argument("--out", default="lesson_output", help="folder for its figures (default: lesson_output/)")
    p.add_argument("--full", action="store_true",
                   help="lessons 11-13: the full experiment (minutes) instead of the quick one")
    p.set_defaults(func=_cmd_lesson)

    p = sub.add_parser("notebooks", help="write each lesson as an executed Jupyter notebook",
                       description="Write one executed notebook per lesson, figures inline "
                                   "(needs pip install 'pooledu[notebooks]').")
    p.add_argument("lessons", nargs="*", metavar="LESSON", help="lessons by number or name (default: all)")
    p.add_argument("--out", default="notebooks", help="output folder (default: notebooks/)")
    p.add_argument("--no-execute", action="store_true", help="convert only; the cells have no outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_notebooks)

    p = sub.add_parser("figures", help="draw the figures from what the kernels compute",
                       description="Draw the named figures (all by default) from what the kernels compute.")
    p.add_argument("names", nargs="*", metavar="NAME", help="figures to draw (default: all; --list names them)")
    p.add_argument("--out", default=OUTPUT,
                   help=f"output folder (default: {OUTPUT}/; --out figures rewrites the committed ones)")
    p.add_argument("--list", action="store_true", help="list the figure names and stop")
    p.set_defaults(func=_cmd_figures)

    p = sub.add_parser("check", help="check your answers to a lesson's exercises",
                       description="Run your answers to a lesson's exercises against the kernels.")
    p.add_argument("number", type=int, help="the lesson's number")
    p.add_argument("--file", default=None,
                   help="your exercise file (default: lessons/exercises/NN_*.py)")
    p.add_argument("--solutions", action="store_true",
                   help="check the reference solutions instead")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("experiment", help="train small CNNs on the digits: does pooling help?",
                       description="Train small CNNs built from pooledu's kernels on scikit-learn's digits.")
    p.add_argument("name", choices=["accuracy", "gradients", "invariance"], help="which experiment")
    p.add_argument("--quick", action="store_true", help="a run of under a minute (numbers only show it works)")
    p.add_argument("--seeds", type=_positive, default=None, help="training seeds per variant (default 3; quick: 1)")
    p.add_argument("--out", default=OUTPUT,
                   help=f"folder for the table and figure (default: {OUTPUT}/; "
                        "--out figures rewrites the committed results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=_cmd_experiment)

    p = sub.add_parser("explore", help="an interactive page: change any setting, watch the windows")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write DIR/index.html instead of opening it in the browser")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("explain", help="walk through the output-size arithmetic of one dimension",
                       description="The output size of pooling along one dimension, step by step, "
                                   "with every window's taps.")
    p.add_argument("--size", type=int, required=True, help="input length (H or W)")
    p.add_argument("--kernel", type=int, default=2, help="window size (default 2)")
    p.add_argument("--stride", type=int, default=None, help="step between windows (default: the kernel size)")
    p.add_argument("--padding", type=int, default=0, help="implicit cells on each side (default 0)")
    p.add_argument("--dilation", type=int, default=1, help="spacing between taps (default 1)")
    p.add_argument("--ceil-mode", action="store_true", help="round the window count up, as ceil_mode=True")
    p.add_argument("--adaptive", type=int, metavar="OUT", default=None,
                   help="explain adaptive pooling into OUT windows instead")
    p.add_argument("--max-windows", type=_positive, default=40, metavar="N",
                   help="list at most N windows, the first and the last ones (default 40)")
    p.add_argument("--all", action="store_true", help="list every window and every tap")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("bench", help="time the kernels against PyTorch and the copy bandwidth",
                       description="Time pooledu and PyTorch on real layer shapes, same data, "
                                   "same run: the core table (2D max, average, global average), "
                                   "then the family table (1D and 3D, adaptive, LP, fractional, "
                                   "unpooling, global max, max-broadcast).")
    table = p.add_mutually_exclusive_group()
    table.add_argument("--core", action="store_true", help="only the core table")
    table.add_argument("--family", action="store_true", help="only the family table")
    p.add_argument("--quick", action="store_true", help="batch 2 instead of 32, fewer repeats")
    p.add_argument("--match", metavar="TEXT", default=None,
                   help="only the cases whose name contains TEXT, e.g. 'c3d' or 'adaptive'")
    p.add_argument("--threads", type=_threads, default=None, metavar="T",
                   help="Numba and PyTorch threads (default: all of Numba's)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: the CUDA kernels against PyTorch CUDA (pip install 'pooledu[cuda]')")
    p.add_argument("--json", default="bench_results.json",
                   help="file for the results, one entry per table timed "
                        "(default: bench_results.json)")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None):
    """Run the ``pooledu`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except UsageError as err:
        print(f"pooledu {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
