"""Lesson 7, solutions: cost and receptive field."""


def receptive_field(layers):
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


PREDICT_STACK_WEIGHTS = 3 * 3 * 3 * 32 + 2 * 3 * 3 * 32 * 32  # 19,296
