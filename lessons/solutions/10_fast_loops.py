"""Lesson 10, solutions: making the loops fast."""

import numpy as np


def max_pool_tap_order(x, k, s):
    H_out, W_out = (x.shape[0] - k) // s + 1, (x.shape[1] - k) // s + 1
    y = np.full((H_out, W_out), -np.inf, dtype=x.dtype)
    for u in range(k):
        for v in range(k):  # one tap at a time, swept across every output
            np.maximum(y, x[u:u + s * H_out:s, v:v + s * W_out:s], out=y)
    return y


PREDICT_ORDER_MATTERS = True  # float addition rounds after every step
