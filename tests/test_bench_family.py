"""The family table of ``pooledu bench``: every row runs, PyTorch's call computes what
pooledu's computes, and the derived columns are the measured numbers' own arithmetic.

Tiny shapes only (each case's ``tiny``): these check the table, never speed.
"""

from dataclasses import replace

import numpy as np
import pytest

from pooledu import bench_family as bf
from pooledu import cuda as pcuda

TINY = [replace(c, shape=c.tiny) for c in bf.CASES]


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", TINY, ids=[f"{c.name} {'backward' if c.backward else 'forward'}"
                                            for c in TINY])
def test_the_torch_call_computes_what_the_pooledu_call_computes(case):
    """Both sides of a row do the same work on the same data, in every memory layout timed."""
    fn, kwargs, arrays, g, _ = bf._calls(case, 2, np.random.default_rng(1))
    for layout in case.layouts:
        ours = _first(fn(**bf._in_layout(kwargs, layout)))
        theirs = _first(bf._torch(case, arrays, g, layout)())
        np.testing.assert_allclose(ours, theirs.detach().numpy().reshape(ours.shape),
                                   rtol=1e-5, atol=1e-6)


def test_every_row_runs_and_its_columns_are_its_times_arithmetic():
    result = bf.run(quick=True, tiny=True)
    rows = result["rows"]
    expected = [(c.name, "backward" if c.backward else "forward", layout)
                for c in bf.CASES for layout in c.layouts]
    assert [(r["case"], r["pass_"], r["layout"]) for r in rows] == expected
    bandwidth = result["copy_gb_per_s"] * 1e9
    table = bf.format_table(result)
    for r in rows:
        ours, theirs = r["pooledu_ms"], r["torch_ms"]
        assert r["speed_up"] == pytest.approx(theirs / ours)
        assert r["floor_ms"] == pytest.approx(r["bytes"] / bandwidth * 1e3)
        assert r["floor_share"] == pytest.approx(r["floor_ms"] / ours)
        assert f"| {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x |" in table
    # the bytes moved are the call's arrays: a 3D max forward reads x and writes y and int64
    # indices (4 + 4 + 8 bytes per output for a 2x2x2/2 window over 8 input cells)
    c3d = next(r for r in rows if r["op"] == "max_pool3d" and r["pass_"] == "forward")
    cells = np.prod(c3d["shape"])
    assert c3d["bytes"] == 4 * cells + (4 + 8) * cells // 8
    # and the max unpooling backward reads the gradient (the unpooled size) and the indices
    # and writes the gradient of the pooled input
    unpool = next(r for r in rows if r["op"] == "max_unpool2d" and r["pass_"] == "backward")
    pooled = np.prod(unpool["shape"])
    assert unpool["bytes"] == 4 * 4 * pooled + 8 * pooled + 4 * pooled


def test_match_keeps_the_rows_whose_name_contains_it():
    rows = bf.run(quick=True, tiny=True, match="c3d")["rows"]
    assert {r["case"] for r in rows} == {"c3d max 2x2x2/2", "c3d avg 2x2x2/2"}
    assert len(rows) == 2 * 2 * 2  # forward and backward, each case in both layouts


def test_on_the_gpu_a_row_without_a_cuda_kernel_says_so(monkeypatch):
    """Every row either ran on the device or names why not; global max has CUDA kernels."""
    picked = [c for c in bf.CASES if c.op == "global_max_pool2d" or c.name.startswith("vgg head")]
    monkeypatch.setattr(bf, "CASES", picked)
    result = bf.run_cuda(quick=True)
    rows = result["rows"]
    assert [(r["case"], r["pass_"]) for r in rows] == [
        (c.name, "backward" if c.backward else "forward") for c in picked]
    for r in rows:
        if "no_cuda" in r:
            assert r["pooledu_ms"] is None and r["op"] in r["no_cuda"]
        else:
            assert r["pooledu_ms"] > 0 and r["floor_share"] > 0
    assert all("no_cuda" not in r for r in rows if r["op"] == "global_max_pool2d")
    table = bf.format_table(result)
    assert table.count("no CUDA kernel") == sum("no_cuda" in r for r in rows)
    assert ("SIMULATOR" in table) == pcuda.SIMULATOR
