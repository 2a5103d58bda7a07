"""The CUDA kernels against the CPU kernels: one table row per operation.

The pooling operations are the rows of the operation table
(``operations.py``), run on their tiny case; the operations outside it
(convolution and its transpose, blur and attention pooling, LP's p = -inf)
have rows here. Each
row has a tiny input shape, its forward call and its backward call, written
once for both devices: ``put`` moves a host array (a query, random samples,
indices, an upstream gradient) to where the input lives.
Each row is run on NumPy arrays and on device arrays, and every output and
gradient must agree bit for bit: the CUDA kernels call the CPU kernels'
formulas, in the CPU's order. (In Numba's CUDA simulator, which
tests/conftest.py switches on without a GPU, they run the very same Python
arithmetic; on a real GPU the rows marked ``fused``, LP, attention and blur
pooling and the convolution, are compared to a few ulps: NVVM fuses their
multiply-adds and libdevice computes their ``exp`` and powers, see
``pooledu/cuda_family.py``.)
The CPU kernels are themselves checked against PyTorch by the operation table.

A new pooling operation is tested here by its row in ``operations.py``. Shapes stay tiny: the simulator
runs each GPU thread as a Python thread.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from numba import cuda

import pooledu as P
from operations import OPERATIONS, tiny_args, tiny_case, tiny_input
from pooledu import cuda as pcuda
from pooledu import extra as E
import pooledu as F  # the family's public functions

pytestmark = [pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")]


def host_put(a):
    return a


def device_put(a):
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    """A device output back on the host (asserting it is a device array), a host one as is."""
    if isinstance(a, np.ndarray):
        return a
    assert getattr(a, "__cuda_ndarray__", False), f"expected a device array, got {type(a)}"
    return a.copy_to_host()


@dataclass
class Op:
    """One operation: ``forward(x, put)`` returns a tuple of arrays, the first the one
    a gradient flows into; ``backward(g, x, out, put)`` returns a tuple of gradients."""
    name: str
    shape: tuple
    forward: Callable
    backward: Callable
    fused: bool = False     # on a GPU: multiply-adds fused, exp and pow from libdevice


SAMPLES = np.array([0.25, 0.75, 0.5, 0.1], np.float32).reshape(1, 2, 2)  # (N, C, 2)
QUERY = np.array([0.5, -1.0, 2.0], np.float32)                           # D = 3
KEY = np.array([[1.0, 0.5], [-0.5, 2.0], [0.25, 1.0]], np.float32)      # (D, C) = (3, 2)
FILTERS = np.arange(-6, 6, dtype=np.float32).reshape(3, 2, 1, 2) / 4     # (C_out, C_in, kh, kw)
BIAS = np.array([0.5, -1.0, 0.25], np.float32)


def with_batch(a, n):
    """Samples shaped for a batch of n images (the rows give them for N = 1)."""
    return np.broadcast_to(a, (n,) + a.shape[1:]).copy()


def like(a, x):
    """A host constant in the dtype of input x (host or device)."""
    return a.astype(x.dtype)


def from_table(row):
    """A row of the operation table as a row here: its tiny case, on either device."""
    return Op(row.name, row.tiny[0],
              lambda x, put: row.forward(x, **tiny_args(row, x, put)),
              lambda g, x, out, put: (row.backward(g, x, out, tiny_args(row, x, put)),),
              fused=row.fused)


OPS = [from_table(row) for row in OPERATIONS] + [
    Op("lp_pool2d_inf", (1, 2, 4, 5),
       lambda x, put: (F.lp_pool2d(x, -math.inf, 2, 1),),
       lambda g, x, out, put: (F.lp_pool2d_backward(g, x, -math.inf, 2, 1),)),
    Op("conv2d", (2, 2, 3, 4),
       lambda x, put: (P.conv2d(x, put(like(FILTERS, x)), put(like(BIAS, x)), stride=(1, 2),
                                padding=1, dilation=(2, 1)),),
       lambda g, x, out, put: P.conv2d_backward(g, x, put(like(FILTERS, x)), stride=(1, 2),
                                                padding=1, dilation=(2, 1)),
       fused=True),
    Op("conv_transpose2d", (2, 3, 3, 2),  # FILTERS read as (C_in, C_out, kh, kw) = (3, 2, 1, 2)
       lambda x, put: (P.conv_transpose2d(x, put(like(FILTERS, x)), put(like(BIAS[:2], x)),
                                          stride=(2, 1), padding=(0, 1), output_padding=(1, 0),
                                          dilation=(1, 2)),),
       lambda g, x, out, put: P.conv_transpose2d_backward(
           g, x, put(like(FILTERS, x)), stride=(2, 1), padding=(0, 1), output_padding=(1, 0),
           dilation=(1, 2)),
       fused=True),
    Op("blur_pool2d", (1, 2, 5, 4),
       lambda x, put: (P.blur_pool2d(x, 2, 3),),
       lambda g, x, out, put: (P.blur_pool2d_backward(g, x.shape, 2, 3),),
       fused=True),
    Op("max_blur_pool2d", (1, 2, 4, 5),
       lambda x, put: P.max_blur_pool2d(x, 2, (1, 2), 2, return_indices=True),
       lambda g, x, out, put: (P.max_blur_pool2d_backward(g, out[1], x.shape, 2, (1, 2), 2),),
       fused=True),
    Op("attention_pool2d", (2, 2, 2, 3),
       lambda x, put: E.attention_pool2d(x, put(like(QUERY, x)), put(like(KEY, x)),
                                         return_weights=True),
       lambda g, x, out, put: E.attention_pool2d_backward(g, x, put(like(QUERY, x)),
                                                          put(like(KEY, x))),
       fused=True),
]


def run(op, x, put):
    """Forward, then backward with a fixed upstream gradient; all results on the host."""
    dx = put(x)
    out = op.forward(dx, put)
    g = np.random.default_rng(1).standard_normal(tuple(out[0].shape)).astype(x.dtype)
    grads = op.backward(put(g), dx, out, put)
    return [to_host(a) for a in out], [to_host(a) for a in grads if a is not None]


def assert_agree(got, want, fused):
    assert got.dtype == want.dtype and got.shape == want.shape
    if fused and not pcuda.SIMULATOR:  # FMAs, libdevice's exp and pow: a few ulps
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = ~np.isnan(want)
        np.testing.assert_array_max_ulp(got[finite], want[finite], maxulp=4)
    else:
        np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_forward_and_backward_on_the_device_equal_the_cpu(op, dtype):
    x = tiny_input(op.shape, dtype)
    (want_out, want_grads), (got_out, got_grads) = run(op, x, host_put), run(op, x, device_put)
    assert len(got_out) == len(want_out) and len(got_grads) == len(want_grads)
    for got, want in zip(got_out + got_grads, want_out + want_grads):
        assert_agree(got, want, op.fused)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_an_empty_batch_on_the_device(op):
    x = np.zeros((0,) + op.shape[1:], np.float32)
    (want_out, want_grads), (got_out, got_grads) = run(op, x, host_put), run(op, x, device_put)
    assert [a.shape for a in got_out + got_grads] == [a.shape for a in want_out + want_grads]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_a_bad_input_gets_the_cpu_error_on_the_device(op):
    x = tiny_input(op.shape).astype(np.int32)
    with pytest.raises(TypeError) as on_host:
        op.forward(x, host_put)
    with pytest.raises(TypeError) as on_device:
        op.forward(device_put(x), device_put)
    assert str(on_device.value) == str(on_host.value)


# indices no forward pass can return (outside the plane): the device's checks
# name the same entry with the same words
BAD_INDICES = [
    ("max_pool1d", lambda i, put: F.max_pool1d_backward(put(np.ones(i.shape, np.float32)),
                                                        put(i), (2, 2, 5), 2, 1, 1)),
    ("max_pool3d", lambda i, put: F.max_pool3d_backward(put(np.ones(i.shape, np.float32)),
                                                        put(i), (1, 2, 3, 3, 4), 2, (1, 2, 2),
                                                        (0, 1, 1))),
    ("adaptive_max_pool2d", lambda i, put: F.adaptive_max_pool2d_backward(
        put(np.ones(i.shape, np.float32)), put(i), (1, 2, 5, 4))),
    ("fractional_max_pool2d", lambda i, put: F.fractional_max_pool2d_backward(
        put(np.ones(i.shape, np.float32)), put(i), (1, 2, 5, 5), 2)),
    ("max_unpool2d", lambda i, put: F.max_unpool2d(put(np.ones(i.shape, np.float32)), put(i), 2)),
    ("max_unpool2d_backward", lambda i, put: F.max_unpool2d_backward(
        put(np.ones((1, 2, 4, 4), np.float32)), put(i))),
    ("max_broadcast_pool2d", lambda i, put: E.max_broadcast_pool2d_backward(
        put(np.ones((1, 2, 3, 5), np.float32)), put(i), 2)),
]


@pytest.mark.parametrize("name, backward", BAD_INDICES, ids=[b[0] for b in BAD_INDICES])
@pytest.mark.parametrize("value", [-2, 10**6])
def test_bad_indices_get_the_cpu_error_on_the_device(name, backward, value):
    row = next(row for row in OPERATIONS if row.name == name.removesuffix("_backward"))
    x, args = tiny_case(row)
    idx = (args["indices"] if row.name == "max_unpool2d" else row.forward(x, **args)[1]).copy()
    idx.flat[idx.size // 2 + 1] = value
    with pytest.raises(ValueError, match="indic|index") as on_host:
        backward(idx, host_put)
    with pytest.raises(ValueError) as on_device:
        backward(idx, device_put)
    assert str(on_device.value) == str(on_host.value)


def test_fractional_samples_drawn_on_the_host_serve_a_device_input():
    x = tiny_input((2, 5, 5))
    want = F.fractional_max_pool2d(x, 2, output_size=3, generator=4)
    got = F.fractional_max_pool2d(device_put(x), 2, output_size=3, generator=4)
    np.testing.assert_array_equal(to_host(got), want, strict=True)
    # host samples with a device input are copied over, never refused as a mix
    got = F.fractional_max_pool2d(device_put(x), 2, output_size=3, random_samples=SAMPLES)
    np.testing.assert_array_equal(
        to_host(got), F.fractional_max_pool2d(x, 2, output_size=3, random_samples=SAMPLES))


def test_attention_without_key_weight_on_the_device():
    x = tiny_input((1, 3, 2, 2))
    q = np.array([1.0, -0.5, 0.25], np.float32)
    g = np.ones((1, 3), np.float32)
    want = [E.attention_pool2d(x, q), *E.attention_pool2d_backward(g, x, q)[:2]]
    got = [E.attention_pool2d(device_put(x), device_put(q)),
           *E.attention_pool2d_backward(device_put(g), device_put(x), device_put(q))[:2]]
    for a, b in zip(got, want):
        assert_agree(to_host(a), b, fused=True)
