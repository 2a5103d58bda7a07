"""The CUDA kernels against the CPU kernels, and host/device dispatch.

The CUDA schedules call the same formula functions as the CPU schedules, so
they must agree bit for bit: max values, indices and max gradients exactly
(NaN positions included); averages to a few ulps (they are equal here too,
since neither backend contracts the adds into FMAs, but a GPU compiler may).
The CPU kernels are themselves checked against PyTorch in test_pool2d.py.

Without a GPU these run in Numba's CUDA simulator (tests/conftest.py switches
it on): every GPU thread is a Python thread, so the shapes are tiny. Tests
marked ``gpu`` need the real thing.
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import cuda

import pooledu as P
from pooledu import cuda as pcuda
from pooledu.dispatch import kernel
from strategies import pool2d_cases, values

# In the simulator the formulas run on NumPy scalars, which warn where compiled
# code silently follows IEEE rules (inf + -inf = nan): not a problem here.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

RNG = np.random.default_rng(7)


def special_input(shape, dtype=np.float32):
    """Normals with NaN, +-inf and a plane of ties, at fixed places."""
    x = RNG.standard_normal(shape).astype(dtype)
    planes = x.reshape((-1,) + shape[-2:])
    planes[0, shape[-2] // 2, shape[-1] // 2] = np.nan
    planes[-1, 0, 0] = np.inf
    planes[-1, -1, -1] = -np.inf
    planes[min(1, len(planes) - 1)] = 1.0  # every window a tie
    return x


def on_device(*arrays):
    return [cuda.to_device(np.ascontiguousarray(a)) for a in arrays]


def permuted(d, axes):
    """A device view of ``d`` with its axes permuted, no copy (as a channels_last tensor is)."""
    if pcuda.SIMULATOR:
        return d.transpose(axes)
    # Numba device arrays transpose only in 2D; describe the view by its interface
    cai = dict(d.__cuda_array_interface__, shape=tuple(d.shape[a] for a in axes),
               strides=tuple(d.strides[a] for a in axes))
    return cuda.as_cuda_array(types.SimpleNamespace(__cuda_array_interface__=cai))


def host(a):
    assert getattr(a, "__cuda_ndarray__", False), f"expected a device array, got {type(a)}"
    return a.copy_to_host()


def assert_same(got, want):
    """Bitwise equal, NaN positions included."""
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want, strict=True)


def assert_ulps(got, want, ulps=4):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_array_max_ulp(got[finite], want[finite], maxulp=ulps)


def grad_like(y, seed=3):
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


def check_max_pool2d(x, args, wrap=lambda a: a):
    """max_pool2d and its backward give on the device exactly what they give on the CPU.

    ``wrap`` hands the device arrays in another form (e.g. a foreign
    ``__cuda_array_interface__`` object).
    """
    y, idx = P.max_pool2d(x, return_indices=True, **args)
    dx, = on_device(x)
    dy, didx = P.max_pool2d(wrap(dx), return_indices=True, **args)
    assert_same(host(dy), y)
    assert_same(host(didx), idx)
    g = grad_like(y)
    dg, = on_device(g)
    assert_same(host(P.max_pool2d_backward(wrap(dg), didx, x.shape, **args)),
                P.max_pool2d_backward(g, idx, x.shape, **args))


def check_avg_pool2d(x, args):
    """avg_pool2d and its backward agree on the device and the CPU to a few ulps."""
    y = P.avg_pool2d(x, **args)
    dx, = on_device(x)
    assert_ulps(host(P.avg_pool2d(dx, **args)), y)
    g = grad_like(y)
    dg, = on_device(g)
    assert_ulps(host(P.avg_pool2d_backward(dg, x.shape, **args)),
                P.avg_pool2d_backward(g, x.shape, **args))


# ---------------------------------------------------------------------------
# max pooling: bit for bit

MAX_CASES = [
    ((2, 3, 5, 6), dict(kernel_size=2)),
    ((2, 3, 5, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 7, 6), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1),
                        ceil_mode=True)),
    ((2, 5, 5), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((1, 1, 6, 5), dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    # windows made only of padding: -inf and index -1 (PyTorch's CPU backward
    # corrupts memory here, which is why the CPU kernels are the oracle)
    ((1, 2, 2, 7), dict(kernel_size=(2, 3), stride=(1, 3), padding=1, dilation=3)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, args", MAX_CASES)
def test_max_pool2d_forward_and_backward_equal_cpu(shape, args, dtype):
    check_max_pool2d(special_input(shape, dtype), args)


# ---------------------------------------------------------------------------
# average pooling: a few ulps

AVG_CASES = [
    ((2, 3, 5, 6), dict(kernel_size=2)),
    ((2, 3, 5, 6), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 5, 6), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((1, 2, 5, 7), dict(kernel_size=(3, 2), stride=2, padding=(1, 1), ceil_mode=True)),
    ((1, 2, 5, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ((2, 4, 4), dict(kernel_size=3, stride=1, padding=1, divisor_override=-5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, args", AVG_CASES)
def test_avg_pool2d_forward_and_backward_match_cpu(shape, args, dtype):
    check_avg_pool2d(special_input(shape, dtype), args)


# ---------------------------------------------------------------------------
# global pooling

@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 1, 1)])
def test_global_pooling_equal_cpu(shape, keepdims):
    x = special_input(shape)
    dx, = on_device(x)
    assert_ulps(host(P.global_avg_pool2d(dx, keepdims)), P.global_avg_pool2d(x, keepdims))
    y, idx = P.global_max_pool2d(x, keepdims, return_indices=True)
    dy, didx = P.global_max_pool2d(dx, keepdims, return_indices=True)
    assert_same(host(dy), y)
    assert_same(host(didx), idx)

    g = grad_like(y)
    dg, = on_device(g)
    assert_ulps(host(P.global_avg_pool2d_backward(dg, shape)), P.global_avg_pool2d_backward(g, shape))
    assert_same(host(P.global_max_pool2d_backward(dg, didx, shape)),
                P.global_max_pool2d_backward(g, idx, shape))


# ---------------------------------------------------------------------------
# random configurations (few examples: the simulator is slow)

@settings(max_examples=30)
@given(data=st.data(), case=pool2d_cases())
def test_random_max_and_avg_cases_equal_cpu(data, case):
    shape, args, dtype = case
    x = data.draw(values(shape, dtype))
    check_max_pool2d(x, args)
    del args["dilation"]  # undilated windows are smaller, so they fit too
    args["count_include_pad"] = data.draw(st.booleans())
    check_avg_pool2d(x, args)


# ---------------------------------------------------------------------------
# schedules: grid-stride loops, layouts, empty batches

def test_grid_stride_loop_covers_more_elements_than_threads(monkeypatch):
    """One block of 32 threads for 180 outputs: each thread takes several elements."""
    monkeypatch.setattr(pcuda, "MAX_BLOCKS", 1)
    monkeypatch.setattr(pcuda, "THREADS_PER_BLOCK", 32)
    check_max_pool2d(special_input((2, 3, 10, 12)), dict(kernel_size=2))


@pytest.mark.parametrize("view", ["strided_w", "channels_last", "plane_3d"])
def test_non_contiguous_device_input_is_copied_on_the_device(view):
    x = special_input((2, 3, 4, 10))
    dx, = on_device(x)
    if view == "strided_w":
        hx, dv = x[..., ::2], dx[:, :, :, ::2]
    elif view == "channels_last":  # NCHW values, NHWC memory
        nhwc, = on_device(x.transpose(0, 2, 3, 1))
        hx, dv = x, permuted(nhwc, (0, 3, 1, 2))
    else:
        hx, dv = x[1][:, ::2], dx[1][:, ::2]
    assert not dv.is_c_contiguous()
    assert_same(host(P.max_pool2d(dv, 2)), P.max_pool2d(hx, 2))


def test_empty_batch_on_device():
    dx = cuda.device_array((0, 2, 4, 4), np.float32)
    dy, didx = P.max_pool2d(dx, 2, return_indices=True)
    assert host(dy).shape == (0, 2, 2, 2) and host(didx).dtype == np.int64
    assert host(P.max_pool2d_backward(dy, didx, dx.shape, 2)).shape == (0, 2, 4, 4)
    assert host(P.avg_pool2d(dx, 2)).shape == (0, 2, 2, 2)
    assert host(P.global_avg_pool2d(dx)).shape == (0, 2)


# ---------------------------------------------------------------------------
# dispatch and validation

def test_device_arrays_in_device_arrays_out():
    x = special_input((1, 2, 4, 4))
    dx, = on_device(x)
    outputs = [*P.max_pool2d(dx, 2, return_indices=True), P.avg_pool2d(dx, 2),
               *P.global_max_pool2d(dx, return_indices=True), P.global_avg_pool2d(dx)]
    for out in outputs:
        host(out)  # asserts a device array


def test_numpy_input_never_touches_cuda():
    """Host arrays run on the CPU, and importing pooledu does not import numba.cuda."""
    code = ("import sys, numpy as np, pooledu as P; P.max_pool2d(np.ones((1, 2, 2)), 2); "
            "assert 'numba.cuda' not in sys.modules and 'pooledu.cuda' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("call", [
    lambda g, i, s: P.max_pool2d_backward(g, cuda.to_device(i), s, 2),
    lambda g, i, s: P.max_pool2d_backward(cuda.to_device(g), i, s, 2),
    lambda g, i, s: P.global_max_pool2d_backward(*on_device(g[..., 0, 0]), i[..., 0, 0], s),
])
def test_mixed_host_and_device_arguments_raise_type_error(call):
    x = special_input((1, 2, 4, 4))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(TypeError, match="must all be on the host or all on one CUDA device"):
        call(grad_like(y), idx, x.shape)


def test_validation_is_the_same_on_the_device():
    dx = cuda.to_device(np.zeros((1, 2, 4, 4), np.int32))
    with pytest.raises(TypeError, match="max_pool2d: input must be float32 or float64"):
        P.max_pool2d(dx, 2)
    with pytest.raises(ValueError, match="must be 3D"):
        P.max_pool2d(cuda.to_device(np.zeros((4, 4), np.float32)), 2)
    with pytest.raises(ValueError, match="padding must be at most half"):
        P.avg_pool2d(cuda.to_device(np.zeros((1, 4, 4), np.float32)), 2, padding=2)
    g = cuda.to_device(np.ones((1, 2, 2, 2), np.float32))
    bad = cuda.to_device(np.full((1, 2, 2, 2), 16, np.int64))
    with pytest.raises(ValueError, match=r"indices\[0, 0, 0, 0\] = 16 lies outside \[-1, 16\)"):
        P.max_pool2d_backward(g, bad, (1, 2, 4, 4), 2)
    stray = cuda.to_device(np.array([[[[0, 0], [0, 0]]] * 2], np.int64))  # (0, 0) for every window
    with pytest.raises(ValueError, match=r"indices\[0, 0, 0, 1\] = 0 names input cell \(0, 0\)"):
        P.max_pool2d_backward(g, stray, (1, 2, 4, 4), 2)
    with pytest.raises(ValueError, match="grad_output must have shape"):
        P.avg_pool2d_backward(g, (1, 2, 6, 6), 2)


def test_an_op_without_a_cuda_version_refuses_device_arrays():
    """A backend without a kernel refuses it by name, before anything runs; a check
    that was not handed a backend takes NumPy arrays only."""
    from pooledu.backend import Backend
    from pooledu.checks import as_planes
    bare = Backend("cuda", types.SimpleNamespace(), *[None] * 6)  # a device with no kernels
    with pytest.raises(TypeError, match="max_pool3d: pooledu has no cuda kernel for this "
                                        "operation yet; pass NumPy arrays"):
        kernel("max_pool3d", bare)
    dx, = on_device(np.zeros((1, 4, 4)))
    with pytest.raises(TypeError, match=r"some_op: input must be a NumPy array "
                                        r"\(some_op has no CUDA"):
        as_planes(dx, "some_op")
    # and an operation with kernels on both refuses a mix of the two, by name
    with pytest.raises(TypeError, match=r"conv_transpose2d: arrays must all be on the host or "
                                        r"all on one CUDA device, got input on a CUDA device, "
                                        r"weight on the host"):
        P.conv_transpose2d(dx, np.ones((1, 1, 2, 2)))


def test_an_array_that_refuses_to_share_its_memory_gets_a_type_error():
    class RequiresGrad:  # behaves like a PyTorch CUDA tensor with requires_grad=True
        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")
    with pytest.raises(TypeError, match=r"max_pool2d: input is a RequiresGrad .*detach\(\)"):
        P.max_pool2d(RequiresGrad(), 2)


# Compiles every kernel to PTX for sm_80 with NVVM, in a process without the
# simulator: the typing and code generation a real GPU would run, checked on a
# machine without one. numba-cuda asks the current device for its compute
# capability when it compiles a device function (our formulas), so the check
# answers for it. Exit code 3: no numba-cuda or no NVVM here.
PTX_CHECK = """
import sys, types
try:
    from numba import cuda
    if getattr(cuda, "implementation", "") != "NVIDIA":
        raise RuntimeError("this is Numba's deprecated built-in CUDA target, not numba-cuda")
    import numba.cuda.dispatcher as dispatcher
    from numba.cuda.cudadrv.libs import get_libdevice
    if get_libdevice() is None:
        raise RuntimeError("libdevice not found")
