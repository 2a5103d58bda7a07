"""The pooling family refuses bad input exactly where PyTorch does, with ValueError/TypeError.

Each test draws arguments as a user might type them, mostly valid, and
checks that pooledu raises exactly when PyTorch raises. The few deliberate
differences (documented in the docstrings of family.py) are kept out of the
random draws and pinned by hand below.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pooledu as P
from test_validation import check_same_acceptance

SIZES = [0, 1, 2, 3, 4, 5, 6, 6, 7, 7]


def pooling_args(nd, dilation):
    """Window arguments for nd dimensions: an int or an nd-tuple, every kind of mistake."""
    def maybe(choices):
        one = st.sampled_from(choices)
        return st.one_of(one, st.tuples(*[one] * nd))
    args = dict(kernel_size=maybe([-1, 0, 1, 2, 2, 3, 3, 4, 5]),
                stride=st.one_of(st.none(), maybe([-1, 0, 1, 2, 2, 3])),
                padding=maybe([-1, 0, 0, 0, 1, 1, 2]),
                ceil_mode=st.booleans())
    if dilation:
        args["dilation"] = maybe([0, 1, 1, 1, 2, 3])
    return st.fixed_dictionaries(args)


def shapes(nd):
    return st.integers(nd, nd + 3).flatmap(
        lambda n: st.tuples(*[st.sampled_from(SIZES)] * n))


@settings(max_examples=300)
@given(data=st.data(), nd=st.sampled_from([1, 3]), is_max=st.booleans())
def test_1d_and_3d_pooling_accept_exactly_what_torch_accepts(data, nd, is_max):
    shape = data.draw(shapes(nd))
    args = data.draw(pooling_args(nd, dilation=is_max))
    if is_max:
        ours, theirs = {1: (P.max_pool1d, F.max_pool1d), 3: (P.max_pool3d, F.max_pool3d)}[nd]
    else:
        ours, theirs = {1: (P.avg_pool1d, F.avg_pool1d), 3: (P.avg_pool3d, F.avg_pool3d)}[nd]
        args["count_include_pad"] = data.draw(st.booleans())
        if nd == 3:
            args["divisor_override"] = data.draw(st.sampled_from([None, 0, 2, -1]))
    x = np.zeros(shape, np.float32)
    check_same_acceptance(lambda: ours(x, **args), lambda: theirs(torch.from_numpy(x), **args))


@settings(max_examples=150)
@given(shape=shapes(2), args=pooling_args(2, dilation=False),
       norm_type=st.sampled_from([1, 2, 3, 0.5, -1, math.inf, -math.inf]))
def test_lp_pool2d_accepts_exactly_what_torch_accepts(shape, args, norm_type):
    del args["padding"]  # LP pooling takes no padding
    x = np.ones(shape, np.float32)
    check_same_acceptance(lambda: P.lp_pool2d(x, norm_type, **args),
                          lambda: F.lp_pool2d(torch.from_numpy(x), norm_type, **args))


def adaptive_sizes(nd):
    one = st.sampled_from([-1, 0, 1, 2, 3, 3, 5, 9] + ([None] if nd > 1 else []))
    return st.one_of(st.sampled_from([-1, 0, 1, 2, 4]), st.lists(one, min_size=1, max_size=3)
                     .map(tuple))


@settings(max_examples=150)
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), is_max=st.booleans())
def test_adaptive_pooling_accepts_exactly_what_torch_accepts(nd, data, is_max):
    shape = data.draw(shapes(nd))
    assume(0 not in shape[-nd - 1:])  # empty planes: see test_deliberate_differences_from_torch
    output_size = data.draw(adaptive_sizes(nd))
    ones = output_size == 1 or (isinstance(output_size, tuple) and set(output_size) == {1})
    # an average to size 1 is a mean in PyTorch, which takes any number of
    # leading dimensions: see test_deliberate_differences_from_torch
    assume(is_max or not ones or len(shape) in (nd + 1, nd + 2))
    kind = "max" if is_max else "avg"
    ours = getattr(P, f"adaptive_{kind}_pool{nd}d")
    theirs = getattr(F, f"adaptive_{kind}_pool{nd}d")
    x = np.zeros(shape, np.float32)
    check_same_acceptance(lambda: ours(x, output_size),
                          lambda: theirs(torch.from_numpy(x), output_size))


@settings(max_examples=150)
@given(shape=shapes(2), kernel=st.sampled_from([1, 2, 3, (2, 3), (1, 4)]),
       size=st.one_of(st.sampled_from([1, 2, 3, 4]), st.tuples(st.integers(1, 5), st.integers(1, 5))),
       ratio=st.one_of(st.none(), st.tuples(st.sampled_from([0.3, 0.5, 0.75]),
                                            st.sampled_from([0.25, 0.5, 0.9]))))
def test_fractional_max_pool2d_accepts_exactly_what_torch_accepts(shape, kernel, size, ratio):
    assume(0 not in shape[-3:])  # empty planes: see test_deliberate_differences_from_torch
    x = np.zeros(shape, np.float32)
    args = dict(output_size=size) if ratio is None else dict(output_ratio=ratio)
    if ratio is not None and len(shape) in (3, 4):
        assume(min(int(n * r) for n, r in zip(shape[-2:], ratio)) > 0)  # PyTorch pools to empty
    check_same_acceptance(lambda: P.fractional_max_pool2d(x, kernel, **args),
                          lambda: F.fractional_max_pool2d(torch.from_numpy(x), kernel, **args))


@settings(max_examples=150)
@given(shape=shapes(2), kernel=st.sampled_from([1, 2, 3, (2, 3)]),
       stride=st.sampled_from([None, 1, 2, (1, 3)]), padding=st.sampled_from([0, 1, (0, 1)]),
       output_size=st.one_of(st.none(), st.tuples(st.integers(1, 12), st.integers(1, 12)),
                             st.tuples(st.integers(1, 2), st.integers(1, 2),
                                       st.integers(1, 12), st.integers(1, 12))),
       index=st.sampled_from([0, 3, 8, 40]))
def test_max_unpool2d_accepts_exactly_what_torch_accepts(shape, kernel, stride, padding,
                                                         output_size, index):
    assume(0 not in shape[-3:])  # empty planes: see test_deliberate_differences_from_torch
    x = np.zeros(shape, np.float32)
    idx = np.full(shape, index, np.int64)
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    s = k if stride is None else stride if isinstance(stride, tuple) else (stride, stride)
    p = padding if isinstance(padding, tuple) else (padding, padding)
    if len(shape) in (3, 4) and output_size is None:
        # an empty output PyTorch returns without looking at the indices
        assume(all((n - 1) * s_ - 2 * p_ + k_ > 0 for n, k_, s_, p_ in zip(shape[-2:], k, s, p)))
    args = dict(kernel_size=kernel, stride=stride, padding=padding, output_size=output_size)
    check_same_acceptance(lambda: P.max_unpool2d(x, idx, **args),
                          lambda: F.max_unpool2d(torch.from_numpy(x), torch.from_numpy(idx), **args))


# ---------------------------------------------------------------------------
# the deliberate differences, pinned

def test_deliberate_differences_from_torch():
    x = np.zeros((1, 1, 8, 8), np.float32)
    t = torch.from_numpy(x)
    # lp_pool2d with norm_type 0: PyTorch fails with ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        F.lp_pool2d(t, 0, 2)
    with pytest.raises(ValueError, match="norm_type"):
        P.lp_pool2d(x, 0, 2)
    # fractional: both sizes given (PyTorch silently ignores the ratio)
    assert F.fractional_max_pool2d(t, 2, output_size=3, output_ratio=0.5).shape[-1] == 3
    with pytest.raises(ValueError, match="exactly one"):
        P.fractional_max_pool2d(x, 2, output_size=3, output_ratio=0.5)
    # fractional: a float ratio (documented by PyTorch, but 2.13 fails on it)
    with pytest.raises(TypeError):
        F.fractional_max_pool2d(t, 2, output_ratio=0.5)
    assert P.fractional_max_pool2d(x, 2, output_ratio=0.5, generator=0).shape == (1, 1, 4, 4)
    # fractional: an empty output, and samples that move windows off the input
    assert F.fractional_max_pool2d(t, 2, output_size=(0, 3)).shape[-2] == 0
    with pytest.raises(ValueError, match="positive"):
        P.fractional_max_pool2d(x, 2, output_size=(0, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        P.fractional_max_pool2d(x, 2, output_size=3, random_samples=np.full((1, 1, 2), 1.5, np.float32))
    # unpooling: a zero kernel (PyTorch returns an empty plane), a negative padding
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    assert F.max_unpool2d(torch.from_numpy(y), torch.from_numpy(idx), 0).numel() == 0
    with pytest.raises(ValueError, match="kernel_size"):
        P.max_unpool2d(y, idx, 0)
    with pytest.raises(ValueError, match="padding"):
        P.max_unpool2d(y, idx, 2, padding=-1)
    # empty (C, H, W) planes: PyTorch accepts some (C = 0 in adaptive and
    # fractional pooling; adaptive_avg_pool1d of an empty signal to size 1
    # gives NaN, the mean of nothing); pooledu refuses every one
    assert F.adaptive_max_pool2d(torch.zeros(0, 3, 3), 2).shape == (0, 2, 2)
    # adaptive average pooling to size 1 is a mean over the last dimensions in
    # PyTorch, so there (and only there) it takes an input without C, or with
    # extra leading dimensions
    assert F.adaptive_avg_pool3d(torch.zeros(2, 3, 4), 1).shape == (1, 1, 1)
    assert F.adaptive_avg_pool2d(torch.zeros(2, 3), 1).shape == (1, 1)
    assert F.adaptive_avg_pool2d(torch.zeros(2, 1, 1, 2, 3), 1).shape == (2, 1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"\(C, D, H, W\)"):
        P.adaptive_avg_pool3d(np.zeros((2, 3, 4)), 1)
    assert torch.isnan(F.adaptive_avg_pool1d(torch.zeros(1, 0), 1)).all()
    for call in (lambda: P.adaptive_max_pool2d(np.zeros((0, 3, 3)), 2),
                 lambda: P.adaptive_avg_pool1d(np.zeros((1, 0)), 1)):
        with pytest.raises(ValueError, match="empty only along the batch"):
            call()


@pytest.mark.parametrize("call, error, argument", [
    (lambda x: P.adaptive_avg_pool2d(x, (2, 2, 2)), ValueError, "output_size"),
    (lambda x: P.adaptive_max_pool2d(x, 2.0), TypeError, "output_size"),
    (lambda x: P.adaptive_max_pool2d(x, -1), ValueError, "output_size"),
    (lambda x: P.adaptive_max_pool2d(x, 2, return_indices=1), TypeError, "return_indices"),
    (lambda x: P.adaptive_avg_pool2d_backward(np.zeros((1, 2, 3)), x.shape), ValueError, "grad_output"),
    (lambda x: P.adaptive_max_pool2d_backward(np.zeros((1, 2, 3, 3)), np.full((1, 2, 3, 3), 99),
                                              x.shape), ValueError, "indices"),
    (lambda x: P.fractional_max_pool2d(x, 2), ValueError, "output_size"),
    (lambda x: P.fractional_max_pool2d(x, 5, output_size=3), ValueError, "kernel_size"),
    (lambda x: P.fractional_max_pool2d(x, 2, output_ratio=1.0), ValueError, "output_ratio"),
    (lambda x: P.fractional_max_pool2d(x, 2, output_ratio="half"), TypeError, "output_ratio"),
    (lambda x: P.fractional_max_pool2d(x, 2, output_size=2, random_samples=np.zeros((1, 2, 2))),
     TypeError, "random_samples"),
    (lambda x: P.fractional_max_pool2d(x, 2, output_size=2,
                                       random_samples=np.zeros((2, 2), np.float32)),
     ValueError, "random_samples"),
    (lambda x: P.fractional_max_pool2d(x, 2, output_size=2, generator=0,
                                       random_samples=np.zeros((1, 2, 2), np.float32)),
     ValueError, "generator"),
    (lambda x: P.lp_pool1d(x[0], 2, 2, stride=0), ValueError, "stride"),
    (lambda x: P.lp_pool2d_backward(np.zeros((1, 2, 2, 2)), x, 2, 2), TypeError, "grad_output"),
    (lambda x: P.max_pool3d(x[0], 2), ValueError, "input"),
    (lambda x: P.max_pool1d(x, 2), ValueError, "input"),
    (lambda x: P.max_pool3d_backward(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int32),
                                     (1, 2, 2, 2), 2), TypeError, "indices"),
])
def test_family_errors_name_the_argument(call, error, argument):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(error, match=argument):
        call(x)
