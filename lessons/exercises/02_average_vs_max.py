"""Lesson 2, exercises: Average pooling, and when the max is the better summary.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 2`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/02_average_vs_max.py.
"""

import numpy as np

import pooledu


def avg_pool_weight(C, k):
    """avg_pool_weight(C, k): conv2d weights that make a stride-k convolution an average
    pooling."""
    raise NotImplementedError("your code here")


def min_pool(x, k):
    """min_pool(x, k): min pooling, using pooledu.max_pool2d."""
    raise NotImplementedError("your code here")


# Predict: standard normal noise through 2x2 average pooling: what standard deviation?
PREDICT_NOISE_STD = None
