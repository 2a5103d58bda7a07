"""Lesson 4, exercises: Backpropagation through pooling.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 4`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/04_backpropagation.py.
"""

import numpy as np


def max_pool_backward(g, x, k):
    """max_pool_backward(g, x, k): dL/dx of a kxk/k max pooling, from x itself."""
    raise NotImplementedError("your code here")


def avg_pool_backward(g, shape, k, s):
    """avg_pool_backward(g, shape, k, s): dL/dx of average pooling, windows may overlap."""
    raise NotImplementedError("your code here")


# Predict: what fraction of a random 8x8 map's gradient through 2x2/2 max pooling is 0?
PREDICT_ZEROS = None
