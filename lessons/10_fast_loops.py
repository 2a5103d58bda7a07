"""Making the loops fast: the same formula under different schedules, on the CPU and the GPU.

Goal: time one formula (``pooledu.formulas.max_window``) under two loop
orders, serially and in parallel with ``prange``; measure what Numba's
compilation costs on a first call and what its cache saves on later runs;
run the CUDA kernel (in Numba's simulator when there is no GPU) and check it
against the CPU; and read a quick benchmark against PyTorch and NumPy.
Timings depend on the machine and its load: the lesson prints what it
measured, and the point is the ratios, not the milliseconds.
Run it as ``python lessons/10_fast_loops.py [--out DIR]``.
"""

# %% [markdown]
# ## Step 1: two loop orders over the same formula
#
# pooledu has two CPU schedules for every pooling kernel, and both apply the
# same max rule to the same taps in the same order, so they agree bit for bit.
# The *reference* schedule (`pooledu/cpu.py`) reads like the formula: for each
# output, scan its window. The *fast* schedule (`pooledu/fast.py`, the
# default) turns the loops around: for a block of output rows, take one
# window tap (u, v) at a time and sweep it across every output of the block.
# To make that sweep contiguous, each input row is first copied as its stride
# phases (for stride 2: even columns, then odd columns), so tap v of output
# column j sits at position j + shift; the rows of the block lie side by side,
# so one sweep covers many short rows. The inner loop then runs over
# contiguous memory, and the compiler turns it into SIMD instructions. Both
# schedules run in parallel with `prange`.

# %%
import ast
import inspect
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numba
import numpy as np
from numba import njit

import pooledu
from pooledu import bench, cpu, fast
from pooledu.lessons import output_dir, say

OUT = output_dir()
rng = np.random.default_rng(10)

print("Step 1. The reference schedule, one output at a time (pooledu/cpu.py):\n")
print(inspect.getsource(cpu.max_pool2d.py_func))
IDEA = """\
    # reference: for each output, scan its window
    for i, j in outputs:
        for u, v in taps:
            best[i, j] = max(best[i, j], x[s*i + u, s*j + v])

    # fast: for each tap, sweep it across a block of outputs
    copy each input row as its stride phases     # even columns, then odd, for s = 2
    for u, v in taps:
        for t in range(len(block)):                # contiguous memory: SIMD
            best[t] = max(best[t], phase_row[t + shift(u, v)])
"""
print("The fast schedule (pooledu/fast.py) turns the two loops around. The idea, in a sketch:\n")
print(IDEA)
say(f"""Both orders visit the same taps with the same max rule, so they give the same
bits. In the fast order the innermost loop runs over contiguous memory with no
branch per element, which the compiler turns into SIMD instructions (the real
sweep is fast.max_sweep, {len(inspect.getsource(fast.max_sweep).splitlines())} lines;
fast.max_block arranges the blocks). Both schedules run their planes in parallel
with prange.""")


