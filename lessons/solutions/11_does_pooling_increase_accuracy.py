"""Lesson 11, solutions: does pooling increase accuracy?"""


def flat_features(size, channels, poolings):
    for _ in range(poolings):
        size //= 2
    return channels * size * size


PREDICT_LINEAR_WEIGHTS = 16 * 24 * 24 * 10  # 92,160
