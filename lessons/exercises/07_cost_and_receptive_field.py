"""Lesson 7, exercises: Cost and receptive field.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 7`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/07_cost_and_receptive_field.py.
"""


def receptive_field(layers):
    """receptive_field(layers): the field of a stack of (kernel, stride) layers."""
    raise NotImplementedError("your code here")


# Predict: weights (no biases) of three 3x3 convolutions 3 -> 32 -> 32 -> 32?
PREDICT_STACK_WEIGHTS = None
