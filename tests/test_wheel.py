"""The built wheel, installed into a fresh virtual environment, lists and runs the lessons.

The wheel is built from a copy of the sources (no build files left in the
checkout) and installed with ``--no-deps`` into a new environment that sees
this interpreter's installed packages (NumPy, Numba, matplotlib) through a
``.pth`` line, so nothing is downloaded. Lines in a ``.pth`` file only extend
``sys.path``: an editable pooledu installed here stays invisible there, and
the test checks that ``pooledu`` is imported from the new environment.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "setup.py", "README.md", "pooledu", "lessons"]


def sh(*argv, cwd, env=None, timeout=600):
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, environment variables) of a fresh venv with the built wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
       "-w", tmp / "dist", src, cwd=tmp)
    wheel, = (tmp / "dist").glob("pooledu-*.whl")

    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    purelib = Path(sh(env_dir / "bin" / "python", "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(POOLEDU_QUIET="1")
    sh(sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python", "install",
       "--no-deps", "--no-index", "-q", wheel, cwd=tmp, env=environment)
    return env_dir / "bin", environment


def test_the_installed_package_is_the_wheel(installed, tmp_path):
    bin_dir, env = installed
    where = sh(bin_dir / "python", "-c", "import pooledu; print(pooledu.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(bin_dir.parent)


def test_the_wheel_lists_every_lesson_from_any_folder(installed, tmp_path):
    bin_dir, env = installed
    listed = sh(bin_dir / "pooledu", "lessons", cwd=tmp_path, env=env).splitlines()
    sources = sorted(ROOT.glob("lessons/[0-9][0-9]_*.py"))
    assert len(listed) == len(sources) >= 13
    assert listed[0].split()[:2] == ["1", "max_pooling"]


def test_the_wheel_runs_a_lesson_by_name(installed, tmp_path):
    bin_dir, env = installed
    out = sh(bin_dir / "pooledu", "lesson", "modern_alternatives", "--out", "figs",
             cwd=tmp_path, env=env)
    assert "U-Net" in out
    assert list((tmp_path / "figs").glob("*.png"))
