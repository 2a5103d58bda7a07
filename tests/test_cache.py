"""Numba's cache across processes: no crash whatever order the kernels are first compiled in.

A cached jitted function that calls a cached ``parallel=True`` function can
crash (SIGSEGV) once both are loaded back from the cache in another process:
the caller's cached machine code carries its own copy of the parallel loop,
which does not survive the trip. pooledu keeps the rule that no jitted
function calls another jitted function (helpers are ``register_jitable`` and
are compiled into their caller); the first test checks the rule in every
module, the second runs the cached entry points in fresh processes, in
several orders, against a fresh cache folder.
"""

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from numba.core.dispatcher import Dispatcher

import pooledu

ROOT = Path(pooledu.__file__).resolve().parent.parent


def _modules():
    skip = {"pooledu.cuda"}  # CUDA kernels are not cached CPU functions
    for info in pkgutil.walk_packages(pooledu.__path__, "pooledu."):
        if info.name not in skip and not info.name.startswith("pooledu.viz"):
            yield importlib.import_module(info.name)


def _jitted_bodies(module):
    """(name, function source tree, globals) of each jitted or register_jitable function."""
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        obj = getattr(module, node.name, None)
        decorators = " ".join(ast.unparse(d) for d in node.decorator_list)
        if isinstance(obj, Dispatcher) or "register_jitable" in decorators:
            yield node.name, node, vars(module)


def test_no_jitted_function_calls_another_jitted_function():
    offenders = []
    for module in _modules():
        for name, node, env in _jitted_bodies(module):
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                    if isinstance(env.get(call.func.id), Dispatcher):
                        offenders.append(f"{module.__name__}.{name} calls {call.func.id}")
    assert offenders == [], "jitted functions calling jitted functions: " + ", ".join(offenders)


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import pooledu

    def run(layout, schedule):
        rng = np.random.default_rng(0)
        # 16 channels: channels-last runs fast_nhwc's kernels, NCHW fast.py's blocks
        x = rng.standard_normal((2, 16, 9, 8)).astype(np.float32)
        if layout == "cl":  # (N, C, H, W) view of (N, H, W, C) memory
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        with pooledu.schedule(schedule):
            y, i = pooledu.max_pool2d(x, 3, 2, 1, return_indices=True)
            pooledu.max_pool2d_backward(np.ones_like(y), i, x.shape, 3, 2, 1)
            a = pooledu.avg_pool2d(x, 3, 2, 1)
            pooledu.avg_pool2d_backward(np.ones_like(a), x.shape, 3, 2, 1)
            m = pooledu.global_avg_pool2d(x)
            pooledu.global_avg_pool2d_backward(np.ones_like(m), x.shape)
            g, gi = pooledu.global_max_pool2d(x, return_indices=True)
            pooledu.global_max_pool2d_backward(np.ones_like(g), gi, x.shape)
            # LP, unpooling and max-broadcast: channels-last in, channels-last kernels
            lp = pooledu.lp_pool2d(x, 2, 2)
            pooledu.lp_pool2d_backward(np.ones_like(lp), x, 2, 2)
            u = pooledu.max_unpool2d(y, i, 3, 2, 1, output_size=x.shape[-2:])
            pooledu.max_unpool2d_backward(np.ones_like(u), i)
            b, bi = pooledu.max_broadcast_pool2d(x, 2, return_indices=True)
            pooledu.max_broadcast_pool2d_backward(np.ones_like(b), bi, 2)
            y, i = pooledu.adaptive_max_pool2d(x, 3, return_indices=True)
            pooledu.adaptive_max_pool2d_backward(np.ones_like(y), i, x.shape)
            a = pooledu.adaptive_avg_pool2d(x, 3)
            pooledu.adaptive_avg_pool2d_backward(np.ones_like(a), x.shape)

    def family():
        # every other cached entry point once: 1D and 3D, adaptive, fractional,
        # LP, unpooling, max-broadcast, attention pooling, convolution
        rng = np.random.default_rng(1)
        x = rng.standard_normal((2, 3, 6, 7))
        one = lambda a: np.ones_like(a)
        for nd, v in ((1, x[:, :, 0]), (3, x[:, :, None].repeat(3, axis=2))):
            y, i = getattr(pooledu, f"max_pool{nd}d")(v, 2, return_indices=True)
            getattr(pooledu, f"max_pool{nd}d_backward")(one(y), i, v.shape, 2)
            a = getattr(pooledu, f"avg_pool{nd}d")(v, 2)
            getattr(pooledu, f"avg_pool{nd}d_backward")(one(a), v.shape, 2)
        for nd, v in ((1, x[:, :, 0]), (2, x), (3, x[:, :, None].repeat(3, axis=2))):
            y, i = getattr(pooledu, f"adaptive_max_pool{nd}d")(v, 2, return_indices=True)
            getattr(pooledu, f"adaptive_max_pool{nd}d_backward")(one(y), i, v.shape)
            a = getattr(pooledu, f"adaptive_avg_pool{nd}d")(v, 2)
            getattr(pooledu, f"adaptive_avg_pool{nd}d_backward")(one(a), v.shape)
        for p in (2.0, float("inf")):
            pooledu.lp_pool2d_backward(one(pooledu.lp_pool2d(x, p, 2)), x, p, 2)
        y, i = pooledu.fractional_max_pool2d(x, 2, output_size=3, return_indices=True, generator=0)
        pooledu.fractional_max_pool2d_backward(one(y), i, x.shape, 2)
        y, i = pooledu.max_pool2d(x, 2, return_indices=True)
        u = pooledu.max_unpool2d(y, i, 2, output_size=x.shape[-2:])
        pooledu.max_unpool2d_backward(one(u), i)
        b, i = pooledu.max_broadcast_pool2d(x, 2, return_indices=True)
        pooledu.max_broadcast_pool2d_backward(one(b), i, 2)
        q, w = rng.standard_normal(4), rng.standard_normal((4, 3))
        pooledu.attention_pool2d_backward(one(pooledu.attention_pool2d(x, q, w)), x, q, w)
        k = rng.standard_normal((4, 3, 3, 3))
        pooledu.conv2d_backward(one(pooledu.conv2d(x, k, stride=2)), x, k, stride=2)

    for step in sys.argv[1:]:
        if step == "family":
            family()
        else:
            layout, schedule = step.split("-")
            run(layout, schedule)
    print("ok")
""")

# Each entry is one fresh process; the cache folder persists across them, so
# the later processes load what the earlier ones compiled, in other orders.
ORDERS = [
    ["cl-fast"],
    ["nc-fast"],
    ["nc-fast", "cl-fast"],
    ["family", "cl-fast", "nc-fast", "nc-reference"],
    ["nc-reference", "cl-reference", "nc-fast", "family"],
    ["cl-reference", "family", "cl-fast", "nc-fast"],
]


@pytest.mark.slow
def test_cached_kernels_load_in_any_order(tmp_path):
    script = tmp_path / "calls.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for steps in ORDERS:
        done = subprocess.run([sys.executable, str(script), *steps], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0 and done.stdout.strip() == "ok", (
            f"{steps} exited {done.returncode}:\n{done.stderr[-2000:]}")
