"""Lesson 4, solutions: backpropagation through pooling."""

import numpy as np


def max_pool_backward(g, x, k):
    gx = np.zeros_like(x, dtype=np.float64)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            window = x[k * i:k * i + k, k * j:k * j + k]
            u, v = np.unravel_index(np.argmax(window), window.shape)
            gx[k * i + u, k * j + v] += g[i, j]
    return gx


def avg_pool_backward(g, shape, k, s):
    gx = np.zeros(shape)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            gx[s * i:s * i + k, s * j:s * j + k] += g[i, j] / k ** 2
    return gx


PREDICT_ZEROS = 0.75  # three of every four cells lose their window
