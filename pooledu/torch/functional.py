"""pooledu's pooling functions on PyTorch tensors, with autograd: ``torch.nn.functional``'s names.

Each function here is one pooledu forward function and its ``_backward``
wrapped as a ``torch.autograd.Function``, with the name, arguments and
defaults of its ``torch.nn.functional`` namesake. The tensors are handed to
pooledu without a copy:

- a CPU tensor as a NumPy view of its memory (``tensor.detach().numpy()``),
  strides and all, so channels-last memory reaches pooledu's channels-last
  kernels; results come back with ``torch.from_numpy``, again without a copy;
- a CUDA tensor through ``__cuda_array_interface__`` to pooledu's CUDA
  kernels, whose Numba device arrays come back through
  ``torch.as_tensor(..., device=...)``, sharing their memory. The tensor
  must be on Numba's current device (device 0 unless changed).

An output has the memory layout PyTorch would give it: channels-last for a
channels-last input. The backward pass runs pooledu's backward kernel on the
incoming gradient made contiguous in that layout. The backward is not itself
differentiable (no double backward). pooledu computes in float32 and float64
only; other dtypes raise TypeError.
"""

import numpy as np
import torch
from torch.autograd.function import once_differentiable

import pooledu


# ---------------------------------------------------------------------------
# tensors <-> the arrays pooledu takes, without copies

def _check_input(input, op):
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{op}: input must be a torch.Tensor, got {type(input).__name__}")
    if input.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{op}: input must be float32 or float64 (the dtypes pooledu's kernels "
                        f"compute in), got {input.dtype}; convert it with input.float()")
    if input.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{op}: input must be on the CPU or a CUDA device, got {input.device}")


def _array(t):
    """A tensor as pooledu's array: a NumPy view (CPU) or the tensor itself (CUDA, read
    through ``__cuda_array_interface__``, which a tensor that requires grad refuses).
    Anything else (None for an absent optional tensor) goes to pooledu as it is, to be
    refused there with pooledu's message."""
    if not isinstance(t, torch.Tensor):
        return t
    t = t.detach()
    return t.numpy() if t.device.type == "cpu" else t


def _tensor(a, like):
    """pooledu's result (NumPy or Numba device array) as a tensor on ``like``'s device, sharing memory."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return torch.as_tensor(a, device=like.device)


def _on_pooledu_stream(t):
    """Hand ``t``'s device over to pooledu's kernels, and take it back afterwards.

    Numba launches pooledu's CUDA kernels on the legacy default stream, which
    is ordered with PyTorch's default stream but not with the non-blocking
    streams of ``torch.cuda.stream(...)``; under such a stream the call waits
    for PyTorch's queued work first and for its own kernels after.
    Returns the function to call after pooledu's call.
    """
    if t.device.type != "cuda" or torch.cuda.current_stream(t.device) == \
            torch.cuda.default_stream(t.device):
        return lambda: None
    torch.cuda.current_stream(t.device).synchronize()
    return lambda: torch.cuda.synchronize(t.device)


def _memory_format(t):
    """The layout PyTorch's pooling keeps: channels-last for (N, C, H, W) or (N, C, D, H, W)
    tensors stored that way (and not also plain contiguous), else contiguous."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    if (t.dim() == 5 and not t.is_contiguous()
            and t.is_contiguous(memory_format=torch.channels_last_3d)):
        return torch.channels_last_3d
    return torch.contiguous_format


def _device_layout(t):
    """The layout a result of pooledu's on ``t``'s device is put in. On the CPU none: pooledu
    lays its results out as PyTorch does (channels-last kept by 2D pooling and max_pool3d,
    not by the other 3D functions or fractional pooling; the operation table checks each).
    The CUDA kernels write contiguous results, which take the input's layout."""
    return _memory_format(t) if t.device.type == "cuda" else torch.contiguous_format


