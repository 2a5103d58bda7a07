"""pooledu.torch: autograd functions, torch.nn modules and swap_pooling, against PyTorch itself.

- every function passes ``torch.autograd.gradcheck`` in float64 and gives
  ``torch.nn.functional``'s values and gradients (bit for bit for the max
  family, to a few ulps for averages);
- every module prints, saves and computes like its ``torch.nn`` namesake;
- networks written out here with the pooling layers of ResNet-18, VGG,
  SqueezeNet, DenseNet, GoogLeNet, an SE block, C3D, a 1D audio network and
  SegNet give the same outputs and input gradients once swapped, while a spy
  on PyTorch's dispatcher sees none of PyTorch's pooling operators run.
"""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import pooledu
import pooledu.torch as pt
from pooledu.torch import swap_pooling
from strategies import layouts, values

torch.set_num_threads(1)  # unpooling's tie rule is PyTorch's on one thread (see max_unpool2d)


def distinct(*shape, dtype=torch.float64, low=-1.0, seed=0):
    """Values spaced 2/size apart in random order: no ties, no near-ties within gradcheck's eps."""
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    return (torch.randperm(n, generator=g).to(dtype) * (2.0 / n) + low).reshape(shape)


def positive(*shape, seed=0):
    return distinct(*shape, low=0.5, seed=seed)


# ---------------------------------------------------------------------------
# the functions: (name, pooledu.torch function, torch function, input, extra args, exact)

def _unpool_case():
    y, idx = TF.max_pool2d(distinct(1, 2, 6, 7), 2, return_indices=True)
    return y, (idx, 2), dict(output_size=(6, 7))


