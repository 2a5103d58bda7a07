"""The rest of the pooling family timed against PyTorch: 1D and 3D, adaptive, LP, fractional,
unpooling, global max and max-broadcast, forward and backward, on real layer shapes.

The second table of ``pooledu bench``; ``bench.py`` holds the first (the core
2D operations) and the clocks both use. A row is data: the operation's name,
which is also ``torch.nn.functional``'s (``TWINS`` names the PyTorch
equivalent where pooledu's own operation has none), a layer shape and the
arguments. The pooledu call and the PyTorch call are both built from it, on
the same data.

The yardstick is the memory floor: the bytes a call cannot avoid moving (its
array arguments read once, its results written once) at the copy bandwidth
measured in the same run. This is a benchmark, not a test: it asserts nothing
about times.
"""

import inspect
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from . import bench, ops
from .geometry import unpool_output_size

#: Both memory layouts: for the 2D and 3D operations PyTorch has channels-last kernels for.
CL = ("nchw", "channels_last")


@dataclass(frozen=True)
class Case:
    """One operation of the family on one layer shape."""
    name: str
    op: str                      # pooledu's function; torch.nn.functional's too, unless in TWINS
    shape: tuple                 # (C, *spatial); the batch is added at run time
    tiny: tuple                  # a small shape the same args accept (tests, the CUDA simulator)
    args: dict = field(default_factory=dict)
    layouts: tuple = ("nchw",)   # channels-last only where PyTorch has a channels-last kernel
    backward: bool = False


CASES = [
    Case("vgg head adaptive avg 13->7", "adaptive_avg_pool2d", (512, 13, 13), (2, 13, 13),
         dict(output_size=7), CL),
    Case("resnet50 head adaptive avg 7->1", "adaptive_avg_pool2d", (2048, 7, 7), (2, 7, 7),
         dict(output_size=1), CL),
    Case("adaptive max 28->6", "adaptive_max_pool2d", (256, 28, 28), (2, 12, 12),
         dict(output_size=6, return_indices=True), CL),
    Case("c3d max 2x2x2/2", "max_pool3d", (64, 16, 56, 56), (2, 4, 8, 8),
         dict(kernel_size=2, stride=2, return_indices=True), CL),
    Case("c3d avg 2x2x2/2", "avg_pool3d", (64, 16, 56, 56), (2, 4, 8, 8),
         dict(kernel_size=2, stride=2), CL),
    Case("audio max 1d 3/2", "max_pool1d", (128, 8000), (2, 64),
         dict(kernel_size=3, stride=2, return_indices=True)),
    Case("audio avg 1d 4/4", "avg_pool1d", (128, 8000), (2, 64), dict(kernel_size=4, stride=4)),
    Case("lp p=2 2x2/2", "lp_pool2d", (128, 56, 56), (2, 8, 8),
         dict(norm_type=2, kernel_size=2, stride=2), CL),
    # 56 * 5/7 = 40 outputs; a ratio, so that the tiny shape (14 -> 10) needs no other args.
    # PyTorch's CPU kernel has no channels-last version (it makes the input contiguous).
    Case("fractional max 2x2 56->40", "fractional_max_pool2d", (64, 56, 56), (2, 14, 14),
         dict(kernel_size=2, output_ratio=(5 / 7, 5 / 7), return_indices=True)),
    Case("max unpool 2x2/2 28->56", "max_unpool2d", (128, 28, 28), (2, 4, 4),
         dict(kernel_size=2, stride=2), CL),
    Case("resnet50 head global max", "global_max_pool2d", (2048, 7, 7), (2, 7, 7),
         dict(return_indices=True), CL),
    Case("max-broadcast 2x2", "max_broadcast_pool2d", (128, 56, 56), (2, 8, 8),
         dict(kernel_size=2, return_indices=True), CL),
]
CASES += [replace(c, backward=True) for c in list(CASES)]


# ---------------------------------------------------------------------------
# PyTorch's side of a row

def _global_max(F, input, return_indices):
    # adaptive_max_pool2d(x, 1) rather than amax: it returns the argmax as pooledu does, and
    # its backward is the same one gradient per plane (amax's splits it among ties)
    return F.adaptive_max_pool2d(input, 1, return_indices=return_indices)


def _max_broadcast(F, input, kernel_size, return_indices):
    # max_broadcast_pool2d is max_pool2d(ceil_mode=True) then nearest upsampling by the kernel
    pooled, indices = F.max_pool2d(input, kernel_size, ceil_mode=True, return_indices=True)
    y = F.interpolate(pooled, scale_factor=kernel_size, mode="nearest")
    return (y, indices) if return_indices else y


#: PyTorch's equivalent of a pooledu operation that torch.nn.functional does not have.
TWINS = {"global_max_pool2d": _global_max, "max_broadcast_pool2d": _max_broadcast}
#: Arguments PyTorch spells differently.
TORCH_NAMES = {"random_samples": "_random_samples"}


