"""The explorer as one offline HTML page: the data of :mod:`.data`, a stylesheet and a drawing script.

``page.html`` is the skeleton (controls, panels, text), ``page.css`` and
``page.js`` sit beside it; :func:`build_page` pastes all three and the data
into one file, so the page works from disk with no server and no network.
The data travels as JSON in a ``<script type="application/json">`` element,
readable in the page's source and by the tests.
"""

import json
import tempfile
import webbrowser
from pathlib import Path

import numpy as np

from ..viz.style import format_value
from .data import build_data

HERE = Path(__file__).parent
DATA_ID = "pooledu-data"


def _numbers_in(value):
    """Every number in a nested list or dict (the data's values), None excluded."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers_in(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def labels(data):
    """How the figures print each number of the results, keyed as the page's script spells it.

    Values are labelled by :func:`pooledu.viz.style.format_value` here, once,
    so the page shows exactly what a figure would (three significant digits,
    ties rounded as Python rounds them), and its script does no number formatting.

    >>> labels({"results": {"a": {"y": [0.0625, 2.2249999, 3]}}})
    {'0.0625': '0.0625', '2.2249999': '2.22', '3': '3'}
    """
    numbers = set(_numbers_in([r.get("y", []) + r.get("grad", []) for r in data["results"].values()]))
    return {json.dumps(v): format_value(np.float32(v)) for v in sorted(numbers)}


def build_page(data=None):
    """The explorer page as one string of HTML (all of :data:`.data.CONTROLS` by default).

    Examples
    --------
    >>> from pooledu.explorer.data import CONTROLS, build_data
    >>> small = build_data(dict(CONTROLS, size=[4], kernel=[2], stride=[2], padding=[0],
    ...                         dilation=[1]))
    >>> html = build_page(small)
    >>> html.startswith("<!DOCTYPE html>") and 'id="pooledu-data"' in html
    True
    """
    data = build_data() if data is None else data
    data = dict(data, labels=labels(data))
    # "</" inside a script element would end it; "<\/" is the same JSON string
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    html = (HERE / "page.html").read_text()
    return (html.replace("/*STYLE*/", (HERE / "page.css").read_text())
                .replace("/*SCRIPT*/", (HERE / "page.js").read_text())
                .replace("/*DATA*/", payload))


def read_page_data(html):
    """The data embedded in a page written by :func:`build_page` (for tests and tools).

    >>> read_page_data('<script type="application/json" id="pooledu-data">{"a":"<\\\\/"}</script>')
    {'a': '</'}
    """
    start = html.index(f'id="{DATA_ID}">') + len(f'id="{DATA_ID}">')
    return json.loads(html[start:html.index("</script>", start)])


def write_page(out, data=None):
    """Write the explorer to ``out/index.html`` (``out`` is created) and return its path.

    >>> import tempfile, os
    >>> from pooledu.explorer.data import CONTROLS, build_data
    >>> small = build_data(dict(CONTROLS, size=[4], kernel=[2], stride=[2], padding=[0],
    ...                         dilation=[1]))
    >>> path = write_page(tempfile.mkdtemp(), small)
    >>> path.name, path.stat().st_size > 1000
    ('index.html', True)
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(build_page(data), encoding="utf-8")
    return path


def open_page(out=None):
    """Write the explorer (into a new temporary folder unless ``out`` is given) and open
    it in the default web browser. Returns the page's path."""
    path = write_page(out if out is not None else tempfile.mkdtemp(prefix="pooledu-explore-"))
    webbrowser.open(path.resolve().as_uri())
    return path