def best_time(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


x = rng.standard_normal((64, 112, 112)).astype(np.float32)
reference = pooledu.max_pool2d(x, 2)
threads = numba.config.NUMBA_NUM_THREADS

# The reference kernel's Python source compiled a second time without
# parallel=True: prange then runs as a plain range, on one thread.
start = time.perf_counter()
serial_kernel = njit(cpu.max_pool2d.py_func)
y, idx = np.empty((64, 56, 56), np.float32), np.empty((64, 56, 56), np.int64)
serial_kernel(x, y, idx, 2, 2, 2, 2, 0, 0, 1, 1)  # first call: Numba compiles it
compile_serial = time.perf_counter() - start

timings = {("reference", "serial", 1): best_time(
    lambda: serial_kernel(x, y, idx, 2, 2, 2, 2, 0, 0, 1, 1))}
equal = {("reference", "serial", 1): bool(np.array_equal(y, reference))}
for name in ("reference", "fast"):
    for n in sorted({1, threads}):
        numba.set_num_threads(n)
        with pooledu.schedule(name):
            timings[(name, "prange", n)] = best_time(lambda: pooledu.max_pool2d(x, 2))
            equal[(name, "prange", n)] = bool(np.array_equal(pooledu.max_pool2d(x, 2), reference))
numba.set_num_threads(threads)
print("2x2 max pooling of a 64x112x112 float32 array, best of 5:")
for key, seconds in timings.items():
    print(f"  {key[0]:<9} {key[1]:<6} {key[2]} thread(s): {seconds * 1e3:7.2f} ms  "
          f"(equal to the default result: {equal[key]})")

gain = timings[("reference", "prange", 1)] / timings[("fast", "prange", 1)]
speedup = timings[("fast", "prange", threads)] / timings[("fast", "prange", 1)]
parallel_overhead = timings[("reference", "prange", 1)] / timings[("reference", "serial", 1)]
print(f"\n  on one thread the fast loop order takes 1/{gain:.1f} of the reference time")
print(f"  the fast schedule on {threads} thread(s) takes {speedup:.2f}x its one-thread time; "
      f"on {threads} idle cores the ideal is 1/{threads} = {1 / threads:.2f}.")
if speedup > 1:
    print(f"  Here {threads} threads were slower than one: the cores were busy with other work "
          "while this ran, so the threads waited for each other. Run it on an idle machine.")
elif speedup > 0.9:
    print("  Here the threads gained little: the cores were busy with other work while this "
          "ran. Run it on an idle machine to see the gain.")
print(f"  prange on one thread takes {parallel_overhead:.2f}x a plain serial loop: "
      + ("the cost of the parallel machinery itself (splitting the loop, waking the threads)"
         if parallel_overhead > 1.05 else "the parallel machinery cost nothing measurable here"))

# %% [markdown]
# ## Step 2: compilation and the cache
#
# Numba compiles a function for each new combination of argument types on its
# first call; the serial copy above paid that on its first call. pooledu's own kernels are compiled with
# `cache=True`: the machine code is saved to disk, and a new Python process
# loads it instead of compiling again. To measure that honestly we start two
# fresh processes that share an empty cache directory: the first compiles and
# saves, the second loads.

# %%
print(f"Step 2. compiling the serial copy of the reference kernel took {compile_serial:.2f} s "
      "(its first call)")

probe = textwrap.dedent("""
    import time, numpy as np
    start = time.perf_counter()
    import pooledu
    imported = time.perf_counter()
    pooledu.max_pool2d(np.zeros((1, 4, 4), np.float32), 2)
    print(imported - start, time.perf_counter() - imported)
""")
cache_runs = []
with tempfile.TemporaryDirectory() as cache_dir:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                              text=True, check=True)
        cache_runs.append([float(v) for v in done.stdout.split()])
print(f"  fresh process, empty cache: import {cache_runs[0][0]:.2f} s, first max_pool2d call "
      f"{cache_runs[0][1]:.2f} s (compiling)")
print(f"  next process, same cache:   import {cache_runs[1][0]:.2f} s, first max_pool2d call "
      f"{cache_runs[1][1]:.2f} s (loaded from the cache)")
print("  this is why `pooledu tour` says 'compiling kernels, first run only' the first time")

# %% [markdown]
# ## Step 3: the CUDA kernel
#
# On a GPU, pooledu gives each output value its own thread, and the thread
# calls the very same `max_window`. Without a GPU, Numba's CUDA simulator runs
# each GPU thread as a Python thread: slow, but the same code, so it shows the
# kernel is right. The simulator must be switched on before `numba.cuda` is
# imported, so this step runs in a fresh process.

