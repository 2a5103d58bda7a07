"""The lessons run to completion and teach the right numbers.

Each lesson runs in this process (``run_lesson``), saving its figures under
``tmp_path`` with the Agg backend, and its ``RESULTS`` are checked against the
claims it makes, so a lesson cannot silently go wrong. The expected values
are the facts of the lesson brief (676 -> 169, 8.5 and 2.2249999999999996,
25,088,000 against 512,000, 572 -> 568 -> 284, ...), written here once.
"""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import pooledu  # noqa: E402
from pooledu import lessons  # noqa: E402
from pooledu.lessons import list_lessons, run_lesson, tour  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(number, tmp_path):
    result = run_lesson(number, tmp_path, quiet=True)
    saved = result.get("figures") or [result["figure"]]
    for path in saved:
        assert Path(path).is_file() and Path(path).parent == tmp_path, path
    assert f"`pooledu check {number}`" in result["text"]  # every lesson ends with its exercises
    return result


def test_list_lessons_reads_numbers_names_and_goals():
    found = {lesson.number: lesson for lesson in list_lessons()}
    assert set(range(1, 11)) <= set(found)
    assert found[1].name == "max_pooling"
    assert all(lesson.goal and "\n" not in lesson.goal for lesson in found.values())
    assert found[4].goal.startswith("Backpropagation")


def test_unknown_lesson_names_the_ones_there_are():
    with pytest.raises(ValueError, match="no lesson 99; the lessons are 1 max_pooling, 2 "):
        run_lesson(99)


def test_01_max_pooling_by_hand(tmp_path):
    r = run(1, tmp_path)
    assert r["agree"] and np.array_equal(r["Y"], r["by_hand"])
    for i in range(2):
        for j in range(2):
            assert r["Y"][i, j] == r["X"][2 * i:2 * i + 2, 2 * j:2 * j + 2].max()
    assert r["n_params"] == 0
    assert (r["cells_before"], r["cells_after"], r["reduction"]) == (676, 169, 4.0)
    assert "def max_window(" in r["formula_source"] and "def max_window(" in r["text"]
    assert "def max_pool2d(" in r["text"]  # the CPU schedule printed beside it


def test_02_average_dilutes_the_peak(tmp_path):
    r = run(2, tmp_path)
    assert r["max"] == 8.5
    assert r["mean"] == 2.2249999999999996 and r["exact_mean"] == 2.225
    assert "2.2249999999999996" in r["text"] and "0.1000000000000000055511" in r["text"]
    assert r["peak"]["max"] == r["peak"]["input"] and r["peak"]["avg"] < 0.6 * r["peak"]["input"]
    input_std, avg_std, max_std = r["noise_std"]
    assert avg_std == pytest.approx(input_std / 2, rel=0.05)
    assert r["noise_mean"][2] == pytest.approx(1.03, abs=0.05)  # E[max of 4 standard normals]
    # the figure's crop is pooled unrounded (the cells only show two decimals)
    assert np.array_equal(r["crop_avg"], pooledu.avg_pool2d(r["crop"][None], 2)[0])
    assert np.round(r["crop_avg"], 2).tolist() != pooledu.avg_pool2d(
        np.round(r["crop"], 1)[None], 2)[0].round(2).tolist()


def test_03_output_size(tmp_path):
    r = run(3, tmp_path)
    assert r["simple"][(26, 2, 2)] == 13 and r["simple"][(224, 2, 2)] == 112
    assert r["simple"][(55, 3, 2)] == r["simple"][(55, 2, 2)] == 27
    assert r["overlap"][3] == dict(out=27, read_twice=26, never_read=0)
    assert r["overlap"][2] == dict(out=27, read_twice=0, never_read=1)
    assert r["sizes"] == {"resnet stem": 56, "dilated": 6, "ceil keeps": 3, "ceil drops": 3}
    assert "padding must be at most half the kernel size" in r["padding_error"]
    # windows of padding only: pooledu says -1; PyTorch returns its kernel's starting tap
    first, second = r["pad_only"].values()
    assert first["value"] == [-np.inf] and first["pooledu"] == [-1] and first["rule"] == [6]
    assert second["pooledu"] == [-1, -1] and second["rule"] == [1, 2]
    for case in (first, second):
        assert case["torch"] == case["rule"]  # torch is a test dependency
    assert "6" in r["text"] and "outside the plane" in r["text"]
    assert "it is dropped" in r["explain_dropped"]


def test_04_backpropagation(tmp_path):
    r = run(4, tmp_path)
    assert r["zeros_max"] == 12 and sorted(r["gx_max"][r["gx_max"] != 0]) == [1, 2, 3, 4]
    assert np.array_equal(r["gx_avg"], np.kron([[1, 2], [3, 4]], np.ones((2, 2))) / 4)
    assert r["sparsity_2x2"] == 0.75 and r["sparsity_3x3"] > 0.75
    assert r["centre_sum"] == 10.0 and r["centre_avg"] == pytest.approx(10 / 9)
    assert all(err < 1e-7 for err in r["fd_error"].values())
    assert max(r["fd_error"].values()) < 2 * r["fd_rounding"]  # the bound the lesson prints
    # a strided convolution's input gradient is sparse only for a 1x1 kernel
    assert r["conv_sparsity"] == {"3x3/2, padding 1": 0.0, "2x2/2": 0.0, "1x1/2": 0.75}
    assert "finite-difference" in r["text"]


