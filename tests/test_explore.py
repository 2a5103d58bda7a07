"""The explorer: its page holds what the kernels compute, loads nothing, and draws it in a browser.

The data test recomputes every setting with the public functions, one call at
a time (the generator batches the backward steps), so a mistake in the
generator's bookkeeping shows. The browser test drives the page in Debian's
Chromium through Playwright; in CI (``CI`` set) a missing browser fails the
test instead of skipping it.
"""

import itertools
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import pooledu
from pooledu.cli import main
from pooledu.explain import explain
from pooledu.explorer.data import (CONTROLS, config_key, demo_input, geometry_key, one_thread,
                                   replay)
from pooledu.explorer.page import read_page_data
from pooledu.geometry import ceil_mode_windows, window_taps
from pooledu.viz.style import format_value

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 3_000_000


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page as ``pooledu explore --out DIR`` writes it: (path, html, data)."""
    out = tmp_path_factory.mktemp("explore")
    assert main(["explore", "--out", str(out)]) == 0
    path = out / "index.html"
    html = path.read_text(encoding="utf-8")
    return path, html, read_page_data(html)


def settings(controls=CONTROLS):
    """Every setting of the controls as (mode, size, k, s, p, d, ceil, cip), without the
    duplicates the page folds together (dilation in average, count_include_pad in max)."""
    names = ("mode", "size", "kernel", "stride", "padding", "dilation", "ceil_mode",
             "count_include_pad")
    for mode, n, k, s, p, d, ceil, cip in itertools.product(*(controls[c] for c in names)):
        if (mode == "max" and not cip) or (mode == "avg" and d != 1):
            continue
        yield mode, n, k, s, p, d, ceil, cip


def forward(mode, x, k, s, p, d, ceil, cip):
    if mode == "max":
        return pooledu.max_pool2d(x[None], k, s, p, d, ceil, return_indices=True)
    return pooledu.avg_pool2d(x[None], k, s, p, ceil, cip), None


def backward(mode, g, idx, x, k, s, p, d, ceil, cip):
    """The input gradient for a stack of planes ``x`` (B, H, W) and ``g`` (B, 1, H_out, W_out)."""
    shape = (len(x), 1) + x.shape[1:]
    if mode == "max":
        return pooledu.max_pool2d_backward(g, idx, shape, k, s, p, d, ceil)
    return pooledu.avg_pool2d_backward(g, shape, k, s, p, ceil, cip)


def as_page_number(v):
    """What the page stores for a float32 value (None for -inf), read back as float32."""
    return None if np.isneginf(v) else np.float32(v)


def test_page_data_equals_the_kernels_for_every_setting(page):
    with one_thread():  # thousands of calls on tiny planes
        check_every_setting(page[2])


def check_every_setting(data):
    keys = set()
    for number, (mode, n, k, s, p, d, ceil, cip) in enumerate(settings()):
        key = config_key(mode, n, k, s, p, d, ceil, cip)
        keys.add(key)
        result, x = data["results"][key], demo_input(n)
        assert np.array_equal(data["inputs"][str(n)], x)
        geometry = data["geometry"][geometry_key(n, k, s, p, d, ceil)]
        assert geometry["explain"] == explain(n, k, s, p, d, ceil)
        try:
            y, idx = forward(mode, x, k, s, p, d, ceil, cip)
        except ValueError as err:
            assert result == {"error": str(err)}, key
            continue
        assert "error" not in result, key
        out = y.shape[-1]
        assert result["out"] == out == pooledu.pool_output_size(n, k, s, p, d, ceil)
        assert geometry["taps"] == [window_taps(o, k, s, p, d, n)[0] for o in range(out)]
        dropped = ceil_mode_windows(n, k, s, p, d)[2] if "dropped" in geometry["explain"] else None
        assert geometry["dropped"] == (None if dropped is None else
                                       window_taps(dropped, k, s, p, d, n)[0]), key
        page_y = [None if v is None else np.float32(v) for v in result["y"]]
        assert page_y == [as_page_number(v) for v in y.ravel()], key
        if mode == "max":
            assert result["idx"] == idx.ravel().tolist(), key
        # step t: gradient 1 on outputs 0..t; all steps in one batch, and one step
        # at a time for every 13th setting (the batch must not change a bit)
        steps = out * out
        g = (np.arange(steps)[None] <= np.arange(steps)[:, None]).astype(np.float32)
        g = g.reshape(steps, 1, out, out)
        batched = backward(mode, g, None if idx is None else np.repeat(idx[None], steps, 0),
                           np.broadcast_to(x, (steps,) + x.shape), k, s, p, d, ceil, cip)
        planes = list(replay(result["grad"], n))
        assert len(planes) == steps, key
        for t, plane in enumerate(planes):
            expected = batched[t, 0]
            if number % 13 == 0:
                one_idx = None if idx is None else idx[None]
                expected = backward(mode, g[t:t + 1], one_idx, x[None], k, s, p, d, ceil, cip)[0, 0]
                assert np.array_equal(expected, batched[t, 0]), (key, t)
            assert np.array_equal(plane, expected), (key, t)
        if mode == "avg":  # the divisor: gradient 1 on window t alone leaves 1/divisor
            one = np.eye(steps).reshape(steps, 1, out, out)
            share = backward(mode, one, None, np.broadcast_to(x, (steps,) + x.shape),
                             k, s, p, d, ceil, cip).reshape(steps, -1).max(1)
            assert share.tolist() == [1.0 / div for div in result["div"]], key
    assert set(data["results"]) == keys


def test_page_labels_are_the_figures_labels(page):
    _, _, data = page
    assert data["labels"]
    for text, shown in data["labels"].items():
        assert shown == format_value(np.float32(float(text)))


def test_page_is_self_contained_and_small(page):
    path, html, _ = page
    assert path.stat().st_size < MAX_BYTES
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    for fetcher in ("@import", "url(", "fetch(", "XMLHttpRequest", "<link", "<iframe", "<img"):
        assert fetcher not in html


def test_explore_without_out_opens_the_page_in_the_browser(monkeypatch, tmp_path):
    import webbrowser

    from pooledu.explorer import page as page_module
    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    monkeypatch.setattr(page_module.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    small = dict(CONTROLS, size=[4], kernel=[2], stride=[2], padding=[0], dilation=[1])
    full = page_module.build_data
    monkeypatch.setattr(page_module, "build_data", lambda: full(small))  # a quick page
    assert main(["explore"]) == 0
    assert opened == [(tmp_path / "index.html").resolve().as_uri()]
    assert read_page_data((tmp_path / "index.html").read_text(encoding="utf-8"))["results"]


def test_explain_when_only_ceil_mode_fits_a_window():
    # 4 cells, kernel 3 dilated by 2 (5 cells): floor mode fits none, ceil mode one
    text = explain(4, 3, 2, 0, 2, True)
    assert "Output size: 1" in text and "ceil mode adds 1 window(s)" in text
    assert pooledu.pool_output_size(4, 3, 2, 0, 2, True) == 1


def test_committed_copy_is_current(page):
    _, html, _ = page
    committed = ROOT / "figures" / "explorer.html"
    assert committed.read_text(encoding="utf-8") == html, "rebuild: pooledu figures explorer"


# ---------------------------------------------------------------------------
# in a real browser

def chromium():
    """Debian's Chromium and Playwright, or a skip (a failure in CI, where both must exist)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if path and sync_playwright:
        return path, sync_playwright
    why = "needs Playwright and Chromium (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must provide both (see .ci/run)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser_page(page):
    path, _, _ = page
    executable, sync_playwright = chromium()
    url = path.resolve().as_uri()
    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        tab.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
               if msg.type in ("error", "warning") else None)
        tab.on("request", lambda req: requests.append(req.url))
        tab.goto(url)
        yield tab, problems
        browser.close()
    assert requests == [url], f"the page requested more than itself: {requests}"


