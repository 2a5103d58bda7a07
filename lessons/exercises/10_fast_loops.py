"""Lesson 10, exercises: Making the loops fast.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 10`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/10_fast_loops.py.
"""

import numpy as np


def max_pool_tap_order(x, k, s):
    """max_pool_tap_order(x, k, s): max pooling in the fast loop order, one strided
    slice per tap."""
    raise NotImplementedError("your code here")


# Predict: True or False: can adding the same float32 numbers in another order change
# the sum?
PREDICT_ORDER_MATTERS = None
