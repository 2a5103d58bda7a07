"""Lesson 9, exercises: Modern alternatives.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 9`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/09_modern_alternatives.py.
"""

import numpy as np


def softmax_pool(x, k, beta):
    """softmax_pool(x, k, beta): each kxk/k window's softmax(beta * v)-weighted mean."""
    raise NotImplementedError("your code here")


# Predict: U-Net on a 572x572 input: what is the output's side?
PREDICT_UNET = None