def test_05_translation_invariance(tmp_path):
    r = run(5, tmp_path)
    assert r["same_window_34_35"] and not r["same_window_33_34"]
    for layers, expected in ((1, 0.5), (2, 0.75), (3, 0.875)):
        assert r["expected"][layers] == expected
        assert r["absorbed"][layers] == pytest.approx(expected, abs=0.03)
    # a shift by the whole stride changes every output of a dense map
    assert r["curves"]["dense_1"][0] == 1.0 and r["curves"]["dense_1"][2] == 0.0
    assert r["curves"]["dense_3"][1] > r["curves"]["dense_2"][1] > r["curves"]["dense_1"][1]
    assert r["curves"]["dense_1"][1] == pytest.approx(1 / 3, abs=0.02)  # 2 of 6 values shared
    # the sparse plateau: windows empty before and after the shift
    for layers in (1, 2):
        assert r["curves"][f"sparse_{layers}"][-1] == pytest.approx(r["plateau"][layers], abs=0.03)
    assert "changes almost everywhere" not in r["text"]


def test_06_global_average_pooling(tmp_path):
    r = run(6, tmp_path)
    assert r["vector_shape"] == (512,)
    assert r["lengths"][224] == dict(map=7, flatten=25088, gap=512)
    assert r["lengths"][256] == dict(map=8, flatten=32768, gap=512)
    assert (r["weights_flatten"], r["weights_gap"], r["ratio"]) == (25_088_000, 512_000, 49.0)
    assert (r["params_flatten_bias"], r["params_gap_bias"]) == (25_089_000, 513_000)


def test_07_cost_and_receptive_field(tmp_path):
    r = run(7, tmp_path)
    assert r["activations"] == [3_211_264, 802_816, 200_704, 50_176]
    assert r["fields"] == [1, 3, 5, 6, 10, 14, 16, 24] and r["jumps"][-1] == 4
    assert r["measured"] == (24, 24)
    assert r["pools_only"] == [1, 2, 4] and r["field_no_pool"] == 11
    assert r["stem_conv_ratio"] == 4.0 and r["pool_comparisons"] == 2_408_448
    assert r["field_7x7"] == r["field_3x3x3"] == (7, 7)
    assert (r["weights_7x7"], r["weights_3x3x3"]) == (49, 27)
    assert (r["stem_weights_7x7"], r["stem_weights_3x3x3"]) == (9_408, 75_456)
    assert r["closed_form"] == r["fields"][-1] == 24


def test_08_strided_conv_vs_pooling(tmp_path):
    r = run(8, tmp_path)
    assert r["layers"]["max pool 2x2/2"] == (0, 150_528)
    assert r["layers"]["conv 3x3 stride 2, pad 1"] == (36_928, 57_802_752)
    assert r["conv_is_avg"] == 0.0  # a weight of 1/4 scales exactly
    assert r["linear_gap"]["avg"] < 1e-12 < 0.1 < r["linear_gap"]["max"]
    assert np.allclose(r["learned"]["average"]["weights"], 0.25, atol=1e-3)
    assert r["learned"]["average"]["mse"] < 1e-6 < 0.1 < r["learned"]["max"]["mse"]


def test_09_modern_alternatives(tmp_path):
    r = run(9, tmp_path)
    assert r["resnet_sizes"] == [224, 112, 56, 56, 28, 14, 7]
    assert r["attention_is_gap"] < 1e-12
    assert r["attention_weight"][16] > 0.95 > r["attention_weight"][1]
    assert r["unet_contracting"][:3] == [572, 568, 284]
    assert r["unet_contracting"][-1] == 28 and r["unet_poolings"] == 4
    assert r["unet_output"] == 388


def test_10_fast_loops(tmp_path):
    r = run(10, tmp_path)
    assert len(r["timings"]) >= 4 and all(t > 0 for t in r["timings"].values())
    assert r["equal"] and "default result: False" not in r["text"]  # every schedule, same bits
    assert len(r["cache_runs"]) == 2 and all(t > 0 for run_ in r["cache_runs"] for t in run_)
    assert r["cuda_same"] and r["cuda_mode"] in ("simulator", "gpu")
    assert [row["case"] for row in r["bench"]["rows"]][0] == "resnet stem max 3x3/2 p1"


def test_14_your_kernel_in_a_real_network(tmp_path):
    r = run(14, tmp_path)
    assert r["n_swapped"] == 2 and "<- pooledu.torch.modules" in r["text"]
    assert r["pool_equal"] and r["logit_diff"] < 1e-5  # max bit for bit; the average to ulps
    pytorch, pooledu_ = r["losses"]["pytorch"], r["losses"]["pooledu"]
    assert len(pytorch) == len(pooledu_) == 30 and pytorch[0] == pytest.approx(pooledu_[0])
    assert pooledu_[-1] < pooledu_[0] - 0.2 and r["loss_gap"] < 0.05  # it learns, as PyTorch's
    assert r["accuracy"]["pooledu"] > 0.3 and all(t > 0 for t in r["timings"].values())


