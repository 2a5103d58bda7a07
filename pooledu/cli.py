"""The ``pooledu`` command: lessons, figures, output-size explanations, benchmarks."""

import argparse
import sys
from pathlib import Path


def announce_compilation(stream=sys.stderr):
    """Say so when the Numba kernels have no cached machine code yet.

    Numba compiles each kernel on its first call and caches the result next to
    the source (``cache=True``); without this line a first run looks like a hang.
    """
    cache = Path(__file__).parent / "__pycache__"
    if not any(cache.glob("fast.*.nbi")):  # the default schedule's kernels
        print("compiling kernels, first run only (this takes a minute; later runs use Numba's cache)",
              file=stream, flush=True)


def _cmd_explain(args):
    from .explain import explain, explain_adaptive
    if args.adaptive is not None:
        print(explain_adaptive(args.size, args.adaptive))
        return 0
    text = explain(args.size, args.kernel, args.stride, args.padding, args.dilation, args.ceil_mode)
    print(text)
    return 2 if "\ninvalid:" in text else 0


def _cmd_bench(args):
    import numba

    from . import bench
    if args.threads:
        numba.set_num_threads(args.threads)
    announce_compilation()
    print(f"timing {len(bench.CASES)} cases ({'quick: batch 2' if args.quick else 'batch 32'}); "
          "best of several runs each", file=sys.stderr)
    runner = bench.run_cuda if args.device == "cuda" else bench.run
    try:
        result = runner(quick=args.quick,
                        progress=lambda row: print(f"  {row['case']} ({row['pass_']}): "
                                                   f"{row['pooledu_nchw_ms']:.2f} ms", file=sys.stderr))
    except RuntimeError as err:  # --device cuda without a GPU
        print(f"pooledu bench: {err}", file=sys.stderr)
        return 1
    print(bench.format_table(result))
    bench.save(result, args.json)
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


def _cmd_figures(args):
    from . import figures
    if args.list:
        print("\n".join(figures.FIGURES))
        return 0
    announce_compilation()
    paths = figures.build_figures(args.names or None, out=args.out, progress=True)
    print(f"wrote {len(paths)} files to {args.out}/")
    return 0


def _cmd_lessons(args):
    from .lessons import format_lessons
    print(format_lessons())
    return 0


def _cmd_lesson(args):
    from .lessons import run_lesson
    announce_compilation()
    try:
        run_lesson(args.number, args.out, argv=["--full"] if args.full else None)
    except ValueError as err:  # no lesson with that number
        print(f"pooledu lesson: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_check(args):
    from . import exercises
    announce_compilation()
    try:
        path = args.file or exercises.exercise_file(
            args.number, exercises.SOLUTION_DIR if args.solutions else exercises.EXERCISE_DIR)
        results = exercises.check(args.number, path)
    except ValueError as err:  # no exercises for that lesson
        print(f"pooledu check: {err}", file=sys.stderr)
        return 2
    print(f"lesson {args.number}: {path}")
    print(exercises.format_check(results))
    return 0 if all(passed for _, passed, _ in results) else 1


def _cmd_tour(args):
    from .lessons import tour
    tour(args.out, progress=not args.no_progress)
    return 0


def _cmd_experiment(args):
    from .experiments import run_experiment
    announce_compilation()
    try:
        run_experiment(args.name, quick=args.quick, seeds=args.seeds, out=args.out,
                       progress=not args.no_progress)
    except ValueError as err:  # a non-positive --seeds
        print(f"pooledu experiment: {err}", file=sys.stderr)
        return 2
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="pooledu", description=(
        "Pooling in convolutional networks, as readable loops that match PyTorch."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("explain", help="walk through the output-size arithmetic of one dimension")
    p.add_argument("--size", type=int, required=True, help="input length (H or W)")
    p.add_argument("--kernel", type=int, default=2)
    p.add_argument("--stride", type=int, default=None, help="default: the kernel size")
    p.add_argument("--padding", type=int, default=0)
    p.add_argument("--dilation", type=int, default=1)
    p.add_argument("--ceil-mode", action="store_true")
    p.add_argument("--adaptive", type=int, metavar="OUT", default=None,
                   help="explain adaptive pooling into OUT windows instead")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("bench", help="time the kernels against PyTorch and the copy bandwidth")
    p.add_argument("--quick", action="store_true", help="batch 2 instead of 32, fewer repeats")
    p.add_argument("--threads", type=int, default=None, help="Numba and PyTorch threads")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: the CUDA kernels against PyTorch CUDA (pip install 'pooledu[cuda]')")
    p.add_argument("--json", default="bench_results.json", help="where to write the results")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("figures", help="rebuild the figures from what the kernels compute")
    p.add_argument("names", nargs="*", metavar="NAME", help="figures to build (default: all)")
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.add_argument("--list", action="store_true", help="list the figure names and stop")
    p.set_defaults(func=_cmd_figures)

    p = sub.add_parser("lessons", help="list the step-by-step lessons")
    p.set_defaults(func=_cmd_lessons)
    p = sub.add_parser("lesson", help="run one lesson")
    p.add_argument("number", type=int)
    p.add_argument("--out", default="lesson_output", help="where its figures go")
    p.add_argument("--full", action="store_true",
                   help="lessons 11-13: the full experiment (minutes) instead of the quick one")
    p.set_defaults(func=_cmd_lesson)
    p = sub.add_parser("check", help="check your answers to a lesson's exercises")
    p.add_argument("number", type=int)
    p.add_argument("--file", default=None, help="your exercise file (default: lessons/exercises/NN_*.py)")
    p.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("tour", help="run every lesson in order, rebuilding their figures")
    p.add_argument("--out", default="lesson_output", help="where the figures go")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_tour)

    p = sub.add_parser("experiment", help="train small CNNs on the digits: does pooling help?")
    p.add_argument("name", choices=["accuracy", "gradients", "invariance"])
    p.add_argument("--quick", action="store_true", help="a run of under a minute")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per variant")
    p.add_argument("--out", default="figures", help="where the table and figure go")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_experiment)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
