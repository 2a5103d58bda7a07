"""Lesson 5, solutions: translation invariance."""


def same_output(a, b, layers):
    return a // 2 ** layers == b // 2 ** layers


PREDICT_ABSORBED = 0.75  # 1 - 1/2^2