def choose(tab, **controls):
    """Set controls the way a person does (select an option, tick a box), the mode first:
    it decides which of dilation and count_include_pad is enabled. A disabled control
    may only be asked for the value it shows."""
    for name, value in sorted(controls.items(), key=lambda item: item[0] != "mode"):
        selector = f"[name={name}]"
        if tab.is_disabled(selector):
            shown_value = tab.input_value(selector) if name != "count_include_pad" else None
            assert shown_value in (str(value), None), f"{name} is disabled at {shown_value}"
            continue
        if isinstance(value, bool):
            tab.set_checked(f"input[name={name}]", value)
        else:
            tab.select_option(f"select[name={name}]", str(value))


def shown(tab):
    return {"size": tab.inner_text("#output-size"),
            "out": tab.locator(".out-cell").all_inner_texts(),
            "in": tab.locator(".in-cell").all_inner_texts(),
            "text": tab.inner_text("#arithmetic") + tab.inner_text("#forward-caption"),
            "grad": tab.locator("#grad-grid .cell").all_inner_texts(),
            "taps": tab.locator(".tap").count()}


SETTINGS = [  # (controls, as passed to pooledu)
    dict(size=6, kernel=3, stride=2, padding=1, dilation=1, ceil_mode=False, mode="max"),
    dict(size=5, kernel=2, stride=2, padding=1, dilation=1, ceil_mode=True, mode="max"),
    dict(size=7, kernel=2, stride=1, padding=1, dilation=2, ceil_mode=True, mode="max"),
    dict(size=2, kernel=2, stride=1, padding=1, dilation=3, ceil_mode=False, mode="max"),  # -inf
    dict(size=8, kernel=4, stride=3, padding=2, dilation=1, ceil_mode=True, mode="avg",
         count_include_pad=True),
    dict(size=5, kernel=3, stride=2, padding=1, dilation=1, ceil_mode=True, mode="avg",
         count_include_pad=False),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: config_key(
    s["mode"], s["size"], s["kernel"], s["stride"], s["padding"], s["dilation"],
    s["ceil_mode"], s.get("count_include_pad", True)))
