"""The operation table: one row per pooling operation, for the tests that hold for all of them.

A row says how to draw a case (an input array and the arguments), how
pooledu runs it forward and backward, how PyTorch runs it (the oracle) and
how closely the two must agree. ``test_operations.py`` turns every row into
the same tests: PyTorch parity (values, indices, gradients), the fast
schedule against the reference one, bad input refused before any kernel
runs, and the CUDA simulator. A new operation is tested by adding a row.

The cases are hypothesis strategies of ``(x, args)``: ``x`` a NumPy input
in any memory layout, ``args`` the keyword arguments of pooledu's forward
function. Array arguments (indices, random samples) travel in ``args`` and
reach PyTorch as tensors.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume
from hypothesis import strategies as st

import pooledu as P
from strategies import layouts, values, window_1d


# ---------------------------------------------------------------------------
# how closely pooledu must agree with PyTorch

def bitwise(ours, theirs, x, args):
    """Same shape, dtype and bits (NaN where NaN): the contract of max pooling and of averages
    that add in PyTorch's order."""
    np.testing.assert_array_equal(ours, theirs, strict=True)


def ulps(n):
    """Same NaN and inf positions; finite values within ``n`` units in the last place."""
    def compare(ours, theirs, x, args):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        inf = np.isinf(theirs)
        np.testing.assert_array_equal(ours[inf], theirs[inf])
        ok = np.isfinite(theirs)
        spacing = np.spacing(np.abs(theirs[ok]).astype(ours.dtype))
        assert np.all(np.abs(ours[ok] - theirs[ok]) <= n * spacing)
    return compare


def plane_mean(nd):
    """A mean over a whole plane (of ``nd`` dimensions), which PyTorch sums pairwise in
    another order: within a few ulps of the plane's magnitude (the error bound of any float sum)."""
    return lambda ours, theirs, x, args: _plane_mean(ours, theirs, x, nd)


def _plane_mean(ours, theirs, x, nd):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    scale = np.abs(x.astype(np.float64)).mean(axis=tuple(range(-nd, 0))).reshape(ours.shape)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_array_equal(ours[~finite], theirs[~finite])
    tol = 4 * np.finfo(ours.dtype).eps * scale
    assert np.all(np.abs(ours[finite] - theirs[finite]) <= tol[finite])