def _in_layout(t, memory_format):
    """``t`` in ``memory_format``; a copy only where pooledu gave another layout."""
    if memory_format is torch.contiguous_format or t.dim() not in (4, 5):
        return t
    return t.contiguous(memory_format=memory_format)


# ---------------------------------------------------------------------------
# one pooledu call as an autograd node

class _Call:
    """What one pooling call runs: ``forward(x, *others) -> y or (y, indices)`` and
    ``backward(grad, indices, x, *others) -> grad_x`` on pooledu's arrays.

    ``indices`` is None for the functions without them, ``x`` None unless
    ``keep_input`` (LP pooling's backward needs the input itself); ``others``
    are extra tensors that are not differentiated (unpooling's indices).
    """

    def __init__(self, op, forward, backward, keep_input=False):
        self.op, self.forward, self.backward, self.keep_input = op, forward, backward, keep_input

    def run(self, input, others):
        done = _on_pooledu_stream(input)
        out = self.forward(_array(input), *(_array(o) for o in others))
        done()
        y, idx = out if isinstance(out, tuple) else (out, None)
        layout = _device_layout(input)
        y = _in_layout(_tensor(y, input), layout)
        return y, None if idx is None else _in_layout(_tensor(idx, input), layout)


class _Pooling(torch.autograd.Function):
    """Forward and backward both pooledu's; PyTorch only records the node."""

    @staticmethod
    def forward(ctx, call, input, *others):
        y, idx = call.run(input, others)
        ctx.call, ctx.layout = call, _memory_format(y)  # the gradient comes in as y lies
        ctx.save_for_backward(idx, input if call.keep_input else None, *others)
        if idx is None:
            return y
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, *unused):  # unused: the indices' (zero) gradient
        idx, x, *others = ctx.saved_tensors
        # the kernels read plain memory: a broadcast or transposed gradient is copied
        # once, into the layout of the forward output (channels-last kernels for it)
        g = grad.contiguous(memory_format=ctx.layout)
        done = _on_pooledu_stream(g)
        gx = ctx.call.backward(_array(g), None if idx is None else _array(idx),
                               None if x is None else _array(x), *(_array(o) for o in others))
        done()
        on_cuda = grad.device.type == "cuda"  # as in forward: the CPU's layout is PyTorch's
        gx = _in_layout(_tensor(gx, grad), ctx.layout if on_cuda else torch.contiguous_format)
        return (None, gx) + (None,) * len(others)


def _pool(call, input, others=(), return_indices=False):
    """Run ``call``, recording an autograd node only when a gradient is wanted."""
    _check_input(input, call.op)
    if torch.is_grad_enabled() and input.requires_grad:
        out = _Pooling.apply(call, input, *others)
        y, idx = out if isinstance(out, tuple) else (out, None)
    else:
        y, idx = call.run(input, others)
    return (y, idx) if return_indices else y


# ---------------------------------------------------------------------------
# max and average pooling, 1D to 3D

