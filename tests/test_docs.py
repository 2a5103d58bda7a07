"""The documentation website builds with ``mkdocs build --strict``: lessons, gallery, API, explorer.

The real build executes every lesson as a notebook (``docs/hooks.py``), which
takes as long as a tour. ``tests/test_lessons.py`` already runs every lesson,
so this test executes two of them (``POOLEDU_DOCS_EXECUTE``), enough to see
that executed figures reach the pages, and renders the others unexecuted.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pooledu.figures import FIGURES
from pooledu.lessons import list_lessons

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = (1, 4)  # lessons executed in the test build


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               POOLEDU_DOCS_EXECUTE=",".join(map(str, EXECUTED)),
               POOLEDU_DOCS_CACHE=str(tmp_path_factory.mktemp("docs-cache")))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-5000:]
    return site


def page(site, path):
    return (site / path / "index.html").read_text(encoding="utf-8")


def test_every_lesson_is_a_page_and_executed_ones_show_their_figures(site):
    lessons = list_lessons()
    assert len(lessons) >= 13
    for lesson in lessons:
        html = page(site, f"lessons/{lesson.number:02d}_{lesson.name}")
        assert f"Lesson {lesson.number}:" in html
        shows_figure = 'src="data:image/png;base64,' in html  # an output image, not the theme's CSS
        assert shows_figure == (lesson.number in EXECUTED), f"lesson {lesson.number}"
        assert "Traceback" not in html


def test_the_gallery_shows_every_figure(site):
    html = page(site, "gallery")
    for name in FIGURES:
        assert name in html
        assert any((site / "figures" / f"{name}.{ext}").exists() for ext in ("png", "gif", "html"))
    assert "Experiment results" in html


def test_the_api_reference_comes_from_the_docstrings(site):
    html = page(site, "api")
    for name in ["max_pool2d", "adaptive_avg_pool2d", "max_broadcast_pool2d", "pool_output_size",
                 "set_compile_messages", "run_lesson"]:
        assert f'id="pooledu.' in html and name in html
    assert "NaN wins over every number" in html  # from max_pool2d's docstring


def test_the_other_pages(site):
    assert "pooledu bench" in page(site, "performance")
    assert "register_jitable" in page(site, "adding-an-operation")
    assert '<iframe src="../explorer/app/index.html"' in page(site, "explorer")
    assert 'name="kernel"' in (site / "explorer" / "app" / "index.html").read_text()