def close(ours, theirs, x, args):
    """Gradients through pow: close relative to the array's scale."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = np.isfinite(theirs)
    np.testing.assert_array_equal(ours[~ok & ~np.isnan(theirs)], theirs[~ok & ~np.isnan(theirs)])
    if ok.any():
        rtol = 2e-5 if ours.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(ours[ok], theirs[ok], rtol=rtol,
                                   atol=rtol * np.abs(theirs[ok]).max())


def max_indices(ours, theirs, x, args):
    """Indices equal, except where a window holds only padding: pooledu says -1 (and its
    value is -inf), PyTorch returns an index outside the plane."""
    assert ours.dtype == np.int64 and ours.shape == theirs.shape
    empty = ours == -1
    np.testing.assert_array_equal(ours[~empty], theirs[~empty])


# ---------------------------------------------------------------------------
# the cases

def _spell(draw, values_):
    """PyTorch accepts both 2 and (2, 2): exercise both spellings."""
    return values_[0] if len(set(values_)) == 1 and draw(st.booleans()) else tuple(values_)


def _dtype(draw):
    return draw(st.sampled_from([np.float32, np.float64]))


def _batch(draw):
    return draw(st.sampled_from([(), (0,), (1,), (2,)]))


def _input(draw, shape, dtype, nd=2):
    return draw(layouts(draw(values(shape, dtype)), spatial=nd))


@st.composite
def window_cases(draw, nd, dilation, average=False):
    """A valid nd-dimensional pooling window over a small input (x, args)."""
    dims = [draw(window_1d(dilation, max_size=9 if nd < 3 else 5)) for _ in range(nd)]
    shape = _batch(draw) + (draw(st.integers(1, 3)),) + tuple(d[0] for d in dims)
    kernel, stride = [d[1] for d in dims], [d[2] for d in dims]
    args = dict(kernel_size=_spell(draw, kernel),
                stride=draw(st.sampled_from([None, _spell(draw, stride)])) if kernel == stride
                else _spell(draw, stride),
                padding=_spell(draw, [d[3] for d in dims]), ceil_mode=draw(st.booleans()))
    if dilation:
        args["dilation"] = _spell(draw, [d[4] for d in dims])
    if average:
        args["count_include_pad"] = draw(st.booleans())
        if nd > 1:
            args["divisor_override"] = draw(st.sampled_from([None, None, 1, 3, -2]))
        if nd == 3:
            assume(all(n >= k for n, k in zip(shape[-3:], kernel)))  # avg_pool3d's extra rule
    return _input(draw, shape, _dtype(draw), nd), args


@st.composite
def adaptive_cases(draw, nd):
    spatial = tuple(draw(st.integers(1, 9 if nd < 3 else 6)) for _ in range(nd))
    shape = _batch(draw) + (draw(st.integers(1, 3)),) + spatial
    out = [draw(st.integers(1, n + 3)) for n in spatial]
    if nd > 1:
        out = [draw(st.sampled_from([o, o, None])) for o in out]  # None keeps the input size
    out = out[0] if nd == 1 else tuple(out) if None in out else _spell(draw, out)
    return _input(draw, shape, _dtype(draw), nd), dict(output_size=out)


@st.composite
def global_cases(draw):
    shape = _batch(draw) + (draw(st.integers(1, 3)), draw(st.integers(1, 7)),
                            draw(st.integers(1, 7)))
    return _input(draw, shape, _dtype(draw)), dict(keepdims=draw(st.booleans()))


# Powers PyTorch computes exactly (x*x, x*x*x, 1/x, 1/(x*x)) or by max pooling
# (inf): the signed sums then agree exactly before the root. Powers that go
# through pow(): a fractional p makes negative inputs NaN in both; an odd
# integer p would let a 1-ulp pow difference grow by cancellation in the sum,
# so odd generic powers see |x| only.
EXACT_POWERS = [1, 2, 3, -1, -2, math.inf, -math.inf]
GENERIC_POWERS = [0.5, -0.5, 1.5, 2.5, 4, 7, -1.5]


@st.composite
def lp_cases(draw, nd):
    kernel = [draw(st.integers(1, 4)) for _ in range(nd)]
    stride = [draw(st.integers(1, 4)) for _ in range(nd)]
    spatial = tuple(draw(st.integers(k, k + 6)) for k in kernel)
    shape = _batch(draw) + (draw(st.integers(1, 3)),) + spatial
    p = draw(st.sampled_from(EXACT_POWERS + GENERIC_POWERS))
    x = draw(values(shape, _dtype(draw)))
    if p == 7:
        x = np.abs(x)
    args = dict(norm_type=p, kernel_size=_spell(draw, kernel) if nd > 1 else kernel[0],
                stride=draw(st.sampled_from([None, _spell(draw, stride) if nd > 1 else stride[0]])),
                ceil_mode=draw(st.booleans()))
    return draw(layouts(x)), args


@st.composite
def fractional_cases(draw):
    kernel = [draw(st.integers(1, 4)) for _ in range(2)]
    out = [draw(st.integers(1, 6)) for _ in range(2)]
    spatial = tuple(draw(st.integers(k + o - 1, k + o + 6)) for k, o in zip(kernel, out))
    shape = _batch(draw) + (draw(st.integers(1, 3)),) + spatial
    dtype = _dtype(draw)
    lead = (1,) + shape[:1] if len(shape) == 3 else shape[:2]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    args = dict(kernel_size=tuple(kernel), output_size=tuple(out),
                random_samples=rng.random(lead + (2,)).astype(dtype))
    return _input(draw, shape, dtype), args


@st.composite
def unpool_cases(draw):
    """Pooled values and their indices, from max_pool2d of a random input."""
    x, args = draw(window_cases(2, dilation=False))
    x = np.ascontiguousarray(x)  # the pooled values get the layouts below
    del args["ceil_mode"]
    y, idx = P.max_pool2d(x, return_indices=True, **args)
    assume(not (idx < 0).any())  # a window of padding only: PyTorch's index is garbage
    k, s, p = (P.geometry.as_tuple(args[a], a, "max_unpool2d") if args[a] is not None else None
               for a in ("kernel_size", "stride", "padding"))
    s = s or k
    default = tuple((n - 1) * s_ - 2 * p_ + k_ for n, k_, s_, p_ in zip(y.shape[-2:], k, s, p))
    assume(min(default) > 0)  # an empty output is refused (see test_family_validation)
    size = draw(st.one_of(st.none(), st.tuples(
        *[st.integers(max(1, d - s_ + 1), d + s_ - 1) for d, s_ in zip(default, s)])))
    plane = size or default
    assume(idx.size == 0 or idx.max() < plane[0] * plane[1])
    return draw(layouts(y)), dict(indices=idx, output_size=size, **args)


@st.composite
def broadcast_cases(draw):
    shape = (draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
             draw(st.integers(1, 9)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return _input(draw, shape, _dtype(draw)), dict(kernel_size=_spell(draw, kernel))


# ---------------------------------------------------------------------------
# PyTorch's side, where it is more than one call

def torch_args(args):
    """pooledu's keyword arguments as PyTorch takes them."""
    out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    if "random_samples" in out:
        out["_random_samples"] = out.pop("random_samples")
    return out


