"""Kernel speed tests: pooledu against PyTorch, NumPy and the machine's copy bandwidth.

Pooling moves bytes and does almost no arithmetic, so the honest yardstick is
memory bandwidth: the time to read the input once and write the output (and
indices) once, compared with a plain memory copy timed in the same run.
This is a benchmark, not a test: it asserts nothing about times.

:func:`run` times the CPU kernels; :func:`run_cuda` the same cases on a GPU
(CUDA kernels against PyTorch CUDA, yardstick a device-to-device copy).
"""

import json
import platform
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from . import ops


@dataclass
class Case:
    """One layer shape from a well-known network."""
    name: str
    op: str                      # "max", "avg" or "global_avg"
    shape: tuple                 # (C, H, W); the batch is added at run time
    args: dict = field(default_factory=dict)
    backward: bool = False


CASES = [
    Case("resnet stem max 3x3/2 p1", "max", (64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
    Case("vgg max 2x2/2", "max", (128, 112, 112), dict(kernel_size=2, stride=2)),
    Case("alexnet max 3x3/2", "max", (96, 55, 55), dict(kernel_size=3, stride=2)),
    Case("densenet avg 2x2/2", "avg", (256, 56, 56), dict(kernel_size=2, stride=2)),
    Case("inception avg 3x3/1 p1", "avg", (192, 28, 28), dict(kernel_size=3, stride=1, padding=1)),
    Case("resnet50 global avg", "global_avg", (2048, 7, 7)),
]
CASES += [Case(c.name, c.op, c.shape, c.args, backward=True) for c in list(CASES)]


def copy_bandwidth(nbytes=256 << 20, repeats=5):
    """Bytes moved per second by ``np.copyto`` (read + write), best of ``repeats``."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    best = _best_time(lambda: np.copyto(dst, src), repeats)
    return 2 * src.nbytes / best


def _best_time(fn, repeats, warmup=3, settle=0.5):
    """Best of ``repeats`` timed calls, after ``warmup`` calls and at least ``settle`` seconds.

    The warm-up runs long enough for the first touches of freshly allocated
    memory to pass: on the project's virtual machines those stay slow (up to
    20x) for the first several calls after a large allocation.
    """
    start = time.perf_counter()
    calls = 0
    while calls < warmup or time.perf_counter() - start < settle:
        fn()
        calls += 1
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# ---------------------------------------------------------------------------
# the three implementations of each case

def _pooledu(case, x, g, idx):
    a = case.args
    if case.op == "max":
        if case.backward:
            return lambda: ops.max_pool2d_backward(g, idx, x.shape, **a)
        return lambda: ops.max_pool2d(x, return_indices=True, **a)
    if case.op == "avg":
        if case.backward:
            return lambda: ops.avg_pool2d_backward(g, x.shape, **a)
        return lambda: ops.avg_pool2d(x, **a)
    if case.backward:
        return lambda: ops.global_avg_pool2d_backward(g, x.shape)
    return lambda: ops.global_avg_pool2d(x)


def _torch(case, x, g, layout, device="cpu"):
    """PyTorch's own forward (or autograd backward) on the same data and memory layout."""
    import torch
    import torch.nn.functional as F
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    tx = torch.from_numpy(x).to(device).contiguous(memory_format=fmt)
    a = case.args
    if case.op == "max":
        def forward(t):
            return F.max_pool2d(t, return_indices=True, **a)[0]
    elif case.op == "avg":
        def forward(t):
            return F.avg_pool2d(t, **a)
    else:
        def forward(t):
            return F.adaptive_avg_pool2d(t, 1)
    if not case.backward:
        return lambda: forward(tx)
    tx.requires_grad_(True)
    ty = forward(tx)
    tg = torch.from_numpy(g.reshape(ty.shape)).to(device).contiguous(memory_format=fmt)
    return lambda: torch.autograd.grad(ty, tx, tg, retain_graph=True)


def _numpy(case, x):
    """A vectorised NumPy baseline (forward only): windows as a strided view."""
    if case.backward:
        return None
    if case.op == "global_avg":
        return lambda: x.mean(axis=(-2, -1))
    k, s, p = (case.args.get(key, d) for key, d in (("kernel_size", 1), ("stride", None), ("padding", 0)))
    s = s or k
    fill = -np.inf if case.op == "max" else 0.0
    reduce = np.max if case.op == "max" else np.mean

    def run():
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x
        windows = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(-2, -1))[:, :, ::s, ::s]
        return reduce(windows, axis=(-2, -1))
    return run


