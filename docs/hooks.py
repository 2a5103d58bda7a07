"""MkDocs hooks: the pages that are generated from the code at build time.

- **Lessons.** Every lesson in ``lessons/`` becomes an executed notebook
  (:mod:`pooledu.notebooks`: a Markdown title, the prose as Markdown, the
  figures inline), which mkdocs-jupyter renders as a page. Executing is the
  slow part, so a notebook is kept in ``.cache/pooledu-docs/`` (or
  ``$POOLEDU_DOCS_CACHE``) and run again only when its lesson or the package
  changed. ``POOLEDU_DOCS_EXECUTE`` (lesson numbers, comma-separated)
  executes only those lessons and renders the others unexecuted: the test of
  the site uses it, since the lessons' own tests already run every lesson.
- **Figure gallery.** One section per kind of figure in ``pooledu.figures``'s
  table, every committed file in ``figures/``, then the experiment results.
- **Interactive explorer.** If the package has ``pooledu.explorer``, the
  explorer is built with ``pooledu explore --out`` into the site; the page
  embeds it. Without it, the page says how to build it.
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the pooledu of this checkout, installed or not

from pooledu.figures import FIGURES  # noqa: E402
from pooledu.lessons import list_lessons  # noqa: E402

CACHE = Path(os.environ.get("POOLEDU_DOCS_CACHE", ROOT / ".cache" / "pooledu-docs"))
EXECUTE = os.environ.get("POOLEDU_DOCS_EXECUTE")  # None: every lesson
EXPLORER_DIR = "explorer/app"  # where the explorer's files go in the site

# headings of the gallery, by the first word of a figure's name
KINDS = {
    "windows": "Pooling windows",
    "routing": "Gradient routing",
    "output": "Output size",
    "sliding": "The sliding window",
    "invariance": "Translation invariance",
    "receptive": "Receptive field",
    "cost": "Cost",
    "photo": "A photograph through pooling",
}
EXPERIMENTS = ["accuracy", "invariance", "gradients"]


def _stem(lesson):
    return f"{lesson.number:02d}_{lesson.name}"


def on_config(config):
    """Fill the Lessons section of the navigation, one page per lesson, in order."""
    pages = [{f"{lesson.number}. {_short(lesson.goal)}": f"lessons/{_stem(lesson)}.ipynb"}
             for lesson in list_lessons()]
    for i, entry in enumerate(config["nav"]):
        if isinstance(entry, dict) and "Lessons" in entry:
            config["nav"][i] = {"Lessons": pages}
    return config


def _short(goal):
    """A lesson's goal up to its first colon, question mark or full stop: its title in the menu."""
    return re.match(r"[^:?.]*\??", goal).group(0).strip() or goal


def _fingerprint(lesson):
    """A digest of the lesson and of every source file of the package: what its notebook shows."""
    digest = hashlib.sha256(lesson.path.read_bytes())
    for path in sorted((ROOT / "pooledu").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _notebook(lesson):
    """The executed notebook of ``lesson``, from the cache when nothing it shows has changed."""
    from pooledu.notebooks import write_notebooks
    folder = CACHE / "lessons"  # CACHE is the src_dir of the lesson pages
    path = folder / f"{_stem(lesson)}.ipynb"
    stamp = folder / f"{_stem(lesson)}.sha256"
    run = EXECUTE is None or str(lesson.number) in EXECUTE.split(",")
    key = _fingerprint(lesson) + ("" if run else "-unexecuted")
    if not (path.exists() and stamp.exists() and stamp.read_text() == key):
        write_notebooks(folder, [lesson.number], run=run, progress=False)
        stamp.write_text(key)
    return path


@event_priority(100)  # before mkdocs-jupyter's on_files, which must see the notebooks
def on_files(files, config):
    for lesson in list_lessons():
        print(f"docs: lesson {lesson.number} ({lesson.name})", file=sys.stderr, flush=True)
        _notebook(lesson)
        # a File on a real folder (mkdocs-jupyter's wrapper loses the path of a generated one)
        files.append(File(f"lessons/{_stem(lesson)}.ipynb", src_dir=str(CACHE),
                          dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
    for path in sorted((ROOT / "figures").iterdir()):
        if path.suffix in (".png", ".gif", ".html"):
            files.append(File.generated(config, f"figures/{path.name}", abs_src_path=str(path)))
    files.append(File.generated(config, "gallery.md", content=_gallery()))
    files.append(File.generated(config, "explorer.md", content=_explorer_page()))
    return files


def _gallery():
    lines = ["# Figure gallery", "",
             "Every figure is drawn from what the kernels compute: `pooledu figures NAME` "
             "draws one again (`pooledu figures --list` names them all), and the lessons draw "
             "more of their own.", ""]
    by_kind = {}
    for name in FIGURES:
        by_kind.setdefault(KINDS.get(name.split("_")[0], name.split("_")[0]), []).append(name)
    for kind, names in by_kind.items():
        lines += [f"## {kind}", ""]
        for name in names:
            lines.append(f"### `{name}`")
            lines.append("")
            if name == "explorer":  # a page, not a picture: it has a page of its own here
                lines.append("The interactive explorer: see [its page](explorer.md).")
            elif (ROOT / "figures" / f"{name}.gif").exists():
                lines.append(f"![{name}](figures/{name}.gif)")
                lines.append("")
                lines.append(f"Step by step: [the interactive page](figures/{name}.html), "
                             f"[the strip](figures/{name}.png).")
            else:
                lines.append(f"![{name}](figures/{name}.png)")
            lines.append("")
    lines += ["## Experiment results", "",
              "Small CNNs built from pooledu's kernels, trained on scikit-learn's digits "
              "(`pooledu experiment NAME`; these are the committed full runs).", ""]
    for name in EXPERIMENTS:
        report = ROOT / "figures" / f"{name}.md"
        if report.exists():
            text = report.read_text(encoding="utf-8").split("\n", 1)[1].strip()
            lines += [f"### {name.capitalize()}", "", text, "", f"![{name}](figures/{name}.png)", ""]
    return "\n".join(lines)


def _has_explorer():
    import importlib.util
    return importlib.util.find_spec("pooledu.explorer") is not None


def _explorer_page():
    lines = ["# Interactive explorer", ""]
    if _has_explorer():
        lines += ["Change the input, the window and the mode, and watch every output and "
                  "gradient recomputed by pooledu's kernels.", "",
                  f'<iframe src="../{EXPLORER_DIR}/index.html" title="pooledu explorer" '
                  'style="width: 100%; height: 80vh; border: 0"></iframe>', "",
                  # raw HTML: the page is written after the build, so MkDocs cannot check a link
                  f'<a href="../{EXPLORER_DIR}/index.html" target="_blank">Open the explorer on '
                  'its own page</a>']
    else:
        lines += ['!!! note "The explorer is not part of this build"',
                  "    This page embeds the interactive pooling explorer, which "
                  "`pooledu explore --out DIR` writes; the pooledu this site was built "
                  "from has no `pooledu.explorer` package."]
    return "\n".join(lines) + "\n"


def on_post_build(config):
    """Write the explorer into the site, when the package can build it."""
    if not _has_explorer():
        return
    out = Path(config["site_dir"]) / EXPLORER_DIR
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "pooledu.cli", "explore", "--out", str(out)],
                   check=True, env=env)
