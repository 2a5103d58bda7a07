"""Find, run and tour the step-by-step lessons in ``lessons/``.

A lesson is a script in the percent format (``# %%`` cells): it runs top to
bottom as ``python lessons/NN_name.py [--out DIR]`` and opens as a notebook.
Its module docstring's first line is its one-line goal. It asks
:func:`output_dir` where to save figures, prints a narrated walkthrough whose
numbers all come from pooledu, and ends by binding ``RESULTS``, a dict of its
key numbers, which :func:`run_lesson` returns so tests can check them.

The lessons live beside the package in a source checkout (``lessons/`` next
to ``pooledu/``), and an installed wheel carries the same files as
``pooledu/_lessons/``. This module runs them in the current process, so the
Numba kernels compile (or load from the cache) once for a whole tour.
"""

import argparse
import ast
import contextlib
import functools
import io
import os
import re
import runpy
import sys
from pathlib import Path
from typing import NamedTuple

def _lesson_dir():
    """The installed copy of the lessons if there is one, else the source checkout's ``lessons/``."""
    package = Path(__file__).resolve().parent
    installed = package / "_lessons"
    return installed if any(installed.glob("[0-9][0-9]_*.py")) else package.parent / "lessons"


LESSON_DIR = _lesson_dir()
DEFAULT_OUTPUT = "lesson_output"
ENV_OUTPUT = "POOLEDU_LESSON_OUTPUT"

_override = None  # the output directory run_lesson chose, while a lesson runs


class Lesson(NamedTuple):
    number: int
    name: str
    goal: str
    path: Path


def list_lessons(directory=LESSON_DIR):
    """Every lesson in ``directory``, in order: number, name, one-line goal, path.

    The goal is the first line of the lesson's docstring, read without running it.

    Examples
    --------
    >>> first = list_lessons()[0]
    >>> first.number, first.name
    (1, 'max_pooling')
    """
    found = []
    for path in sorted(Path(directory).glob("[0-9][0-9]_*.py")):
        number, name = re.match(r"(\d+)_(.*)\.py$", path.name).groups()
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        found.append(Lesson(int(number), name, doc.strip().splitlines()[0] if doc else "", path))
    return found


def format_lessons(directory=LESSON_DIR):
    """The lessons as lines ``NN  name  goal``: the text of ``pooledu lessons``.

    Examples
    --------
    >>> print(format_lessons().splitlines()[0])  # doctest: +ELLIPSIS
     1  max_pooling ...
    """
    found = list_lessons(directory)
    width = max((len(lesson.name) for lesson in found), default=0)
    return "\n".join(f"{lesson.number:>2}  {lesson.name:<{width}}  {lesson.goal}" for lesson in found)


def find_lesson(key, directory=LESSON_DIR):
    """The lesson with number ``key`` (an int or digits) or name ``key``, else a ValueError.

    A name may be given whole (``max_pooling``, ``01_max_pooling``) or by a
    part that only one lesson's name contains (``backprop``). The error lists
    the lessons there are.

    Examples
    --------
    >>> find_lesson("3").name, find_lesson("backprop").number
    ('output_size', 4)
    """
    lessons = list_lessons(directory)
    text = str(key).strip().lower()
    if text.isdigit():
        matches = [l for l in lessons if l.number == int(text)]
    else:
        stem = text.removesuffix(".py")
        matches = [l for l in lessons if stem in (l.name, f"{l.number:02d}_{l.name}")]
        matches = matches or [l for l in lessons if stem and stem in l.name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"lesson {key} is ambiguous: it matches {_names(matches)}")
    raise ValueError(f"no lesson {key}; the lessons are "
                     f"{_names(lessons) or f'none (none found in {directory})'}")


def _names(lessons):
    return ", ".join(f"{lesson.number} {lesson.name}" for lesson in lessons)


def output_dir(name=None):
    """The directory a lesson saves its figures in, created if needed.

    In order: the directory :func:`run_lesson` was given, ``--out DIR`` on the
    command line of a lesson run as a script, the environment variable
    ``POOLEDU_LESSON_OUTPUT``, or ``lesson_output/``. ``name`` adds a
    sub-directory (the tour gives each lesson its own).

    In a notebook (a Jupyter kernel) it also makes every figure a lesson
    saves appear inline, so a lesson saves its figures as a script and shows
    them as a notebook without code of its own for either.
    """
    if _in_notebook():
        _show_saved_figures()
    if _override is not None:
        out = Path(_override)
    else:
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--out", default=None)
        args, _ = parser.parse_known_args(sys.argv[1:])
        out = Path(args.out or os.environ.get(ENV_OUTPUT) or DEFAULT_OUTPUT)
    if name:
        out = out / name
    out.mkdir(parents=True, exist_ok=True)
    return out