except Exception as err:
    print(err); sys.exit(3)
dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
from numba import cuda, types as t
from pooledu import cuda as pc
for F in (t.float32, t.float64):
    A3, A1 = t.Array(F, 3, "A"), t.Array(F, 1, "A")
    I3, I1 = t.Array(t.int64, 3, "A"), t.Array(t.int64, 1, "A")
    avg = (t.int64,) * 6 + (t.boolean, t.int64)
    for kernel, sig in [(pc._max_pool2d, (A3, A3, I3) + (t.int64,) * 8),
                        (pc._max_pool2d_backward, (A3, I3, A3) + (t.int64,) * 8),
                        (pc._avg_pool2d, (A3, A3) + avg), (pc._avg_pool2d_backward, (A3, A3) + avg),
                        (pc._global_avg_pool2d, (A3, A1)), (pc._global_avg_pool2d_backward, (A1, A3)),
                        (pc._global_max_pool2d, (A3, A1, I1)),
                        (pc._global_max_pool2d_backward, (A1, I1, A3)),
                        (pc._copy4d, (t.Array(F, 4, "A"), t.Array(F, 4, "A")))]:
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        # no fused multiply-adds: the GPU must round like the CPU kernels
        assert "fma." not in ptx, kernel
# the rest of the family (cuda_family.py), typed as the public functions call it
from pooledu import cuda_family as cf
n, f64 = t.int64, t.float64
for F in (t.float32, t.float64):
    A1, A2, A3, A4 = (t.Array(F, d, "A") for d in (1, 2, 3, 4))
    I3, I4 = t.Array(t.int64, 3, "A"), t.Array(t.int64, 4, "A")
    win4, avg4 = (n,) * 12, (n,) * 9 + (t.boolean, n)
    for kernel, sig in [
            (cf._adaptive_avg_pool2d, (A3, A3)), (cf._adaptive_avg_pool2d_backward, (A3, A3)),
            (cf._adaptive_max_pool2d, (A3, A3, I3)),
            (cf._adaptive_max_pool2d_backward, (A3, I3, A3)),
            (cf._fractional_max_pool2d, (A3, A2, A3, I3, n, n)),
            (cf._fractional_max_pool2d_backward, (A3, I3, A3, n, n)),
            (cf._max_unpool2d, (A3, I3, A3)), (cf._max_unpool2d_backward, (A3, I3, A3)),
            (cf._lp_pool2d, (A3, A3) + (n,) * 4 + (f64, f64, n)),
            (cf._lp_root_grads, (A3, A3, A3) + (n,) * 4 + (f64, f64, f64, n)),
            (cf._lp_power_grads, (A3, A3, A3) + (n,) * 4 + (f64, f64)),
            (cf._lp_inf_pool2d, (A3, A3) + (n,) * 5), (cf._lp_inf_argmax, (A3, I3) + (n,) * 5),
            (cf._lp_inf_gather, (A3, A3, I3, A3) + (n,) * 4),
            (cf._max_pool3d, (A4, A4, I4) + win4), (cf._max_pool3d_backward, (A4, I4, A4) + win4),
            (cf._avg_pool3d, (A4, A4) + avg4), (cf._avg_pool3d_backward, (A4, A4) + avg4),
            (cf._adaptive_avg_pool3d, (A4, A4)), (cf._adaptive_avg_pool3d_backward, (A4, A4)),
            (cf._adaptive_max_pool3d, (A4, A4, I4)),
            (cf._adaptive_max_pool3d_backward, (A4, I4, A4)),
            (cf._broadcast_windows, (A3, A3, n, n)),
            (cf._max_broadcast_pool2d_backward, (A3, I3, A3, n, n)),
            (cf._attention_weights, (A3, A1, F, A2)), (cf._attention_readout, (A3, A2, A2)),
            (cf._attention_score_grads, (A2, A3, A2, A2, A2)),
            (cf._attention_input_grads, (A2, A1, F, A2, A2, A3)),
            (cf._attention_fold, (A2, A1, A1)), (cf._attention_query_grad, (A2, A1, A1)),
            (cf._attention_key_grad, (A3, A2, F, A1)),
            (cf._attention_key_weight_grad, (A1, A1, A2))]:
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        # NVVM fuses the multiply-adds of LP and attention pooling (a few ulps
        # off the CPU, as cuda_family.py says); every other kernel must not
        fused = kernel.py_func.__name__.startswith(("_lp_pool", "_lp_root", "_lp_power",
                                                    "_attention"))
        assert fused or "fma." not in ptx, kernel
