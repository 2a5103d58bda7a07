"""Lesson 6, exercises: Global average pooling.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 6`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/06_global_average_pooling.py.
"""


def gap(x):
    """gap(x): global average pooling of a (C, H, W) array."""
    raise NotImplementedError("your code here")


# Predict: a 14x14x256 map and 10 classes: how many times more head weights does
# flattening need than global average pooling?
PREDICT_RATIO = None
