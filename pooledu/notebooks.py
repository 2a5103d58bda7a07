"""The lessons as Jupyter notebooks: converted from their percent-format scripts, then executed.

A lesson script is already a notebook in disguise: ``# %%`` starts a code
cell and ``# %% [markdown]`` a cell of prose. jupytext reads it; the module
docstring, which jupytext would leave as a code cell, becomes the notebook's
title cell in Markdown; nbclient runs every cell in a fresh kernel, and the
figures the lesson saves appear inline (:func:`pooledu.lessons.output_dir`
arranges that in a kernel). Needs the ``notebooks`` extra (jupytext,
nbclient, ipykernel).
"""

import ast
import contextlib
import os
import re
from pathlib import Path

from .lessons import ENV_OUTPUT, _progress_bar, find_lesson, list_lessons

CELL_TIMEOUT = 1800  # seconds for one cell: the full experiments of lessons 11-13 take minutes


def _require():
    """jupytext and nbclient, or an ImportError that says which extra installs them."""
    try:
        import jupytext
        import nbclient
        import nbformat
    except ImportError as err:
        raise ImportError(f"notebooks need jupytext, nbclient and ipykernel ({err}); "
                          "pip install 'pooledu[notebooks]'") from None
    return jupytext, nbclient, nbformat


def lesson_notebook(lesson):
    """The notebook of one lesson (a :class:`pooledu.lessons.Lesson`, a number or a name), not executed.

    Its first cell is a Markdown title made from the module docstring; the
    rest are the script's cells as jupytext reads them.

    Examples
    --------
    >>> nb = lesson_notebook(1)
    >>> nb.cells[0].cell_type, nb.cells[0].source.split(':')[0]
    ('markdown', '# Lesson 1')
    """
    jupytext, _, nbformat = _require()
    if not hasattr(lesson, "path"):
        lesson = find_lesson(lesson)
    nb = jupytext.read(lesson.path)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "code":
        doc = _docstring_only(first.source)
        if doc is not None:
            nb.cells[0] = nbformat.v4.new_markdown_cell(_title(lesson, doc, nb.cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb, figures, cwd=None, timeout=CELL_TIMEOUT):
    """Run every cell of ``nb`` in a fresh Python kernel; the lesson saves its figures in ``figures``.

    Returns the notebook with its outputs. A cell that raises stops the run
    with nbclient's ``CellExecutionError``.
    """
    _, nbclient, _ = _require()
    cwd = Path(cwd or figures)
    with _environment(**{ENV_OUTPUT: str(Path(figures).resolve()), "POOLEDU_QUIET": "1"}):
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(cwd)}})
        return client.execute()


def write_notebooks(out, lessons=None, run=True, progress=True):
    """Write one notebook per lesson into ``out`` (``NN_name.ipynb``), executed unless ``run=False``.

    Each lesson's figures go to ``out/NN_name/`` and are also inline in its
    notebook. ``lessons`` picks some (numbers or names); all by default.
    Returns the paths written.
    """
    _, _, nbformat = _require()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = list_lessons() if lessons is None else [find_lesson(key) for key in lessons]
    bar = _progress_bar(len(chosen), progress)
    written = []
    for lesson in chosen:
        stem = f"{lesson.number:02d}_{lesson.name}"
        bar.set_description(f"lesson {lesson.number}: {lesson.name}")
        nb = lesson_notebook(lesson)
        if run:
            (out / stem).mkdir(exist_ok=True)
            nb = execute(nb, out / stem, cwd=out)
        path = out / f"{stem}.ipynb"
        nbformat.write(nb, path)
        written.append(path)
        bar.update(1)
    bar.close()
    return written


# ---------------------------------------------------------------------------

def _title(lesson, doc, cells):
    """The title cell's Markdown: the lesson's own heading if it has one, else one made from its goal.

    A heading the script already has (a Markdown cell right after the
    docstring starting with ``# ``) moves into the title cell, so the page
    has one title.
    """
    after = cells[1] if len(cells) > 1 else None
    if after is not None and after.cell_type == "markdown" and after.source.startswith("# "):
        heading, _, remainder = after.source.partition("\n")
        if remainder.strip():
            after.source = remainder.strip()
        else:
            del cells[1]
        return f"{heading}\n\n{_markdown(doc)}"
    goal, _, rest = doc.partition("\n")
    return f"# Lesson {lesson.number}: {goal.strip().rstrip('.')}\n\n{_markdown(rest.strip())}".strip()


def _docstring_only(source):
    """The docstring if ``source`` is a module docstring and nothing else, else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        return ast.get_docstring(tree)
    return None


def _markdown(text):
    """reStructuredText's ``literal`` becomes Markdown's `literal`."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


@contextlib.contextmanager
def _environment(**values):
    """Set environment variables for a block (a kernel started inside inherits them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

