"""The tests every pooling operation gets, one set per row of ``operations.OPERATIONS``.

- PyTorch parity: values, indices and gradients, and the memory layout of
  each (channels-last kept where PyTorch keeps it), on hypothesis cases with
  NaN, infinities, ties, padding, ceil_mode, empty batches and every memory
  layout.
- The fast CPU schedule gives the reference schedule's bits.
- Bad input is refused with a TypeError or ValueError naming the argument,
  before any kernel runs.
"""

import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pooledu as P
from pooledu import dispatch
from operations import OPERATIONS, tiny_case, torch_args
from test_pool2d import grad_like
from test_schedules import grads, same_bits

torch.set_num_threads(1)  # max_unpool2d's colliding indices: the last write wins on one thread

rows = pytest.mark.parametrize("op", OPERATIONS, ids=str)


def gradient(op, x, args, outs, make=grad_like):
    """pooledu's gradient for a fixed output gradient, and the output gradient,
    which lies in memory as the output does (as autograd hands it on)."""
    g = np.empty_like(outs[0])
    g[...] = make(outs[0])
    return op.backward(g, x, outs, args), g


def memory_format(a):
    """'contiguous', 'channels_last' or 'other'; None where the strides cannot tell.

    A dimension of size 1 can have any stride, and PyTorch settles such
    shapes by a heuristic of its own; only arrays whose channel and spatial
    dimensions all exceed 1 are compared.
    """
    if a.ndim in (4, 5) and min(a.shape[1:]) < 2:
        return None
    if isinstance(a, torch.Tensor):
        plain = a.is_contiguous()
        last = a.dim() in (4, 5) and a.is_contiguous(
            memory_format=torch.channels_last if a.dim() == 4 else torch.channels_last_3d)
    else:
        plain = a.flags.c_contiguous
        last = a.ndim in (4, 5) and np.moveaxis(a, 1, -1).flags.c_contiguous
    if plain and last:
        return None  # one channel, or one pixel: both at once
    return "contiguous" if plain else "channels_last" if last else "other"


def same_layout(ours, theirs, name):
    """Our result lies in memory as PyTorch's does (where one of the two layouts can tell)."""
    mine, torchs = memory_format(ours), memory_format(theirs)
    if None not in (mine, torchs):
        assert mine == torchs, f"{name}: pooledu returns {mine} memory, PyTorch {torchs}"


@rows
@settings(max_examples=40)
@given(data=st.data())
def test_matches_torch(op, data):
    x, args = data.draw(op.cases())
    outs = op.forward(x, **args)
    t = torch.from_numpy(np.array(x)).requires_grad_(True)
    theirs = op.oracle(t, **torch_args(args))
    op.compare(outs[0], theirs[0].detach().numpy(), x, args)
    for ours, torchs, name in zip(outs, theirs, ("output", "indices")):
        same_layout(ours, torchs, name)
    if len(outs) > 1:
        op.compare_indices(outs[1], theirs[1].numpy(), x, args)
        if (outs[1] == -1).any():
            return  # a window of padding only: PyTorch's backward would write out of bounds
    if op.finite_gradient:
        x = np.where(np.isfinite(x), x, np.asarray(1.5, x.dtype))
        t = torch.from_numpy(x).requires_grad_(True)
        outs, theirs = op.forward(x, **args), op.oracle(t, **torch_args(args))
    gx, g = gradient(op, x, args, outs)
    theirs[0].backward(torch.from_numpy(g))
    op.compare_grad(gx, t.grad.numpy(), x, args)
    if gx.ndim == theirs[0].dim():
        # the gradient lies as the output does, as PyTorch's backward kernels
        # write it (t.grad itself is restrided to the input's layout by autograd)
        same_layout(gx, theirs[0], "gradient")


def ties(y):
    """An output gradient with ties and -0.0 in it: the gathers must keep their signs."""
    return grads(y.shape, y.dtype)


@rows
@settings(max_examples=25)
@given(data=st.data())
def test_fast_schedule_gives_the_reference_bits(op, data):
    x, args = data.draw(op.cases())
    results = []
    for name in ("reference", "fast"):
        with P.schedule(name):
            outs = op.forward(x, **args)
            results.append(outs + (gradient(op, x, args, outs, ties)[0],))
    for fast, reference in zip(*results):
        same_bits(fast, reference)


def block_kernels(monkeypatch):
    """Every kernel lookup fails from here on: a check that comes too late shows up as this error."""
    def refuse(name, be=None):
        raise AssertionError(f"the kernel {name} was looked up before the checks refused the input")
    for module in list(sys.modules.values()):
        if module and module.__name__.startswith("pooledu") and \
                getattr(module, "kernel", None) is dispatch.kernel:
            monkeypatch.setattr(module, "kernel", refuse)


@pytest.fixture
def no_kernels(monkeypatch):
    block_kernels(monkeypatch)


@rows
def test_bad_input_is_refused_by_name_before_any_kernel(op, no_kernels):
    x, args = tiny_case(op)
    with pytest.raises(TypeError, match="input must be a NumPy array"):
        op.forward(x.tolist(), **args)
    with pytest.raises(TypeError, match="input must be float32 or float64, got dtype int32"):
        op.forward(np.nan_to_num(x).astype(np.int32), **args)
    with pytest.raises(ValueError, match=r"input must be .*got shape \(1, 1,"):
        op.forward(x[None, None], **args)
    first = next(iter(args))  # the first argument after the input, as a string
    with pytest.raises((TypeError, ValueError), match=first):
        op.forward(x, **{**args, first: "two"})


@rows
def test_bad_gradients_are_refused_by_name_before_any_kernel(op, monkeypatch):
    x, args = tiny_case(op)
    outs = op.forward(x, **args)
    g = grad_like(outs[0])
    block_kernels(monkeypatch)
    with pytest.raises(ValueError, match="grad_output"):
        op.backward(np.stack([g, g], -1), x, outs, args)  # one dimension too many
    with pytest.raises(TypeError, match="grad_output"):
        op.backward(g.tolist(), x, outs, args)