def test_browser_shows_what_pooledu_computes(browser_page, setting):
    tab, problems = browser_page
    choose(tab, **setting)
    n = setting["size"]
    x = demo_input(n)
    y, _ = forward(setting["mode"], x, setting["kernel"], setting["stride"], setting["padding"],
                   setting["dilation"], setting["ceil_mode"], setting.get("count_include_pad", True))
    out = y.shape[-1]
    assert tab.inner_text("#output-size") == f"{out} × {out}"
    assert tab.locator(".out-cell").all_inner_texts() == [format_value(v) for v in y.ravel()]
    assert tab.locator(".in-cell").all_inner_texts() == [format_value(v) for v in x.ravel()]
    # the first window: one output shown, the rest still to come
    tab.click("button[name=first]")
    assert tab.locator(".out-cell").all_inner_texts() == [format_value(y.flat[0])] + [""] * (out * out - 1)
    assert tab.is_hidden("#rule")
    assert problems == []


def test_browser_states_the_rule_of_an_invalid_setting(browser_page):
    tab, problems = browser_page
    choose(tab, size=5, kernel=3, stride=2, padding=2, dilation=1, ceil_mode=False, mode="max")
    with pytest.raises(ValueError) as err:
        pooledu.max_pool2d(demo_input(5)[None], 3, 2, 2)
    assert tab.is_visible("#rule")
    assert str(err.value) in tab.inner_text("#rule")
    assert tab.inner_text("#output-size") == "none"
    assert tab.locator(".out-cell").count() == 0
    choose(tab, size=4, kernel=4, stride=1, padding=0, dilation=2)  # a window longer than the input
    with pytest.raises(ValueError) as err:
        pooledu.max_pool2d(demo_input(4)[None], 4, 1, 0, 2)
    assert str(err.value) in tab.inner_text("#rule")
    assert problems == []


def test_browser_every_control_changes_the_page(browser_page):
    tab, problems = browser_page
    base = dict(size=6, kernel=3, stride=2, padding=1, dilation=1, ceil_mode=False, mode="avg",
                count_include_pad=True)
    changes = dict(size=7, kernel=2, stride=1, padding=0, ceil_mode=True, mode="max",
                   count_include_pad=False)
    for name, value in changes.items():
        choose(tab, **base)
        before = shown(tab)
        choose(tab, **{name: value})
        assert shown(tab) != before, f"changing {name} changed nothing"
    # dilation belongs to max pooling (average pooling has none): change it there
    choose(tab, **dict(base, mode="max"))
    before = shown(tab)
    choose(tab, dilation=2)
    assert shown(tab) != before
    assert tab.is_disabled("input[name=count_include_pad]")
    choose(tab, mode="avg")
    assert tab.is_disabled("select[name=dilation]")
    assert problems == []