def _tensor(torch, a, layout, device):
    """An array as a tensor on ``device``, in channels-last memory where asked and it has
    the dimensions for it."""
    t = torch.from_numpy(a).to(device)
    if layout == "channels_last" and t.dim() in (4, 5):
        t = t.contiguous(memory_format=torch.channels_last if t.dim() == 4
                         else torch.channels_last_3d)
    return t


def _torch(case, arrays, g, layout, device="cpu"):
    """PyTorch's forward, or its backward alone, on the same data and memory layout."""
    import torch
    import torch.nn.functional as F
    fn = partial(TWINS[case.op], F) if case.op in TWINS else getattr(F, case.op)
    given = {name: _tensor(torch, a, layout, device) for name, a in arrays.items()}
    kwargs = {TORCH_NAMES.get(k, k): v for k, v in {**given, **case.args}.items()}
    x = kwargs.pop("input")
    if not case.backward:
        return lambda: fn(x, **kwargs)
    # The backward alone: autograd on a graph built once and kept (retain_graph), so each
    # call runs only the backward nodes, as the core table does. A single aten backward op
    # would not serve every row: LP pooling's backward is a chain of nodes (the root, the
    # average pool, the power) and max-broadcast's is two ops' backwards.
    x.requires_grad_(True)
    y = fn(x, **kwargs)
    y = y[0] if isinstance(y, tuple) else y
    tg = _tensor(torch, g.reshape(y.shape), layout, device)
    return lambda: torch.autograd.grad(y, x, tg, retain_graph=True)


# ---------------------------------------------------------------------------
# pooledu's side of a row

def _plain(case, x, rng):
    return dict(input=x)


def _with_samples(case, x, rng):
    """Fractional pooling's random windows, fixed: the same (N, C, 2) samples for pooledu
    (random_samples) and PyTorch (_random_samples)."""
    return dict(input=x, random_samples=rng.random(x.shape[:2] + (2,), dtype=x.dtype))


def _pooled(case, x, rng):
    """Unpooling's input: what a max pool returns, values and indices, from a map of the
    size the unpooling restores (x gives only the shape)."""
    a = case.args
    size = unpool_output_size(case.op, x.shape[2:], a["kernel_size"], a.get("stride"))
    full = rng.standard_normal(x.shape[:2] + size).astype(x.dtype)
    values, indices = ops.max_pool2d(full, a["kernel_size"], a.get("stride"), return_indices=True)
    return dict(input=values, indices=indices)


#: The arrays of a forward call beyond the input, by argument name.
INPUTS = {"fractional_max_pool2d": _with_samples, "max_unpool2d": _pooled}


def _pooledu(name):
    """pooledu's public function ``name``."""
    import pooledu  # the package's namespace: every public function, whichever module owns it
    if name not in pooledu.__all__:
        raise ValueError(f"pooledu has no function {name!r}")
    return getattr(pooledu, name)


def _calls(case, batch, rng):
    """A row's data drawn, and what both calls are built from: pooledu's function and its
    arguments (host arrays, NCHW), the forward's arrays and the output gradient (for
    PyTorch's call), and the bytes pooledu's call moves (its arrays and its results)."""
    x = rng.standard_normal((batch,) + case.shape).astype(np.float32)
    arrays = INPUTS.get(case.op, _plain)(case, x, rng)
    forward = _pooledu(case.op)
    outputs = forward(**arrays, **case.args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    g = rng.standard_normal(outputs[0].shape).astype(x.dtype)
    if case.backward:
        # the backward takes, by name, what it needs of: the gradient, the forward's input
        # and indices (its own or those it returned), the input's shape, the window arguments
        fn = _pooledu(case.op + "_backward")
        saved = dict(arrays, indices=outputs[1]) if len(outputs) > 1 else arrays
        given = dict(grad_output=g, input_shape=arrays["input"].shape, **saved, **case.args)
        takes = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in given.items() if k in takes}
    else:
        fn, kwargs = forward, {**arrays, **case.args}
    nbytes = _nbytes(tuple(kwargs.values())) + _nbytes(fn(**kwargs))
    return fn, kwargs, arrays, g, nbytes


def _nbytes(values):
    """Bytes of the host arrays among ``values`` (an array, or a tuple of arguments)."""
    if isinstance(values, tuple):
        return sum(_nbytes(v) for v in values)
    return values.nbytes if isinstance(values, np.ndarray) else 0


def _in_layout(kwargs, layout):
    """The call's arrays in the layout: channels-last for the (N, C, H, W) and
    (N, C, D, H, W) ones, as a network in that layout would hand them over."""
    if layout == "nchw":
        return kwargs
    return {k: bench.channels_last(v) if isinstance(v, np.ndarray) and v.ndim >= 4 else v
            for k, v in kwargs.items()}


