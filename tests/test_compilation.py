"""The one-line compilation message: printed when a kernel really compiles, never on a cache hit.

Each case runs a fresh interpreter on an empty Numba cache folder of its own,
and calls one small kernel (``cpu.global_avg_pool2d``) twice with two dtypes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CALL = """
import numpy as np
import pooledu
from pooledu import cpu
{setup}
for dtype in (np.float32, np.float64):
    x = np.ones((1, 2, 2), dtype)
    cpu.global_avg_pool2d(x, np.empty(1, dtype))
print("done")
"""


def run(cache, setup="", **env):
    environment = {k: v for k, v in os.environ.items() if k != "POOLEDU_QUIET"}
    environment.update(PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(cache), **env)
    done = subprocess.run([sys.executable, "-c", CALL.format(setup=setup)], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    return [line for line in done.stderr.splitlines() if line.startswith("pooledu:")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("numba_cache")


def test_a_compile_is_announced_once_and_a_cache_hit_not_at_all(cache):
    first = run(cache)
    assert first == ["pooledu: compiling cpu.global_avg_pool2d (first call only; Numba caches the "
                     "machine code; POOLEDU_QUIET=1 silences this)"]
    assert list(cache.rglob("*.nbi")), "the kernel should now be in the cache"
    assert run(cache) == []  # both dtypes load from the cache: nothing to announce


@pytest.mark.parametrize("how", ["env", "api"])
def test_the_message_can_be_silenced(tmp_path, how):
    if how == "env":
        assert run(tmp_path, POOLEDU_QUIET="1") == []
    else:
        assert run(tmp_path, setup="assert pooledu.set_compile_messages(False) is True") == []
    assert list(tmp_path.rglob("*.nbi")), "the kernel did compile, silently"
