"""Lesson 8, exercises: Strided convolution against pooling.

Fill in each function and each PREDICT_ value (write the prediction before
running anything), then run `pooledu check 8`: it tests your answers against
pooledu's kernels and gives a hint for what does not pass yet. The solutions are
in lessons/solutions/08_strided_conv_vs_pooling.py.
"""

import numpy as np


def counterexample():
    """counterexample(): two 2x2 arrays a, b with max(a + b) != max(a) + max(b)."""
    raise NotImplementedError("your code here")


def conv_flops(H, C_in, C_out, k, s, p):
    """conv_flops(H, C_in, C_out, k, s, p): FLOPs of a square convolution."""
    raise NotImplementedError("your code here")