def torch_global(pool):
    def run(t, keepdims, return_indices=False):
        out = pool(t, 1, return_indices=True) if return_indices else (pool(t, 1),)
        return tuple(o if keepdims else o[..., 0, 0] for o in out)
    return run


def torch_channels_last(t):
    """``t`` with the strides of PyTorch's channels_last, where its memory is channels-last.

    The tests hand PyTorch a NumPy copy of the input, and NumPy may give a
    dimension of size 1 any stride; PyTorch's layout heuristic reads them, so
    a (1, C, H, 1) channels-last copy can look contiguous to it. Unpooling
    makes such a unit dimension a larger one, where the layouts are compared.
    """
    if P.checks.is_channels_last(t.detach().numpy()):
        return torch.empty_like(t, memory_format=torch.channels_last).copy_(t)
    return t


def torch_broadcast(t, kernel_size):
    """max_pool2d with ceil_mode (partial border windows), then each max repeated over its window."""
    k = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    H, W = t.shape[-2:]
    m, idx = F.max_pool2d(t, k, ceil_mode=True, return_indices=True)
    y = m.repeat_interleave(k[0], dim=-2).repeat_interleave(k[1], dim=-1)[..., :H, :W]
    # laid out as PyTorch's pooling lays out its results: as the input is
    last = t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
    return y.contiguous(memory_format=torch.channels_last if last else torch.contiguous_format), idx


# ---------------------------------------------------------------------------
# a row's fixed small case

def tiny_input(shape, dtype=np.float32, seed=0):
    """Halves of small normals (so windows hold ties), with a NaN where there is room."""
    x = (np.round(2 * np.random.default_rng(seed).standard_normal(shape)) / 2).astype(dtype)
    if x.size > 8:
        x.flat[7] = np.nan
    return x


def tiny_args(op, x, put=lambda a: a):
    """The row's tiny arguments for input ``x``: arrays in its dtype (indices stay
    int64), per-image ones (indices, random samples) repeated for its batch, all
    passed through ``put`` (e.g. onto a CUDA device)."""
    args = {}
    for name, v in op.tiny[1].items():
        if isinstance(v, np.ndarray):
            v = v.astype(x.dtype) if v.dtype.kind == "f" else v
            v = put(np.broadcast_to(v, x.shape[:1] + v.shape[1:]).copy())
        args[name] = v
    return args


def tiny_case(op, dtype=np.float32):
    """The row's tiny case as (x, args), on the host."""
    x = tiny_input(op.tiny[0], dtype)
    return x, tiny_args(op, x)


# ---------------------------------------------------------------------------
# the table

