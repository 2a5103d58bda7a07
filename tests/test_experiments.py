"""The experiments and lessons 11-13 in quick mode: they run and their key numbers make sense."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from pooledu.experiments import run_experiment
from pooledu.experiments.accuracy import VARIANTS

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


def test_accuracy_quick(tmp_path):
    r = run_experiment("accuracy", quick=True, out=str(tmp_path), progress=False)
    assert set(r["variants"]) == set(VARIANTS)
    for v in r["variants"].values():
        assert all(0.3 < a <= 1 for a in v["test_accuracy"])  # far above chance (10%)
    p = {k: v["params"] for k, v in r["variants"].items()}
    # pooling adds no parameters; no downsampling and max-broadcast share one size
    assert p["max"] == p["avg"] < p["strided"] < p["none"] == p["broadcast"]
    saved = json.loads((tmp_path / "accuracy.json").read_text())
    assert saved["variants"]["max"]["params"] == p["max"]
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000
    assert "| 2x2 max pool |" in (tmp_path / "accuracy.md").read_text()


def test_invariance_quick():
    r = run_experiment("invariance", quick=True, out=None, progress=False)
    for v in r["variants"].values():
        change = np.array(v["change"])
        assert np.all(change[:, 0] == 0)  # no shift, no change
        assert np.all(change[:, 4] > change[:, 1])  # larger shifts move the output more
        assert np.all(np.array(v["agreement"])[:, 0] == 1)


def test_gradients_quick():
    r = run_experiment("gradients", quick=True, out=None, progress=False)
    ratio = {k: np.mean(v["first_to_last_init"]) for k, v in r["variants"].items()}
    # zero-initialised branches: only the one downsampling skip of the quick stack acts
    assert ratio["max"] == pytest.approx(1.0, rel=1e-4)
    assert ratio["avg"] == pytest.approx(0.5, rel=1e-4)
    assert 0.5 < ratio["resnet"] < 3


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        run_experiment("speed")
    with pytest.raises(ValueError, match="seeds"):
        run_experiment("accuracy", seeds=0)


def run_lesson(name, tmp_path, monkeypatch):
    """Run a lesson top to bottom in this process (sharing the trained quick models)."""
    monkeypatch.setenv("POOLEDU_LESSON_OUTPUT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [name])
    return runpy.run_path(str(LESSONS / name), run_name="__main__")


def test_lesson_11(tmp_path, monkeypatch):
    g = run_lesson("11_does_pooling_increase_accuracy.py", tmp_path, monkeypatch)
    assert g["QUICK"] and g["full"]["settings"]["seeds"] == 3  # the committed full run
    # the conclusions are read from the full run: what its seeds separate, and what not
    e = g["evidence"]
    assert e["max>avg@1"] and e["max>avg@2"] and e["max>broadcast@4"]
    assert not e["broadcast>avg@1"] and e["broadcast>avg@2"] and not e["broadcast>avg@4"]
    assert (tmp_path / "accuracy.png").exists()


def test_lesson_12(tmp_path, monkeypatch):
    g = run_lesson("12_pooling_vs_strided_conv_trained.py", tmp_path, monkeypatch)
    assert 4.0 < g["f_pooled"] / g["f_strided"] < 4.1  # the "4 times" of the ResNet stem
    # the conclusion comes from the committed full run: max pooling's output moves least
    assert g["full_acc"]["settings"]["seeds"] == 3 and g["calmer"] == [1, 2] and not g["apart"]
    assert (tmp_path / "invariance.png").exists()


def test_lesson_13(tmp_path, monkeypatch):
    g = run_lesson("13_gradient_flow_through_pooling_skips.py", tmp_path, monkeypatch)
    assert g["factor"]["max"] == pytest.approx(1.0)
    assert g["factor"]["avg"] == pytest.approx(0.5)
    assert 1.0 < g["factor"]["resnet"] < 2.0
    assert (tmp_path / "gradients.png").exists()


def test_the_tour_gives_an_experiment_lesson_its_own_folder(tmp_path, monkeypatch):
    import shutil

    from pooledu.lessons import tour
    name = "13_gradient_flow_through_pooling_skips.py"
    chosen = tmp_path / "lessons"
    chosen.mkdir()
    shutil.copy(LESSONS / name, chosen / name)
    monkeypatch.setattr(sys, "argv", ["pooledu", "tour", "--out", str(tmp_path / "elsewhere")])
    tour(tmp_path / "out", progress=False, quiet=True, directory=chosen)
    folder = tmp_path / "out" / name.removesuffix(".py")
    assert (folder / "walkthrough.txt").exists() and (folder / "gradients.png").exists()
    assert not (tmp_path / "elsewhere").exists()