def _row(case, batch, layout, nbytes, bandwidth, seconds, torch_seconds):
    """A row: the times, their ratio, and the floor, all derived from the measured numbers."""
    row = dict(case=case.name, op=case.op, pass_="backward" if case.backward else "forward",
               layout=layout, shape=[batch, *case.shape], bytes=nbytes,
               floor_ms=nbytes / bandwidth * 1e3, pooledu_ms=None, torch_ms=None,
               speed_up=None, floor_share=None)
    if seconds is not None:
        row["pooledu_ms"] = seconds * 1e3
        row["floor_share"] = row["floor_ms"] / row["pooledu_ms"]
    if torch_seconds is not None:
        row["torch_ms"] = torch_seconds * 1e3
    if seconds is not None and torch_seconds is not None:
        row["speed_up"] = row["torch_ms"] / row["pooledu_ms"]  # > 1: pooledu is faster
    return row


def _cases(tiny, match):
    cases = bench.matching(CASES, match)
    return [replace(c, shape=c.tiny) for c in cases] if tiny else cases


def run(batch=32, repeats=5, quick=False, progress=None, tiny=False, match=None):
    """Time every row on the CPU: pooledu and PyTorch, forward and backward, each layout.

    ``quick``: batch 2, fewer repeats, no settling (a look, not numbers);
    ``tiny``: each case's small shape instead (a check that every row runs).
    Returns the machine, the copy bandwidth and the rows.
    """
    clock = bench.cpu_clock(batch, repeats, quick)
    rng = np.random.default_rng(0)
    rows = []
    for case in _cases(tiny, match):
        fn, kwargs, arrays, g, nbytes = _calls(case, clock.batch, rng)
        for layout in case.layouts:
            seconds = clock.time(partial(fn, **_in_layout(kwargs, layout)))
            theirs = (clock.time(_torch(case, arrays, g, layout))
                      if clock.torch is not None else None)
            rows.append(_row(case, clock.batch, layout, nbytes, clock.bandwidth, seconds, theirs))
            if progress:
                progress(rows[-1])
    return clock.result(rows)


def _on_device(cuda, kwargs):
    return {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def run_cuda(batch=32, repeats=20, quick=False, progress=None, match=None):
    """Time every row on the GPU, NCHW: pooledu's CUDA kernels against PyTorch CUDA.

    An operation that does not take device arrays yet keeps its row, with no
    pooledu time and the reason in ``no_cuda``. Under Numba's CUDA simulator
    the cases take their tiny shapes, and the times mean nothing.
    """
    gpu = bench.gpu_clock(batch, repeats, quick)
    rng = np.random.default_rng(0)
    rows = []
    for case in _cases(gpu.simulator, match):
        fn, kwargs, arrays, g, nbytes = _calls(case, gpu.batch, rng)
        call, refused = partial(fn, **_on_device(gpu.cuda, kwargs)), None
        try:
            call()
        except TypeError as err:  # the operation has no CUDA kernel; any other error is a bug
            if "cuda" not in str(err).lower():
                raise
            refused = str(err)
        seconds = gpu.time(call) if refused is None else None
        theirs = gpu.time_torch(_torch(case, arrays, g, "nchw", "cuda")) if gpu.torch else None
        rows.append(_row(case, gpu.batch, "nchw", nbytes, gpu.bandwidth, seconds, theirs))
        if refused:
            rows[-1]["no_cuda"] = refused
        if progress:
            progress(rows[-1])
    return gpu.result(rows)


# ---------------------------------------------------------------------------

def format_table(result):
    """The family's results as a Markdown table, one row per case, pass and memory layout."""
    head = ["case", "pass", "memory", "pooledu ms", "torch ms", "speed-up", "MB moved",
            "floor ms", "% of floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        ours, theirs = r["pooledu_ms"], r["torch_ms"]
        lines.append("| " + " | ".join([
            r["case"], r["pass_"], "NCHW" if r["layout"] == "nchw" else "channels-last",
            f"{ours:.2f}" if ours is not None else "no CUDA kernel",
            f"{theirs:.2f}" if theirs is not None else "-",
            f"{r['speed_up']:.2f}x" if r["speed_up"] is not None else "-",
            f"{r['bytes'] / 1e6:.1f}", f"{r['floor_ms']:.2f}",
            f"{100 * r['floor_share']:.0f}%" if r["floor_share"] is not None else "-"]) + " |")
    m = result["machine"]
    clock = "host clock" if result.get("simulator") else "CUDA events"
    where = (f"NCHW, on {m['gpu']}; {clock}, best of {result.get('repeats')} after warm-up; "
             "device-to-device copy" if result.get("device") == "cuda" else
             f"{m['numba_threads']} Numba threads, {m.get('torch_threads', '-')} PyTorch "
             "threads; copy (np.copyto)")
    lines += ["", f"batch {result['batch']}, float32, {where} {result['copy_gb_per_s']:.1f} GB/s "
              "(bytes read + written), measured in the same run; speed-up = torch ms / pooledu "
              "ms, > 1 means pooledu is faster; MB moved: the call's array arguments read once "
              "and its results written once; floor: those bytes at the copy bandwidth; "
              "% of floor: floor ms / pooledu ms; backward rows time the backward alone "
              "(PyTorch: autograd on a graph built beforehand)"]
    if result.get("simulator"):
        lines.append("SIMULATOR: no GPU, tiny shapes, host-clock times; these numbers mean "
                     "nothing about speed")
    return "\n".join(lines)