@dataclass(frozen=True)
class Operation:
    """One pooling operation, as the generic tests see it.

    ``forward(x, **args)`` and ``oracle(t, **args)`` return a tuple: the output,
    then the indices for operations that have them. ``backward(g, x, outs, args)``
    is pooledu's gradient with respect to ``x``, given the forward outputs.
    """
    name: str
    cases: Callable               # nothing -> strategy of (x, args)
    forward: Callable
    backward: Callable
    oracle: Callable
    compare: Callable = bitwise   # values: (ours, theirs, x, args)
    compare_indices: Callable = bitwise
    compare_grad: Callable = bitwise
    nd: int = 2                   # spatial dimensions of the input
    finite_gradient: bool = False  # PyTorch's gradient needs finite input (its chain rule meets inf * 0)
    # one fixed small case, (input shape, args), for the CUDA simulator (which
    # runs every GPU thread in Python) and for the bad-input tests
    tiny: tuple = None
    fused: bool = False           # on a real GPU NVVM fuses its multiply-adds: a few ulps off the CPU

    def __repr__(self):
        return self.name


def _with_indices(fn):
    return lambda x, **a: fn(x, return_indices=True, **a)


def max_row(name, nd, oracle, **row):
    ours, backward = getattr(P, name), getattr(P, name + "_backward")
    return Operation(name, lambda: window_cases(nd, dilation=True), _with_indices(ours),
                     lambda g, x, outs, a: backward(g, outs[1], x.shape, **a),
                     _with_indices(oracle), compare_indices=max_indices, nd=nd, **row)


def avg_row(name, nd, oracle, **row):
    ours, backward = getattr(P, name), getattr(P, name + "_backward")
    return Operation(name, lambda: window_cases(nd, dilation=False, average=True),
                     lambda x, **a: (ours(x, **a),),
                     lambda g, x, outs, a: backward(g, x.shape, **a),
                     lambda t, **a: (oracle(t, **a),), nd=nd, **row)


def adaptive_row(name, nd, oracle, **row):
    ours, backward = getattr(P, name), getattr(P, name + "_backward")
    if "max" in name:
        return Operation(name, lambda: adaptive_cases(nd), _with_indices(ours),
                         lambda g, x, outs, a: backward(g, outs[1], x.shape),
                         _with_indices(oracle), nd=nd, **row)

    def compare(ours_, theirs, x, args):  # one output cell: PyTorch takes a pairwise mean
        (plane_mean(nd) if ours_.shape[-nd:] == (1,) * nd else bitwise)(ours_, theirs, x, args)
    return Operation(name, lambda: adaptive_cases(nd), lambda x, **a: (ours(x, **a),),
                     lambda g, x, outs, a: backward(g, x.shape), lambda t, **a: (oracle(t, **a),),
                     compare=compare, nd=nd, **row)


def lp_row(name, nd, oracle, **row):
    ours, backward = getattr(P, name), getattr(P, name + "_backward")

    def compare(ours_, theirs, x, args):
        exact = args["norm_type"] in (1, -1, math.inf, -math.inf)
        ulps(0 if exact else 4)(ours_, theirs, x, args)

    def compare_grad(ours_, theirs, x, args):
        exact = args["norm_type"] in (1, math.inf, -math.inf)
        (bitwise if exact else close)(ours_, theirs, x, args)
    return Operation(name, lambda: lp_cases(nd), lambda x, **a: (ours(x, **a),),
                     lambda g, x, outs, a: backward(g, x, **a), lambda t, **a: (oracle(t, **a),),
                     compare=compare, compare_grad=compare_grad, nd=nd, finite_gradient=True,
                     fused=True, **row)