def test_14_without_pytorch_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    r = run_lesson(14, tmp_path, quiet=True)
    assert 'pip install "pooledu[torch]"' in r["text"] and "n_swapped" not in r


def test_a_lesson_runs_as_a_script(tmp_path):
    script = ROOT / "lessons" / "06_global_average_pooling.py"
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "a")], env=env,
                          capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "25,088,000" in done.stdout
    assert (tmp_path / "a" / "06_global_average_pooling.png").is_file()
    env[lessons.ENV_OUTPUT] = str(tmp_path / "b")
    subprocess.run([sys.executable, str(script)], env=env, capture_output=True, check=True,
                   cwd=tmp_path)
    assert (tmp_path / "b" / "06_global_average_pooling.png").is_file()


def test_tour_runs_every_lesson_and_says_where_the_outputs_are(tmp_path, capsys):
    # a tour over two of the quick lessons; the full tour is the lessons above, in order
    chosen = tmp_path / "lessons"
    chosen.mkdir()
    for name in ("06_global_average_pooling.py", "09_modern_alternatives.py"):
        (chosen / name).write_text((ROOT / "lessons" / name).read_text())
    done = tour(tmp_path / "out", progress=True, directory=chosen)
    assert sorted(done) == [6, 9]
    out = capsys.readouterr()
    assert "Lesson 6: Global average pooling" in out.out and "388x388" in out.out
    assert f"are in {(tmp_path / 'out').resolve()}" in out.out
    for folder in ("06_global_average_pooling", "09_modern_alternatives"):
        assert (tmp_path / "out" / folder / "walkthrough.txt").stat().st_size > 0
    assert (tmp_path / "out" / "09_modern_alternatives" / "09_unet_sizes.png").is_file()


def test_a_lesson_gets_its_own_command_line(tmp_path):
    # lessons 11-13 read --full from their command line; run_lesson hands it over
    (tmp_path / "01_echo.py").write_text('"""Echo its arguments."""\nimport sys\nRESULTS = {"argv": sys.argv[1:]}\n')
    before = list(sys.argv)
    assert run_lesson("echo", tmp_path / "out", quiet=True, directory=tmp_path,
                      args=["--full"])["argv"] == ["--full"]
    assert sys.argv == before


def test_15_unpooling_and_transposed_convolution(tmp_path):
    r = run(15, tmp_path)
    assert r["kept"] == 4 and np.count_nonzero(r["unpooled"]) <= 4
    assert r["nearest_is_repeat"] and r["same_as_gradient"]
    assert r["adjoint"][0] == pytest.approx(r["adjoint"][1], rel=1e-12)
    assert r["to_four"] == [7, 8] and r["sizes"] == {0: 7, 1: 8}
    assert r["overlap_counts"] == [1, 2, 4]


def test_16_aliasing_and_antialiased_pooling(tmp_path):
    r = run(16, tmp_path)
    assert r["rows"][0]["max"][:4] == [0.0, 1.0, 0.0, 1.0] and set(r["rows"][1]["max"]) == {1.0}
    assert r["least"] == ["photo edge map", "random map"]  # the blurred max moves least
    for m in ("photo edge map", "random map"):
        assert r["change"][(m, "max, blur, subsample")] < r["change"][(m, "max pool 2x2/2")]
    assert len(r["run"]["max"]["accuracy"]) == 1  # the quick run: one seed
    assert r["full"] is not None and len(r["full"]["max"]["accuracy"]) == 3  # committed
    assert r["separated"] == {1: False, 2: True}  # what the committed run supports


def test_17_the_rest_of_the_family(tmp_path):
    r = run(17, tmp_path)
    assert r["same_as_pool"] and r["gap_is_adaptive"] < 1e-6
    assert r["sizes"] == {7: 7, 9: 7, 14: 7, 20: 7}
    assert r["lp"][1]["vs_sum"] < 1e-12  # p = 1: the window's sum
    gaps = [r["lp"][p]["vs_max"] for p in (1, 2, 4, 16, 64)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.05
    assert r["min_ok"] and r["soft"][100] < 0.01 < r["soft"][0]


def test_18_does_pooling_regularise(tmp_path):
    r = run(18, tmp_path)
    assert set(r["run"]) == {"max pool, FC head", "no pooling, FC head", "max pool, GAP head",
                             "no pooling, GAP head"}
    assert all(len(v["train"]) == 1 for v in r["run"].values())  # the quick run: one seed
    assert r["full"] is not None and all(len(v["train"]) == 3 for v in r["full"].values())
    assert len(r["verdicts"]) == 4  # every conclusion is read from the committed full run
    assert set(r["verdicts"].values()) == {"gaps overlap: not separated"}
    assert r["underfit"] == ["max pool, GAP head", "no pooling, GAP head"]