def say(text, indent="  ", width=88):
    """Print a lesson's explanation as a wrapped paragraph (blank lines kept).

    The lessons narrate with it, so a terminal reader of ``pooledu tour`` gets
    the same words as a notebook reader of the cell's comments.

    Examples
    --------
    >>> say("Max pooling keeps   the largest value of each window.")
      Max pooling keeps the largest value of each window.
    """
    import textwrap
    for paragraph in textwrap.dedent(text).strip().split("\n\n"):
        print(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                            subsequent_indent=indent))


def run_lesson(number, out=None, quiet=False, directory=LESSON_DIR, args=()):
    """Run lesson ``number`` (or name, see :func:`find_lesson`) in this process.

    Its figures go under ``out``. Returns the lesson's ``RESULTS`` dict, with
    its printed walkthrough added under ``"text"``. ``quiet`` captures the
    walkthrough instead of printing it. ``args`` are the lesson's own command
    line (``["--full"]`` for the full experiment of lessons 11-13).

    Examples
    --------
    >>> import tempfile
    >>> r = run_lesson(9, out=tempfile.mkdtemp(), quiet=True)
    >>> r["unet_contracting"][:3], r["unet_output"]
    ([572, 568, 284], 388)
    """
    global _override
    lesson = find_lesson(number, directory)
    out = Path(out if out is not None else os.environ.get(ENV_OUTPUT) or DEFAULT_OUTPUT)
    buffer = io.StringIO()
    sink = buffer if quiet else _Tee(sys.stdout, buffer)
    previous, _override = _override, out
    saved_argv, sys.argv = sys.argv, [str(lesson.path), *args]
    try:
        with contextlib.redirect_stdout(sink):
            try:
                scope = runpy.run_path(str(lesson.path), run_name="__lesson__")
            except SystemExit as stop:  # a lesson that cannot run here has said why
                if stop.code not in (None, 0):
                    raise
                scope = {}
    finally:
        _override, sys.argv = previous, saved_argv
        _close_figures()
    results = dict(scope.get("RESULTS", {}))
    results["text"] = buffer.getvalue()
    return results


def tour(out=DEFAULT_OUTPUT, progress=True, quiet=False, directory=LESSON_DIR, stream=None):
    """Run every lesson in order, rebuilding its figures in ``out/NN_name/``.

    Each lesson's walkthrough is printed (unless ``quiet``) and also saved as
    ``walkthrough.txt`` beside its figures; a progress bar on stderr counts the
    lessons. Returns ``{number: RESULTS}``.
    """
    stream = stream or sys.stdout
    out = Path(out)
    lessons = list_lessons(directory)
    bar = _progress_bar(len(lessons), progress)
    done = {}
    for lesson in lessons:
        folder = f"{lesson.number:02d}_{lesson.name}"
        bar.set_description(f"lesson {lesson.number}: {lesson.name}")
        if not quiet:
            _write(bar, stream, f"\n{'=' * 72}\nLesson {lesson.number}: {lesson.goal}\n{'=' * 72}")
        (out / folder).mkdir(parents=True, exist_ok=True)
        result = run_lesson(lesson.number, out / folder, quiet=True, directory=directory)
        (out / folder / "walkthrough.txt").write_text(result["text"], encoding="utf-8")
        if not quiet:
            _write(bar, stream, result["text"].rstrip())
        done[lesson.number] = result
        bar.update(1)
    bar.close()
    print(f"\nThe tour is over: {len(done)} lessons; figures and walkthroughs are in "
          f"{out.resolve()}/NN_name/", file=stream)
    return done


# ---------------------------------------------------------------------------

class _Tee(io.TextIOBase):
    """Write to two streams at once (the terminal and a capture buffer)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


class _NoBar:
    def set_description(self, text):
        pass

    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="lesson", file=sys.stderr)


def _write(bar, stream, text):
    if isinstance(bar, _NoBar):
        print(text, file=stream)
    else:
        bar.write(text, file=stream)


def _in_notebook():
    """True inside a Jupyter kernel (notebook, VS Code, nbclient), not in a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show_saved_figures():
    """Make Figure.savefig also display the figure inline when it is saved to a file.

    Saving to a buffer (an animation grabbing its frames) is left alone. The
    figure is closed once shown, or the inline backend would show it a second
    time at the end of the cell.
    """
    from matplotlib import pyplot  # before the patch: pyplot wraps Figure.savefig as it imports
    from matplotlib.figure import Figure
    if getattr(Figure.savefig, "shows_inline", False):
        return
    save = Figure.savefig

    @functools.wraps(save)
    def savefig(self, fname, *args, **kwargs):
        result = save(self, fname, *args, **kwargs)
        if isinstance(fname, (str, os.PathLike)):
            from IPython.display import Image, display
            # a PNG made here, not the kernel's figure formatter: that one is gone
            # whenever something switched matplotlib to another backend (Agg)
            png = io.BytesIO()
            save(self, png, format="png", dpi=kwargs.get("dpi", "figure"), bbox_inches="tight")
            display(Image(data=png.getvalue(), format="png"))
            pyplot.close(self)
        return result

    savefig.shows_inline = True
    Figure.savefig = savefig


def _close_figures():
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