def _samples(n, c, seed=1):
    return torch.rand(n, c, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


_UNPOOL_X, _UNPOOL_ARGS, _UNPOOL_KW = _unpool_case()


def CL(t):
    """``t`` in channels-last memory (channels_last_3d for a volume batch)."""
    return t.contiguous(memory_format=torch.channels_last if t.dim() == 4 else
                        torch.channels_last_3d)

CASES = [
    ("max_pool1d", distinct(2, 2, 9), (3, 2, 1), dict(dilation=1), True),
    ("max_pool1d", distinct(1, 2, 10), (2,), dict(dilation=2, ceil_mode=True), True),
    ("max_pool2d", distinct(2, 2, 7, 7), (3, 2, 1), {}, True),
    ("max_pool2d", distinct(1, 2, 7, 8), ((2, 3),), dict(stride=(1, 2), dilation=(2, 1),
                                                         ceil_mode=True), True),
    ("max_pool2d", distinct(2, 3, 6, 6).contiguous(memory_format=torch.channels_last),
     (3, 2, 1), {}, True),
    ("max_pool3d", distinct(1, 2, 4, 5, 5), (2,), dict(padding=1), True),
    ("max_pool3d", distinct(1, 1, 5, 4, 6), ((3, 2, 2), (2, 1, 2)), dict(ceil_mode=True), True),
    ("avg_pool1d", distinct(2, 2, 9), (3, 2, 1), dict(count_include_pad=False), False),
    ("avg_pool1d", distinct(1, 2, 8), (3, 2), dict(ceil_mode=True), False),
    ("avg_pool2d", distinct(2, 2, 7, 7), (3, 2, 1), dict(count_include_pad=False), False),
    ("avg_pool2d", distinct(1, 2, 7, 6), (2,), dict(ceil_mode=True, divisor_override=3), False),
    ("avg_pool2d", distinct(2, 3, 6, 6).contiguous(memory_format=torch.channels_last),
     (2, 2), {}, False),
    ("avg_pool3d", distinct(1, 2, 4, 5, 5), (2, 2, 1), dict(ceil_mode=True), False),
    ("adaptive_avg_pool1d", distinct(2, 2, 9), (4,), {}, False),
    ("adaptive_avg_pool2d", distinct(2, 2, 7, 5), ((3, 2),), {}, False),
    ("adaptive_avg_pool2d", distinct(1, 2, 6, 6), (1,), {}, False),
    ("adaptive_avg_pool3d", distinct(1, 2, 5, 4, 3), ((2, 3, 2),), {}, False),
    ("adaptive_max_pool1d", distinct(2, 2, 9), (4,), dict(return_indices=True), True),
    ("adaptive_max_pool2d", distinct(2, 2, 7, 5), ((3, None),), {}, True),
    ("adaptive_max_pool3d", distinct(1, 2, 5, 4, 3), (2,), {}, True),
    ("lp_pool1d", positive(2, 2, 9), (2, 3, 2), {}, False),
    ("lp_pool2d", positive(1, 2, 6, 7), (3.0, 2), dict(ceil_mode=True), False),
    ("lp_pool2d", distinct(1, 2, 6, 6), (float("inf"), 2), {}, True),
    ("fractional_max_pool2d", distinct(2, 2, 9, 9), (3,),
     dict(output_size=4, return_indices=True, _random_samples=_samples(2, 2)), True),
    ("fractional_max_pool2d", distinct(1, 3, 8, 10), ((2, 3),),
     dict(output_ratio=(0.5, 0.5), _random_samples=_samples(1, 3)), True),
    ("max_unpool2d", _UNPOOL_X, _UNPOOL_ARGS, _UNPOOL_KW, True),
    # channels-last memory: kept where PyTorch keeps it (2D, max_pool3d), not where it does not
    ("adaptive_avg_pool2d", CL(distinct(2, 3, 7, 5)), ((3, 2),), {}, False),
    ("adaptive_max_pool2d", CL(distinct(2, 3, 7, 5)), ((3, None),), {}, True),
    ("lp_pool2d", CL(positive(1, 3, 6, 7)), (2.0, 2), {}, False),
    ("fractional_max_pool2d", CL(distinct(2, 3, 9, 9)), (3,),
     dict(output_size=4, _random_samples=_samples(2, 3)), True),
    ("max_pool3d", CL(distinct(1, 3, 4, 5, 5)), (2,), dict(padding=1), True),
    ("avg_pool3d", CL(distinct(1, 3, 4, 5, 5)), (2, 2, 1), dict(ceil_mode=True), False),
    ("adaptive_max_pool3d", CL(distinct(1, 3, 5, 4, 3)), (2,), {}, True),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def call(fn, x, args, kwargs):
    """The differentiable output (the values, not the indices)."""
    out = fn(x, *args, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def test_every_pooling_function_of_pooledu_has_a_torch_door():
    with_backward = {name.removesuffix("_backward") for name in pooledu.__all__
                     if name.endswith("_backward")}
    # PyTorch has no global, max-broadcast, attention or anti-aliased pooling, and the
    # convolutions are no pooling
    not_torch = {"global_avg_pool2d", "global_max_pool2d", "max_broadcast_pool2d",
                 "attention_pool2d", "blur_pool2d", "max_blur_pool2d", "conv2d",
                 "conv_transpose2d"}
    assert set(pt.FUNCTIONS) == with_backward - not_torch == {name for name, *_ in CASES}
    assert all(hasattr(TF, name) for name in pt.FUNCTIONS)


@pytest.mark.parametrize("name, x, args, kwargs, exact", CASES, ids=IDS)
def test_gradcheck(name, x, args, kwargs, exact):
    x = x.clone().requires_grad_()  # clone keeps channels-last memory
    assert torch.autograd.gradcheck(lambda t: call(getattr(pt, name), t, args, kwargs), (x,),
                                    eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("name, x, args, kwargs, exact", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_values_and_gradients_as_torch(name, x, args, kwargs, exact, dtype):
    kwargs = {k: (v.to(dtype) if k == "_random_samples" else v) for k, v in kwargs.items()}
    x = x.to(dtype)
    ours_x = x.clone(memory_format=torch.preserve_format).requires_grad_()
    theirs_x = x.clone(memory_format=torch.preserve_format).requires_grad_()
    ours_out = getattr(pt, name)(ours_x, *args, **kwargs)
    theirs_out = getattr(TF, name)(theirs_x, *args, **kwargs)
    if isinstance(theirs_out, tuple):  # the indices, exactly, in the same layout
        assert torch.equal(ours_out[1], theirs_out[1])
        assert ours_out[1].stride() == theirs_out[1].stride()
        ours_out, theirs_out = ours_out[0], theirs_out[0]
    assert ours_out.dtype == dtype and ours_out.stride() == theirs_out.stride()
    grad = distinct(*theirs_out.shape, dtype=dtype, seed=2)
    ours_out.backward(grad)
    theirs_out.backward(grad)
    if exact:
        assert torch.equal(ours_out, theirs_out)
        assert torch.equal(ours_x.grad, theirs_x.grad)
    else:  # a few ulps: pooledu adds in window order, PyTorch vectorises
        torch.testing.assert_close(ours_out, theirs_out, rtol=8 * torch.finfo(dtype).eps, atol=0)
        torch.testing.assert_close(ours_x.grad, theirs_x.grad,
                                   rtol=8 * torch.finfo(dtype).eps, atol=0)


@settings(max_examples=40)
@given(data=st.data(), op=st.sampled_from(["max_pool2d", "avg_pool2d"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_any_memory_layout_gives_torchs_values_and_gradients(data, op, dtype):
    """Tensors in any memory (channels-last, Fortran order, strided views) with ties, NaN
    and infinities: pooledu.torch gives torch.nn.functional's values, indices and
    gradients, bit for bit for max and to a few ulps for average pooling."""
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 7),
                                st.integers(1, 7)))
    k = data.draw(st.integers(1, min(3, *shape[2:])))
    s = data.draw(st.integers(1, 3))
    p = data.draw(st.integers(0, k // 2))
    ceil_mode = data.draw(st.booleans())
    x = data.draw(layouts(data.draw(values(shape, dtype))))
    if not x.flags.writeable:  # a tensor's memory always is; from_numpy would warn
        x = x.copy()
    inputs = [torch.from_numpy(x).requires_grad_() for _ in range(2)]
    extra = dict(return_indices=True) if op == "max_pool2d" else dict(count_include_pad=False)
    ours = getattr(pt, op)(inputs[0], k, s, p, ceil_mode=ceil_mode, **extra)
    theirs = getattr(TF, op)(inputs[1], k, s, p, ceil_mode=ceil_mode, **extra)
    if op == "max_pool2d":
        assert torch.equal(ours[1], theirs[1])
        ours, theirs = ours[0], theirs[0]
    tol = dict(rtol=0, atol=0) if op == "max_pool2d" else dict(rtol=8 * np.finfo(dtype).eps,
                                                               atol=0)
    torch.testing.assert_close(ours, theirs, equal_nan=True, **tol)
    grad = torch.from_numpy(np.random.default_rng(0).standard_normal(theirs.shape).astype(dtype))
    ours.backward(grad)
    theirs.backward(grad)
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, equal_nan=True, **tol)


def test_cpu_tensors_reach_pooledu_as_views_and_come_back_without_copies(monkeypatch):
    seen = {}
    forward = pooledu.max_pool2d

    def spy(x, *args, **kwargs):
        seen["x"] = x
        seen["out"] = forward(x, *args, **kwargs)
        return seen["out"]

    monkeypatch.setattr(pooledu, "max_pool2d", spy)
    x = distinct(2, 3, 6, 6, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    y, idx = pt.max_pool2d(x, 2, return_indices=True)
    assert isinstance(seen["x"], np.ndarray) and np.shares_memory(seen["x"], x.numpy())
    assert seen["x"].strides == tuple(s * 4 for s in x.stride())  # channels-last reached pooledu
    assert np.shares_memory(y.numpy(), seen["out"][0]) and np.shares_memory(idx.numpy(),
                                                                             seen["out"][1])
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()


def test_grad_mode_and_layouts():
    x = distinct(1, 2, 6, 6, dtype=torch.float32).requires_grad_()
    with torch.no_grad():
        assert pt.max_pool2d(x, 2).grad_fn is None
    with torch.inference_mode():
        assert torch.equal(pt.avg_pool2d(x, 2), TF.avg_pool2d(x, 2))
    assert pt.max_pool2d(x.detach(), 2).grad_fn is None
    # a broadcast gradient (stride 0), and a transposed one, are made contiguous first
    y = pt.avg_pool2d(x, 2)
    y.sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 0.25))
    x.grad = None
    transposed = distinct(1, 2, 3, 3, dtype=torch.float32).transpose(2, 3)
    assert not transposed.is_contiguous()
    pt.max_pool2d(x, 2).backward(transposed)
    x2 = x.detach().requires_grad_()
    TF.max_pool2d(x2, 2).backward(transposed)
    assert torch.equal(x.grad, x2.grad)
    # the 3D channels-last layout is kept too
    x3 = distinct(1, 2, 4, 4, 4, dtype=torch.float32).contiguous(
        memory_format=torch.channels_last_3d)
    assert pt.max_pool3d(x3, 2).is_contiguous(memory_format=torch.channels_last_3d)


def test_dtype_and_argument_errors():
    with pytest.raises(TypeError, match=r"max_pool2d: input must be float32 or float64.*float16"):
        pt.max_pool2d(torch.zeros(1, 4, 4, dtype=torch.float16), 2)
    with pytest.raises(TypeError, match=r"avg_pool1d: input must be float32 or float64.*int64"):
        pt.avg_pool1d(torch.zeros(1, 4, dtype=torch.int64), 2)
    with pytest.raises(TypeError, match="input must be a torch.Tensor, got ndarray"):
        pt.adaptive_avg_pool2d(np.zeros((1, 4, 4)), 2)
    with pytest.raises(ValueError, match="padding must be at most half"):  # pooledu's own check
        pt.max_pool2d(torch.zeros(1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match=r"input must be 3D or 4D.* got shape \(4, 4\)"):
        pt.fractional_max_pool2d(torch.zeros(4, 4, requires_grad=True), 2, output_size=2)
    with pytest.raises(TypeError, match="indices must have dtype int64, got int32"):
        pt.max_unpool2d(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.int32), 2)
    x = torch.zeros(1, 4, 4, requires_grad=True)
    y = pt.max_pool2d(x, 2)
    v = torch.ones(1, 2, 2, requires_grad=True)
    (g,) = torch.autograd.grad(y, x, v, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):  # no double backward
        g.sum().backward()


def test_fractional_draws_its_samples_as_torch_does():
    x = distinct(2, 3, 9, 9, dtype=torch.float32)
    torch.manual_seed(5)
    theirs = TF.fractional_max_pool2d(x, 2, output_size=4)
    torch.manual_seed(5)
    assert torch.equal(pt.fractional_max_pool2d(x, 2, output_size=4), theirs)


def test_numpy_api_says_what_to_do_with_a_cpu_tensor():
    with pytest.raises(TypeError, match=r"got Tensor; for a PyTorch CPU tensor pass "
                                        r"tensor\.numpy\(\).*pooledu\.torch"):
        pooledu.max_pool2d(torch.zeros(1, 4, 4), 2)
    with pytest.raises(TypeError, match="pooledu.torch"):
        pooledu.adaptive_avg_pool1d(torch.zeros(1, 4), 2)


# ---------------------------------------------------------------------------
# the modules

MODULE_CASES = [  # (torch.nn class, constructor args, kwargs, input)
    (nn.MaxPool1d, (3,), dict(stride=2, padding=1, ceil_mode=True), distinct(2, 3, 10)),
    (nn.MaxPool2d, (3, 2, 1), {}, distinct(2, 3, 7, 7)),
    (nn.MaxPool2d, ((2, 3),), dict(dilation=(1, 2), return_indices=True), distinct(1, 2, 7, 9)),
    (nn.MaxPool3d, (2,), dict(padding=(0, 1, 1)), distinct(1, 2, 4, 4, 4)),
    (nn.AvgPool1d, (3, 2, 1), dict(count_include_pad=False), distinct(2, 3, 10)),
    (nn.AvgPool2d, (2, 2), dict(ceil_mode=True, divisor_override=2), distinct(2, 3, 7, 7)),
    (nn.AvgPool3d, (2,), dict(stride=1), distinct(1, 2, 3, 4, 4)),
    (nn.AdaptiveAvgPool1d, (3,), {}, distinct(2, 3, 10)),
    (nn.AdaptiveAvgPool2d, ((7, None),), {}, distinct(1, 2, 10, 6)),
    (nn.AdaptiveAvgPool3d, (1,), {}, distinct(1, 2, 3, 4, 4)),
    (nn.AdaptiveMaxPool1d, (3,), dict(return_indices=True), distinct(2, 3, 10)),
    (nn.AdaptiveMaxPool2d, ((2, 3),), {}, distinct(1, 2, 7, 7)),
    (nn.AdaptiveMaxPool3d, (2,), {}, distinct(1, 2, 5, 4, 4)),
    (nn.LPPool1d, (2, 3), dict(stride=2), positive(2, 3, 10)),
    (nn.LPPool2d, (1.5, 2), dict(ceil_mode=True), positive(1, 2, 7, 7)),
    (nn.FractionalMaxPool2d, (3,), dict(output_ratio=(0.5, 0.6),
                                        _random_samples=_samples(1, 2)), distinct(1, 2, 9, 10)),
    (nn.FractionalMaxPool2d, ((2, 2),), dict(output_size=4, return_indices=True),
     distinct(2, 2, 9, 9)),
]
MODULE_IDS = [f"{cls.__name__}-{i}" for i, (cls, *_) in enumerate(MODULE_CASES)]


def test_every_module_has_a_case_and_a_pooledu_version():
    assert set(pt.modules.SWAPS) == {cls for cls, *_ in MODULE_CASES} | {nn.MaxUnpool2d}
    for name in pt.MODULES:
        assert getattr(pt, name).__name__ == name and getattr(pt, name).__base__ is getattr(nn, name)


@pytest.mark.parametrize("cls, args, kwargs, x", MODULE_CASES, ids=MODULE_IDS)
def test_module_is_its_torch_namesake_on_pooledu_kernels(cls, args, kwargs, x):
    theirs = cls(*args, **kwargs)
    ours = getattr(pt, cls.__name__)(*args, **kwargs)
    assert repr(ours) == repr(theirs) and ours.extra_repr() == theirs.extra_repr()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)
    assert vars(swap_pooling(copy.deepcopy(theirs))).keys() == vars(theirs).keys()
    xs = [x.clone().requires_grad_() for _ in range(2)]
    torch.manual_seed(3)  # FractionalMaxPool2d without _random_samples draws with torch.rand
    out_ours = ours(xs[0])
    torch.manual_seed(3)
    out_theirs = theirs(xs[1])
    if isinstance(out_theirs, tuple):
        assert torch.equal(out_ours[1], out_theirs[1])
        out_ours, out_theirs = out_ours[0], out_theirs[0]
    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-14, atol=0)
    grad = distinct(*out_theirs.shape, seed=4)
    out_ours.backward(grad)
    out_theirs.backward(grad)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, rtol=1e-14, atol=0)


def test_max_unpool2d_module():
    theirs, ours = nn.MaxUnpool2d(2, 2), pt.MaxUnpool2d(2, 2)
    assert repr(ours) == repr(theirs) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    for shape, size in (((1, 2, 4, 6), None), ((1, 2, 5, 7), (5, 7))):
        y, idx = TF.max_pool2d(distinct(*shape), 2, return_indices=True)
        assert torch.equal(ours(y, idx, output_size=size), theirs(y, idx, output_size=size))


def test_swap_pooling_warns_about_what_it_leaves_and_swaps_the_model_itself():
    class Mine(nn.MaxPool2d):
        pass

    model = nn.Sequential(nn.MaxPool2d(2), nn.Sequential(nn.MaxUnpool3d(2), nn.LPPool3d(2, 2)),
                          nn.FractionalMaxPool3d(2, output_size=2), Mine(2))
    hooks = []
    model[0].register_forward_hook(lambda *a: hooks.append(1))
    first = model[0]
    with pytest.warns(UserWarning) as record:
        assert swap_pooling(model) is model
    assert len(record) == 1
    message = str(record[0].message)
    for expected in ("4 pooling module(s)", "1.0 (MaxUnpool3d)", "1.1 (LPPool3d)",
                     "2 (FractionalMaxPool3d)", "3 (Mine)"):
        assert expected in message
    assert model[0] is first and type(first) is pt.MaxPool2d
    model[0](torch.zeros(1, 2, 2))
    assert hooks == [1]  # hooks stay
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool = swap_pooling(nn.AdaptiveAvgPool2d(1))  # the model is itself a pooling module
        assert type(pool) is pt.AdaptiveAvgPool2d
        assert swap_pooling(swap_pooling(nn.Linear(2, 2))) is not None  # nothing to swap, twice
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        swap_pooling(lambda x: x)


# ---------------------------------------------------------------------------
# real networks, written out (the pooling layers of the architectures named)

def conv_bn(cin, cout, k=3, stride=1, padding=None, dim=2):
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1]
    norm = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dim - 1]
    return nn.Sequential(conv(cin, cout, k, stride, k // 2 if padding is None else padding,
                              bias=False), norm(cout), nn.ReLU())


