"""Lesson 17, exercises: The rest of the family.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 17`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/17_the_rest_of_the_family.py.
"""

import pooledu


def lp_pool(x, p, k):
    """lp_pool(x, p, k): LP pooling of (C, H, W), kxk/k windows."""
    raise NotImplementedError("your code here")


def adaptive_windows(n_in, n_out):
    """adaptive_windows(n_in, n_out): the [start, end) of each adaptive window."""
    raise NotImplementedError("your code here")


# Predict: adaptive pooling of 10 cells into 3: how many cells does the middle window
# read?
PREDICT_MIDDLE = None
