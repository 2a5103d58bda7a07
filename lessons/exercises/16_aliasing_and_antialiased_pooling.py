"""Lesson 16, exercises: Aliasing.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 16`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/16_aliasing_and_antialiased_pooling.py.
"""

import numpy as np

import pooledu


def binomial(n):
    """binomial(n): the n x n normalised binomial filter that blur_pool2d uses."""
    raise NotImplementedError("your code here")


def max_blur(x):
    """max_blur(x): anti-aliased 2x2 max pooling of (C, H, W) from max_pool2d and
    blur_pool2d."""
    raise NotImplementedError("your code here")


# Predict: the row 0, 1, 0, 1, ... shifted by one pixel and subsampled at stride 2
# (every second value, starting with the first): what is the mean of the result?
PREDICT_SUBSAMPLED = None