@njit(parallel=True, cache=True, fastmath=True)
def _read(a):
    """Every element of a flat array read once (their sum, so that the loads stay;
    fastmath lets the sum run in SIMD lanes, in any order)."""
    total = 0.0
    for t in prange(a.shape[0]):
        total += a[t]
    return total


@njit(parallel=True, cache=True)
def _write(a):
    """Every element of a flat array written once."""
    for t in prange(a.shape[0]):
        a[t] = 0


def _floor(case, x, y, idx, g):
    """The memory floor of a case: read its inputs once and write fresh outputs once.

    No pooling at all, on the same threads, with outputs allocated per call as
    a pooling call allocates them (so the operating system's zeroing of fresh pages is
    in it too): no implementation that returns new arrays can beat it.
    """
    if case.backward:
        inputs, outputs = [g] + ([idx] if case.op == "max" else []), [x]
    else:
        inputs, outputs = [x], [y] + ([idx] if case.op == "max" else [])

    def run():
        fresh = [np.empty(a.size, a.dtype) for a in outputs]  # alive together, as a call's are
        for a in inputs:
            _read(a.reshape(-1))
        for a in fresh:
            _write(a)
        return fresh
    return run


def _bytes_moved(case, x, y, idx):
    """Input read once, output (and indices) written once; reversed for backward."""
    index_bytes = idx.nbytes if case.op == "max" else 0
    return x.nbytes + y.nbytes + index_bytes


# ---------------------------------------------------------------------------

def channels_last(a):
    """The same values in channels-last memory: an (N, C, H, W) view of (N, H, W, C), and
    likewise (N, C, D, H, W) over (N, D, H, W, C), PyTorch's channels_last_3d."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


LAYOUTS = {"nchw": lambda a: a, "channels_last": channels_last}


@dataclass
class CpuClock:
    """What every CPU table shares: PyTorch (or None), the batch and repeats to use, the
    copy bandwidth (bytes/s) measured in this run, and the timer."""
    torch: object
    batch: int
    repeats: int
    quick: bool
    bandwidth: float

    def time(self, fn):
        """Best seconds of ``fn()``; quick runs skip the settling time (they are for a look,
        not for numbers)."""
        return _best_time(fn, self.repeats, settle=0 if self.quick else 0.5)

    def result(self, rows, **more):
        """A table's result: the machine, the run's settings and its rows."""
        return dict(machine=_machine(), batch=self.batch, copy_gb_per_s=self.bandwidth / 1e9,
                    rows=rows, **more)


def cpu_clock(batch=32, repeats=5, quick=False):
    """A :class:`CpuClock` for this run: PyTorch on Numba's thread count, the copy bandwidth
    measured; quick runs take batch 2 and 3 repeats."""
    try:
        import torch
        torch.set_num_threads(_threads())
    except ImportError:
        torch = None
    if quick:
        batch, repeats = 2, 3
    return CpuClock(torch, batch, repeats, quick, copy_bandwidth(64 << 20 if quick else 256 << 20))


def matching(cases, match):
    """The cases whose name contains ``match`` (all of them for None)."""
    return [c for c in cases if match is None or match in c.name]


def run(batch=32, repeats=5, quick=False, layouts=("nchw", "channels_last"), progress=None,
        match=None):
    """Time every case (whose name contains ``match``) in every layout; returns the machine,
    the copy bandwidth and the rows."""
    clock = cpu_clock(batch, repeats, quick)
    torch, batch, bandwidth, timed = clock.torch, clock.batch, clock.bandwidth, clock.time
    rng = np.random.default_rng(0)
    rows = []
    for case in matching(CASES, match):
        x = rng.standard_normal((batch,) + case.shape).astype(np.float32)
        y, idx = _forward(case, x)
        g = rng.standard_normal(y.shape).astype(np.float32)
        row = dict(case=case.name, pass_="backward" if case.backward else "forward",
                   shape=[batch, *case.shape])
        for layout in layouts:
            to_layout = LAYOUTS[layout]
            xl, gl = to_layout(x), (to_layout(g) if g.ndim == 4 else g)
            il = to_layout(idx) if case.op == "max" else idx
            seconds = timed(_pooledu(case, xl, gl, il))
            row[f"pooledu_{layout}_ms"] = seconds * 1e3
            row[f"gb_per_s_{layout}"] = _bytes_moved(case, x, y, idx) / seconds / 1e9
            row[f"copy_share_{layout}"] = row[f"gb_per_s_{layout}"] * 1e9 / bandwidth
            if torch is not None:
                row[f"torch_{layout}_ms"] = timed(_torch(case, x, g, layout)) * 1e3
        baseline = _numpy(case, x)
        row["numpy_ms"] = timed(baseline) * 1e3 if baseline else None
        row["floor_ms"] = timed(_floor(case, x, y, idx, g)) * 1e3
        rows.append(row)
        if progress:
            progress(row)
    return clock.result(rows, layouts=list(layouts))


# ---------------------------------------------------------------------------
# the GPU

def _gpu_best_time(fn, repeats, new_event, warmup=2):
    """Best of ``repeats`` GPU intervals (seconds) between events recorded around ``fn()``.

    The warm-up calls compile the kernels. An interval covers everything the
    GPU waits for between the two events, pooledu's host-side checks and
    launches included, as in a real call.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start, end = new_event(), new_event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)  # elapsed_time is in ms
    return best


