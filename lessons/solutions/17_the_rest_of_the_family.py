"""Lesson 17, solutions: the rest of the family."""

import pooledu


def lp_pool(x, p, k):
    sums = pooledu.avg_pool2d(x ** p, k) * k * k  # the window sums of x^p
    return sums ** (1 / p)


def adaptive_windows(n_in, n_out):
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


PREDICT_MIDDLE = 4  # cells 3, 4, 5, 6
