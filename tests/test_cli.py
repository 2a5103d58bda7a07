"""The command line: explain's arithmetic, the benchmark's table, and one-line answers to mistakes."""

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numba
import pytest

from pooledu import pool_output_size
from pooledu.cli import build_parser, main
from pooledu.explain import explain

ROOT = Path(__file__).resolve().parent.parent


def test_explain_substitutes_the_numbers(capsys):
    assert main(["explain", "--size", "112", "--kernel", "3", "--stride", "2", "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "floor((112 + 2*1 - 1*(3-1) - 1) / 2) + 1" in out
    assert "Output size: 56" in out
    assert sum(line.startswith("  window ") for line in out.splitlines()) == 40  # the first and last
    assert "16 more windows (pooledu explain --all lists them)" in out
    assert "  window  55: [109, 110, 111]" in out


def test_explain_all_lists_every_window(capsys):
    assert main(["explain", "--size", "112", "--kernel", "3", "--stride", "2", "--padding", "1",
                 "--all"]) == 0
    assert sum(line.startswith("  window ") for line in capsys.readouterr().out.splitlines()) == 56


def test_explain_keeps_a_huge_listing_short(capsys):
    assert main(["explain", "--size", "1000000", "--kernel", "3", "--stride", "4"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 60
    assert "Output size: 250000" in out
    # every fourth cell is skipped: the gaps are summarised, not listed one by one
    assert "Input positions no window reads: 3, 7, 11," in out and "250000 positions in all" in out


def test_explain_reports_a_dropped_ceil_mode_window():
    # in 5, k 2, s 2, p 1: ceil gives 4 windows, the last would start in the padding
    text = explain(5, 2, 2, 1, 1, True)
    assert "it is dropped" in text
    assert f"Output size: {pool_output_size(5, 2, 2, 1, 1, True)}" in text


def test_explain_flags_windows_of_padding_only():
    assert "only padding" in explain(2, 2, 1, 1, 3, False)


def test_explain_names_the_broken_rule(capsys):
    assert main(["explain", "--size", "5", "--kernel", "3", "--padding", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pooledu explain: padding must be at most half the kernel size")
    assert err.count("\n") == 1


def test_explain_adaptive_lists_overlapping_windows(capsys):
    assert main(["explain", "--size", "10", "--adaptive", "3"]) == 0
    out = capsys.readouterr().out
    assert "[0, 4)" in out and "[3, 7)" in out and "[6, 10)" in out


def test_bench_quick_prints_and_saves_a_table(tmp_path, capsys, monkeypatch):
    from pooledu import bench, bench_family
    monkeypatch.setattr(bench, "CASES", bench.CASES[:1] + bench.CASES[-1:])  # keep the test short
    monkeypatch.setattr(bench_family, "CASES", [replace(c, shape=c.tiny) for c in
                                                bench_family.CASES if c.op == "max_pool3d"])
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| resnet stem max 3x3/2 p1 | forward |" in out
    saved = json.loads(path.read_text())
    core = saved["core"]
    rows = core["rows"]
    assert [r["case"] for r in rows] == [c.name for c in bench.CASES]
    for r in rows:
        for layout in ("nchw", "channels_last"):
            ours, theirs = r[f"pooledu_{layout}_ms"], r[f"torch_{layout}_ms"]
            # the derived columns are the measured times' own arithmetic, and the
            # printed row shows the saved numbers
            assert r[f"gb_per_s_{layout}"] == pytest.approx(
                r[f"copy_share_{layout}"] * core["copy_gb_per_s"])
            assert f"| {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x |" in out
        assert f"| {r['floor_ms']:.2f} |" in out
    # the family table follows, one row per pass and memory layout
    family = saved["family"]["rows"]
    assert [(r["case"], r["pass_"], r["layout"]) for r in family] == [
        ("c3d max 2x2x2/2", p, layout) for p in ("forward", "backward")
        for layout in ("nchw", "channels_last")]
    for r in family:
        assert (f"| {r['case']} | {r['pass_']} | {'NCHW' if r['layout'] == 'nchw' else 'channels-last'}"
                f" | {r['pooledu_ms']:.2f} | {r['torch_ms']:.2f} | {r['speed_up']:.2f}x |") in out
    assert out.index("| resnet stem max") < out.index("| c3d max")


@pytest.mark.parametrize("picked, skipped", [("--core", "bench_family"), ("--family", "bench")])
def test_bench_times_only_the_table_asked_for(picked, skipped, tmp_path, capsys, monkeypatch):
    from pooledu import bench, bench_family
    modules = {"bench": bench, "bench_family": bench_family}

    def no_work(*args, **kwargs):
        raise AssertionError(f"{skipped} ran under {picked}")
    monkeypatch.setattr(modules[skipped], "run", no_work)
    timed = modules["bench" if skipped == "bench_family" else "bench_family"]
    monkeypatch.setattr(timed, "run", lambda quick, progress, match: dict(rows=[], table=picked))
    monkeypatch.setattr(timed, "format_table", lambda result: f"the {result['table']} table")
    path = tmp_path / "bench.json"
    assert main(["bench", picked, "--quick", "--json", str(path)]) == 0
    assert capsys.readouterr().out == f"the {picked} table\n"
    assert list(json.loads(path.read_text())) == [picked.removeprefix("--")]


def exit_status(argv):
    """main(argv)'s exit status, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def blocked(tmp_path):
    """A folder path that cannot be created (it runs through a file), even for root."""
    (tmp_path / "a_file").write_text("")
    return str(tmp_path / "a_file" / "sub")


MISTAKES = {
    "no command at all but an unknown one": (["nonsense"], "invalid choice: 'nonsense'"),
    "a missing argument": (["explain"], "required: --size"),
    "an unknown figure": (["figures", "nonexistent_fig"], "no figure named 'nonexistent_fig'"),
    "a misspelt figure": (["figures", "windws_4x4_k2_s2"], "did you mean windows_4x4_k2_s2?"),
    "an unknown lesson number": (["lesson", "99"], "no lesson 99; the lessons are 1 max_pooling"),
    "an unknown lesson name": (["lesson", "no_such_thing"], "no lesson no_such_thing"),
    "an unknown notebook": (["notebooks", "1", "no_such_thing"], "no lesson no_such_thing"),
    "an ambiguous lesson name": (["lesson", "pool"], "is ambiguous: it matches 1 max_pooling"),
    "two tables picked": (["bench", "--core", "--family"],
                          "argument --family: not allowed with argument --core"),
    "zero threads": (["bench", "--threads", "0"], "must be between 1 and"),
    "negative threads": (["bench", "--threads", "-1"], "must be between 1 and"),
    "too many threads": (["bench", "--threads", str(numba.config.NUMBA_NUM_THREADS + 1)],
                         f"must be between 1 and {numba.config.NUMBA_NUM_THREADS}"),
    "zero seeds": (["experiment", "accuracy", "--seeds", "0"], "must be at least 1, got 0"),
    "an invalid window": (["explain", "--size", "5", "--kernel", "3", "--padding", "2"],
                          "padding must be at most half"),
    "zero adaptive windows": (["explain", "--size", "5", "--adaptive", "0"],
                              "must be positive, got input 5, output 0"),
    "an input of size zero": (["explain", "--size", "0"], "pooledu explain: "),
}


@pytest.mark.parametrize("argv, says", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_gets_one_line_on_stderr_and_status_2(argv, says, capsys):
    assert exit_status(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and says in err
    assert err.startswith("pooledu")


@pytest.mark.parametrize("argv", [
    ["figures", "windows_4x4_k2_s2", "--out", "BLOCKED"],
    ["lesson", "1", "--out", "BLOCKED"],
    ["tour", "--out", "BLOCKED"],
    ["notebooks", "--out", "BLOCKED"],
    ["experiment", "gradients", "--quick", "--out", "BLOCKED"],
    ["bench", "--quick", "--json", "BLOCKED/bench.json"],
])
def test_an_unwritable_output_is_refused_before_any_work(argv, tmp_path, capsys, monkeypatch):
    from pooledu import bench, experiments, figures, lessons

    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")
    for module, name in [(bench, "run"), (figures, "build_figures"), (lessons, "run_lesson"),
                         (lessons, "tour"), (experiments, "run_experiment")]:
        monkeypatch.setattr(module, name, no_work)
    argv = [a.replace("BLOCKED", blocked(tmp_path)) for a in argv]
    assert exit_status(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write there" in err and "a_file is a file" in err


@pytest.mark.parametrize("argv, says", [
    (["figures", "nonexistent_fig"], "pooledu figures: no figure named"),
    (["bench", "--threads", "99"], "pooledu bench: argument --threads: must be between 1 and"),
])
def test_the_installed_command_answers_in_one_line_without_a_traceback(argv, says, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "pooledu.cli", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(says)


def test_bare_pooledu_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: pooledu")
    for command in ["tour", "lessons", "lesson", "notebooks", "figures", "experiment", "explain",
                    "bench"]:
        assert re.search(rf"\n    {command}\s", out), command


def test_version(capsys):
    from pooledu import __version__
    assert exit_status(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pooledu {__version__}"


def test_every_command_and_option_has_a_help_line():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    helps = {c.dest: c.help for c in commands._choices_actions}
    assert set(helps) == set(commands.choices)
    for name, sub in commands.choices.items():
        assert helps[name], name
        for action in sub._actions:
            assert action.help, f"pooledu {name} {action.option_strings or action.dest}"


def test_lesson_by_name_with_its_out_folder(tmp_path, capsys):
    assert main(["lesson", "modern_alternatives", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "U-Net" in out
    assert list(tmp_path.glob("*.png")) and str(tmp_path.resolve()) in err


def test_lesson_passes_full_through_to_the_lesson(monkeypatch, tmp_path):
    from pooledu import lessons
    seen = {}
    monkeypatch.setattr(lessons, "run_lesson", lambda number, out, args=(): seen.update(
        number=number, out=out, args=list(args)))
    assert main(["lesson", "11", "--full", "--out", str(tmp_path)]) == 0
    assert seen == dict(number=11, out=tmp_path, args=["--full"])


def test_experiments_write_to_their_own_folder_by_default(tmp_path, monkeypatch, capsys):
    # the committed results in figures/ change only when asked for with --out figures
    import matplotlib.pyplot as plt

    from pooledu import experiments
    from pooledu.experiments import _report
    parser = build_parser()
    assert parser.parse_args(["experiment", "accuracy"]).out == "pooledu-output"
    assert parser.parse_args(["figures"]).out == "pooledu-output"
    calls = []

    def tiny(quick, seeds, out, progress):  # the real runs are tests/test_experiments.py's
        calls.append(dict(quick=quick, seeds=seeds, out=out))
        fig = plt.figure(figsize=(1, 1))
        try:
            return _report.save("gradients", {"ratio": 1.0}, "| a |\n|---|\n| 1 |", "", fig, out)
        finally:
            plt.close(fig)
    monkeypatch.setitem(experiments.EXPERIMENTS, "gradients", tiny)
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "gradients", "--quick", "--no-progress"]) == 0
    assert calls == [dict(quick=True, seeds=None, out="pooledu-output")]
    written = sorted(p.name for p in (tmp_path / "pooledu-output").iterdir())
    assert written == ["gradients.json", "gradients.md", "gradients.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pooledu-output"]
    assert f"to {tmp_path.resolve() / 'pooledu-output'}{os.sep}" in capsys.readouterr().out
