"""Lesson 9, solutions: modern alternatives."""

import numpy as np


def softmax_pool(x, k, beta):
    H_out, W_out = x.shape[0] // k, x.shape[1] // k
    y = np.empty((H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            v = x[k * i:k * i + k, k * j:k * j + k].ravel()
            w = np.exp(beta * (v - v.max()))  # shifted by the max: no overflow
            y[i, j] = (w * v).sum() / w.sum()
    return y


PREDICT_UNET = 388
