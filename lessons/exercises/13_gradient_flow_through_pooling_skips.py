"""Lesson 13, exercises: Gradient flow through pooling skips.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 13`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/13_gradient_flow_through_pooling_skips.py.
"""


def avg_norm_factor(k):
    """avg_norm_factor(k): ||dL/dx|| / ||g|| through kxk/k average pooling."""
    raise NotImplementedError("your code here")


# Predict: first / last gradient norm through three 2x2 average-pooling skips?
PREDICT_THREE_AVG = None