@dataclass
class GpuClock:
    """What every GPU table shares: Numba's CUDA module, PyTorch CUDA (or None),
    the batch and repeats to use, the device copy bandwidth (bytes/s), and timers."""
    cuda: object
    simulator: bool
    torch: object
    batch: int
    repeats: int
    bandwidth: float

    def time(self, fn, repeats=None):
        """Seconds for ``fn()`` on the GPU (the simulator's events measure nothing: host clock)."""
        repeats = repeats or self.repeats
        if self.simulator:  # nothing to settle: the simulated times mean nothing
            return _best_time(fn, repeats, warmup=1, settle=0)
        return _gpu_best_time(fn, repeats, self.cuda.event)

    def time_torch(self, fn):
        """Seconds for a PyTorch CUDA call, between PyTorch's own events."""
        return _gpu_best_time(fn, self.repeats, lambda: self.torch.cuda.Event(enable_timing=True))

    def result(self, rows, **more):
        """A table's result: the machine, the run's settings and its rows."""
        return dict(machine=_gpu_machine(self.cuda, self.simulator, self.torch), device="cuda",
                    simulator=self.simulator, batch=self.batch, repeats=self.repeats,
                    copy_gb_per_s=self.bandwidth / 1e9, rows=rows, **more)


def gpu_clock(batch=32, repeats=20, quick=False):
    """A :class:`GpuClock` for this run; RuntimeError where there is neither a GPU nor the simulator.

    Under Numba's CUDA simulator the batch is 1 and every call runs once.
    """
    from numba import cuda

    from .cuda import SIMULATOR
    if not SIMULATOR and not cuda.is_available():
        raise RuntimeError("no CUDA GPU found (numba.cuda.is_available() is False); "
                           "NUMBA_ENABLE_CUDASIM=1 runs the simulator instead, for a smoke test")
    if quick:
        batch, repeats = 2, 5
    if SIMULATOR:  # every simulated GPU thread is a Python thread: tiny shapes only
        batch, repeats = 1, 1
    clock = GpuClock(cuda, SIMULATOR, _torch_cuda(), batch, repeats, bandwidth=0.0)
    nbytes = (1 << 20) if SIMULATOR else (64 << 20 if quick else 256 << 20)
    src, dst = cuda.device_array(nbytes // 8), cuda.device_array(nbytes // 8)
    clock.bandwidth = 2 * nbytes / clock.time(lambda: dst.copy_to_device(src), max(repeats, 3))
    return clock


def run_cuda(batch=32, repeats=20, quick=False, progress=None, match=None):
    """Time every case on the GPU: pooledu's CUDA kernels and PyTorch CUDA, same data, same run.

    Returns the same result layout as :func:`run`, NCHW only (``format_table``
    prints both). Under Numba's CUDA simulator (no GPU) the cases shrink to a few
    hundred elements, times come from the host clock and mean nothing; the
    result says so.
    """
    gpu = gpu_clock(batch, repeats, quick)
    cases = matching(CASES, match)
    if gpu.simulator:
        cases = [Case(c.name, c.op, (2, 8, 8), c.args, c.backward) for c in cases]
    rng = np.random.default_rng(0)
    rows = []
    for case in cases:
        x = rng.standard_normal((gpu.batch,) + case.shape).astype(np.float32)
        dx = gpu.cuda.to_device(x)
        y, idx = _forward(case, dx)
        g = rng.standard_normal(y.shape).astype(np.float32)
        seconds = gpu.time(_pooledu(case, dx, gpu.cuda.to_device(g), idx))
        # the keys of run()'s rows, for the one layout timed here
        row = dict(case=case.name, pass_="backward" if case.backward else "forward",
                   shape=[gpu.batch, *case.shape], pooledu_nchw_ms=seconds * 1e3,
                   gb_per_s_nchw=_bytes_moved(case, dx, y, idx) / seconds / 1e9, numpy_ms=None)
        row["copy_share_nchw"] = row["gb_per_s_nchw"] * 1e9 / gpu.bandwidth
        if gpu.torch is not None:
            row["torch_nchw_ms"] = gpu.time_torch(_torch(case, x, g, "nchw", "cuda")) * 1e3
        rows.append(row)
        if progress:
            progress(row)
    return gpu.result(rows, layouts=["nchw"])


def _torch_cuda():
    """The torch module if it can run on the GPU, else None (then pooledu is timed alone)."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _gpu_machine(cuda, simulator, torch):
    import numba
    info = dict(platform=platform.platform(), numba=numba.__version__, numpy=np.__version__)
    if simulator:
        info["gpu"] = "Numba CUDA simulator (no GPU)"
    else:
        name = cuda.get_current_device().name
        info["gpu"] = name.decode() if isinstance(name, bytes) else name
    info["torch"] = torch.__version__ if torch is not None else "no CUDA PyTorch"
    return info


def _forward(case, x):
    if case.op == "max":
        return ops.max_pool2d(x, return_indices=True, **case.args)
    if case.op == "avg":
        return ops.avg_pool2d(x, **case.args), np.empty(0, np.int64)
    return ops.global_avg_pool2d(x), np.empty(0, np.int64)


def _threads():
    import numba
    return numba.get_num_threads()


def _machine():
    import numba
    info = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                numba_threads=numba.get_num_threads(), numba=numba.__version__, numpy=np.__version__)
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def format_table(result):
    """The results as a Markdown table: per layout, pooledu and PyTorch side by side."""
    head = ["case", "pass"]
    for layout in result["layouts"]:
        tag = "NCHW" if layout == "nchw" else "channels-last"
        head += [f"pooledu {tag} ms", f"torch {tag} ms", "speed-up", "GB/s", "% of copy"]
    head += ["numpy ms", "floor ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [r["case"], r["pass_"]]
        for layout in result["layouts"]:
            ours, theirs = r[f"pooledu_{layout}_ms"], r.get(f"torch_{layout}_ms")
            cells += [f"{ours:.2f}", f"{theirs:.2f}" if theirs else "-",
                      f"{theirs / ours:.2f}x" if theirs else "-",
                      f"{r[f'gb_per_s_{layout}']:.1f}", f"{100 * r[f'copy_share_{layout}']:.0f}%"]
        cells.append(f"{r['numpy_ms']:.2f}" if r["numpy_ms"] else "-")
        cells.append(f"{r['floor_ms']:.2f}" if r.get("floor_ms") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    m = result["machine"]
    if result.get("device") == "cuda":
        lines += ["", f"batch {result['batch']}, float32, NCHW, on {m['gpu']}; device-to-device copy "
                  f"{result['copy_gb_per_s']:.1f} GB/s (bytes read + written), measured in the same run; "
                  f"{'host clock' if result['simulator'] else 'CUDA events'}, best of "
                  f"{result['repeats']} after warm-up; speed-up > 1 means pooledu is faster"]
        if result["simulator"]:
            lines.append("SIMULATOR: no GPU, tiny shapes, host-clock times; these numbers mean "
                         "nothing about speed")
        return "\n".join(lines)
    lines += ["", f"batch {result['batch']}, float32; copy bandwidth {result['copy_gb_per_s']:.1f} GB/s "
              f"(np.copyto, bytes read + written), measured in the same run; "
              f"{m['numba_threads']} Numba threads, {m.get('torch_threads', '-')} PyTorch threads; "
              "speed-up > 1 means pooledu is faster; GB/s counts the input read once and the output "
              "and indices written once (backward: grad_output and indices read, grad_input written); "
              "floor: the same bytes read once and written once into fresh arrays, no pooling"]
    return "\n".join(lines)


def save(result, path):
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