from pooledu import cuda_conv as cc
for F in (t.float32, t.float64):
    A1, A4 = t.Array(F, 1, "A"), t.Array(F, 4, "A")
    for kernel, sig in [(cc._conv2d, (A4, A4, A1, A4) + (n,) * 6),
                        (cc._conv2d_backward_input, (A4, A4, A4) + (n,) * 6),
                        (cc._conv2d_weight_taps, (A4, A4, A4) + (n,) * 6),
                        (cc._conv2d_bias_grads, (A4, A1))]:
        cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))  # multiply-adds: FMAs allowed
ptx, _ = cuda.compile_ptx(pc._outside_positions.py_func,
                          (t.Array(t.int64, 1, "A"), n, n, t.Array(t.int64, 1, "A")), cc=(8, 0))
"""


def test_kernels_compile_for_a_real_gpu():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, "-c", PTX_CHECK], env=env, capture_output=True, text=True)
    if done.returncode == 3:
        pytest.skip(f"cannot compile CUDA here ({done.stdout.strip()[:100]}); "
                    "pip install 'numba-cuda[cu13]' to run this check")
    assert done.returncode == 0, done.stderr[-3000:]


def test_cuda_benchmark_runs_and_says_when_it_is_simulated(monkeypatch):
    from pooledu import bench
    monkeypatch.setattr(bench, "CASES", bench.CASES[:1] + bench.CASES[-1:])  # keep it short
    result = bench.run_cuda(quick=True)
    assert [r["pass_"] for r in result["rows"]] == ["forward", "backward"]
    assert all(r["pooledu_nchw_ms"] > 0 and r["gb_per_s_nchw"] > 0 for r in result["rows"])
    table = bench.format_table(result)
    assert ("SIMULATOR" in table) == pcuda.SIMULATOR


# ---------------------------------------------------------------------------
# real GPU only

@pytest.mark.gpu
def test_cuda_array_interface_objects_are_used_in_place():
    """Any object exposing __cuda_array_interface__ (CuPy, PyTorch CUDA) is accepted."""
    def foreign(a):  # an object that is nothing but the interface
        return types.SimpleNamespace(__cuda_array_interface__=a.__cuda_array_interface__)
    check_max_pool2d(special_input((2, 3, 6, 6)), dict(kernel_size=2), wrap=foreign)


@pytest.mark.gpu
def test_torch_cuda_tensors_and_a_large_batch_on_the_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    x = special_input((8, 16, 57, 57))
    tx = torch.from_numpy(x).cuda().contiguous(memory_format=torch.channels_last)
    y, idx = P.max_pool2d(tx, 3, 2, 1, return_indices=True)
    want_y, want_idx = P.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_same(host(y), want_y)
    assert_same(host(idx), want_idx)
    assert_ulps(host(P.avg_pool2d(tx, 3, 2, 1)), P.avg_pool2d(x, 3, 2, 1))


@pytest.mark.gpu
def test_the_family_takes_torch_cuda_tensors():
    """3D, adaptive, fractional and LP pooling read PyTorch's memory in place."""
    import pooledu as F
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    x = special_input((2, 3, 4, 9, 9))
    tx = torch.from_numpy(x).cuda()
    y, idx = F.max_pool3d(tx, 2, return_indices=True)
    want_y, want_idx = F.max_pool3d(x, 2, return_indices=True)
    assert_same(host(y), want_y)
    assert_same(host(idx), want_idx)
    assert_same(host(F.adaptive_max_pool2d(tx[0], (4, 5))), F.adaptive_max_pool2d(x[0], (4, 5)))
    assert_same(host(F.fractional_max_pool2d(tx[1], 2, output_size=5, generator=3)),
                F.fractional_max_pool2d(x[1], 2, output_size=5, generator=3))
    assert_ulps(host(F.lp_pool2d(tx[0].abs(), 2, 3)), F.lp_pool2d(abs(x[0]), 2, 3))