def test_browser_steps_plays_and_pauses(browser_page):
    tab, problems = browser_page
    choose(tab, size=6, kernel=2, stride=2, padding=0, dilation=1, ceil_mode=False, mode="max")
    y, idx = forward("max", demo_input(6), 2, 2, 0, 1, False, True)
    tab.click("button[name=first]")
    filled = lambda: sum(t != "" for t in tab.locator(".out-cell").all_inner_texts())
    assert filled() == 1
    tab.click("button[name=step]")
    tab.click("button[name=step]")
    assert filled() == 3
    tab.click("button[name=back]")
    assert filled() == 2
    # the winner of window 1 is ringed, and its gradient cell holds the step's 1
    w = int(idx.flat[1])
    winner = tab.locator(".in-cell.winner")
    assert winner.count() == 1 and winner.inner_text() == format_value(y.flat[1])
    assert tab.locator("#grad-grid .cell").nth(w).inner_text() == "1"
    tab.fill("input[name=window]", "4")
    assert filled() == 5
    tab.click("button[name=play]")
    tab.wait_for_function("document.querySelectorAll('.out-cell.done').length >= 7", timeout=10_000)
    tab.click("button[name=pause]")
    paused = filled()
    tab.wait_for_timeout(1500)
    assert filled() == paused < y.size
    tab.click("button[name=last]")
    assert filled() == y.size
    assert problems == []


# ---------------------------------------------------------------------------
# in a notebook

NOTEBOOK_CELLS = [
    """\
import numpy as np
import pooledu
from pooledu.explorer.data import demo_input
box = pooledu.explore()
box""",
    """\
# the demo plane: every change of a control calls the kernels again
c = box.controls
c["kernel"].value, c["stride"].value, c["padding"].value = 2, 1, 1
y, idx = pooledu.max_pool2d(demo_input(6)[None], 2, 1, 1, return_indices=True)
assert np.array_equal(box.result["y"], y[0]) and np.array_equal(box.result["idx"], idx[0])
assert c["step"].value == c["step"].max == y.size - 1  # a new setting: the finished output
assert np.array_equal(box.result["grad"], pooledu.max_pool2d_backward(
    np.ones_like(y), idx, (1, 6, 6), 2, 1, 1)[0])
c["step"].value = 3
g = (np.arange(y.size) <= 3).reshape(y.shape).astype(np.float32)
assert np.array_equal(box.result["grad"],
                      pooledu.max_pool2d_backward(g, idx, (1, 6, 6), 2, 1, 1)[0])
c["mode"].value = "avg"
c["count_include_pad"].value = False
assert np.array_equal(box.result["y"],
                      pooledu.avg_pool2d(demo_input(6)[None], 2, 1, 1, False, False)[0])
c["padding"].value = 2
assert box.result["error"].startswith("avg_pool2d: padding must be at most half the kernel size")
print("rule shown:", "breaks a rule" in box.children[3].value)
c["padding"].value = 1  # valid again: drawn again
assert "error" not in box.result""",
    """\
# the learner's own image (colour, averaged to grey), drawn as images
image = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
own = pooledu.explore(image, kernel=3, stride=2, padding=1, mode="avg")
grey = image.astype(np.float32).mean(axis=-1)
assert np.array_equal(own.result["y"], pooledu.avg_pool2d(grey[None], 3, 2, 1)[0])
own""",
]


def test_notebook_explorer_runs_in_a_kernel(monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    # the kernel is a new process: it must import this checkout's pooledu
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fails on any error
    nbformat.write(nb, tmp_path / "explore.ipynb")  # kept for a look when the test fails
    widget_views = [o for cell in nb.cells for o in cell.outputs
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_views) == 2
    assert "rule shown: True" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    drawn = [o for s in states.values() if s["model_name"] == "OutputModel"
             for o in s["state"].get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(drawn) >= 2  # the demo plane and the learner's image, drawn by matplotlib