OPERATIONS = [
    max_row("max_pool1d", 1, F.max_pool1d,
            tiny=((2, 2, 5), dict(kernel_size=2, stride=1, padding=1))),
    max_row("max_pool2d", 2, F.max_pool2d,
            tiny=((1, 2, 4, 5), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2)))),
    max_row("max_pool3d", 3, F.max_pool3d,
            tiny=((1, 2, 3, 3, 4), dict(kernel_size=2, stride=(1, 2, 2), padding=(0, 1, 1)))),
    avg_row("avg_pool1d", 1, F.avg_pool1d,
            tiny=((2, 2, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                  count_include_pad=False))),
    avg_row("avg_pool2d", 2, F.avg_pool2d,
            tiny=((1, 2, 4, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))),
    avg_row("avg_pool3d", 3, F.avg_pool3d,
            tiny=((1, 2, 3, 3, 4), dict(kernel_size=2, stride=1, padding=1, divisor_override=3))),
    adaptive_row("adaptive_avg_pool1d", 1, F.adaptive_avg_pool1d,
                 tiny=((2, 2, 5), dict(output_size=3))),
    adaptive_row("adaptive_avg_pool2d", 2, F.adaptive_avg_pool2d,
                 tiny=((1, 2, 5, 4), dict(output_size=(3, 3)))),
    adaptive_row("adaptive_avg_pool3d", 3, F.adaptive_avg_pool3d,
                 tiny=((1, 2, 3, 4, 3), dict(output_size=(2, 3, 2)))),
    adaptive_row("adaptive_max_pool1d", 1, F.adaptive_max_pool1d,
                 tiny=((2, 2, 5), dict(output_size=3))),
    adaptive_row("adaptive_max_pool2d", 2, F.adaptive_max_pool2d,
                 tiny=((1, 2, 5, 4), dict(output_size=(3, 3)))),
    adaptive_row("adaptive_max_pool3d", 3, F.adaptive_max_pool3d,
                 tiny=((1, 2, 3, 4, 3), dict(output_size=(2, 3, 2)))),
    Operation("global_avg_pool2d", global_cases, lambda x, **a: (P.global_avg_pool2d(x, **a),),
              lambda g, x, outs, a: P.global_avg_pool2d_backward(g, x.shape),
              torch_global(F.adaptive_avg_pool2d), compare=plane_mean(2), compare_grad=ulps(1),
              tiny=((1, 2, 3, 4), dict(keepdims=False))),
    Operation("global_max_pool2d", global_cases, _with_indices(P.global_max_pool2d),
              lambda g, x, outs, a: P.global_max_pool2d_backward(g, outs[1], x.shape),
              lambda t, **a: torch_global(F.adaptive_max_pool2d)(t, return_indices=True, **a),
              tiny=((1, 2, 3, 4), dict(keepdims=True))),
    lp_row("lp_pool1d", 1, F.lp_pool1d,
           tiny=((2, 2, 5), dict(norm_type=3, kernel_size=2, ceil_mode=True))),
    lp_row("lp_pool2d", 2, F.lp_pool2d,
           tiny=((1, 2, 4, 5), dict(norm_type=2, kernel_size=2, ceil_mode=True))),
    Operation("fractional_max_pool2d", fractional_cases, _with_indices(P.fractional_max_pool2d),
              lambda g, x, outs, a: P.fractional_max_pool2d_backward(g, outs[1], x.shape,
                                                                     a["kernel_size"]),
              _with_indices(F.fractional_max_pool2d),
              tiny=((1, 2, 5, 5), dict(kernel_size=2, output_size=3, random_samples=np.array(
                  [[[0.25, 0.75], [0.5, 0.1]]])))),
    Operation("max_unpool2d", unpool_cases, lambda x, **a: (P.max_unpool2d(x, **a),),
              lambda g, x, outs, a: P.max_unpool2d_backward(g, a["indices"]),
              lambda t, **a: (F.max_unpool2d(torch_channels_last(t), **a),),
              # what max_pool2d(k=2) keeps of a 4x4 plane whose maxima sit at
              # corners; the second plane's indices collide (the last write wins)
              tiny=((1, 2, 2, 2), dict(indices=np.array([[[[0, 3], [12, 15]], [[5, 5], [9, 10]]]]),
                                       kernel_size=2))),
    # PyTorch has no max-broadcast pooling: the oracle composes it from two calls
    Operation("max_broadcast_pool2d", broadcast_cases, _with_indices(P.max_broadcast_pool2d),
              lambda g, x, outs, a: P.max_broadcast_pool2d_backward(g, outs[1], **a),
              torch_broadcast, compare_grad=close, tiny=((1, 2, 3, 5), dict(kernel_size=2))),
]
