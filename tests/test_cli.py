"""The command line: explain's arithmetic and the benchmark's table."""

import json

import pytest

from pooledu import pool_output_size
from pooledu.cli import main
from pooledu.explain import explain


def test_explain_substitutes_the_numbers(capsys):
    assert main(["explain", "--size", "112", "--kernel", "3", "--stride", "2", "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "floor((112 + 2*1 - 1*(3-1) - 1) / 2) + 1" in out
    assert "Output size: 56" in out
    assert sum(line.startswith("  window ") for line in out.splitlines()) == 56


def test_explain_reports_a_dropped_ceil_mode_window():
    # in 5, k 2, s 2, p 1: ceil gives 4 windows, the last would start in the padding
    text = explain(5, 2, 2, 1, 1, True)
    assert "it is dropped" in text
    assert f"Output size: {pool_output_size(5, 2, 2, 1, 1, True)}" in text


def test_explain_flags_windows_of_padding_only():
    assert "only padding" in explain(2, 2, 1, 1, 3, False)


def test_explain_names_the_broken_rule(capsys):
    assert main(["explain", "--size", "5", "--kernel", "3", "--padding", "2"]) == 2
    assert "padding must be at most half the kernel size" in capsys.readouterr().out


def test_explain_adaptive_lists_overlapping_windows(capsys):
    assert main(["explain", "--size", "10", "--adaptive", "3"]) == 0
    out = capsys.readouterr().out
    assert "[0, 4)" in out and "[3, 7)" in out and "[6, 10)" in out


def test_bench_quick_prints_and_saves_a_table(tmp_path, capsys, monkeypatch):
    from pooledu import bench
    monkeypatch.setattr(bench, "CASES", bench.CASES[:1] + bench.CASES[-1:])  # keep the test short
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| resnet stem max 3x3/2 p1 | forward |" in out
    rows = json.loads(path.read_text())["rows"]
    assert len(rows) == 2
    for r in rows:
        assert r["pooledu_nchw_ms"] > 0 and r["torch_nchw_ms"] > 0
        assert r["pooledu_channels_last_ms"] > 0 and r["torch_channels_last_ms"] > 0
        assert r["floor_ms"] > 0


@pytest.mark.parametrize("argv", [["explain"], ["nonsense"]])
def test_bad_command_lines_exit_with_usage(argv):
    with pytest.raises(SystemExit):
        main(argv)