# %%
cuda_file = Path(pooledu.__file__).parent / "cuda.py"
cuda_source = cuda_file.read_text() if cuda_file.exists() else ""
if cuda_source:
    tree = ast.parse(cuda_source)
    kernel_def = next(node for node in tree.body
                      if isinstance(node, ast.FunctionDef) and node.name == "_max_pool2d")
    print("Step 3. The CUDA schedule (pooledu/cuda.py): one thread per output value\n")
    print("@cuda.jit\n" + ast.get_source_segment(cuda_source, kernel_def) + "\n")
    cuda_probe = textwrap.dedent("""
        import numpy as np
        from numba import cuda
        import pooledu
        from pooledu.cuda import SIMULATOR
        x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
        y_cpu, i_cpu = pooledu.max_pool2d(x, 3, 2, 1, return_indices=True)
        y_gpu, i_gpu = pooledu.max_pool2d(cuda.to_device(x), 3, 2, 1, return_indices=True)
        same = np.array_equal(y_cpu, y_gpu.copy_to_host()) and np.array_equal(i_cpu, i_gpu.copy_to_host())
        print("simulator" if SIMULATOR else "gpu", same)
    """)
    env = dict(os.environ)
    gpu_present = subprocess.run([sys.executable, "-c", "from numba import cuda; "
                                  "print(cuda.is_available())"],
                                 capture_output=True, text=True).stdout.strip() == "True"
    if not gpu_present:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", cuda_probe], env=env,
                          capture_output=True, text=True)
    if done.returncode == 0:
        cuda_mode, cuda_same = done.stdout.split()[-2], done.stdout.split()[-1] == "True"
        print(f"  ran on: {cuda_mode}; max values and indices equal to the CPU kernel's: {cuda_same}")
    else:
        cuda_mode, cuda_same = "failed", False
        print("  the CUDA run failed:\n" + done.stderr[-2000:])
else:
    cuda_mode, cuda_same = "missing", False
    print("Step 3. This checkout has no pooledu/cuda.py, so there is no CUDA kernel to run.")

# %% [markdown]
# ## Step 4: a quick benchmark
#
# `pooledu.bench` times pooledu, PyTorch and a vectorised NumPy version on
# layer shapes from well-known networks (here three forward cases at batch 2,
# to keep the lesson short; `pooledu bench --quick` runs them all). Pooling
# does almost no arithmetic, so the yardstick is memory: GB/s moved, against a
# plain memory copy measured in the same run.

# %%
cases, bench.CASES = bench.CASES, [c for c in bench.CASES if not c.backward][:3]
try:
    result = bench.run(quick=True, layouts=("nchw",))
finally:
    bench.CASES = cases
print("\nStep 4.\n" + bench.format_table(result))
rows = result["rows"]
if any(not r.get("torch_nchw_ms") for r in rows):
    say("""A '-' in the torch column means PyTorch is not installed here, so there was
nothing to time against (pip install -e ".[test]" adds it).""")
over = [r["case"] for r in rows if r.get("copy_share_nchw", 0) > 1]
say("""'% of copy' compares a kernel's bytes per second with a plain memory copy of a
large array measured in the same run."""
    + (f""" It goes above 100% for {', '.join(over)}: the data is small enough to stay in
the processor's cache between repeats, and the copy it is compared with streams
from main memory.""" if over else """ Above 100% would mean the data stayed in the
processor's cache between repeats, faster than the copy from main memory."""))

# %%
fig, ax = plt.subplots(figsize=(8, 4))
labels = [f"{name}\n{kind}, {n} thr" for name, kind, n in timings]
ax.bar(range(len(timings)), [t * 1e3 for t in timings.values()],
       color=["#0072B2" if lab.startswith("fast") else "#E69F00" for lab in labels])
ax.set_xticks(range(len(timings)), labels, fontsize=8)
ax.set_ylabel("ms (best of 5)")
ax.set_title("2x2 max pooling of 64x112x112 float32: same formula, different loop orders")
path = OUT / "10_fast_loops.png"
fig.savefig(path, dpi=110, bbox_inches="tight")
plt.close(fig)
print(f"\nFigure saved: {path}")


# %% [markdown]
# ## Exercises
#
# In ``lessons/exercises/10_fast_loops.py``; ``pooledu check 10`` checks them.

# %%
from pooledu.exercises import print_exercises  # noqa: E402

print_exercises(10)

RESULTS = dict(timings={f"{a} {b} {c}": t for (a, b, c), t in timings.items()},
               equal=all(equal.values()), fast_gain=gain, prange_speedup=speedup,
               parallel_overhead=parallel_overhead, threads=threads, compile_serial=compile_serial,
               cache_runs=cache_runs, cuda_mode=cuda_mode, cuda_same=cuda_same,
               bench=result, figure=str(path))