class BasicBlock(nn.Module):
    """ResNet-18's block; a 1x1 stride-2 convolution on the skip when it downsamples."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), nn.Conv2d(cout, cout, 3, 1, 1),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Sequential() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def resnet18_like():
    """Stem 7x7/2, max pool 3/2/1, residual blocks, adaptive average pool to 1, linear head."""
    return nn.Sequential(conv_bn(3, 8, 7, 2), nn.MaxPool2d(3, 2, 1), BasicBlock(8, 8),
                         BasicBlock(8, 16, 2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(16, 10))


def vgg_like():
    """VGG's 2x2 max pools, then the adaptive average pool to 7x7 (from 10x10: overlapping)."""
    return nn.Sequential(conv_bn(3, 8), nn.MaxPool2d(2, 2), conv_bn(8, 8), nn.MaxPool2d(2, 2),
                         nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(8 * 49, 10))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = conv_bn(cin, squeeze, 1)
        self.e1, self.e3 = conv_bn(squeeze, expand, 1), conv_bn(squeeze, expand, 3)

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


def squeezenet_like():
    """SqueezeNet's ceil_mode max pools 3/2 (18 -> 9 keeps a partial window), classifier
    convolution, adaptive average pool to 1."""
    return nn.Sequential(conv_bn(3, 8, 3, 2, 0), nn.MaxPool2d(3, 2, ceil_mode=True),
                         Fire(8, 4, 8), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8),
                         nn.Conv2d(16, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten())


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, growth, 3, 1, 1))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