def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    forward = getattr(pooledu, f"max_pool{nd}d")
    backward = getattr(pooledu, f"max_pool{nd}d_backward")
    window = (kernel_size, stride, padding, dilation, ceil_mode)
    shape = tuple(input.shape)
    call = _Call(f"max_pool{nd}d", lambda x: forward(x, *window, return_indices=True),
                 lambda g, idx, x: backward(g, idx, shape, *window))
    return _pool(call, input, return_indices=return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """``torch.nn.functional.max_pool1d`` by :func:`pooledu.max_pool1d` and its backward.

    Examples
    --------
    >>> max_pool1d(torch.tensor([[[1., 3., 2., 5.]]]), 2)
    tensor([[[3., 5.]]])
    """
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """``torch.nn.functional.max_pool2d`` by :func:`pooledu.max_pool2d` and its backward.

    Examples
    --------
    >>> x = torch.arange(16.).reshape(1, 1, 4, 4).requires_grad_()
    >>> y, idx = max_pool2d(x, 2, return_indices=True)
    >>> y
    tensor([[[[ 5.,  7.],
              [13., 15.]]]], grad_fn=<_PoolingBackward>)
    >>> y.sum().backward(); int(x.grad.sum()), idx.flatten().tolist()
    (4, [5, 7, 13, 15])
    """
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """``torch.nn.functional.max_pool3d`` by :func:`pooledu.max_pool3d` and its backward.

    Examples
    --------
    >>> max_pool3d(torch.arange(8.).reshape(1, 1, 2, 2, 2), 2).flatten()
    tensor([7.])
    """
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(nd, input, *window):
    """window: kernel_size, stride, padding, ceil_mode, count_include_pad[, divisor_override]."""
    forward = getattr(pooledu, f"avg_pool{nd}d")
    backward = getattr(pooledu, f"avg_pool{nd}d_backward")
    shape = tuple(input.shape)
    call = _Call(f"avg_pool{nd}d", lambda x: forward(x, *window),
                 lambda g, idx, x: backward(g, shape, *window))
    return _pool(call, input)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """``torch.nn.functional.avg_pool1d`` by :func:`pooledu.avg_pool1d` and its backward.

    Examples
    --------
    >>> avg_pool1d(torch.tensor([[[1., 3., 2., 6.]]]), 2)
    tensor([[[2., 4.]]])
    """
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """``torch.nn.functional.avg_pool2d`` by :func:`pooledu.avg_pool2d` and its backward.

    Examples
    --------
    >>> avg_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """``torch.nn.functional.avg_pool3d`` by :func:`pooledu.avg_pool3d` and its backward.

    Examples
    --------
    >>> avg_pool3d(torch.arange(8.).reshape(1, 1, 2, 2, 2), 2).flatten()
    tensor([3.5000])
    """
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ---------------------------------------------------------------------------
# adaptive pooling

def _adaptive_avg(nd, input, output_size):
    forward = getattr(pooledu, f"adaptive_avg_pool{nd}d")
    backward = getattr(pooledu, f"adaptive_avg_pool{nd}d_backward")
    shape = tuple(input.shape)
    call = _Call(f"adaptive_avg_pool{nd}d", lambda x: forward(x, output_size),
                 lambda g, idx, x: backward(g, shape))
    return _pool(call, input)


def _adaptive_max(nd, input, output_size, return_indices):
    forward = getattr(pooledu, f"adaptive_max_pool{nd}d")
    backward = getattr(pooledu, f"adaptive_max_pool{nd}d_backward")
    shape = tuple(input.shape)
    call = _Call(f"adaptive_max_pool{nd}d", lambda x: forward(x, output_size, True),
                 lambda g, idx, x: backward(g, idx, shape))
    return _pool(call, input, return_indices=return_indices)


def adaptive_avg_pool1d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool1d`` by :func:`pooledu.adaptive_avg_pool1d`.

    Examples
    --------
    >>> adaptive_avg_pool1d(torch.tensor([[[1., 3., 2., 6.]]]), 1)
    tensor([[[3.]]])
    """
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool2d`` by :func:`pooledu.adaptive_avg_pool2d`.

    Examples
    --------
    >>> adaptive_avg_pool2d(torch.ones(2, 512, 7, 7), 1).shape
    torch.Size([2, 512, 1, 1])
    """
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool3d`` by :func:`pooledu.adaptive_avg_pool3d`.

    Examples
    --------
    >>> adaptive_avg_pool3d(torch.arange(8.).reshape(1, 1, 2, 2, 2), 1).flatten()
    tensor([3.5000])
    """
    return _adaptive_avg(3, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool1d`` by :func:`pooledu.adaptive_max_pool1d`.

    Examples
    --------
    >>> adaptive_max_pool1d(torch.tensor([[[1., 3., 2., 6.]]]), 2, return_indices=True)
    (tensor([[[3., 6.]]]), tensor([[[1, 3]]]))
    """
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool2d`` by :func:`pooledu.adaptive_max_pool2d`.

    Examples
    --------
    >>> adaptive_max_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), (1, 2))
    tensor([[[[13., 15.]]]])
    """
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool3d`` by :func:`pooledu.adaptive_max_pool3d`.

    Examples
    --------
    >>> adaptive_max_pool3d(torch.arange(8.).reshape(1, 1, 2, 2, 2), 1).flatten()
    tensor([7.])
    """
    return _adaptive_max(3, input, output_size, return_indices)


# ---------------------------------------------------------------------------
# LP, fractional and unpooling

def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    forward = getattr(pooledu, f"lp_pool{nd}d")
    backward = getattr(pooledu, f"lp_pool{nd}d_backward")
    window = (norm_type, kernel_size, stride, ceil_mode)
    call = _Call(f"lp_pool{nd}d", lambda x: forward(x, *window),
                 lambda g, idx, x: backward(g, x, *window), keep_input=True)
    return _pool(call, input)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``torch.nn.functional.lp_pool1d`` by :func:`pooledu.lp_pool1d` and its backward.

    Examples
    --------
    >>> lp_pool1d(torch.tensor([[[3., 4., 1.]]]), 2, 2)
    tensor([[[5.]]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``torch.nn.functional.lp_pool2d`` by :func:`pooledu.lp_pool2d` and its backward.

    Examples
    --------
    >>> lp_pool2d(torch.tensor([[[[3., 4.], [0., 0.]]]]), 2, 2)
    tensor([[[[5.]]]])
    """
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """``torch.nn.functional.fractional_max_pool2d`` by :func:`pooledu.fractional_max_pool2d`.

    Without ``_random_samples`` the samples are drawn as PyTorch draws them
    (``torch.rand(N, C, 2)`` in the input's dtype, from PyTorch's generator),
    so under the same ``torch.manual_seed`` both pick the same windows.

    Examples
    --------
    >>> x = torch.arange(25.).reshape(1, 1, 5, 5)
    >>> fractional_max_pool2d(x, 2, output_size=3, _random_samples=torch.full((1, 1, 2), 0.5))
    tensor([[[[ 6.,  8.,  9.],
              [16., 18., 19.],
              [21., 23., 24.]]]])
    """
    op = "fractional_max_pool2d"
    _check_input(input, op)
    if _random_samples is None and input.dim() in (3, 4):  # other shapes: pooledu says why not
        n_batch = 1 if input.dim() == 3 else input.size(0)
        _random_samples = torch.rand(n_batch, input.size(-3), 2, dtype=input.dtype,
                                     device=input.device)
    shape = tuple(input.shape)
    call = _Call(op, lambda x, u: pooledu.fractional_max_pool2d(
                     x, kernel_size, output_size, output_ratio, True, random_samples=u),
                 lambda g, idx, x, u: pooledu.fractional_max_pool2d_backward(
                     g, idx, shape, kernel_size))
    return _pool(call, input, (_random_samples,), return_indices)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``torch.nn.functional.max_unpool2d`` by :func:`pooledu.max_unpool2d` and its backward.

    Examples
    --------
    >>> y, idx = max_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2, return_indices=True)
    >>> max_unpool2d(y, idx, 2)[0, 0]
    tensor([[ 0.,  0.,  0.,  0.],
            [ 0.,  5.,  0.,  7.],
            [ 0.,  0.,  0.,  0.],
            [ 0., 13.,  0., 15.]])
    """
    op = "max_unpool2d"
    if not isinstance(indices, torch.Tensor):
        raise TypeError(f"{op}: indices must be a torch.Tensor, got {type(indices).__name__}")
    call = _Call(op, lambda x, i: pooledu.max_unpool2d(x, i, kernel_size, stride, padding,
                                                        output_size),
                 lambda g, idx, x, i: pooledu.max_unpool2d_backward(g, i))
    return _pool(call, input, (indices,))
