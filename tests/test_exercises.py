"""Every lesson's exercises: the solutions pass, the untouched files fail, and a wrong
answer is named with its case and a hint."""

import pytest

from pooledu import exercises
from pooledu.cli import main
from pooledu.lessons import list_lessons

LESSONS = [lesson.number for lesson in list_lessons()]


def test_every_lesson_has_two_to_four_exercises():
    assert set(exercises.EXERCISES) == set(LESSONS)
    for number, found in exercises.EXERCISES.items():
        assert 2 <= len(found) <= 4, number
        assert {e.kind for e in found} <= {"build", "predict"}
        assert exercises.exercise_file(number).stem == exercises.exercise_file(
            number, exercises.SOLUTION_DIR).stem


@pytest.mark.parametrize("number", LESSONS)
def test_the_solutions_pass(number):
    results = exercises.check(number, exercises.exercise_file(number, exercises.SOLUTION_DIR))
    assert all(passed for _, passed, _ in results), exercises.format_check(results)


@pytest.mark.parametrize("number", LESSONS)
def test_the_empty_exercises_fail(number):
    results = exercises.check(number)
    assert not any(passed for _, passed, _ in results)
    assert all("not written yet" in m or "not filled in yet" in m for _, _, m in results)


def test_a_wrong_answer_names_the_case_and_gives_a_hint(tmp_path, capsys):
    wrong = tmp_path / "01_max_pooling.py"
    wrong.write_text(
        "def max_pool(x, k, s):\n"
        "    return x[::s, ::s][:(x.shape[0] - k) // s + 1, :(x.shape[1] - k) // s + 1]\n"
        "def max_pool_2x2_via_relu(x):\n"
        "    raise ValueError('oops')\n"
        "PREDICT_CELLS = 256\n")
    assert main(["check", "1", "--file", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  max_pool (build): max_pool(x (4, 4), k=2, s=2): at (0, 0) expected" in out
    assert "hint: output (i, j) is x[s*i : s*i+k, s*j : s*j+k].max()" in out
    assert "max_pool_2x2_via_relu raised ValueError: oops" in out
    assert "you predicted 256; pooledu computes 64" in out and "0 of 3 done" in out
    assert main(["check", "1", "--solutions"]) == 0
    assert main(["check", "99"]) == 2
