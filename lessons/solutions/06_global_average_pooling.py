"""Lesson 6, solutions: global average pooling."""


def gap(x):
    return x.mean(axis=(1, 2))


PREDICT_RATIO = 196  # 14 * 14
