"""Lesson 5, exercises: Translation invariance.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 5`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/05_translation_invariance.py.
"""


def same_output(a, b, layers):
    """same_output(a, b, layers): does a single feature at column a or b give the same
    output after `layers` 2x2/2 max poolings?."""
    raise NotImplementedError("your code here")


# Predict: what fraction of one-pixel shifts leave the output of two 2x2/2 poolings
# unchanged (single feature, random position)?
PREDICT_ABSORBED = None
