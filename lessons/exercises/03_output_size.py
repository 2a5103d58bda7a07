"""Lesson 3, exercises: Output size.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 3`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/03_output_size.py.
"""

import math


def output_size(H, k, s, p, d, ceil_mode):
    """output_size(H, k, s, p, d, ceil_mode): PyTorch's output size, ceil_mode's dropped
    window included."""
    raise NotImplementedError("your code here")


# Predict: 224x224 through a 7x7/2 convolution (padding 3) and a 3x3/2 max pooling
# (padding 1): what side?
PREDICT_RESNET = None
