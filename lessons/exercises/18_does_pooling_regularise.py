"""Lesson 18, exercises: Does pooling regularise?

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 18`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/18_does_pooling_regularise.py.
"""


def head_weights(channels, side, classes, head):
    """head_weights(channels, side, classes, head): parameters of an 'fc' or 'gap'
    classifier head."""
    raise NotImplementedError("your code here")


# Predict: lesson 18's network without pooling and with the FC head: how many parameters
# in all?
PREDICT_PARAMS = None
