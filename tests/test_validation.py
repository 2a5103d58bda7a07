"""Bad input gets a clear ValueError/TypeError, exactly where PyTorch refuses it."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

import pooledu as P

def maybe_pair(choices):
    """An int or a pair of ints, mostly valid: repeats in the list weight the draw."""
    one = st.sampled_from(choices)
    return st.one_of(one, st.tuples(one, one))


@st.composite
def raw_pool_args(draw, with_dilation):
    """Arguments as a user might type them: mostly valid, with every kind of mistake."""
    ndim = draw(st.sampled_from([3, 4, 4, 4, 2, 5]))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 6, 7, 7])) for _ in range(ndim))
    args = dict(kernel_size=draw(maybe_pair([-1, 0, 1, 2, 2, 3, 3, 4, 5])),
                stride=draw(st.one_of(st.none(), maybe_pair([-1, 0, 1, 2, 2, 3]))),
                padding=draw(maybe_pair([-1, 0, 0, 0, 1, 1, 2])),
                ceil_mode=draw(st.booleans()))
    if with_dilation:
        args["dilation"] = draw(maybe_pair([0, 1, 1, 1, 2, 3]))
    return shape, args


def outcome(fn):
    """None if fn runs, else the exception type."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we classify every failure
        return type(e)
    return None


def check_same_acceptance(ours, theirs):
    mine, torch_says = outcome(ours), outcome(theirs)
    assert (mine is None) == (torch_says is None), (mine, torch_says)
    assert mine in (None, ValueError, TypeError)
    event("accepted" if mine is None else "refused")


@settings(max_examples=400)
@given(raw_pool_args(with_dilation=True))
def test_max_pool2d_accepts_exactly_what_torch_accepts(case):
    shape, args = case
    x = np.zeros(shape, np.float32)
    check_same_acceptance(lambda: P.max_pool2d(x, **args),
                          lambda: F.max_pool2d(torch.from_numpy(x), **args))


@settings(max_examples=400)
@given(raw_pool_args(with_dilation=False), st.sampled_from([None, 0, 2, -1]),
       st.booleans())
def test_avg_pool2d_accepts_exactly_what_torch_accepts(case, divisor_override, count_include_pad):
    shape, args = case
    args.update(divisor_override=divisor_override, count_include_pad=count_include_pad)
    x = np.zeros(shape, np.float64)
    check_same_acceptance(lambda: P.avg_pool2d(x, **args),
                          lambda: F.avg_pool2d(torch.from_numpy(x), **args))


@pytest.mark.parametrize("call, argument", [
    (lambda x: P.max_pool2d(x, 0), "kernel_size"),
    (lambda x: P.max_pool2d(x, -2), "kernel_size"),
    (lambda x: P.max_pool2d(x, 2, stride=0), "stride"),
    (lambda x: P.max_pool2d(x, 2, stride=(1, -1)), "stride"),
    (lambda x: P.max_pool2d(x, 2, dilation=0), "dilation"),
    (lambda x: P.max_pool2d(x, 2, padding=-1), "padding"),
    (lambda x: P.max_pool2d(x, 2, padding=2), "padding"),
    (lambda x: P.max_pool2d(x, 3, padding=2, dilation=2), "padding"),  # raw kernel decides
    (lambda x: P.max_pool2d(x, (2, 2, 2)), "kernel_size"),
    (lambda x: P.max_pool2d(x, 9), "output size"),
    (lambda x: P.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: P.avg_pool2d(x, 3, padding=2), "padding"),
    (lambda x: P.max_pool2d(x[0, 0], 2), "input"),
    (lambda x: P.max_pool2d(x[None], 2), "input"),
    (lambda x: P.max_pool2d(x[:, :0], 2), "input"),
])
def test_bad_values_raise_value_error_naming_the_argument(call, argument):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match=argument):
        call(x)


@pytest.mark.parametrize("call, argument", [
    (lambda x: P.max_pool2d(x, 2.0), "kernel_size"),
    (lambda x: P.max_pool2d(x, True), "kernel_size"),
    (lambda x: P.max_pool2d(x, "2"), "kernel_size"),
    (lambda x: P.max_pool2d(x, 2, stride=1.5), "stride"),
    (lambda x: P.max_pool2d(x, 2, ceil_mode=1), "ceil_mode"),
    (lambda x: P.max_pool2d(x, 2, return_indices="yes"), "return_indices"),
    (lambda x: P.avg_pool2d(x, 2, divisor_override=2.5), "divisor_override"),
    (lambda x: P.avg_pool2d(x, 2, count_include_pad=None), "count_include_pad"),
    (lambda x: P.max_pool2d(x.astype(np.int64), 2), "float32 or float64"),
    (lambda x: P.max_pool2d(x.astype(np.float16), 2), "float32 or float64"),
    (lambda x: P.max_pool2d(x.tolist(), 2), "NumPy array"),
    (lambda x: P.global_avg_pool2d(x, keepdims="no"), "keepdims"),
])
def test_bad_types_raise_type_error_naming_the_argument(call, argument):
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(TypeError, match=argument):
        call(x)


def test_numpy_integers_are_accepted_like_python_ints():
    x = np.zeros((1, 2, 5, 5), np.float32)
    assert P.max_pool2d(x, np.int64(2), stride=(np.int32(2), 2)).shape == (1, 2, 2, 2)


def test_stride_empty_tuple_means_kernel_size_as_in_torch():
    x = np.zeros((1, 1, 6, 6))
    assert P.max_pool2d(x, 3, stride=()).shape == F.max_pool2d(torch.from_numpy(x), 3, stride=()).shape


class TestBackwardChecks:
    x = np.zeros((2, 3, 6, 6), np.float32)

    def forward(self):
        return P.max_pool2d(self.x, 2, return_indices=True)

    def test_grad_output_of_the_wrong_shape(self):
        y, idx = self.forward()
        with pytest.raises(ValueError, match="grad_output"):
            P.max_pool2d_backward(y[:, :, :1], idx, self.x.shape, 2)
        with pytest.raises(ValueError, match="grad_output"):
            P.avg_pool2d_backward(y, self.x.shape, 3)

    def test_indices_of_the_wrong_dtype_or_range(self):
        y, idx = self.forward()
        with pytest.raises(TypeError, match="indices"):
            P.max_pool2d_backward(y, idx.astype(np.int32), self.x.shape, 2)
        bad = idx.copy()
        bad[0, 0, 0, 0] = 36
        with pytest.raises(ValueError, match="indices"):
            P.max_pool2d_backward(y, bad, self.x.shape, 2)

    def test_input_shape(self):
        y, idx = self.forward()
        with pytest.raises(ValueError, match="input_shape"):
            P.max_pool2d_backward(y, idx, (6, 6), 2)
        with pytest.raises(TypeError, match="input_shape"):
            P.max_pool2d_backward(y, idx, (2, 3, 6.0, 6), 2)

    def test_grad_dtype(self):
        y, idx = self.forward()
        with pytest.raises(TypeError, match="grad_output"):
            P.max_pool2d_backward(y.astype(np.int32), idx, self.x.shape, 2)

    def test_global(self):
        y, idx = P.global_max_pool2d(self.x, return_indices=True)
        with pytest.raises(ValueError, match="grad_output"):
            P.global_avg_pool2d_backward(y[:1], self.x.shape)
        with pytest.raises(ValueError, match="indices"):
            P.global_max_pool2d_backward(y, idx + 100, self.x.shape)
