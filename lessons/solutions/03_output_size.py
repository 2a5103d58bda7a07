"""Lesson 3, solutions: output size."""

import math


def output_size(H, k, s, p, d, ceil_mode):
    span = H + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= H + p:
        out -= 1  # that last window would start inside the right padding
    return out


PREDICT_RESNET = 56  # 224 -> 112 -> 56
