"""One dispatch path: device, then schedule, then layout; the schedule is per thread."""

import ast
import threading
from pathlib import Path

import numpy as np
import pytest

import pooledu as P
from pooledu import checks, cpu, fast
from pooledu.backend import CPU
from pooledu.checks import is_channels_last
from pooledu.dispatch import ACTIVE_SCHEDULE, kernel, runs_channels_last

PACKAGE = Path(P.__file__).resolve().parent


def test_the_fast_schedule_runs_where_it_defines_the_kernel():
    assert kernel("max_pool2d") is fast.max_pool2d
    assert kernel("max_pool3d") is fast.max_pool3d  # the family's, from fast_family.py
    assert kernel("attention_pool2d") is cpu.attention_pool2d  # no fast version: the reference runs
    with P.schedule("reference"):
        assert kernel("max_pool2d") is cpu.max_pool2d


def test_channels_last_memory_is_batched_2d_or_3d():
    """channels_last is (N, C, H, W) over (N, H, W, C) memory and channels_last_3d (N, C, D,
    H, W) over (N, D, H, W, C); a 4D array of 3D pooling is an unbatched (C, D, H, W)
    volume, never channels-last; both runs need the fast schedule."""
    image = np.zeros((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    volume = np.zeros((2, 4, 5, 6, 3)).transpose(0, 4, 1, 2, 3)
    assert is_channels_last(image) and not is_channels_last(image, 3)
    assert is_channels_last(volume, 3) and not is_channels_last(volume)
    assert not is_channels_last(np.ascontiguousarray(volume), 3)
    assert checks.nhwc(volume).flags.c_contiguous
    assert is_channels_last(checks.empty_channels_last(volume.shape, np.float32), 3)
    assert runs_channels_last(volume, 3) and not runs_channels_last(image, 3)
    assert kernel("max_pool3d_ndhwc") is fast.max_pool3d_ndhwc
    with P.schedule("reference"):
        assert not runs_channels_last(volume, 3)


def test_a_missing_kernel_is_one_clear_type_error():
    with pytest.raises(TypeError, match="median_pool2d: pooledu has no cpu kernel"):
        kernel("median_pool2d", CPU)


def test_the_schedule_is_per_thread():
    """A ``with schedule(...)`` in one thread is not seen by another."""
    entered, read = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        entered.wait()
        seen["other"] = ACTIVE_SCHEDULE.get()
        x = np.arange(16.0).reshape(1, 4, 4)
        seen["result"] = P.max_pool2d(x, 2)
        read.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with P.schedule("reference"):
        entered.set()
        read.wait()
        seen["this"] = ACTIVE_SCHEDULE.get()
    thread.join()
    assert seen["other"] == "fast" and seen["this"] == "reference"
    assert ACTIVE_SCHEDULE.get() == "fast"
    np.testing.assert_array_equal(seen["result"][0], [[5.0, 7.0], [13.0, 15.0]])


SCHEDULE_MODULES = ("cpu", "fast", "fast_family", "fast_lp", "fast_nhwc", "fast_ndhwc", "cuda",
                    "cuda_family", "cuda_conv")


@pytest.mark.parametrize("module", ["ops", "pool1d3d", "adaptive", "fractional", "lp", "unpool",
                                    "extra", "antialias", "conv"])
def test_public_operations_reach_kernels_only_through_the_dispatch(module):
    """No public operation names a schedule module (cpu, fast, cuda) itself."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    direct = [f"{node.value.id}.{node.attr} (line {node.lineno})" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in SCHEDULE_MODULES]
    schedules = SCHEDULE_MODULES
    imported = [f"{node.module}.{alias.name}" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names
                if node.module in schedules or (node.module is None and alias.name in schedules)]
    assert direct == [] and imported == []


def _imports(path):
    """A module's name and the pooledu modules it imports, relatively or absolutely."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        package = parts  # where a package's relative imports start
    else:
        package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = ".".join(package[:len(package) - node.level + 1]
                              + ([node.module] if node.module else []))
            found |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pooledu"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pooledu.")}
    return ".".join(parts), found


def test_the_package_has_no_import_cycle():
    graph = dict(_imports(path) for path in PACKAGE.rglob("*.py"))
    cycles = set()

    def walk(module, stack):
        for dep in graph.get(module, ()):
            if dep in stack:
                cycles.add(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep in graph and len(stack) < 12:
                walk(dep, stack + [dep])

    for module in graph:
        if module != "pooledu":  # the package re-exports its modules; they never import it back
            walk(module, [module])
    assert not cycles, sorted(cycles)[:5]
