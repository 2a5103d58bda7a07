"""Lesson 15, exercises: Unpooling and transposed convolution.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 15`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/15_unpooling_and_transposed_convolution.py.
"""

import numpy as np


def unpool(y, idx, shape):
    """unpool(y, idx, shape): max unpooling of one plane from its flat indices."""
    raise NotImplementedError("your code here")


def transposed_size(H, k, s, p, output_padding, d):
    """transposed_size(H, k, s, p, output_padding, d): conv_transpose2d's output size."""
    raise NotImplementedError("your code here")


# Predict: 3x3 transposed convolution at stride 2: how many input cells reach the
# most-covered output cell?
PREDICT_MAX_OVERLAP = None
