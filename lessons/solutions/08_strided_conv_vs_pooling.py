"""Lesson 8, solutions: strided convolution against pooling."""

import numpy as np


def counterexample():
    a = np.array([[1.0, 0.0], [0.0, 0.0]])
    b = np.array([[0.0, 1.0], [0.0, 0.0]])
    return a, b  # max(a + b) = 1, max(a) + max(b) = 2


def conv_flops(H, C_in, C_out, k, s, p):
    out = (H + 2 * p - k) // s + 1
    return 2 * out * out * C_out * C_in * k * k