def densenet_like():
    """DenseNet: max pool 3/2/1 stem, transitions with 2x2/2 average pools, and (as a module
    here; torchvision calls F.adaptive_avg_pool2d in forward) the final global average."""
    return nn.Sequential(conv_bn(3, 8, 3), nn.MaxPool2d(3, 2, 1), DenseLayer(8, 4),
                         DenseLayer(12, 4),
                         nn.Sequential(nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 1),
                                       nn.AvgPool2d(kernel_size=2, stride=2)),
                         DenseLayer(8, 4), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(12, 10))


class Inception(nn.Module):
    """GoogLeNet's module: its pool branch is max 3/1/1 with ceil_mode, then a 1x1 convolution."""

    def __init__(self, cin):
        super().__init__()
        self.b1 = conv_bn(cin, 4, 1)
        self.b2 = nn.Sequential(conv_bn(cin, 4, 1), conv_bn(4, 6, 3))
        self.b3 = nn.Sequential(conv_bn(cin, 2, 1), conv_bn(2, 4, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                conv_bn(cin, 4, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def googlenet_like():
    return nn.Sequential(conv_bn(3, 8, 3, 2), nn.MaxPool2d(3, 2, ceil_mode=True), Inception(8),
                         nn.MaxPool2d(3, 2, ceil_mode=True), Inception(18),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(18, 10))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: an adaptive average pool inside the network, gating channels."""

    def __init__(self, c, r=4):
        super().__init__()
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excite = nn.Sequential(nn.Conv2d(c, c // r, 1), nn.ReLU(), nn.Conv2d(c // r, c, 1),
                                    nn.Sigmoid())

    def forward(self, x):
        return x * self.excite(self.squeeze(x))


def se_net():
    return nn.Sequential(conv_bn(3, 8), SqueezeExcite(8), nn.MaxPool2d(2), conv_bn(8, 8),
                         SqueezeExcite(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


def c3d_like():
    """C3D: 3D convolutions, max pools (1,2,2) then 2 then 2 with padding (0,1,1)."""
    return nn.Sequential(conv_bn(3, 4, dim=3), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
                         conv_bn(4, 8, dim=3), nn.MaxPool3d(2, 2), conv_bn(8, 8, dim=3),
                         nn.MaxPool3d(2, 2, padding=(0, 1, 1)), nn.Flatten(),
                         nn.Linear(8 * 2 * 3 * 3, 10))


def audio_1d():
    """An M5-style waveform network: wide strided 1D convolution, max pools of 4, then the
    global average over time."""
    return nn.Sequential(conv_bn(1, 8, 9, 4, dim=1), nn.MaxPool1d(4), conv_bn(8, 8, 3, dim=1),
                         nn.MaxPool1d(4), conv_bn(8, 16, 3, dim=1), nn.AdaptiveAvgPool1d(1),
                         nn.Flatten(), nn.Linear(16, 10))


class SegNetLike(nn.Module):
    """SegNet: the encoder's max pools keep their indices; the decoder unpools with them."""

    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = conv_bn(3, 8), conv_bn(8, 8)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.dec2, self.dec1 = conv_bn(8, 8), nn.Conv2d(8, 4, 3, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        p1, i1 = self.pool(e1)
        e2 = self.enc2(p1)
        p2, i2 = self.pool(e2)
        d2 = self.dec2(self.unpool(p2, i2, output_size=e2.shape))
        return self.dec1(self.unpool(d2, i1, output_size=e1.shape))


NETWORKS = {  # name: (builder, input shape, exact: only max-based pooling)
    "resnet18": (resnet18_like, (2, 3, 32, 32), False),
    "vgg": (vgg_like, (2, 3, 40, 40), False),
    "squeezenet": (squeezenet_like, (2, 3, 37, 37), False),
    "densenet": (densenet_like, (2, 3, 16, 16), False),
    "googlenet": (googlenet_like, (2, 3, 31, 31), False),
    "se": (se_net, (2, 3, 12, 12), False),
    "c3d": (c3d_like, (2, 3, 8, 16, 16), True),
    "audio1d": (audio_1d, (2, 1, 800), False),
    "segnet": (SegNetLike, (2, 3, 18, 22), True),
}


class _Spy(TorchFunctionMode):
    """Names every torch function called (torch.nn.functional's and torch's own)."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


class _DispatchSpy(TorchDispatchMode):
    """Names every ATen operator run, the autograd engine's backward operators included."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def run_and_spy(net, x, grad):
    """Output, input gradient, and the names of PyTorch pooling functions and operators run."""
    x = x.clone().requires_grad_()
    seen = []
    with _Spy(seen), _DispatchSpy(seen):
        y = net(x)
        y.backward(grad)
    return y.detach(), x.grad, sorted({name for name in seen if "pool" in name.lower()})


def pooling_modules(net):
    return [m for m in net.modules() if isinstance(m, pt.modules._TORCH_POOLING)]


@pytest.mark.parametrize("name", NETWORKS)
def test_swapped_network_gives_the_same_outputs_and_gradients(name):
    build, shape, exact = NETWORKS[name]
    torch.manual_seed(0)
    original = build()
    x = torch.randn(shape)
    swapped = copy.deepcopy(original)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every pooling module here is one pooledu has
        assert swap_pooling(swapped) is swapped
    assert pooling_modules(original) and all(type(m).__module__ == "pooledu.torch.modules"
                                             for m in pooling_modules(swapped))
    assert repr(swapped) == repr(original)
    grad = torch.randn(original(x).shape)
    y0, g0, torch_pools = run_and_spy(original, x, grad)
    y1, g1, left = run_and_spy(swapped, x, grad)
    assert torch_pools, "the spy must see PyTorch's pooling in the original network"
    assert left == [], f"PyTorch's pooling still ran after the swap: {left}"
    if exact:
        assert torch.equal(y1, y0) and torch.equal(g1, g0)
    else:  # average pooling adds in another order than PyTorch's: float32 rounding, amplified
        torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)


def test_first_pooling_layer_is_bit_exact_in_every_network():
    """Up to the first pooling layer both networks compute the same bits, so where that
    layer is a max pool its outputs must agree exactly, whatever follows."""
    checked = []
    for name, (build, shape, _) in NETWORKS.items():
        torch.manual_seed(0)
        original = build()
        swapped = swap_pooling(copy.deepcopy(original))
        x = torch.randn(shape)
        taken = []
        for net in (original, swapped):
            calls = []  # SegNet runs its pool twice: the first call is the first layer
            pooling_modules(net)[0].register_forward_hook(
                lambda m, inp, out, calls=calls: calls.append((inp[0], out)))
            net(x)
            taken.append(calls[0])
        (in0, out0), (in1, out1) = taken
        if not isinstance(pooling_modules(original)[0], nn.modules.pooling._MaxPoolNd):
            continue
        assert torch.equal(in0, in1)
        out0 = out0[0] if isinstance(out0, tuple) else out0
        out1 = out1[0] if isinstance(out1, tuple) else out1
        assert torch.equal(out0, out1), name
        checked.append(name)
    assert len(checked) >= 8, checked


def test_channels_last_network():
    torch.manual_seed(0)
    original = resnet18_like().to(memory_format=torch.channels_last)
    swapped = swap_pooling(copy.deepcopy(original))
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    layouts = []
    swapped[1].register_forward_hook(
        lambda m, inp, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last)))
    grad = torch.randn(2, 10)
    y0, g0, _ = run_and_spy(original, x, grad)
    y1, g1, left = run_and_spy(swapped, x, grad)
    assert left == [] and layouts == [True]
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)
