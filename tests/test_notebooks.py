"""A lesson as an executed notebook: a Markdown title, the prose as Markdown, the figures inline."""

import nbformat
import pytest

from pooledu.cli import main
from pooledu.notebooks import lesson_notebook


def test_the_docstring_becomes_the_title_cell():
    nb = lesson_notebook("output_size")
    title = nb.cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# Lesson 3: Output size")
    assert "``" not in title.source  # reStructuredText literals became Markdown ones
    assert not any(c.cell_type == "code" and c.source.lstrip().startswith('"""') for c in nb.cells)
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 3


@pytest.mark.parametrize("number", [1, 11])
def test_one_title_whether_or_not_the_script_has_its_own_heading(number):
    nb = lesson_notebook(number)
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("# ")]
    assert len(headings) == 1 and headings[0].startswith(f"# Lesson {number}: ")
    assert nb.cells[0].source.startswith(headings[0])


def test_an_executed_lesson_shows_its_figure_inline(tmp_path, capsys):
    assert main(["notebooks", "modern_alternatives", "--out", str(tmp_path), "--no-progress"]) == 0
    path = tmp_path / "09_modern_alternatives.ipynb"
    assert str(tmp_path.resolve()) in capsys.readouterr().out
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    saved = list((tmp_path / "09_modern_alternatives").glob("*.png"))
    assert len(images) == len(saved) == 1  # shown once, and saved as the script saves it
    assert not any(o.output_type == "error" for o in outputs)
    assert any("U-Net" in o.get("text", "") for o in outputs)


def test_a_saved_figure_shows_inline_whatever_the_backend(tmp_path):
    # lessons 11-13 reach code that switches matplotlib to Agg; the figure must still show
    from pooledu.notebooks import execute
    code = ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "from pooledu.lessons import output_dir\nOUT = output_dir()\n"
            "fig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\n"
            "fig.savefig(OUT / 'line.png')\nplt.close(fig)")
    nb = execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), tmp_path)
    images = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1 and (tmp_path / "line.png").exists()
