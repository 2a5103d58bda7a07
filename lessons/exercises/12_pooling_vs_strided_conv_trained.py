"""Lesson 12, exercises: Pooling or a strided convolution.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 12`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/12_pooling_vs_strided_conv_trained.py.
"""


def separated(a, b):
    """separated(a, b): is every seed's score in a above every one in b?."""
    raise NotImplementedError("your code here")


# Predict: the 7x7 stem convolution at stride 1 against stride 2: how many times the
# FLOPs?
PREDICT_STEM_RATIO = None
