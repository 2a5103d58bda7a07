"""Lesson 11, exercises: Does pooling increase accuracy? One small CNN downsampled five ways, trained on the digits.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 11`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/11_does_pooling_increase_accuracy.py.
"""


def flat_features(size, channels, poolings):
    """flat_features(size, channels, poolings): the length of the flattened map."""
    raise NotImplementedError("your code here")


# Predict: lesson 11's network without downsampling: 16 channels of 24x24 into 10
# classes; how many weights in its linear layer?
PREDICT_LINEAR_WEIGHTS = None
