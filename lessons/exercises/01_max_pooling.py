"""Lesson 1, exercises: Max pooling by hand.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 1`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/01_max_pooling.py.
"""

import numpy as np


def max_pool(x, k, s):
    """max_pool(x, k, s): 2D max pooling with plain loops."""
    raise NotImplementedError("your code here")


def relu(v):
    return np.maximum(v, 0)


def max_pool_2x2_via_relu(x):
    """max_pool_2x2_via_relu(x): 2x2/2 max pooling with only +, - and relu."""
    raise NotImplementedError("your code here")


# Predict: how many values are left of a 32x32 map after two 2x2/2 max poolings?
PREDICT_CELLS = None
