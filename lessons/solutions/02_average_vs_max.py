"""Lesson 2, solutions: average against max."""

import numpy as np

import pooledu


def avg_pool_weight(C, k):
    w = np.zeros((C, C, k, k))
    w[np.arange(C), np.arange(C)] = 1 / k ** 2  # each output channel averages its own input
    return w


def min_pool(x, k):
    return -pooledu.max_pool2d(-x[None], k)[0]


PREDICT_NOISE_STD = 0.5  # the mean of 4 independent values: 1 / sqrt(4)
